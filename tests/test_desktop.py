"""`fieldkit run` opens the real pywebview (Qt) window under Xvfb, loads the first page, closes cleanly."""
import os
import subprocess
import sys
import time

import pytest

from conftest import FAST_KDF_ENV

pytestmark = pytest.mark.desktop


@pytest.fixture
def display():
    """A virtual X screen of our own; Xvfb tells its display number through -displayfd."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=[write_end], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        number = reader.readline().strip()
    yield f":{number}"
    xvfb.terminate()
    xvfb.wait(timeout=10)


def test_run_opens_a_window_that_loads_the_first_page_and_closes_on_sigterm(display, tmp_path):
    env = {**os.environ, **FAST_KDF_ENV, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    if os.geteuid() == 0:  # QtWebEngine refuses its sandbox as root; only then switch it off
        env["QTWEBENGINE_CHROMIUM_FLAGS"] = "--no-sandbox"
    log_path = tmp_path / "window.log"
    with open(log_path, "w") as log:
        window = subprocess.Popen([sys.executable, "-m", "fieldkit", "--verbose", "--data-dir", str(tmp_path / "data"), "run"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not _loaded(log_path.read_text()):
                assert window.poll() is None, log_path.read_text()
                time.sleep(0.2)
            output = log_path.read_text()
            assert _loaded(output), output
            window.terminate()
            assert window.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if window.poll() is None:
                window.kill()
    output = log_path.read_text()
    assert '"GET /launch/…" 302' in output  # the token itself never reaches the log
    assert "window closed" in output
    assert "Content Security Policy" not in output  # the window injects nothing our policy refuses


def _loaded(output: str) -> bool:
    return '"GET /setup" 200' in output and "window loaded" in output

"""`fieldkit run` opens the real pywebview (Qt) window under Xvfb, loads the first page, closes cleanly."""
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import FAST_KDF_ENV, PASSPHRASE, free_port

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
    env = _window_env(display)
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
    place = json.loads((tmp_path / "data" / "window.json").read_text())  # it opens there next time
    assert place["width"] >= 900 and place["height"] >= 600


def _loaded(output: str) -> bool:
    return '"GET /setup" 200' in output and "window loaded" in output


class DevTools:
    """The window's web view driven over the DevTools protocol (Playwright cannot attach to QtWebEngine)."""

    def __init__(self, port: int):
        import websocket

        deadline = time.monotonic() + 60
        while True:
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2))
                page = next(t for t in targets if t.get("type") == "page" and t["url"].startswith("http://127.0.0.1"))
                break
            except (OSError, StopIteration, ValueError):
                assert time.monotonic() < deadline, "no page in the window"
                time.sleep(0.3)
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0

    def evaluate(self, expression: str):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": "Runtime.evaluate",
                                     "params": {"expression": expression, "returnByValue": True, "awaitPromise": True}}))
        while True:
            answer = json.loads(self.socket.recv())
            if answer.get("id") == self.next_id:
                return answer["result"]["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.evaluate(expression):
                    return
            except Exception:  # the page is navigating: its context is gone for a moment
                pass
            time.sleep(0.2)
        raise AssertionError(f"never true: {expression}")


def test_closing_the_window_saves_the_note_typed_last(display, tmp_path, cli):
    from fieldkit.vault import new_project_identity

    data_dir = tmp_path / "data"
    env = {"FIELDKIT_PASSPHRASE": PASSPHRASE}
    assert cli("init", "--recipient", new_project_identity()[1], data_dir=data_dir, env=env).returncode == 0
    planned = cli("interview", "create", "--organisation", "Nachbarschaftsverein Ost", "--interviewer", "Ayla", "--json",
                  data_dir=data_dir, env=env)
    interview_id = json.loads(planned.stdout)["id"]
    assert cli("interview", "consent", interview_id, "--by", "Vorsitz", "--form", "verbal", data_dir=data_dir,
               env=env).returncode == 0
    debug_port = free_port()
    window_env = {**_window_env(display), "QTWEBENGINE_REMOTE_DEBUGGING": f"127.0.0.1:{debug_port}"}
    window = subprocess.Popen([sys.executable, "-m", "fieldkit", "--data-dir", str(data_dir), "run"], env=window_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        tools = DevTools(debug_port)
        tools.wait_for("!!document.querySelector('input[name=passphrase]')")
        tools.evaluate(f"document.querySelector('input[name=passphrase]').value = {json.dumps(PASSPHRASE)};"
                       "document.querySelector('input[name=passphrase]').form.submit()")
        tools.wait_for("document.querySelector('h1') && document.querySelector('h1').textContent === 'Interviews'")
        tools.evaluate(f"location.assign('/interviews/{interview_id}/guide')")
        tools.wait_for("!!(document.querySelector('textarea') && window.htmx && window.fieldkit)")
        tools.evaluate("const area = document.querySelector('textarea'); area.focus();"
                       "document.execCommand('insertText', false, 'Zuletzt getippt, dann das Fenster geschlossen.')")
        window.terminate()  # closes the window the way its close button does, within the autosave pause
        assert window.wait(timeout=30) == 0
    finally:
        if window.poll() is None:
            window.kill()
    from sqlmodel import Session, select

    from fieldkit.models import Answer
    from fieldkit.vault import Vault

    vault = Vault(data_dir)
    vault.unlock(PASSPHRASE)
    with Session(vault.engine) as session:
        assert [a.text for a in session.exec(select(Answer))] == ["Zuletzt getippt, dann das Fenster geschlossen."]
    vault.lock()


def _window_env(display: str) -> dict:
    env = {**os.environ, **FAST_KDF_ENV, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    if os.geteuid() == 0:  # QtWebEngine refuses its sandbox as root; only then switch it off
        env["QTWEBENGINE_CHROMIUM_FLAGS"] = "--no-sandbox"
    return env


def test_the_window_place_is_kept_and_nonsense_is_ignored(tmp_path):
    from fieldkit.desktop import WindowPlace

    place = WindowPlace(tmp_path)
    assert place.saved() == {"width": 1280, "height": 860}
    place.resized(1400, 900)
    place.moved(40, 30)
    place.save()
    assert WindowPlace(tmp_path).saved() == {"width": 1400, "height": 900, "x": 40, "y": 30}
    for nonsense in ('{"width": 5, "height": 5}', '[1, 2]', 'kein JSON', '{"width": "1400", "height": 900}'):
        (tmp_path / "window.json").write_text(nonsense)
        assert WindowPlace(tmp_path).saved() == {"width": 1280, "height": 860}

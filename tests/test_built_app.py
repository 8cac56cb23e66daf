"""The packaged app as an interviewer gets it: `build_app.py` builds the folder, the binary starts under
Xvfb on a fresh data directory, the first-run setup, an interview and a note go through the real window,
and after closing and starting again the note is there. The log of that run holds no content."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FAST_KDF_ENV, PASSPHRASE
from window import DevTools, launch

pytestmark = [pytest.mark.desktop, pytest.mark.slow]

ORGANISATION = "Verein Sonnenblume Teststadt"
ROOT = Path(__file__).resolve().parents[1]
NOTE = "Die Beratung läuft donnerstags im Hinterzimmer der Moschee."


@pytest.fixture(scope="module")
def built_app(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("build") / "dist"
    done = subprocess.run([sys.executable, str(ROOT / "build_app.py"), "--dist", str(dist)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "built in" in done.stdout
    binary = dist / "fieldkit" / ("fieldkit.exe" if os.name == "nt" else "fieldkit")
    assert binary.exists()
    return binary


class BuiltWindow:
    """The built binary started without a command (as by a double click), its page reachable over DevTools."""

    def __init__(self, binary: Path, data_dir: Path, display: str):
        self.process, _, port = launch(display, data_dir, [str(binary)], {"FIELDKIT_DATA_DIR": str(data_dir)})
        self.tools = DevTools(port)

    def fill(self, selector: str, value: str) -> None:
        self.tools.evaluate(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")

    def submit(self, selector: str) -> None:
        self.tools.evaluate(f"document.querySelector({json.dumps(selector)}).form.requestSubmit()")

    def heading_is(self, text: str) -> None:
        self.tools.wait_for(f"document.querySelector('h1') && document.querySelector('h1').textContent.trim() === {json.dumps(text)}")

    def close(self) -> str:
        """Close the window as its close button does (SIGTERM takes the same path) and return its output."""
        self.process.terminate()
        output, _ = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, output
        return output


def test_the_built_app_keeps_a_note_across_a_restart_and_logs_no_content(built_app, display, tmp_path):
    from fieldkit.vault import new_project_identity

    data_dir = tmp_path / "data"
    window = BuiltWindow(built_app, data_dir, display)
    try:
        window.tools.wait_for("!!document.querySelector('#recipient')")  # first start: the setup page
        window.fill("#passphrase", PASSPHRASE)
        window.fill("#confirmation", PASSPHRASE)
        window.fill("#recipient", new_project_identity()[1])
        window.submit("#passphrase")
        window.heading_is("Interviews")
        window.tools.evaluate("location.assign('/interviews/new')")
        window.tools.wait_for("!!document.querySelector('#new_organisation')")
        window.fill("#new_organisation", ORGANISATION)
        window.fill("#interviewer", "Ayla")
        window.submit("#new_organisation")
        window.tools.wait_for("!!document.querySelector('#by')")
        window.fill("#by", "Vorsitzende")
        window.tools.evaluate("document.querySelector('input[name=how][value=verbal]').checked = true;"
                              "document.querySelector('input[name=agreed][value=quotes]').checked = true")
        window.submit("#by")
        window.tools.wait_for("!document.querySelector('#by') && /^\\/interviews\\/[^/]+$/.test(location.pathname)")
        interview_path = window.tools.evaluate("location.pathname")
        window.tools.evaluate(f"location.assign('{interview_path}/guide')")
        window.tools.wait_for("!!(document.querySelector('textarea') && window.htmx && window.fieldkit)")
        window.tools.evaluate("const area = document.querySelector('textarea'); area.focus();"
                              f"document.execCommand('insertText', false, {json.dumps(NOTE)})")
        window.tools.wait_for("!!document.querySelector('.save-status.saved')")
        about = window.tools.evaluate("fetch('/settings/about').then(r => r.text())")
        first_output = window.close()
    finally:
        if window.process.poll() is None:
            window.process.kill()
    assert "PySide6" in about and "LGPL" in about  # the folder's components and licences, from their metadata
    assert "Traceback" not in first_output

    window = BuiltWindow(built_app, data_dir, display)
    try:
        window.tools.wait_for("!!document.querySelector('input[name=passphrase]') && !document.querySelector('#recipient')")
        window.fill("input[name=passphrase]", PASSPHRASE)
        window.submit("input[name=passphrase]")
        window.heading_is("Interviews")
        assert ORGANISATION in window.tools.evaluate("document.body.textContent")
        window.tools.evaluate(f"location.assign('{interview_path}/guide')")
        window.tools.wait_for("!!document.querySelector('textarea')")
        assert window.tools.evaluate("document.querySelector('textarea').value") == NOTE
        window.close()
    finally:
        if window.process.poll() is None:
            window.process.kill()

    log = "\n".join(path.read_text(encoding="utf-8") for path in (data_dir / "logs").glob("fieldkit.log*"))
    assert "window loaded" in log and "POST /window/close" in log  # the log was written by both runs
    for content in (NOTE, ORGANISATION, "Sonnenblume", "Moschee", "Vorsitzende", PASSPHRASE, "Ayla"):
        assert content not in log


def test_the_built_app_runs_its_commands_with_their_data_files(built_app, tmp_path):
    """The steward's scan reads word and name lists, the map export draws with resvg, the version comes
    from the package's metadata: all from inside the folder."""
    env = {**os.environ, **FAST_KDF_ENV, "FIELDKIT_DATA_DIR": str(tmp_path / "data")}
    env.pop("FIELDKIT_PASSPHRASE", None)

    def run(*args):
        done = subprocess.run([str(built_app), *args], env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    from fieldkit import __version__

    assert run("--version").strip().endswith(__version__)
    run("demo", "--no-start")
    env["FIELDKIT_PASSPHRASE"] = "Demo-Passphrase fuer fieldkit"
    assert json.loads(run("anonymise", "--json"))["records"] > 0
    first_map = json.loads(run("map", "list", "--json"))[0]["id"]
    run("export", "network", first_map, "--format", "png", "--out", str(tmp_path / "map.png"))
    assert (tmp_path / "map.png").read_bytes().startswith(b"\x89PNG")
    # PostgreSQL is the project server's (installed with pip): the folder says so instead of failing
    done = subprocess.run([str(built_app), "server", "init"], capture_output=True, text=True, timeout=60,
                          env={**env, "FIELDKIT_SERVER_DATABASE_URL": "postgresql://127.0.0.1/test", "FIELDKIT_ADMIN_PASSWORD": "x" * 16})
    assert done.returncode != 0 and "pip" in done.stderr + done.stdout and "Traceback" not in done.stderr

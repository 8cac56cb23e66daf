"""A note acknowledged as saved survives the app being killed (SIGKILL) right after the answer."""
import os
import re
import signal
import subprocess
import sys
import time
from http.cookiejar import CookieJar
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener

from conftest import FAST_KDF_ENV, run_cli
from fieldkit.demo import DEMO_PASSPHRASE

NOTE = "Notiert kurz vor dem Absturz: die Beratung läuft dienstags."


class RunningApp:
    """`fieldkit serve` in its own process, driven over HTTP like the window drives it."""

    def __init__(self, data_dir):
        self.process = subprocess.Popen([sys.executable, "-m", "fieldkit", "--data-dir", str(data_dir), "serve"],
                                        env={**os.environ, **FAST_KDF_ENV}, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        launch = next(line.strip() for line in self.process.stdout if line.startswith("http://127.0.0.1:"))
        self.base = launch.split("/launch/")[0]
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()))
        page = self.get(launch)
        self.csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)
        self.post("/unlock", {"passphrase": DEMO_PASSPHRASE, "csrf_token": self.csrf})

    def get(self, path: str) -> str:
        with self.opener.open(path if path.startswith("http") else self.base + path, timeout=10) as response:
            return response.read().decode()

    def post(self, path: str, form: dict, htmx: bool = False) -> tuple[int, str]:
        headers = {"X-CSRF-Token": self.csrf, **({"HX-Request": "true"} if htmx else {})}
        request = Request(self.base + path, data=urlencode(form).encode(), headers=headers, method="POST")
        with self.opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()


def test_a_saved_note_survives_sigkill(tmp_path):
    data_dir = tmp_path / "demo"
    assert run_cli("demo", "--no-start", data_dir=data_dir).returncode == 0
    app = RunningApp(data_dir)
    try:
        listing = app.get("/interviews/?status=in_progress")
        interview_id = re.search(r'/interviews/([0-9a-f-]{36})"', listing).group(1)
        status, body = app.post(f"/interviews/{interview_id}/answers/organisation.history", {"text": NOTE}, htmx=True)
        assert status == 200 and "Gespeichert um" in body
    finally:
        app.process.send_signal(signal.SIGKILL)  # the instant the save was acknowledged
        app.process.wait(timeout=10)
    time.sleep(0.2)
    restarted = RunningApp(data_dir)
    try:
        page = restarted.get(f"/interviews/{interview_id}/guide?section=organisation&question=organisation.history&mode=question")
        assert NOTE in page
    finally:
        restarted.process.terminate()
        restarted.process.wait(timeout=10)

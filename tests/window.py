"""The desktop window driven over the DevTools protocol (shared by the tests of `fieldkit run` and of the
built app; the virtual screen is conftest's `display`)."""
import json
import os
import subprocess
import sys
import time
import urllib.request

from conftest import FAST_KDF_ENV, free_port


class DevTools:
    """The window's web view driven over the DevTools protocol (Playwright cannot attach to QtWebEngine)."""

    def __init__(self, port: int, path: str = ""):
        """The window whose page is on 127.0.0.1 (and whose address contains `path`)."""
        import websocket

        deadline = time.monotonic() + 60
        while True:
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2))
                page = next(t for t in targets if t.get("type") == "page" and t["url"].startswith("http://127.0.0.1")
                            and path in t["url"])
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

    def unlock(self, passphrase: str) -> None:
        """Type the passphrase into the unlock page and wait for the interview list."""
        self.wait_for("!!document.querySelector('input[name=passphrase]')")
        self.evaluate(f"document.querySelector('input[name=passphrase]').value = {json.dumps(passphrase)};"
                      "document.querySelector('input[name=passphrase]').form.submit()")
        self.wait_for("document.querySelector('h1') && document.querySelector('h1').textContent === 'Interviews'")

    def wait_for(self, expression: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.evaluate(expression):
                    return
            except Exception:  # the page is navigating: its context is gone for a moment
                pass
            time.sleep(0.2)
        try:
            where = self.evaluate("location.pathname + ': ' + document.body.innerText.slice(0, 600)")
        except Exception as error:
            where = repr(error)
        raise AssertionError(f"never true: {expression} — on {where}")


def window_env(display: str) -> dict:
    env = {**os.environ, **FAST_KDF_ENV, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    if os.geteuid() == 0:  # QtWebEngine refuses its sandbox as root; only then switch it off
        env["QTWEBENGINE_CHROMIUM_FLAGS"] = "--no-sandbox"
    return env


def launch(display: str, data_dir, command=None, env=None):
    """`fieldkit run` (or `command`, the built binary) on the virtual screen with the DevTools port open:
    (process, its environment, the port). Output goes to process.stdout."""
    port = free_port()
    env = {**window_env(display), "QTWEBENGINE_REMOTE_DEBUGGING": f"127.0.0.1:{port}", **(env or {})}
    process = subprocess.Popen(command or [sys.executable, "-m", "fieldkit", "--verbose", "--data-dir", str(data_dir), "run"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, env, port


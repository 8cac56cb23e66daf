"""The local web app is a server any process on this laptop can reach (DESIGN.md §5). It admits a
request only if:
  1. its Host header names 127.0.0.1 or localhost with our port (defeats DNS rebinding);
  2. it carries the per-launch secret cookie, which only the one-time launch URL hands out;
  3. a state-changing request also carries the CSRF token (HTMX sends it as a header).
Every response gets a strict Content-Security-Policy. Pages are never cached (they hold interview
content); static files hold none, and their URLs name their content (`?v=`), so the browser keeps them.
"""
import hashlib
import hmac
import secrets
import threading
from functools import lru_cache
from pathlib import Path

from flask import Flask, abort, make_response, redirect, request

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self'",  # interview audio, from the vault
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
])


class LaunchGuard:
    """Per-launch secret, Host check, CSRF and security headers for one launch: the app, and at a start
    the entrance that serves the first page before it (fieldkit/entrance.py), with one cookie and one token."""

    def __init__(self, app: Flask):
        self.secret = secrets.token_urlsafe(32)
        self._launch_token = secrets.token_urlsafe(32)
        self._launch_used = threading.Lock()
        self._window_tokens: dict[str, str] = {}  # one-time token → the page a further window opens on
        self.csrf_token = hmac.new(self.secret.encode(), b"csrf", hashlib.sha256).hexdigest()
        self.app = app  # its config holds the port
        app.extensions["launch_guard"] = self
        self.install(app)

    def install(self, app: Flask) -> None:
        """Guard `app`: nothing else runs for a request the guard refuses."""
        app.before_request(self._admit)
        app.after_request(self._secure_headers)
        app.add_url_rule("/launch/<token>", "launch", self._launch)
        app.url_defaults(self._versioned_static)
        app.jinja_env.globals["csrf_token"] = lambda: self.csrf_token
        app.register_error_handler(403, _refusal_page)

    @property
    def port(self) -> int:
        return self.app.config["SERVER_PORT"]

    @property
    def cookie_name(self) -> str:
        # Cookies are shared across ports of one host: name ours by port so two instances never clash.
        return f"fieldkit_{self.port}"

    def launch_url(self) -> str:
        """The one-time URL that lets one browser or window in."""
        return f"http://127.0.0.1:{self.port}/launch/{self._launch_token}"

    def window_url(self, path: str) -> str:
        """A one-time URL for a further window of the desktop app (the recorder): each window has a
        cookie store of its own, so it needs its own way in, which lands on `path`."""
        if not path.startswith("/") or path.startswith("//") or "\\" in path:
            raise ValueError("a path of this app")
        token = secrets.token_urlsafe(32)
        with self._launch_used:
            self._window_tokens[token] = path
        return f"http://127.0.0.1:{self.port}/launch/{token}"

    def _admit(self):
        if request.host not in (f"127.0.0.1:{self.port}", f"localhost:{self.port}"):
            abort(403, "host")
        if request.endpoint == "launch":
            return None
        cookie = request.cookies.get(self.cookie_name, "")
        if not hmac.compare_digest(cookie.encode(), self.secret.encode()):
            abort(403, "launch")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
            if not hmac.compare_digest(sent.encode(), self.csrf_token.encode()):
                abort(403, "csrf")
        return None

    def _launch(self, token: str):
        """Exchange the one-time token for the session cookie; the token works exactly once."""
        with self._launch_used:
            target = self._window_tokens.pop(token, None)
            if target is None:
                if not (self._launch_token and hmac.compare_digest(token.encode(), self._launch_token.encode())):
                    abort(403, "launch")
                self._launch_token, target = "", "/unlock"  # a start finds the vault locked: straight there
        response = make_response(redirect(target))
        response.set_cookie(self.cookie_name, self.secret, httponly=True, samesite="Strict", path="/")
        return response

    def _versioned_static(self, endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            path = Path(self.app.static_folder, values["filename"])
            values["v"] = _content_version(path, path.stat().st_mtime_ns)

    @staticmethod
    def _secure_headers(response):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        versioned = request.endpoint == "static" and request.args.get("v") and response.status_code == 200
        response.headers["Cache-Control"] = "private, max-age=31536000, immutable" if versioned else "no-store"
        return response


@lru_cache(maxsize=64)
def _content_version(path: Path, _mtime_ns: int) -> str:
    """A short hash of a static file, recomputed when it changes on disk."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _refusal_page(error):
    """Why the guard refused, in the user's language, with what to do."""
    from flask import render_template
    from flask_babel import gettext

    reasons = {
        "host": gettext("This address is not allowed. Open fieldkit only through its own window or the address it printed."),
        "launch": gettext("This page belongs to a fieldkit that was started with a one-time address. Use the window or browser tab it opened, or start fieldkit again to get a new address."),
        "csrf": gettext("The form has expired. Reload the page and try again; nothing was saved."),
    }
    text = reasons.get(error.description, gettext("Access denied."))
    return render_template("error.html", code=403, title=gettext("Access denied"), reason=text), 403

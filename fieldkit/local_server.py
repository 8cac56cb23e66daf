"""Serve the app on 127.0.0.1 at a random free port, for the desktop window or a browser."""
import logging
import re
import threading
from urllib.parse import unquote, urlsplit

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

log = logging.getLogger("fieldkit.requests")


class _RedactingRequestHandler(WSGIRequestHandler):
    """Logs requests like werkzeug does, but never the one-time launch token."""

    def log_request(self, code="-", size="-"):
        # The path alone: query strings carry search terms (names), the launch path its token.
        path = re.sub(r"^/launch/.*", "/launch/…", unquote(urlsplit(self.path).path))  # as routed: %6Caunch too
        log.info('"%s %s" %s', self.command, path, code)

    def log(self, type, message, *args):  # noqa: A002 (werkzeug's signature)
        getattr(log, type, log.info)(message, *args)


class LocalServer:
    """A threaded WSGI server bound to the loopback interface only."""

    def __init__(self, app: Flask, port: int = 0):
        self.app = app
        self._server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_RedactingRequestHandler)
        app.config["SERVER_PORT"] = self._server.server_port
        self._thread = None

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def launch_url(self) -> str:
        return self.app.extensions["launch_guard"].launch_url()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="fieldkit-server", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

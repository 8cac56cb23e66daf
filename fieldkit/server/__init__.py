"""The project server (DESIGN.md §8): receives anonymised releases from the laptops and shows them to
the coordinators. Its own app factory; `fieldkit server run` serves it with waitress.
"""
from datetime import timedelta
from pathlib import Path

from flask import Flask, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface

from ..security import CONTENT_SECURITY_POLICY

MAX_RELEASE_MB = 64
SECURITY_HEADERS = (("Content-Security-Policy", CONTENT_SECURITY_POLICY), ("X-Content-Type-Options", "nosniff"),
                    ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"))


def create_server_app(config=None) -> Flask:
    """The server on the data directory's database (or FIELDKIT_SERVER_DATABASE_URL's), migrated."""
    import os

    from flask_babel import Babel

    from .. import config as settings
    from .. import formats
    from ..i18n import TRANSLATIONS_DIR
    from . import api, dashboard, ingest, storage

    config = dict(config or {})
    data_dir = settings.data_dir(config.get("DATA_DIR"))
    app = Flask(__name__, template_folder=str(settings.resource_dir("templates")),
                static_folder=str(settings.resource_dir("static")))
    engine = storage.engine_for(config.get("DATABASE_URL") or storage.database_url(Path(data_dir)))
    storage.migrate(engine)
    app.extensions["server_engine"] = engine
    app.extensions["server_ingest"] = ingest.Ingest(engine)
    megabytes = int(config.get("MAX_RELEASE_MB") or os.environ.get("FIELDKIT_SERVER_MAX_RELEASE_MB", MAX_RELEASE_MB))
    app.config.update(
        SECRET_KEY=storage.secret_key(engine), MAX_CONTENT_LENGTH=megabytes * 2**20,
        SESSION_COOKIE_NAME="fieldkit_server", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
        # behind a TLS reverse proxy, set FIELDKIT_SERVER_SECURE_COOKIES=1 so the cookie travels only over HTTPS
        SESSION_COOKIE_SECURE=os.environ.get("FIELDKIT_SERVER_SECURE_COOKIES") == "1",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS_DIR))
    app.session_interface = _DashboardSessions()
    Babel(app, locale_selector=lambda: request.accept_languages.best_match(["de", "en"]) or "de")
    app.register_blueprint(api.bp)
    app.wsgi_app = api.ReleaseEndpoint(app, app.wsgi_app)
    app.register_blueprint(dashboard.bp)
    app.jinja_env.globals["csrf_token"] = dashboard.csrf_token
    formats.register(app)
    app.after_request(_headers)
    for code in (400, 404, 405, 413, 415, 429, 500):
        app.register_error_handler(code, _error)
    return app


class _DashboardSessions(SecureCookieSessionInterface):
    """Only the dashboard has a session: the API's requests skip the signed cookie's work."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return self.null_session_class()
        return super().open_session(app, request)


def _headers(response):
    for name, value in SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    return response


def _error(error):
    """API clients get JSON with a reason, people a page; never a traceback."""
    from flask_babel import gettext

    code = getattr(error, "code", 500) or 500
    reasons = {400: "bad request", 404: "not found", 405: "method not allowed",
               413: "the release is larger than this server accepts", 415: "unsupported media type",
               429: "too many requests", 500: "the server could not finish this request"}
    if request.path.startswith("/api/"):
        response = jsonify({"error": reasons.get(code, "error")})
        response.status_code = code
        return response
    return render_template("server/error.html", code=code,
                           reason=gettext("This did not work (%(code)d).", code=code)), code

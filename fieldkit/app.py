"""The laptop app: Flask on 127.0.0.1, its guards, its vault, its views (DESIGN.md §5)."""
import io
import threading

from flask import Flask, Request, g, request
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.routing import Rule


def create_app(test_config=None, entrance=None) -> Flask:
    """The laptop app: defaults, then FIELDKIT_* environment overrides, then test_config. Built behind a
    start's entrance (fieldkit/entrance.py), it shares the entrance's launch guard and extensions."""
    from flask_babel import Babel
    from flask_htmx import HTMX

    from . import config
    from .i18n import TRANSLATIONS_DIR
    from .security import LaunchGuard
    from .vault import IdleLock, Vault
    from .views import register_views

    app = Flask(__name__, template_folder=str(config.resource_dir("templates")),
                static_folder=str(config.resource_dir("static")))
    app.request_class = InMemoryRequest
    app.url_rule_class = LazyBuilderRule
    if entrance is not None:
        app.extensions = entrance.extensions
    app.config.from_mapping(config.settings(), SERVER_PORT=None)
    if test_config:
        app.config.update(test_config)
    app.config["DATA_DIR"] = config.data_dir(app.config["DATA_DIR"])
    if "log_file" not in app.extensions:  # behind an entrance, which opened the same log already
        from .logs import to_file

        app.extensions["log_file"] = to_file(app.config["DATA_DIR"])
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)

    vault = Vault.from_settings(app.config["DATA_DIR"], app.config)
    app.extensions["vault"] = vault
    app.extensions["idle_minutes"] = float(app.config["IDLE_LOCK_MINUTES"])
    IdleLock(vault, lambda: app.extensions["idle_minutes"]).start()
    if app.config.get("SYNC_INTERVAL", 60):
        from .sync import SyncWorker

        app.extensions["sync_worker"] = SyncWorker(vault, float(app.config.get("SYNC_INTERVAL", 60)))
        app.extensions["sync_worker"].start()

    if app.config.get("BACKUP_CHECK_SECONDS", 300):
        from .backup import BackupWorker

        app.extensions["backup_worker"] = BackupWorker(vault, float(app.config.get("BACKUP_CHECK_SECONDS", 300)))
        app.extensions["backup_worker"].start()

    app.before_request(_upload_limit)  # before anything reads the body
    UploadSlots(app, int(app.config["UPLOAD_SLOTS"]))  # before any body is read (LaunchGuard reads the form)
    entrance.guard.install(app) if entrance is not None else LaunchGuard(app)  # nothing else runs for a request it refuses
    HTMX(app)
    Babel(app, locale_selector=select_locale)
    app.before_request(_require_unlocked_vault)
    app.teardown_appcontext(_close_session)
    register_views(app)
    app.log_exception = lambda exc_info: None  # the error page's handler logs it, with its error id
    return app


class LazyBuilderRule(Rule):
    """A URL rule whose url_for builders are generated on first use: werkzeug generates and compiles two
    Python functions per rule when it is added, a fifth of the app's start for its ~100 routes, most of
    which the first page never links to."""

    def _compile_builder(self, append_unknown: bool = True):
        built = None

        def build(rule, **values):
            nonlocal built
            if built is None:
                built = Rule._compile_builder(rule, append_unknown)
            return built(rule, **values)

        return build


class InMemoryRequest(Request):
    """Uploads (transcripts, tables, guides) stay in memory: werkzeug would spool a large one to a
    plaintext temporary file. MAX_CONTENT_LENGTH bounds what memory a request can take."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


class UploadSlots:
    """At most `slots` uploads are read and processed at once: each holds its body (up to
    MAX_CONTENT_LENGTH) and what it unpacks in memory, so many at once could exhaust it. Further uploads
    wait their turn, and after WAIT_SECONDS are answered with a page asking to try again."""

    WAIT_SECONDS = 120

    def __init__(self, app: Flask, slots: int):
        self._free = threading.BoundedSemaphore(slots)
        app.before_request(self._take)
        app.teardown_request(self._give_back)

    def _take(self):
        if request.mimetype != "multipart/form-data" and (request.content_length or 0) <= 1024 * 1024:
            return
        if not self._free.acquire(timeout=self.WAIT_SECONDS):
            raise ServiceUnavailable("uploads busy")
        g.upload_slot = True

    def _give_back(self, _error=None):
        if g.pop("upload_slot", False):
            self._free.release()


def _upload_limit():
    """A phone's recording may be far larger than any other upload (MAX_CONTENT_LENGTH)."""
    if request.endpoint == "audio.import_recording":
        from .audio import MAX_IMPORT

        request.max_content_length = MAX_IMPORT + 1024 * 1024  # the file and the form around it


# Endpoints that work while the vault is locked.
_OPEN_ENDPOINTS = {"static", "launch", "vault.setup", "vault.unlock", "vault.close_window", "settings.language"}


def _require_unlocked_vault():
    """Send every request to setup or unlock while the vault is locked; count it as activity."""
    from flask import current_app

    from .views import to_unlock

    vault = current_app.extensions["vault"]
    if request.endpoint in _OPEN_ENDPOINTS:
        return None
    if not vault.is_unlocked:
        for pending in ("pending_imports", "pending_merges", "export_jobs"):  # they hold plaintext or keys: gone with the key
            current_app.extensions.pop(pending, None)
        return to_unlock()
    vault.touch()
    return None


def select_locale() -> str:
    from .i18n import DEFAULT_LOCALE, LOCALES

    chosen = request.cookies.get("lang")
    return chosen if chosen in LOCALES else DEFAULT_LOCALE


def _close_session(_error=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def new_error_id() -> str:
    import secrets

    return secrets.token_hex(3).upper()


def fault_page(error_id: str):
    """A fault of ours: a plain page in the user's language with a short error id (its trace is in the
    log under that id, never in the window)."""
    from flask import render_template
    from flask_babel import gettext

    return render_template("error.html", code=500, title=gettext("Something went wrong"), error_id=error_id,
                           reason=gettext("fieldkit could not finish this step. What was shown as saved is safe. "
                                          "Reload the page or restart fieldkit; if it happens again, tell the "
                                          "coordination the error number %(id)s.", id=error_id)), 500

"""The first page of a start, before the app stands.

Building the app imports SQLAlchemy, SQLModel, the models and every view: two thirds of the time from
the start to the first page, none of which the unlock page needs. So a start (`fieldkit run`, `serve`,
`demo`) serves from a small app of its own first: the one-time launch address, the unlock and first-run
pages as shown (GET) and the static files. Once the page is in (in the window: its files too), the full
app is built in a thread while the person types; every request the entrance does not serve waits for
the full app, which then answers everything. Both share the launch guard (one cookie, one CSRF token) and the extensions (the vault, the
window's hooks), so nobody can tell where a page came from.
"""
import logging
import threading
from pathlib import Path
from typing import Callable, Optional

from flask import Flask, abort, redirect, render_template, url_for
from flask_babel import get_locale

log = logging.getLogger("fieldkit.start")

# Where the pages the entrance serves link to, as the app's views define them: the locked layout
# (base.html) names them. tests/test_entrance.py checks that the two agree.
LAYOUT_LINKS = [("/", "vault.home", ["GET"]), ("/lock", "vault.lock", ["POST"]), ("/activity", "vault.activity", ["POST"]),
                ("/window/close", "vault.close_window", ["POST"]), ("/settings/language", "settings.language", ["POST"])]
FRONT_PATHS = ("/unlock", "/setup")
FRONT_PREFIXES = ("/launch/", "/static/")


class Entrance:
    """The WSGI app a start serves: the entrance's pages until the full app stands, then the full app.
    `built` is called in the building thread once it stands."""

    def __init__(self, data_dir: Optional[Path] = None, built: Callable[[], None] = lambda: None):
        self.front = _front_app(data_dir, self)
        self.config, self.extensions = self.front.config, self.front.extensions
        self.guard = self.extensions["launch_guard"]
        self._built_callback, self._app, self._failure = built, None, None
        self._building, self._ready = threading.Lock(), threading.Event()
        # Build once the first page is served; the window builds once the page and its files are in
        # instead (building beside them made the page appear 0.2 s later).
        self.build_after_page = True

    @property
    def is_built(self) -> bool:
        return self._app is not None

    def build(self) -> None:
        """Start building the full app in a thread (once)."""
        if self._building.acquire(blocking=False):
            threading.Thread(target=self._build, name="fieldkit-build", daemon=True).start()

    @property
    def failed(self) -> bool:
        return self._failure is not None

    def _build(self) -> None:
        from .app import create_app

        try:
            self._app = create_app({"DATA_DIR": self.config["DATA_DIR"]}, entrance=self)
        except Exception as error:  # a broken installation: the entrance answers every request with an error page
            log.exception("the app could not be built")
            self._failure = error
        finally:
            self._built_callback()
            self._ready.set()

    def _wait(self) -> bool:
        """Build the full app if nothing asked for it yet, and wait until it stands; False if it failed."""
        self.build()
        self._ready.wait()
        return self._app is not None

    def __call__(self, environ, start_response):
        if self._app is None and (_served_by_front(environ) or not self._wait()):
            return self.front(environ, start_response)
        return self._app(environ, start_response)


def _served_by_front(environ) -> bool:
    path = environ.get("PATH_INFO", "")
    return environ.get("REQUEST_METHOD") in ("GET", "HEAD") and (path in FRONT_PATHS or path.startswith(FRONT_PREFIXES))


def _front_app(data_dir, entrance: Entrance) -> Flask:
    from flask_babel import Babel

    from . import config
    from .app import select_locale
    from .i18n import TRANSLATIONS_DIR
    from .logs import to_file
    from .security import LaunchGuard

    front = Flask("fieldkit", template_folder=str(config.resource_dir("templates")),
                  static_folder=str(config.resource_dir("static")))
    front.config.from_mapping(config.settings(), SERVER_PORT=None, BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS_DIR))
    front.config["DATA_DIR"] = config.data_dir(data_dir)
    front.extensions["log_file"] = to_file(front.config["DATA_DIR"])
    LaunchGuard(front)  # before anything else: a request it refuses learns nothing, not even a failed build
    Babel(front, locale_selector=select_locale)
    front.before_request(lambda: abort(500) if entrance.failed else None)
    front.register_error_handler(500, _not_started)
    keystore = Path(front.config["DATA_DIR"]) / config.KEYSTORE_NAME

    def page(template: str, shown_if_vault: bool, other: str, **context):
        def view():
            if keystore.exists() != shown_if_vault:
                return redirect(url_for(other))
            response = front.make_response(render_template(template, **context))
            if entrance.build_after_page:
                response.call_on_close(entrance.build)
            return response
        return view

    front.add_url_rule("/unlock", "vault.unlock", page("vault/unlock.html", True, "vault.setup", error=None))
    front.add_url_rule("/setup", "vault.setup", page("vault/setup.html", False, "vault.unlock", errors=[], recipient=""))
    for rule, endpoint, methods in LAYOUT_LINKS:  # served by the full app; here only for url_for
        front.add_url_rule(rule, endpoint, methods=methods)
    front.context_processor(lambda: {"vault_unlocked": False, "idle_seconds": 0, "is_demo": False,
                                     "current_locale": str(get_locale())})
    return front


def _not_started(_error):
    """The app could not be built (its trace is in the log): the page of any fault of ours."""
    from .app import fault_page, new_error_id

    error_id = new_error_id()
    log.error("error %s: the app could not be built, see above", error_id)
    return fault_page(error_id)

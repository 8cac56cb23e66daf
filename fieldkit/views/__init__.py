"""Blueprints, one per screen family, and the helpers every view shares."""
from flask import Flask, current_app, g, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session

from .. import db, formats, vocabulary
from ..vault import Vault, VaultLocked


def register_views(app: Flask) -> None:
    from . import (analysis, audio, exchange, guide_editor, guides, interviews, maps, organisations, settings, steward,
                   sync, vault)

    for module in (vault, interviews, audio, maps, organisations, guides, guide_editor, analysis, exchange, steward, sync,
                   settings):
        app.register_blueprint(module.bp)
    app.register_error_handler(VaultLocked, _locked_meanwhile)
    app.register_error_handler(DatabaseError, _database_damaged)
    for code in (404, 405, 413, 500, 503):
        app.register_error_handler(code, _error_page)
    app.context_processor(_template_context)
    formats.register(app)


def current_vault() -> Vault:
    return current_app.extensions["vault"]


def db_session() -> Session:
    """The request's database session on the unlocked vault, closed at teardown."""
    if "db_session" not in g:
        g.db_session = Session(current_vault().engine, expire_on_commit=False)
    return g.db_session


def writing():
    """A session for one action that writes (see db.writing)."""
    return db.writing(current_vault().engine)


def to_unlock():
    """Send the browser to the unlock page; HTMX requests are redirected as a whole page."""
    target = url_for("vault.unlock" if current_vault().exists else "vault.setup")
    if request.headers.get("HX-Request") == "true":
        return "", 204, {"HX-Redirect": target}
    return redirect(target)


def _database_damaged(error):
    """A damaged page of the database met while answering: say so, with what to do, never a traceback."""
    from ..vault import damaged

    return render_template("error.html", code=500, title=gettext("The database is damaged"),
                           reason=message(damaged(error))), 500


def _locked_meanwhile(_error):
    """The vault locked itself (idle) while this request was running."""
    return to_unlock()


def message(error) -> str:
    """A domain error's message, translated for the current request."""
    return error.render(gettext)


def render_view(page: str, fragment: str, **context):
    """The fragment for a plain HTMX swap; the whole page for navigation, boosted links and history
    restores, which need the layout around it."""
    htmx = current_app.htmx
    partial = bool(htmx) and not htmx.boosted and not htmx.history_restore_request
    response = make_response(render_template(fragment if partial else page, **context))
    response.vary.add("HX-Request")
    return response


def _error_page(error):
    """Not found, wrong method, or a fault of ours: a plain page in the user's language. A fault of ours
    gets a short error id, shown on the page and written with its trace to the log, never into the window."""
    code = getattr(error, "code", 500)
    if code == 500:
        return _unexpected(getattr(error, "original_exception", None) or error)
    titles = {404: gettext("Not found"), 405: gettext("Not possible here"), 413: gettext("File too large"),
              503: gettext("Busy")}
    reasons = {404: gettext("This page does not exist (any more)."),
               405: gettext("This address cannot be used this way."),
               413: gettext("The upload is larger than %(limit)d MB. Nothing was imported.",
                            limit=current_app.config["MAX_CONTENT_LENGTH"] // 2**20),
               503: gettext("Other files are still being imported. Go back and try again in a minute; nothing was imported yet.")}
    return render_template("error.html", code=code, title=titles.get(code, gettext("Something went wrong")),
                           reason=reasons.get(code, gettext("fieldkit could not finish this step. Nothing that was shown as saved is lost; try again or restart fieldkit."))), code


def _unexpected(error: BaseException):
    import logging
    import traceback

    from ..app import fault_page, new_error_id

    error_id = new_error_id()
    # Where it failed, without the exception's message: a message can quote what the user typed.
    logging.getLogger("fieldkit.errors").error("error %s on %s %s: %s\n%s", error_id, request.method, request.path,
                                               type(error).__name__, "".join(traceback.format_tb(error.__traceback__)))
    return fault_page(error_id)


def _template_context() -> dict:
    from ..guide import title_of
    from ..quotes import code_text

    unlocked = current_vault().is_unlocked
    locale = str(get_locale())
    return {
        "code_label": lambda code: code_text(code, locale)[0],
        "code_description": lambda code: code_text(code, locale)[1],
        "guide_title": lambda record: title_of(record, locale),
        "vocabulary": vocabulary,
        "vault_unlocked": unlocked,
        "idle_seconds": int(current_app.extensions["idle_minutes"] * 60),
        "is_demo": unlocked and current_app.extensions.get("is_demo", False),
        "backup_overdue_days": (lambda: _backup_overdue_days()) if unlocked else (lambda: None),
        "recording_now": (lambda: _recording_now()) if unlocked else (lambda: False),
        "current_locale": locale,
    }


def _recording_now() -> bool:
    from ..audio import recording_now

    return recording_now(db_session(), current_vault().device_id)


def _backup_overdue_days():
    """Days without a backup, once there are more than 7 (shown on every page until one is made)."""
    from ..backup import state
    from ..models import utcnow

    return state(db_session(), utcnow()).overdue_days


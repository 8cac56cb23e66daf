"""First start (create the vault), unlock with the passphrase, lock on demand."""
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext

from .. import backup
from ..audio import recording_now
from ..local_settings import get_setting
from ..models import utcnow
from ..vault import VaultError, WeakPassphrase
from ..interviews import ensure_shipped_content
from . import current_vault, db_session, message, writing

bp = Blueprint("vault", __name__)


@bp.route("/")
def home():
    return redirect(url_for("interviews.index"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the vault: passphrase twice, and the project's recovery key pasted or from a file."""
    vault = current_vault()
    if vault.exists:
        return redirect(url_for(".unlock"))
    errors, recipient = [], request.form.get("recipient", "").strip()
    if request.method == "POST":
        upload = request.files.get("recipient_file")
        if upload and upload.filename:
            recipient = upload.read(64 * 1024).decode("utf-8", errors="replace")
        try:
            vault.create(request.form.get("passphrase", ""), [recipient] if recipient else [],
                         confirmation=request.form.get("confirmation", ""))
        except WeakPassphrase as error:
            errors = [gettext(problem) for problem in error.problems]
        except VaultError as error:
            errors = [message(error)]
        else:
            _after_unlock()
            return redirect(url_for("vault.home"))
    return render_template("vault/setup.html", errors=errors, recipient=recipient), 400 if errors else 200


@bp.route("/unlock", methods=["GET", "POST"])
def unlock():
    vault = current_vault()
    if not vault.exists:
        return redirect(url_for(".setup"))
    if vault.is_unlocked:
        return redirect(url_for("vault.home"))
    error = None
    if request.method == "POST":
        try:
            vault.unlock(request.form.get("passphrase", ""))
        except VaultError as failure:
            error = message(failure)
        else:
            _after_unlock()
            return redirect(url_for("vault.home"))
    return render_template("vault/unlock.html", error=error), 400 if error else 200


@bp.post("/lock")
def lock():
    """Lock now; a page that locks because nobody touched it is refused while a recording runs: the
    interviewer is listening, not away."""
    if request.args.get("idle") and current_vault().is_unlocked and recording_now(db_session(), current_vault().device_id):
        return "", 409
    current_vault().lock()
    return redirect(url_for(".unlock"))


@bp.post("/activity")
def activity():
    """The page reports that someone is reading or typing, which keeps the idle lock away."""
    return "", 204


@bp.post("/window/close")
def close_window():
    """The page saved what was pending: the desktop window may close now; or it could not, and the
    window waits while the person decides (see desktop.py)."""
    answer = current_app.extensions.get("keep_window" if request.form.get("decision") == "stay" else "close_window")
    if answer is not None:
        answer()
    return "", 204


def _after_unlock() -> None:
    """Adopt the vault's own settings once it is open."""
    with writing() as write:
        ensure_shipped_content(write, current_vault().device_id)
        backup.watch(write, utcnow())  # the 7-day reminder counts from here
    session = db_session()
    current_app.extensions["idle_minutes"] = float(
        get_setting(session, "idle_lock_minutes", current_app.config["IDLE_LOCK_MINUTES"]))
    current_app.extensions["is_demo"] = bool(get_setting(session, "demo", False))

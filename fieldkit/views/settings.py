"""Settings: this device's key fingerprint, the recovery keys, idle lock, passphrase, language."""
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext

from ..config import IDLE_LOCK_MINUTES_RANGE
from ..local_settings import set_setting
from ..models import utcnow
from ..vault import VaultError, WeakPassphrase, fingerprint
from .. import backup
from . import current_vault, db_session, message, writing

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.route("/")
def index(errors=(), failed=None, notice=None, status=200):
    """The settings page; errors are shown beside the form named by `failed`."""
    vault = current_vault()
    session = db_session()
    return render_template("settings/index.html", device_id=vault.device_id,
                           fingerprint=fingerprint(vault.secrets.public_key),
                           recipients=vault.keystore().recovery_recipients,
                           idle_minutes=current_app.extensions["idle_minutes"],
                           backup_plan=backup.plan(session), backup_state=backup.state(session, utcnow()),
                           form=request.form if failed == "backup" else {},
                           errors=errors, failed=failed, notice=notice), status


@bp.route("/about")
def about():
    """Über fieldkit: version, data directory, log file, and every component with its licence."""
    import platform

    from .. import __version__, components

    return render_template("settings/about.html", version=__version__, python=platform.python_version(),
                           packages=components.python_packages(), vendored=components.VENDORED,
                           data_dir=current_app.config["DATA_DIR"], log_file=current_app.extensions.get("log_file"))


@bp.route("/about/licence/<name>")
def licence(name: str):
    """A component's licence text, as it ships with it."""
    from flask import abort

    from .. import components

    vendored = {item[0]: item for item in components.VENDORED}
    if name in vendored:
        text = (Path(current_app.static_folder) / vendored[name][3]).read_text(encoding="utf-8")
    elif any(package.name == name for package in components.python_packages()):
        text = components.licence_text(name)
    else:
        abort(404)
    if not text:
        abort(404)
    return render_template("settings/licence.html", name=name, text=text)


@bp.post("/idle")
def idle():
    low, high = IDLE_LOCK_MINUTES_RANGE
    try:
        minutes = int(request.form.get("minutes", ""))
    except ValueError:
        minutes = 0
    if not low <= minutes <= high:
        return index(errors=[gettext("Enter a whole number of minutes between %(low)d and %(high)d.", low=low, high=high)],
                     failed="idle", status=400)
    with writing() as session:
        set_setting(session, "idle_lock_minutes", minutes)
    current_app.extensions["idle_minutes"] = float(minutes)
    return index(notice=gettext("The app now locks after %(minutes)d minutes without activity.", minutes=minutes))


@bp.post("/backup")
def backup_plan():
    """Where and when the automatic backups go."""
    form = request.form
    try:
        keep = int(form.get("keep", ""))
    except ValueError:
        keep = 0
    try:
        with writing() as session:
            chosen = backup.save_plan(session, form.get("folder", ""), keep, form.get("daily") == "on",
                                      form.get("on_close") == "on")
    except backup.BackupError as error:
        return index(errors=[message(error)], failed="backup", status=400)
    return index(notice=gettext("Backups go to %(folder)s; the last %(keep)s are kept.", folder=chosen.folder, keep=chosen.keep))


@bp.post("/backup/now")
def backup_now():
    if backup.plan(db_session()) is None:
        return index(errors=[gettext("First choose the folder for backups.")], failed="backup", status=400)
    written = backup.run_planned(current_vault(), "manual")
    db_session().rollback()  # its read began before the backup noted itself: read anew
    if written is None:
        return index(errors=[gettext("The backup could not be written: %(reason)s. Is the USB stick plugged in?",
                                     reason=backup.state(db_session(), utcnow()).failed)], failed="backup", status=400)
    return index(notice=gettext("Backup written: %(file)s", file=written.name))


@bp.post("/passphrase")
def passphrase():
    try:
        current_vault().change_passphrase(request.form.get("current", ""), request.form.get("passphrase", ""),
                                          confirmation=request.form.get("confirmation", ""))
    except WeakPassphrase as error:
        return index(errors=[gettext(problem) for problem in error.problems], failed="passphrase", status=400)
    except VaultError as error:
        return index(errors=[message(error)], failed="passphrase", status=400)
    return index(notice=gettext("The passphrase was changed. Use the new one from now on."))


@bp.post("/language")
def language():
    chosen, target = request.form.get("lang", "de"), request.form.get("next", "")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or "\\" in target or target.startswith("//"):
        target = url_for("vault.home")  # only back into this app
    response = redirect(target)
    if chosen in ("de", "en"):
        response.set_cookie("lang", chosen, samesite="Strict", httponly=True, max_age=365 * 24 * 3600)
    return response

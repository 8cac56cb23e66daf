"""Synchronisation with the project server: its address and this device's token, the queue of
releases with their state, the last successful sync, and a button to try now."""
from flask import Blueprint, current_app, redirect, render_template, request, url_for

from .. import sync
from ..errors import UserError
from . import current_vault, db_session, message, writing

bp = Blueprint("sync", __name__, url_prefix="/sync")


@bp.route("/")
def index(error=None, result=None, status=200):
    session = db_session()
    chosen = sync.settings(session)
    return render_template("sync/index.html", settings=chosen, jobs=sync.jobs(session), statuses=sync.STATUSES,
                           last_success=sync.last_success(session), error=error, result=result), status


@bp.post("/settings")
def configure():
    form = request.form
    try:
        with writing() as session:
            sync.configure(session, current_vault().device_id, form.get("url", ""), form.get("token", ""),
                           form.get("pin", ""))
    except UserError as failure:
        db_session().rollback()
        return index(error=message(failure), status=400)
    return redirect(url_for(".index"))


@bp.post("/now")
def now():
    """Try every waiting release at once (also those waiting for their next attempt)."""
    db_session().rollback()
    try:
        with writing() as session:
            for job in sync.jobs(session):
                if job.status == "pending":
                    job.next_attempt_at = None
                    session.add(job)
        result = sync.run(current_vault().engine)
    except UserError as failure:
        return index(error=message(failure), status=400)
    worker = current_app.extensions.get("sync_worker")
    if worker is not None:
        worker.wake.set()
    return index(result=result)

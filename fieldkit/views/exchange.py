"""Handing data over: export a bundle (interviewer), merge bundles and settle conflicts (coordinator)."""
import datetime as dt
import secrets
import threading

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext

from .. import __version__, db, interviews
from ..bundle import MAX_KEY_FILE, coordinator_identities
from ..errors import UserError
from ..merge import (SKIPPED, UnknownDevice, bundle_file_name, coordinator_recipients, count_records, differences,
                     export, merge_files, open_conflicts, resolve)
from ..models import Conflict
from ..vault import fingerprint
from . import current_vault, db_session, message, writing

bp = Blueprint("exchange", __name__, url_prefix="/exchange")
PENDING_LIMIT = 4  # merges waiting for a device to be accepted, in memory only


@bp.route("/")
def index(results=None, error=None, status=200):
    vault = current_vault()
    session = db_session()
    return render_template("exchange/index.html", rows=interviews.find(session), results=results, error=error,
                           fingerprint=fingerprint(vault.secrets.public_key),
                           conflicts=len(open_conflicts(session))), status


@bp.post("/export")
def export_bundle():
    """Build the bundle. With HTMX it runs in the background and the page shows its progress; without,
    the bundle comes straight back as a download (it is encrypted: safe on a USB stick)."""
    chosen = request.form.getlist("interview") if request.form.get("scope") == "chosen" else None
    if chosen is not None and not chosen:
        return index(error=gettext("Choose at least one interview."), status=400)
    job = _ExportJob(current_vault(), chosen, request.form.get("scope") == "changed")
    if request.headers.get("HX-Request") != "true":
        job.run()
        return _download(job) if job.written else index(error=message(job.error), status=400)
    jobs = current_app.extensions.setdefault("export_jobs", {})
    while len(jobs) >= PENDING_LIMIT:  # bundles nobody fetched (encrypted, but memory is finite)
        jobs.pop(next(iter(jobs)))
    jobs[job.id] = job
    threading.Thread(target=job.run, name="fieldkit-export", daemon=True).start()
    return render_template("exchange/_progress.html", job=job)


@bp.route("/export/<job_id>")
def export_progress(job_id: str):
    job = current_app.extensions.get("export_jobs", {}).get(job_id) or abort(404)
    return render_template("exchange/_progress.html", job=job)


@bp.route("/export/<job_id>/file")
def export_file(job_id: str):
    """The finished bundle, handed out once."""
    job = current_app.extensions.get("export_jobs", {}).pop(job_id, None)
    if job is None or job.written is None:
        abort(404)
    return _download(job)


class _ExportJob:
    """One export, run in a thread of its own with its own transaction; counts the records it wrote."""

    def __init__(self, vault, chosen, changed_only: bool):
        self.id, self.vault, self.chosen, self.changed_only = secrets.token_urlsafe(12), vault, chosen, changed_only
        self.done, self.total, self.written, self.error = 0, 0, None, None
        with db.writing(vault.engine) as session:
            self.total = count_records(session)

    def run(self) -> None:
        try:
            with db.writing(self.vault.engine) as session:
                self.written = export(session, self.vault.device_id, self.vault.secrets.signing_key,
                                      coordinator_recipients(session, self.vault.keystore().recovery_recipients),
                                      __version__, self.chosen, self.changed_only, progress=self._progress)
        except UserError as failure:
            self.error = failure

    def _progress(self, done: int) -> None:
        self.done = done


def _download(job):
    name = bundle_file_name(job.vault.device_id, job.written.manifest["sequence"], dt.date.today())
    response = Response(job.written.data, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.post("/merge")
def merge():
    """Merge uploaded bundles with the coordinator's key; an unknown device waits for acceptance."""
    pending = current_app.extensions.setdefault("pending_merges", {})
    token = request.form.get("pending")
    if token:
        if token not in pending:
            abort(404)
        identities, files = pending.pop(token)
        accepted, relays = set(request.form.getlist("accept")), set(request.form.getlist("relay"))
    else:
        identity = request.files.get("identity")
        files = [(upload.filename, upload.read()) for upload in request.files.getlist("bundles") if upload.filename]
        accepted, relays = set(), set()
        if not identity or not identity.filename or not files:
            return index(error=gettext("Choose the coordinator key file and at least one bundle."), status=400)
        try:
            identities = coordinator_identities(identity.read(MAX_KEY_FILE + 1))
        except UserError as failure:
            return index(error=message(failure), status=400)
    results, waiting = [], []
    merged = merge_files(current_vault().engine, files, identities, accepted, current_vault().device_id, relays)
    for (name, data), (_, outcome) in zip(files, merged):
        if isinstance(outcome, UnknownDevice):
            waiting.append((name, data, outcome.params["fingerprint"]))
        if isinstance(outcome, UserError):
            results.append({"name": name, "error": message(outcome)})
        else:
            results.append({"name": name, "report": outcome,
                            "skipped": gettext(SKIPPED[outcome.skipped]) if outcome.skipped else None})
    if waiting:
        while len(pending) >= PENDING_LIMIT:
            pending.pop(next(iter(pending)))
        token = secrets.token_urlsafe(16)
        pending[token] = (identities, [(name, data) for name, data, _ in waiting])
        return render_template("exchange/accept.html", results=results, token=token,
                               devices=sorted({f for _, _, f in waiting}))
    return index(results=results, status=400 if any("error" in r for r in results) else 200)


@bp.route("/conflicts")
def conflicts():
    """Each open conflict side by side: the fields where this vault and the bundle differ."""
    session = db_session()
    rows = [(conflict, differences(session, conflict)) for conflict in open_conflicts(session)]
    return render_template("exchange/conflicts.html", rows=rows)


@bp.post("/conflicts/<conflict_id>")
def settle(conflict_id: str):
    with writing() as session:
        conflict = session.get(Conflict, conflict_id) or abort(404)
        edits = {key.removeprefix("field:"): value for key, value in request.form.items() if key.startswith("field:")}
        keep = request.form.get("keep", "")
        try:
            resolve(session, current_vault().device_id, conflict, keep, edits if keep == "edited" else None)
        except UserError:
            abort(400)
    return redirect(url_for(".conflicts"))

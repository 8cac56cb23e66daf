"""The data steward's screens: the queue, the review of one record, the registry, k-anonymity and
regions, and releases."""
import io
import zipfile
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlmodel import select

from .. import release as releases
from ..anonymise import generalise, registry, review
from ..errors import UserError
from ..formats import local_date
from ..i18n import N_
from ..local_settings import get_setting, set_setting
from ..models import Interview, Organisation, Release
from . import current_vault, db_session, message, render_view, writing

bp = Blueprint("steward", __name__, url_prefix="/steward")


@bp.context_processor
def _vocabulary() -> dict:
    return {"kinds_of_records": review.KINDS, "statuses": review.STATUSES}


def actor() -> str:
    """Who the audit log names for the steward's decisions on this laptop."""
    return get_setting(db_session(), "steward_name", "") or f"fieldkit-{current_vault().device_id[:8]}"


@bp.route("/")
def index():
    interview_id, kind, status = (request.args.get(name, "") for name in ("interview", "kind", "status"))
    session = db_session()
    rows = review.queue(session, interview_id, kind if kind in review.KINDS else "", status)
    every = review.queue(session, interview_id, kind if kind in review.KINDS else "") if status else rows
    return render_view("steward/index.html", "steward/_queue.html", rows=rows, labels=review.labels(session, rows),
                       counts=review.counts(every), interview=interview_id, kind=kind, status=status,
                       interviews=_interview_choices(), steward_name=get_setting(session, "steward_name", ""))


@bp.post("/scan")
def scan():
    """Register the names of structured fields and scan every record (or one interview's)."""
    with writing() as session:
        review.scan_all(session, current_vault().device_id, request.form.get("interview", ""))
    return redirect(url_for(".index", interview=request.form.get("interview") or None))


@bp.post("/name")
def name():
    with writing() as session:
        set_setting(session, "steward_name", request.form.get("name", "").strip()[:100])
    return redirect(url_for(".index"))


@bp.route("/review/<record_type>/<record_id>")
def review_record(record_type: str, record_id: str, error=None, status=200):
    if record_type not in review.KINDS:
        abort(404)
    try:
        with writing() as session:
            scan = review.scan_one(session, record_type, record_id)
    except review.ReviewError:  # the record does not exist (any more)
        abort(404)
    session = db_session()
    context = _review_context(session, scan)
    return render_view("steward/review.html", "steward/_review.html", error=error, **context), status


@bp.post("/review/<record_type>/<record_id>/decide")
def decide(record_type: str, record_id: str):
    form = request.form
    try:
        with writing() as session:
            entry_id = _entry_id(session, form.get("entry", "")) if form.get("action") == "replace" else None
            review.decide(session, current_vault().device_id, record_type, record_id, form.get("field", ""),
                          form.get("text", ""), form.get("action", ""), actor(), entry_id=entry_id,
                          new_category=form.get("category") if form.get("action") == "replace" and not entry_id else None,
                          kind=form.get("kind", "candidate"))
    except UserError as failure:
        db_session().expire_all()
        return review_record(record_type, record_id, error=message(failure), status=409)
    return review_record(record_type, record_id)


@bp.post("/review/<record_type>/<record_id>/approve")
def approve(record_type: str, record_id: str):
    try:
        with writing() as session:
            review.approve(session, current_vault().device_id, record_type, record_id, actor())
    except UserError as failure:
        db_session().expire_all()
        return review_record(record_type, record_id, error=message(failure), status=409)
    following = _next_to_review(record_type, record_id)
    target = url_for(".review_record", record_type=following[0], record_id=following[1]) if following else url_for(".index")
    if request.headers.get("HX-Request") == "true":
        return "", 204, {"HX-Redirect": target}
    return redirect(target)


def _entry_id(session, chosen: str):
    """The registry entry a steward chose by code or name; none chosen: None (a new entry is made)."""
    chosen = chosen.split(" · ")[0].strip().casefold()
    if not chosen:
        return None
    for entry in registry.entries(session):
        if chosen in (entry.code.casefold(), entry.name.casefold()):
            return entry.id
    raise registry.RegistryError(N_("There is no registry entry %(code)s."), code=chosen)


def _review_context(session, scan: review.Scan) -> dict:
    fields = []
    for name, text in scan.texts.items():
        findings = [(index, f) for index, f in enumerate(scan.findings) if f.field == name]
        fields.append({"name": name, "label": _field_label(session, name), "parts": _parts(text, findings),
                       "released": review.redact(text, [f for _, f in findings]) if not any(f.open for _, f in findings) else None})
    return {"scan": scan, "fields": fields, "findings": scan.findings,
            "approved": review.approved(session, scan.record_type, scan.record_id, scan),
            "kind_label": review.KINDS[scan.record_type], "entries": registry.entries(session),
            "categories": {k: v for k, v in registry.CATEGORIES.items() if k != "term"},
            "kinds": _kind_labels(), "following": _next_to_review(scan.record_type, scan.record_id)}


def _parts(text: str, findings: list) -> list:
    """The text as plain parts and marked findings (index, finding), for highlighting."""
    parts, position = [], 0
    for index, finding in sorted(findings, key=lambda item: item[1].start):
        if finding.start < position:
            continue
        parts.append(("text", text[position:finding.start], None, None))
        parts.append(("finding", text[finding.start:finding.end], index, finding))
        position = finding.end
    parts.append(("text", text[position:], None, None))
    return parts


def _field_label(session, name: str) -> str:
    labels = {"text": gettext("Text"), "notes": gettext("Notes"), "place": gettext("Place"), "title": gettext("Title"),
              "source_name": gettext("File name")}
    if name in labels:
        return labels[name]
    if name.startswith("target_groups:"):
        return gettext("Target group")
    kind, record_id, attribute = (name.split(":") + ["", ""])[:3]
    from ..models import Alter

    alter = session.get(Alter, record_id) if kind == "alter" else None
    if alter is not None:
        return f"{alter.label}: " + (gettext("Note") if attribute == "note" else gettext("In contact since"))
    return gettext("Note on a tie")


def _kind_labels() -> dict:
    from ..anonymise.patterns import KIND_LABELS

    return {"registry": gettext("Registered name"), "candidate": gettext("Unknown name"),
            **{key: gettext(label) for key, label in KIND_LABELS.items()}}


def _next_to_review(record_type: str, record_id: str):
    """The next record in the queue that is not approved yet."""
    rows = [row for row in review.queue(db_session()) if row.status != "approved"]
    keys = [(row.record_type, row.record_id) for row in rows]
    if (record_type, record_id) in keys:
        index = keys.index((record_type, record_id))
        keys = keys[index + 1:] + keys[:index]
    return keys[0] if keys else None


def _interview_choices() -> list:
    session = db_session()
    organisations = {o.id: o.name for o in session.exec(select(Organisation))}
    return [(i.id, f"{organisations.get(i.organisation_id, '')} · {local_date(i.date) if i.date else ''}")
            for i in session.exec(select(Interview).where(Interview.deleted == False))]  # noqa: E712


# Registry ------------------------------------------------------------------------------------------

@bp.route("/registry")
def registry_index(error=None, status=200):
    query = request.args.get("q", "")
    session = db_session()
    return render_view("steward/registry.html", "steward/_registry_rows.html", entries=registry.find(session, query),
                       all_entries=registry.entries(session), query=query, error=error,
                       categories=registry.CATEGORIES), status


@bp.post("/registry")
def registry_change():
    form, device = request.form, current_vault().device_id
    try:
        with writing() as session:
            entry = session.get(registry.RegistryEntry, form.get("entry", "")) if form.get("entry") else None
            action = form.get("action")
            if action == "add":
                registry.add(session, device, form.get("category", ""), form.get("name", ""),
                             [v for v in form.get("variants", "").split(",") if v.strip()], bool(form.get("keep")), actor())
            elif entry is None:
                abort(404)
            elif action == "variant":
                registry.add_variant(session, device, entry, form.get("variant", ""), actor())
            elif action == "keep":
                registry.set_keep(session, device, entry, form.get("keep") == "yes", actor())
            elif action == "rename":
                registry.rename_code(session, device, entry, form.get("code", ""), actor())
            elif action == "merge":
                other = session.get(registry.RegistryEntry, _entry_id(session, form.get("other", "")) or "")
                if other is None:
                    raise registry.RegistryError()
                registry.merge(session, device, entry, other, actor())
            else:
                abort(400)
    except UserError as failure:
        db_session().expire_all()
        return registry_index(error=message(failure), status=409)
    return redirect(url_for(".registry_index", q=request.args.get("q") or None))


# k-anonymity and regions ---------------------------------------------------------------------------

@bp.route("/k-anonymity")
def k_anonymity():
    try:
        k = max(1, min(100, int(request.args.get("k", generalise.DEFAULT_K))))
    except ValueError:
        k = generalise.DEFAULT_K
    session = db_session()
    own = get_setting(session, "regions", {})
    return render_template("steward/k_anonymity.html", report=generalise.k_anonymity(session, k),
                           labels=generalise.QUASI_IDENTIFIERS, own_regions="\n".join(f"{c};{r}" for c, r in sorted(own.items())),
                           default_count=len(generalise.default_regions()))


@bp.post("/regions")
def regions():
    with writing() as session:
        rows = generalise.parse_region_rows(request.form.get("rows", ""))
        previous = get_setting(session, "regions", {})
        set_setting(session, "regions", {})
        generalise.set_regions(session, {**{city: "" for city in previous}, **rows})
    return redirect(url_for(".k_anonymity"))


# Releases ------------------------------------------------------------------------------------------

@bp.route("/releases")
def release_index(error=None, written=None, status=200):
    return render_template("steward/releases.html", releases=releases.releases(db_session()), error=error,
                           written=written), status


@bp.post("/releases")
def release_create():
    out = Path(current_app.config["DATA_DIR"]) / "releases"
    name = actor()
    db_session().rollback()  # end this request's read, so the list below shows the new release
    try:
        written = releases.make_release(current_vault().engine, current_vault().device_id, out, name)
    except UserError as failure:
        return release_index(error=message(failure), status=409)
    return release_index(written=written)


@bp.route("/releases/<release_id>.zip")
def release_download(release_id: str):
    """A written release as one zip (anonymised: it may leave the laptop)."""
    written = db_session().get(Release, release_id) or abort(404)
    folder = Path(written.directory)
    if not folder.is_dir():
        abort(404)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder)}")
    response = Response(buffer.getvalue(), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{folder.name}.zip"'
    return response

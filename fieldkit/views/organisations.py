"""The organisations: list, profile with the study's characteristics, import from a table."""
import secrets

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext

from .. import imports
from ..errors import UserError
from ..i18n import N_
from ..models import Organisation
from ..organisations import list_organisations, organisation_detail, update_profile
from . import current_vault, db_session, message, render_view, writing

bp = Blueprint("organisations", __name__, url_prefix="/organisations")
PENDING_LIMIT = 4  # previews waiting for confirmation, kept in memory only (never on disk)


@bp.route("/")
def index():
    query = request.args.get("q", "")
    return render_view("organisations/index.html", "organisations/_list.html",
                       organisations=list_organisations(db_session(), query), query=query)


@bp.route("/<organisation_id>")
def detail(organisation_id: str):
    found = organisation_detail(db_session(), organisation_id)
    if found is None:
        abort(404)
    return render_template("organisations/detail.html", detail=found)


@bp.route("/<organisation_id>/profile", methods=["GET", "POST"])
def profile(organisation_id: str):
    """Edit the profile; problems are shown beside the form and nothing is saved until all are fixed."""
    organisation = db_session().get(Organisation, organisation_id)
    if organisation is None or organisation.deleted:
        abort(404)
    errors, values = [], None
    if request.method == "POST":
        values = request.form.to_dict()
        values.update({name: request.form.getlist(name) for name in ("offer_fields", "funding_sources")})
        with writing() as session:
            errors = update_profile(session, current_vault().device_id, session.get(Organisation, organisation_id), values)
        if not errors:
            return redirect(url_for(".detail", organisation_id=organisation_id, saved=1))
    shown = values or {column: getattr(organisation, column) for column in Organisation.model_fields}
    if isinstance(shown.get("target_groups"), list):
        shown["target_groups"] = ", ".join(shown["target_groups"])
    field_errors = {}
    for text, params in errors:  # each problem beside its field, named as the form names it
        field = params.get("column", "name")
        field_errors[field] = gettext(text, **{**params, "column": gettext(PROFILE_LABELS.get(field, field))})
    return render_template("organisations/profile.html", organisation=organisation, values=shown, labels=PROFILE_LABELS,
                           errors=list(field_errors.values()), field_errors=field_errors), 400 if errors else 200


# The profile form's labels, also used to name a field in its error message.
PROFILE_LABELS = {
    "name": N_("Name"), "pseudonym_code": N_("Code"), "city": N_("City"), "founded": N_("Founded (year)"),
    "staff_volunteer": N_("Volunteers"), "staff_paid": N_("Paid staff"), "members_band": N_("Members"), "reach": N_("Reach"),
    "offers_scope": N_("Offers"), "offer_fields": N_("Fields of work"), "practices_formal": N_("Formal practices"),
    "practices_informal": N_("Informal practices"), "funding_sources": N_("Funding"),
    "target_groups": N_("Target groups (separated by commas)"), "notes": N_("Notes"),
}


@bp.route("/import", methods=["GET", "POST"])
def import_table():
    """Upload a CSV/XLSX table → preview with per-row problems → confirm."""
    pending = current_app.extensions.setdefault("pending_imports", {})
    if request.method == "POST" and request.form.get("confirm") in pending:
        rows = pending.pop(request.form["confirm"])
        with writing() as session:
            created, planned = imports.import_rows(session, current_vault().device_id, rows)
        return render_template("organisations/import.html", created=created, planned=planned)
    error, rows, token = None, None, None
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise imports.TableError(gettext("Choose a .csv or .xlsx file."))
            rows = imports.preview(db_session(), imports.read_table(upload.filename, upload.read(10 * 1024 * 1024)))
            token = secrets.token_urlsafe(16)
            while len(pending) >= PENDING_LIMIT:
                pending.pop(next(iter(pending)))
            pending[token] = rows
        except UserError as failure:
            error = message(failure)
    return render_template("organisations/import.html", rows=rows, token=token, error=error,
                           importable=sum(1 for row in rows or () if not row.errors)), 400 if error else 200

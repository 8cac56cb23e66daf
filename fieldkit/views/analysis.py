"""Auswertung: the analyses of analysis.py over the vault's interviews or a chosen part, with charts,
CSV and XLSX downloads, the quotes behind each count, and the fieldwork progress."""
import datetime as dt
from urllib.parse import quote as url_quote

from flask import Blueprint, abort, make_response, render_template, request
from flask_babel import get_locale, gettext
from sqlmodel import select

from .. import analysis
from ..models import Code, Interview, Organisation, Quote, QuoteCode
from . import db_session

bp = Blueprint("analysis", __name__, url_prefix="/analysis")



@bp.route("/")
def index():
    choice, problems = _choice()
    session, locale = db_session(), _locale()
    data = analysis.load(session, choice)
    ego_networks = analysis.ego_networks(data, locale)
    ego_networks.rows = _sorted(ego_networks.rows, request.args.get("sort", ""))
    compared = request.args.getlist("compare") or [o.id for o in sorted(data.organisations.values(), key=lambda o: o.name)][:4]
    return render_template(
        "analysis/index.html", data=data, problems=problems, query=request.query_string.decode(),
        organisations=session.exec(select(Organisation).where(Organisation.deleted == False).order_by(Organisation.name)).all(),  # noqa: E712
        interviewers=sorted({i.interviewer for i in session.exec(select(Interview).where(Interview.deleted == False)) if i.interviewer}),  # noqa: E712
        chosen=choice, study=analysis.actor_types(data, locale), ties_ego=analysis.tie_types(data, False, locale),
        ties_among=analysis.tie_types(data, True, locale), ego_networks=ego_networks, compared=compared,
        characteristics=analysis.characteristics(session, compared, locale), codes=analysis.code_frequencies(session, data, locale),
        codes_by_tie=analysis.codes_by_tie_kind(session, data, locale),
        sort=request.args.get("sort", ""))


@bp.route("/progress")
def progress():
    choice, problems = _choice()
    session, locale = db_session(), _locale()
    data = analysis.load(session, choice)
    return render_template("analysis/progress.html", problems=problems, query=request.query_string.decode(),
                           tables=[analysis.interviews_by_interviewer(data, locale), analysis.missing_consents(data, locale),
                                   analysis.guide_coverage(session, data, locale), analysis.bundles_received(session, locale)])


@bp.route("/table/<key>.<fmt>")
def download(key: str, fmt: str):
    """One table as CSV or XLSX, for the same choice of interviews as the page."""
    if fmt not in analysis.TABLE_FILES:
        abort(404)
    return _file(analysis.file_of(_table(key), fmt), analysis.TABLE_FILES[fmt], f"fieldkit_{key}_{dt.date.today().isoformat()}.{fmt}")


@bp.route("/chart/<key>.<fmt>")
def chart(key: str, fmt: str):
    """A table's chart as SVG (shown on the page) or PNG (for reports)."""
    if fmt not in analysis.CHART_FILES:
        abort(404)
    body = analysis.file_of(_table(key), fmt, _locale())
    if body is None:
        abort(404)
    response = _file(body, analysis.CHART_FILES[fmt], f"fieldkit_{key}_{dt.date.today().isoformat()}.{fmt}")
    if request.args.get("inline"):
        response.headers["Content-Disposition"] = "inline"
    return response


@bp.route("/project.qdpx")
def qdpx_file():
    """The chosen interviews' notes, transcripts, quotes and codes as a REFI-QDA project."""
    from .. import qdpx
    from . import current_vault

    choice, _ = _choice()
    session = db_session()
    ids = [interview.id for interview in analysis.load(session, choice).interviews]
    with_audio = bool(request.args.get("audio"))
    return _file(qdpx.export(session, current_vault().device_id, ids, _locale(), with_audio), "application/zip",
                 f"fieldkit_{dt.date.today().isoformat()}{'_audio' if with_audio else ''}.qdpx")


@bp.route("/quotes")
def quotes():
    """The quotes behind a count: one code, optionally one organisation, within the choice."""
    choice, problems = _choice()
    session, locale = db_session(), _locale()
    code = session.get(Code, request.args.get("code", "")) or abort(404)
    data = analysis.load(session, choice)
    organisation = request.args.get("organisation")
    interviews = {i.id: i for i in data.interviews if not organisation or i.organisation_id == organisation}
    rows = session.exec(select(Quote).join(QuoteCode, QuoteCode.quote_id == Quote.id).where(
        QuoteCode.code_id == code.id, QuoteCode.deleted == False, Quote.deleted == False,  # noqa: E712
        Quote.interview_id.in_(interviews)).order_by(Quote.created_at)).all()
    return render_template("analysis/quotes.html", code=code, quotes=rows, interviews=interviews,
                           organisations=data.organisations, problems=problems, locale=locale)


def _table(key: str) -> analysis.Table:
    choice, _ = _choice()
    session, locale = db_session(), _locale()
    data = analysis.load(session, choice)
    makers = {
        **analysis.network_tables(data, locale),
        "characteristics": lambda: analysis.characteristics(
            session, request.args.getlist("compare") or [o.id for o in data.organisations.values()], locale),
        "codes": lambda: analysis.code_frequencies(session, data, locale),
        "codes_by_tie": lambda: analysis.codes_by_tie_kind(session, data, locale),
        "interviewers": lambda: analysis.interviews_by_interviewer(data, locale),
        "consents": lambda: analysis.missing_consents(data, locale),
        "coverage": lambda: analysis.guide_coverage(session, data, locale),
        "bundles": lambda: analysis.bundles_received(session, locale),
    }
    if key not in makers:
        abort(404)
    return makers[key]()


def _choice() -> tuple[analysis.Choice, list[str]]:
    """The interviews the page covers, from its query; a date that is not one is named and left out."""
    problems, dates = [], {}
    for name in ("since", "until"):
        text = request.args.get(name, "").strip()
        try:
            dates[name] = dt.date.fromisoformat(text) if text else None
        except ValueError:
            problems.append(gettext("“%(text)s” is not a date (YYYY-MM-DD); it is left out.", text=text[:40]))
            dates[name] = None
    characteristics = tuple((name, request.args[name]) for name in analysis.Choice.CHARACTERISTICS if request.args.get(name))
    return analysis.Choice(tuple(request.args.getlist("organisation")), tuple(request.args.getlist("interviewer")),
                           dates["since"], dates["until"], characteristics), problems


def _sorted(rows: list, sort: str) -> list:
    """Rows by a column (its index; a leading minus sorts descending), empty cells last."""
    column = sort.lstrip("-")
    if not column.isdigit():
        return rows
    index = int(column)
    filled = [row for row in rows if index < len(row) and row[index] not in (None, "")]
    empty = [row for row in rows if not (index < len(row) and row[index] not in (None, ""))]
    return sorted(filled, key=lambda row: row[index], reverse=sort.startswith("-")) + empty


def _file(body: bytes, mimetype: str, name: str):
    response = make_response(body)
    response.mimetype = mimetype
    response.headers["Content-Disposition"] = f"attachment; filename=\"{name}\"; filename*=UTF-8''{url_quote(name)}"
    return response


def _locale() -> str:
    return str(get_locale())


@bp.app_template_global()
def query_without_sort(query: str) -> str:
    return "&".join(part for part in query.split("&") if part and not part.startswith("sort="))

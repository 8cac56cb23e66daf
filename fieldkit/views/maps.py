"""Network maps of an interview: the editor, its JSON changes, measures, replay and exports."""
import datetime as dt
from urllib.parse import quote

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext

from .. import audio, map_export, maps, network, quotes, untrusted
from ..errors import UserError
from ..i18n import N_
from ..models import Interview, Organisation
from ..vocabulary import TIE_TYPES
from . import current_vault, db_session, message, writing
from .interviews import detail as interview_page

bp = Blueprint("maps", __name__, url_prefix="/interviews/<interview_id>/maps")

# Shown by the editor's script, translated on the page.
SCRIPT_MESSAGES = {
    "saving": N_("Saving …"), "saved": N_("Saved"), "offline": N_("No connection: not saved yet, trying again …"),
    "failed": N_("Not saved:"), "pick_target": N_("Now choose the other end of the tie. Escape cancels."),
    "pick_source": N_("First select a contact or the organisation in the centre, then draw the tie."),
    "ego": N_("Ego (the organisation)"), "ring": N_("Ring"),
}


@bp.post("")
def create(interview_id: str):
    return _change_maps(interview_id, lambda session, interview: maps.create(
        session, current_vault().device_id, interview, request.form.get("title", "")))


@bp.route("/<map_id>")
def editor(interview_id: str, map_id: str):
    interview, network_map = _load(interview_id, map_id)
    session = db_session()
    state = maps.state(session, network_map)
    drawing = _drawing(state)
    highlight = request.args.get("highlight", "")
    drawing["config"].update(linked=quotes.linked_quotes(session, network_map.id),
                             highlight=highlight if any(highlight == item["id"] for item in state["alters"] + state["ties"]) else None,
                             quotes_url=url_for("interviews.quote_list", interview_id=interview.id))
    return render_template("maps/editor.html", interview=interview, network_map=network_map,
                           organisation=session.get(Organisation, interview.organisation_id),
                           readonly_reason=_readonly_reason(interview), **drawing)


@bp.route("/<map_id>/state")
def state(interview_id: str, map_id: str):
    _, network_map = _load(interview_id, map_id)
    return jsonify(maps.state(db_session(), network_map))


@bp.post("/<map_id>/changes")
def change(interview_id: str, map_id: str):
    """One change from the editor (JSON); the answer lists the steps applied, or the reason it failed."""
    try:
        body = untrusted.loads(request.get_data(cache=False))
    except ValueError:
        body = None  # the change is refused below with its reason, as malformed
    try:
        with writing() as session:
            interview, network_map = _load(interview_id, map_id, session)
            result = maps.change(session, current_vault().device_id, interview, network_map, body)
    except UserError as failure:
        return jsonify(error=message(failure)), 409
    return jsonify(result)


@bp.route("/<map_id>/measures")
def measures(interview_id: str, map_id: str):
    _, network_map = _load(interview_id, map_id)
    session = db_session()
    config = maps.config_of(network_map)
    return render_template("maps/_measures.html", measures=maps.measures(session, network_map),
                           sectors=_named(config["sectors"]), rings_count=len(config["rings"]))


@bp.route("/<map_id>/replay")
def replay(interview_id: str, map_id: str):
    interview, network_map = _load(interview_id, map_id)
    session = db_session()
    drawing = _drawing(maps.state(session, network_map))
    drawing["config"].update(history=_heard(session, interview, maps.history(session, network_map)), play_label=gettext("Play"),
                             pause_label=gettext("Pause"), replay_start=gettext("The empty map, before the first step."),
                             event_labels={key: gettext(label) for key, label in maps.EVENT_LABELS.items()})
    return render_template("maps/replay.html", interview=interview, network_map=network_map,
                           has_audio=any("audio" in step for step in drawing["config"]["history"]),
                           organisation=session.get(Organisation, interview.organisation_id), **drawing)


def _heard(session, interview, history: list[dict]) -> list[dict]:
    """The map's steps, each with where it happened in the interview's recordings (src and seconds)."""
    recordings = audio.recordings(session, interview.id)
    for step in history if recordings else ():
        moment = audio.position(recordings, dt.datetime.fromisoformat(step["at"]))
        if moment:
            step["audio"] = {"src": url_for("audio.listen", recording_id=moment.recording_id), "at": moment.seconds}
    return history


@bp.route("/<map_id>/export/<fmt>")
def export(interview_id: str, map_id: str, fmt: str):
    if fmt not in map_export.FORMATS:
        abort(404)
    _, network_map = _load(interview_id, map_id)
    data = map_export.load(db_session(), network_map)
    response = Response(map_export.render(data, fmt, _locale()), mimetype=map_export.FORMATS[fmt])
    name = map_export.file_name(data, fmt)
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")  # headers travel as Latin-1
    response.headers["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return response


@bp.route("/<map_id>/thumbnail.svg")
def thumbnail(interview_id: str, map_id: str):
    """A small picture of the map, for tables (Auswertung)."""
    _, network_map = _load(interview_id, map_id)
    return Response(map_export.thumbnail_svg(map_export.load(db_session(), network_map)), mimetype="image/svg+xml")


@bp.post("/<map_id>/copy")
def copy(interview_id: str, map_id: str):
    return _change_maps(interview_id, lambda session, interview: maps.clone(
        session, current_vault().device_id, interview, _load(interview_id, map_id, session)[1], request.form.get("title", "")))


@bp.post("/<map_id>/rename")
def rename(interview_id: str, map_id: str):
    return _change_maps(interview_id, lambda session, interview: maps.rename(
        session, current_vault().device_id, interview, _load(interview_id, map_id, session)[1], request.form.get("title", "")))


@bp.post("/<map_id>/delete")
def delete(interview_id: str, map_id: str):
    def remove(session, interview):
        maps.remove(session, current_vault().device_id, interview, _load(interview_id, map_id, session)[1])
    return _change_maps(interview_id, remove, to_map=False)


def _change_maps(interview_id: str, change, to_map: bool = True):
    """Create, copy, rename or delete a map, then show it (or the interview, with the error)."""
    try:
        with writing() as session:
            result = change(session, session.get(Interview, interview_id) or abort(404))
    except UserError as failure:
        db_session().expire_all()
        return interview_page(interview_id, error=message(failure), status=400)
    if to_map and result is not None:
        return redirect(url_for(".editor", interview_id=interview_id, map_id=result.id))
    return redirect(url_for("interviews.detail", interview_id=interview_id) + "#maps")


def _load(interview_id: str, map_id: str, session=None):
    session = session or db_session()
    interview = session.get(Interview, interview_id)
    network_map = maps.get(session, map_id)
    if interview is None or interview.deleted or network_map is None or network_map.interview_id != interview.id:
        abort(404)
    return interview, network_map


def _readonly_reason(interview: Interview):
    try:
        maps.ensure_drawable(interview)
    except UserError as failure:
        return message(failure)
    return None


def _locale() -> str:
    return str(get_locale())


def _drawing(state: dict) -> dict:
    """What the map's page and script draw (static/netmap.js lays it out for the window's size)."""
    locale = _locale()
    sectors = _named(state["sectors"])
    rings = [network.label_text(ring["label"], locale) for ring in state["rings"]]
    config = {
        "state": state, "sectors": sectors, "rings": rings, "ego_radius": network.EGO_RADIUS, "symbols": network.SYMBOL_PATHS,
        "tie_styles": network.TIE_STYLE, "tie_types": {key: gettext(label) for key, label in TIE_TYPES.items()},
        "messages": {key: gettext(text) for key, text in SCRIPT_MESSAGES.items()},
    }
    return {"config": config, "sectors": sectors, "rings": rings,
            "markers": map_export.markers_svg(), "tie_types": TIE_TYPES,
            "legend_dashes": {key: network.dash_array(key, 3) for key in TIE_TYPES}, "directions": network.DIRECTIONS,
            "strengths": network.STRENGTHS, "attributes": network.ALTER_ATTRIBUTES}


def _named(sectors: list[dict]) -> list[dict]:
    return [{**sector, "name": network.label_text(sector["label"], _locale())} for sector in sectors]

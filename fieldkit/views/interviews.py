"""The interview screens: list, plan, consent, the guide with autosaved notes, quotes, transcripts."""
import datetime as dt

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import format_time, gettext

from .. import audio, interviews, maps, quotes, transcripts
from ..errors import UserError
from ..guide import guide_version, list_guides
from ..models import GuideVersion, Organisation
from ..organisations import create_organisation, list_organisations
from . import current_vault, db_session, message, render_view, writing

bp = Blueprint("interviews", __name__, url_prefix="/interviews")


@bp.route("/")
def index():
    query, status = request.args.get("q", ""), request.args.get("status", "")
    return render_view("interviews/index.html", "interviews/_rows.html", query=query, status=status,
                       rows=interviews.find(db_session(), query, status),
                       counts=interviews.count_by_status(db_session()))


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Plan an interview with an existing or a new organisation."""
    session, form, error = db_session(), request.form, None
    if request.method == "POST":
        try:
            with writing() as write:
                interview = _plan(write, form)
            return redirect(url_for(".detail", interview_id=interview.id))
        except UserError as failure:
            error = message(failure)
    return render_template("interviews/new.html", organisations=list_organisations(session), guides=list_guides(session),
                           form=form, error=error, today=dt.date.today().isoformat()), 400 if error else 200


def _plan(session, form):
    device = current_vault().device_id
    if form.get("organisation_id"):
        organisation = session.get(Organisation, form["organisation_id"])
    elif form.get("new_organisation", "").strip():
        organisation = create_organisation(session, device, form["new_organisation"], form.get("city", ""))
    else:
        organisation = None
    if organisation is None:
        raise interviews.InterviewError(gettext("Choose an organisation or enter a new one."))
    guide = session.get(GuideVersion, form.get("guide", ""))
    if guide is None:
        raise interviews.InterviewError(gettext("Choose the guide for this interview."))
    try:
        date = dt.date.fromisoformat(form["date"]) if form.get("date") else None
    except ValueError as error:
        raise interviews.InterviewError(gettext("Enter the date as a calendar date.")) from error
    return interviews.new(session, device, organisation, guide, form.get("interviewer", ""), date, form.get("place", ""))


@bp.route("/<interview_id>")
def detail(interview_id: str, error=None, status=200):
    interview, guide = _load(interview_id)
    session = db_session()
    notes = interviews.answers(session, interview)
    return render_template("interviews/detail.html", interview=interview, guide=guide, error=error,
                           organisation=session.get(Organisation, interview.organisation_id),
                           progress=interviews.progress(interview, guide, notes) if guide else {},
                           transcripts=transcripts.transcripts(session, interview),
                           locked_reason=interviews.why_not_editable(interview),
                           actions=interviews.allowed_actions(interview),
                           quote_count=len(quotes.quotes(session, interview)),
                           network_maps=maps.summaries(session, interview.id),
                           map_consent=bool(interview.consent.get("agreed", {}).get("network_map")),
                           newer_guide=_newer_guide(session, interview), today=dt.date.today().isoformat(),
                           **_audio_context(session, interview, guide, notes)), status


def _audio_context(session, interview, guide, notes) -> dict:
    """The interview's recordings, whether more may be added, and where each noted question was discussed."""
    recordings = audio.recordings(session, interview.id)
    moments = audio.question_moments(recordings, notes)
    chapters = sorted(((guide.question(key) if guide else None, key, moment) for key, moment in moments.items()),
                      key=lambda chapter: (chapter[2].recording_id, chapter[2].ms))
    return {"recordings": recordings, "chapters": chapters, "desktop": "open_window" in current_app.extensions,
            "recording_state": audio.state_of,
            "recording_refused": audio.why_not_recordable(interview),
            "import_refused": audio.why_not_recordable(interview, importing=True)}


def _newer_guide(session, interview):
    """The newest version of the interview's guide, if it is newer than the one it runs on."""
    from ..guide import latest_guide

    newest = latest_guide(session, interview.guide_id) if interview.guide_id else None
    return newest if newest and newest.guide_version != interview.guide_version else None


@bp.post("/<interview_id>/guide-version")
def move_guide(interview_id: str):
    """Move the interview to the newest version of its guide, if all its answers fit; else say which do not."""
    with writing() as session:
        interview = interviews.get(session, interview_id) or abort(404)
        newer = _newer_guide(session, interview)
        if newer is None:
            return redirect(url_for(".detail", interview_id=interview_id))
        try:
            problems = interviews.move_to_guide(session, current_vault().device_id, interview, newer)
        except UserError as failure:
            problems, error = [], message(failure)
        else:
            error = None
    if problems or error:
        db_session().expire_all()
        return detail(interview_id, error=error or gettext("The interview stays on its version: these answers do not fit the newer one: %(list)s",
                                                           list="; ".join(f"{key} ({gettext(why)})" for key, why in problems)), status=409)
    return redirect(url_for(".detail", interview_id=interview_id))


@bp.post("/<interview_id>/consent")
def consent(interview_id: str):
    return change_interview(interview_id, lambda session, interview: interviews.record_consent(
        session, current_vault().device_id, interview, request.form.get("by", ""), request.form.get("how", ""),
        request.form.get("date", ""), set(request.form.getlist("agreed"))))


@bp.post("/<interview_id>/status")
def status(interview_id: str):
    return change_interview(interview_id, lambda session, interview: interviews.change_status(
        session, current_vault().device_id, interview, request.form.get("action", "")))


def change_interview(interview_id: str, change, section: str = ""):
    """Apply one change to an interview and show its page again (at `section`), with the error if it failed."""
    try:
        with writing() as session:
            change(session, interviews.get(session, interview_id) or abort(404))
    except UserError as failure:
        db_session().expire_all()
        return detail(interview_id, error=message(failure), status=400)
    return redirect(url_for("interviews.detail", interview_id=interview_id) + (f"#{section}" if section else ""))


@bp.route("/<interview_id>/guide")
def guide(interview_id: str):
    """The guide, one question or one section at a time; without a place, where the interviewer left off."""
    interview, guide = _load(interview_id, need_guide=True)
    section_id = request.args.get("section")
    if not section_id:
        position = interview.position or {}
        return redirect(url_for(".guide", interview_id=interview_id, section=position.get("section") or guide.sections[0].id,
                                question=position.get("question") or None, mode=position.get("mode") or "question"))
    section = guide.section(section_id) or abort(404)
    mode = "section" if request.args.get("mode") == "section" else "question"
    question = guide.question(request.args.get("question", "")) if mode == "question" else None
    if mode == "question" and (question is None or guide.section_of(question.key) is not section):
        question = section.questions[0]
    session = db_session()
    notes = interviews.answers(session, interview)
    visible = interviews.visible(guide, notes)
    return render_template("interviews/guide.html", interview=interview, guide=guide, section=section, mode=mode,
                           question=question, shown=[question] if question else list(section.questions), notes=notes,
                           visible=visible, neighbours=_neighbours(guide, section, question, visible),
                           progress=interviews.progress(interview, guide, notes),
                           locked_reason=interviews.why_not_editable(interview),
                           **_quote_context(session, interview))


def _quote_context(session, interview, code=None) -> dict:
    """What the quotes panel shows: the quotes with their codes and links, the codebook, what a quote can
    be linked to."""
    names = _tie_names()
    views = quotes.quotes(session, interview, code, names)
    return {"quote_views": views, "codebook": quotes.codebook(session),
            "link_targets": quotes.link_targets(session, interview, names), **_audio_moments(session, interview, views)}


def _audio_moments(session, interview, views) -> dict:
    """Where in the recordings each quote was said and each question discussed (nothing without audio)."""
    recordings = audio.recordings(session, interview.id)
    if not recordings:
        return {"has_audio": False, "quote_moments": {}, "question_moments": {}}
    notes = interviews.answers(session, interview)
    by_id = {note.id: note for note in notes.values()}
    return {"has_audio": True, "question_moments": audio.question_moments(recordings, notes),
            "quote_moments": {view.quote.id: audio.quote_moment(recordings, view.quote, by_id.get(view.quote.answer_id))
                              for view in views}}


def _tie_names() -> dict:
    from ..vocabulary import TIE_TYPES

    return {**{key: gettext(label) for key, label in TIE_TYPES.items()}, "ego": gettext("Ego (the organisation)")}


def _neighbours(guide, section, question, visible):
    """(previous, next) places as url parameters, walking question by question (past questions whose
    condition does not hold) or section by section."""
    if question is None:
        index = guide.sections.index(section)
        places = [dict(section=s.id, mode="section") for s in guide.sections]
    else:
        keys = [q.key for q in guide.questions if q.key in visible or q.key == question.key]
        index = keys.index(question.key)
        places = [dict(section=guide.section_of(k).id, question=k, mode="question") for k in keys]
    return (places[index - 1] if index > 0 else None, places[index + 1] if index + 1 < len(places) else None)


@bp.post("/<interview_id>/answers/<question_key>")
def save_answer(interview_id: str, question_key: str):
    """Autosave of one question's notes: answers only once the text is on disk."""
    try:
        vault = current_vault()
        if not interviews.autosave(vault.engine, vault.device_id, interview_id, question_key, request.form.get("text", "")):
            abort(404)
    except UserError as failure:
        return render_template("interviews/_save_status.html", failed=message(failure)), 409
    return render_template("interviews/_save_status.html", saved_at=format_time(dt.datetime.now(), "medium"))


@bp.post("/<interview_id>/values/<question_key>")
def save_value(interview_id: str, question_key: str):
    """A typed answer (scale, choice, number, date, list), saved as it is chosen."""
    raw = request.form.getlist("value") if request.form.get("type") == "multiple" else request.form.get("value", "")
    try:
        with writing() as session:
            interview, guide = _load(interview_id, session=session, need_guide=True)
            if guide.question(question_key) is None:
                abort(404)
            interviews.save_value(session, current_vault().device_id, interview, guide, question_key, raw)
    except UserError as failure:
        return render_template("interviews/_save_status.html", failed=message(failure)), 409
    return render_template("interviews/_save_status.html", saved_at=format_time(dt.datetime.now(), "medium"))


@bp.post("/<interview_id>/covered")
def covered(interview_id: str):
    """Tick a question as dealt with, or an item of a section's checklist."""
    checked = request.form.get("checked") == "on"
    try:
        with writing() as session:
            interview, guide = _load(interview_id, session=session, need_guide=True)
            device = current_vault().device_id
            if request.form.get("question"):
                interviews.set_question_covered(session, device, interview, guide, request.form["question"], checked)
            else:
                interviews.set_covered_item(session, device, interview, guide, request.form.get("section", ""),
                                            request.form.get("item", ""), checked)
    except UserError as failure:
        return render_template("interviews/_save_status.html", failed=message(failure)), 409
    return render_template("interviews/_save_status.html", saved_at=format_time(dt.datetime.now(), "medium"))


@bp.post("/<interview_id>/clock")
def clock(interview_id: str):
    """The guide page reports where the interviewer is and the seconds spent in the section."""
    form = request.form
    try:
        seconds = int(form.get("seconds", "0"))
    except ValueError:
        abort(400)
    with writing() as session:
        interview, guide = _load(interview_id, session=session, need_guide=True)
        device = current_vault().device_id
        if guide.section(form.get("section", "")):
            interviews.remember_position(session, device, interview, form["section"], form.get("question") or None,
                                         "section" if form.get("mode") == "section" else "question")
        interviews.add_section_time(session, device, interview, guide, form.get("section", ""), seconds)
    return "", 204


@bp.route("/<interview_id>/quotes", methods=["GET", "POST"])
def quote_list(interview_id: str):
    """The interview's quotes, filtered by code; POST marks a new one."""
    error, status = None, 200
    if request.method == "POST":
        try:
            with writing() as session:
                interview, _guide = _load(interview_id, session=session)
                kind, source = request.form.get("source_kind", ""), request.form.get("source_id", "")
                if kind == "answer":  # the page knows the question; the note's record id is ours to find
                    answer = interviews.answers(session, interview).get(source)
                    source = answer.id if answer else ""
                quotes.mark_quote(session, current_vault().device_id, interview, kind, source,
                                  _int(request.form.get("start")), _int(request.form.get("end")),
                                  request.form.get("text", ""), request.form.getlist("code"))
        except UserError as failure:
            error, status = message(failure), 409
    return _quotes_page(interview_id, error, status)


def _quotes_page(interview_id: str, error=None, status=200):
    """The quotes (the list fragment for an HTMX swap), filtered by the code in the query."""
    interview, guide = _load(interview_id)
    code = request.args.get("code") or None
    session = db_session()
    return render_view("interviews/quotes.html", "interviews/_quotes.html", interview=interview, error=error, guide=guide,
                       **_quote_context(session, interview, code), code=code, editable=not interviews.why_not_editable(interview)), status


@bp.post("/<interview_id>/quotes/<quote_id>")
def quote_codes(interview_id: str, quote_id: str):
    """Set a quote's codes, or delete it."""
    def change(session, device, interview, quote):
        if request.form.get("delete"):
            quotes.delete_quote(session, device, interview, quote)
        else:
            quotes.code_quote(session, device, interview, quote, request.form.getlist("code"))

    return _change_quote(interview_id, quote_id, change)


@bp.post("/<interview_id>/quotes/<quote_id>/links")
def quote_links(interview_id: str, quote_id: str):
    """Link a quote to a contact or tie of the interview's maps, or remove a link (`remove`: its id)."""
    from ..models import QuoteLink

    def change(session, device, interview, quote):
        removed = session.get(QuoteLink, request.form["remove"]) if request.form.get("remove") else None
        if removed is not None and removed.quote_id == quote.id:
            quotes.unlink_quote(session, device, interview, removed)
        elif removed is None:
            quotes.link_quote(session, device, interview, quote, request.form.get("target", ""))

    return _change_quote(interview_id, quote_id, change)


def _change_quote(interview_id: str, quote_id: str, change):
    """One change to one of the interview's quotes; the quotes list answers (a refusal says why)."""
    from ..models import Quote

    try:
        with writing() as session:
            interview, _guide = _load(interview_id, session=session)
            quote = session.get(Quote, quote_id)
            if quote is None or quote.interview_id != interview.id:
                abort(404)
            change(session, current_vault().device_id, interview, quote)
    except UserError as failure:
        return _quotes_page(interview_id, message(failure), 409)
    return _quotes_page(interview_id) if request.headers.get("HX-Request") else redirect(
        url_for(".quote_list", interview_id=interview_id))


@bp.post("/<interview_id>/transcripts")
def upload_transcript(interview_id: str):
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise transcripts.TranscriptError(gettext("Choose a transcript file."))
        text = transcripts.read(upload.filename, upload.read(transcripts.MAX_BYTES + 1))  # before the write lock
        with writing() as session:
            interview, _guide = _load(interview_id, session=session)
            transcripts.add(session, current_vault().device_id, interview, upload.filename, text,
                            request.form.get("language", "de"))
    except UserError as failure:
        return detail(interview_id, error=message(failure), status=400)
    return redirect(url_for(".detail", interview_id=interview_id))


@bp.route("/<interview_id>/transcripts/<transcript_id>")
def transcript(interview_id: str, transcript_id: str):
    from ..models import Transcript

    interview, guide = _load(interview_id)
    record = db_session().get(Transcript, transcript_id)
    if record is None or record.interview_id != interview.id or record.deleted:
        abort(404)
    session = db_session()
    return render_template("interviews/transcript.html", interview=interview, transcript=record, guide=guide,
                           locked_reason=interviews.why_not_editable(interview),
                           **_quote_context(session, interview))


def _load(interview_id: str, session=None, need_guide: bool = False):
    """The interview (404 if unknown) and the guide version it was run with."""
    session = session or db_session()
    interview = interviews.get(session, interview_id)
    if interview is None:
        abort(404)
    guide = guide_version(session, interview.guide_id, interview.guide_version) if interview.guide_id else None
    if need_guide and guide is None:
        abort(404)
    return interview, guide


def _int(text) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return -1

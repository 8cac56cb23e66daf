"""REFI-QDA project export (`.qdpx`, QDA-XML 1.0 as REFI-QDA 1.5 describes it), read by MAXQDA, ATLAS.ti
and NVivo: a zip of `project.qde` and the text sources under `sources/`.

- Each interview's notes are one text source: each question of its guide with the notes taken to it,
  in the guide's order; each transcript is a text source of its own.
- Quotes are plain-text selections with their positions in characters (code points, as fieldkit counts
  them), coded with the codebook's codes (sub-codes nested under their parents).
- Interview and organisation characteristics are variables; each organisation is a case holding its
  interviews' sources.
- Only when asked (with_audio): each recording that a quote from the notes was said in is an audio
  source under `sources/`, the quote an audio selection of its passage (milliseconds), with its codes.
The file is not encrypted: it holds the notes as taken (and, with audio, voices).
"""
import datetime as dt
import io
import uuid
import zipfile
from dataclasses import dataclass, field

from lxml import etree
from sqlmodel import Session, select

from . import __version__, audio
from .guide import guide_version
from .models import Answer, Code, Interview, Organisation, Quote, QuoteCode, Recording, Transcript, utcnow
from .quotes import code_text
from .text import clean

NAMESPACE = "urn:QDA-XML:project:1.0"
QDPX_NAMESPACE = uuid.UUID("3f1c9a52-6b0e-4d5e-9d7a-5c1f4f0e2b71")  # stable GUIDs for what has no id of its own

# (variable, type, value of an interview and its organisation)
VARIABLES = [
    ("Organisation", "Text", lambda i, o: o.name),
    ("Organisation code", "Text", lambda i, o: o.pseudonym_code),
    ("Interviewer", "Text", lambda i, o: i.interviewer),
    ("Interview date", "Date", lambda i, o: i.date.isoformat() if i.date else None),
    ("City", "Text", lambda i, o: o.city),
    ("Founded", "Integer", lambda i, o: o.founded),
    ("Offers", "Text", lambda i, o: o.offers_scope),
    ("Fields of work", "Text", lambda i, o: ", ".join(o.offer_fields or []) or None),
    ("Formal practices", "Integer", lambda i, o: o.practices_formal),
    ("Informal practices", "Integer", lambda i, o: o.practices_informal),
    ("Volunteers", "Integer", lambda i, o: o.staff_volunteer),
    ("Paid staff", "Integer", lambda i, o: o.staff_paid),
    ("Members", "Text", lambda i, o: o.members_band),
    ("Reach", "Text", lambda i, o: o.reach),
    ("Funding", "Text", lambda i, o: ", ".join(o.funding_sources or []) or None),
]


@dataclass
class Source:
    guid: str
    name: str
    text: str
    interview: Interview
    selections: list = field(default_factory=list)  # (quote, start, end)
    recording: Recording | None = None  # an audio source; its selections' positions are milliseconds

    @property
    def file_name(self) -> str:
        return f"{self.guid}{AUDIO_SUFFIXES.get(self.recording.mime.split(';')[0], '.audio')}" if self.recording else f"{self.guid}.txt"


AUDIO_SUFFIXES = {"audio/webm": ".webm", "audio/ogg": ".ogg", "audio/wav": ".wav", "audio/mp4": ".m4a", "audio/mpeg": ".mp3"}


def export(session: Session, device_id: str, interview_ids: list[str] | None = None, locale: str = "de",
           with_audio: bool = False) -> bytes:
    """The .qdpx of the vault's interviews (or of the given ones; an empty list gives an empty project)."""
    query = select(Interview).where(Interview.deleted == False)  # noqa: E712
    if interview_ids is not None:
        query = query.where(Interview.id.in_(interview_ids))
    interviews = list(session.exec(query.order_by(Interview.date, Interview.created_at)))
    organisations = {o.id: o for o in session.exec(select(Organisation).where(
        Organisation.id.in_({i.organisation_id for i in interviews})))}
    sources = _sources(session, interviews, organisations, locale)
    if with_audio:
        sources += _audio_sources(session, sources)
    codes = session.exec(select(Code).where(Code.deleted == False)).all()  # noqa: E712
    quote_ids = [quote.id for source in sources for quote, _, _ in source.selections]
    codings = {}
    for quote_id, code_id in session.exec(select(QuoteCode.quote_id, QuoteCode.code_id).where(
            QuoteCode.quote_id.in_(quote_ids), QuoteCode.deleted == False)):  # noqa: E712
        codings.setdefault(quote_id, []).append(code_id)
    project = _project(device_id, interviews, organisations, sources, codes, codings, locale)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", etree.tostring(project, xml_declaration=True, encoding="utf-8", pretty_print=True))
        for source in sources:
            if source.recording is None:
                archive.writestr(f"sources/{source.file_name}", source.text.encode("utf-8"))
            else:  # stored: audio is compressed already
                archive.writestr(f"sources/{source.file_name}", audio.read(session, source.recording), zipfile.ZIP_STORED)
    return out.getvalue()


def _audio_sources(session: Session, sources: list[Source]) -> list[Source]:
    """The recordings the notes' quotes were said in, each quote a selection of its passage."""
    found, by_interview = [], {}
    for source in sources:
        for quote, _, _ in source.selections:
            if quote.answer_id:
                by_interview.setdefault(source.interview.id, (source, []))[1].append(quote)
    for interview_id, (text_source, quotes) in by_interview.items():
        recordings = audio.recordings(session, interview_id)
        passages = {}
        for quote in quotes:
            moment = audio.quote_moment(recordings, quote, session.get(Answer, quote.answer_id))
            if moment:
                passages.setdefault(moment.recording_id, []).append(
                    (quote, moment.ms, moment.ms + audio.passage_ms(quote)))
        for recording in recordings:
            if recording.id in passages:
                name = f"{text_source.name} – {recording.file_name or _time(recording.created_at)}"
                found.append(Source(recording.id, name, "", text_source.interview, passages[recording.id], recording))
    return found


def _sources(session: Session, interviews: list[Interview], organisations: dict, locale: str) -> list[Source]:
    ids = [interview.id for interview in interviews]
    answers = {}
    for answer in session.exec(select(Answer).where(Answer.interview_id.in_(ids), Answer.deleted == False)):  # noqa: E712
        answers.setdefault(answer.interview_id, {})[answer.question_id] = answer
    transcripts = {}
    for transcript in session.exec(select(Transcript).where(Transcript.interview_id.in_(ids), Transcript.deleted == False)  # noqa: E712
                                   .order_by(Transcript.created_at)):
        transcripts.setdefault(transcript.interview_id, []).append(transcript)
    quotes = {}
    for quote in session.exec(select(Quote).where(Quote.interview_id.in_(ids), Quote.deleted == False)  # noqa: E712
                              .order_by(Quote.created_at)):
        quotes.setdefault(quote.answer_id or quote.transcript_id, []).append(quote)
    sources = []
    for interview in interviews:
        organisation = organisations[interview.organisation_id]
        title = f"{organisation.name} – {interview.date.isoformat() if interview.date else interview.interviewer}"
        notes = _notes(session, interview, answers.get(interview.id, {}), quotes, locale)
        if notes:
            sources.append(Source(str(uuid.uuid5(QDPX_NAMESPACE, f"notes:{interview.id}")), title, *notes))
        for transcript in transcripts.get(interview.id, []):
            selections = [(quote, quote.start, quote.end) for quote in quotes.get(transcript.id, [])]
            sources.append(Source(transcript.id, f"{title} – {transcript.source_name}", transcript.text, interview, selections))
    return sources


def _notes(session: Session, interview: Interview, answers: dict, quotes: dict, locale: str):
    """(text, interview, selections) of an interview's notes, or None without any: each question
    followed by its notes; a quote's positions move by where its note starts."""
    if not any(answer.text.strip() for answer in answers.values()):
        return None
    guide = guide_version(session, interview.guide_id, interview.guide_version) if interview.guide_id else None
    order = [question.key for question in guide.questions] if guide else []
    keys = [key for key in order if key in answers] + sorted(key for key in answers if key not in order)
    parts, selections, length = [], [], 0
    for key in keys:
        question = guide.question(key) if guide else None
        heading = f"{question.text(locale) if question else key}\n\n"
        parts.append(heading)
        length += len(heading)
        answer = answers[key]
        for quote in quotes.get(answer.id, []):
            selections.append((quote, length + quote.start, length + quote.end))
        parts.append(answer.text + "\n\n")
        length += len(answer.text) + 2
    return "".join(parts), interview, selections


def _project(device_id: str, interviews, organisations, sources: list[Source], codes, codings: dict, locale: str):
    now = utcnow().replace(microsecond=0).isoformat()
    user = str(uuid.uuid5(QDPX_NAMESPACE, f"device:{device_id}"))
    project = etree.Element(f"{{{NAMESPACE}}}Project", nsmap={None: NAMESPACE}, name="fieldkit",
                            origin=f"fieldkit {__version__}", creatingUserGUID=user, creationDateTime=now)
    users = _child(project, "Users")
    _child(users, "User", guid=user, name=f"fieldkit {device_id[:8]}")
    if codes:
        _codebook(_child(_child(project, "CodeBook"), "Codes"), codes, locale)
    variables = _child(project, "Variables")
    variable_ids = {name: str(uuid.uuid5(QDPX_NAMESPACE, f"variable:{name}")) for name, _, _ in VARIABLES}
    for name, kind, _ in VARIABLES:
        _child(variables, "Variable", guid=variable_ids[name], name=name, typeOfVariable=kind)
    cases = _child(project, "Cases") if interviews else None
    for organisation in sorted(organisations.values(), key=lambda o: o.name):
        case = _child(cases, "Case", guid=organisation.id, name=organisation.name)
        first = next(i for i in interviews if i.organisation_id == organisation.id)
        _values(case, first, organisation, variable_ids, organisation_only=True)
        for source in sources:
            if source.interview.organisation_id == organisation.id:
                _child(case, "SourceRef", targetGUID=source.guid)
    known_codes = {code.id for code in codes}
    if sources:
        sources_element = _child(project, "Sources")
        for source in sources:
            if source.recording is None:
                element = _child(sources_element, "TextSource", guid=source.guid, name=source.name,
                                 plainTextPath=f"internal://{source.file_name}", creatingUser=user, creationDateTime=now)
            else:
                element = _child(sources_element, "AudioSource", guid=source.guid, name=source.name,
                                 path=f"internal://{source.file_name}", creatingUser=user, creationDateTime=now)
            for quote, start, end in source.selections:
                if source.recording is None:
                    selection = _child(element, "PlainTextSelection", guid=quote.id, name=quote.text[:60],
                                       startPosition=str(start), endPosition=str(end), creatingUser=user,
                                       creationDateTime=_time(quote.created_at))
                else:  # the same quote heard: a selection of its own, named by the quote
                    selection = _child(element, "AudioSelection", guid=str(uuid.uuid5(QDPX_NAMESPACE, f"audio:{quote.id}")),
                                       name=quote.text[:60], begin=str(start), end=str(end), creatingUser=user,
                                       creationDateTime=_time(quote.created_at))
                for code_id in codings.get(quote.id, []):
                    if code_id in known_codes:
                        coding = _child(selection, "Coding", guid=str(uuid.uuid5(QDPX_NAMESPACE, f"{selection.get('guid')}:{code_id}")),
                                        creatingUser=user)
                        _child(coding, "CodeRef", targetGUID=code_id)
            _values(element, source.interview, organisations[source.interview.organisation_id], variable_ids)
    return project


def _codebook(parent, codes, locale: str) -> None:
    """Codes with their sub-codes nested under them (a code whose parent is gone stands at the top)."""
    ids = {code.id for code in codes}
    children = {}
    for code in sorted(codes, key=lambda code: code_text(code, locale)[0].casefold()):
        children.setdefault(code.parent_id if code.parent_id in ids else None, []).append(code)

    def add(element, code, seen):
        label, description = code_text(code, locale)
        attributes = {"guid": code.id, "name": label, "isCodable": "true"}
        if code.colour and len(code.colour) == 7:
            attributes["color"] = code.colour
        node = _child(element, "Code", **attributes)
        if description:
            _child(node, "Description").text = clean(description)
        for child in children.get(code.id, []):
            if child.id not in seen:  # a cycle of parents cannot nest for ever
                add(node, child, seen | {child.id})

    for code in children.get(None, []):
        add(parent, code, {code.id})


def _values(element, interview: Interview, organisation: Organisation, variable_ids: dict, organisation_only: bool = False) -> None:
    for name, kind, value_of in VARIABLES:
        if organisation_only and name in ("Interviewer", "Interview date"):
            continue
        value = value_of(interview, organisation)
        if value in (None, ""):
            continue
        holder = _child(element, "VariableValue")
        _child(holder, "VariableRef", targetGUID=variable_ids[name])
        _child(holder, {"Text": "TextValue", "Integer": "IntegerValue", "Date": "DateValue"}[kind]).text = clean(str(value))


def _child(parent, tag: str, **attributes):
    """An element with its attributes, text cleaned of what XML cannot hold (whatever reached the vault)."""
    return etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}",
                            **{key: clean(str(value)) for key, value in attributes.items() if value is not None})


def _time(moment) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    return moment.replace(microsecond=0).isoformat()

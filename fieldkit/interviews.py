"""Interviews: the status flow with its consent gate, notes per question, coverage, clock, position.

planned → consented → in progress → completed → locked. Nothing can be noted before consent is
recorded; a completed interview can be reopened; a locked one is read-only for good.
"""
import datetime as dt
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import func, or_
from sqlmodel import Session, select

from . import db
from .errors import UserError
from .guide import AnswerValueError, Guide, guide_version
from .i18n import N_
from .models import Answer, GuideVersion, Interview, Organisation, save, utcnow
from .text import clean

STATUSES = ("planned", "consented", "in_progress", "completed", "locked")
CONSENT_WAYS = ("written", "verbal")
CONSENT_ITEMS = ("recording", "quotes", "network_map", "archiving")
# action → (statuses it starts from, status it leads to)
ACTIONS = {
    "complete": (("consented", "in_progress"), "completed"),
    "reopen": (("completed",), "in_progress"),
    "lock": (("completed",), "locked"),
}
ACTION_REFUSALS = {
    "complete": N_("Only an interview whose consent is recorded can be completed, and only once."),
    "reopen": N_("Only a completed interview can be reopened; a locked one stays read-only for good."),
    "lock": N_("Only a completed interview can be locked."),
}
MAX_CLOCK_STEP = 3600  # seconds one clock report may add; more means a clock went wrong


class InterviewError(UserError):
    message = N_("This interview cannot be changed that way.")


class NotEditable(InterviewError):
    pass


@dataclass
class InterviewRow:
    interview: Interview
    organisation: Organisation


def ensure_shipped_content(session: Session, device_id: str) -> None:
    """The guides and the codebook fieldkit ships, in a vault of any age."""
    from .guide import ensure_builtin_guides
    from .quotes import ensure_default_codebook

    ensure_builtin_guides(session, device_id)
    ensure_default_codebook(session, device_id)


def new(session: Session, device_id: str, organisation: Organisation, guide: GuideVersion, interviewer: str,
        date: Optional[dt.date] = None, place: str = "") -> Interview:
    """Plan an interview with an organisation, run with the given guide version."""
    if not interviewer.strip():
        raise InterviewError(N_("Name the interviewer."))
    interview = Interview(organisation_id=organisation.id, interviewer=interviewer.strip(), date=date,
                          place=place.strip() or None, guide_id=guide.guide_id, guide_version=guide.guide_version)
    return save(session, device_id, interview)


def find(session: Session, query: str = "", status: str = "") -> list[InterviewRow]:
    """Interviews with their organisations, newest first; query matches organisation, interviewer or place."""
    statement = (select(Interview, Organisation).join(Organisation, Organisation.id == Interview.organisation_id)
                 .where(Interview.deleted == False)  # noqa: E712
                 .order_by(Interview.date.desc().nulls_last(), Interview.created_at.desc()))
    if status in STATUSES:
        statement = statement.where(Interview.status == status)
    if query.strip():
        pattern = f"%{query.strip()}%"
        statement = statement.where(or_(Organisation.name.ilike(pattern), Interview.interviewer.ilike(pattern),
                                        Interview.place.ilike(pattern), Organisation.pseudonym_code.ilike(pattern)))
    return [InterviewRow(interview, organisation) for interview, organisation in session.exec(statement)]


def get(session: Session, interview_id: str) -> Optional[Interview]:
    interview = session.get(Interview, interview_id)
    return None if interview is None or interview.deleted else interview


def record_consent(session: Session, device_id: str, interview: Interview, by: str, how: str, date: str,
                   agreed: set[str]) -> Interview:
    """Record who consented, how, when and to what; only then can content be entered."""
    if interview.status != "planned":
        raise InterviewError(N_("Consent has already been recorded for this interview."))
    if not by.strip():
        raise InterviewError(N_("Name the person who gave consent."))
    if how not in CONSENT_WAYS:
        raise InterviewError(N_("Choose whether consent was given in writing or verbally."))
    try:
        given_on = dt.date.fromisoformat(date)
    except ValueError as error:
        raise InterviewError(N_("Enter the date of consent.")) from error
    interview.consent = {"by": by.strip(), "how": how, "date": given_on.isoformat(),
                         "agreed": {item: item in agreed for item in CONSENT_ITEMS}}
    interview.status = "consented"
    return save(session, device_id, interview)


def change_status(session: Session, device_id: str, interview: Interview, action: str) -> Interview:
    """Complete, reopen or lock an interview, if its status allows it."""
    if action not in ACTIONS:
        raise InterviewError()
    if interview.status not in ACTIONS[action][0]:
        raise InterviewError(ACTION_REFUSALS[action])
    interview.status = ACTIONS[action][1]
    return save(session, device_id, interview)


def allowed_actions(interview: Interview) -> list[str]:
    """The status changes open to this interview now."""
    return [action for action, (starts, _) in ACTIONS.items() if interview.status in starts]


def why_not_editable(interview: Interview) -> Optional[str]:
    """None if content may be entered, else the reason to show."""
    if interview.status == "planned":
        return N_("Record the consent first: nothing can be noted before it.")
    if interview.status == "completed":
        return N_("This interview is completed. Reopen it to change anything.")
    if interview.status == "locked":
        return N_("This interview is completed and locked for analysis; it can only be read.")
    return None


def ensure_editable(interview: Interview) -> None:
    reason = why_not_editable(interview)
    if reason:
        raise NotEditable(reason)


def answers(session: Session, interview: Interview) -> dict[str, Answer]:
    """The notes of an interview by question key."""
    rows = session.exec(select(Answer).where(Answer.interview_id == interview.id, Answer.deleted == False)  # noqa: E712
                        .order_by(Answer.created_at))  # two devices' notes on one question: the later one (as autosave)
    return {answer.question_id: answer for answer in rows}


# Autosave runs at every pause in typing. Its common case (a note saved before, changed, in an interview
# under way) is this one UPDATE, as close to the bare write as it gets: the note's existing row vouches
# that its question is in the guide, and the version vector counts the change in SQL. Anything else
# (no such interview, a first note, a closed interview, the same text again) changes no row and takes
# save_answer's path with its checks and messages.
_SAVE_CHANGED_NOTE = """
UPDATE answer SET text = :text, updated_at = :now,
       version = json_set(version, :counter, coalesce(json_extract(version, :counter), 0) + 1)
WHERE id = (SELECT id FROM answer WHERE interview_id = :interview AND question_id = :question AND deleted = 0
            ORDER BY created_at DESC LIMIT 1)
  AND text != :text
  AND EXISTS (SELECT 1 FROM interview WHERE id = :interview AND status = 'in_progress' AND deleted = 0)"""


def autosave(engine, device_id: str, interview_id: str, question_key: str, text: str) -> bool:
    """Save the notes typed for a question, in a transaction of its own; False if the interview or its
    guide is not in the vault."""
    text = clean(text)
    with db.writing_core(engine) as connection:
        changed = connection.exec_driver_sql(_SAVE_CHANGED_NOTE, {
            "interview": interview_id, "question": question_key, "text": text,
            "now": db.stored_time(utcnow()), "counter": f'$."{device_id}"'})
        if changed.rowcount == 1:
            return True
    with db.writing(engine) as session:
        interview = get(session, interview_id)
        guide = guide_version(session, interview.guide_id, interview.guide_version) if interview and interview.guide_id else None
        if guide is None:
            return False
        save_answer(session, device_id, interview, guide, question_key, text)
        return True


def save_answer(session: Session, device_id: str, interview: Interview, guide: Guide, question_key: str,
                text: str) -> Answer:
    """Store the notes for one question (the whole text, so saving twice is harmless)."""
    text = clean(text)
    answer = _answer_to_change(session, interview, guide, question_key)
    is_new = not answer.version  # never saved: no device has counted a change yet
    if answer.text == text and not is_new:
        return answer
    if is_new:  # a first note counts as dealt with; afterwards the checkbox decides
        answer.covered = bool(text.strip())
    answer.text = text
    _start_if_consented(session, device_id, interview)
    return save(session, device_id, answer)


def save_value(session: Session, device_id: str, interview: Interview, guide: Guide, question_key: str, raw) -> Answer:
    """Store a typed answer's value (a scale point, options, a number, a date, a list), checked against
    the question; an answered question counts as dealt with."""
    question = guide.question(question_key)
    answer = _answer_to_change(session, interview, guide, question_key)
    value = question.value_of(raw)
    if answer.value == value and answer.version:
        return answer
    answer.value = value
    answer.covered = answer.covered or value is not None
    _start_if_consented(session, device_id, interview)
    return save(session, device_id, answer)


def values(notes: dict[str, Answer]) -> dict:
    """The typed answers' values by question key, for the guide's conditions."""
    return {key: answer.value for key, answer in notes.items() if answer.value is not None}


def visible(guide: Guide, notes: dict[str, Answer]) -> set[str]:
    """The keys of the questions shown: those without a condition, and those whose condition holds."""
    known = values(notes)
    return {q.key for q in guide.questions if q.show_if is None or q.show_if.holds(known)}


def misfits(session: Session, interview: Interview, newer: Guide) -> list[tuple[str, str]]:
    """The answers of an interview that would not fit a newer guide version: (question key, why)."""
    found = []
    for key, answer in answers(session, interview).items():
        question = newer.question(key)
        if question is None:
            if answer.text.strip() or answer.value is not None:
                found.append((key, N_("The question is not in the newer version.")))
            continue
        if answer.value is not None and not _fits(question, answer.value):
            found.append((key, N_("The answer does not fit the question's new answer type or choices.")))
    return found


def _fits(question, value) -> bool:
    """Whether a stored value is one the question accepts as it is."""
    try:
        return question.value_of(value) == value
    except AnswerValueError:
        return False


def move_to_guide(session: Session, device_id: str, interview: Interview, newer: GuideVersion) -> list[tuple[str, str]]:
    """Move an interview to a newer version of its guide, if every answer fits it; else change nothing
    and return what does not fit."""
    ensure_editable(interview)
    parsed = guide_version(session, newer.guide_id, newer.guide_version)
    if newer.guide_id != interview.guide_id or parsed is None:
        raise InterviewError(N_("An interview can only move to another version of its own guide."))
    problems = misfits(session, interview, parsed)
    if not problems:
        interview.guide_version = newer.guide_version
        interview.position = {}
        save(session, device_id, interview)
    return problems


def set_question_covered(session: Session, device_id: str, interview: Interview, guide: Guide, question_key: str,
                         covered: bool) -> Answer:
    answer = _answer_to_change(session, interview, guide, question_key)
    answer.covered = covered
    _start_if_consented(session, device_id, interview)
    return save(session, device_id, answer)


def _answer_to_change(session: Session, interview: Interview, guide: Guide, question_key: str) -> Answer:
    """The (possibly new) answer to a question of the guide, in an interview that may be changed."""
    ensure_editable(interview)
    if guide.question(question_key) is None:
        raise InterviewError(N_("This question is not part of the interview's guide."))
    return answers(session, interview).get(question_key) or Answer(interview_id=interview.id, question_id=question_key)


def set_covered_item(session: Session, device_id: str, interview: Interview, guide: Guide, section_id: str,
                     item_id: str, covered: bool) -> Interview:
    """Tick or untick an item of a section's coverage checklist."""
    ensure_editable(interview)
    section = guide.section(section_id)
    if section is None or item_id not in {item.id for item in section.covers}:
        raise InterviewError(N_("This checklist item is not part of the interview's guide."))
    items = set(interview.coverage.get(section_id, ()))
    items = items | {item_id} if covered else items - {item_id}
    interview.coverage = {**interview.coverage, section_id: sorted(items)}
    _start_if_consented(session, device_id, interview)
    return save(session, device_id, interview)


def add_section_time(session: Session, device_id: str, interview: Interview, guide: Guide, section_id: str,
                     seconds: int) -> Interview:
    """Add time spent in a section, as the page's clock reports it."""
    if why_not_editable(interview) or guide.section(section_id) is None or not 0 < seconds <= MAX_CLOCK_STEP:
        return interview
    interview.section_seconds = {**interview.section_seconds,
                                 section_id: interview.section_seconds.get(section_id, 0) + seconds}
    return save(session, device_id, interview)


def remember_position(session: Session, device_id: str, interview: Interview, section_id: str,
                      question_key: Optional[str], mode: str) -> None:
    """Note where the interviewer is, so reopening the interview returns there."""
    position = {"section": section_id, "question": question_key, "mode": mode}
    if interview.position != position and not why_not_editable(interview):
        interview.position = position
        save(session, device_id, interview)


def progress(interview: Interview, guide: Guide, notes: dict[str, Answer]) -> dict[str, tuple[int, int]]:
    """Per section: (questions covered, questions shown; a question whose condition does not hold is not counted)."""
    shown = visible(guide, notes)
    return {section.id: (sum(1 for q in section.questions if q.key in shown and q.key in notes and notes[q.key].covered),
                         sum(1 for q in section.questions if q.key in shown)) for section in guide.sections}


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.exec(select(Interview.status, func.count()).where(Interview.deleted == False)  # noqa: E712
                        .group_by(Interview.status))
    return dict(rows.all())


def _start_if_consented(session: Session, device_id: str, interview: Interview) -> None:
    if interview.status == "consented":
        interview.status = "in_progress"
        save(session, device_id, interview)

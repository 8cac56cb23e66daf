"""Quotes and the codebook: passages of notes or transcripts marked as quotes and coded."""
import re
import uuid
from dataclasses import dataclass
from typing import Optional

from sqlmodel import Session, select

from .errors import UserError
from .i18n import N_, translate
from .interviews import ensure_editable
from .models import Answer, Code, Interview, Quote, QuoteCode, Transcript, save
from .vocabulary import DEFAULT_CODES


CODEBOOK_NAMESPACE = uuid.UUID("0b8f4c55-3a52-4f0e-9b7e-2f4f6c1d9a21")


class QuoteError(UserError):
    message = N_("The passage could not be marked as a quote.")


@dataclass
class QuoteView:
    quote: Quote
    codes: list[Code]
    source_kind: str = ""  # "answer" (a note to a question of the guide) or "transcript"
    source_key: str = ""  # the question's key in the guide, or the transcript's file name


def ensure_default_codebook(session: Session, device_id: str) -> None:
    """Give an empty codebook the study's codes (labels in German, the vault's language)."""
    if session.exec(select(Code.id).limit(1)).first() is None:
        for label, description, colour in DEFAULT_CODES:
            # The same id on every laptop, so merged vaults share one codebook instead of duplicates.
            code_id = str(uuid.uuid5(CODEBOOK_NAMESPACE, label))
            save(session, device_id, Code(id=code_id, label=translate(label), description=translate(description),
                                          colour=colour))


# The study's codes by id: a code still as shipped is shown in the reader's language.
_DEFAULTS = {str(uuid.uuid5(CODEBOOK_NAMESPACE, label)): (label, description) for label, description, _ in DEFAULT_CODES}


def code_text(code: Code, locale: str) -> tuple[str, str]:
    """(label, description) of a code for the reader: a shipped code nobody renamed in their language,
    every other code as it was written."""
    shipped = _DEFAULTS.get(code.id)
    if shipped and code.label == translate(shipped[0]) and code.description == translate(shipped[1]):
        return translate(shipped[0], locale), translate(shipped[1], locale)
    return code.label, code.description


def codebook(session: Session) -> list[Code]:
    return list(session.exec(select(Code).where(Code.deleted == False).order_by(Code.label)))  # noqa: E712


def add_code(session: Session, device_id: str, label: str, description: str = "", colour: str = "#555555",
             parent_id: Optional[str] = None) -> Code:
    """Extend the codebook; labels are unique, a parent makes a code a sub-code."""
    label = label.strip()
    if not label:
        raise QuoteError(N_("Give the code a label."))
    if any(code.label.casefold() == label.casefold() for code in codebook(session)):
        raise QuoteError(N_("The codebook already has a code “%(label)s”."), label=label)
    if parent_id and session.get(Code, parent_id) is None:
        raise QuoteError(N_("The parent code does not exist."))
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour or ""):
        colour = "#555555"
    return save(session, device_id, Code(label=label, description=description.strip(), colour=colour,
                                         parent_id=parent_id or None))


def mark_quote(session: Session, device_id: str, interview: Interview, source_kind: str, source_id: str,
               start: int, end: int, selected: str, code_ids: list[str] = ()) -> Quote:
    """Mark characters start…end of a note or transcript as a quote. `selected` is what the interviewer
    saw selected; it must match the stored text, so an unsaved edit never produces a wrong quote."""
    ensure_editable(interview)
    if not interview.consent.get("agreed", {}).get("quotes"):
        raise QuoteError(N_("The interviewee did not agree to quotes being used."))
    source = session.get(Answer if source_kind == "answer" else Transcript, source_id)
    if source is None or source.deleted or source.interview_id != interview.id:
        raise QuoteError()
    if not 0 <= start < end <= len(source.text):
        raise QuoteError(N_("Select a passage of the text first."))
    if source.text[start:end] != selected:
        raise QuoteError(N_("The note is still being saved. Wait for “saved” and mark the passage again."))
    quote = save(session, device_id, Quote(interview_id=interview.id, start=start, end=end, text=selected,
                                           answer_id=source.id if source_kind == "answer" else None,
                                           transcript_id=source.id if source_kind == "transcript" else None))
    set_codes(session, device_id, quote, code_ids)
    return quote


def set_codes(session: Session, device_id: str, quote: Quote, code_ids) -> None:
    """Make the quote's codes exactly code_ids: new links are added, removed ones become tombstones."""
    wanted = {code.id for code in codebook(session) if code.id in set(code_ids)}
    links = session.exec(select(QuoteCode).where(QuoteCode.quote_id == quote.id)).all()
    for link in links:
        keep = link.code_id in wanted
        if link.deleted == keep:  # a live link to drop, or a tombstone to revive
            link.deleted = not keep
            save(session, device_id, link)
    for code_id in wanted - {link.code_id for link in links}:
        save(session, device_id, QuoteCode(quote_id=quote.id, code_id=code_id))


def code_quote(session: Session, device_id: str, interview: Interview, quote: Quote, code_ids) -> None:
    """Set the codes of a quote in an interview that may still be changed."""
    ensure_editable(interview)
    set_codes(session, device_id, quote, code_ids)


def delete_quote(session: Session, device_id: str, interview: Interview, quote: Quote) -> None:
    ensure_editable(interview)
    set_codes(session, device_id, quote, [])
    quote.deleted = True
    save(session, device_id, quote)


def quotes(session: Session, interview: Interview, code_id: Optional[str] = None) -> list[QuoteView]:
    """The interview's quotes in the order they were marked, each with its codes; only those with code_id if given."""
    rows = session.exec(select(Quote).where(Quote.interview_id == interview.id, Quote.deleted == False)  # noqa: E712
                        .order_by(Quote.created_at)).all()
    codes = {code.id: code for code in codebook(session)}
    links = session.exec(select(QuoteCode).where(QuoteCode.quote_id.in_([q.id for q in rows]),
                                                 QuoteCode.deleted == False)).all()  # noqa: E712
    by_quote = {}
    for link in links:
        if link.code_id in codes:
            by_quote.setdefault(link.quote_id, []).append(codes[link.code_id])
    questions = dict(session.exec(select(Answer.id, Answer.question_id).where(
        Answer.id.in_([q.answer_id for q in rows if q.answer_id]))).all())
    files = dict(session.exec(select(Transcript.id, Transcript.source_name).where(
        Transcript.id.in_([q.transcript_id for q in rows if q.transcript_id]))).all())
    views = [QuoteView(q, sorted(by_quote.get(q.id, []), key=lambda c: c.label),
                       "answer" if q.answer_id else "transcript", questions.get(q.answer_id) or files.get(q.transcript_id, ""))
             for q in rows]
    return [v for v in views if code_id is None or any(c.id == code_id for c in v.codes)]

"""Quotes and the codebook: passages of notes or transcripts marked as quotes and coded."""
import re
import uuid
from dataclasses import dataclass, field
from typing import Optional

from sqlmodel import Session, select

from .errors import UserError
from .i18n import N_, translate
from .interviews import ensure_editable
from .models import Alter, Answer, Code, Interview, NetworkMap, Quote, QuoteCode, QuoteLink, Tie, Transcript, save
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
    links: list = field(default_factory=list)  # LinkView: the contacts and ties it is about


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


def quotes(session: Session, interview: Interview, code_id: Optional[str] = None, tie_names: Optional[dict] = None) -> list[QuoteView]:
    """The interview's quotes in the order they were marked, each with its codes; only those with code_id if given."""
    rows = session.exec(select(Quote).where(Quote.interview_id == interview.id, Quote.deleted == False)  # noqa: E712
                        .order_by(Quote.created_at)).all()
    codes = {code.id: code for code in codebook(session)}
    coded = session.exec(select(QuoteCode).where(QuoteCode.quote_id.in_([q.id for q in rows]),
                                                 QuoteCode.deleted == False)).all()  # noqa: E712
    by_quote = {}
    for link in coded:
        if link.code_id in codes:
            by_quote.setdefault(link.quote_id, []).append(codes[link.code_id])
    questions = dict(session.exec(select(Answer.id, Answer.question_id).where(
        Answer.id.in_([q.answer_id for q in rows if q.answer_id]))).all())
    files = dict(session.exec(select(Transcript.id, Transcript.source_name).where(
        Transcript.id.in_([q.transcript_id for q in rows if q.transcript_id]))).all())
    views = [QuoteView(q, sorted(by_quote.get(q.id, []), key=lambda c: c.label),
                       "answer" if q.answer_id else "transcript", questions.get(q.answer_id) or files.get(q.transcript_id, ""))
             for q in rows]
    views = [v for v in views if code_id is None or any(c.id == code_id for c in v.codes)]
    by_quote = {}
    for link in links(session, [v.quote.id for v in views], tie_names):
        by_quote.setdefault(link.link.quote_id, []).append(link)
    for view in views:
        view.links = by_quote.get(view.quote.id, [])
    return views


def link_targets(session: Session, interview: Interview, tie_names: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    """What a quote of this interview can be linked to: per map, its contacts and ties as (id, name)."""
    found = []
    for network_map in session.exec(select(NetworkMap).where(NetworkMap.interview_id == interview.id,
                                                             NetworkMap.deleted == False).order_by(NetworkMap.created_at)):  # noqa: E712
        alters = session.exec(select(Alter).where(Alter.map_id == network_map.id, Alter.deleted == False)  # noqa: E712
                              .order_by(Alter.label)).all()
        names = {alter.id: alter.label for alter in alters}
        options = [(alter.id, alter.label) for alter in alters]
        for tie in session.exec(select(Tie).where(Tie.map_id == network_map.id, Tie.deleted == False)):  # noqa: E712
            options.append((tie.id, _tie_text(tie, names, tie_names)))
        found.append((network_map.title, options))
    return found


# Quotes linked to contacts and ties of the interview's maps (mixed methods) ----------------------------

@dataclass
class LinkView:
    link: QuoteLink
    map_title: str
    target: str  # the contact's name, or "kind: first end – second end" for a tie
    kind: str  # "alter" or "tie"


def link_quote(session: Session, device_id: str, interview: Interview, quote: Quote, target_id: str) -> QuoteLink:
    """Link a quote to a contact or a tie of one of its interview's maps (once)."""
    ensure_editable(interview)
    alter, tie = session.get(Alter, target_id), session.get(Tie, target_id)
    found = alter or tie
    network_map = session.get(NetworkMap, found.map_id) if found and not found.deleted else None
    if network_map is None or network_map.deleted or network_map.interview_id != interview.id or quote.interview_id != interview.id:
        raise QuoteError(N_("Link the quote to a contact or tie of this interview's maps."))
    for existing in links(session, [quote.id]):
        if target_id in (existing.link.alter_id, existing.link.tie_id):
            return existing.link
    return save(session, device_id, QuoteLink(quote_id=quote.id, map_id=network_map.id,
                                              alter_id=alter.id if alter else None, tie_id=tie.id if tie else None))


def unlink_quote(session: Session, device_id: str, interview: Interview, link: QuoteLink) -> None:
    ensure_editable(interview)
    link.deleted = True
    save(session, device_id, link)


def links(session: Session, quote_ids: list[str], tie_names: Optional[dict] = None) -> list[LinkView]:
    """The live links of these quotes, each with what it points at (a link to something deleted is left out)."""
    rows = session.exec(select(QuoteLink).where(QuoteLink.quote_id.in_(quote_ids), QuoteLink.deleted == False)  # noqa: E712
                        .order_by(QuoteLink.created_at)).all()
    maps = {m.id: m for m in session.exec(select(NetworkMap).where(NetworkMap.id.in_({r.map_id for r in rows})))}
    alters = {a.id: a for a in session.exec(select(Alter).where(Alter.map_id.in_(maps)))}
    ties = {t.id: t for t in session.exec(select(Tie).where(Tie.map_id.in_(maps)))}
    views = []
    for row in rows:
        network_map = maps.get(row.map_id)
        target = alters.get(row.alter_id) if row.alter_id else ties.get(row.tie_id)
        if network_map is None or network_map.deleted or target is None or target.deleted:
            continue
        if row.alter_id:
            views.append(LinkView(row, network_map.title, target.label, "alter"))
        else:
            names = {alter_id: alter.label for alter_id, alter in alters.items()}
            views.append(LinkView(row, network_map.title, _tie_text(target, names, tie_names or {}), "tie"))
    return views


def _tie_text(tie: Tie, names: dict, tie_names: dict) -> str:
    """A tie as people read it: "Kooperation: Ego – Jobcenter" (names by contact id; the organisation as "ego")."""
    ego = tie_names.get("ego", "Ego")
    ends = [names.get(end, ego) if end else ego for end in (tie.source_id, tie.target_id)]
    return f"{tie_names.get(tie.type, tie.type)}: {ends[0]} – {ends[1]}"


def linked_quotes(session: Session, map_id: str) -> dict[str, list[dict]]:
    """For the map editor: by contact or tie id, the quotes linked to it."""
    found = {}
    for link, quote in session.exec(select(QuoteLink, Quote).join(Quote, Quote.id == QuoteLink.quote_id).where(
            QuoteLink.map_id == map_id, QuoteLink.deleted == False, Quote.deleted == False)):  # noqa: E712
        found.setdefault(link.alter_id or link.tie_id, []).append({"id": quote.id, "text": quote.text})
    return found

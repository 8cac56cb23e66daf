"""The steward's review: which records are reviewed, what a scan finds in them, the decisions taken,
and approval.

A *record* here is what a steward approves as one: an organisation's profile, an interview's details,
one note (answer), transcript or quote, or a network map with its contacts and ties. Scanning a
record finds registered names (replaced by their code unless kept), pattern hits (replaced by a
placeholder such as "[Telefon]") and unknown names (open until the steward decides). A decision is
about a passage of one field and holds for each of its occurrences there. Approval records the
record's content hash: any later edit, here or merged from a bundle, withdraws it.
"""
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Iterator, Optional

from sqlalchemy import func
from sqlmodel import Session, select

from ..errors import UserError
from ..i18n import N_
from ..models import (Alter, Answer, Approval, AuditEvent, Interview, NetworkMap, Organisation, Quote, RegistryEntry,
                      ReviewState, StewardDecision, Tie, Transcript, save, utcnow)
from . import candidates, patterns, registry
from .matching import Matcher

KINDS = {
    "organisation": N_("Organisation profile"), "interview": N_("Interview details"), "answer": N_("Note"),
    "transcript": N_("Transcript"), "quote": N_("Quote"), "network_map": N_("Network map"),
}
MODELS = {"organisation": Organisation, "interview": Interview, "answer": Answer, "transcript": Transcript,
          "quote": Quote, "network_map": NetworkMap}
STATUSES = {"not_scanned": N_("not scanned"), "flagged": N_("flagged"), "reviewed": N_("reviewed"),
            "approved": N_("approved")}
NAMESPACE = uuid.UUID("5b0e55d8-7a0c-4f58-8f7e-6a1c93f0e4b2")
_BOOKKEEPING = {"created_at", "updated_at", "origin_device"}


class ReviewError(UserError):
    message = N_("This decision is not possible.")


@dataclass
class Finding:
    """One passage found in one field: what it is and what the release will show instead."""
    field: str
    start: int
    end: int
    text: str
    kind: str  # registry | candidate | email | url | phone | iban | address | postcode | birthdate
    category: str = ""  # for names: mo | organisation | person | place | term
    entry_id: Optional[str] = None
    action: Optional[str] = None  # replace | keep; None while a candidate waits for a decision
    replacement: str = ""

    @property
    def open(self) -> bool:
        return self.action is None


@dataclass
class Scan:
    record_type: str
    record_id: str
    interview_id: Optional[str]
    texts: dict  # field → free text, as stored
    findings: list[Finding] = field(default_factory=list)
    content_sha256: str = ""

    @property
    def open_flags(self) -> int:
        return sum(1 for finding in self.findings if finding.open)


class Scanner:
    """What one scan run needs once: the registry as an automaton and its entries."""

    def __init__(self, session: Session):
        self.session = session
        self.entries = {entry.id: entry for entry in registry.entries(session)}
        # (category, replacement, action) per entry, read once: attribute access on rows is slow in a hot loop
        self._plain = {entry.id: (entry.category, f"[{entry.code}]", "keep" if entry.keep else "replace")
                       for entry in self.entries.values()}
        self.matcher: Matcher = registry.matcher(session)
        self.generation = registry.generation(session)

    def scan(self, record_type: str, record_id: str) -> Optional[Scan]:
        source = _source(self.session, record_type, record_id)
        if source is None:
            return None
        row, texts, structured = source
        scan = Scan(record_type, record_id, _interview_of(self.session, record_type, row), texts,
                    content_sha256=content_hash(structured, texts))
        decisions = _decisions(self.session, record_type, record_id)
        for name, text in texts.items():
            scan.findings += self.findings(name, text, decisions)
        return scan

    def findings(self, field_name: str, text: str, decisions: dict) -> list[Finding]:
        """Everything found in one text, with the decisions taken about it applied."""
        # Patterns first: a name inside an e-mail or web address goes with the whole address.
        found = [Finding(field_name, hit.start, hit.end, text[hit.start:hit.end], hit.kind, action="replace",
                         replacement=patterns.PLACEHOLDERS[hit.kind]) for hit in patterns.find(text)]
        for match in self.matcher.find(text):
            if not found or not _covered(found, match.start, match.end):
                category, replacement, action = self._plain[match.entry_id]
                found.append(Finding(field_name, match.start, match.end, text[match.start:match.end], "registry",
                                     category, match.entry_id, action, replacement))
        last_text, words = self.matcher.last_words
        for candidate in candidates.find(text, [(f.start, f.end) for f in found], words if last_text is text else None):
            found.append(Finding(field_name, candidate.start, candidate.end, text[candidate.start:candidate.end],
                                 "candidate", candidate.category))
        for finding in found:
            decision = decisions.get((field_name, finding.text.casefold()))
            if decision is not None:
                _apply(finding, decision, self.entries)
        return sorted(found, key=lambda f: f.start)


def _apply(finding: Finding, decision: StewardDecision, entries: dict) -> None:
    finding.action = decision.action
    if decision.action == "replace" and decision.entry_id in entries:
        entry = entries[decision.entry_id]
        finding.entry_id, finding.category, finding.replacement = entry.id, entry.category, f"[{entry.code}]"
    elif decision.action == "replace" and finding.kind in patterns.PLACEHOLDERS:
        finding.replacement = patterns.PLACEHOLDERS[finding.kind]


def _covered(found: list[Finding], start: int, end: int) -> bool:
    return any(f.start < end and start < f.end for f in found)


def redact(text: str, findings: list[Finding]) -> str:
    """The text as released: every finding to replace replaced, kept ones as they are. Open findings
    must not reach here (an approved record has none)."""
    parts, position = [], 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.open:
            raise ReviewError(N_("A finding is still open."))
        if finding.action == "replace" and finding.start >= position:
            parts += [text[position:finding.start], finding.replacement]
            position = finding.end
    return "".join(parts + [text[position:]])


def shifted(offset: int, findings: list[Finding]) -> int:
    """Where a character offset of the stored text lands in the redacted text (for quotes' positions)."""
    moved = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.action != "replace" or finding.start >= offset:
            break
        if finding.end > offset:  # inside a replaced passage: its start
            return finding.start + moved
        moved += len(finding.replacement) - (finding.end - finding.start)
    return offset + moved


def content_hash(structured: dict, texts: dict) -> str:
    return hashlib.sha256(json.dumps([structured, texts], sort_keys=True, default=str).encode()).hexdigest()


# Records and their texts ---------------------------------------------------------------------------

def _source(session: Session, record_type: str, record_id: str):
    """(row, free texts by field, every other field that goes into the release) of one record."""
    model = MODELS.get(record_type)
    row = session.get(model, record_id) if model else None
    if row is None or row.deleted:
        return None
    fields = _fields(row)
    if record_type == "organisation":
        groups = {f"target_groups:{index}": group for index, group in enumerate(row.target_groups or [])}
        return row, {"notes": row.notes, **groups}, fields
    if record_type == "interview":
        return row, {"place": row.place or ""}, fields
    if record_type in ("answer", "quote", "transcript"):
        texts = {"text": row.text}
        if record_type == "transcript":
            texts["source_name"] = row.source_name
        return row, texts, fields
    alters = list(session.exec(select(Alter).where(Alter.map_id == row.id, Alter.deleted == False)))  # noqa: E712
    ties = list(session.exec(select(Tie).where(Tie.map_id == row.id, Tie.deleted == False)))  # noqa: E712
    texts = {"title": row.title}
    for alter in alters:
        for name in ("note", "since"):
            if alter.attributes.get(name):
                texts[f"alter:{alter.id}:{name}"] = str(alter.attributes[name])
    for tie in ties:
        if tie.note:
            texts[f"tie:{tie.id}:note"] = tie.note
    return row, texts, {"map": fields, "alters": [_fields(a) for a in alters], "ties": [_fields(t) for t in ties]}


def _fields(row) -> dict:
    return {column.name: getattr(row, column.name) for column in row.__table__.columns
            if column.name not in _BOOKKEEPING and column.name != "version"}


def _interview_of(session: Session, record_type: str, row) -> Optional[str]:
    if record_type == "interview":
        return row.id
    return getattr(row, "interview_id", None)


def records(session: Session, interview_id: str = "", kind: str = "") -> Iterator[tuple[str, str, Optional[str]]]:
    """(record type, id, interview id) of everything a steward reviews, in a stable order."""
    interviews = {i.id: i for i in session.exec(select(Interview).where(Interview.deleted == False))}  # noqa: E712
    chosen = {interview_id} if interview_id else set(interviews)
    organisations = {interviews[i].organisation_id for i in chosen if i in interviews}
    wanted = [kind] if kind else list(KINDS)
    for record_type in wanted:
        model = MODELS[record_type]
        statement = select(model.id, *([model.interview_id] if hasattr(model, "interview_id") else [])).where(
            model.deleted == False)  # noqa: E712
        for row in session.exec(statement.order_by(model.created_at)):
            record_id, owner = (row, None) if isinstance(row, str) else (row[0], row[1])
            if record_type == "interview":
                owner = record_id
            if record_type == "organisation":
                if interview_id and record_id not in organisations:
                    continue
            elif owner not in chosen:
                continue
            if record_type == "answer" and not session.get(Answer, record_id).text.strip():
                continue
            yield record_type, record_id, owner


# Scanning, deciding, approving ---------------------------------------------------------------------

def scan_all(session: Session, device_id: str, interview_id: str = "", kind: str = "") -> list[Scan]:
    """Register the names of structured fields, then scan every record and remember the result."""
    registry.register_structured(session, device_id)
    scanner = Scanner(session)
    scans = []
    for record_type, record_id, _ in records(session, interview_id, kind):
        scan = scanner.scan(record_type, record_id)
        if scan is not None:
            remember(session, scan, scanner.generation)
            scans.append(scan)
    return scans


def scan_one(session: Session, record_type: str, record_id: str) -> Scan:
    scanner = Scanner(session)
    scan = scanner.scan(record_type, record_id)
    if scan is None:
        raise ReviewError(N_("This record does not exist (any more)."))
    remember(session, scan, scanner.generation)
    return scan


def remember(session: Session, scan: Scan, generation: str) -> None:
    state = session.get(ReviewState, (scan.record_type, scan.record_id)) or ReviewState(
        record_type=scan.record_type, record_id=scan.record_id, content_sha256="")
    state.interview_id, state.content_sha256 = scan.interview_id, scan.content_sha256
    state.registry_generation = _generation_number(generation)
    state.findings, state.open_flags, state.scanned_at = len(scan.findings), scan.open_flags, utcnow()
    session.add(state)


def _generation_number(generation: str) -> int:
    return int(hashlib.sha256(generation.encode()).hexdigest()[:12], 16)


def decide(session: Session, device_id: str, record_type: str, record_id: str, field_name: str, text: str,
           action: str, actor: str, entry_id: Optional[str] = None, new_category: Optional[str] = None,
           kind: str = "candidate") -> StewardDecision:
    """Replace a passage (with an existing entry, a new one of `new_category`, or a pattern's placeholder),
    keep it, or ("not_a_name") keep it and never flag it again anywhere in the project."""
    if action == "not_a_name":
        registry.register(session, device_id, "term", text, actor=actor)
        action = "keep"
    if action not in ("replace", "keep") or not text.strip():
        raise ReviewError()
    if action == "replace" and new_category:
        entry = registry.register(session, device_id, new_category, text, actor=actor)
        entry_id = entry.id if entry else None
    if action == "replace" and entry_id:
        entry = session.get(RegistryEntry, entry_id)
        if entry is None or entry.deleted:
            raise ReviewError(N_("The chosen registry entry does not exist."))
        if registry.normal(text) not in {registry.normal(s) for s in registry.spellings(entry)}:
            registry.add_variant(session, device_id, entry, text, actor=actor)  # found by itself from now on
    if action == "replace" and not entry_id and kind not in patterns.PLACEHOLDERS:
        raise ReviewError(N_("Choose or create the registry entry that replaces this name."))
    decision_id = str(uuid.uuid5(NAMESPACE, f"{record_type}:{record_id}:{field_name}:{text.casefold()}"))
    decision = session.get(StewardDecision, decision_id) or StewardDecision(
        id=decision_id, record_type=record_type, record_id=record_id, field=field_name, text=text, kind=kind, action=action)
    decision.action, decision.entry_id, decision.kind, decision.actor, decision.deleted = action, entry_id, kind, actor, False
    save(session, device_id, decision)
    session.add(AuditEvent(action="steward.decide", actor=actor, origin_device=device_id, detail={
        "record": f"{record_type}/{record_id}", "field": field_name, "kind": kind, "decision": action,
        "entry": entry_id}))
    scan_one(session, record_type, record_id)
    return decision


def approve(session: Session, device_id: str, record_type: str, record_id: str, actor: str) -> Approval:
    """Approve a record as it is now; only once no finding is open."""
    scan = scan_one(session, record_type, record_id)
    if scan.open_flags:
        raise ReviewError(N_("%(count)d findings still wait for a decision."), count=scan.open_flags)
    approval_id = str(uuid.uuid5(NAMESPACE, f"approval:{record_type}:{record_id}"))
    approval = session.get(Approval, approval_id) or Approval(id=approval_id, record_type=record_type,
                                                              record_id=record_id, content_sha256="")
    approval.content_sha256, approval.actor, approval.deleted = scan.content_sha256, actor, False
    save(session, device_id, approval)
    session.add(AuditEvent(action="steward.approve", actor=actor, origin_device=device_id,
                           detail={"record": f"{record_type}/{record_id}", "content_sha256": scan.content_sha256}))
    return approval


def approved(session: Session, record_type: str, record_id: str, scan: Optional[Scan] = None) -> bool:
    """Whether an approval stands: given, not withdrawn, and the record unchanged since."""
    approval = session.get(Approval, str(uuid.uuid5(NAMESPACE, f"approval:{record_type}:{record_id}")))
    if approval is None or approval.deleted:
        return False
    current = scan.content_sha256 if scan else _current_hash(session, record_type, record_id)
    return current is not None and approval.content_sha256 == current


def _current_hash(session: Session, record_type: str, record_id: str) -> Optional[str]:
    source = _source(session, record_type, record_id)
    return content_hash(source[2], source[1]) if source else None


def replace_flagged(session: Session, device_id: str, actor: str, interview_id: str = "") -> int:
    """Turn every open finding into a new registry entry of its guessed category (a batch decision)."""
    count = 0
    for scan in scan_all(session, device_id, interview_id):
        for finding in scan.findings:
            if finding.open:
                decide(session, device_id, scan.record_type, scan.record_id, finding.field, finding.text, "replace",
                       actor, new_category=finding.category if finding.category in registry.CODE_PREFIX else "person")
                count += 1
    session.add(AuditEvent(action="steward.batch_replace", actor=actor, origin_device=device_id,
                           detail={"findings": count, "interview": interview_id or None}))
    return count


def approve_all(session: Session, device_id: str, actor: str, interview_id: str = "") -> tuple[int, int]:
    """Approve every record without open findings (a batch decision): (approved, still open)."""
    done = waiting = 0
    for scan in scan_all(session, device_id, interview_id):
        if scan.open_flags:
            waiting += 1
        elif not approved(session, scan.record_type, scan.record_id, scan):
            approve(session, device_id, scan.record_type, scan.record_id, actor)
            done += 1
    session.add(AuditEvent(action="steward.batch_approve", actor=actor, origin_device=device_id,
                           detail={"approved": done, "open": waiting, "interview": interview_id or None}))
    return done, waiting


@dataclass
class QueueRow:
    record_type: str
    record_id: str
    interview_id: Optional[str]
    status: str
    findings: int
    open_flags: int


def queue(session: Session, interview_id: str = "", kind: str = "", status: str = "") -> list[QueueRow]:
    """Every record with its status: not scanned, flagged, reviewed or approved."""
    states = {(s.record_type, s.record_id): s for s in session.exec(select(ReviewState))}
    current_generation = _generation_number(registry.generation(session))
    rows = []
    for record_type, record_id, owner in records(session, interview_id, kind):
        state = states.get((record_type, record_id))
        current = _current_hash(session, record_type, record_id)
        fresh = state is not None and state.content_sha256 == current and state.registry_generation == current_generation
        if state is not None and state.content_sha256 == current and approved(session, record_type, record_id):
            row_status = "approved"  # an approval holds while the record is unchanged, whatever the registry does
        elif not fresh:
            row_status = "not_scanned"
        else:
            row_status = "flagged" if state.open_flags else "reviewed"
        if status and row_status != status:
            continue
        rows.append(QueueRow(record_type, record_id, owner, row_status, state.findings if fresh else 0,
                             state.open_flags if fresh else 0))
    return rows


def labels(session: Session, rows: list[QueueRow]) -> dict:
    """A short description of each record for the queue: whose it is and what it is."""
    interviews = {i.id: i for i in session.exec(select(Interview))}
    organisations = {o.id: o for o in session.exec(select(Organisation))}

    def organisation_of(interview_id):
        interview = interviews.get(interview_id)
        return organisations[interview.organisation_id].name if interview and interview.organisation_id in organisations else ""

    described = {}
    for row in rows:
        record = session.get(MODELS[row.record_type], row.record_id)
        if row.record_type == "organisation":
            text = record.name
        elif row.record_type == "interview":
            text = " · ".join(filter(None, [organisation_of(record.id), record.date.isoformat() if record.date else ""]))
        elif row.record_type == "answer":
            text = f"{organisation_of(record.interview_id)} · {record.question_id}"
        elif row.record_type == "transcript":
            text = f"{organisation_of(record.interview_id)} · {record.source_name}"
        elif row.record_type == "quote":
            text = f"{organisation_of(record.interview_id)} · „{record.text[:60]}…“"
        else:
            text = f"{organisation_of(record.interview_id)} · {record.title}"
        described[(row.record_type, row.record_id)] = text
    return described


def counts(rows: list[QueueRow]) -> dict:
    totals = {key: 0 for key in STATUSES}
    for row in rows:
        totals[row.status] += 1
    return totals


def open_findings_total(session: Session) -> int:
    return session.exec(select(func.coalesce(func.sum(ReviewState.open_flags), 0))).one()


def _decisions(session: Session, record_type: str, record_id: str) -> dict:
    return {(d.field, d.text.casefold()): d for d in session.exec(select(StewardDecision).where(
        StewardDecision.record_type == record_type, StewardDecision.record_id == record_id,
        StewardDecision.deleted == False))}  # noqa: E712

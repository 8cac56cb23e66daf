"""The data model (DESIGN.md §3): SQLModel tables, created only by the Alembic migrations.

Every shared record carries what merging needs: a UUID, timestamps, the device it was created on,
a version vector {device_id: counter} and a tombstone, so deletions travel like edits.
Fields that can identify someone are listed in IDENTIFYING for anonymisation.
"""
import uuid
import datetime as dt
from datetime import datetime, timezone
from typing import Any, Literal, Optional, Union

from typing_extensions import Required, TypedDict

from pydantic import ConfigDict
from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


# The shapes of JSON columns: record_check validates records from other devices against them. They
# take no keys beyond their own, which also bounds how deep a value can nest.
_ONLY_THESE = ConfigDict(extra="forbid")
Label = Union[str, dict[str, str]]  # a text, or its translations by language (a project's own map labels)


class Consent(TypedDict, total=False):
    __pydantic_config__ = _ONLY_THESE
    by: str
    how: str
    date: str
    agreed: dict[str, bool]


class Position(TypedDict, total=False):
    __pydantic_config__ = _ONLY_THESE
    section: str
    question: Optional[str]
    mode: str


class RingSpec(TypedDict, total=False):
    __pydantic_config__ = _ONLY_THESE
    label: Required[Label]


class SectorSpec(TypedDict, total=False):
    __pydantic_config__ = _ONLY_THESE
    id: Required[str]
    label: Label
    colour: str
    symbol: str


class PutStep(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")
    put: Literal["alter", "tie"]
    record: dict[str, Any]  # checked against the Alter or Tie columns by record_check


class RemoveStep(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")
    remove: Literal["alter", "tie"]
    id: str


MapEventPayload = TypedDict("MapEventPayload", {  # "from" (the map a clone came from) is a keyword
    "seq": int, "forward": list[Union[PutStep, RemoveStep]], "backward": list[Union[PutStep, RemoveStep]],
    "op_id": str, "target": str, "title": str, "from": str,
    # the undo and redo stacks as linked lists in the log (maps.py): event ids or null
    "undo_top": Optional[str], "redo_top": Optional[str], "undo_below": Optional[str], "redo_below": Optional[str],
}, total=False)
MapEventPayload.__pydantic_config__ = ConfigDict(extra="forbid")


class AudioSpan(TypedDict):
    """A stretch of a recording: from wall time `at` (ISO, UTC) the audio is at `ms`; a recording starts
    one and every resume after a pause starts the next."""
    __pydantic_config__ = _ONLY_THESE
    at: str
    ms: int


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (SQLModel's datetime columns refuse naive values)."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


class SharedRecord(SQLModel):
    """The columns every record that travels between devices has."""

    model_config = ConfigDict(defer_build=True)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    origin_device: str = Field(default="", max_length=36)
    version: dict = Field(default_factory=dict, sa_type=JSON)
    deleted: bool = False

    def touch(self, device_id: str, now: Optional[datetime] = None) -> None:
        """Record a local change: bump this device's counter in the version vector."""
        self.version = {**self.version, device_id: self.version.get(device_id, 0) + 1}
        self.updated_at = now or utcnow()


def save(session, device_id: str, record: SharedRecord) -> SharedRecord:
    """Add or update a shared record as a change made on this device, flushed at once: the tables have
    foreign keys but no relationships, so parents must reach the database before their children."""
    record.origin_device = record.origin_device or device_id
    record.touch(device_id)
    session.add(record)
    session.flush()
    return record


class Organisation(SharedRecord, table=True):
    pseudonym_code: Optional[str] = Field(default=None, index=True)
    name: str
    founded: Optional[int] = None
    city: Optional[str] = None
    offers_scope: Optional[str] = None  # holistic | specialised
    offer_fields: list[str] = Field(default_factory=list, sa_type=JSON)  # education, work, health_care, …
    practices_formal: Optional[int] = None  # scale 1 (none) … 5 (central)
    practices_informal: Optional[int] = None
    staff_volunteer: Optional[int] = None
    staff_paid: Optional[int] = None
    members_band: Optional[str] = None  # 1-25 | 26-50 | 51-100 | 101-200 | >200
    target_groups: list[str] = Field(default_factory=list, sa_type=JSON)
    reach: Optional[str] = None  # neighbourhood | city | region | national | transnational
    funding_sources: list[str] = Field(default_factory=list, sa_type=JSON)
    notes: str = ""
    is_demo: bool = False


class Interview(SharedRecord, table=True):
    organisation_id: str = Field(foreign_key="organisation.id", index=True)
    interviewer: str = ""
    date: Optional[dt.date] = None
    place: Optional[str] = None
    guide_id: Optional[str] = None
    guide_version: Optional[str] = None
    status: str = "planned"  # planned → consented → in_progress → completed → locked
    consent: Consent = Field(default_factory=dict, sa_type=JSON)
    section_seconds: dict[str, int] = Field(default_factory=dict, sa_type=JSON)
    coverage: dict[str, list[str]] = Field(default_factory=dict, sa_type=JSON)  # section id → checked "covers" item ids
    position: Position = Field(default_factory=dict, sa_type=JSON)  # where the interviewer was: section, question, mode


class GuideVersion(SharedRecord, table=True):
    """A loaded interview guide, kept per version so interviews keep the guide they were run with.
    Its id derives from guide id and version, so every device loading the same guide agrees on it."""

    __tablename__ = "guide"
    __table_args__ = (UniqueConstraint("guide_id", "guide_version"),)
    guide_id: str = Field(index=True)  # the id inside the guide file
    guide_version: str
    title: str
    source: str  # the YAML text


# A typed answer's value (guide.Question.value_of): a scale point or number, an option id or a date,
# chosen option ids or a list's items.
AnswerValue = Union[int, float, str, list[str]]


class Answer(SharedRecord, table=True):
    interview_id: str = Field(foreign_key="interview.id", index=True)
    question_id: str = Field(index=True)
    text: str = ""
    covered: bool = False
    value: Optional[AnswerValue] = Field(default=None, sa_type=JSON)


class Transcript(SharedRecord, table=True):
    interview_id: str = Field(foreign_key="interview.id", index=True)
    source_name: str
    text: str = ""
    language: str = "de"


class Code(SharedRecord, table=True):
    label: str
    description: str = ""
    colour: str = "#555555"
    parent_id: Optional[str] = Field(default=None, foreign_key="code.id", index=True)


class Quote(SharedRecord, table=True):
    interview_id: str = Field(foreign_key="interview.id", index=True)
    answer_id: Optional[str] = Field(default=None, foreign_key="answer.id", index=True)
    transcript_id: Optional[str] = Field(default=None, foreign_key="transcript.id", index=True)
    start: int = 0  # character offsets into the source text
    end: int = 0
    text: str = ""


class QuoteCode(SharedRecord, table=True):
    """A code attached to a quote; a record of its own so attaching and removing merge."""

    __tablename__ = "quote_code"
    quote_id: str = Field(foreign_key="quote.id", index=True)
    code_id: str = Field(foreign_key="code.id", index=True)


class NetworkMap(SharedRecord, table=True):
    __tablename__ = "network_map"
    interview_id: str = Field(foreign_key="interview.id", index=True)
    title: str = ""
    rings: list[Union[str, RingSpec]] = Field(default_factory=list, sa_type=JSON)
    sectors: list[Union[str, SectorSpec]] = Field(default_factory=list, sa_type=JSON)


class Alter(SharedRecord, table=True):
    __tablename__ = "network_alter"
    map_id: str = Field(foreign_key="network_map.id", index=True)
    label: str
    actor_type: str
    x: float = 0.0  # map coordinates, ego at (0, 0), outer ring at radius 1
    y: float = 0.0
    attributes: dict[str, str] = Field(default_factory=dict, sa_type=JSON)


class Tie(SharedRecord, table=True):
    __tablename__ = "network_tie"
    map_id: str = Field(foreign_key="network_map.id", index=True)
    source_id: Optional[str] = Field(default=None, foreign_key="network_alter.id", index=True)  # None: ego
    target_id: str = Field(foreign_key="network_alter.id", index=True)
    type: str  # cooperation | conflict | tension | power_asymmetry | competition
    direction: str = "undirected"  # undirected | forward | backward | mutual
    strength: int = 1
    note: str = ""


class MapEvent(SharedRecord, table=True):
    __tablename__ = "map_event"
    map_id: str = Field(foreign_key="network_map.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    action: str
    payload: MapEventPayload = Field(default_factory=dict, sa_type=JSON)


class QuoteLink(SharedRecord, table=True):
    """A quote about a contact or a tie of a map ("this passage is about our cooperation with the
    welfare association"): exactly one of alter_id and tie_id. A record of its own, so links merge."""

    __tablename__ = "quote_link"
    quote_id: str = Field(foreign_key="quote.id", index=True)
    map_id: str = Field(foreign_key="network_map.id", index=True)
    alter_id: Optional[str] = Field(default=None, foreign_key="network_alter.id", index=True)
    tie_id: Optional[str] = Field(default=None, foreign_key="network_tie.id", index=True)


class Recording(SharedRecord, table=True):
    """The sound of an interview, recorded in the app or imported, only where consent covers recording.
    The audio lies in audio_chunk rows of this vault and travels in bundles as an attachment (audio.py);
    it never goes into a release: voices identify people."""

    interview_id: str = Field(foreign_key="interview.id", index=True)
    kind: str = "recorded"  # recorded | imported
    mime: str = "audio/webm;codecs=opus"
    file_name: str = ""  # an imported recording's file name
    spans: list[AudioSpan] = Field(default_factory=list, sa_type=JSON)
    duration_ms: int = 0
    size: int = 0  # bytes of audio
    status: str = "recording"  # recording | paused | finished


class AudioChunk(SQLModel, table=True):
    """A piece of a recording's audio as it arrived (every few seconds while recording, ~1 MiB when
    imported); `offset` is where its bytes begin in the whole, so a passage is read without the rest."""

    __tablename__ = "audio_chunk"
    __table_args__ = (Index("ix_audio_chunk_place", "recording_id", "offset"),)
    recording_id: str = Field(foreign_key="recording.id", primary_key=True)
    seq: int = Field(primary_key=True)
    offset: int
    data: bytes = Field(sa_type=LargeBinary)


class AuditEvent(SharedRecord, table=True):
    """Who did what when on this device: key operations, merges, releases. Append-only."""

    __tablename__ = "audit_event"
    at: datetime = Field(default_factory=utcnow)
    actor: str = ""
    action: str
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class RegistryEntry(SharedRecord, table=True):
    """The pseudonym registry (DESIGN.md §7): a real entity, its spellings and its stable code. It travels
    in bundles between coordinators and is never part of a release."""

    __tablename__ = "registry_entry"
    category: str = Field(index=True)  # mo | organisation | person | place | term (not a name)
    code: str = ""  # "MO-03", "Organisation-7", "Person-12", "Ort-2"; empty for terms
    name: str  # identifying
    variants: list[str] = Field(default_factory=list, sa_type=JSON)  # further spellings and abbreviations
    keep: bool = False  # found in texts but kept as is (e.g. a public body named for context)
    merged_into: Optional[str] = Field(default=None, index=True)  # the entry that took this one over
    sources: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON)  # [{"type", "id", "field"}] it was registered from


class StewardDecision(SharedRecord, table=True):
    """What the data steward decided about one finding in one field of one record."""

    __tablename__ = "steward_decision"
    record_type: str = Field(index=True)
    record_id: str = Field(index=True)
    field: str
    text: str  # the passage decided about (identifying; never released)
    kind: str  # registry | candidate | email | url | phone | iban | address | postcode | birthdate
    action: str  # replace | keep
    entry_id: Optional[str] = None  # the registry entry a replacement uses
    actor: str = ""


class Approval(SharedRecord, table=True):
    """A steward approved a record for release as it was then: an edit changes its content hash and so
    withdraws the approval."""

    __tablename__ = "approval"
    record_type: str = Field(index=True)
    record_id: str = Field(index=True)
    content_sha256: str
    actor: str = ""


class ReviewState(SQLModel, table=True):
    """The last scan of a record (local bookkeeping for the steward's queue; recomputed at will)."""

    __tablename__ = "review_state"
    record_type: str = Field(primary_key=True)
    record_id: str = Field(primary_key=True)
    interview_id: Optional[str] = Field(default=None, index=True)
    content_sha256: str
    registry_generation: int = 0
    findings: int = 0
    open_flags: int = 0
    scanned_at: datetime = Field(default_factory=utcnow)


class Release(SQLModel, table=True):
    """An anonymised dataset written by release.py: content-addressed, logged, queued for the server."""

    __tablename__ = "release"
    id: str = Field(default_factory=new_id, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    sha256: str = Field(index=True)  # of the release document
    directory: str = ""
    counts: dict = Field(default_factory=dict, sa_type=JSON)
    left_out: list = Field(default_factory=list, sa_type=JSON)  # [{"record", "reason"}]
    actor: str = ""


class SyncJob(SQLModel, table=True):
    """A release waiting for, or done with, the project server (local bookkeeping, never exported)."""

    __tablename__ = "sync_job"
    release_id: str = Field(primary_key=True)
    sha256: str
    status: str = "pending"  # pending | sending | sent | refused
    attempts: int = 0
    next_attempt_at: Optional[datetime] = None
    last_error: str = ""  # the server's reason, or why it could not be reached
    sent_at: Optional[datetime] = None
    created_at: datetime = Field(default_factory=utcnow)


class GuideDraft(SQLModel, table=True):
    """A guide being written in the editor (guide_editor); only on this laptop until it is published."""

    __tablename__ = "guide_draft"
    id: str = Field(primary_key=True, max_length=36)
    guide_id: str
    model: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class LocalSetting(SQLModel, table=True):
    """Device-local bookkeeping (device id, idle time, demo flag); never exported."""

    __tablename__ = "local_setting"
    key: str = Field(primary_key=True)
    value: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Device(SQLModel, table=True):
    """A laptop whose bundles this vault accepts: its signing key, pinned at the first accepted bundle."""

    __tablename__ = "device"
    device_id: str = Field(primary_key=True)
    public_key: str  # Ed25519, base64
    fingerprint: str
    accepted_at: datetime = Field(default_factory=utcnow)
    relay: bool = False  # another coordinator: its bundles may carry other devices' changes


class ReceivedBundle(SQLModel, table=True):
    """Each bundle imported, so a missing one shows and a reused sequence number is a tamper alarm."""

    __tablename__ = "received_bundle"
    __table_args__ = (UniqueConstraint("device_id", "sequence"),)
    bundle_id: str = Field(primary_key=True)
    device_id: str = Field(foreign_key="device.device_id", index=True)
    sequence: int
    sha256: str  # of the age file as it arrived
    manifest_sha256: Optional[str] = None  # of its signed manifest: the bundle's identity (empty for imports before 0.2)
    previous_sha256: Optional[str] = None
    # Its records and their counts as one hash, where every record was applied: a later bundle of the
    # device with the same key is merged without reading them again (bundle.records_key).
    records_key: Optional[str] = Field(default=None, index=True)
    imported_at: datetime = Field(default_factory=utcnow)


class Conflict(SQLModel, table=True):
    """Two devices changed the same record independently: the incoming version waits beside the local one."""

    __tablename__ = "conflict"
    id: str = Field(default_factory=new_id, primary_key=True)
    record_type: str
    record_id: str = Field(index=True)
    local_version: dict = Field(default_factory=dict, sa_type=JSON)
    incoming_version: dict = Field(default_factory=dict, sa_type=JSON)
    incoming_fields: dict = Field(default_factory=dict, sa_type=JSON)
    bundle_id: str
    created_at: datetime = Field(default_factory=utcnow)
    resolved: bool = False


SHARED_TABLES = (Organisation, Interview, GuideVersion, Answer, Transcript, Code, Quote, QuoteCode, NetworkMap,
                 Alter, Tie, MapEvent, QuoteLink, Recording, RegistryEntry, StewardDecision, Approval, AuditEvent)

IDENTIFYING = {
    Organisation: ("name", "city", "notes"),
    Interview: ("place",),
    Answer: ("text",),
    Transcript: ("text",),
    Quote: ("text",),
    Alter: ("label",),
    Tie: ("note",),
}

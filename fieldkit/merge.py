"""Records between vaults: turning rows into bundle records and back, and merging by version vector.

Incoming dominates → replace; local dominates or equal → skip (so importing twice changes nothing);
concurrent → keep the local record and store the incoming one as a Conflict for the coordinator.
A bundle is imported wholly or, on any error, not at all: in a savepoint of the merge's transaction.
"""
import datetime as dt
import gc
import hashlib
import json
import re
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Iterator, Optional

import orjson
from sqlalchemy import JSON, Boolean, Date, DateTime, exists, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from . import audio, db, record_check
from .bundle import Bundle, InvalidBundle, Record, attachment_name, read_bundle, write_bundle
from .errors import UserError
from .i18n import N_
from .local_settings import get_setting, set_setting
from .models import (SHARED_TABLES, Answer, AuditEvent, Conflict, Device, Interview, MapEvent, NetworkMap, Quote,
                     QuoteCode, QuoteLink, ReceivedBundle, Recording, SharedRecord, Transcript, Alter, Tie, utcnow)
from .vault import fingerprint

# What travels: every shared table but the local audit log, parents before children.
TRAVELLING = {model.__tablename__: model for model in SHARED_TABLES if model is not AuditEvent}
# The steward's records decide what a release may hold (a kept name, an approval): they count only
# from this vault itself and from other coordinators' vaults, never from a laptop's bundle.
STEWARD_RECORDS = {"registry_entry", "steward_decision", "approval"}


class UnknownDevice(InvalidBundle):
    message = N_("The bundle comes from a device not seen before (fingerprint %(fingerprint)s). Compare the fingerprint with the interviewer, then accept the device.")


class BadRecordInBundle(InvalidBundle):
    message = N_("Record %(number)d of the bundle (%(kind)s %(id)s) is refused, field “%(field)s”: %(problem)s. Nothing was imported.")
    translated = ("problem",)


class ChangedDeviceKey(InvalidBundle):
    message = N_("The bundle claims to come from a known device, but with a different key. It is refused: someone may be impersonating that laptop.")


@dataclass
class MergeReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    warnings: list = field(default_factory=list)  # (message, params)
    skipped: Optional[str] = None  # why nothing was merged though nothing is wrong (see SKIPPED)


# Bundles that are fine but merge nothing: the same one again, or this laptop's own.
SKIPPED = {
    "imported": N_("Imported already: nothing changed."),
    "own": N_("This is a bundle of this laptop itself: nothing to merge."),
}


def compare(local: dict, incoming: dict) -> str:
    """How two version vectors relate: 'equal', 'newer' (incoming dominates), 'older' or 'concurrent'."""
    if local == incoming:  # most of a re-import: compared in C
        return "equal"
    devices = set(local) | set(incoming)
    ahead = any(incoming.get(d, 0) > local.get(d, 0) for d in devices)
    behind = any(incoming.get(d, 0) < local.get(d, 0) for d in devices)
    return "concurrent" if ahead and behind else "newer" if ahead else "older" if behind else "equal"


def to_record(row: SharedRecord) -> Record:
    """A row as it travels: plain JSON values (dates as ISO text)."""
    fields = {}
    for column in row.__table__.columns:
        if column.name in ("id", "version"):
            continue
        value = getattr(row, column.name)
        fields[column.name] = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value
    return Record(row.__tablename__, row.id, dict(row.version), fields)


def collect(session: Session, interview_ids: Optional[list[str]] = None,
            since: Optional[dt.datetime] = None) -> Iterator:
    """The records to export: everything, or what belongs to the chosen interviews, or what changed
    since a time. A row that cannot be read is yielded as (id, reason), so it never stops the export."""
    wanted = _interview_closure(session, interview_ids) if interview_ids else None
    for name, model in TRAVELLING.items():
        statement = select(model)
        if wanted is not None and name not in ("code", "guide"):
            statement = statement.where(model.id.in_(wanted.get(name, set())))
        try:
            rows = session.exec(statement).all()  # the fast way: the whole table at once
        except Exception:  # some row is damaged: read them one by one to name it
            yield from _one_by_one(session, model, statement)
            continue
        for row in rows:
            if since is None or row.updated_at >= since:
                yield to_record(row)


def _one_by_one(session: Session, model, statement) -> Iterator:
    for row_id in session.exec(statement.with_only_columns(model.id)).all():
        try:
            row = session.get(model, row_id)
            yield to_record(row)
        except Exception as error:  # a damaged row is reported by id; the rest still goes out
            yield (f"{model.__tablename__}/{row_id}", str(error)[:200])


def count_records(session: Session) -> int:
    """How many records an export of everything goes through (for a progress display)."""
    return sum(session.exec(select(func.count()).select_from(model)).one() for model in TRAVELLING.values())


def check_device(session: Session, bundle: Bundle, accept_new: bool = False, as_relay: bool = False) -> Device:
    """The sending device, known with this key; an unknown one only when the coordinator accepts it
    (as a laptop, or as another coordinator whose bundles relay laptops' changes)."""
    key = bundle.manifest["device_public_key"]
    device = session.get(Device, bundle.device_id)
    if device is not None:
        if device.public_key != key:
            raise ChangedDeviceKey()
        return device
    if not accept_new:
        raise UnknownDevice(fingerprint=fingerprint(bundle.public_key))
    device = Device(device_id=bundle.device_id, public_key=key, fingerprint=fingerprint(bundle.public_key),
                    relay=as_relay)
    session.add(device)
    session.flush()
    return device


def import_bundle(session: Session, bundle: Bundle, accept_new_device: bool = False,
                  own_device: Optional[str] = None, as_relay: bool = False) -> MergeReport:
    """Merge a verified bundle's records into the vault (the caller's transaction makes it all or nothing).
    A bundle imported already, or this laptop's own, merges nothing and says so."""
    if bundle.device_id == own_device:
        return MergeReport(skipped="own")
    device = check_device(session, bundle, accept_new_device, as_relay)
    _check_identities(bundle)
    report = MergeReport()
    if _check_sequence(session, bundle, report):
        return MergeReport(skipped="imported")
    if bundle.records_known:  # the same records as a bundle merged before: they change nothing now either
        report.unchanged = sum(bundle.manifest["counts"].values())
        complete = True
    else:
        complete = _apply_records(session, bundle, device, report) and not bundle.attachments
        _absorb_audio(session, bundle)
    session.add(ReceivedBundle(bundle_id=bundle.manifest["bundle_id"], device_id=bundle.device_id,
                               sequence=bundle.manifest["sequence"], sha256=bundle.file_sha256,
                               manifest_sha256=bundle.manifest_sha256,
                               previous_sha256=bundle.manifest.get("previous_sha256"),
                               records_key=bundle.records_key if complete else None))
    session.add(AuditEvent(action="bundle.import", origin_device="", detail={
        "bundle_id": bundle.manifest["bundle_id"], "device_id": bundle.device_id, "added": report.added,
        "updated": report.updated, "conflicts": report.conflicts}))
    return report


def _apply_records(session: Session, bundle: Bundle, device: Device, report: MergeReport) -> bool:
    """Apply the bundle's records, table by table; False if some were not applied (a steward's records
    from a device that is not a coordinator)."""
    numbers = {id(record): number for number, record in enumerate(bundle.records, start=1)}
    by_type, not_applied = {}, 0
    for record in _parents_first(bundle.records):
        if record.type in STEWARD_RECORDS and not device.relay:
            not_applied += 1
            continue
        by_type.setdefault(record.type, []).append(record)
    if not_applied:
        report.warnings.append((N_("%(count)d records of the data steward (registry, decisions, approvals) were not applied: they count only from a coordinator's vault."),
                                {"count": not_applied}))
    for kind, records in by_type.items():  # a few queries and one executemany per table, parents first
        model = TRAVELLING[kind]
        table = model.__table__
        known = _versions(session, table, records)
        if not device.relay:
            _check_counters(bundle, records, known)
        new = [record for record in records if record.id not in known]
        # Only records that may change anything are read whole: importing the same records again is cheap.
        moving = [record for record in records if record.id in known
                  and compare(known[record.id], record.version) in ("newer", "concurrent")]
        report.unchanged += len(records) - len(new) - len(moving)
        for record in new + moving:  # what is applied has passed every check
            _check_fields(bundle, numbers[id(record)], record)
        rows = {row.id: row for row in session.exec(select(model).where(model.id.in_([r.id for r in moving])))} if moving else {}
        for record in moving:
            _merge_one(session, rows[record.id], record, bundle, report)
        report.added += len(new)
        try:
            if new:
                _insert(session, model, new)
            session.flush()
        except IntegrityError as error:
            raise InvalidBundle(N_("Records of kind %(kind)s refer to something neither the bundle nor this vault has."),
                                kind=kind) from error
    return not not_applied


class ForgedCounter(InvalidBundle):
    message = N_("A record of kind %(kind)s raises the change counter of another device beyond what this vault knows: a laptop can only count its own changes. The bundle is refused as forged (if it comes from another coordinator, accept that device as a coordinator).")


def _check_counters(bundle: Bundle, records: list[Record], known: dict) -> None:
    """A device may advance only its own counter: every other device's counter in an incoming record
    must be one this vault has already (from that device's own bundles, or from a relay). `known`: the
    version vectors this vault holds, by record id."""
    for record in records:
        local = known.get(record.id, {})
        for other, counter in record.version.items():
            if other != bundle.device_id and counter > local.get(other, 0):
                raise ForgedCounter(kind=record.type)


def check_records(bundle: Bundle, session: Session) -> None:
    """Every record of a verified bundle against the rules derived from the models (record_check.py):
    the kind, id and version vector of each, and its fields — all of them at once by the compiled
    checks, or, where those refuse, one by one to name what is wrong. Then the fields of records the
    vault holds at the same or a newer version are spared: they change nothing. import_bundle checks
    whatever it applies in any case."""
    _check_identities(bundle)
    if _all_fine(bundle):
        bundle.checked.add(EVERY_RECORD)
        return
    held = _held_versions(session, bundle)
    for number, record in enumerate(bundle.records, start=1):
        if record.id not in held or compare(held[record.id], record.version) in ("newer", "concurrent"):
            _check_fields(bundle, number, record)


def _all_fine(bundle: Bundle) -> bool:
    """Whether every record passes the compiled checks, a kind at a time (False: check them one by one)."""
    return all(record_check.records_fine(TRAVELLING[kind], [record.fields for record in records])
               for kind, records in _by_kind(bundle.records).items())


def _by_kind(records: list[Record]) -> dict[str, list[Record]]:
    by_kind: dict[str, list] = {}
    for record in records:
        by_kind.setdefault(record.type, []).append(record)
    return by_kind


# Marks in Bundle.checked beside record numbers (from 1): every record's identity, every record.
EVERY_IDENTITY, EVERY_RECORD = 0, -1


def _check_identities(bundle: Bundle) -> None:
    if EVERY_IDENTITY in bundle.checked:
        return
    records = bundle.records
    all_fine = all(record.type in TRAVELLING for record in records) and record_check.identities_fine(
        [record.id for record in records], [record.version for record in records], [record.fields for record in records])
    for number, record in enumerate([] if all_fine else records, start=1):  # one by one to name what is wrong
        if record.type not in TRAVELLING:
            raise InvalidBundle(N_("The bundle contains records of an unknown kind: %(kind)s"), kind=record.type[:50])
        _refuse_bad(number, record, lambda: record_check.check_identity(record.id, record.version, record.fields))
    _check_attachments(bundle)
    bundle.checked.add(EVERY_IDENTITY)


def _check_attachments(bundle: Bundle) -> None:
    """Attachments are the audio of the bundle's recordings, each exactly as long as its record says."""
    expected = {attachment_name(record): record for record in bundle.records if record.type == "recording"}
    for name in bundle.attachments:
        if name not in expected:
            raise InvalidBundle(N_("The bundle contains a file the manifest does not name: %(name)s"), name=name[:200])
    for name, record in expected.items():
        size = record.fields.get("size")
        if len(bundle.attachments.get(name, b"")) != (size if type(size) is int else -1):
            raise InvalidBundle(N_("The audio of recording %(id)s is missing from the bundle or incomplete."), id=record.id[:40])


def _absorb_audio(session: Session, bundle: Bundle) -> None:
    """Each recording's audio into the vault, after the recordings themselves; only where the interview's
    consent covers recording."""
    for record in bundle.records:
        content = bundle.attachments.get(attachment_name(record)) if record.type == "recording" else None
        if not content:
            continue
        interview = session.get(Interview, session.get(Recording, record.id).interview_id)
        if not audio.consents_to_recording(interview):
            raise InvalidBundle(N_("The bundle holds audio of an interview whose consent does not cover a recording."))
        try:
            audio.absorb(session, record.id, content)
        except audio.AudioError as error:
            raise InvalidBundle(error.message, **error.params) from error


def _check_fields(bundle: Bundle, number: int, record: Record) -> None:
    if EVERY_RECORD not in bundle.checked and number not in bundle.checked:
        _refuse_bad(number, record, lambda: record_check.check_fields(TRAVELLING[record.type], record.fields))
        bundle.checked.add(number)


def _refuse_bad(number: int, record: Record, check) -> None:
    try:
        check()
    except record_check.BadRecord as bad:
        raise BadRecordInBundle(number=number, kind=record.type, id=str(record.id)[:40], field=bad.field[:60],
                                problem=bad.message, **bad.params) from None


def _held_versions(session: Session, bundle: Bundle) -> dict:
    """The version vectors this vault holds of the bundle's records, by id."""
    held = {}
    for kind, records in _by_kind(bundle.records).items():
        held.update(_versions(session, TRAVELLING[kind].__table__, records))
    return held


def _versions(session: Session, table, records: list[Record]) -> dict:
    """id → version vector of the rows of a table that hold these records. A merge reads one per record in
    one statement: the records' own vectors go in as one JSON object, and where the vault holds the same
    text (as a merge stores it: orjson's, which is SQLite's minified JSON too), the record's own vector
    comes back without being parsed — importing the same records again is mostly that."""
    incoming = {record.id: record.version for record in records}
    driver = session.connection().connection.driver_connection  # the session's transaction; rows fetched in C
    rows = driver.execute(
        f'SELECT held.id, CASE WHEN held.version = sent.value THEN NULL ELSE held.version END '
        f'FROM json_each(?) AS sent JOIN "{table.name}" AS held ON held.id = sent.key', (_json_text(incoming),)).fetchall()
    return {row_id: incoming[row_id] if version is None else orjson.loads(version) for row_id, version in rows}


# A merge writes bundles in transactions of up to about this long: one commit for many bundles spares
# writing again the pages they share (a third of a large merge's time went to a commit per bundle), and
# the bound keeps an autosave's wait for the write lock well within its busy timeout. A bundle larger than
# LARGE_BUNDLE bytes is read and checked before the lock is taken (75,000 records take seconds) and
# written in a transaction of its own.
TRANSACTION_SECONDS = 1.0
LARGE_BUNDLE = 2 * 2**20
# The merge's connection keeps the pages it changes in memory, up to this much (SQLite's default is
# 2 MiB), so that they are written once, at the commit, not spilled to the log and written again.
CACHE_KIB = 16 * 1024


def merge_files(engine, files: Iterable[tuple[str, bytes]], identities: list[str], accepted_fingerprints,
                own_device: Optional[str] = None, relay_fingerprints=()) -> list[tuple[str, object]]:
    """Read, verify and import bundle files (name, content), each in a savepoint of a transaction:
    wholly or not at all, a refused one leaving the others merged. Returns per file its MergeReport or
    the InvalidBundle that refused it (logged with its reason; a device waiting to be accepted,
    UnknownDevice, is not logged)."""
    relays = {" ".join(shown.split()) for shown in relay_fingerprints}
    accepted = {" ".join(shown.split()) for shown in accepted_fingerprints} | relays
    with _Merging(engine, identities, accepted, relays, own_device) as merging:
        return [(name, merging.merge(name, data)) for name, data in files]


def merge_file(engine, file_name: str, data: bytes, identities: list[str], accepted_fingerprints,
               own_device: Optional[str] = None, relay_fingerprints=()) -> MergeReport:
    """One bundle file as merge_files merges it; a refusal is raised."""
    [(_, outcome)] = merge_files(engine, [(file_name, data)], identities, accepted_fingerprints, own_device,
                                 relay_fingerprints)
    if isinstance(outcome, InvalidBundle):
        raise outcome
    return outcome


class _Merging:
    """A merge's write transactions: small bundles share one, a large one has its own (see LARGE_BUNDLE)."""

    def __init__(self, engine, identities: list[str], accepted: set, relays: set, own_device: Optional[str]):
        self.engine, self.identities, self.own_device = engine, identities, own_device
        self.accepted, self.relays = accepted, relays
        self.transaction, self.session, self.started = None, None, 0.0

    def __enter__(self) -> "_Merging":
        return self

    def __exit__(self, *failure) -> None:
        self._end(*failure)

    def merge(self, name: str, data: bytes):
        large = len(data) > LARGE_BUNDLE
        if large:
            self._end()
            read = self._read_unlocked(data)
        session = self._session()
        try:
            with _cycle_collector_paused(), session.begin_nested():
                bundle = read if large else read_for(session, data, self.identities)
                if isinstance(bundle, InvalidBundle):
                    raise bundle
                if not large:
                    check_records(bundle, session)
                shown = fingerprint(bundle.public_key)
                report = import_bundle(session, bundle, shown in self.accepted, self.own_device, shown in self.relays)
                _flushed(session)
        except InvalidBundle as refused:
            session.expire_all()  # what the savepoint's rollback undid is read again, not taken from the session
            if not isinstance(refused, UnknownDevice):
                log_refusal(session, name, refused)
            return _without_frames(refused)
        if large or time.monotonic() - self.started > TRANSACTION_SECONDS:
            self._end()
        return report

    def _read_unlocked(self, data: bytes):
        """A bundle read and checked against the vault as committed, before the write lock is taken."""
        with Session(self.engine) as reading, _cycle_collector_paused():
            try:
                bundle = read_for(reading, data, self.identities)
                check_records(bundle, reading)
                return bundle
            except InvalidBundle as refused:
                return refused

    def _session(self) -> Session:
        if self.transaction is None:
            self.transaction = ExitStack()
            self.session = self.transaction.enter_context(db.writing(self.engine))
            self.transaction.enter_context(_cache_of(self.session, CACHE_KIB))
            self.started = time.monotonic()
        return self.session

    def _end(self, *failure) -> None:
        """Commit the open transaction, or roll it back if `failure` (an exception's type, value, traceback)."""
        if self.transaction is not None:
            transaction, self.transaction = self.transaction, None
            transaction.__exit__(*(failure or (None, None, None)))


class BundleContradictsVault(InvalidBundle):
    message = N_("The bundle contradicts what this vault holds (%(problem)s): possible tampering. Nothing of it was imported.")


def _flushed(session: Session) -> None:
    """Write what the session holds now, inside the bundle's savepoint, so that a record or bundle id the
    vault holds already refuses this bundle rather than the whole transaction."""
    try:
        session.flush()
    except IntegrityError as error:
        raise BundleContradictsVault(problem=str(error.orig).split(":")[0][:80]) from None


def _without_frames(error: InvalidBundle) -> InvalidBundle:
    """The error as a result to keep: without its traceback and causes, which hold the bundle's bytes and records."""
    error.__traceback__ = error.__cause__ = error.__context__ = None
    return error


@contextmanager
def _cache_of(session: Session, kib: int):
    """The session's connection with a page cache of this size for a while (dirty pages stay until the commit)."""
    connection = session.connection()
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = {-kib}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def read_for(session: Session, data: bytes, identities: list[str]) -> Bundle:
    """Read a bundle to merge it into the vault of `session`: records it merged whole before are not read again."""
    return read_bundle(data, identities, known=lambda device, key: _merged_before(session, device, key))


def _merged_before(session: Session, device_id: str, key: str) -> bool:
    """Whether a bundle of this device with these records and counts was merged whole before, and none
    of the device's conflicts is open. Its records then change nothing now: version vectors only grow,
    so the vault holds each at the same or a newer version, or held it in a conflict that has since
    been resolved by a version dominating both. A bundle with records left out (a steward's, from a
    laptop) or with audio beside them has no key and is read again, as is any while a conflict from the
    device waits (reading it would report the conflict again, or join versions the coordinator has
    made equal)."""
    same = select(ReceivedBundle.bundle_id).where(ReceivedBundle.device_id == device_id, ReceivedBundle.records_key == key)
    waiting = select(Conflict.id).join(ReceivedBundle, ReceivedBundle.bundle_id == Conflict.bundle_id).where(
        ReceivedBundle.device_id == device_id, Conflict.resolved == False)  # noqa: E712
    return bool(session.exec(select(exists(same) & ~exists(waiting))).one())


@contextmanager
def _cycle_collector_paused():
    """A bundle's records are plain JSON, free of reference cycles, and all live until it is merged: the
    cycle collector, run after every 700 new objects, walked them again and again (a sixth of a merge,
    a fifth of importing the same records again). Reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def log_refusal(session: Session, file_name: str, error: InvalidBundle) -> None:
    """Note a refused bundle and why in the audit log (after its savepoint was rolled back)."""
    reason = error.message % error.params if error.params else error.message
    session.add(AuditEvent(action="bundle.refused", origin_device="", detail={"file": file_name, "reason": reason}))


def _merge_one(session: Session, local: SharedRecord, record: Record, bundle: Bundle, report: MergeReport) -> None:
    relation = compare(local.version, record.version)
    if relation == "newer":
        _apply(local, record)
        report.updated += 1
    elif relation == "concurrent" and _same_content(local, record):
        local.version = _joined(local.version, record.version)  # e.g. a shipped guide on two laptops
        session.add(local)
        report.unchanged += 1
    elif relation == "concurrent":
        _record_conflict(session, local, record, bundle, report)
    else:
        report.unchanged += 1


def _check_sequence(session: Session, bundle: Bundle, report: MergeReport) -> bool:
    """Place the bundle in its device's chain: True if it was imported already. The same number with
    other content is a tamper alarm, and so is a link to a predecessor (or from a successor) that does
    not match; bundles not yet received are reported."""
    sequence = bundle.manifest["sequence"]
    neighbours = {row.sequence: row for row in session.exec(select(ReceivedBundle).where(
        ReceivedBundle.device_id == bundle.device_id, ReceivedBundle.sequence.in_([sequence - 1, sequence, sequence + 1])))}
    same = neighbours.get(sequence)
    taken = session.get(ReceivedBundle, bundle.manifest["bundle_id"])
    if taken is not None and taken is not same:
        raise InvalidBundle(N_("The bundle has the id of another bundle imported before: possible tampering."))
    if same is not None:
        if bundle.manifest_sha256 == same.manifest_sha256 or bundle.file_sha256 == same.sha256:
            return True
        raise InvalidBundle(N_("Bundle number %(sequence)d of this device was already imported with other content: possible tampering."), sequence=sequence)
    before, after = neighbours.get(sequence - 1), neighbours.get(sequence + 1)
    if before is not None and bundle.manifest["previous_sha256"] not in (before.manifest_sha256, before.sha256):
        raise InvalidBundle(N_("Bundle number %(sequence)d does not follow the bundle before it that was imported: possible tampering."), sequence=sequence)
    if after is not None and after.previous_sha256 not in (bundle.manifest_sha256, bundle.file_sha256):
        raise InvalidBundle(N_("Bundle number %(sequence)d is not the one the next bundle follows: possible tampering."), sequence=sequence)
    received = session.exec(select(func.count()).select_from(ReceivedBundle).where(
        ReceivedBundle.device_id == bundle.device_id, ReceivedBundle.sequence < sequence)).one()
    if received < sequence - 1:
        known = set(session.exec(select(ReceivedBundle.sequence).where(ReceivedBundle.device_id == bundle.device_id,
                                                                        ReceivedBundle.sequence < sequence)))
        missing = [number for number in range(1, min(sequence, 10_000)) if number not in known][:20]
        report.warnings.append((N_("Bundles %(numbers)s of this device have not been imported yet."),
                                {"numbers": ", ".join(map(str, missing))}))
    return False


def _parents_first(records: list[Record]) -> list[Record]:
    """Tables in dependency order; top-level codes before their sub-codes."""
    order = {name: index for index, name in enumerate(TRAVELLING)}
    return sorted(records, key=lambda r: (order.get(r.type, len(order)), r.fields.get("parent_id") is not None))


def _insert(session: Session, model, records: list[Record]) -> None:
    """New records in one executemany through the driver, each value converted once to what SQLite holds
    (as the ORM stores it: tests/test_bundle.py compares the raw rows); SQLAlchemy's per-value
    parameter handling, most of a large merge's time, is skipped."""
    sql, columns = _insert_plan(model, session.get_bind().dialect)
    template = model(id="")  # the model's defaults, times among them, built now (once per table)
    given = [record.fields for record in records]
    values = [[record.id for record in records], [_json_text(record.version) for record in records]]
    for name, convert, stored in columns:  # column by column: a loop per column instead of a call per value
        default = stored(getattr(template, name)) if stored else getattr(template, name)
        values.append([convert(fields[name]) if name in fields else default for fields in given] if convert
                      else [fields.get(name, default) for fields in given])
    session.connection().exec_driver_sql(sql, list(zip(*values)))


@lru_cache(maxsize=None)
def _insert_plan(model, dialect) -> tuple[str, list]:
    """The INSERT of a record (id, version, then every other column) and, per other column: (name, value as
    it travels → value as stored or None if the same, the column's own bind processor for its default)."""
    table = model.__table__
    columns = [(column.name, _storer(column), column.type._cached_bind_processor(dialect))
               for column in table.columns if column.name not in ("id", "version")]
    quote = dialect.identifier_preparer.quote
    names = ["id", "version", *(name for name, _, _ in columns)]
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) "
           f"VALUES ({', '.join('?' for _ in names)})")
    return sql, columns


def _storer(column):
    """value as it travels → value as SQLite holds it, for one column (None: stored as it is)."""
    kind = getattr(column.type, "impl", column.type)
    if isinstance(kind, DateTime):
        return _stored_time
    if isinstance(kind, Date):
        return lambda value: None if value is None else dt.date.fromisoformat(value).isoformat()
    if isinstance(kind, JSON):
        return _json_text
    if isinstance(kind, Boolean):
        return lambda value: None if value is None else int(value)
    return None  # text and numbers


def _apply(row: SharedRecord, record: Record) -> None:
    for column in row.__table__.columns:
        if column.name in record.fields and column.name not in ("id", "version"):
            setattr(row, column.name, _from_json(column, record.fields[column.name]))
    row.version = dict(record.version)


def _from_json(column, value):
    """A field back from JSON: dates and times come as ISO text."""
    read = _reader(column)
    return read(value) if read else value


@lru_cache(maxsize=None)
def _reader(column):
    """How a value as it travels becomes the column's Python value (None: as it is), chosen once per column."""
    try:
        kind = getattr(column.type, "impl", column.type).python_type  # a TypeDecorator names its own type "object"
    except NotImplementedError:
        return None
    if kind is dt.datetime:
        return _time
    if kind is dt.date:
        return lambda value: dt.date.fromisoformat(value) if isinstance(value, str) else value
    return None


def _json_text(value) -> str:
    """JSON as stored: orjson's compact text, which SQLAlchemy's JSON columns read like json.dumps's
    (json.dumps for what orjson cannot write, an integer beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _stored_time(value):
    """An ISO time (checked already) as SQLAlchemy stores it in SQLite: "2026-12-04 18:05:32.000000", in UTC.
    Times as fieldkit writes them (in UTC, with or without microseconds) need only characters moved."""
    if value is None:
        return None
    plain = _UTC_TIME.fullmatch(value)
    if plain:
        return f"{plain[1]} {plain[2]}{plain[3] or '.000000'}"
    return db.stored_time(_time(value))


_UTC_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{6})?(?:\+00:00)?")


def _time(value):
    """A time in UTC, as this vault keeps them (SQLite stores no offset)."""
    if not isinstance(value, str):
        return value
    parsed = dt.datetime.fromisoformat(value)
    return parsed.astimezone(dt.timezone.utc) if parsed.tzinfo else parsed


# Bookkeeping that differs between two devices creating the same content.
_BOOKKEEPING = {"created_at", "updated_at", "origin_device"}


def _same_content(local: SharedRecord, record: Record) -> bool:
    mine = to_record(local).fields
    return all(mine.get(k) == v for k, v in record.fields.items() if k not in _BOOKKEEPING)


def _joined(first: dict, second: dict) -> dict:
    """The smallest version vector that dominates both."""
    return {device: max(first.get(device, 0), second.get(device, 0)) for device in set(first) | set(second)}


def _record_conflict(session: Session, local: SharedRecord, record: Record, bundle: Bundle, report: MergeReport) -> None:
    session.add(Conflict(record_type=record.type, record_id=record.id, local_version=dict(local.version),
                         incoming_version=record.version, incoming_fields=record.fields,
                         bundle_id=bundle.manifest["bundle_id"], created_at=utcnow()))
    report.conflicts += 1


def _interview_closure(session: Session, interview_ids: list[str]) -> dict[str, set]:
    """The ids of everything that belongs to the chosen interviews, by table."""
    ids = {name: set() for name in TRAVELLING}
    for interview in session.exec(select(Interview).where(Interview.id.in_(interview_ids))):
        ids["interview"].add(interview.id)
        ids["organisation"].add(interview.organisation_id)
    chosen = ids["interview"]
    for model in (Answer, Transcript, Quote, NetworkMap, Recording):
        ids[model.__tablename__] |= set(session.exec(select(model.id).where(model.interview_id.in_(chosen))))
    ids["quote_code"] |= set(session.exec(select(QuoteCode.id).where(QuoteCode.quote_id.in_(ids["quote"]))))
    for model in (Alter, Tie, MapEvent, QuoteLink):
        ids[model.__tablename__] |= set(session.exec(select(model.id).where(model.map_id.in_(ids["network_map"]))))
    return ids


def export(session: Session, device_id: str, signing_key: bytes, recipients: list[str], app_version: str,
           interview_ids: Optional[list[str]] = None, changed_only: bool = False,
           progress=lambda done: None):
    """Write the next bundle of this device: everything, chosen interviews, or what changed since the
    last export. Advances the device's bundle sequence (a local setting) inside the caller's transaction."""
    state = get_setting(session, "bundle_state", {"sequence": 0, "sha256": None, "exported_at": None})
    since = dt.datetime.fromisoformat(state["exported_at"]) if changed_only and state["exported_at"] else None
    started = utcnow()
    # The predecessor is named by its manifest's hash; a laptop whose last bundle predates that names
    # the file's hash, which readers accept as well.
    previous = state.get("manifest_sha256") or state["sha256"]
    written = write_bundle(collect(session, interview_ids, since), device_id, signing_key, recipients,
                           state["sequence"] + 1, previous, app_version, now=started, progress=progress,
                           attach=lambda record: _audio_of(session, record))
    set_setting(session, "bundle_state", {"sequence": state["sequence"] + 1, "exported_at": started.isoformat(),
                                          "sha256": hashlib.sha256(written.data).hexdigest(),
                                          "manifest_sha256": written.manifest_sha256})
    return written


def _audio_of(session: Session, record: Record) -> Optional[bytes]:
    """A recording's audio travels beside its record, as much as the record counts."""
    if record.type != "recording" or not record.fields["size"]:
        return None
    return audio.read(session, session.get(Recording, record.id), 0, record.fields["size"])


def bundle_file_name(device_id: str, sequence: int, today: dt.date) -> str:
    """The default name of an exported bundle: the device, the day and the number, so bundles of many
    laptops can lie in one folder."""
    return f"fieldkit-{device_id[:8]}-{today.isoformat()}-{sequence:03d}.fkb"


class ConflictError(UserError):
    message = N_("This conflict cannot be resolved that way.")


def open_conflicts(session: Session) -> list[Conflict]:
    return list(session.exec(select(Conflict).where(Conflict.resolved == False).order_by(Conflict.created_at)))  # noqa: E712


def differences(session: Session, conflict: Conflict) -> list[tuple[str, object, object]]:
    """The fields where this vault's record and the incoming one differ: (field, local, incoming)."""
    local = to_record(session.get(TRAVELLING[conflict.record_type], conflict.record_id)).fields
    return [(name, local.get(name), value) for name, value in sorted(conflict.incoming_fields.items())
            if name not in _BOOKKEEPING | {"updated_at"} and value != local.get(name)]


def resolve(session: Session, device_id: str, conflict: Conflict, keep: str, edits: Optional[dict] = None) -> SharedRecord:
    """Settle a conflict by keeping the local or the incoming record, or the local one with edited text
    fields (`edits`, for fields where the two differ). The result's version vector dominates both
    sides, so it wins wherever either of them travels next."""
    model = TRAVELLING.get(conflict.record_type)
    row = session.get(model, conflict.record_id) if model else None
    if conflict.resolved or row is None or keep not in ("local", "incoming", "edited"):
        raise ConflictError()
    merged = _joined(row.version, conflict.incoming_version)
    if keep == "incoming":
        _apply(row, Record(conflict.record_type, conflict.record_id, merged, conflict.incoming_fields))
    if keep == "edited":
        editable = {name for name, mine, theirs in differences(session, conflict)
                    if isinstance(mine, str) and isinstance(theirs, str)}
        if not edits or not set(edits) <= editable:
            raise ConflictError()
        for name, value in edits.items():
            setattr(row, name, value)
    row.version = merged
    row.touch(device_id)
    session.add(row)
    conflict.resolved = True
    session.add(conflict)
    session.add(AuditEvent(action="conflict.resolve", origin_device=device_id,
                           detail={"conflict": conflict.id, "record": f"{conflict.record_type}/{conflict.record_id}", "kept": keep}))
    session.flush()
    return row


def coordinator_recipients(session: Session, recovery_recipients) -> list[str]:
    """Whom bundles are encrypted to: the recovery keys the vault was set up with and the imported ones."""
    return list(dict.fromkeys([*recovery_recipients, *get_setting(session, "coordinator_recipients", [])]))


def add_coordinator_recipient(session: Session, recipient: str) -> None:
    known = get_setting(session, "coordinator_recipients", [])
    if recipient not in known:
        set_setting(session, "coordinator_recipients", [*known, recipient])


def recipient_fingerprint(recipient: str) -> str:
    """What a coordinator reads out to confirm a key: SHA-256 of the age1… text, grouped like device fingerprints."""
    return fingerprint(recipient.encode())

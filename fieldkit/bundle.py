"""Export bundles (DESIGN.md §6, docs/bundle-format.md): an age file to the coordinators whose
plaintext is a ZIP of a signed manifest and the records, one JSON object a line.

Writing and reading mirror the spec. Every failure to read is one InvalidBundle with the reason;
nothing of a bundle is trusted before its signature and every member hash were checked.
"""
import base64
import datetime as dt
import hashlib
import io
import json
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Callable, Iterable, Optional

import orjson
import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import untrusted
from .errors import UserError
from .i18n import N_

FORMAT = "fieldkit-bundle/1"
MANIFEST, SIGNATURE, RECORDS = "manifest.json", "manifest.sig", "records.jsonl"
DEFAULT_MAX_EXPANDED = 512 * 1024 * 1024  # bytes a bundle may unpack to
MAX_MANIFEST = 1024 * 1024  # bytes of manifest.json
MAX_SEQUENCE = 2**31 - 1
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # members carry no time, so the same content gives the same archive


class InvalidBundle(UserError):
    message = N_("The bundle cannot be imported.")


@dataclass
class Record:
    """One record as it travels: its type (table), id, version vector and fields in clear."""

    type: str
    id: str
    version: dict
    fields: dict

    def to_line(self) -> bytes:
        return json.dumps({"type": self.type, "id": self.id, "version": self.version, "fields": self.fields},
                          ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"


@dataclass
class Bundle:
    """A verified bundle: who sent it, its place in the device's sequence, its records."""

    manifest: dict
    records: list[Record]
    manifest_sha256: str  # of the signed manifest: the bundle's identity, as the next one's previous_sha256 names it
    file_sha256: str  # of the age file as it arrived (one content can be encrypted many times)
    checked: set = field(default_factory=set)  # numbers of the records merge's checks passed (and its marks)
    attachments: dict = field(default_factory=dict)  # member name → bytes (verified against the manifest)
    records_key: Optional[str] = None  # see records_key(); None where the counts are not a count per kind
    records_known: bool = False  # its records are those of a bundle of the device merged before: not read again

    @property
    def device_id(self) -> str:
        return self.manifest["device_id"]

    @property
    def public_key(self) -> bytes:
        return base64.b64decode(self.manifest["device_public_key"])


@dataclass
class Written:
    data: bytes
    manifest: dict
    manifest_sha256: str
    skipped: list = field(default_factory=list)  # (record id, reason) that could not be exported


def attachment_name(record: Record) -> str:
    """Where a record's attachment (a recording's audio) lies in the archive."""
    return f"attachments/{record.type}/{record.id}"


def write_bundle(records: Iterable, device_id: str, signing_key: bytes, recipients: list[str], sequence: int,
                 previous_sha256: Optional[str], app_version: str, now: Optional[dt.datetime] = None,
                 progress: Callable[[int], None] = lambda done: None, bundle_id: Optional[str] = None,
                 attach: Callable[[Record], Optional[bytes]] = lambda record: None,
                 max_size: int = DEFAULT_MAX_EXPANDED) -> Written:
    """Build, sign and encrypt a bundle. `records` yields Record objects or (record id, error) pairs for
    records that could not be read; those are reported in `skipped` and the rest is exported. `attach`
    gives a record's attachment, if it has one."""
    if not recipients:
        raise InvalidBundle(N_("No coordinator key is known, so nothing can be encrypted for the coordination."))
    archive, manifest, skipped = build_archive(records, device_id, signing_key, sequence, previous_sha256, app_version,
                                               now, progress, bundle_id, attach, max_size)
    encrypted = pyrage.encrypt(archive, [pyrage.x25519.Recipient.from_str(r) for r in recipients])
    return Written(encrypted, json.loads(manifest), hashlib.sha256(manifest).hexdigest(), skipped)


def build_archive(records: Iterable, device_id: str, signing_key: bytes, sequence: int, previous_sha256: Optional[str],
                  app_version: str, now: Optional[dt.datetime] = None, progress: Callable[[int], None] = lambda done: None,
                  bundle_id: Optional[str] = None, attach: Callable[[Record], Optional[bytes]] = lambda record: None,
                  max_size: int = DEFAULT_MAX_EXPANDED) -> tuple[bytes, bytes, list]:
    """The signed ZIP before encryption: (archive, manifest bytes, skipped records). Deterministic for
    the same inputs, which the spec's test vectors rely on."""
    lines, counts, skipped, attached, attached_bytes = io.BytesIO(), {}, [], {}, 0
    for number, record in enumerate(records, start=1):
        if isinstance(record, Record):
            lines.write(record.to_line())
            counts[record.type] = counts.get(record.type, 0) + 1
            content = attach(record)
            if content is not None:
                attached[attachment_name(record)] = content
                attached_bytes += len(content)
                _check_size(lines.tell() + attached_bytes, max_size)  # before reading more audio
        else:
            skipped.append(record)
        progress(number)
    payload = lines.getvalue()
    _check_size(len(payload) + attached_bytes, max_size)
    private = Ed25519PrivateKey.from_private_bytes(signing_key)
    manifest = {
        "format": FORMAT, "bundle_id": bundle_id or str(uuid.uuid4()), "device_id": device_id,
        "device_public_key": base64.b64encode(private.public_key().public_bytes_raw()).decode(),
        "created": (now or dt.datetime.now(dt.timezone.utc)).isoformat(), "app_version": app_version,
        "sequence": sequence, "previous_sha256": previous_sha256,
        "members": {name: {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
                    for name, content in {RECORDS: payload, **attached}.items()},
        "counts": counts,
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, indent=1).encode()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, content in ((MANIFEST, manifest_bytes), (SIGNATURE, private.sign(manifest_bytes)), (RECORDS, payload)):
            zipped.writestr(zipfile.ZipInfo(name, ZIP_TIME), content, compress_type=zipfile.ZIP_DEFLATED)
        for name, content in attached.items():  # audio is compressed already
            zipped.writestr(zipfile.ZipInfo(name, ZIP_TIME), content, compress_type=zipfile.ZIP_STORED)
    return archive.getvalue(), manifest_bytes, skipped


def _check_size(size: int, max_size: int) -> None:
    """A bundle the reader would refuse as too large is refused while it is written, saying what to do."""
    if size > max_size:
        raise InvalidBundle(N_("This bundle would unpack to more than the %(limit)d MB a coordinator reads at once (recordings take much room). Export the interviews in parts, or only what changed since the last export."),
                            limit=max_size // 2**20)


def read_bundle(data: bytes, identities: list[str], max_expanded: int = DEFAULT_MAX_EXPANDED,
                known: Optional[Callable[[str, str], bool]] = None) -> Bundle:
    """Decrypt, check the archive, verify the signature, then inflate and verify exactly the members the
    manifest lists, and parse the records — unless `known(device_id, records_key)` says that the
    device's records, with these counts, were merged whole before (a bundle with nothing but records).
    Whether the device and its key are known is the caller's check (see merge.check_device)."""
    archive = _decrypt(data, identities)
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            names = _member_names(zipped)
            for required in (MANIFEST, SIGNATURE):
                if required not in names:
                    raise InvalidBundle(N_("The bundle lacks its %(member)s."), member=required)
            manifest_bytes = _inflate(zipped, MANIFEST, MAX_MANIFEST)
            manifest = _verified_manifest(manifest_bytes, _inflate(zipped, SIGNATURE, 1024))
            listed = manifest["members"]
            _check_listed(names, listed, max_expanded)
            # No member may unpack beyond the size the signed manifest gives it: a bomb stops at once.
            payloads = {name: _inflate_member(zipped, name, entry["size"]) for name, entry in listed.items()}
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError, OSError) as error:
        raise InvalidBundle(N_("The bundle is damaged or truncated: %(problem)s"), problem=type(error).__name__) from error
    for name, entry in listed.items():
        if hashlib.sha256(payloads[name]).hexdigest() != entry["sha256"] or len(payloads[name]) != entry["size"]:
            raise InvalidBundle(N_("%(member)s was changed after the bundle was signed."), member=name[:200])
    identity = hashlib.sha256(manifest_bytes).hexdigest(), hashlib.sha256(data).hexdigest()
    key = records_key(manifest)
    if known is not None and key and list(listed) == [RECORDS] and known(manifest["device_id"], key):
        return Bundle(manifest, [], *identity, records_key=key, records_known=True)
    records = _parse_records(payloads.pop(RECORDS))
    _check_counts(manifest, records)
    return Bundle(manifest, records, *identity, attachments=payloads, records_key=key)


def records_key(manifest: dict) -> Optional[str]:
    """The records' hash with the counts the manifest gives them and the fieldkit that checks them: two
    bundles with the same key hold the same records, checked against the same counts by the same rules.
    None where the counts are not a plain count per kind (they are then checked in full)."""
    from . import __version__

    counts = manifest.get("counts")
    if not isinstance(counts, dict) or not all(type(number) is int for number in counts.values()):
        return None
    text = json.dumps(counts, sort_keys=True)
    return hashlib.sha256(f"{__version__} {manifest['members'][RECORDS]['sha256']} {text}".encode()).hexdigest()


class KeyFileError(InvalidBundle):
    message = N_("The key file contains no age secret key (a line AGE-SECRET-KEY-…). Choose the coordinator's key file, e.g. coordinator.key.")


MAX_KEY_FILE = 64 * 1024


def identity_lines(text: str) -> list[str]:
    """The AGE-SECRET-KEY lines of an identity file."""
    return [line.strip() for line in text.splitlines() if line.strip().upper().startswith("AGE-SECRET-KEY-")]


def coordinator_identities(data: bytes) -> list[str]:
    """The secret keys of a coordinator's key file, or a KeyFileError that says what the file is instead."""
    try:
        text = data[:MAX_KEY_FILE + 1].decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise KeyFileError(N_("The key file is not a text file. Choose the coordinator's key file (e.g. coordinator.key), which holds a line AGE-SECRET-KEY-….")) from error
    identities = identity_lines(text) if len(text) <= MAX_KEY_FILE else []
    if not identities and "age1" in text:
        raise KeyFileError(N_("This is a public key (age1…). Merging needs the coordinator's secret key file (e.g. coordinator.key)."))
    if not identities:
        raise KeyFileError()
    for line in identities:
        try:
            pyrage.x25519.Identity.from_str(line)
        except Exception as error:
            raise KeyFileError(N_("The coordinator key file is not a valid age identity.")) from error
    return identities


def _decrypt(data: bytes, identities: list[str]) -> bytes:
    if not data.startswith(b"age-encryption.org/v1"):
        raise InvalidBundle(N_("This is not a fieldkit bundle (not an age-encrypted file)."))
    try:
        keys = [pyrage.x25519.Identity.from_str(line) for line in identities]
    except Exception as error:
        raise InvalidBundle(N_("The coordinator key file is not a valid age identity.")) from error
    try:
        return pyrage.decrypt(data, keys)
    except pyrage.DecryptError as error:
        text = str(error).lower()
        if "no matching keys" in text or "no identity matched" in text:
            raise InvalidBundle(N_("The bundle was not encrypted for this coordinator key.")) from error
        raise InvalidBundle(N_("The bundle is damaged or truncated: %(problem)s"), problem=str(error)[:200]) from error


def _member_names(zipped: zipfile.ZipFile) -> set[str]:
    """The archive's member names, refused if any is a path outside the archive or occurs twice."""
    names = [info.filename for info in zipped.infolist()]
    if len(names) != len(set(names)):
        raise InvalidBundle(N_("The bundle contains a file name twice."))
    for name in names:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or "\\" in name or name.startswith("/") or ":" in name:
            raise InvalidBundle(N_("The bundle contains a forbidden path: %(name)s"), name=name[:200])
    return set(names)


def _check_listed(names: set[str], listed, max_expanded: int) -> None:
    """Exactly the members the signed manifest lists, besides the manifest and its signature, with sizes
    that together stay within max_expanded."""
    if not isinstance(listed, dict) or RECORDS not in listed or not all(
            isinstance(entry, dict) and type(entry.get("size")) is int and entry["size"] >= 0
            and _is_sha256(entry.get("sha256")) for entry in listed.values()):
        raise InvalidBundle(N_("The bundle's manifest is unreadable."))
    if sum(entry["size"] for entry in listed.values()) > max_expanded:
        raise InvalidBundle(N_("The bundle unpacks to more than the allowed %(limit)d MB."),
                            limit=max(1, max_expanded // 2**20))
    for name in sorted(names - {MANIFEST, SIGNATURE} - set(listed)):
        raise InvalidBundle(N_("The bundle contains a file the manifest does not name: %(name)s"), name=name[:200])
    for name in sorted(set(listed) - names):
        raise InvalidBundle(N_("The bundle lacks %(member)s, which its manifest lists."), member=name[:200])
    for name in listed:
        if name != RECORDS and not name.startswith("attachments/"):
            raise InvalidBundle(N_("The bundle contains a forbidden path: %(name)s"), name=name[:200])


def _inflate(zipped: zipfile.ZipFile, name: str, limit: int) -> bytes:
    try:
        return untrusted.inflate(zipped, name, limit)
    except untrusted.TooLarge as error:
        raise InvalidBundle(N_("The bundle unpacks to more than the allowed %(limit)d MB."),
                            limit=max(1, limit // 2**20)) from error


def _inflate_member(zipped: zipfile.ZipFile, name: str, size: int) -> bytes:
    try:
        return untrusted.inflate(zipped, name, size, _StructureBudget() if name == RECORDS else None)
    except untrusted.TooLarge as error:
        raise InvalidBundle(N_("%(member)s was changed after the bundle was signed."), member=name[:200]) from error


def _check_counts(manifest: dict, records: list[Record]) -> None:
    counts = {}
    for record in records:
        counts[record.type] = counts.get(record.type, 0) + 1
    if manifest.get("counts", counts) != counts:
        raise InvalidBundle(N_("The bundle's record counts do not match its records."))


def _verified_manifest(manifest_bytes: bytes, signature: bytes) -> dict:
    try:
        manifest = untrusted.loads(manifest_bytes)
        public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(manifest["device_public_key"]))
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidBundle(N_("The bundle's manifest is unreadable.")) from error
    if manifest.get("format") != FORMAT:
        raise InvalidBundle(N_("This bundle format (%(format)s) is not supported."), format=str(manifest.get("format"))[:50])
    try:
        public_key.verify(signature, manifest_bytes)
    except InvalidSignature as error:
        raise InvalidBundle(N_("The bundle's signature does not match: it was changed after it was made.")) from error
    for name in ("device_id", "bundle_id", "sequence", "members"):
        if name not in manifest:
            raise InvalidBundle(N_("The bundle's manifest is unreadable."))
    sequence, previous = manifest["sequence"], manifest.get("previous_sha256")
    if type(sequence) is not int or not 1 <= sequence <= MAX_SEQUENCE:
        raise InvalidBundle(N_("The bundle's sequence number is not valid."))
    if (sequence == 1) != (previous is None) or not (previous is None or _is_sha256(previous)):
        raise InvalidBundle(N_("The bundle's link to its predecessor is not valid."))
    if not isinstance(manifest["device_id"], str) or not isinstance(manifest["bundle_id"], str):
        raise InvalidBundle(N_("The bundle's manifest is unreadable."))
    return manifest


def _is_sha256(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


MAX_STRUCTURE = 2_000_000  # JSON objects and arrays in all records: each costs ~100 bytes parsed


class _StructureBudget:
    """Counts JSON objects and arrays on the bytes while they inflate, before anything is parsed: "[],"
    repeated would otherwise turn 100 MB into gigabytes of Python objects. Brackets inside strings
    count too, which only errs on the safe side."""

    def __init__(self):
        self.left = MAX_STRUCTURE

    def __call__(self, chunk: bytes) -> None:
        self.left -= chunk.count(b"{") + chunk.count(b"[")
        if self.left < 0:
            raise InvalidBundle(N_("The bundle holds more than fieldkit reads at once (over two million JSON objects and lists). Bundles exported more often each hold less."))


def _parse_records(payload: bytes) -> list[Record]:
    """One record per line, parsed by orjson (reading a large bundle is mostly this). What orjson refuses
    but JSON allows (NaN, a 400-digit number) is parsed again with the standard parser, so that the check
    of the records names the field; a lone surrogate, which would break every later write and export, is
    refused here."""
    records = []
    for number, line in enumerate(payload.splitlines(), start=1):
        try:
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                # orjson names only the first fault of a line: a lone surrogate may come after another
                item = None if "surrogate" in str(error) else untrusted.loads(line)
                if item is None or not _is_unicode(item):
                    raise InvalidBundle(N_("Record line %(line)d holds text that is not valid Unicode."), line=number) from None
            if not isinstance(item, dict) or not isinstance(item["type"], str):
                raise TypeError("not a record")
            # the values as they came: merge.check_records decides whether they are what the models need
            records.append(Record(item["type"], item["id"], item["version"], item["fields"]))
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            raise InvalidBundle(N_("Record line %(line)d is unreadable."), line=number) from error
    return records


def _is_unicode(item) -> bool:
    """No lone surrogate anywhere (JSON's \\ud800 escapes): it would break every later write and export."""
    try:
        json.dumps(item, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

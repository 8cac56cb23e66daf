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

import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import UserError
from .i18n import N_

FORMAT = "fieldkit-bundle/1"
MANIFEST, SIGNATURE, RECORDS = "manifest.json", "manifest.sig", "records.jsonl"
DEFAULT_MAX_EXPANDED = 512 * 1024 * 1024  # bytes a bundle may unpack to


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
    sha256: str  # of the age file, as the next bundle's previous_sha256 names it

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
    skipped: list = field(default_factory=list)  # (record id, reason) that could not be exported


def write_bundle(records: Iterable, device_id: str, signing_key: bytes, recipients: list[str], sequence: int,
                 previous_sha256: Optional[str], app_version: str, now: Optional[dt.datetime] = None,
                 progress: Callable[[int], None] = lambda done: None) -> Written:
    """Build, sign and encrypt a bundle. `records` yields Record objects or (record id, error) pairs for
    records that could not be read; those are reported in `skipped` and the rest is exported."""
    if not recipients:
        raise InvalidBundle(N_("No coordinator key is known, so nothing can be encrypted for the coordination."))
    lines, counts, skipped = io.BytesIO(), {}, []
    for number, record in enumerate(records, start=1):
        if isinstance(record, Record):
            lines.write(record.to_line())
            counts[record.type] = counts.get(record.type, 0) + 1
        else:
            skipped.append(record)
        progress(number)
    payload = lines.getvalue()
    private = Ed25519PrivateKey.from_private_bytes(signing_key)
    manifest = {
        "format": FORMAT, "bundle_id": str(uuid.uuid4()), "device_id": device_id,
        "device_public_key": base64.b64encode(private.public_key().public_bytes_raw()).decode(),
        "created": (now or dt.datetime.now(dt.timezone.utc)).isoformat(), "app_version": app_version,
        "sequence": sequence, "previous_sha256": previous_sha256,
        "members": {RECORDS: {"sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}},
        "counts": counts,
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, indent=1).encode()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(MANIFEST, manifest_bytes)
        zipped.writestr(SIGNATURE, private.sign(manifest_bytes))
        zipped.writestr(RECORDS, payload)
    encrypted = pyrage.encrypt(archive.getvalue(), [pyrage.x25519.Recipient.from_str(r) for r in recipients])
    return Written(encrypted, manifest, skipped)


def read_bundle(data: bytes, identities: list[str], max_expanded: int = DEFAULT_MAX_EXPANDED) -> Bundle:
    """Decrypt, check the archive, verify the signature and every member hash, then parse the records.
    Whether the device and its key are known is the caller's check (see merge.check_device)."""
    archive = _decrypt(data, identities)
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            _check_members(zipped, max_expanded)
            manifest_bytes, signature = zipped.read(MANIFEST), zipped.read(SIGNATURE)
            manifest = _verified_manifest(manifest_bytes, signature)
            payload = zipped.read(RECORDS)
    except (zipfile.BadZipFile, KeyError, EOFError, ValueError) as error:
        raise InvalidBundle(N_("The bundle is damaged or truncated: %(problem)s"), problem=str(error)[:200]) from error
    expected = manifest["members"].get(RECORDS, {})
    if hashlib.sha256(payload).hexdigest() != expected.get("sha256"):
        raise InvalidBundle(N_("%(member)s was changed after the bundle was signed."), member=RECORDS)
    return Bundle(manifest, _parse_records(payload), hashlib.sha256(data).hexdigest())


def identity_lines(text: str) -> list[str]:
    """The AGE-SECRET-KEY lines of an identity file."""
    return [line.strip() for line in text.splitlines() if line.strip().upper().startswith("AGE-SECRET-KEY-")]


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


def _check_members(zipped: zipfile.ZipFile, max_expanded: int) -> None:
    names = [info.filename for info in zipped.infolist()]
    if len(names) != len(set(names)):
        raise InvalidBundle(N_("The bundle contains a file name twice."))
    for name in names:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or "\\" in name or name.startswith("/"):
            raise InvalidBundle(N_("The bundle contains a forbidden path: %(name)s"), name=name[:200])
        if name not in (MANIFEST, SIGNATURE, RECORDS) and not name.startswith("attachments/"):
            raise InvalidBundle(N_("The bundle contains a file the manifest does not name: %(name)s"), name=name[:200])
    if sum(info.file_size for info in zipped.infolist()) > max_expanded:
        raise InvalidBundle(N_("The bundle unpacks to more than the allowed %(limit)d MB."), limit=max_expanded // 2**20)


def _verified_manifest(manifest_bytes: bytes, signature: bytes) -> dict:
    try:
        manifest = json.loads(manifest_bytes)
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
    return manifest


def _parse_records(payload: bytes) -> list[Record]:
    records = []
    for number, line in enumerate(payload.splitlines(), start=1):
        try:
            item = json.loads(line)
            records.append(Record(str(item["type"]), str(item["id"]), dict(item["version"]), dict(item["fields"])))
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidBundle(N_("Record line %(line)d is unreadable."), line=number) from error
    return records

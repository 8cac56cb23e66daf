"""The test vectors of docs/bundle-format.md: a small bundle with every intermediate value.

`python tests/test_bundle_vectors.py` writes tests/vectors/bundle-1.json anew (with a new age file:
age encryption is randomised; everything inside it is deterministic).
"""
import base64
import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fieldkit.bundle import Record, build_archive, read_bundle
from fieldkit.vault import fingerprint

VECTOR = Path(__file__).parent / "vectors" / "bundle-1.json"
SEED = bytes(range(1, 33))  # the device's Ed25519 private key (its seed)
DEVICE = "6f1d2c3b-0000-4000-8000-000000000001"
BUNDLE = "b0000000-0000-4000-8000-000000000001"
CREATED = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)
RECORDS = [
    Record("organisation", "0a000000-0000-4000-8000-000000000001", {DEVICE: 2}, {
        "name": "Beispielverein e. V.", "city": "Musterstadt", "founded": 2009, "deleted": False,
        "created_at": "2026-11-30T10:00:00+00:00", "updated_at": "2026-11-30T10:05:00+00:00",
        "origin_device": DEVICE, "offer_fields": ["education"], "notes": ""}),
    Record("network_tie", "0c000000-0000-4000-8000-000000000001", {DEVICE: 1}, {
        "map_id": "0d000000-0000-4000-8000-000000000001", "source_id": None,
        "target_id": "0e000000-0000-4000-8000-000000000001", "type": "cooperation", "direction": "forward",
        "strength": 2, "note": "", "deleted": False, "created_at": "2026-11-30T10:06:00+00:00",
        "updated_at": "2026-11-30T10:06:00+00:00", "origin_device": DEVICE}),
]


def build():
    return build_archive(RECORDS, DEVICE, SEED, 1, None, "test-vector", now=CREATED, bundle_id=BUNDLE)


def test_fieldkit_writes_the_vector_from_the_same_inputs():
    vector = json.loads(VECTOR.read_text())
    archive, manifest, _ = build()
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        assert zipped.read("records.jsonl").decode() == vector["records_jsonl"]
        assert zipped.read("manifest.json").decode() == vector["manifest_json"]
        assert zipped.read("manifest.sig").hex() == vector["manifest_sig_hex"]
    assert hashlib.sha256(manifest).hexdigest() == vector["bundle_identity"]


def test_every_intermediate_value_checks_out():
    vector = json.loads(VECTOR.read_text())
    public = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["device_seed_hex"])).public_key().public_bytes_raw()
    assert base64.b64encode(public).decode() == vector["device_public_key"]
    assert fingerprint(public) == vector["device_fingerprint"]
    records = vector["records_jsonl"].encode()
    manifest = json.loads(vector["manifest_json"])
    assert manifest["members"] == {"records.jsonl": {"sha256": hashlib.sha256(records).hexdigest(), "size": len(records)}}
    assert manifest["counts"] == {"organisation": 1, "network_tie": 1}
    Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(vector["manifest_sig_hex"]), vector["manifest_json"].encode())
    assert hashlib.sha256(vector["manifest_json"].encode()).hexdigest() == vector["bundle_identity"]
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(vector["zip_base64"]))) as zipped:
        assert zipped.read("manifest.json").decode() == vector["manifest_json"]


def test_the_vectors_age_file_reads_to_its_records():
    vector = json.loads(VECTOR.read_text())
    bundle = read_bundle(base64.b64decode(vector["age_file_base64"]), [vector["age_identity"]])
    assert bundle.manifest_sha256 == vector["bundle_identity"]
    assert [record.to_line().decode() for record in bundle.records] == vector["records_jsonl"].splitlines(keepends=True)


def _write_vector() -> None:
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    archive, manifest, _ = build()
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        records, signature = zipped.read("records.jsonl"), zipped.read("manifest.sig")
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()
    VECTOR.parent.mkdir(exist_ok=True)
    VECTOR.write_text(json.dumps({
        "age_identity": str(identity), "age_recipient": str(identity.to_public()),
        "device_seed_hex": SEED.hex(), "device_public_key": base64.b64encode(public).decode(),
        "device_fingerprint": fingerprint(public), "records_jsonl": records.decode(),
        "manifest_json": manifest.decode(), "bundle_identity": hashlib.sha256(manifest).hexdigest(),
        "manifest_sig_hex": signature.hex(), "zip_base64": base64.b64encode(archive).decode(),
        "age_file_base64": base64.b64encode(pyrage.encrypt(archive, [identity.to_public()])).decode(),
    }, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    _write_vector()


def test_the_format_spec_names_every_field_of_every_record_type(repo_root):
    from fieldkit.merge import TRAVELLING

    spec = (repo_root / "docs" / "bundle-format.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in spec.splitlines() if line.startswith("| `")}
    common = {"id", "version", "created_at", "updated_at", "origin_device", "deleted"}
    for kind, model in TRAVELLING.items():
        assert kind in rows, f"docs/bundle-format.md does not describe {kind}"
        missing = [c.name for c in model.__table__.columns if c.name not in common and f"`{c.name}`" not in rows[kind]]
        assert missing == [], f"{kind}: {missing}"

"""Fuzzing every door input comes through: each importer, the guide loader, the keystore, signed bundle
records through the merge, and the JSON endpoints. Each may only answer with its own error type (never
another exception, never a partial import, never a server error), and each runs under a memory limit
(bench/fuzz.py runs the same targets far longer and measures peak memory)."""
import io
import json
import os
import resource
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pyrage
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from conftest import FAST_KDF, PASSPHRASE, PORT, LocalClient, consented_interview
from fieldkit import create_app, db, guide, imports, maps, transcripts
from fieldkit.bundle import InvalidBundle, identity_lines, read_bundle
from fieldkit.errors import UserError
from fieldkit.merge import merge_file
from fieldkit.models import AuditEvent
from fieldkit.vault import Keystore, Vault, VaultError, fingerprint, new_project_identity
from test_bundle import _signed

COORDINATOR = new_project_identity()

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                           lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children,
                                                                                             max_size=4), max_leaves=20)
FUZZ = settings(max_examples=int(os.environ.get("FIELDKIT_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=list(HealthCheck))
TALLY = {}  # target: [inputs, most memory one input took beyond what the process held before it]; see bench/fuzz.py


@contextmanager
def refused_cleanly(target: str, *errors):
    """Run one input against target: its own errors are a clean refusal; anything else fails the test."""
    entry = TALLY.setdefault(target, [0, 0])
    entry[0] += 1
    before = reset_peak_memory()
    try:
        yield
    except errors:
        pass
    finally:
        entry[1] = max(entry[1], peak_memory() - before)


def reset_peak_memory() -> int:
    """Reset this process's peak resident memory (Linux: clear_refs 5) and return what it holds now."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") * 1024


def peak_memory() -> int:
    return _status_kib("VmHWM") * 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.fixture(autouse=True, scope="module")
def memory_limit():
    """No input may make this process grow by 3 GiB of address space (the refused inputs of the
    hostile-input review grew it to 2.2 GB and beyond). Counted from what the process has mapped already
    by earlier tests."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _status_kib("VmSize") * 1024 + 3 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _zip(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


xml_text = st.text(alphabet=st.sampled_from("<>/=\"' abcwptx:&;!-[]?\n"), max_size=300)


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".txt", ".docx", ".odt", ".pdf"]))
def test_transcripts_from_any_bytes(data, suffix):
    with refused_cleanly("transcript files", transcripts.TranscriptError):
        transcripts.extract_text("x" + suffix, data)


@FUZZ
@given(xml=xml_text, suffix=st.sampled_from([".docx", ".odt"]))
def test_transcripts_from_any_document_xml(xml, suffix):
    member = "word/document.xml" if suffix == ".docx" else "content.xml"
    with refused_cleanly("transcript XML", transcripts.TranscriptError):
        transcripts.extract_text("x" + suffix, _zip({member: xml}))


@FUZZ
@given(data=st.binary(max_size=3000) | st.text(max_size=500).map(lambda text: text.encode("utf-8", "surrogatepass")),
       suffix=st.sampled_from([".csv", ".xlsx", ".ods"]))
def test_tables_from_any_bytes(data, suffix):
    with refused_cleanly("tables", imports.TableError):
        imports.read_table("x" + suffix, data)


@FUZZ
@given(data=st.binary(max_size=3000) | st.text(max_size=800).map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_guides_from_any_bytes(data):
    with refused_cleanly("guides", guide.GuideError):
        guide.parse_guide(guide.decode(data))


@FUZZ
@given(value=json_values)
def test_keystores_of_any_shape(value):
    with refused_cleanly("keystores", VaultError):
        Keystore.from_json(value)


@FUZZ
@given(data=st.binary(max_size=4096), age_header=st.booleans())
def test_the_bundle_reader_on_any_bytes(data, age_header):
    with refused_cleanly("bundles (any bytes)", InvalidBundle):
        read_bundle((b"age-encryption.org/v1\n" + data) if age_header else data, identity_lines(COORDINATOR[0]))
        pytest.fail("read")


member_names = st.sampled_from(["manifest.json", "manifest.sig", "records.jsonl", "attachments/a", "../x", "a\\b"])
member_contents = st.binary(max_size=300) | json_values.map(lambda value: json.dumps(value).encode())


@FUZZ
@given(archive=st.dictionaries(member_names, member_contents, max_size=4).map(_zip) | st.binary(max_size=2048))
def test_the_bundle_reader_on_anything_encrypted_to_the_coordinator(archive):
    bundle = pyrage.encrypt(archive, [pyrage.x25519.Recipient.from_str(COORDINATOR[1])])
    with refused_cleanly("bundles (any archive)", InvalidBundle):
        read_bundle(bundle, identity_lines(COORDINATOR[0]))
        pytest.fail("read")


@FUZZ
@given(version=json_values, fields=json_values, kind=st.sampled_from(["organisation", "answer", "network_tie", "x"]),
       record_id=json_values)
def test_signed_records_of_any_shape_are_refused_whole_or_merged(laptop_and_office, coordinator, version, fields, kind,
                                                                record_id):
    laptop, office = laptop_and_office
    line = json.dumps({"type": kind, "id": record_id, "version": version, "fields": fields}).encode() + b"\n"
    with Session(office.engine) as session:
        before = session.exec(select(func.count()).select_from(AuditEvent)).one()
    bundle = _signed(laptop, coordinator, line)
    with refused_cleanly("signed records", UserError):
        merge_file(office.engine, "fuzz.fkb", bundle, identity_lines(coordinator[0]), [fingerprint(laptop.secrets.public_key)])
        return
    with Session(office.engine) as session:  # refused: logged, and nothing but the log changed
        assert session.exec(select(func.count()).select_from(AuditEvent)).one() == before + 1


@pytest.fixture(scope="module")
def laptop_and_office(tmp_path_factory):
    identity, recipient = COORDINATOR
    vaults = []
    for name in ("laptop", "office"):
        vault = Vault(tmp_path_factory.mktemp(name), memory_kib=8192, iterations=1)
        vault.create(PASSPHRASE, [recipient])
        vaults.append(vault)
    yield vaults
    for vault in vaults:
        vault.lock()


@pytest.fixture(scope="module")
def coordinator():
    return COORDINATOR


@FUZZ
@given(body=json_values | st.binary(max_size=500))
def test_the_map_endpoint_never_fails_on_any_json(map_client, body):
    client, guard, path = map_client
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    with refused_cleanly("map endpoint"):
        response = client.post(path, data=data, headers={"X-CSRF-Token": guard.csrf_token,
                                                          "Content-Type": "application/json"})
    assert response.status_code in (200, 409)


@pytest.fixture(scope="module")
def map_client(tmp_path_factory):
    app = create_app({"DATA_DIR": tmp_path_factory.mktemp("app"), "SERVER_PORT": PORT, **FAST_KDF})
    app.test_client_class = LocalClient
    guard = app.extensions["launch_guard"]
    client = app.test_client()
    client.get(guard.launch_url().removeprefix(f"http://127.0.0.1:{PORT}"))
    client.post("/setup", data={"csrf_token": guard.csrf_token, "passphrase": PASSPHRASE, "confirmation": PASSPHRASE,
                                "recipient": COORDINATOR[1]})
    vault = app.extensions["vault"]
    interview = consented_interview(vault, "Fuzzverein", {"network_map"})
    with db.writing(vault.engine) as session:
        network_map = maps.create(session, vault.device_id, interview, "Karte")
    yield client, guard, f"/interviews/{interview.id}/maps/{network_map.id}/changes"
    vault.lock()

"""Hostile input, measured: the fuzz targets of tests/test_fuzz.py run far longer, then the inputs the
hostile-input review found (zip bombs, a sequence of 2**64, JSON 200,000 deep, 100,000 nested
paragraphs, ...) are fed to a running app, each timed and its peak memory taken above what the process
held just before it (Linux /proc: clear_refs, VmHWM).

    python bench/fuzz.py [inputs per fuzz target, default 2000]    # last line: unclean: <N>

Unclean is any input answered with something other than the module's own refusal (a traceback, a server
error, a partial import). Goal: 0 unclean, and no refused input above 100 MB beyond the idle app.
"""
import base64
import concurrent.futures
import io
import json
import os
import sys
import tempfile
import time
import zipfile
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import HTTPCookieProcessor, Request, build_opener

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
PASSPHRASE = "Fuzzing im Lindenviertel"
GIB = 2**30


def run_fuzz_targets(examples: int) -> tuple[dict, set]:
    """tests/test_fuzz.py with `examples` inputs per target: its tally and the targets that failed."""
    failed = set()

    class Failures:
        @staticmethod
        def pytest_runtest_logreport(report):
            if report.failed:
                failed.add(report.nodeid.split("::")[-1])

    os.environ["FIELDKIT_FUZZ_EXAMPLES"] = str(examples)
    pytest.main([str(ROOT / "tests" / "test_fuzz.py"), "-q", "-p", "no:cacheprovider", "--no-header"],
                plugins=[Failures()])
    import test_fuzz

    return test_fuzz.TALLY, failed


def deflated_zeros(name: str, size: int, others: dict) -> bytes:
    """A ZIP whose member `name` inflates to `size` zero bytes (about size/1000 compressed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for other, content in others.items():
            archive.writestr(other, content)
        with archive.open(name, "w", force_zip64=True) as member:
            chunk = bytes(2**20)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return buffer.getvalue()


class Target:
    """A running, unlocked fieldkit on 127.0.0.1 in this process, and a second vault as the laptop
    whose device key signs the forged bundles."""

    def __init__(self, folder: Path):
        from fieldkit import create_app
        from fieldkit.local_server import LocalServer
        from fieldkit.vault import Vault, fingerprint, new_project_identity

        self.identity, recipient = new_project_identity()
        fast = {"ARGON2_MEMORY_KIB": 8192, "ARGON2_ITERATIONS": 1}
        self.app = create_app({"DATA_DIR": folder / "office", "SYNC_INTERVAL": 0, **fast})
        self.app.extensions["vault"].create(PASSPHRASE, [recipient])
        self.laptop = Vault(folder / "laptop", memory_kib=8192, iterations=1)
        self.laptop.create(PASSPHRASE, [recipient])
        self.laptop_fingerprint = fingerprint(self.laptop.secrets.public_key)
        self.server = LocalServer(self.app)
        self.server.start()
        guard = self.app.extensions["launch_guard"]
        self.csrf = guard.csrf_token
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()))
        self.opener.open(self.server.launch_url).read()
        self.interview, self.map = self._interview_with_map()

    def _interview_with_map(self):
        from conftest import consented_interview
        from fieldkit import db, interviews, maps

        vault = self.app.extensions["vault"]
        with db.writing(vault.engine) as session:
            interviews.ensure_shipped_content(session, vault.device_id)
        interview = consented_interview(vault, "Fuzzverein", {"network_map"})
        with db.writing(vault.engine) as session:
            return interview.id, maps.create(session, vault.device_id, interview, "Karte").id

    def post(self, path: str, body: bytes, content_type: str) -> int:
        request = Request(f"http://127.0.0.1:{self.server.port}{path}", data=body, method="POST",
                          headers={"X-CSRF-Token": self.csrf, "Content-Type": content_type})
        try:
            with self.opener.open(request, timeout=600) as response:
                response.read()
                return response.status
        except HTTPError as error:
            return error.code

    def merge_upload(self, bundle: bytes):
        """A function that sends the bundle through Datenübergabe, as the coordinator uploads it."""
        boundary = "fuzzgrenze"
        parts = [("identity", "coordinator.key", self.identity.encode()), ("bundles", "laptop.fkb", bundle)]
        body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                        f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
                        for name, filename, content in parts) + f"--{boundary}--\r\n".encode()
        return lambda: self.post("/exchange/merge", body, f"multipart/form-data; boundary={boundary}")

    def map_change(self, body: bytes) -> int:
        return self.post(f"/interviews/{self.interview}/maps/{self.map}/changes", body, "application/json")

    def merge(self, bundle: bytes):
        from fieldkit.bundle import identity_lines
        from fieldkit.merge import merge_file

        return merge_file(self.app.extensions["vault"].engine, "fuzz.fkb", bundle, identity_lines(self.identity),
                          [self.laptop_fingerprint])

    def signed(self, payload: bytes, **manifest) -> bytes:
        from test_bundle import _signed

        return _signed(self.laptop, (self.identity, None), payload, **manifest)

    def encrypted(self, archive: bytes) -> bytes:
        import pyrage

        from fieldkit.bundle import identity_lines

        identity = pyrage.x25519.Identity.from_str(identity_lines(self.identity)[0])
        return pyrage.encrypt(archive, [identity.to_public()])

    def close(self):
        self.server.shutdown()
        self.app.extensions["vault"].lock()
        self.laptop.lock()


def signed_bomb(target: Target) -> bytes:
    """records.jsonl signed as 100 bytes, inflating to 4 GiB: what a compromised laptop could send."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.from_private_bytes(target.laptop.secrets.signing_key)
    manifest = json.dumps({"format": "fieldkit-bundle/1", "bundle_id": "b0000000-0000-4000-8000-0000000000bb",
                           "device_id": target.laptop.device_id, "created": "2026-12-01T10:00:00+00:00",
                           "app_version": "forged", "sequence": 1, "previous_sha256": None,
                           "device_public_key": base64.b64encode(private.public_key().public_bytes_raw()).decode(),
                           "members": {"records.jsonl": {"sha256": "0" * 64, "size": 100}}}).encode()
    archive = deflated_zeros("records.jsonl", 4 * GIB, {"manifest.json": manifest, "manifest.sig": private.sign(manifest)})
    return target.encrypted(archive)


def hostile_inputs(target: Target) -> list:
    """(what, run it, is the answer a clean refusal) for each input the hostile-input review found."""
    from fieldkit import guide, imports, transcripts
    from fieldkit.errors import UserError
    from fieldkit.vault import Keystore, VaultError
    from test_fuzz import _zip

    def refused_with(kind, call):
        def run():
            try:
                call()
            except kind:
                return True
            return False
        return run

    def answered(status_call, statuses):
        return lambda: status_call() in statuses

    word = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    manifest_bomb = target.encrypted(deflated_zeros("manifest.json", 4 * GIB, {"manifest.sig": bytes(64)}))
    records_bomb = signed_bomb(target)
    paragraphs = (f'<w:document xmlns:w="{word}"><w:body>' + "<w:p>" * 100_000 + "<w:r><w:t>tief</w:t></w:r>"
                  + "</w:p>" * 100_000 + "</w:body></w:document>")
    docx_nested = _zip({"word/document.xml": paragraphs})
    docx_bomb = deflated_zeros("word/document.xml", 2 * GIB, {})
    xlsx_bomb = deflated_zeros("xl/sharedStrings.xml", 2 * GIB, {})
    deep = b"[" * 200_000 + b"]" * 200_000
    keystore = {"version": 1, "kdf": {"name": "argon2id", "memory_kib": 1e400, "iterations": 1, "lanes": 1,
                                      "salt": "AA=="}, "check": "AA=="}
    # the second round of the review: after the signature, inside the file formats
    brackets = target.signed(b"[" + b"[]," * (35 * 10**6) + b"[]]\n", compression=zipfile.ZIP_DEFLATED)
    surrogate = target.signed(organisation(target, name="\ud800 Verein"))
    odt_spaces = _zip({"content.xml": '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
                       'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text><text:p>'
                       + '<text:s text:c="1000"/>' * 1_000_000 + "</text:p></office:text></office:body></office:document-content>"})
    xlsx_styles = _zip({"xl/styles.xml": b"<styleSheet><cellXfs>" + b"".join(
        b"<xf/>" * 1000 + b"<!--%s-->" % os.urandom(12).hex().encode() for _ in range(1000)) + b"</cellXfs></styleSheet>"})

    upload = target.merge_upload(records_bomb)  # the body built once: the client shares this process

    def three_at_once():
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            return {future.result() for future in [pool.submit(upload) for _ in range(3)]}

    return [
        ("bundle: manifest.json unpacking to 4 GiB (unsigned)", refused_with(UserError, lambda: target.merge(manifest_bomb))),
        ("bundle: records.jsonl signed as 100 B, unpacking to 4 GiB", refused_with(UserError, lambda: target.merge(records_bomb))),
        ("three such bundles at once through Datenübergabe", lambda: three_at_once() == {400}),
        ("bundle: signed sequence 2**64", refused_with(UserError, lambda: target.merge(target.signed(b"", sequence=2**64)))),
        ("bundle: signed record nested 200,000 deep", refused_with(UserError, lambda: target.merge(target.signed(deep + b"\n")))),
        ("bundle: signed record with another device's counter",
         refused_with(UserError, lambda: target.merge(target.signed(forged_counter(target))))),
        (".docx with 100,000 nested paragraphs",  # 1.1 MB of XML in 3 KB: refused by its ratio
         refused_with(transcripts.TranscriptError, lambda: transcripts.extract_text("t.docx", docx_nested))),
        (".docx whose document.xml unpacks to 2 GiB",
         refused_with(transcripts.TranscriptError, lambda: transcripts.extract_text("t.docx", docx_bomb))),
        (".xlsx whose shared strings unpack to 2 GiB",
         refused_with(imports.TableError, lambda: imports.read_table("t.xlsx", xlsx_bomb))),
        ("map change: JSON 200,000 deep", answered(lambda: target.map_change(deep), {200, 409})),
        ("map change: a lone surrogate and a NUL in a name", answered(lambda: target.map_change(
            b'{"action": "add_alter", "alter": {"label": "\\ud800Amt\\u0000", "actor_type": "state_actor", "x": 0.4, "y": 0}}'),
            {200})),
        ("guide: 100 KB of YAML with 50,000 nested brackets",
         refused_with(guide.GuideError, lambda: guide.parse_guide(guide.decode(b"a: " + b"[" * 50_000 + b"]" * 50_000)))),
        ("guide: binary", refused_with(guide.GuideError, lambda: guide.parse_guide(guide.decode(os.urandom(4096))))),
        ("keystore: memory_kib 1e400", refused_with(VaultError, lambda: Keystore.from_json(keystore))),
        ("bundle: 105 MB of \"[],\" signed, in 1 MB", refused_with(UserError, lambda: target.merge(brackets))),
        ("bundle: a lone surrogate in a signed name", refused_with(UserError, lambda: target.merge(surrogate))),
        ("bundle: a 400-digit integer as a contact's x", refused_with(UserError, lambda: target.merge(
            target.signed(organisation(target, kind="network_alter", x=int("9" * 400)))))),
        (".odt with a million space tags in one paragraph",
         refused_with(transcripts.TranscriptError, lambda: transcripts.extract_text("t.odt", odt_spaces))),
        (".xlsx with a million cell formats", refused_with(imports.TableError, lambda: imports.read_table("t.xlsx", xlsx_styles))),
    ]


def organisation(target: Target, kind: str = "organisation", **fields) -> bytes:
    """One record line of `kind` with the given fields (json.dumps writes a lone surrogate as its escape)."""
    values = {"deleted": False, **({"name": "Verein"} if kind == "organisation" else {}), **fields}
    line = json.dumps({"type": kind, "id": "0a000000-0000-4000-8000-000000000001",
                       "version": {target.laptop.device_id: 1}, "fields": values})
    return line.encode() + b"\n"


def forged_counter(target: Target) -> bytes:
    """An organisation record claiming version {another device: 999}."""
    line = {"type": "organisation", "id": "00000000-0000-4000-8000-0000000000aa",
            "version": {"d0000000-0000-4000-8000-000000000002": 999}, "fields": {"name": "HIJACKED"}}
    return json.dumps(line).encode() + b"\n"


def main() -> int:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    started = time.monotonic()
    tally, failed = run_fuzz_targets(examples)
    from test_fuzz import peak_memory, reset_peak_memory
    print(f"\nfuzz targets, {examples} inputs each asked for ({time.monotonic() - started:.0f} s):")
    print(f"{'target':<28} {'inputs':>7} {'peak MB':>8}")
    for name, (inputs, peak) in sorted(tally.items()):
        print(f"{name:<28} {inputs:>7} {peak / 2**20:>8.1f}")
    print(f"failed targets: {', '.join(sorted(failed)) or 'none'}")
    unclean = len(failed)

    with tempfile.TemporaryDirectory() as folder:
        target = Target(Path(folder))
        idle = reset_peak_memory()
        print(f"\nhostile inputs against the running app (idle: {idle / 2**20:.0f} MB resident):")
        print(f"{'input':<58} {'clean':>5} {'s':>6} {'peak MB':>8}")
        worst = 0
        for what, run in hostile_inputs(target):
            before = reset_peak_memory()
            started = time.monotonic()
            try:
                clean = run()
            except Exception as error:  # noqa: BLE001 (counting what escaped is the point)
                clean, what = False, f"{what} ({type(error).__name__})"
            seconds, peak = time.monotonic() - started, peak_memory() - before
            worst = max(worst, peak)
            unclean += 0 if clean else 1
            print(f"{what:<58} {'yes' if clean else 'NO':>5} {seconds:>6.2f} {peak / 2**20:>8.1f}")
        target.close()
    print(f"largest peak above the app before the input: {worst / 2**20:.1f} MB (goal < 100 MB)")
    print(f"unclean: {unclean}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

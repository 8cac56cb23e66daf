"""Bundles at project scale, in one run:
- five laptops (devices) each hold 200 interviews as fieldwork leaves them: the organisation, consent,
  6 notes, 2 coded quotes, a network map of 15 contacts and 15 ties with its log of 31 events;
- each exports its interviews in 4 bundles of 50: 20 bundles, 1,000 interviews, about 80,000 records;
- merge of the 20 into an empty coordinator vault in process, with the memory each bundle's merge takes
  at its peak (flat in the number of bundles merged before it), beside its floor: SQLCipher inserting the
  same rows in one transaction through the driver alone;
- the same 20 through the command line (`fieldkit merge`: process start, unlock, decrypt, verify,
  merge) into another empty vault;
- re-import: every laptop exports all its records again in new bundles (sequence 5-8, nothing changed);
- the encryption stage of the largest bundle: pyrage beside Debian's `age` on the same ZIP bytes, with and
  without `age`'s process start (taken from `age` encrypting nothing).

    python bench/exchange.py            # last line: merge_s: <in-process merge of the 20 bundles>

Goals: merge < 1 s in process, < 2 s from the command line; re-import < 0.5 s. The vaults use a low
Argon2id cost (8 MiB), so the command line's unlock is small here; bench/startup.py measures the real one.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyrage

from fieldkit import db
from fieldkit.bundle import identity_lines
from fieldkit.interviews import ensure_shipped_content
from fieldkit.merge import CACHE_KIB, TRAVELLING, export, merge_files
from fieldkit.models import (Alter, Answer, Code, Interview, MapEvent, NetworkMap, Organisation, Quote, QuoteCode,
                             Tie)
from fieldkit.vault import Vault, fingerprint, new_project_identity
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_fuzz import peak_memory, reset_peak_memory  # noqa: E402  (Linux /proc: peak resident memory)

PASSPHRASE = "Benchmark im Lindenviertel"
DEVICES, PER_DEVICE, PER_BUNDLE = 5, 200, 50
NOTES, QUOTES, CONTACTS, TIES = 6, 2, 15, 15
NOTE = ("Der Verein berät dienstags im Vereinsraum zu Aufenthalt, Arbeit und Schule; zwei Ehrenamtliche "
        "übersetzen, die Stadt zahlt die Miete, Spenden tragen den Rest. ") * 4


def vault(path: Path, recipient: str) -> Vault:
    created = Vault(path, memory_kib=8192, iterations=1)
    created.create(PASSPHRASE, [recipient])
    with db.writing(created.engine) as session:
        ensure_shipped_content(session, created.device_id)
    return created


def fill(laptop: Vault, count: int) -> list[str]:
    """Interviews as fieldwork leaves them; rows added in bulk, parents flushed before children."""
    device = laptop.device_id
    rows = {kind: [] for kind in ("organisation", "interview", "answer", "quote", "quote_code", "map", "alter",
                                  "tie", "event")}
    with db.writing(laptop.engine) as session:
        code = session.exec(select(Code)).first()
        for number in range(count):
            organisation = Organisation(name=f"Verein {device[:4]} {number:04d}", city="Musterstadt")
            interview = Interview(organisation_id=organisation.id, interviewer="Ayla", guide_id="mikoss",
                                  guide_version="1.0", status="in_progress", consent={
                                      "by": "Vorsitz", "how": "written", "date": "2026-11-20",
                                      "agreed": {"recording": False, "quotes": True, "network_map": True, "archiving": True}})
            notes = [Answer(interview_id=interview.id, question_id=f"q{k}", text=NOTE, covered=True) for k in range(NOTES)]
            quotes = [Quote(interview_id=interview.id, answer_id=notes[k].id, start=0, end=60, text=NOTE[:60])
                      for k in range(QUOTES)]
            network_map = NetworkMap(interview_id=interview.id, title="Netzwerk heute")
            alters = [Alter(map_id=network_map.id, label=f"Kontakt {k}", actor_type="state_actor",
                            x=round(0.05 * k % 0.9, 3), y=0.2, attributes={"frequency": "weekly"}) for k in range(CONTACTS)]
            ties = [Tie(map_id=network_map.id, source_id=None if k % 2 else alters[k - 1].id, target_id=alters[k].id,
                        type="cooperation") for k in range(TIES)]
            events = [MapEvent(map_id=network_map.id, action="create", payload={"seq": 1, "forward": [], "backward": []})]
            for seq, (kind, record) in enumerate([("alter", a) for a in alters] + [("tie", t) for t in ties], start=2):
                fields = record.model_dump(include={"id", "label", "actor_type", "x", "y", "attributes", "source_id",
                                                    "target_id", "type", "direction", "strength", "note"})
                events.append(MapEvent(map_id=network_map.id, action=f"add_{kind}", payload={
                    "seq": seq, "forward": [{"put": kind, "record": fields}], "backward": [{"remove": kind, "id": record.id}]}))
            rows["organisation"].append(organisation)
            rows["interview"].append(interview)
            rows["answer"] += notes
            rows["quote"] += quotes
            rows["quote_code"] += [QuoteCode(quote_id=quote.id, code_id=code.id) for quote in quotes]
            rows["map"].append(network_map)
            rows["alter"] += alters
            rows["tie"] += ties
            rows["event"] += events
        for batch in rows.values():
            for row in batch:
                row.origin_device = device
                row.touch(device)
            session.add_all(batch)
            session.flush()
    return [interview.id for interview in rows["interview"]]


def timed(action):
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def export_bundles(laptop: Vault, ids: list[str], recipient: str) -> list[bytes]:
    bundles = []
    for start in range(0, len(ids), PER_BUNDLE):
        with db.writing(laptop.engine) as session:
            bundles.append(export(session, laptop.device_id, laptop.secrets.signing_key, [recipient], "bench",
                                  ids[start:start + PER_BUNDLE]).data)
    return bundles


def merge_in_process(office: Vault, bundles: list[bytes], identities: list[str], devices: list[str]) -> tuple[list, list]:
    """Merge the bundles as the app and the command line do (merge.merge_files: read, verify, check, import
    each in a savepoint); returns the reports and the process's peak resident memory after each (MiB)."""
    peaks = []

    def files():
        for number, data in enumerate(bundles):
            yield f"bundle-{number:02d}.fkb", data
            peaks.append(peak_memory() / 2**20)

    merged = merge_files(office.engine, files(), identities, devices)
    return [report for _, report in merged], peaks


def merge_from_command_line(scratch: Path, recipient: str, identity_file: Path, files: list[Path],
                            devices: list[str]) -> float:
    data_dir = scratch / "office-cli"
    environment = {**os.environ, "FIELDKIT_PASSPHRASE": PASSPHRASE, "FIELDKIT_ARGON2_MEMORY_KIB": "8192",
                   "FIELDKIT_ARGON2_ITERATIONS": "1"}
    command = [sys.executable, "-m", "fieldkit", "--data-dir", str(data_dir)]
    subprocess.run([*command, "init", "--recipient", recipient], env=environment, check=True, capture_output=True)
    accept = [option for shown in devices for option in ("--accept-device", shown)]
    started = time.perf_counter()
    subprocess.run([*command, "merge", "--identity", str(identity_file), *accept, *map(str, files)], env=environment,
                   check=True, capture_output=True)
    return time.perf_counter() - started


def insert_floor(office: Vault, path: Path, recipient: str) -> float:
    """SQLCipher's share of the merge: the rows it wrote, read back and inserted into an empty vault in
    one transaction with the merge's page cache, through the driver alone (seconds)."""
    with office.engine.connect() as source:
        tables = [(name, source.exec_driver_sql(f'SELECT * FROM "{name}"').fetchall()) for name in TRAVELLING]
    empty = Vault(path, memory_kib=8192, iterations=1)
    empty.create(PASSPHRASE, [recipient])
    connection = empty.engine.raw_connection()
    driver = connection.driver_connection
    driver.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
    started = time.perf_counter()
    driver.execute("BEGIN IMMEDIATE")
    for name, rows in tables:
        if rows:
            driver.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" * len(rows[0]))})', rows)
    driver.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    empty.lock()
    return seconds


def encryption_stage(bundle: bytes, identities: list[str], recipient: str) -> tuple[float, float, float]:
    """(pyrage, age, age without its process start) in ms, medians of 5, on the same ZIP bytes."""
    archive = pyrage.decrypt(bundle, [pyrage.x25519.Identity.from_str(identities[0])])
    age = shutil.which("age") or "/usr/bin/age"

    def median_ms(action):
        return statistics.median(timed(action)[1] for _ in range(5)) * 1000

    pyrage_ms = median_ms(lambda: pyrage.encrypt(archive, [pyrage.x25519.Recipient.from_str(recipient)]))
    age_ms = median_ms(lambda: subprocess.run([age, "-r", recipient], input=archive, capture_output=True, check=True))
    start_ms = median_ms(lambda: subprocess.run([age, "-r", recipient], input=b"", capture_output=True, check=True))
    return pyrage_ms, age_ms, age_ms - start_ms


def main() -> None:
    identity_text, recipient = new_project_identity()
    identities = identity_lines(identity_text)
    scratch_root = Path(os.environ.get("FIELDKIT_BENCH_DIR", "/var/tmp"))
    with tempfile.TemporaryDirectory(dir=scratch_root) as scratch:
        scratch = Path(scratch)
        laptops = [vault(scratch / f"laptop-{n}", recipient) for n in range(DEVICES)]
        ids = [fill(laptop, PER_DEVICE) for laptop in laptops]
        bundles, export_seconds = timed(lambda: [data for laptop, chosen in zip(laptops, ids)
                                                 for data in export_bundles(laptop, chosen, recipient)])
        again = [data for laptop, chosen in zip(laptops, ids) for data in export_bundles(laptop, chosen, recipient)]
        files = []
        for number, data in enumerate(bundles):
            files.append(scratch / f"bundle-{number:02d}.fkb")
            files[-1].write_bytes(data)
        identity_file = scratch / "coordinator.key"
        identity_file.write_text(identity_text)
        devices = [fingerprint(laptop.secrets.public_key) for laptop in laptops]

        office = vault(scratch / "office", recipient)
        baseline = reset_peak_memory() / 2**20
        (reports, peaks), merge_seconds = timed(lambda: merge_in_process(office, bundles, identities, devices))
        (rereports, _), remerge_seconds = timed(lambda: merge_in_process(office, again, identities, devices))
        floor_seconds = insert_floor(office, scratch / "floor", recipient)
        command_line_seconds = merge_from_command_line(scratch, recipient, identity_file, files, devices)
        pyrage_ms, age_ms, age_work_ms = encryption_stage(max(bundles, key=len), identities, recipient)
        for opened in (*laptops, office):
            opened.lock()

    records = sum(r.added for r in reports)
    size = sum(map(len, bundles)) / 2**20
    print(f"export: {len(bundles)} bundles of {PER_BUNDLE} interviews from {DEVICES} laptops, {records:,} records, "
          f"{size:.1f} MiB, in {export_seconds:.2f} s")
    print(f"merge in process into an empty vault: {merge_seconds:.2f} s ({records / merge_seconds:,.0f} records/s); "
          f"peak memory above the start: {peaks[0] - baseline:.0f} MiB after the first bundle, "
          f"{peaks[len(peaks) // 2 - 1] - baseline:.0f} MiB after {len(peaks) // 2}, {peaks[-1] - baseline:.0f} MiB after {len(peaks)}")
    print(f"floor: SQLCipher inserting the same rows in one transaction through the driver alone: {floor_seconds:.2f} s "
          f"(the merge takes {merge_seconds / floor_seconds:.1f}× as long)")
    print(f"merge from the command line (`fieldkit merge` with the 20 files, process start and unlock included): "
          f"{command_line_seconds:.2f} s")
    unchanged = sum(r.unchanged for r in rereports)
    print(f"re-import of the same records in {len(again)} new bundles: {remerge_seconds:.2f} s "
          f"({unchanged:,} unchanged, {sum(r.added + r.updated for r in rereports)} changed)")
    print(f"encryption stage of the largest bundle: pyrage {pyrage_ms:.1f} ms, age {age_ms:.1f} ms with its "
          f"process start, {age_work_ms:.1f} ms without (ratio {pyrage_ms / age_work_ms:.2f})")
    print(f"merge_s: {merge_seconds:.2f}")


if __name__ == "__main__":
    sys.exit(main())

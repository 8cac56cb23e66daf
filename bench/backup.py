"""Backups of a working vault: 500 interviews with notes and transcripts plus 10 hours of recorded audio
(about 330 MB encrypted), backed up with `backup.write` while an interviewer goes on typing.

    python bench/backup.py            # last line: ratio: <autosave p95 during backups / without>

Measured: backup time, size and throughput (median of 3); the p95 of 400 autosaves of a ~2 KB note with no
backup running and while backups run back to back in another thread. Goal: ≥ 200 MB/s; ratio ≤ 1.5.
The audio is ten one-hour recordings as the recorder stores them: a piece every three seconds at
48 kbit/s (random bytes, which compress no better than Opus).
"""
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import os

from fieldkit import audio, backup, db, interviews
from fieldkit.guide import guide_version, latest_guide
from fieldkit.models import Organisation, Transcript, save
from fieldkit.vault import Vault, new_project_identity

INTERVIEWS, TRANSCRIPT_CHARS, SAVES = 500, 200_000, 400
RECORDINGS, RECORDING_SECONDS, PIECE_SECONDS, BITS_PER_SECOND = 10, 3600, 3, 48_000
WORDS = ("Verein Nachbarschaft Jobcenter Beratung Eltern Schule Förderung Ehrenamt Kooperation Stadt Projekt "
         "Familien Sprache Begleitung Termin Antrag Zusammenarbeit Vertrauen Netzwerk Unterstützung").split()


def fill(vault) -> str:
    rng = random.Random(18)
    device = vault.device_id
    with db.writing(vault.engine) as session:
        interviews.ensure_shipped_content(session, device)
        record = latest_guide(session, "mikoss")
        guide = guide_version(session, record.guide_id, record.guide_version)
        for number in range(INTERVIEWS):
            organisation = save(session, device, Organisation(name=f"Verein {number:03d}"))
            interview = interviews.new(session, device, organisation, record, "Ayla")
            interviews.record_consent(session, device, interview, "Vorsitz", "written", "2026-01-01",
                                      {"network_map", "recording"})
            interviews.save_answer(session, device, interview, guide, "organisation.history",
                                   " ".join(rng.choice(WORDS) for _ in range(300)))
            text = " ".join(rng.choice(WORDS) for _ in range(TRANSCRIPT_CHARS // 9))
            save(session, device, Transcript(interview_id=interview.id, source_name=f"Interview {number}.txt", text=text))
            if number < RECORDINGS:
                record_an_hour(session, device, interview)
    return interview.id


def record_an_hour(session, device, interview) -> None:
    """One hour as the recorder leaves it: a piece every few seconds, the recording counted up with each."""
    recording = audio.start(session, device, interview, "audio/webm;codecs=opus")
    piece_bytes = BITS_PER_SECOND // 8 * PIECE_SECONDS
    for seq in range(RECORDING_SECONDS // PIECE_SECONDS):
        audio.append(session, device, recording, seq, os.urandom(piece_bytes), (seq + 1) * PIECE_SECONDS * 1000)


def autosave_p95(vault, interview_id: str) -> float:
    rng, times = random.Random(7), []
    for number in range(SAVES):
        note = " ".join(rng.choice(WORDS) for _ in range(250)) + f" {number}"
        started = time.perf_counter()
        interviews.autosave(vault.engine, vault.device_id, interview_id, "organisation.history", note)
        times.append(time.perf_counter() - started)
        time.sleep(0.005)  # a typing pause between saves
    return statistics.quantiles(times, n=100)[94] * 1000


def main() -> int:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as folder:
        vault = Vault(Path(folder) / "vault", memory_kib=8192, iterations=1)
        vault.create("Sicherung im Lindenviertel", [new_project_identity()[1]])
        started = time.perf_counter()
        interview_id = fill(vault)
        with vault.engine.connect() as connection:  # as the app's own checkpoints leave it: the log folded in
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        size = vault.database_path.stat().st_size
        print(f"vault of {INTERVIEWS} interviews: {size / 2**20:.0f} MiB, written in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            written = backup.write(vault, Path(folder) / "backups", keep=2)
            runs.append(time.perf_counter() - started)
            megabytes = written.stat().st_size / 2**20
        seconds = statistics.median(runs)
        quiet = autosave_p95(vault, interview_id)
        stop = threading.Event()

        def back_up_again_and_again():
            while not stop.is_set():
                backup.write(vault, Path(folder) / "backups", keep=2)

        worker = threading.Thread(target=back_up_again_and_again)
        worker.start()
        try:
            busy = autosave_p95(vault, interview_id)
        finally:
            stop.set()
            worker.join()
        vault.lock()
    print(f"backup of {megabytes:.0f} MiB: median {seconds:.2f} s, {megabytes / seconds:.0f} MB/s  goal ≥ 200 MB/s")
    print(f"autosave p95 without a backup {quiet:.2f} ms, during backups {busy:.2f} ms  goal ratio ≤ 1.5")
    print(f"ratio: {busy / quiet:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

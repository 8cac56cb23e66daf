"""Bundles at project scale, in one run:
- export of 500 interviews with their network maps (30 alters each, 15,000 alters in all);
- its encryption stage (pyrage) beside Debian's `age` encrypting the same ZIP bytes;
- merge of 20 bundles of 50 interviews each into an empty vault, then the same 20 again.

    python bench/exchange.py
"""
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyrage

from fieldkit import db
from fieldkit.bundle import InvalidBundle, identity_lines, read_bundle
from fieldkit.interviews import ensure_shipped_content
from fieldkit.merge import export, import_bundle
from fieldkit.models import Alter, Interview, NetworkMap, Organisation
from fieldkit.vault import Vault, new_project_identity

PASSPHRASE = "Benchmark im Lindenviertel"
INTERVIEWS, ALTERS = 500, 30  # the export
BUNDLES, PER_BUNDLE = 20, 50  # the merge: 1,000 interviews from 20 laptops' worth of bundles


def vault(path: Path, recipient: str) -> Vault:
    created = Vault(path, memory_kib=8192, iterations=1)
    created.create(PASSPHRASE, [recipient])
    with db.writing(created.engine) as session:
        ensure_shipped_content(session, created.device_id)
    return created


def fill(laptop: Vault, count: int) -> list[str]:
    """Interviews, each with a map of 30 alters; parents flushed before children."""
    device = laptop.device_id
    with db.writing(laptop.engine) as session:
        organisations = [Organisation(name=f"Verein {n:04d}", city="Musterstadt") for n in range(count)]
        interviews = [Interview(organisation_id=o.id, interviewer="Ayla", guide_id="mikoss", guide_version="1.0",
                                status="in_progress") for o in organisations]
        maps = [NetworkMap(interview_id=i.id, title="Netzwerk heute") for i in interviews]
        alters = [Alter(map_id=m.id, label=f"Kontakt {k}", actor_type="state_actor", x=0.1 * k % 1, y=0.2)
                  for m in maps for k in range(ALTERS)]
        for batch in (organisations, interviews, maps, alters):
            for row in batch:
                row.origin_device = device
                row.touch(device)
            session.add_all(batch)
            session.flush()
        return [i.id for i in interviews]


def timed(action):
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def main() -> None:
    identity_text, recipient = new_project_identity()
    identities = identity_lines(identity_text)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        laptop = vault(scratch / "laptop", recipient)
        fill(laptop, INTERVIEWS)

        def export_all():
            with db.writing(laptop.engine) as session:
                return export(session, laptop.device_id, laptop.secrets.signing_key, [recipient], "bench")

        written, export_seconds = timed(export_all)
        archive = pyrage.decrypt(written.data, [pyrage.x25519.Identity.from_str(identities[0])])
        _, pyrage_seconds = timed(lambda: pyrage.encrypt(archive, [pyrage.x25519.Recipient.from_str(recipient)]))
        age = shutil.which("age") or "/usr/bin/age"
        _, age_seconds = timed(lambda: subprocess.run([age, "-r", recipient], input=archive, capture_output=True, check=True))
        print(f"export of {INTERVIEWS} interviews with {INTERVIEWS * ALTERS} alters: {export_seconds * 1000:.0f} ms "
              f"({len(written.data) / 2**20:.1f} MiB bundle, {sum(written.manifest['counts'].values())} records)")
        print(f"encryption stage: pyrage {pyrage_seconds * 1000:.1f} ms, Debian age {age_seconds * 1000:.1f} ms "
              f"(ratio {pyrage_seconds / age_seconds:.2f})")

        source = vault(scratch / "source", recipient)
        ids = fill(source, BUNDLES * PER_BUNDLE)

        def export_chunk(number):
            with db.writing(source.engine) as session:
                chosen = ids[number * PER_BUNDLE:(number + 1) * PER_BUNDLE]
                return export(session, source.device_id, source.secrets.signing_key, [recipient], "bench", chosen).data

        bundles = [export_chunk(n) for n in range(BUNDLES)]
        office = vault(scratch / "office", recipient)

        def merge_all():
            outcomes = []
            for data in bundles:
                try:
                    bundle = read_bundle(data, identities)
                    with db.writing(office.engine) as session:
                        outcomes.append(import_bundle(session, bundle, accept_new_device=True))
                except InvalidBundle as refused:  # the second time: "imported already"
                    outcomes.append(refused)
            return outcomes

        first, merge_seconds = timed(merge_all)
        again, remerge_seconds = timed(merge_all)
        added = sum(r.added for r in first)
        print(f"merge of {BUNDLES} bundles x {PER_BUNDLE} interviews (with maps) into an empty vault: {merge_seconds * 1000:.0f} ms "
              f"({added} records added)")
        print(f"re-merge of the same {BUNDLES}: {remerge_seconds * 1000:.0f} ms "
              f"({sum(isinstance(r, InvalidBundle) for r in again)} recognised as imported already)")
        for opened in (laptop, source, office):
            opened.lock()
    print(f"summary: export_ms={export_seconds * 1000:.0f} encrypt_ratio={pyrage_seconds / age_seconds:.2f} "
          f"merge_ms={merge_seconds * 1000:.0f} remerge_ms={remerge_seconds * 1000:.0f}")


if __name__ == "__main__":
    sys.exit(main())

"""Analysis at the size of a whole study: 500 interviews, each with a map of 30 contacts and 30 ties and
a few coded quotes, in a real SQLCipher vault; every analysis of the Auswertung computed over all of them.

    python bench/analysis.py            # last line: seconds: <every analysis, median of 5>

Timed: loading the interviews with their maps (analysis.load) and every table of the Auswertung and of
the fieldwork progress, as the pages compute them. Goal < 0.5 s. The study's chart drawn as SVG and
as PNG is timed apart (it does not grow with the data), and so is the REFI-QDA project (.qdpx) of
all 500 interviews (goal < 2 s).
"""
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fieldkit import analysis, db, interviews, network, qdpx
from fieldkit.guide import guide_version, latest_guide
from fieldkit.models import Alter, NetworkMap, Organisation, Quote, QuoteCode, Tie, save
from fieldkit.quotes import codebook
from fieldkit.vault import Vault, new_project_identity

INTERVIEWS, CONTACTS, TIES, QUOTES = 500, 30, 30, 4
RUNS = 5


def fill(vault) -> None:
    """The study's data, written as records (the analyses read records, not the maps' logs)."""
    rng = random.Random(500)
    device = vault.device_id
    sectors = [sector["id"] for sector in network.default_config()["sectors"]]
    with db.writing(vault.engine) as session:
        interviews.ensure_shipped_content(session, device)
        record = latest_guide(session, "mikoss")
        guide = guide_version(session, record.guide_id, record.guide_version)
        codes = [code.id for code in codebook(session)]
        for number in range(INTERVIEWS):
            organisation = save(session, device, Organisation(name=f"Verein {number:03d}", founded=1960 + number % 60,
                                                              staff_paid=number % 7, staff_volunteer=number % 40))
            interview = interviews.new(session, device, organisation, record, f"Interviewer {number % 12}",
                                       dt.date(2026, 1, 1) + dt.timedelta(days=number % 300))
            interviews.record_consent(session, device, interview, "Vorsitz", "written", "2026-01-01", {"network_map", "quotes"})
            network_map = save(session, device, NetworkMap(interview_id=interview.id, title="Netzwerk heute"))
            ids = []
            for contact in range(CONTACTS):
                x, y = network.position(rng.uniform(0.1, 3.9), rng.uniform(0, 8), 4, 8)
                ids.append(save(session, device, Alter(map_id=network_map.id, label=f"Kontakt {contact}",
                                                       actor_type=rng.choice(sectors), x=x, y=y)).id)
            for tie in range(TIES):
                source = None if tie % 2 else rng.choice(ids)
                target = rng.choice([alter for alter in ids if alter != source])
                save(session, device, Tie(map_id=network_map.id, source_id=source, target_id=target,
                                          type=rng.choice(list(network.TIE_STYLE))))
            answer = interviews.save_answer(session, device, interview, guide, "organisation.history",
                                            "Wir arbeiten mit dem Jobcenter und der Caritas zusammen. " * 3)
            for quote_number in range(QUOTES):
                quote = save(session, device, Quote(interview_id=interview.id, answer_id=answer.id, start=0, end=10,
                                                    text=answer.text[:10]))
                save(session, device, QuoteCode(quote_id=quote.id, code_id=codes[(number + quote_number) % len(codes)]))


def every_analysis(vault) -> float:
    started = time.perf_counter()
    with db.writing(vault.engine) as session:
        data = analysis.load(session)
        analysis.actor_types(data)
        analysis.tie_types(data, False)
        analysis.tie_types(data, True)
        analysis.ego_networks(data)
        analysis.characteristics(session, [o.id for o in list(data.organisations.values())[:4]])
        analysis.code_frequencies(session, data)
        analysis.interviews_by_interviewer(data)
        analysis.missing_consents(data)
        analysis.guide_coverage(session, data)
        analysis.bundles_received(session)
    return time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as folder:
        vault = Vault(Path(folder) / "vault", memory_kib=8192, iterations=1)
        vault.create("Auswertung im Lindenviertel", [new_project_identity()[1]])
        started = time.perf_counter()
        fill(vault)
        print(f"{INTERVIEWS} interviews, {INTERVIEWS * CONTACTS:,} contacts, {INTERVIEWS * TIES:,} ties, "
              f"{INTERVIEWS * QUOTES:,} coded quotes written in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        times = [every_analysis(vault) for _ in range(RUNS)]
        with db.writing(vault.engine) as session:
            table = analysis.actor_types(analysis.load(session))
        projects = []
        for _ in range(RUNS):
            started = time.perf_counter()
            with db.writing(vault.engine) as session:
                size = len(qdpx.export(session, vault.device_id))
            projects.append(time.perf_counter() - started)
        chart, picture = [], []
        for _ in range(RUNS):
            started = time.perf_counter()
            analysis.file_of(table, "svg")
            chart.append(time.perf_counter() - started)
            started = time.perf_counter()
            analysis.file_of(table, "png")
            picture.append(time.perf_counter() - started)
        vault.lock()
    print(f"every analysis over {INTERVIEWS} interviews: median {statistics.median(times):.3f} s, "
          f"max {max(times):.3f} s (n={RUNS})  goal < 0.5 s")
    print(f"REFI-QDA project of {INTERVIEWS} interviews ({size / 2**20:.1f} MiB): median {statistics.median(projects):.3f} s, "
          f"max {max(projects):.3f} s  goal < 2 s")
    print(f"the study's chart as SVG: median {statistics.median(chart) * 1000:.1f} ms, first {chart[0] * 1000:.1f} ms; "
          f"as PNG: median {statistics.median(picture) * 1000:.0f} ms")
    print(f"seconds: {statistics.median(times):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

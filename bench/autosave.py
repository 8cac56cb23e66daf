"""Autosave round trip: HTMX POST → write → response, over real HTTP on 127.0.0.1, on a vault holding
500 interviews, beside the same route on the same data in plain (unencrypted) SQLite, in one run.

    python bench/autosave.py            # last line: ratio: <encrypted p95 / plain p95>

Requests alternate between the two apps so both see the same machine load. The plain app is the
same app whose vault engine is swapped for a plain SQLite engine: the benchmark's only wiring.
"""
import http.client
import re
import statistics
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from fieldkit import create_app, db, interviews
from fieldkit.guide import guide_version, latest_guide
from fieldkit.local_server import LocalServer
from fieldkit.models import Organisation, save
from fieldkit.vault import new_project_identity

INTERVIEWS = 500
SAVES = 1000
PASSPHRASE = "Benchmark im Lindenviertel"
WORDS = "die Beratung läuft dienstags und donnerstags im Vereinsraum mit zwei Ehrenamtlichen".split()


def fill(engine, device_id: str) -> str:
    """500 consented interviews with a few notes each; returns the id of the one the benchmark types into."""
    with db.writing(engine) as session:
        interviews.ensure_shipped_content(session, device_id)
        guide_record = latest_guide(session, "mikoss")
        guide = guide_version(session, "mikoss", guide_record.guide_version)
        for number in range(INTERVIEWS):
            organisation = save(session, device_id, Organisation(name=f"Verein {number:03d}", city="Musterstadt"))
            interview = interviews.new(session, device_id, organisation, guide_record, "Ayla")
            interviews.record_consent(session, device_id, interview, "Vorsitz", "written", "2026-11-26", {"quotes"})
            for question in guide.questions[:4]:
                interviews.save_answer(session, device_id, interview, guide, question.key, " ".join(WORDS) * 5)
        return interview.id


class Client:
    """One browser: the launch cookie, the CSRF token, a kept-alive connection."""

    def __init__(self, server: LocalServer):
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port)
        self.connection.request("GET", server.launch_url.split(str(server.port), 1)[1])
        response = self.connection.getresponse()
        response.read()
        cookie = SimpleCookie(response.getheader("Set-Cookie"))
        self.cookie = "; ".join(f"{k}={v.value}" for k, v in cookie.items())
        self.connection.request("GET", "/settings/", headers={"Cookie": self.cookie})
        self.csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', self.connection.getresponse().read().decode()).group(1)

    def save(self, interview_id: str, question: str, text: str) -> float:
        body = urlencode({"text": text})
        started = time.perf_counter()
        self.connection.request("POST", f"/interviews/{interview_id}/answers/{question}", body=body, headers={
            "Cookie": self.cookie, "X-CSRF-Token": self.csrf, "HX-Request": "true",
            "Content-Type": "application/x-www-form-urlencoded"})
        response = self.connection.getresponse()
        assert response.status == 200 and b"saved" in response.read()
        return time.perf_counter() - started


def app_on(directory: Path):
    app = create_app({"DATA_DIR": directory, "ARGON2_MEMORY_KIB": 8192, "ARGON2_ITERATIONS": 1})
    app.extensions["vault"].create(PASSPHRASE, [new_project_identity()[1]])
    return app


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        encrypted = app_on(Path(scratch) / "encrypted")
        plain = app_on(Path(scratch) / "plain")
        plain_vault = plain.extensions["vault"]
        plain_engine = db.plain_engine(Path(scratch) / "plain.db")
        db.migrate(plain_engine)
        plain_vault._engine.dispose()
        plain_vault._engine = plain_engine  # the benchmark's wiring: same app, unencrypted database
        targets = {}
        for name, app in (("encrypted", encrypted), ("plain", plain)):
            vault = app.extensions["vault"]
            targets[name] = fill(vault.engine, vault.device_id)
        servers = {name: LocalServer(app) for name, app in (("encrypted", encrypted), ("plain", plain))}
        for server in servers.values():
            server.start()
        clients = {name: Client(server) for name, server in servers.items()}
        questions = ["organisation.history", "organisation.target_group", "practices.formal", "practices.informal",
                     "network.partners"]
        timings = {"encrypted": [], "plain": []}
        text = ""
        for number in range(SAVES):
            text += WORDS[number % len(WORDS)] + " "  # a note growing as it is typed, up to about 8 KB
            question = questions[(number // 200) % len(questions)]
            order = ("encrypted", "plain") if number % 2 else ("plain", "encrypted")
            for name in order:
                timings[name].append(clients[name].save(targets[name], question, text))
        for server in servers.values():
            server.shutdown()
        encrypted.extensions["vault"].lock()
        plain_engine.dispose()
    p = {name: (statistics.median(values) * 1000, statistics.quantiles(values, n=100)[94] * 1000)
         for name, values in timings.items()}
    for name, (p50, p95) in p.items():
        print(f"{name:9s} autosave over HTTP, {SAVES} saves, {INTERVIEWS} interviews: p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    print(f"ratio: {p['encrypted'][1] / p['plain'][1]:.2f}")


if __name__ == "__main__":
    sys.exit(main())

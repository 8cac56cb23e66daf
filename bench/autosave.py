"""Autosave round trip: HTMX POST → write → response, over real HTTP on 127.0.0.1, on a vault holding
500 interviews, beside its floor in the same run: a bare Flask route (no fieldkit code) that writes the
same text with one SQLCipher UPDATE into the same vault file, served by the same WSGI server.

    python bench/autosave.py            # last line: ratio: <fieldkit p95 / floor p95>

Requests alternate between the two so both see the same machine load. The vault lies in /var/tmp (or
FIELDKIT_BENCH_DIR), on a disk where fsync is real: "saved" means on disk (synchronous=FULL) for both.
Goal: ratio ≤ 1.5 and fieldkit's p95 < 3 ms.
"""
import http.client
import os
import re
import statistics
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, request

from fieldkit import create_app, db, interviews
from fieldkit.guide import guide_version, latest_guide
from fieldkit.local_server import LocalServer
from fieldkit.models import Answer, Organisation, save
from fieldkit.vault import new_project_identity

INTERVIEWS = 500
SAVES = 1000
PASSPHRASE = "Benchmark im Lindenviertel"
WORDS = "die Beratung läuft dienstags und donnerstags im Vereinsraum mit zwei Ehrenamtlichen".split()
QUESTIONS = ["organisation.history", "organisation.target_group", "practices.formal", "practices.informal",
             "network.partners"]


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


def bare_app(engine, answer_id: str) -> Flask:
    """The floor: a Flask route that takes the text and UPDATEs one row of the vault in one commit."""
    app = Flask("floor")

    @app.post("/save")
    def save_text():
        connection = engine.raw_connection()  # pooled, as fieldkit's sessions are
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("UPDATE answer SET text = ? WHERE id = ?", (request.form["text"], answer_id))
            connection.execute("COMMIT")
        finally:
            connection.close()
        return "saved"

    return app


class Client:
    """One browser on a kept-alive connection; for fieldkit with its launch cookie and CSRF token."""

    def __init__(self, server: LocalServer, path: str, fieldkit: bool):
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port)
        self.path, self.headers = path, {"Content-Type": "application/x-www-form-urlencoded"}
        if fieldkit:
            self.connection.request("GET", server.launch_url.split(str(server.port), 1)[1])
            response = self.connection.getresponse()
            response.read()
            cookie = SimpleCookie(response.getheader("Set-Cookie"))
            self.headers["Cookie"] = "; ".join(f"{k}={v.value}" for k, v in cookie.items())
            self.connection.request("GET", "/settings/", headers={"Cookie": self.headers["Cookie"]})
            page = self.connection.getresponse().read().decode()
            self.headers["X-CSRF-Token"] = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)
            self.headers["HX-Request"] = "true"

    def save(self, text: str, question: str = "") -> float:
        body = urlencode({"text": text})
        started = time.perf_counter()
        self.connection.request("POST", self.path.format(question=question), body=body, headers=self.headers)
        response = self.connection.getresponse()
        assert response.status == 200 and b"saved" in response.read()
        return time.perf_counter() - started


def filesystem(path: Path) -> str:
    """The file system type a path lies on (tmpfs would make fsync free)."""
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    best = max((m for m in mounts if str(path.resolve()).startswith(m[1])), key=lambda m: len(m[1]))
    return best[2]


def main() -> None:
    scratch_root = Path(os.environ.get("FIELDKIT_BENCH_DIR", "/var/tmp"))
    with tempfile.TemporaryDirectory(dir=scratch_root) as scratch:
        app = create_app({"DATA_DIR": Path(scratch), "ARGON2_MEMORY_KIB": 8192, "ARGON2_ITERATIONS": 1,
                          "SYNC_INTERVAL": 0})
        vault = app.extensions["vault"]
        vault.create(PASSPHRASE, [new_project_identity()[1]])
        target = fill(vault.engine, vault.device_id)
        with db.writing(vault.engine) as session:  # the floor writes a note of another interview
            other = session.exec(Answer.__table__.select().where(Answer.interview_id != target).limit(1)).first()
        servers = {"fieldkit": LocalServer(app), "floor": LocalServer(bare_app(vault.engine, other.id))}
        for server in servers.values():
            server.start()
        clients = {"fieldkit": Client(servers["fieldkit"], f"/interviews/{target}/answers/{{question}}", True),
                   "floor": Client(servers["floor"], "/save", False)}
        timings = {"fieldkit": [], "floor": []}
        text = " ".join(WORDS) * 22  # about 2 KB, growing as it is typed
        for number in range(SAVES):
            text += WORDS[number % len(WORDS)] + " "
            question = QUESTIONS[(number // 200) % len(QUESTIONS)]
            order = ("fieldkit", "floor") if number % 2 else ("floor", "fieldkit")
            for name in order:
                timings[name].append(clients[name].save(text, question))
        for server in servers.values():
            server.shutdown()
        vault.lock()
        where = filesystem(Path(scratch))
    p = {name: (statistics.median(values) * 1000, statistics.quantiles(values, n=100)[94] * 1000)
         for name, values in timings.items()}
    for name, (p50, p95) in p.items():
        print(f"{name:8s} autosave over HTTP, {SAVES} saves of ~2 KB, {INTERVIEWS} interviews, vault on {where}: "
              f"p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    print(f"ratio: {p['fieldkit'][1] / p['floor'][1]:.2f}")


if __name__ == "__main__":
    sys.exit(main())

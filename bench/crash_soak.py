"""Crash soak: writers autosave notes and draw on a map over HTTP while `fieldkit serve` is killed
(SIGKILL) at random moments. After every kill the app starts again on the same vault, and every save
it had acknowledged must be there, with SQLite's and SQLCipher's integrity checks clean.

    python bench/crash_soak.py [KILLS]      # last line: lost: N   (200 kills by default)

tests/test_crash_soak.py runs the same with 20 kills.
"""
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener

PASSPHRASE = "Absturztest im Lindenviertel"
QUESTIONS = ("organisation.history", "organisation.target_group", "self_image.role")
CUT_OFF = (OSError, http.client.HTTPException)  # what a request meets when the kill comes: the writer stops
FAST_KDF = {"FIELDKIT_ARGON2_MEMORY_KIB": "8192", "FIELDKIT_ARGON2_ITERATIONS": "1"}


class App:
    """`fieldkit serve` in a process of its own, unlocked and driven over HTTP like the window."""

    def __init__(self, data_dir: Path):
        self.errors = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen([sys.executable, "-m", "fieldkit", "--data-dir", str(data_dir), "serve"],
                                        env={**os.environ, **FAST_KDF}, stdout=subprocess.PIPE,
                                        stderr=self.errors, text=True)
        launch = next((line.strip() for line in self.process.stdout if line.startswith("http://127.0.0.1:")), None)
        if launch is None:
            self.errors.seek(0)
            raise RuntimeError(f"fieldkit serve did not start: {self.errors.read()[-2000:]}")
        self.base = launch.split("/launch/")[0]
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()))
        with self.opener.open(launch, timeout=10) as response:
            page = response.read().decode()
        self.csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)
        self.post("/unlock", urlencode({"passphrase": PASSPHRASE, "csrf_token": self.csrf}).encode(), {})

    def post(self, path: str, body: bytes, headers: dict) -> int:
        request = Request(self.base + path, data=body, method="POST",
                          headers={"X-CSRF-Token": self.csrf, **headers})
        with self.opener.open(request, timeout=10) as response:
            response.read()
            return response.status

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def prepare(data_dir: Path) -> tuple[str, str]:
    """A vault with a consented interview and a map: (interview id, map id)."""
    from fieldkit.vault import new_project_identity

    env = {**os.environ, **FAST_KDF, "FIELDKIT_PASSPHRASE": PASSPHRASE}

    def fieldkit(*args):
        done = subprocess.run([sys.executable, "-m", "fieldkit", "--data-dir", str(data_dir), *args], env=env,
                              capture_output=True, text=True, check=True)
        return done.stdout

    fieldkit("init", "--recipient", new_project_identity()[1])
    interview = json.loads(fieldkit("interview", "create", "--organisation", "Absturzverein", "--interviewer", "Ayla",
                                    "--json"))["id"]
    fieldkit("interview", "consent", interview, "--by", "Vorsitz", "--form", "verbal", "--to", "map")
    network_map = json.loads(fieldkit("map", "create", "--interview", interview, "--title", "Netzwerk", "--json"))["id"]
    return interview, network_map


class Writers:
    """Two writers until the app dies: notes (each save sends the whole note, longer each time) and map
    contacts. What the server acknowledged is remembered, and what was sent but not answered."""

    def __init__(self, app: App, interview: str, network_map: str, round_number: int):
        self.app, self.interview, self.network_map, self.round = app, interview, network_map, round_number
        self.acknowledged = {question: None for question in QUESTIONS}
        self.sent_after = {question: [] for question in QUESTIONS}
        self.labels, self.saves = [], 0

    def notes(self) -> None:
        number = 0
        while True:
            question = QUESTIONS[number % len(QUESTIONS)]
            text = f"Runde {self.round}, Notiz {number}: " + "Die Beratung läuft dienstags. " * (number % 7)
            self.sent_after[question].append(text)
            try:
                status = self.app.post(f"/interviews/{self.interview}/answers/{question}",
                                       urlencode({"text": text}).encode(), {"HX-Request": "true"})
            except CUT_OFF:
                return
            if status == 200:
                self.acknowledged[question], self.sent_after[question] = text, []
                self.saves += 1
            number += 1

    def map(self) -> None:
        number = 0
        while True:
            label = f"Kontakt {self.round}-{number}"
            change = {"action": "add_alter", "op_id": f"r{self.round}-{number}",
                      "alter": {"label": label, "actor_type": "state_actor", "x": 0.4, "y": -0.3}}
            try:
                status = self.app.post(f"/interviews/{self.interview}/maps/{self.network_map}/changes",
                                       json.dumps(change).encode(), {"Content-Type": "application/json"})
            except CUT_OFF:
                return
            if status == 200:
                self.labels.append(label)
                self.saves += 1
            number += 1


def lost_after_restart(data_dir: Path, writers: Writers) -> tuple[int, bool]:
    """(acknowledged saves missing, integrity clean) after the kill, read from the vault itself."""
    from sqlmodel import Session, select

    from fieldkit.doctor import examine
    from fieldkit.models import Alter, Answer
    from fieldkit.vault import Vault

    vault = Vault(data_dir)
    clean = all(finding.ok for finding in examine(vault, PASSPHRASE))
    vault.unlock(PASSPHRASE)
    try:
        with Session(vault.engine) as session:
            notes = {a.question_id: a.text for a in session.exec(select(Answer))}
            labels = {a.label for a in session.exec(select(Alter))}
    finally:
        vault.lock()
    lost = 0
    for question, acknowledged in writers.acknowledged.items():
        # the acknowledged text, or one sent after it whose answer the kill cut off
        if acknowledged is not None and notes.get(question) not in [acknowledged, *writers.sent_after[question]]:
            lost += 1
    lost += sum(1 for label in writers.labels if label not in labels)
    return lost, clean


def soak(kills: int, data_dir: Path, rng: random.Random, report=print) -> dict:
    interview, network_map = prepare(data_dir)
    totals = {"kills": 0, "acknowledged": 0, "lost": 0, "unclean": 0}
    for round_number in range(kills):
        app = App(data_dir)
        writers = Writers(app, interview, network_map, round_number)
        threads = [threading.Thread(target=writers.notes), threading.Thread(target=writers.map)]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.2, 1.2))
        app.kill()
        for thread in threads:
            thread.join(timeout=15)
        lost, clean = lost_after_restart(data_dir, writers)
        totals["kills"] += 1
        totals["acknowledged"] += writers.saves
        totals["lost"] += lost
        totals["unclean"] += 0 if clean else 1
        report(f"kill {round_number + 1}: {writers.saves} acknowledged saves, {lost} lost, "
               f"integrity {'clean' if clean else 'NOT clean'}")
    return totals


def main() -> int:
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as folder:
        totals = soak(kills, Path(folder) / "vault", random.Random(11), report=lambda line: None)
    print(f"{totals['kills']} kills, {totals['acknowledged']} acknowledged saves, "
          f"{totals['unclean']} unclean integrity checks")
    print(f"lost: {totals['lost']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

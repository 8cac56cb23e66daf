"""Shared fixtures: a real app on a temporary data directory, a client that entered through the
launch URL, a cheap Argon2id cost (the production cost is measured in bench/, not paid per test)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import sync_playwright

from fieldkit import create_app
from fieldkit.local_server import LocalServer
from fieldkit.vault import new_project_identity

PORT = 5555
FAST_KDF = {"ARGON2_MEMORY_KIB": 8192, "ARGON2_ITERATIONS": 1}
FAST_KDF_ENV = {f"FIELDKIT_{key}": str(value) for key, value in FAST_KDF.items()}
PASSPHRASE = "Sommerfest im Lindenviertel"


class LocalClient(FlaskClient):
    """A test client that talks to the app the way the window does: on 127.0.0.1 at our port."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("base_url", f"http://127.0.0.1:{PORT}")
        return super().open(*args, **kwargs)


@pytest.fixture
def coordinator():
    """A project coordinator key pair: (identity file text, recipient)."""
    return new_project_identity()


@pytest.fixture
def app(tmp_path):
    app = create_app({"DATA_DIR": tmp_path / "data", "SERVER_PORT": PORT, **FAST_KDF})
    app.test_client_class = LocalClient
    yield app
    app.extensions["vault"].lock()


@pytest.fixture
def guard(app):
    return app.extensions["launch_guard"]


@pytest.fixture
def client(app, guard):
    """A client that opened the one-time launch URL and holds the session cookie."""
    client = app.test_client()
    response = client.get(guard.launch_url().removeprefix(f"http://127.0.0.1:{PORT}"))
    assert response.status_code == 302
    return client


@pytest.fixture
def unlocked(app, client, guard, coordinator):
    """The app with a freshly created, unlocked vault."""
    response = client.post("/setup", data={"csrf_token": guard.csrf_token, "passphrase": PASSPHRASE,
                                            "confirmation": PASSPHRASE, "recipient": coordinator[1]})
    assert response.status_code == 302, response.data
    return app


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_cli(*args, data_dir=None, env=None, input_text=None, timeout=60):
    """Run the real `fieldkit` command in a subprocess."""
    full_env = {**os.environ, **FAST_KDF_ENV, **(env or {})}
    command = [sys.executable, "-m", "fieldkit"]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return subprocess.run(command + list(args), env=full_env, input=input_text, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


# Browser tests: Debian's chromium driven by Playwright, and the real app on a real socket.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="de-DE")
    page = context.new_page()
    problems = []
    # A refused form is answered with 400 on purpose; a test may expect more (page.expected_errors).
    page.expected_errors = ["the server responded with a status of 400"]
    page.on("console", lambda message: message.type == "error"
            and not any(expected in message.text for expected in page.expected_errors)
            and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert problems == [], "the page logged errors (a CSP violation shows here too)"


@pytest.fixture
def served(tmp_path):
    """The real app on a real socket, as `fieldkit serve` runs it."""
    app = create_app({"DATA_DIR": tmp_path / "data", **FAST_KDF})
    server = LocalServer(app)
    server.start()
    yield server
    server.shutdown()
    app.extensions["vault"].lock()


@pytest.fixture
def vault(tmp_path, coordinator):
    """A vault opened directly (no app), with the shipped guide and codebook."""
    from fieldkit import db, interviews
    from fieldkit.vault import Vault

    vault = Vault(tmp_path / "vault", memory_kib=8192, iterations=1)
    vault.create(PASSPHRASE, [coordinator[1]])
    with db.writing(vault.engine) as session:
        interviews.ensure_shipped_content(session, vault.device_id)
    yield vault
    vault.lock()


def consented_interview(vault, organisation: str, agreed: set):
    """An interview with the shipped guide whose representative consented to `agreed`."""
    from fieldkit import db, interviews
    from fieldkit.guide import latest_guide
    from fieldkit.models import Organisation, save

    with db.writing(vault.engine) as session:
        found = save(session, vault.device_id, Organisation(name=organisation))
        interview = interviews.new(session, vault.device_id, found, latest_guide(session, "mikoss"), "Ayla")
        interviews.record_consent(session, vault.device_id, interview, "Vorsitz", "verbal", "2026-11-26", agreed)
        return interview


def consented_on_the_command_line(cli, data_dir, organisation: str, agreed: str = "") -> str:
    """A new vault (passphrase PASSPHRASE) with one consented interview, made by the commands an
    interviewer would type; returns the interview's id. `agreed`: as `interview consent --to` takes it."""
    import json

    from fieldkit.vault import new_project_identity

    env = {"FIELDKIT_PASSPHRASE": PASSPHRASE}
    assert cli("init", "--recipient", new_project_identity()[1], data_dir=data_dir, env=env).returncode == 0
    planned = cli("interview", "create", "--organisation", organisation, "--interviewer", "Ayla", "--json",
                  data_dir=data_dir, env=env)
    interview_id = json.loads(planned.stdout)["id"]
    assert cli("interview", "consent", interview_id, "--by", "Vorsitz", "--form", "verbal", "--to", agreed,
               data_dir=data_dir, env=env).returncode == 0
    return interview_id


def set_up_vault(page, launch_url: str, recipient: str) -> None:
    """First start in the browser: passphrase twice, recovery key pasted; lands on the interviews."""
    from playwright.sync_api import expect

    page.goto(launch_url)
    page.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
    page.get_by_label("Passphrase wiederholen").fill(PASSPHRASE)
    page.get_by_label("Öffentlichen Schlüssel einfügen").fill(recipient)
    page.get_by_role("button", name="Tresor anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Interviews")


def add_to_note(vault, addition: str) -> None:
    """Edit the demo's note on informal practices in one vault, as an interviewer or the coordination would."""
    from sqlmodel import select

    from fieldkit import db
    from fieldkit.models import Answer

    with db.writing(vault.engine) as session:
        answer = session.exec(select(Answer).where(Answer.question_id == "practices.informal")).one()
        answer.text += addition
        answer.touch(vault.device_id)
        session.add(answer)


@pytest.fixture
def display():
    """A virtual X screen of our own; Xvfb tells its display number through -displayfd."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=[write_end], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        number = reader.readline().strip()
    yield f":{number}"
    xvfb.terminate()
    xvfb.wait(timeout=10)

"""End to end in Debian's chromium, driven by Playwright: the pages as an interviewer uses them."""
import os
import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from conftest import FAST_KDF, FAST_KDF_ENV, PASSPHRASE, set_up_vault
from fieldkit import create_app
from fieldkit.demo import DEMO_PASSPHRASE
from fieldkit.local_server import LocalServer

pytestmark = pytest.mark.browser
def test_first_start_creates_the_vault_then_locks_and_unlocks(served, page, coordinator):
    page.goto(served.launch_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("fieldkit auf diesem Laptop einrichten")

    page.get_by_label("Passphrase", exact=True).fill("zu kurz")
    page.get_by_label("Passphrase wiederholen").fill("zu kurz")
    page.get_by_label("Öffentlichen Schlüssel einfügen").fill(coordinator[1])
    page.evaluate("document.querySelectorAll('input[minlength]').forEach(i => i.removeAttribute('minlength'))")
    page.get_by_role("button", name="Tresor anlegen").click()
    expect(page.get_by_role("alert")).to_contain_text("mindestens 12 Zeichen")

    page.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
    page.get_by_label("Passphrase wiederholen").fill(PASSPHRASE)
    page.get_by_role("button", name="Tresor anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Interviews")
    expect(page.get_by_text("Noch keine Interviews.")).to_be_visible()

    page.get_by_role("button", name="Sperren").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("fieldkit entsperren")
    page.get_by_label("Passphrase").fill("Winterfest im Lindenviertel")
    page.get_by_role("button", name="Entsperren").click()
    expect(page.get_by_role("alert")).to_have_text("Falsche Passphrase. Es wurde nichts verändert.")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Entsperren").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Interviews")


def test_recovery_key_can_be_chosen_as_a_file_but_never_the_secret_one(served, page, coordinator, tmp_path):
    secret_file, public_file = tmp_path / "coordinator.key", tmp_path / "coordinator.pub"
    secret_file.write_text(coordinator[0])
    public_file.write_text(coordinator[1] + "\n")
    page.goto(served.launch_url)
    for chosen in (secret_file, public_file):
        page.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
        page.get_by_label("Passphrase wiederholen").fill(PASSPHRASE)
        page.get_by_label("oder die Schlüsseldatei auswählen").set_input_files(str(chosen))
        page.get_by_role("button", name="Tresor anlegen").click()
        if chosen is secret_file:
            expect(page.get_by_role("alert")).to_contain_text("geheime Schlüssel der Koordination")
    expect(page.get_by_role("heading", level=1)).to_have_text("Interviews")
    page.get_by_role("link", name="Einstellungen").click()
    expect(page.locator(".recipient")).to_have_text(coordinator[1])


@pytest.fixture
def demo_server(tmp_path):
    """`fieldkit demo --serve` as a newcomer runs it: a real process printing its one-time URL."""
    process = subprocess.Popen([sys.executable, "-m", "fieldkit", "--data-dir", str(tmp_path / "demo"), "demo", "--serve"],
                               env={**os.environ, **FAST_KDF_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = None
    for line in process.stdout:
        if line.startswith("http://127.0.0.1:"):
            url = line.strip()
            break
    assert url, process.stderr.read()
    yield url
    process.terminate()
    assert process.wait(timeout=10) is not None


def test_demo_vault_shows_the_two_demo_organisations(demo_server, page):
    page.goto(demo_server)
    expect(page.get_by_role("heading", level=1)).to_have_text("fieldkit entsperren")
    page.get_by_label("Passphrase").fill(DEMO_PASSPHRASE)
    page.get_by_role("button", name="Entsperren").click()

    expect(page.get_by_role("status")).to_contain_text("Demo-Daten")
    page.get_by_role("link", name="Organisationen").click()
    expect(page).to_have_url(re.compile(r"/organisations/$"))
    page.wait_for_load_state()  # htmx listens to the search field only once its script ran
    cards = page.locator(".card h2")
    expect(cards).to_have_text(["Bildungsbrücke Musterstadt e. V. (Demo)", "Frauentreff Lindenviertel (Demo)"])

    page.get_by_label("Suche nach Name, Stadt oder Kürzel").fill("Frauen")
    expect(cards).to_have_text(["Frauentreff Lindenviertel (Demo)"])  # swapped in by htmx
    expect(page).to_have_url(re.compile(r"q=Frauen"))

    cards.first.get_by_role("link").click()
    expect(page.get_by_text("Netzwerk heute: 6 Kontakte, 5 Beziehungen")).to_be_visible()
    expect(page.get_by_text("Alltagsunterstützung", exact=False)).to_be_visible()

    page.get_by_role("button", name="Sperren").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("fieldkit entsperren")
    page.go_back()  # the locked app shows nothing from before, not even from history
    expect(page.get_by_role("heading", level=1)).to_have_text("fieldkit entsperren")


def test_language_switch_shows_english(served, page):
    page.goto(served.launch_url)
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up fieldkit on this laptop")


def test_idle_page_leaves_the_screen_when_the_vault_locks_itself(page, tmp_path, coordinator):
    app = create_app({"DATA_DIR": tmp_path / "idle", "IDLE_LOCK_MINUTES": 0.05, **FAST_KDF})  # 3 seconds
    server = LocalServer(app)
    server.start()
    try:
        set_up_vault(page, server.launch_url, coordinator[1])
        expect(page.get_by_role("heading", level=1)).to_have_text("fieldkit entsperren", timeout=20_000)
        assert not app.extensions["vault"].is_unlocked
    finally:
        server.shutdown()

"""The coordinators' dashboard of the project server in Debian's chromium, and the laptop's
synchronisation screen sending to it."""
import json

import pytest
from playwright.sync_api import expect

from conftest import free_port
from test_server import ADMIN_PASSWORD, Server, coded, document, fieldkit

pytestmark = pytest.mark.browser


@pytest.fixture
def dashboard(tmp_path):
    database = {"url": "", "data_dir": tmp_path / "server"}
    assert fieldkit(database, "server", "init").returncode == 0
    token = json.loads(fieldkit(database, "server", "device", "add", "Laptop Ayla", "--json").stdout)["token"]
    running = Server(database, free_port()).start()
    running.token = token
    yield running
    running.stop()


def test_login_list_a_release_and_log_out(dashboard, page):
    page.expected_errors.append("status of 401")  # the wrong password, answered as such
    assert dashboard.request("POST", "/api/v1/releases", document(coded("Kooperation")), dashboard.token)[0] == 201
    page.goto(dashboard.url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    page.get_by_label("Passwort der Verwaltung").fill("falsches Passwort!")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("alert")).to_have_text("Falsches Passwort.")
    page.get_by_label("Passwort der Verwaltung").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Freigaben")
    expect(page.get_by_role("status")).to_have_text("1 Freigaben empfangen.")
    expect(page.locator("table").first).to_contain_text("Laptop Ayla")
    page.locator("table.server-releases a").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Freigabe von Laptop Ayla")
    page.get_by_role("button", name="Abmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    page.goto(dashboard.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")  # the session is gone


def test_login_attempts_are_limited(dashboard, page):
    page.expected_errors += ["status of 401", "status of 429"]
    page.goto(dashboard.url + "/login")
    for _ in range(5):
        page.get_by_label("Passwort der Verwaltung").fill("falsches Passwort!")
        page.get_by_role("button", name="Anmelden").click()
    page.get_by_label("Passwort der Verwaltung").fill(ADMIN_PASSWORD)  # even the right one waits now
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("alert")).to_contain_text("Zu viele Fehlversuche")


def test_the_sync_screen_sends_a_release(dashboard, served, page, coordinator, tmp_path):
    from fieldkit import db, release
    from fieldkit.anonymise import review
    from fieldkit.demo import create_demo_data

    from conftest import set_up_vault

    page.expected_errors.append("the server responded with a status of 400")
    set_up_vault(page, served.launch_url, coordinator[1])
    vault = served.app.extensions["vault"]
    with db.writing(vault.engine) as session:
        create_demo_data(session, vault.device_id)
        review.approve_all(session, vault.device_id, "Steward")
    release.make_release(vault.engine, vault.device_id, tmp_path / "releases", "Steward")
    page.get_by_role("link", name="Synchronisation").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Jetzt synchronisieren")).to_be_disabled()
    page.get_by_label("Serveradresse").fill("http://fieldkit.example.org")
    page.get_by_label("Geräte-Token").fill(dashboard.token)
    page.get_by_role("button", name="Speichern").click()
    expect(page.get_by_role("alert")).to_contain_text("nur für diesen Computer selbst")
    page.get_by_label("Serveradresse").fill(dashboard.url)
    page.get_by_label("Geräte-Token").fill(dashboard.token)
    page.get_by_role("button", name="Speichern").click()
    page.get_by_role("button", name="Jetzt synchronisieren").click()
    expect(page.locator(".notice")).to_have_text("1 gesendet, 0 abgelehnt, 0 werden später erneut versucht.")
    expect(page.locator("tbody tr")).to_contain_text("gesendet")
    expect(page.get_by_text("Letzte erfolgreiche Synchronisation:")).not_to_contain_text("noch nie")

    # The coordinators see the study's analyses over every release received.
    page.goto(dashboard.url + "/login")
    page.get_by_label("Passwort der Verwaltung").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.get_by_role("link", name="Auswertung aller Freigaben").click()
    expect(page.get_by_role("heading", name="Typen im Vergleich zur Relevanz")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("2 Interviews, 2 Karten")
    chart = page.get_by_role("img", name="Diagramm: Typen im Vergleich zur Relevanz", exact=False)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 300", arg=chart.element_handle())
    contacts = page.locator("table.analysis-table").first.locator("tbody tr td:nth-child(2)").all_inner_texts()
    assert sum(int(value) for value in contacts) == 14  # the demo's two maps: 6 + 8 contacts

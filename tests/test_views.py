"""Screens through the real app and a real vault: first start, settings, organisations."""
import pytest
from sqlmodel import Session

from fieldkit.demo import create_demo_data
from fieldkit.local_settings import get_setting
from fieldkit.vault import new_project_identity

from conftest import PASSPHRASE


def test_first_request_leads_to_setup_then_unlock(app, client, guard, coordinator):
    assert client.get("/").headers["Location"] == "/setup"
    assert client.get("/organisations/").headers["Location"] == "/setup"
    assert client.get("/unlock").headers["Location"] == "/setup"
    client.post("/setup", data={"csrf_token": guard.csrf_token, "passphrase": PASSPHRASE,
                                "confirmation": PASSPHRASE, "recipient": coordinator[1]})
    assert client.get("/setup").headers["Location"] == "/unlock"


@pytest.mark.parametrize("recipient, message", [
    ("", "kein öffentlicher age-Schlüssel"),
    ("age1kaputt", "kein öffentlicher age-Schlüssel"),
    ("AGE-SECRET-KEY-1XYZ", "geheime Schlüssel"),
    (new_project_identity()[0], "geheime Schlüssel"),  # the whole identity file, though it names its public key
])
def test_setup_refuses_a_bad_recovery_key_and_keeps_nothing(app, client, guard, recipient, message):
    response = client.post("/setup", data={"csrf_token": guard.csrf_token, "passphrase": PASSPHRASE,
                                           "confirmation": PASSPHRASE, "recipient": recipient})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert not app.extensions["vault"].exists
    assert "AGE-SECRET-KEY" not in response.get_data(as_text=True)  # a pasted private key is not echoed back


def test_idle_lock_minutes_are_saved_in_the_vault(unlocked, client, guard):
    response = client.post("/settings/idle", data={"csrf_token": guard.csrf_token, "minutes": "7"})
    assert response.status_code == 200 and "nach 7 Minuten" in response.get_data(as_text=True)
    vault = unlocked.extensions["vault"]
    with Session(vault.engine) as session:
        assert get_setting(session, "idle_lock_minutes") == 7
    assert unlocked.extensions["idle_minutes"] == 7
    assert 'data-idle-seconds="420"' in client.get("/settings/").get_data(as_text=True)


@pytest.mark.parametrize("minutes", ["0", "241", "sieben", ""])
def test_idle_lock_minutes_out_of_range_are_refused(unlocked, client, guard, minutes):
    response = client.post("/settings/idle", data={"csrf_token": guard.csrf_token, "minutes": minutes})
    assert response.status_code == 400
    assert "zwischen 1 und 240" in response.get_data(as_text=True)


def test_passphrase_change_in_settings(unlocked, client, guard):
    form = {"csrf_token": guard.csrf_token, "current": "Winterfest im Lindenviertel",
            "passphrase": "Neue Passphrase fuer den Herbst", "confirmation": "Neue Passphrase fuer den Herbst"}
    wrong = client.post("/settings/passphrase", data=form)
    assert wrong.status_code == 400 and "Falsche Passphrase" in wrong.get_data(as_text=True)
    mismatch = client.post("/settings/passphrase", data={**form, "current": PASSPHRASE, "confirmation": "anders"})
    assert mismatch.status_code == 400 and "stimmen nicht überein" in mismatch.get_data(as_text=True)
    changed = client.post("/settings/passphrase", data={**form, "current": PASSPHRASE})
    assert changed.status_code == 200 and "Ab jetzt gilt die neue" in changed.get_data(as_text=True)
    vault = unlocked.extensions["vault"]
    vault.lock()
    vault.unlock("Neue Passphrase fuer den Herbst")


def test_settings_show_the_device_fingerprint(unlocked, client):
    page = client.get("/settings/").get_data(as_text=True)
    assert unlocked.extensions["vault"].device_id in page
    assert "Fingerabdruck des Signaturschlüssels" in page


def test_organisation_pages(unlocked, client):
    vault = unlocked.extensions["vault"]
    with Session(vault.engine) as session, session.begin():
        create_demo_data(session, vault.device_id)
    listing = client.get("/organisations/").get_data(as_text=True)
    assert "Frauentreff Lindenviertel (Demo)" in listing
    assert client.get("/organisations/unknown-id").status_code == 404


def test_unknown_pages_get_a_german_error_page(unlocked, client):
    response = client.get("/nirgendwo")
    assert response.status_code == 404
    assert "Diese Seite gibt es nicht (mehr)." in response.get_data(as_text=True)
    assert client.post("/organisations/", headers={"X-CSRF-Token": unlocked.extensions["launch_guard"].csrf_token}).status_code == 405

"""Handing data over through the screens: export a bundle as a download, merge it in another vault
after accepting the device, settle a conflict."""
import io
import re
import time

from sqlmodel import select

from conftest import FAST_KDF, PASSPHRASE, PORT, LocalClient, add_to_note
from fieldkit import create_app, db
from fieldkit.demo import create_demo_data
from fieldkit.models import Answer


def open_app(directory, recipient, demo=False):
    """An app with an unlocked vault and a client that came in through the launch URL."""
    app = create_app({"DATA_DIR": directory, "SERVER_PORT": PORT, **FAST_KDF})
    app.test_client_class = LocalClient
    client = app.test_client()
    guard = app.extensions["launch_guard"]
    client.get(guard.launch_url().removeprefix(f"http://127.0.0.1:{PORT}"))
    client.post("/setup", data={"csrf_token": guard.csrf_token, "passphrase": PASSPHRASE,
                                "confirmation": PASSPHRASE, "recipient": recipient})
    if demo:
        vault = app.extensions["vault"]
        with db.writing(vault.engine) as session:
            create_demo_data(session, vault.device_id)
    return app, client, guard.csrf_token


def test_export_download_merge_after_accepting_the_device_and_settle_a_conflict(tmp_path, coordinator):
    laptop, laptop_client, laptop_csrf = open_app(tmp_path / "laptop", coordinator[1], demo=True)
    office, office_client, office_csrf = open_app(tmp_path / "office", coordinator[1])

    download = laptop_client.post("/exchange/export", data={"csrf_token": laptop_csrf, "scope": "all"})
    assert download.status_code == 200 and download.data.startswith(b"age-encryption.org/v1")
    device = laptop.extensions["vault"].device_id
    assert f'attachment; filename="fieldkit-{device[:8]}-' in download.headers["Content-Disposition"]

    def upload(data):
        return office_client.post("/exchange/merge", content_type="multipart/form-data", data={
            "csrf_token": office_csrf, "bundles": (io.BytesIO(data), "laptop.fkb"),
            "identity": (io.BytesIO(coordinator[0].encode()), "coordinator.key")})

    waiting = upload(download.data).get_data(as_text=True)
    assert "noch unbekannten Gerät" in waiting
    fingerprint = re.search(r'name="accept" value="([^"]+)"', waiting).group(1)
    token = re.search(r'name="pending" value="([^"]+)"', waiting).group(1)
    merged = office_client.post("/exchange/merge", data={"csrf_token": office_csrf, "pending": token, "accept": fingerprint})
    assert merged.status_code == 200 and "0 Konflikte" in merged.get_data(as_text=True)
    assert "Frauentreff Lindenviertel (Demo)" in office_client.get("/organisations/").get_data(as_text=True)

    add_to_note(laptop.extensions["vault"], " Vom Laptop.")
    add_to_note(office.extensions["vault"], " Von der Koordination.")
    changed = laptop_client.post("/exchange/export", data={"csrf_token": laptop_csrf, "scope": "changed"})
    assert "1 Konflikte" in upload(changed.data).get_data(as_text=True)
    page = office_client.get("/exchange/conflicts").get_data(as_text=True)
    assert "Vom Laptop." in page and "Von der Koordination." in page
    conflict_id = re.search(r'/exchange/conflicts/([0-9a-f-]{36})', page).group(1)
    edited = "Beide Fassungen zusammengeführt: vom Laptop und von der Koordination."
    office_client.post(f"/exchange/conflicts/{conflict_id}", data={"csrf_token": office_csrf, "keep": "edited",
                                                                    "field:text": edited})
    assert "Keine offenen Konflikte." in office_client.get("/exchange/conflicts").get_data(as_text=True)
    vault = office.extensions["vault"]
    with db.writing(vault.engine) as session:
        assert session.exec(select(Answer).where(Answer.question_id == "practices.informal")).one().text == edited
    for app in (laptop, office):
        app.extensions["vault"].lock()


def test_the_export_shows_its_progress_then_hands_out_the_bundle_once(tmp_path, coordinator):
    app, client, csrf = open_app(tmp_path / "laptop", coordinator[1], demo=True)
    started = client.post("/exchange/export", data={"csrf_token": csrf, "scope": "all"}, headers={"HX-Request": "true"})
    job = re.search(r"/exchange/export/([\w-]+)", started.get_data(as_text=True)).group(1)
    for _ in range(100):
        page = client.get(f"/exchange/export/{job}").get_data(as_text=True)
        if "Paket speichern" in page:
            break
        assert "<progress" in page
        time.sleep(0.05)
    assert "Paket 1 ist fertig" in page
    download = client.get(f"/exchange/export/{job}/file")
    assert download.data.startswith(b"age-encryption.org/v1")
    assert client.get(f"/exchange/export/{job}/file").status_code == 404
    app.extensions["vault"].lock()


def test_merging_without_key_or_bundle_says_what_is_missing(tmp_path, coordinator):
    app, client, csrf = open_app(tmp_path / "office", coordinator[1])
    response = client.post("/exchange/merge", content_type="multipart/form-data", data={"csrf_token": csrf})
    assert response.status_code == 400 and "mindestens ein Paket" in response.get_data(as_text=True)
    app.extensions["vault"].lock()


def test_merging_with_a_text_file_as_key_says_what_is_wrong_with_it(tmp_path, coordinator):
    app, client, csrf = open_app(tmp_path / "office", coordinator[1])
    response = client.post("/exchange/merge", content_type="multipart/form-data", data={
        "csrf_token": csrf, "bundles": (io.BytesIO(b"age-encryption.org/v1\n"), "laptop.fkb"),
        "identity": (io.BytesIO("Schlüssel kommt später".encode()), "notiz.txt")})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "keinen geheimen age-Schlüssel" in page and "mindestens ein Paket" not in page
    app.extensions["vault"].lock()


def test_bundles_merged_beside_a_device_waiting_to_be_accepted_are_reported(tmp_path, coordinator):
    """Found by a review: the page asking to accept a new device listed only the refusals, not what the
    same upload merged."""
    first, first_client, first_csrf = open_app(tmp_path / "first", coordinator[1], demo=True)
    second, second_client, second_csrf = open_app(tmp_path / "second", coordinator[1], demo=True)
    office, office_client, office_csrf = open_app(tmp_path / "office", coordinator[1])

    def exported(client, csrf):
        return client.post("/exchange/export", data={"csrf_token": csrf, "scope": "all"}).data

    def upload(*bundles):
        return office_client.post("/exchange/merge", content_type="multipart/form-data", data={
            "csrf_token": office_csrf, "bundles": [(io.BytesIO(data), name) for name, data in bundles],
            "identity": (io.BytesIO(coordinator[0].encode()), "coordinator.key")}).get_data(as_text=True)

    waiting = upload(("first-1.fkb", exported(first_client, first_csrf)))
    token = re.search(r'name="pending" value="([^"]+)"', waiting).group(1)
    office_client.post("/exchange/merge", data={"csrf_token": office_csrf, "pending": token,
                                                "accept": re.search(r'name="accept" value="([^"]+)"', waiting).group(1)})
    page = upload(("first-2.fkb", exported(first_client, first_csrf)), ("second-1.fkb", exported(second_client, second_csrf)))
    assert "noch unbekannten Gerät" in page
    assert re.search(r"first-2\.fkb</strong>:\s*0 neu, 0 aktualisiert, \d+ unverändert, 0 Konflikte", page)
    for app in (first, second, office):
        app.extensions["vault"].lock()

"""Interview screens through the app: where the interviewer left off, uploads kept in memory,
guide and table uploads with their errors, locked interviews refusing notes."""
import io
import re

import pytest
import werkzeug.formparser

from conftest import consented_interview


@pytest.fixture
def interview_id(unlocked):
    return consented_interview(unlocked.extensions["vault"], "Elternnetzwerk", {"quotes"}).id


def test_reopening_the_guide_returns_to_where_the_interviewer_was(client, guard, interview_id):
    # The guide page reports its place with the section clock (a GET changes nothing).
    client.post(f"/interviews/{interview_id}/clock", headers={"X-CSRF-Token": guard.csrf_token},
                data={"section": "network", "question": "network.power", "mode": "question", "seconds": "0"})
    response = client.get(f"/interviews/{interview_id}/guide")
    assert response.status_code == 302
    assert "section=network" in response.headers["Location"] and "question=network.power" in response.headers["Location"]


def test_uploads_never_touch_the_disk(client, guard, interview_id, monkeypatch):
    def no_temporary_files(*args, **kwargs):
        raise AssertionError("an upload was spooled to a temporary file")

    monkeypatch.setattr(werkzeug.formparser, "SpooledTemporaryFile", no_temporary_files)
    transcript = ("B: Wir treffen uns jeden Dienstag im Vereinsraum.\n" * 40000).encode()  # about 2 MB
    response = client.post(f"/interviews/{interview_id}/transcripts", content_type="multipart/form-data",
                           data={"csrf_token": guard.csrf_token, "file": (io.BytesIO(transcript), "gespraech.txt")})
    assert response.status_code == 302
    assert "gespraech.txt" in client.get(f"/interviews/{interview_id}").get_data(as_text=True)


def test_a_locked_interview_refuses_notes_and_says_why(unlocked, client, guard, interview_id):
    for action in ("complete", "lock"):
        client.post(f"/interviews/{interview_id}/status", data={"csrf_token": guard.csrf_token, "action": action})
    response = client.post(f"/interviews/{interview_id}/answers/organisation.history", data={"text": "spät"},
                           headers={"X-CSRF-Token": guard.csrf_token, "HX-Request": "true"})
    assert response.status_code == 409
    assert "nur noch gelesen" in response.get_data(as_text=True)


def test_a_bad_guide_upload_names_its_line(unlocked, client, guard):
    bad = b'id: x\nversion: "1"\nlanguages: [de]\ntitle: {de: X}\nsections:\n  - id: s\n    titel: {de: T}\n'
    response = client.post("/guides/", content_type="multipart/form-data",
                           data={"csrf_token": guard.csrf_token, "file": (io.BytesIO(bad), "leitfaden.yaml")})
    assert response.status_code == 400
    assert "Zeile 7: Unbekannter Schlüssel &#39;titel&#39;." in response.get_data(as_text=True)


def test_table_import_previews_then_imports(unlocked, client, guard):
    table = "name;city\nKulturverein;Musterstadt\n;Musterstadt\n".encode()
    preview = client.post("/organisations/import", content_type="multipart/form-data",
                          data={"csrf_token": guard.csrf_token, "file": (io.BytesIO(table), "orgs.csv")})
    page = preview.get_data(as_text=True)
    assert "Der Name fehlt." in page and "1 Zeile ohne Probleme importieren" in page
    token = re.search(r'name="confirm" value="([^"]+)"', page).group(1)
    done = client.post("/organisations/import", data={"csrf_token": guard.csrf_token, "confirm": token})
    assert "1 Organisationen und 0 geplante Interviews wurden importiert." in done.get_data(as_text=True)
    assert "Kulturverein" in client.get("/organisations/").get_data(as_text=True)


def test_the_same_import_confirmed_twice_creates_each_organisation_once(unlocked, client, guard):
    table = "name;city\nKulturverein;Musterstadt\n".encode()
    tokens = []
    for _ in range(2):
        preview = client.post("/organisations/import", content_type="multipart/form-data",
                              data={"csrf_token": guard.csrf_token, "file": (io.BytesIO(table), "orgs.csv")})
        tokens.append(re.search(r'name="confirm" value="([^"]+)"', preview.get_data(as_text=True)).group(1))
    for token in tokens:
        client.post("/organisations/import", data={"csrf_token": guard.csrf_token, "confirm": token})
    assert client.get("/organisations/").get_data(as_text=True).count("Kulturverein") == 1


def test_reloading_a_guide_version_with_changed_content_is_refused_clearly(unlocked, client, guard):
    from fieldkit.guide import builtin_guide_sources

    changed = builtin_guide_sources()[0].replace("Abschluss", "Ende").encode()
    response = client.post("/guides/", content_type="multipart/form-data",
                           data={"csrf_token": guard.csrf_token, "file": (io.BytesIO(changed), "mikoss.yaml")})
    assert response.status_code == 400
    assert "neue Versionsnummer" in response.get_data(as_text=True)

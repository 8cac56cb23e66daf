"""Map screens through the app: creating, copying and deleting maps, the JSON changes and their
refusals, downloads, and maps that can only be read."""
import io
import json
import uuid
import zipfile

import pytest

from conftest import consented_interview



@pytest.fixture
def interview_id(unlocked):
    return consented_interview(unlocked.extensions["vault"], "Elternnetzwerk", {"network_map"}).id


def start_map(client, guard, interview_id, title="Netzwerk heute") -> str:
    response = client.post(f"/interviews/{interview_id}/maps", data={"title": title, "csrf_token": guard.csrf_token})
    assert response.status_code == 302, response.text
    return response.headers["Location"].rsplit("/", 1)[-1]


def send(client, guard, interview_id, map_id, **change):
    return client.post(f"/interviews/{interview_id}/maps/{map_id}/changes", data=json.dumps(change),
                       headers={"X-CSRF-Token": guard.csrf_token, "Content-Type": "application/json"})


def test_changes_are_saved_and_refusals_explained(client, guard, interview_id):
    map_id = start_map(client, guard, interview_id)
    alter = {"id": str(uuid.uuid4()), "label": "Jobcenter", "actor_type": "state_actor", "x": 0.4, "y": -0.3}
    assert send(client, guard, interview_id, map_id, action="add_alter", alter=alter).json["can_undo"] is True
    refused = send(client, guard, interview_id, map_id, action="add_tie",
                   tie={"source_id": alter["id"], "target_id": alter["id"], "type": "conflict"})
    assert refused.status_code == 409 and refused.json["error"] == "Eine Beziehung verbindet zwei verschiedene Akteure."
    assert send(client, guard, interview_id, map_id, action="add_alter", alter="nonsense").status_code == 409
    garbage = client.post(f"/interviews/{interview_id}/maps/{map_id}/changes", data="{not json",
                          headers={"X-CSRF-Token": guard.csrf_token, "Content-Type": "application/json"})
    assert garbage.status_code == 409
    without_token = client.post(f"/interviews/{interview_id}/maps/{map_id}/changes", json={"action": "undo"})
    assert without_token.status_code == 403
    state = client.get(f"/interviews/{interview_id}/maps/{map_id}/state").json
    assert [a["label"] for a in state["alters"]] == ["Jobcenter"]
    measures = client.get(f"/interviews/{interview_id}/maps/{map_id}/measures").text
    assert 'data-measure="size">1<' in measures


def test_copy_and_delete_from_the_interview_page(client, guard, interview_id):
    map_id = start_map(client, guard, interview_id)
    send(client, guard, interview_id, map_id, action="add_alter",
         alter={"label": "Moschee", "actor_type": "religious_institution", "x": -0.3, "y": 0.5})
    copied = client.post(f"/interviews/{interview_id}/maps/{map_id}/copy",
                         data={"title": "Vor fünf Jahren", "csrf_token": guard.csrf_token})
    copy_id = copied.headers["Location"].rsplit("/", 1)[-1]
    assert client.get(f"/interviews/{interview_id}/maps/{copy_id}/state").json["alters"][0]["label"] == "Moschee"
    page = client.get(f"/interviews/{interview_id}").text
    assert "Vor fünf Jahren" in page and "1 Kontakt" in page
    untitled = client.post(f"/interviews/{interview_id}/maps", data={"title": " ", "csrf_token": guard.csrf_token})
    assert untitled.status_code == 400 and "Geben Sie der Karte einen Titel." in untitled.text
    client.post(f"/interviews/{interview_id}/maps/{copy_id}/delete", data={"csrf_token": guard.csrf_token})
    assert client.get(f"/interviews/{interview_id}/maps/{copy_id}").status_code == 404
    assert client.get(f"/interviews/{interview_id}/maps/{map_id}").status_code == 200


def test_downloads_in_every_format(client, guard, interview_id):
    map_id = start_map(client, guard, interview_id)
    send(client, guard, interview_id, map_id, action="add_alter",
         alter={"label": "Schule", "actor_type": "educational_institution", "x": -0.5, "y": 0.3})
    for fmt, start in (("png", b"\x89PNG"), ("svg", b"<svg"), ("graphml", b"<?xml"), ("nc-csv", b"PK")):
        response = client.get(f"/interviews/{interview_id}/maps/{map_id}/export/{fmt}")
        assert response.status_code == 200 and response.data.startswith(start), fmt
        assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    names = zipfile.ZipFile(io.BytesIO(client.get(f"/interviews/{interview_id}/maps/{map_id}/export/nc-csv").data)).namelist()
    assert any(name.endswith("_attributeList_Actor.csv") for name in names)
    assert client.get(f"/interviews/{interview_id}/maps/{map_id}/export/pdf").status_code == 404


def test_a_completed_interview_shows_its_map_read_only(client, guard, interview_id, unlocked):
    map_id = start_map(client, guard, interview_id)
    client.post(f"/interviews/{interview_id}/status", data={"action": "complete", "csrf_token": guard.csrf_token})
    page = client.get(f"/interviews/{interview_id}/maps/{map_id}").text
    assert "data-readonly" in page and "abgeschlossen" in page and 'class="palette"' not in page
    refused = send(client, guard, interview_id, map_id, action="add_alter",
                   alter={"label": "X", "actor_type": "company", "x": 0.5, "y": 0.5})
    assert refused.status_code == 409 and "abgeschlossen" in refused.json["error"]
    assert client.get(f"/interviews/{interview_id}/maps/{map_id}/replay").status_code == 200


def test_a_map_is_only_found_under_its_own_interview(client, guard, interview_id, unlocked):
    map_id = start_map(client, guard, interview_id)
    other = consented_interview(unlocked.extensions["vault"], "Anderer Verein", {"network_map"})
    assert client.get(f"/interviews/{other.id}/maps/{map_id}").status_code == 404
    for action in ("delete", "rename", "copy"):
        response = client.post(f"/interviews/{other.id}/maps/{map_id}/{action}", data={"title": "X", "csrf_token": guard.csrf_token})
        assert response.status_code == 404, action
    assert client.get(f"/interviews/{interview_id}/maps/{uuid.uuid4()}/state").status_code == 404
    assert client.get(f"/interviews/{interview_id}/maps/{map_id}").status_code == 200


def test_export_names_outside_latin_1_reach_the_browser(client, guard, interview_id):
    map_id = start_map(client, guard, interview_id, title="Görüşme Şehir")
    response = client.get(f"/interviews/{interview_id}/maps/{map_id}/export/svg")
    disposition = response.headers["Content-Disposition"]
    assert disposition.isascii() and 'filename="Elternnetzwerk_Goeruesme-Sehir.svg"' in disposition  # readable on any system


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"action": "add_alter", "alter": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    json.dumps({"action": "add_alter", "op_id": "\ud800",
                "alter": {"label": "\ud800Jobcenter\x00", "actor_type": "state_actor", "x": 0.4, "y": -0.3}}).encode(),
    json.dumps({"action": "add_alter", "alter": {"label": "x", "actor_type": "\x00", "x": 1e400, "y": 0}}).encode(),
])
def test_hostile_map_changes_are_refused_or_cleaned_never_a_server_error(client, guard, interview_id, body):
    map_id = start_map(client, guard, interview_id)
    response = client.post(f"/interviews/{interview_id}/maps/{map_id}/changes", data=body,
                           headers={"X-CSRF-Token": guard.csrf_token, "Content-Type": "application/json"})
    assert response.status_code in (200, 409) and "error" in response.json or response.json.get("steps")
    labels = [a["label"] for a in client.get(f"/interviews/{interview_id}/maps/{map_id}/state").json["alters"]]
    assert labels in ([], ["Jobcenter"])  # a NUL and a lone surrogate are taken out, not stored
    assert client.get(f"/interviews/{interview_id}/maps/{map_id}/export/graphml").status_code == 200

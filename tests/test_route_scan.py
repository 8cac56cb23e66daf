"""Every route of the laptop app, generated from its URL map: refused without the launch cookie, with a
foreign Host header, and (when it changes state) without the CSRF token; and with script typed into
every text field, every page renders it escaped and none answers with a server error."""
import re

import pytest

from fieldkit import db, maps, quotes, transcripts
from fieldkit.anonymise import review
from fieldkit.models import Answer, Interview, Organisation

from conftest import PORT, consented_interview

SCRIPT = "<script>alert('xss')</script>"
SKIP = {"static", "launch"}  # the static files and the door in are open by design (the cookie check still runs)


@pytest.fixture
def scripted(unlocked, client, guard):
    """A vault whose every text field holds script, and the ids every route needs."""
    vault = unlocked.extensions["vault"]
    interview = consented_interview(vault, f"Verein {SCRIPT}", {"quotes", "network_map"})
    with db.writing(vault.engine) as session:
        interview = session.get(Interview, interview.id)
        interview.place, interview.interviewer = SCRIPT, SCRIPT
        organisation = session.get(Organisation, interview.organisation_id)
        organisation.city, organisation.notes, organisation.target_groups = SCRIPT, SCRIPT, [SCRIPT]
        answer = Answer(interview_id=interview.id, question_id="organisation.founding", text=f"Notiz {SCRIPT}")
        session.add(answer)
        transcript = transcripts.add(session, vault.device_id, interview, f"{SCRIPT}.txt", f"B: {SCRIPT}")
        quote = quotes.mark_quote(session, vault.device_id, interview, "transcript", transcript.id, 3,
                                  3 + len(SCRIPT), SCRIPT)
        network_map = maps.create(session, vault.device_id, interview, f"Karte {SCRIPT}")
        maps.change(session, vault.device_id, interview, network_map, {"action": "add_alter", "alter": {
            "label": SCRIPT, "actor_type": "state_actor", "x": 0.4, "y": -0.3,
            "attributes": {"note": SCRIPT, "since": SCRIPT}}})
        review.scan_all(session, vault.device_id)
    return {"interview_id": interview.id, "organisation_id": organisation.id, "map_id": network_map.id,
            "transcript_id": transcript.id, "quote_id": quote.id, "question_key": "organisation.founding",
            "record_type": "transcript", "record_id": transcript.id, "fmt": "svg", "job_id": "none",
            "conflict_id": "none", "release_id": "none", "token": "none", "filename": "fieldkit.css"}


def routes(app, ids):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP:
            continue
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:\w+:)?{name}>", ids.get(name, "x"), path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


def test_every_route_refuses_a_request_without_the_launch_cookie(app, scripted):
    stranger = app.test_client()
    for method, path in routes(app, scripted):
        assert stranger.open(path, method=method, base_url=f"http://127.0.0.1:{PORT}").status_code == 403, path


def test_every_route_refuses_a_foreign_host(client, app, scripted, guard):
    for method, path in routes(app, scripted):
        response = client.open(path, method=method, base_url="http://evil.example",
                               headers={"X-CSRF-Token": guard.csrf_token})
        assert response.status_code == 403, path


def test_every_state_change_needs_the_csrf_token(client, app, scripted):
    for method, path in routes(app, scripted):
        if method != "GET":
            assert client.open(path, method=method).status_code == 403, path


def test_script_in_every_text_field_is_rendered_escaped_and_no_page_fails(client, app, scripted):
    pages = 0
    for method, path in routes(app, scripted):
        if method != "GET":
            continue
        response = client.get(path)
        assert response.status_code < 500, path
        if response.mimetype == "text/html":
            pages += 1
            assert SCRIPT not in response.get_data(as_text=True), path
        if response.mimetype == "image/svg+xml":
            assert "<script>" not in response.get_data(as_text=True), path
    assert pages >= 20
    shown = client.get(f"/steward/review/transcript/{scripted['transcript_id']}").get_data(as_text=True)
    assert "&lt;script&gt;" in shown  # the text is there, escaped

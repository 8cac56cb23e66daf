"""Recording in Debian's chromium with its fake microphone (a beeping tone): the recorder window beside
the interview, pieces saved while notes are typed, pause and resume, and playing from where a question
was discussed, a quote was said and the map was drawn."""
import re

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlmodel import Session, select

from fieldkit import audio, db, maps
from fieldkit.models import AudioChunk, Interview, Recording

from conftest import CHROMIUM_ARGS, consented_interview, set_up_vault
from test_screens_browser import readme_shot, serious_violations

pytestmark = pytest.mark.browser

FAKE_MICROPHONE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS + FAKE_MICROPHONE)
        yield browser
        browser.close()


def stored(vault):
    with Session(vault.engine) as session:
        recording = session.exec(select(Recording)).one()
        pieces = session.exec(select(AudioChunk).where(AudioChunk.recording_id == recording.id)).all()
        return recording, pieces, audio.read(session, recording)


def test_a_recording_runs_beside_the_interview_and_plays_from_a_question(served, page, coordinator):
    set_up_vault(page, served.launch_url, coordinator[1])
    vault = served.app.extensions["vault"]
    interview = consented_interview(vault, "Brücke e. V.", {"recording", "quotes", "network_map"})
    page.goto(f"http://127.0.0.1:{served.port}/interviews/{interview.id}")
    with page.expect_popup() as opened:
        page.get_by_role("link", name="Aufnahmegerät öffnen").click()
    recorder = opened.value
    expect(recorder.get_by_text("Bereit zur Aufnahme.")).to_be_visible()
    recorder.get_by_role("button", name="Aufnahme starten").click()
    expect(recorder.locator("#recorder-label")).to_have_text("Aufnahme läuft")
    expect(recorder.locator("#recorder-saved")).to_contain_text("Gespeichert bis 0:00:0", timeout=10_000)
    assert recorder.locator("#recorder-level").evaluate("meter => meter.value") > 0  # the fake microphone beeps
    recorder.set_viewport_size({"width": 520, "height": 460})  # as the desktop app opens it
    assert serious_violations(recorder) == []
    readme_shot(recorder, "recorder")

    # Meanwhile the interviewer notes in the main window, which says a recording runs.
    page.goto(f"http://127.0.0.1:{served.port}/interviews/{interview.id}/guide")
    expect(page.get_by_role("status").filter(has_text="Aufnahme läuft")).to_be_visible()
    page.get_by_label("Notizen").fill("Die Moschee hilft bei Behördengängen, das Jobcenter nicht.")
    expect(page.locator(".save-status.saved")).to_contain_text("Gespeichert um")

    # … and draws a contact on the map (its step gets its place in the recording too).
    with db.writing(vault.engine) as session:
        network = maps.create(session, vault.device_id, session.get(Interview, interview.id), "Netzwerk heute")
        maps.change(session, vault.device_id, session.get(Interview, interview.id), network,
                    {"action": "add_alter", "alter": {"label": "Moschee", "actor_type": "religious_institution", "x": 0.3, "y": 0.2}})

    recorder.get_by_role("button", name="Pause").click()
    expect(recorder.locator("#recorder-label")).to_have_text("Pausiert")
    recorder.wait_for_timeout(1500)
    recorder.get_by_role("button", name="Fortsetzen").click()
    recorder.wait_for_timeout(4000)
    recorder.get_by_role("button", name="Aufnahme beenden").click()
    expect(recorder.locator("#recorder-label")).to_have_text("Aufnahme beendet und gespeichert.")
    recorder.wait_for_function("() => fieldkitRecorder.state().queued === 0")
    recorder.wait_for_timeout(500)

    recording, pieces, sound = stored(vault)
    assert recording.status == "finished" and len(recording.spans) == 2
    assert len(pieces) >= 3 and sound[:4] == b"\x1a\x45\xdf\xa3"  # WebM, in order from the first piece
    assert 6_000 <= recording.duration_ms <= 20_000

    # The overview lists the recording and where the question was discussed; the player starts there.
    page.goto(f"http://127.0.0.1:{served.port}/interviews/{interview.id}")
    expect(page.get_by_text("In fieldkit aufgenommen")).to_be_visible()
    assert serious_violations(page) == []
    chapter = page.locator(".chapters button.play").first
    expect(chapter).to_be_visible()
    at = float(chapter.get_attribute("data-play-at"))
    chapter.click()
    page.wait_for_function("at => { const p = document.getElementById('audio-player'); return !p.paused && p.currentTime >= at; }",
                           arg=at)

    # The map's replay follows the sound: playing starts the recording where the first step was drawn.
    page.goto(f"http://127.0.0.1:{served.port}/interviews/{interview.id}/maps/{network.id}/replay")
    expect(page.get_by_text("Die Wiedergabe folgt der Aufnahme")).to_be_visible()
    page.get_by_role("button", name="Abspielen").click()
    page.wait_for_function("() => { const p = document.getElementById('audio-player'); return !p.paused && p.currentTime > 0; }")
    expect(page.locator("#replay-caption")).to_contain_text("Moschee")


def test_the_recorder_says_so_without_consent_to_record(served, page, coordinator):
    set_up_vault(page, served.launch_url, coordinator[1])
    interview = consented_interview(served.app.extensions["vault"], "Brücke e. V.", {"quotes"})
    page.goto(f"http://127.0.0.1:{served.port}/interviews/{interview.id}")
    expect(page.get_by_text("umfasst keine Tonaufnahme")).to_be_visible()
    expect(page.get_by_role("link", name="Aufnahmegerät öffnen")).to_have_count(0)
    page.goto(f"http://127.0.0.1:{served.port}/interviews/{interview.id}/recorder")
    expect(page.get_by_role("alert")).to_contain_text("umfasst keine Tonaufnahme")


def test_an_imported_recording_plays_and_can_be_lined_up(served, page, coordinator, tmp_path):
    import subprocess

    set_up_vault(page, served.launch_url, coordinator[1])
    interview = consented_interview(served.app.extensions["vault"], "Brücke e. V.", {"recording"})
    path = tmp_path / "telefon.ogg"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", str(path), "synth", "20", "sine", "300", "vol", "0.5"], check=True)
    page.goto(f"http://127.0.0.1:{served.port}/interviews/{interview.id}")
    page.get_by_label("Aufnahme importieren").set_input_files(str(path))
    page.locator("#recording-offset").fill("0:03")
    page.get_by_role("button", name="Importieren", exact=True).click()
    expect(page.get_by_text("Importiert: telefon.ogg")).to_be_visible()
    expect(page.locator("input[name=offset][value='0:03']").first).to_be_visible()
    page.get_by_role("button", name=re.compile("Abspielen")).click()
    page.wait_for_function("() => { const p = document.getElementById('audio-player'); return !p.paused && p.currentTime > 0.2; }")
    (tmp_path / "kein-ton.mp3").write_bytes(b"<html>")
    page.get_by_label("Aufnahme importieren").set_input_files(str(tmp_path / "kein-ton.mp3"))
    page.get_by_role("button", name="Importieren", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("keine Tonaufnahme, die fieldkit lesen kann")

"""The data steward in Debian's chromium: review a transcript by keyboard, replace a flagged name, mark a
false positive, approve, release; and the registry screen."""
import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from fieldkit import db, transcripts

from conftest import consented_interview, set_up_vault

pytestmark = pytest.mark.browser

TRANSCRIPT = ("I: Wie arbeiten Sie mit dem Jugendamt zusammen?\n"
              "B: Frau Wagner vom Jugendamt hilft uns sehr. Die Beratung gibt es auch auf Kurmandschi.\n"
              "I: Und erreichen Sie die Familien?\nB: Ja, unter 0221 / 123 45 67 jeden Abend.\n")


def test_review_a_transcript_replace_a_name_mark_a_false_positive_approve_and_release(served, page, coordinator):
    set_up_vault(page, served.launch_url, coordinator[1])
    vault = served.app.extensions["vault"]
    interview = consented_interview(vault, "Nachbarschaftsverein Ost", {"quotes"})
    with db.writing(vault.engine) as session:
        transcripts.import_transcript(session, vault.device_id, interview, "gespraech.txt", TRANSCRIPT.encode())
    base = f"http://127.0.0.1:{served.port}"

    page.get_by_role("link", name="Anonymisierung").click()
    page.get_by_label("Ihr Name für das Protokoll").fill("Steward Sahin")
    page.get_by_role("button", name="Speichern").click()
    page.get_by_role("button", name="Alle Datensätze prüfen").click()
    page.get_by_label("Art").select_option("transcript")
    page.get_by_role("link", name="gespraech.txt").click()

    # The unknown names wait, the phone number is replaced already; the first open finding has the focus.
    expect(page.locator(".flag.open")).to_have_count(2)
    expect(page.locator(".flag:focus")).to_contain_text("Wagner")
    expect(page.locator("mark.finding.replace")).to_have_text("0221 / 123 45 67")
    page.keyboard.press("r")  # replace: a new registry entry of the guessed category (person)
    expect(page.locator(".flag:focus")).to_contain_text("Kurmandschi")
    page.keyboard.press("x")  # not a name, for the whole project
    expect(page.locator(".flag.open")).to_have_count(0)
    expect(page.locator("mark.finding.replace").first).to_have_text("Wagner")
    page.keyboard.press("f")  # approve; the next record to review opens
    expect(page.get_by_role("heading", level=1)).not_to_have_text("Transkript")

    # The interview and its organisation must be approved too before the transcript can be released.
    for kind in ("organisation", "interview"):
        page.goto(f"{base}/steward/?kind={kind}")
        page.locator("table.queue a").first.click()
        page.get_by_role("button", name="Datensatz freigeben").click()
    page.goto(f"{base}/steward/?status=approved")
    expect(page.locator("table.queue tbody tr")).to_have_count(3)

    page.get_by_role("link", name="Freigaben").click()
    page.get_by_role("button", name="Freigabe erstellen").click()
    expect(page.get_by_role("status")).to_contain_text("Freigabe geschrieben")
    folder = Path(page.get_by_role("status").inner_text().split(": ", 1)[1].splitlines()[0].strip())
    released = json.loads((folder / "transcripts.json").read_text())[0]["text"]
    assert "Wagner" not in released and "0221" not in released and "Frau [Person-" in released
    assert "auf Kurmandschi" in released
    expect(page.get_by_role("link", name="Herunterladen (zip)")).to_be_visible()


def test_the_registry_screen_adds_merges_and_keeps(served, page, coordinator):
    set_up_vault(page, served.launch_url, coordinator[1])
    page.goto(f"http://127.0.0.1:{served.port}/steward/registry")
    for name, variants in (("Lomingo", "Lomingo e.V., LeV"), ("Verein Lomingo", "")):
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Kategorie").select_option("mo")
        page.get_by_label("Schreibweisen und Abkürzungen").fill(variants)
        page.get_by_role("button", name="Hinzufügen", exact=True).click()
    expect(page.locator("table.registry tbody tr")).to_have_count(2)
    first = page.locator("table.registry tbody tr").first
    first.get_by_text("Ändern", exact=True).last.click()
    first.get_by_label("Dasselbe wie").fill("MO-02")
    first.get_by_role("button", name="Zusammenführen").click()
    expect(page.locator("table.registry tbody tr")).to_have_count(1)
    expect(page.locator("table.registry")).to_contain_text("Verein Lomingo")
    row = page.locator("table.registry tbody tr").first
    row.get_by_text("Ändern", exact=True).last.click()
    row.get_by_role("button", name="In freigegebenen Texten unverändert lassen").click()
    expect(page.locator("table.registry")).to_contain_text("bleibt, wie es ist")

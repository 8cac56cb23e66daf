"""The interview end to end in Debian's chromium: consent gate, profile, notes that survive a reload,
a coded quote, completing and locking."""
import re

import pytest
from playwright.sync_api import expect

from conftest import set_up_vault

pytestmark = pytest.mark.browser


def test_an_interview_from_consent_to_lock(served, page, coordinator):
    set_up_vault(page, served.launch_url, coordinator[1])
    page.get_by_role("link", name="Interview planen").click()
    page.get_by_label("oder der Name einer neuen Organisation").fill("Nachbarschaftsverein Ost")
    page.get_by_label("Interviewer").fill("Ayla Demir")
    page.get_by_label("Ort").fill("Vereinsheim")
    page.get_by_role("button", name="Interview planen").click()

    # The consent gate: no guide before consent.
    expect(page.get_by_role("heading", level=1)).to_have_text("Nachbarschaftsverein Ost")
    expect(page.get_by_text("Bitte zuerst die Einwilligung erfassen")).to_be_visible()
    expect(page.get_by_role("link", name="Weiter im Leitfaden")).to_have_count(0)
    page.get_by_label("Wer hat eingewilligt").fill("Vorsitzender")
    page.get_by_label("Schriftlich").check()
    page.get_by_label("Anonymisierte Zitate").check()
    page.get_by_role("button", name="Einwilligung erfassen").click()
    expect(page.get_by_text("Einwilligung erfasst")).to_be_visible()

    # The organisation profile.
    page.get_by_role("link", name="Profil der Organisation").click()
    page.get_by_label("Gegründet (Jahr)").fill("2009")
    page.get_by_label("Ehrenamtliche").fill("12")
    page.get_by_label("Alltagsunterstützung").check()
    page.get_by_label("Spenden").check()
    page.locator('input[name="practices_informal"][value="5"]').check()
    page.get_by_role("button", name="Profil speichern").click()
    expect(page.get_by_text("Alltagsunterstützung")).to_be_visible()
    expect(page.get_by_text("12 ehrenamtlich")).to_be_visible()
    page.go_back()
    page.go_back()

    # Notes autosave, and are there after a reload.
    page.get_by_role("link", name="Weiter im Leitfaden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Die Organisation und ihre Zielgruppe")
    notes = page.get_by_label("Notizen")
    notes.fill("Gegründet von fünf Nachbarinnen. Das Jobcenter sieht uns nicht als Partner.")
    expect(page.locator(".save-status.saved")).to_contain_text("Gespeichert um")
    page.reload()
    expect(page.get_by_label("Notizen")).to_have_value("Gegründet von fünf Nachbarinnen. Das Jobcenter sieht uns nicht als Partner.")

    # Next question by keyboard, back by touch/click, then mark a quote and code it.
    page.keyboard.press("Alt+n")
    expect(page.get_by_role("heading", level=2).first).to_contain_text("Wen erreichen Sie")
    page.get_by_role("link", name=re.compile("Zurück")).click()
    passage = "Das Jobcenter sieht uns nicht als Partner."
    page.evaluate("""passage => { const t = document.querySelector('textarea');
                     const i = t.value.indexOf(passage); t.focus(); t.setSelectionRange(i, i + passage.length); }""", passage)
    page.get_by_role("button", name=re.compile("Markierung als Zitat")).click()
    quote = page.locator(".quote")
    expect(quote.locator("blockquote")).to_have_text(passage)
    quote.get_by_label("Machtasymmetrie / einseitige Arbeit").check()
    expect(page.locator(".quote").get_by_label("Machtasymmetrie / einseitige Arbeit")).to_be_checked()

    # The quotes list, filtered by code.
    page.get_by_role("link", name="Interview-Übersicht").click()
    page.get_by_role("link", name="1 Zitat").click()
    page.get_by_label("Nur Zitate mit dem Code").select_option(label="Konkurrenz")
    expect(page.get_by_text("Keine Zitate.").or_(page.get_by_text("Noch keine Zitate"))).to_be_visible()
    page.get_by_label("Nur Zitate mit dem Code").select_option(label="Machtasymmetrie / einseitige Arbeit")
    expect(page.locator(".quote blockquote")).to_have_text(passage)

    # Complete and lock: read-only, and it says why.
    page.get_by_role("link", name="Interview-Übersicht").click()
    page.get_by_role("button", name="Interview abschließen").click()
    page.get_by_role("button", name="Für die Auswertung sperren").click()
    expect(page.get_by_role("status").filter(has_text="gesperrt")).to_be_visible()
    page.get_by_role("link", name="Notizen lesen").click()
    expect(page.get_by_label("Notizen")).to_have_attribute("readonly", "")
    expect(page.get_by_text("kann nur noch gelesen werden")).to_be_visible()


def test_interview_list_filters_by_status_and_search(served, page, coordinator):
    set_up_vault(page, served.launch_url, coordinator[1])
    for name in ("Kulturverein West", "Elterninitiative Süd"):
        page.get_by_role("link", name="Interview planen").click()
        page.get_by_label("oder der Name einer neuen Organisation").fill(name)
        page.get_by_label("Interviewer").fill("Ayla Demir")
        page.get_by_role("button", name="Interview planen").click()
        page.get_by_role("link", name="Interviews", exact=True).click()
    rows = page.locator("table.interviews tbody tr")
    expect(rows).to_have_count(2)
    page.wait_for_function("document.readyState === 'complete'")  # htmx listens from DOMContentLoaded on
    page.get_by_label("Suche nach Organisation").fill("Kultur")
    expect(rows).to_have_count(1)
    page.get_by_label("Suche nach Organisation").fill("")
    page.get_by_label("Status").select_option("completed")
    expect(page.get_by_text("Kein Interview passt zu diesem Filter.")).to_be_visible()
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0  # search terms stay out of the browser


def plan_with_consent(page, organisation: str) -> None:
    page.get_by_role("link", name="Interview planen").click()
    page.get_by_label("oder der Name einer neuen Organisation").fill(organisation)
    page.get_by_label("Interviewer").fill("Ayla Demir")
    page.get_by_role("button", name="Interview planen").click()
    page.get_by_label("Wer hat eingewilligt").fill("Vorsitzender")
    page.get_by_label("Mündlich").check()
    page.get_by_role("button", name="Einwilligung erfassen").click()
    page.get_by_role("link", name="Weiter im Leitfaden").click()


def test_a_lost_connection_never_shows_saved_and_saves_once_back(served, page, coordinator):
    set_up_vault(page, served.launch_url, coordinator[1])
    plan_with_consent(page, "Verein ohne Netz")
    page.expected_errors += ["ERR_INTERNET_DISCONNECTED", "htmx:sendError", "htmx:afterRequest"]  # htmx logs the failure
    page.context.set_offline(True)
    page.get_by_label("Notizen").fill("Geschrieben ohne Verbindung.")
    expect(page.locator(".save-status.failed")).to_contain_text("Keine Verbindung")
    expect(page.locator(".save-status.saved")).to_have_count(0)
    page.context.set_offline(False)
    expect(page.locator(".save-status.saved")).to_contain_text("Gespeichert um", timeout=10_000)
    page.reload()
    expect(page.get_by_label("Notizen")).to_have_value("Geschrieben ohne Verbindung.")
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0  # nothing kept in the browser


def test_exporting_a_bundle_in_the_browser(served, page, coordinator):
    set_up_vault(page, served.launch_url, coordinator[1])
    plan_with_consent(page, "Verein mit Paket")
    page.get_by_role("link", name="Datenübergabe").click()
    page.get_by_role("button", name="Paket exportieren").click()
    expect(page.get_by_role("status")).to_contain_text("Paket 1 ist fertig")
    with page.expect_download() as download:
        page.get_by_role("link", name="Paket speichern").click()
    assert download.value.suggested_filename.endswith("-001.fkb")
    with open(download.value.path(), "rb") as file:
        assert file.read(21) == b"age-encryption.org/v1"

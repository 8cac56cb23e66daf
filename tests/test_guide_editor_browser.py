"""The guide editor in chromium, as a coordinator uses it: a new guide of two sections with a scale and a
choice question, translated, previewed, published; then an interview planned with it and answered."""
import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from conftest import set_up_vault
from fieldkit.models import Answer

pytestmark = pytest.mark.browser


def fill_pair(page, label: str, german: str, english: str, nth: int = 0) -> None:
    page.get_by_label(f"{label} DE", exact=True).nth(nth).fill(german)
    page.get_by_label(f"{label} EN", exact=True).nth(nth).fill(english)


def saved(page) -> None:
    expect(page.locator("#editor-status .save-status")).to_contain_text("Gespeichert")


def test_write_translate_preview_publish_and_use_a_guide(served, page, coordinator):
    set_up_vault(page, served.launch_url, coordinator[1])
    page.get_by_role("link", name="Leitfäden").click()
    page.get_by_role("button", name="Neuen Leitfaden schreiben").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Leitfaden bearbeiten")
    page.get_by_label("Leitfaden-Id").fill("nachbarschaft")
    fill_pair(page, "Titel", "Nachbarschaftshilfe", "Neighbourly help")
    fill_pair(page, "Titel des Abschnitts", "Zusammenarbeit", "Cooperation")
    page.get_by_label("Frage DE", exact=True).first.fill("Wie gut klappt die Zusammenarbeit mit dem Amt?")
    saved(page)
    expect(page.get_by_text("1 Übersetzung fehlt.")).to_be_visible()  # the question's English
    page.get_by_label("Frage EN", exact=True).first.fill("How well does cooperation with the office work?")
    saved(page)
    page.get_by_label("Antworttyp").first.select_option("scale")
    page.get_by_role("button", name="Typ ändern").first.click()
    fill_pair(page, "Beschriftung von 1", "schlecht", "poor")
    fill_pair(page, "Beschriftung von 5", "sehr gut", "very good")
    saved(page)

    page.get_by_role("button", name="+ Abschnitt").click()
    fill_pair(page, "Titel des Abschnitts", "Mitgliedschaft", "Membership", nth=1)
    fill_pair(page, "Frage", "Ist die Organisation Mitglied in einem Dachverband?", "Is it a member of an umbrella body?", nth=1)
    page.get_by_label("Antworttyp").nth(1).select_option("single")
    page.get_by_role("button", name="Typ ändern").nth(1).click()
    fill_pair(page, "Antwort", "Ja", "Yes")
    page.get_by_role("button", name="+ Antwort").click()
    fill_pair(page, "Antwort", "Nein", "No", nth=1)
    saved(page)
    expect(page.locator("#editor-status")).to_contain_text("kann veröffentlicht werden")

    # Reorder by keyboard: the second section goes first and back.
    page.get_by_role("button", name="Nach oben: Mitgliedschaft").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Titel des Abschnitts DE", exact=True).first).to_have_value("Mitgliedschaft")
    page.get_by_role("button", name="Nach unten: Mitgliedschaft").click()
    expect(page.get_by_label("Titel des Abschnitts DE", exact=True).first).to_have_value("Zusammenarbeit")

    page.get_by_role("link", name="Vorschau").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Wie gut klappt die Zusammenarbeit mit dem Amt?")
    expect(page.get_by_text("sehr gut")).to_be_visible()
    page.get_by_role("link", name="Weiter").click()
    expect(page.get_by_label("Ja")).to_be_visible()
    page.get_by_role("link", name="Zurück zum Editor").click()
    page.get_by_role("button", name="Als Version 1 veröffentlichen").click()
    expect(page.get_by_text("ist veröffentlicht")).to_be_visible()

    page.get_by_role("link", name="Interviews").click()
    page.get_by_role("link", name="Interview planen").click()
    page.get_by_label("oder der Name einer neuen Organisation").fill("Nachbarschaftsverein Ost")
    page.get_by_label("Interviewer").fill("Ayla Demir")
    page.get_by_label("Interviewleitfaden").select_option(label="Nachbarschaftshilfe – Version 1")
    page.get_by_role("button", name="Interview planen").click()
    page.get_by_label("Wer hat eingewilligt").fill("Vorsitzender")
    page.get_by_label("Schriftlich").check()
    page.get_by_role("button", name="Einwilligung erfassen").click()
    page.get_by_role("link", name="Weiter im Leitfaden").click()
    page.locator('input[name="value"][value="4"]').check()
    expect(page.locator(".answer-value .save-status")).to_contain_text("Gespeichert")
    vault = served.app.extensions["vault"]
    with Session(vault.engine) as session:
        assert [(a.question_id, a.value) for a in session.exec(select(Answer))] == [("abschnitt_1.frage_1", 4)]


def test_dragging_a_question_by_its_grip_moves_it(served, page, coordinator):
    from fieldkit import db, guide_editor

    set_up_vault(page, served.launch_url, coordinator[1])
    vault = served.app.extensions["vault"]
    with db.writing(vault.engine) as session:
        draft = guide_editor.new_draft(session, "mikoss", "1.0")
    base = served.launch_url.split("/launch")[0]
    page.goto(f"{base}/guides/drafts/{draft.id}")
    first, third = (page.locator(f"#at-sections\\.0\\.questions\\.{n}") for n in (0, 2))
    moved_text = page.locator("#f-sections\\.0\\.questions\\.0\\.text\\.de").input_value()
    transfer = page.evaluate_handle("() => new DataTransfer()")
    first.locator(".grip").first.dispatch_event("dragstart", {"dataTransfer": transfer})
    for kind in ("dragover", "drop"):
        third.locator("h3").dispatch_event(kind, {"dataTransfer": transfer})
    expect(page.locator("#f-sections\\.0\\.questions\\.2\\.text\\.de")).to_have_value(moved_text)


def test_the_editor_and_its_preview_pass_axe(served, page, coordinator):
    from fieldkit import db, guide_editor
    from test_screens_browser import readme_shot, serious_violations

    set_up_vault(page, served.launch_url, coordinator[1])
    vault = served.app.extensions["vault"]
    with db.writing(vault.engine) as session:
        draft = guide_editor.new_draft(session, "mikoss", "1.0")
        guide_editor.set_type(draft.model, "sections.0.questions.0", "scale")
        guide_editor.set_type(draft.model, "sections.0.questions.1", "single")
        for path, german, english in (("sections.0.questions.0.scale.labels.1", "sehr schlecht", "very poor"),
                                      ("sections.0.questions.0.scale.labels.5", "sehr gut", "very good"),
                                      ("sections.0.questions.1.options.0.label", "ja", "yes")):
            guide_editor.set_field(draft.model, f"{path}.de", german)
            guide_editor.set_field(draft.model, f"{path}.en", english)
        guide_editor.check(draft.model)
        guide_editor.save_draft(session, draft, draft.model)
    base = served.launch_url.split("/launch")[0]
    page.set_viewport_size({"width": 1366, "height": 768})
    for path in (f"/guides/drafts/{draft.id}", f"/guides/drafts/{draft.id}/preview", f"/guides/drafts/{draft.id}/preview?mode=section"):
        page.goto(base + path)
        assert serious_violations(page) == [], path
        if path.endswith(draft.id):
            page.locator("#at-sections\\.0\\.questions\\.0").evaluate("item => item.scrollIntoView({block: 'start'})")
            readme_shot(page, "guide-editor")

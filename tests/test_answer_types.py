"""Answer types beyond notes (scale, single and multiple choice, number, date, list) and conditions:
read from the guide with the line of each mistake, checked when saved, shown in the runner, carried in
bundles."""
from pathlib import Path

import pytest
from sqlmodel import Session, select

from conftest import set_up_vault
from playwright.sync_api import expect
from test_bundle import export_from, merge_into
from fieldkit import db, interviews
from fieldkit.guide import AnswerValueError, GuideError, guide_version, parse_guide, register_guide
from fieldkit.models import Answer, Organisation, save

TYPED = (Path(__file__).parent / "data" / "guides" / "typed.yaml").read_text(encoding="utf-8")


def plan_typed_interview(vault):
    """An interview on the typed guide whose representative consented."""
    with db.writing(vault.engine) as session:
        record = register_guide(session, TYPED, vault.device_id)
        organisation = save(session, vault.device_id, Organisation(name="Verein Sonnenblume"))
        interview = interviews.new(session, vault.device_id, organisation, record, "Ayla")
        interviews.record_consent(session, vault.device_id, interview, "Vorsitz", "written", "2026-12-04", {"quotes"})
    return interview


@pytest.fixture
def typed_interview(vault):
    return plan_typed_interview(vault)


def test_every_answer_type_is_read_from_the_guide():
    guide = parse_guide(TYPED)
    kinds = {q.key: q.type for q in guide.questions}
    assert kinds == {"basics.registered": "single", "basics.registered_since": "date", "basics.volunteers": "number",
                     "basics.fields": "multiple", "assessment.cooperation": "scale", "assessment.offers": "list",
                     "assessment.story": "text"}
    cooperation = guide.question("assessment.cooperation")
    assert cooperation.scale == (1, 5) and [point for point, _ in cooperation.scale_labels] == [1, 5]
    assert guide.question("basics.registered_since").show_if.question == "basics.registered"


@pytest.mark.parametrize("change, line, text", [
    (("type: number", "type: slider"), 23, "Answer types are"),
    (('show_if: {question: registered, equals: "yes"}', 'show_if: {question: volunteers}'), 20, "earlier question"),
    (('show_if: {question: registered, equals: "yes"}', 'show_if: {question: registered, equals: vielleicht}'), 20, "not an option"),
    (("          max: 5", "          max: 1"), 42, "scale runs"),
    (("            5: {de: sehr gut", "            7: {de: sehr gut"), 45, "point from 1 to 5"),
    (("      - id: fields\n        type: multiple", "      - id: fields\n        type: number"), 29, "Only choice questions"),
])
def test_a_mistake_in_an_answer_type_names_its_line(change, line, text):
    old, new = change
    assert old in TYPED
    with pytest.raises(GuideError) as caught:
        parse_guide(TYPED.replace(old, new, 1))
    assert text in str(caught.value) and caught.value.line == line


@pytest.mark.parametrize("key, raw, value", [
    ("basics.registered", "yes", "yes"),
    ("basics.registered_since", "2019-03-01", "2019-03-01"),
    ("basics.volunteers", "12", 12),
    ("basics.volunteers", "12,5", 12.5),
    ("basics.fields", ["health", "education", "health"], ["education", "health"]),
    ("assessment.cooperation", "4", 4),
    ("assessment.offers", "Hausaufgabenhilfe\n\n  Beratung   für Eltern \n", ["Hausaufgabenhilfe", "Beratung für Eltern"]),
    ("basics.volunteers", "", None),
])
def test_values_are_checked_and_normalised(key, raw, value):
    assert parse_guide(TYPED).question(key).value_of(raw) == value


@pytest.mark.parametrize("key, raw", [
    ("basics.registered", "vielleicht"), ("basics.registered", ["yes", "no"]), ("basics.registered_since", "4.12.2026"),
    ("basics.volunteers", "zwölf"), ("basics.volunteers", "nan"), ("basics.volunteers", "1e400"),
    ("basics.fields", ["art"]), ("assessment.cooperation", "6"), ("assessment.cooperation", "2.5"),
    ("assessment.offers", "x\n" * 101), ("assessment.story", "frei"),
])
def test_a_value_that_does_not_fit_is_refused(key, raw):
    with pytest.raises(AnswerValueError):
        parse_guide(TYPED).question(key).value_of(raw)


def test_a_condition_shows_its_question_only_for_its_answer_and_progress_counts_what_is_shown(vault, typed_interview):
    with db.writing(vault.engine) as session:
        guide = guide_version(session, "typed", "1")
        interview = interviews.get(session, typed_interview.id)
        notes = interviews.answers(session, interview)
        assert "basics.registered_since" not in interviews.visible(guide, notes)
        assert interviews.progress(interview, guide, notes)["basics"] == (0, 3)
        interviews.save_value(session, vault.device_id, interview, guide, "basics.registered", "yes")
        notes = interviews.answers(session, interview)
        assert "basics.registered_since" in interviews.visible(guide, notes)
        assert interviews.progress(interview, guide, notes)["basics"] == (1, 4)  # answered counts as dealt with
        interviews.save_value(session, vault.device_id, interview, guide, "basics.registered", "no")
        assert "basics.registered_since" not in interviews.visible(guide, interviews.answers(session, interview))
        assert interview.status == "in_progress"


def test_typed_answers_travel_in_bundles(vault, typed_interview, coordinator, tmp_path):
    from fieldkit.vault import Vault

    with db.writing(vault.engine) as session:
        guide = guide_version(session, "typed", "1")
        interview = interviews.get(session, typed_interview.id)
        for key, raw in (("basics.registered", "yes"), ("basics.volunteers", "7,5"), ("basics.fields", ["work"]),
                         ("assessment.cooperation", "2"), ("assessment.offers", "Sprachkurs\nBeratung"),
                         ("basics.registered_since", "2019-03-01")):
            interviews.save_value(session, vault.device_id, interview, guide, key, raw)
    receiver = Vault(tmp_path / "coordination", memory_kib=8192, iterations=1)
    receiver.create("Koordination im Lindenviertel", [coordinator[1]])
    merge_into(receiver, export_from(vault).data, coordinator)
    with Session(receiver.engine) as session:
        values = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert values == {"basics.registered": "yes", "basics.volunteers": 7.5, "basics.fields": ["work"],
                      "assessment.cooperation": 2, "assessment.offers": ["Sprachkurs", "Beratung"],
                      "basics.registered_since": "2019-03-01"}
    receiver.lock()


@pytest.mark.browser
def test_answering_every_type_in_the_browser_and_the_condition_follows_the_choice(served, page, coordinator):
    page.expected_errors.append("status of 409")  # "zwölf" is refused on purpose
    set_up_vault(page, served.launch_url, coordinator[1])
    vault = served.app.extensions["vault"]
    interview = plan_typed_interview(vault)
    base = served.launch_url.split("/launch")[0]
    page.goto(f"{base}/interviews/{interview.id}/guide?section=basics&mode=section")
    since = page.locator("article", has_text="Seit wann?")
    expect(since).to_be_hidden()
    page.get_by_label("Ja", exact=True).check()
    expect(since).to_be_visible()
    expect(page.locator("article", has_text="eingetragener Verein").locator(".save-status")).to_contain_text("Gespeichert")
    since.locator('input[type="date"]').fill("2019-03-01")
    page.locator("article", has_text="Ehrenamtliche").get_by_label("Zahl").fill("12,5")
    page.get_by_label("Gesundheit").check()
    page.get_by_label("Bildung").check()
    expect(page.locator("article", has_text="Feldern").locator(".save-status")).to_contain_text("Gespeichert")
    number = page.locator("article", has_text="Ehrenamtliche")
    expect(number.locator(".save-status")).to_contain_text("Gespeichert")
    number.get_by_label("Zahl").fill("zwölf")
    expect(number.locator(".save-status")).to_contain_text("Zahl")  # "Nicht gespeichert: Geben Sie eine Zahl ein …"
    page.goto(f"{base}/interviews/{interview.id}/guide?section=assessment&mode=section")
    page.locator('input[name="value"][value="4"]').check()
    page.get_by_label("Ein Eintrag pro Zeile").fill("Hausaufgabenhilfe\nBeratung für Eltern")
    expect(page.locator("article", has_text="Angebote").locator(".save-status")).to_contain_text("Gespeichert")
    page.goto(f"{base}/interviews/{interview.id}/guide?section=basics&mode=section")
    page.get_by_label("Nein", exact=True).check()
    expect(since).to_be_hidden()
    # the page loaded with "Gespeichert"; the save of "Nein" says when it was saved
    expect(page.locator("article", has_text="eingetragener Verein").get_by_text("Gespeichert um")).to_be_visible()
    with Session(vault.engine) as session:
        values = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert values == {"basics.registered": "no", "basics.registered_since": "2019-03-01", "basics.volunteers": 12.5,
                      "basics.fields": ["education", "health"], "assessment.cooperation": 4,
                      "assessment.offers": ["Hausaufgabenhilfe", "Beratung für Eltern"]}


@pytest.mark.browser
def test_a_list_typed_just_before_leaving_is_saved(served, page, coordinator):
    set_up_vault(page, served.launch_url, coordinator[1])
    vault = served.app.extensions["vault"]
    interview = plan_typed_interview(vault)
    base = served.launch_url.split("/launch")[0]
    page.goto(f"{base}/interviews/{interview.id}/guide?section=assessment&question=assessment.offers&mode=question")
    page.get_by_label("Ein Eintrag pro Zeile").fill("Sprachcafé\nNachhilfe")
    page.get_by_role("link", name="Weiter").click()  # at once, within the pause
    page.wait_for_url("**question=assessment.story**")
    with Session(vault.engine) as session:
        assert [a.value for a in session.exec(select(Answer))] == [["Sprachcafé", "Nachhilfe"]]

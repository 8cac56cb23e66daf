"""The guide editor's model: YAML → model → YAML keeps every guide as it was; edits field by field and
item by item; mistakes named by field with the loader's own messages; publishing makes an immutable
version that interviews can be planned with."""
from pathlib import Path

import pytest

from fieldkit import db, guide_editor, interviews
from fieldkit.guide import builtin_guide_sources, guide_version, latest_guide, parse_guide
from fieldkit.models import Organisation, save

TYPED = (Path(__file__).parent / "data" / "guides" / "typed.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("source", builtin_guide_sources() + [TYPED])
def test_yaml_to_model_to_yaml_keeps_the_guide(source):
    written, paths = guide_editor.write_yaml(guide_editor.model_of(source))
    assert parse_guide(written) == parse_guide(source)
    assert guide_editor.write_yaml(guide_editor.model_of(written))[0] == written  # stable once written
    assert len(paths) == written.count("\n")


def test_a_mistake_is_named_by_its_field_with_the_loaders_message():
    model = guide_editor.model_of(TYPED)
    guide_editor.set_field(model, "sections.1.questions.0.text.en", "")
    with pytest.raises(guide_editor.EditorError) as caught:
        guide_editor.check(model)
    assert caught.value.field == "sections.1.questions.0.text.en" and "non-empty text" in str(caught.value)
    assert guide_editor.missing_translations(model) == ["sections.1.questions.0.text.en"]
    guide_editor.set_field(model, "sections.1.questions.0.text.en", "How do you rate it?")
    guide_editor.set_field(model, "sections.0.questions.2.id", "volunteers")
    guide_editor.set_field(model, "sections.0.questions.3.id", "volunteers")
    with pytest.raises(guide_editor.EditorError) as caught:
        guide_editor.check(model)
    assert "used twice" in str(caught.value) and caught.value.field.startswith("sections.0.questions")


def test_building_a_guide_item_by_item():
    model = {"id": "neu", "version": "1", "languages": ["de", "en"], "title": {"de": "Neu", "en": "New"}, "sections": []}
    section = guide_editor.add_item(model, "sections")
    for language, text in (("de", "Rahmen"), ("en", "Setting")):
        guide_editor.set_field(model, f"{section}.title.{language}", text)
        guide_editor.set_field(model, f"{section}.questions.0.text.{language}", "Wie zufrieden? / How satisfied?")
    guide_editor.set_type(model, f"{section}.questions.0", "scale")
    guide_editor.set_field(model, f"{section}.questions.0.scale.max", "7")
    for point, label in ((1, "gar nicht / not at all"), (7, "sehr / very")):
        for language in ("de", "en"):
            guide_editor.set_field(model, f"{section}.questions.0.scale.labels.{point}.{language}", label)
    second = guide_editor.add_item(model, f"{section}.questions")
    guide_editor.set_type(model, second, "single")
    option = guide_editor.add_item(model, f"{second}.options")
    for path, text in ((f"{second}.text", "Mitglied?"), (f"{second}.options.0.label", "Ja"), (f"{option}.label", "Nein")):
        for language in ("de", "en"):
            guide_editor.set_field(model, f"{path}.{language}", text)
    guide_editor.set_condition(model, second, f"{model['sections'][0]['id']}.frage_1", "")  # shown once rated
    guide_editor.move_item(model, second, 0)  # the condition now names a later question: refused
    with pytest.raises(guide_editor.EditorError) as caught:
        guide_editor.check(model)
    assert "earlier question" in str(caught.value)
    guide_editor.move_item(model, f"{section}.questions.0", 1)
    guide_editor.check(model)
    parsed = parse_guide(guide_editor.write_yaml(model)[0])
    assert [q.type for q in parsed.questions] == ["scale", "single"] and parsed.questions[0].scale == (1, 7)
    guide_editor.remove_item(model, f"{second}.options.1")
    assert len(model["sections"][0]["questions"][1]["options"]) == 1


def test_edits_outside_the_guide_are_refused():
    model = guide_editor.model_of(TYPED)
    for path in ("sections", "sections.9.title.de", "languages.0.x", "sections.0.questions", "", "a" * 300):
        with pytest.raises(guide_editor.EditorError):
            guide_editor.set_field(model, path, "x")
    with pytest.raises(guide_editor.EditorError):
        guide_editor.set_type(model, "sections.0.questions.0", "slider")
    with pytest.raises(guide_editor.EditorError):
        guide_editor.add_item(model, "sections.0.title")


def test_publishing_a_new_version_keeps_the_old_one_for_its_interviews(vault):
    with db.writing(vault.engine) as session:
        draft = guide_editor.new_draft(session, "mikoss", "1.0")
        assert draft.model["version"] == "1.1"
        model = draft.model
        guide_editor.set_field(model, "sections.0.questions.0.text.de", "Wie kam es zur Gründung?")
        guide_editor.save_draft(session, draft, model)
    with db.writing(vault.engine) as session:
        organisation = save(session, vault.device_id, Organisation(name="Verein"))
        planned = interviews.new(session, vault.device_id, organisation, latest_guide(session, "mikoss"), "Ayla")
        [draft] = guide_editor.drafts(session)
        record = guide_editor.publish(session, vault.device_id, draft)
        assert record.guide_version == "1.1" and guide_editor.drafts(session) == []
        assert latest_guide(session, "mikoss").guide_version == "1.1"
        assert planned.guide_version == "1.0"
        assert guide_version(session, "mikoss", "1.1").questions[0].text("de") == "Wie kam es zur Gründung?"
        assert guide_version(session, "mikoss", "1.0").questions[0].text("de") != "Wie kam es zur Gründung?"
        again = guide_editor.new_draft(session, "mikoss", "1.1")
        again.model["version"] = "1.0"  # a published version cannot be changed
        with pytest.raises(guide_editor.EditorError) as caught:
            guide_editor.publish(session, vault.device_id, again)
        assert caught.value.field == "version"


def test_an_interview_moves_to_a_newer_version_only_where_its_answers_fit(vault):
    typed = (Path(__file__).parent / "data" / "guides" / "typed.yaml").read_text(encoding="utf-8")
    from fieldkit.guide import register_guide

    with db.writing(vault.engine) as session:
        record = register_guide(session, typed, vault.device_id)
        organisation = save(session, vault.device_id, Organisation(name="Verein"))
        interview = interviews.new(session, vault.device_id, organisation, record, "Ayla")
        interviews.record_consent(session, vault.device_id, interview, "Vorsitz", "written", "2026-12-04", set())
        guide = guide_version(session, "typed", "1")
        interviews.save_value(session, vault.device_id, interview, guide, "basics.fields", ["work"])
        interviews.save_answer(session, vault.device_id, interview, guide, "assessment.story", "Ein Beispiel.")
        draft = guide_editor.new_draft(session, "typed", "1")
        model = draft.model
        guide_editor.remove_item(model, "sections.0.questions.3.options.1")  # "work" is no longer offered
        guide_editor.remove_item(model, "sections.1.questions.2")  # nor the story question
        newer = guide_editor.publish(session, vault.device_id, guide_editor.save_draft(session, draft, model))
        problems = interviews.move_to_guide(session, vault.device_id, interview, newer)
        assert [key for key, _ in problems] == ["basics.fields", "assessment.story"] and interview.guide_version == "1"
        changes = guide_editor.diff(guide, guide_version(session, "typed", "2"))
        assert ("~", "basics.fields", "options") in changes and ("-", "assessment.story", "question") in changes
        interviews.save_value(session, vault.device_id, interview, guide, "basics.fields", ["health"])
        interviews.save_answer(session, vault.device_id, interview, guide, "assessment.story", "")
        assert interviews.move_to_guide(session, vault.device_id, interview, newer) == []
        assert interview.guide_version == "2"


def test_export_and_diff_on_the_command_line(cli, tmp_path):
    from conftest import PASSPHRASE
    from fieldkit.vault import new_project_identity

    env = {"FIELDKIT_PASSPHRASE": PASSPHRASE}
    data_dir = tmp_path / "data"
    assert cli("init", "--recipient", new_project_identity()[1], data_dir=data_dir, env=env).returncode == 0
    exported = cli("guide", "export", "mikoss@1.0", "--out", str(tmp_path / "m.yaml"), data_dir=data_dir, env=env)
    assert exported.returncode == 0, exported.stderr
    source = (tmp_path / "m.yaml").read_text(encoding="utf-8")
    assert source == builtin_guide_sources()[0]  # exactly as loaded: loading it again changes nothing
    assert cli("guide", "load", str(tmp_path / "m.yaml"), data_dir=data_dir, env=env).returncode == 0
    (tmp_path / "m2.yaml").write_text(source.replace('version: "1.0"', 'version: "1.1"').replace(
        "Erzählen Sie bitte, wie es", "Erzählen Sie, wie es"), encoding="utf-8")
    assert cli("guide", "load", str(tmp_path / "m2.yaml"), data_dir=data_dir, env=env).returncode == 0
    changed = cli("guide", "diff", "mikoss@1.0", "mikoss@1.1", "--json", data_dir=data_dir, env=env)
    import json

    assert json.loads(changed.stdout) == [{"change": "~", "where": "organisation.history", "what": "text"}]
    missing = cli("guide", "export", "nichts@9", data_dir=data_dir, env=env)
    assert missing.returncode != 0 and "nichts@9" in missing.stderr


def test_a_published_version_travels_in_bundles(vault, coordinator, tmp_path):
    from sqlmodel import Session

    from fieldkit.vault import Vault
    from test_bundle import export_from, merge_into

    with db.writing(vault.engine) as session:
        draft = guide_editor.new_draft(session, "mikoss", "1.0")
        guide_editor.set_field(draft.model, "title.de", "Leitfaden, zweite Fassung")
        guide_editor.publish(session, vault.device_id, guide_editor.save_draft(session, draft, draft.model))
    office = Vault(tmp_path / "office", memory_kib=8192, iterations=1)
    office.create("Koordination im Lindenviertel", [coordinator[1]])
    merge_into(office, export_from(vault).data, coordinator)
    with Session(office.engine) as session:
        assert guide_version(session, "mikoss", "1.1").title("de") == "Leitfaden, zweite Fassung"
    office.lock()


def test_the_interview_page_moves_to_the_newer_version_or_says_what_does_not_fit(unlocked, client, guard):
    from conftest import consented_interview

    vault = unlocked.extensions["vault"]
    interview = consented_interview(vault, "Elternnetzwerk", set())
    with db.writing(vault.engine) as session:
        guide = guide_version(session, "mikoss", "1.0")
        interviews.save_answer(session, vault.device_id, interviews.get(session, interview.id), guide,
                               "organisation.history", "Gegründet 2009.")
        draft = guide_editor.new_draft(session, "mikoss", "1.0")
        guide_editor.remove_item(draft.model, "sections.0.questions.0")
        guide_editor.publish(session, vault.device_id, guide_editor.save_draft(session, draft, draft.model))
    page = client.get(f"/interviews/{interview.id}").get_data(as_text=True)
    assert "Auf Leitfaden-Version 1.1 umstellen" in page
    refused = client.post(f"/interviews/{interview.id}/guide-version", data={"csrf_token": guard.csrf_token})
    assert refused.status_code == 409 and "organisation.history" in refused.get_data(as_text=True)
    with db.writing(vault.engine) as session:
        interviews.save_answer(session, vault.device_id, interviews.get(session, interview.id), guide, "organisation.history", "")
    moved = client.post(f"/interviews/{interview.id}/guide-version", data={"csrf_token": guard.csrf_token})
    assert moved.status_code == 302
    assert "Auf Leitfaden-Version" not in client.get(f"/interviews/{interview.id}").get_data(as_text=True)

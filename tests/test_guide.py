"""Guides as data: the shipped guide, mistakes reported with their line, versions side by side."""
import pytest
from sqlmodel import Session

from fieldkit import db, interviews
from fieldkit.guide import (GuideConflict, GuideError, builtin_guide_sources, guide_version, latest_guide,
                            list_guides, parse_guide, register_guide)
from fieldkit.models import Organisation, save

VALID = """\
id: small
version: "1.0"
languages: [de, en]
title: {de: Kleiner Leitfaden, en: Small guide}
sections:
  - id: intro
    title: {de: Einstieg, en: Introduction}
    questions:
      - id: start
        text: {de: "Wie fing es an?", en: "How did it start?"}
        probes:
          - {de: "Wer war dabei?", en: "Who was there?"}
    covers:
      - id: origin
        label: {de: Anfang, en: Beginning}
"""


def test_the_shipped_guide_covers_the_study_themes_in_german_and_english():
    guide = parse_guide(builtin_guide_sources()[0])
    assert (guide.id, guide.languages) == ("mikoss", ("de", "en"))
    assert [s.id for s in guide.sections] == ["organisation", "self_image", "practices", "resources", "network", "closing"]
    assert guide.question("practices.informal").text("de").startswith("Und wo helfen Sie eher informell")
    assert guide.question("practices.informal").text("en").startswith("And where do you help")
    assert {c.id for c in guide.section("practices").covers} >= {"education", "work", "health_care"}
    assert all(q.probes or q.key.startswith("closing") or q.key == "resources.rooms" or q.key == "network.competition"
               for q in guide.questions)


@pytest.mark.parametrize("change, line, text", [
    (("        text: {de:", "        txt: {de:"), 10, "Unknown key 'txt'"),
    (("        probes:\n          - {de: \"Wer war dabei?\", en: \"Who was there?\"}\n", ""), 9, None),
    ((', en: "How did it start?"}', "}"), 10, "Missing key 'en'"),
    (("      - id: origin", "      - id: or igin"), 14, "Ids may contain only"),
    (("title: {de: Kleiner Leitfaden, en: Small guide}", "title: [de"), 5, "not valid YAML"),
    (("    questions:\n      - id: start\n", "    questions: []\n    unused:\n      - id: start\n"), 9, "Unknown key 'unused'"),
])
def test_a_bad_guide_names_the_line_of_its_mistake(change, line, text):
    source = VALID.replace(*change)
    if text is None:  # removing the probes keeps the guide valid
        assert parse_guide(source).question("intro.start").probes == ()
        return
    with pytest.raises(GuideError) as refused:
        parse_guide(source)
    assert refused.value.line == line
    assert text in str(refused.value)


def test_a_guide_without_sections_is_refused():
    with pytest.raises(GuideError, match="must not be empty") as refused:
        parse_guide(VALID.split("sections:")[0] + "sections: []\n")
    assert refused.value.line == 5


@pytest.mark.parametrize("source, expected", [
    ("a: &x [1, 2]\nb: [*x, *x]\n", "anchors and aliases"),
    ("id: \x07\n", "not valid YAML"),
    ("[" * 5000, "nested too deeply"),
])
def test_hostile_yaml_is_refused_without_crashing(source, expected):
    with pytest.raises(GuideError, match=expected):
        parse_guide(source)


def test_duplicate_question_ids_are_refused():
    source = VALID.replace("    covers:", "      - id: start\n        text: {de: Noch mal, en: Again}\n    covers:")
    with pytest.raises(GuideError, match="used twice"):
        parse_guide(source)


@pytest.fixture
def session(tmp_path):
    engine = db.plain_engine(tmp_path / "guides.db")
    db.migrate(engine)
    with db.writing(engine) as session:
        yield session


def test_interviews_keep_their_guide_version_when_a_newer_one_is_loaded(session):
    register_guide(session, VALID, "device-a")
    organisation = save(session, "device-a", Organisation(name="Verein"))
    planned = interviews.new(session, "device-a", organisation, latest_guide(session, "small"), "Ayla")
    newer = VALID.replace('version: "1.0"', 'version: "1.10"').replace("Wie fing es an?", "Wie begann es?")
    register_guide(session, newer, "device-a")
    register_guide(session, VALID.replace('version: "1.0"', 'version: "1.9"'), "device-a")
    assert latest_guide(session, "small").guide_version == "1.10"
    assert (planned.guide_id, planned.guide_version) == ("small", "1.0")
    assert guide_version(session, "small", "1.0").question("intro.start").text("de") == "Wie fing es an?"
    assert [g.guide_version for g in list_guides(session) if g.guide_id == "small"] == ["1.10", "1.9", "1.0"]


def test_loading_the_same_version_twice_is_harmless_but_changed_content_needs_a_new_version(session):
    first = register_guide(session, VALID, "device-a")
    assert register_guide(session, VALID, "device-b").id == first.id
    with pytest.raises(GuideConflict):
        register_guide(session, VALID.replace("Wie fing es an?", "Geändert?"), "device-a")


def test_the_same_guide_gets_the_same_record_id_on_every_device(tmp_path):
    ids = []
    for name in ("a", "b"):
        engine = db.plain_engine(tmp_path / f"{name}.db")
        db.migrate(engine)
        with Session(engine) as session, session.begin():
            ids.append(register_guide(session, VALID, name).id)
    assert ids[0] == ids[1]


@pytest.mark.parametrize("data, expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00binary", "nicht Text"),
    ("id: x\ntitle: Größe\n".encode("cp1252"), "UTF-8"),
    (b"id: [" + b"[" * 50_000 + b"]" * 50_000 + b"]\n", "zu tief verschachtelt"),
    (b"# " + b"x" * (1024 * 1024 + 10), "größer als 1 MB"),
])
def test_a_guide_that_is_no_guide_is_refused_quickly_and_plainly(cli, tmp_path, data, expected):
    from conftest import PASSPHRASE

    (tmp_path / "guide.yaml").write_bytes(data)
    data_dir = tmp_path / "data"
    assert cli("init", "--recipient", __import__("fieldkit.vault", fromlist=["x"]).new_project_identity()[1],
               data_dir=data_dir, env={"FIELDKIT_PASSPHRASE": PASSPHRASE}).returncode == 0
    result = cli("guide", "load", str(tmp_path / "guide.yaml"), data_dir=data_dir, env={"FIELDKIT_PASSPHRASE": PASSPHRASE},
                 timeout=30)
    assert result.returncode == 1 and expected in result.stderr and "Traceback" not in result.stderr

"""The data steward's tools on German test sentences and a real vault: the registry and its matching,
patterns, unknown names, decisions, approval, generalisation, k-anonymity and the release check."""
import json

import pytest
from sqlmodel import Session, select

from fieldkit import db, release
from fieldkit.anonymise import candidates, generalise, patterns, registry, review
from fieldkit.anonymise.matching import Matcher
from fieldkit.demo import create_demo_data
from fieldkit.models import Answer, AuditEvent, Organisation, RegistryEntry

LOMINGO = Matcher([("lomingo", "Lomingo"), ("lomingo", "Lomingo e.V."), ("lomingo", "LeV"), ("ameran", "Ameran"),
                   ("elternverein", "Türkischer Elternverein Musterstadt"), ("jobcenter", "Jobcenter Musterstadt")])


@pytest.mark.parametrize("sentence, found", [
    ("Die Lomingos haben uns geholfen.", ["Lomingos"]),
    ("Der Vorstand des Vereins Lomingo tagt montags.", ["Lomingo"]),
    ("Der Lomingo-Vorstand hat entschieden.", ["Lomingo"]),
    ("Viele Ameran-Familien kommen samstags.", ["Ameran"]),
    ("LOMINGO e.V. und lomingo sind dasselbe.", ["LOMINGO e.V", "lomingo"]),
    ("Das Büro von Lomingo\ne.V. liegt zentral.", ["Lomingo\ne.V"]),
    ("Wir haben mit Lo-\nmingo gesprochen.", ["Lo-\nmingo"]),
    ("Das LeV-Team kommt.", ["LeV"]),
    ("Lomingo's Büro ist zu.", ["Lomingo's"]),
    ("Der Vorsitzende des Türkischen Elternvereins Musterstadt sagte", ["Türkischen Elternvereins Musterstadt"]),
    ("Termin beim Jobcenter\nMusterstadt verschoben.", ["Jobcenter\nMusterstadt"]),
    ("Ein Flamingo ist kein Lomingoblau.", []),
])
def test_registered_names_are_found_in_every_german_form(sentence, found):
    assert [sentence[m.start:m.end] for m in LOMINGO.find(sentence)] == found


@pytest.mark.parametrize("text, kind, expected", [
    ("Mail an info@lomingo-ev.de bitte.", "email", "info@lomingo-ev.de"),
    ("Siehe www.lomingo.de/team.", "url", "www.lomingo.de/team"),
    ("Siehe https://example.org/a?b=1, dort", "url", "https://example.org/a?b=1"),
    ("Ruf an: 0221 / 123 45 67.", "phone", "0221 / 123 45 67"),
    ("Handy +49 171 2345678 abends", "phone", "+49 171 2345678"),
    ("Büro (0211) 98765-43", "phone", "(0211) 98765-43"),
    ("in der Türkei 0090 212 555 1234", "phone", "0090 212 555 1234"),
    ("Tel. 0176-55512345", "phone", "0176-55512345"),
    ("IBAN DE89 3704 0044 0532 0130 00 für Spenden", "iban", "DE89 3704 0044 0532 0130 00"),
    ("IBAN DE89370400440532013000", "iban", "DE89370400440532013000"),
    ("Wir sitzen in der Bahnhofstraße 12a.", "address", "Bahnhofstraße 12a"),
    ("Treffpunkt Am Markt 3, dann", "address", "Am Markt 3"),
    ("Post an 50667 Köln", "postcode", "50667 Köln"),
    ("Sie ist geb. 12.03.1975 in Izmir.", "birthdate", "12.03.1975"),
    ("geboren am 3. Mai 1980", "birthdate", "3. Mai 1980"),
])
def test_every_pattern_is_found(text, kind, expected):
    assert [(text[f.start:f.end], f.kind) for f in patterns.find(text)] == [(expected, kind)]


@pytest.mark.parametrize("text", [
    "IBAN DE89 3704 0044 0532 0130 01 (Prüfziffer falsch)",  # an invalid IBAN is not one
    "Im Jahr 2019 kamen 1500 Menschen, 2015–2018 waren es 300.",
    "Treffen um 18.30 Uhr in Raum 0.12.",
    "Gegründet 1998, seit 2011 mit 14 Ehrenamtlichen.",
])
def test_numbers_that_are_not_identifying_are_left_alone(text):
    assert patterns.find(text) == []


@pytest.mark.parametrize("text, flagged", [
    ("Heute sprach ich mit Herrn Demir über die Elternabende.", ["Demir"]),
    ("Frau Dr. Ayşe Yıldız leitet die Beratung.", ["Ayşe Yıldız"]),
    ("Der Kulturverein Anatolien e.V. hilft.", ["Kulturverein Anatolien e.V."]),
    ("Die Brücke gGmbH zahlt die Miete.", ["Brücke gGmbH"]),
    ("Wir arbeiten mit dem Verein „Sonnenblume“ zusammen.", ["Verein „Sonnenblume“"]),
    ("Mehmet sagte, Kowalczyk habe angerufen.", ["Mehmet", "Kowalczyk"]),
    ("Wir treffen uns jeden Dienstag im Gemeindehaus. Die Stadt fördert uns.", []),
    ("Das Integrationszentrum und die Volkshochschule bieten Kurse an.", []),
    ("Die AWO und die VHS helfen bei Anträgen.", []),
])
def test_unknown_names_are_flagged_and_common_words_are_not(text, flagged):
    assert [text[c.start:c.end] for c in candidates.find(text)] == flagged


@pytest.fixture
def demo(vault):
    with db.writing(vault.engine) as session:
        create_demo_data(session, vault.device_id)
    return vault


def test_structured_names_are_registered_with_stable_codes_in_the_studys_style(demo):
    with db.writing(demo.engine) as session:
        registry.register_structured(session, demo.device_id)
        first = {(e.category, e.name): e.code for e in registry.entries(session)}
        assert registry.register_structured(session, demo.device_id) == 0  # again: nothing new, nothing renumbered
        assert {(e.category, e.name): e.code for e in registry.entries(session)} == first
    assert first[("mo", "Frauentreff Lindenviertel (Demo)")] == "MO-01"
    assert first[("place", "Musterstadt")] == "Ort-1"
    assert first[("person", "Demo-Interviewerin")] == "Person-1"
    assert first[("organisation", "Nachbarschaftszentrum Lindenplatz")] == "Organisation-1"
    assert first[("mo", "Elternnetzwerk Musterstadt")] == "MO-03"  # a contact that is a migrant organisation


def test_two_coordinators_registering_the_same_name_make_one_record(tmp_path, coordinator):
    from conftest import PASSPHRASE
    from fieldkit.vault import Vault

    ids = []
    for name in ("one", "two"):
        vault = Vault(tmp_path / name, memory_kib=8192, iterations=1)
        vault.create(PASSPHRASE, [coordinator[1]])
        with db.writing(vault.engine) as session:
            ids.append(registry.register(session, vault.device_id, "mo", "Lomingo e.V.").id)
        vault.lock()
    assert ids[0] == ids[1]


def test_stewards_add_variants_merge_rename_and_keep(vault):
    with db.writing(vault.engine) as session:
        lomingo = registry.add(session, vault.device_id, "mo", "Lomingo", ["Lomingo e.V.", "LeV"], actor="Steward")
        twice = registry.add(session, vault.device_id, "organisation", "Verein Lomingo", actor="Steward")
        registry.merge(session, vault.device_id, lomingo, twice, actor="Steward")
        assert "Verein Lomingo" in lomingo.variants and twice.merged_into == lomingo.id
        with pytest.raises(registry.RegistryError, match="belongs to"):
            jugendamt = registry.add(session, vault.device_id, "organisation", "Jugendamt")
            registry.add_variant(session, vault.device_id, jugendamt, "LeV")
        registry.rename_code(session, vault.device_id, lomingo, "MO-17", actor="Steward")
        with pytest.raises(registry.RegistryError, match="taken"):
            registry.rename_code(session, vault.device_id, jugendamt, "MO-17")
        registry.set_keep(session, vault.device_id, jugendamt, True, actor="Steward")
        scanner = review.Scanner(session)
        findings = scanner.findings("text", "Der LeV-Vorstand und das Jugendamt.", {})
        assert [(f.text, f.action, f.replacement) for f in findings] == [
            ("LeV", "replace", "[MO-17]"), ("Jugendamt", "keep", f"[{jugendamt.code}]")]
        logged = [e.action for e in session.exec(select(AuditEvent)) if e.action.startswith("registry.")]
        assert {"registry.add", "registry.variant", "registry.merge", "registry.rename", "registry.keep"} <= set(logged)


def _note(session, device_id, text: str) -> Answer:
    answer = session.exec(select(Answer).where(Answer.question_id == "practices.informal")).one()
    answer.text = text
    answer.touch(device_id)
    session.add(answer)
    return answer


def test_decisions_replace_keep_and_not_a_name_for_the_whole_project(demo):
    with db.writing(demo.engine) as session:
        answer = _note(session, demo.device_id, "Herr Demir und Frau Wagner kamen mit Kowalczyk zum Treffen.")
        scan = review.scan_all(session, demo.device_id, kind="answer")
        flags = [f.text for s in scan if s.record_id == answer.id for f in s.findings if f.open]
        assert flags == ["Demir", "Wagner", "Kowalczyk"]
        review.decide(session, demo.device_id, "answer", answer.id, "text", "Demir", "replace", "Steward", new_category="person")
        review.decide(session, demo.device_id, "answer", answer.id, "text", "Wagner", "keep", "Steward")
        review.decide(session, demo.device_id, "answer", answer.id, "text", "Kowalczyk", "not_a_name", "Steward")
        scan = review.scan_one(session, "answer", answer.id)
        assert scan.open_flags == 0
        assert review.redact(scan.texts["text"], scan.findings).startswith("Herr [Person-")
        assert "Frau Wagner" in review.redact(scan.texts["text"], scan.findings)
        assert session.exec(select(RegistryEntry).where(RegistryEntry.category == "term")).one().name == "Kowalczyk"
        decided = [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action == "steward.decide"))]
        assert len(decided) == 3 and all(d["record"] == f"answer/{answer.id}" for d in decided)


def test_approval_needs_every_flag_decided_and_any_edit_withdraws_it(demo):
    with db.writing(demo.engine) as session:
        answer = _note(session, demo.device_id, "Frau Wagner hat den Antrag gestellt.")
        with pytest.raises(review.ReviewError, match="wait for a decision"):
            review.approve(session, demo.device_id, "answer", answer.id, "Steward")
        review.decide(session, demo.device_id, "answer", answer.id, "text", "Wagner", "replace", "Steward",
                      new_category="person")
        review.approve(session, demo.device_id, "answer", answer.id, "Steward")
        assert review.approved(session, "answer", answer.id)
        assert {r.status for r in review.queue(session, kind="answer") if r.record_id == answer.id} == {"approved"}
    with db.writing(demo.engine) as session:  # an edit, as the interviewer's next autosave would make it
        _note(session, demo.device_id, "Frau Wagner hat den Antrag gestellt. Nachtrag.")
    with Session(demo.engine) as session:
        assert not review.approved(session, "answer", answer.id)
        assert {r.status for r in review.queue(session, kind="answer") if r.record_id == answer.id} == {"not_scanned"}


@pytest.fixture
def released(demo, tmp_path):
    """The demo, every flag replaced and every record approved, as a release dataset."""
    with db.writing(demo.engine) as session:
        _note(session, demo.device_id, "Herr Demir (Tel. 0171 2345678, demir@example.org) kommt aus Musterstadt.")
        review.replace_flagged(session, demo.device_id, "Steward")
        assert review.approve_all(session, demo.device_id, "Steward")[1] == 0
        dataset = release.build(session, demo.device_id)
        assert release.leaks(session, dataset.files) == []
    return demo, dataset


def test_a_release_holds_codes_and_placeholders_and_matches_its_schema(released):
    import jsonschema

    _, dataset = released
    assert set(dataset.records) == set(release.KINDS)  # never the registry, decisions or approvals
    note = next(a for a in dataset.records["answers"] if a["question_id"] == "practices.informal")["text"]
    assert note.startswith("Herr [Person-") and "[Telefon]" in note and "[E-Mail]" in note and "[Ort-1]" in note
    assert {o["code"] for o in dataset.records["organisations"]} == {"MO-01", "MO-02"}
    assert {o["region"] for o in dataset.records["organisations"]} == {None}  # Musterstadt is in no region table
    assert {o["founded"] for o in dataset.records["organisations"]} == {"2010–2019", "1990–1999"}
    assert {i["month"] for i in dataset.records["interviews"]} == {"2026-10", "2026-11"}
    schema = release.schema()
    for kind, item in (("organisations", "organisation"), ("answers", "answer"), ("networks", "network")):
        jsonschema.validate(json.loads(dataset.files[f"{kind}.json"]), {
            "$defs": schema["$defs"], "type": "array", "items": {"$ref": f"#/$defs/{item}"}})
    quote = next(q for q in dataset.records["quotes"] if "planen wir" in q["text"])  # its note holds a replaced name
    source = next(a for a in dataset.records["answers"] if a["id"] == quote["answer_id"])
    assert source["text"][quote["start"]:quote["end"]] == quote["text"]  # positions in the released text


def test_a_released_map_export_has_no_real_label(released):
    import networkx as nx
    import io

    demo, dataset = released
    with Session(demo.engine) as session:
        labels = {a.label for a in session.exec(select(__import__("fieldkit.models", fromlist=["Alter"]).Alter))}
    for name, data in dataset.files.items():
        if name.startswith("networks/"):
            text = data.decode()
            assert not any(label in text for label in labels), name
            if name.endswith(".graphml"):
                graph = nx.read_graphml(io.BytesIO(data), force_multigraph=True)
                assert all(graph.nodes[n]["label"].startswith(("MO-", "Organisation-")) for n in graph.nodes)


@pytest.mark.parametrize("file_kind", ["answers.json", "answers.csv", ".graphml", ".svg", "attributeList_Actor.csv"])
def test_the_release_check_refuses_a_planted_leak_in_each_file_type(released, file_kind):
    demo, dataset = released
    name = next(n for n in dataset.files if n.endswith(file_kind))
    data = dataset.files[name].decode()
    planted = {"answers.json": lambda d: d.replace("[Telefon]", "0171 2345678", 1),
               "answers.csv": lambda d: d.replace("[Ort-1]", "Musterstadt", 1),
               ".graphml": lambda d: d.replace(">MO-03<", ">Elternnetzwerk Musterstadt<", 1),
               ".svg": lambda d: d.replace(">Organisation-1<", ">Nachbarschaftszentrum\nLindenplatz<", 1),
               "attributeList_Actor.csv": lambda d: d.replace(",Organisation-1,", ",Jobcenter Musterstadt,", 1)}[file_kind]
    changed = planted(data)
    if changed == data:  # the map in this file does not hold that contact: plant a registered name instead
        changed = data.replace("Organisation-", "Jobcenter Musterstadt ", 1)
    assert changed != data
    with Session(demo.engine) as session:
        found = release.leaks(session, {**dataset.files, name: changed.encode()})
    assert [leak.file for leak in found] == [name]
    assert found[0].what in ("phone", "Ort-1") or found[0].what.startswith(("MO-", "Organisation-"))


def test_writing_a_release_logs_it_and_refuses_a_leak_without_writing_anything(released, tmp_path):
    demo, _ = released
    written = release.make_release(demo.engine, demo.device_id, tmp_path / "out", "Steward")
    assert written.sha256 and written.counts["answers"] == 2
    manifest = json.loads((tmp_path / "out" / written.directory.split("/")[-1] / "release.json").read_text())
    assert manifest["sha256"] == written.sha256 and manifest["left_out"] == []
    with db.writing(demo.engine) as session:  # kept in one note, then registered as a name to replace
        answer = session.exec(select(Answer).where(Answer.question_id == "self_image.role")).one()
        review.decide(session, demo.device_id, "answer", answer.id, "text", "Scharnier", "keep", "Steward", kind="registry")
        registry.add(session, demo.device_id, "person", "Scharnier", actor="Steward")
    with pytest.raises(release.LeakFound, match="answers") as refused:
        release.make_release(demo.engine, demo.device_id, tmp_path / "again", "Steward")
    assert not (tmp_path / "again").exists()
    with Session(demo.engine) as session:
        logged = session.exec(select(AuditEvent).where(AuditEvent.action == "release.refused")).one()
        assert logged.detail["leaks"] == refused.value.params["leaks"] and "Scharnier" not in json.dumps(logged.detail)
        assert {leak["file"] for leak in logged.detail["leaks"]} == {"answers.json", "answers.csv"}


def test_generalisation_of_quasi_identifiers(vault):
    assert generalise.decade(1998) == "1990–1999" and generalise.month("2026-11-30") == "2026-11"
    table = generalise.default_regions()
    assert generalise.region("Köln-Ehrenfeld", table) == "NRW, Rheinland"
    assert generalise.region("Dortmund", table) == "NRW, Westfalen-Lippe"
    assert generalise.region("Leipzig", table) == "Sachsen" and generalise.region("Kleinkleckersdorf", table) is None
    assert generalise.band("45") == "26-50"
    with db.writing(vault.engine) as session:
        generalise.set_regions(session, generalise.parse_region_rows("Musterstadt;NRW, Rheinland\nLeipzig;Mitteldeutschland"))
        assert generalise.region("Musterstadt", generalise.regions(session)) == "NRW, Rheinland"
        assert generalise.region("Leipzig", generalise.regions(session)) == "Mitteldeutschland"


def test_k_anonymity_names_small_groups_and_what_to_generalise(vault):
    with db.writing(vault.engine) as session:
        for index, (founded, city) in enumerate([(1991, "Köln"), (1995, "Bonn"), (1999, "Aachen"), (2012, "Dortmund")]):
            session.add(Organisation(name=f"Verein {index}", founded=founded, city=city, members_band="26-50",
                                     offers_scope="holistic", reach="city", version={"x": 1}))
    with Session(vault.engine) as session:
        report = generalise.k_anonymity(session, k=3)
    assert report.organisations == 4 and len(report.small) == 1
    small = report.small[0]
    assert small.size == 1 and small.values["region"] == "NRW, Westfalen-Lippe" and small.values["founded"] == "2010–2019"
    assert small.suggestions == []  # dropping one quasi-identifier is not enough: decade and region both differ
    with Session(vault.engine) as session:
        assert generalise.k_anonymity(session, k=1).small == []

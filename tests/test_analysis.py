"""The analyses on a small fixture whose every number is computed by hand: three organisations, their
maps (one with a second map "five years ago" that the cross-interview analyses leave out), their
coded quotes; and the downloads read back."""
import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from fieldkit import analysis, db, interviews, maps, network
from fieldkit.guide import guide_version, latest_guide
from fieldkit.models import Organisation, save
from fieldkit.quotes import codebook, mark_quote

SECTORS = list(network.default_config()["sectors"])
SECTOR_INDEX = {sector["id"]: index for index, sector in enumerate(SECTORS)}


def place(actor_type: str, ring: int) -> tuple[float, float]:
    """The middle of a ring (0 innermost) in the actor type's sector."""
    return network.position(ring + 0.5, SECTOR_INDEX[actor_type] + 0.5, 4, len(SECTORS))


def draw(session, device, interview, title, contacts, ties):
    network_map = maps.create(session, device, interview, title)
    ids = {}
    for label, actor_type, ring in contacts:
        x, y = place(actor_type, ring)
        step = maps.change(session, device, interview, network_map, {"action": "add_alter", "alter": {
            "label": label, "actor_type": actor_type, "x": x, "y": y}})
        ids[label] = step["steps"][0]["record"]["id"]
    for source, target, kind in ties:
        maps.change(session, device, interview, network_map, {"action": "add_tie", "tie": {
            "source_id": ids.get(source), "target_id": ids[target], "type": kind}})
    return network_map


@pytest.fixture
def study(vault):
    device = vault.device_id
    with db.writing(vault.engine) as session:
        guide_record = latest_guide(session, "mikoss")
        guide = guide_version(session, guide_record.guide_id, guide_record.guide_version)
        codes = {code.label: code.id for code in codebook(session)}
        made = {}
        for name, interviewer, date in (("Verein A", "Ayla", dt.date(2026, 10, 1)), ("Verein B", "Ben", dt.date(2026, 10, 5)),
                                        ("Verein C", "Ayla", dt.date(2026, 11, 1))):
            organisation = save(session, device, Organisation(name=name, founded=1990, staff_paid=2, staff_volunteer=10,
                                                              offers_scope="holistic", reach="city"))
            interview = interviews.new(session, device, organisation, guide_record, interviewer, date)
            interviews.record_consent(session, device, interview, "Vorsitz", "written", "2026-10-01",
                                      {"network_map", "quotes"})
            made[name] = (organisation, interview)
        # A: two state actors (rings 1 and 2: relevance 4 and 3), one association (ring 4: relevance 1)
        draw(session, device, made["Verein A"][1], "Netzwerk heute",
             [("Amt 1", "state_actor", 0), ("Amt 2", "state_actor", 1), ("Sportverein", "association", 3)],
             [(None, "Amt 1", "cooperation"), (None, "Sportverein", "conflict"), ("Amt 1", "Sportverein", "tension")])
        draw(session, device, made["Verein A"][1], "Vor fünf Jahren",  # a second map: left out of the cross-interview figures
             [("Kirche", "religious_institution", 0)], [(None, "Kirche", "cooperation")])
        # B: a state actor (ring 3: relevance 2), a welfare association (ring 1: relevance 4)
        draw(session, device, made["Verein B"][1], "Netzwerk heute",
             [("Jobcenter", "state_actor", 2), ("Caritas", "welfare_association", 0)],
             [(None, "Caritas", "power_asymmetry"), ("Jobcenter", "Caritas", "cooperation")])
        # C: one migrant organisation (ring 2: relevance 3)
        draw(session, device, made["Verein C"][1], "Netzwerk heute", [("Elternverein", "migrant_organisation", 1)], [])
        # Quotes: A two coded Kooperation, B one coded Konflikt
        for name, text, code, times in (("Verein A", "Wir arbeiten gut mit dem Amt zusammen.", "Kooperation", 2),
                                        ("Verein B", "Mit dem Jobcenter gibt es Streit.", "Konflikt", 1)):
            interview = made[name][1]
            answer = interviews.save_answer(session, device, interview, guide, "organisation.history", text)
            for _ in range(times):
                mark_quote(session, device, interview, "answer", answer.id, 0, 10, text[:10], [codes[code]])
    return vault, made


def test_the_studys_chart_share_and_mean_relevance_per_actor_type(study):
    vault, _ = study
    with db.writing(vault.engine) as session:
        table = analysis.actor_types(analysis.load(session))
    rows = {row[0]: row[2:] for row in table.rows}
    # 6 contacts over the first maps: state 3 (4, 3, 2), association 1 (1), welfare 1 (4), migrant organisation 1 (3)
    assert rows["state_actor"] == [3, 50.0, 3.0]
    assert rows["association"] == [1, 16.667, 1.0]
    assert rows["welfare_association"] == [1, 16.667, 4.0]
    assert rows["migrant_organisation"] == [1, 16.667, 3.0]
    assert rows["religious_institution"] == [0, 0.0, None]  # only on the second map
    assert [row[0] for row in table.rows] == list(SECTOR_INDEX)  # the study's order


def test_a_choice_of_interviewer_or_period_narrows_every_figure(study):
    vault, made = study
    with db.writing(vault.engine) as session:
        ayla = {row[0]: row[2:] for row in analysis.actor_types(analysis.load(session, analysis.Choice(interviewers=("Ayla",)))).rows}
        october = analysis.load(session, analysis.Choice(since=dt.date(2026, 10, 2), until=dt.date(2026, 10, 31)))
        one = analysis.load(session, analysis.Choice(organisations=(made["Verein C"][0].id,)))
    assert ayla["state_actor"] == [2, 50.0, 3.5] and ayla["migrant_organisation"] == [1, 25.0, 3.0]
    assert [interview.interviewer for interview in october.interviews] == ["Ben"]
    assert [item.organisation.name for item in one.maps] == ["Verein C"]


def test_tie_kinds_by_actor_type_to_the_organisation_and_among_contacts(study):
    vault, _ = study
    with db.writing(vault.engine) as session:
        data = analysis.load(session)
        ego, among = analysis.tie_types(data, among=False), analysis.tie_types(data, among=True)
    kinds = list(network.TIE_STYLE)

    def cells(table):
        return {row[0]: dict(zip(kinds + ["all"], row[2:])) for row in table.rows if row[-1]}

    assert cells(ego) == {
        "state_actor": {"cooperation": 1, "conflict": 0, "tension": 0, "power_asymmetry": 0, "competition": 0, "all": 1},
        "association": {"cooperation": 0, "conflict": 1, "tension": 0, "power_asymmetry": 0, "competition": 0, "all": 1},
        "welfare_association": {"cooperation": 0, "conflict": 0, "tension": 0, "power_asymmetry": 1, "competition": 0, "all": 1}}
    assert cells(among) == {
        "state_actor": {"cooperation": 1, "conflict": 0, "tension": 1, "power_asymmetry": 0, "competition": 0, "all": 2},
        "association": {"cooperation": 0, "conflict": 0, "tension": 1, "power_asymmetry": 0, "competition": 0, "all": 1},
        "welfare_association": {"cooperation": 1, "conflict": 0, "tension": 0, "power_asymmetry": 0, "competition": 0, "all": 1}}


def test_ego_network_measures_per_map_side_by_side(study):
    vault, _ = study
    with db.writing(vault.engine) as session:
        table = analysis.ego_networks(analysis.load(session))
    rows = {(row[1], row[3]): row[4:] for row in table.rows}
    # A today: 3 contacts, mean relevance (4+3+1)/3, density 1 pair of 3, IQV 1-(4/9+1/9) over 1-1/8,
    # E-I among contacts: the one pair is external (+1); ego E-I (3 - 0)/3 = +1
    size, composition, relevance, density, iqv, ei, ego_ei = rows[("Verein A", "Netzwerk heute")]
    assert (size, relevance, density, ei, ego_ei) == (3, 2.667, 0.333, 1.0, 1.0)
    assert iqv == round((1 - (4 / 9 + 1 / 9)) / (1 - 1 / 8), 3)
    assert "Staatlicher Akteur 2" in composition
    assert rows[("Verein A", "Vor fünf Jahren")][0] == 1  # every map of an interview, side by side
    assert rows[("Verein C", "Netzwerk heute")][3] is None  # one contact: no pairs, no density
    assert rows[("Verein C", "Netzwerk heute")][6] == -1.0  # only a migrant organisation: all internal


def test_code_frequencies_by_organisation(study):
    vault, _ = study
    with db.writing(vault.engine) as session:
        table = analysis.code_frequencies(session, analysis.load(session))
    by_code = {row[1]: row[2:] for row in table.rows}
    assert table.columns[2:] == ["Verein A", "Verein B", "Verein C", "Alle"]
    assert by_code["Kooperation"] == [2, 0, 0, 2]
    assert by_code["Konflikt"] == [0, 1, 0, 1]
    assert by_code["Konkurrenz"] == [0, 0, 0, 0]


def test_organisations_side_by_side_and_fieldwork_progress(study):
    vault, made = study
    with db.writing(vault.engine) as session:
        side = analysis.characteristics(session, [made["Verein A"][0].id, made["Verein B"][0].id])
        data = analysis.load(session)
        people = analysis.interviews_by_interviewer(data)
        coverage = analysis.guide_coverage(session, data)
        consents = analysis.missing_consents(data)
    assert side.columns == ["Merkmal", "Verein A", "Verein B"]
    assert dict((row[0], row[1:]) for row in side.rows)["Professionalisierung"] == ["2 hauptamtlich, 10 ehrenamtlich"] * 2
    assert {row[0]: row[-1] for row in people.rows} == {"Ayla": 2, "Ben": 1}
    history = next(row for row in coverage.rows if row[0] == "organisation.history")
    assert history[3:] == [2, 3, 66.667]  # notes in A and B of the three consented interviews
    assert consents.rows == []


def test_downloads_hold_the_same_numbers(study):
    vault, _ = study
    with db.writing(vault.engine) as session:
        table = analysis.actor_types(analysis.load(session))
    rows = list(csv.reader(io.StringIO(table.csv().decode("utf-8-sig"))))
    assert rows[0] == table.columns
    state = next(row for row in rows if row[0] == "state_actor")
    assert state[2:] == ["3", "50.0", "3.0"]
    sheet = load_workbook(io.BytesIO(table.xlsx())).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == table.columns and ["state_actor", "Staatlicher Akteur", 3, 50, 3] in values


def test_downloads_never_carry_a_formula():
    table = analysis.Table("t", "T", ["a"], [["=HYPERLINK(\"x\")"], ["+1"], [-3]])
    assert list(csv.reader(io.StringIO(table.csv().decode("utf-8-sig"))))[1:] == [["'=HYPERLINK(\"x\")"], ["'+1"], ["-3"]]


# The Auswertung pages, through the app ------------------------------------------------------------

@pytest.fixture
def demo_client(client, unlocked):
    from fieldkit.demo import create_demo_data

    vault = unlocked.extensions["vault"]
    with db.writing(vault.engine) as session:
        create_demo_data(session, vault.device_id)
    return client


def test_the_analysis_pages_downloads_and_charts(demo_client):
    page = demo_client.get("/analysis/")
    assert page.status_code == 200
    html = page.data.decode()
    for heading in ("Typen im Vergleich zur Relevanz", "Beziehungen zur Organisation nach Art und Akteurstyp",
                    "Ego-Netzwerke", "Organisationen im Vergleich", "Codierte Zitate nach Code und Organisation"):
        assert heading in html
    progress = demo_client.get("/analysis/progress")
    assert progress.status_code == 200 and "Abdeckung des Leitfadens" in progress.data.decode()
    csv_file = demo_client.get("/analysis/table/actor_types.csv")
    assert csv_file.mimetype == "text/csv" and "attachment" in csv_file.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(csv_file.data.decode("utf-8-sig"))))
    assert sum(int(row[2]) for row in rows[1:]) == 14  # the demo's first maps: 6 + 8 contacts
    assert demo_client.get("/analysis/table/codes.xlsx").data[:2] == b"PK"
    svg = demo_client.get("/analysis/chart/actor_types.svg")
    assert svg.mimetype == "image/svg+xml" and b"Typen im Vergleich zur Relevanz" in svg.data
    assert demo_client.get("/analysis/chart/ties_ego.png").data[:8] == b"\x89PNG\r\n\x1a\n"
    assert demo_client.get("/analysis/chart/ego_networks.svg").status_code == 404  # read as a table
    assert demo_client.get("/analysis/table/unknown.csv").status_code == 404
    import re
    import xml.etree.ElementTree as ET

    thumbnails = re.findall(r'class="thumbnail" src="([^"]+)"', html)
    assert len(thumbnails) == 2  # one small picture per map in the ego networks' table
    picture = demo_client.get(thumbnails[0])
    assert picture.mimetype == "image/svg+xml" and ET.fromstring(picture.data).get("width") == "160"


def test_a_bad_date_is_named_and_the_rest_of_the_choice_still_applies(demo_client):
    page = demo_client.get("/analysis/?since=gestern&interviewer=Nobody").data.decode()
    assert "„gestern“ ist kein Datum" in page or "gestern" in page
    assert "0 Interviews" in page


def test_each_count_opens_its_quotes(demo_client):
    import re

    html = demo_client.get("/analysis/").data.decode()
    links = [link.replace("&amp;", "&") for link in re.findall(r'href="(/analysis/quotes\?[^"]*)"', html)]
    assert links
    opened = demo_client.get(links[0]).data.decode()
    assert opened.count('class="quote"') >= 1


# REFI-QDA ------------------------------------------------------------------------------------------

QDA = "{urn:QDA-XML:project:1.0}"
SCHEMA = Path(__file__).parent / "data" / "refi-qda" / "Project-mrt2019.xsd"


def read_qdpx(data: bytes):
    import zipfile

    from lxml import etree

    archive = zipfile.ZipFile(io.BytesIO(data))
    project = etree.fromstring(archive.read("project.qde"))
    etree.XMLSchema(etree.parse(str(SCHEMA))).assertValid(project)
    return archive, project


def test_qdpx_validates_and_every_selection_holds_its_quote(study):
    from fieldkit import qdpx
    from fieldkit.models import Quote
    from sqlmodel import select

    vault, made = study
    with db.writing(vault.engine) as session:
        data = qdpx.export(session, vault.device_id)
        quotes = {quote.id: quote.text for quote in session.exec(select(Quote))}
    archive, project = read_qdpx(data)
    sources = project.findall(f"{QDA}Sources/{QDA}TextSource")
    assert len(sources) == 2  # the notes of A and B; C has none
    checked = 0
    for source in sources:
        text = archive.read("sources/" + source.get("plainTextPath").removeprefix("internal://")).decode("utf-8")
        for selection in source.findall(f"{QDA}PlainTextSelection"):
            start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
            assert text[start:end] == quotes[selection.get("guid")]
            assert selection.find(f"{QDA}Coding/{QDA}CodeRef") is not None
            checked += 1
    assert checked == 3
    codes = {code.get("name") for code in project.iter(f"{QDA}Code")}
    assert {"Kooperation", "Konflikt", "Machtasymmetrie / einseitige Arbeit"} <= codes
    cases = {case.get("name"): case for case in project.iter(f"{QDA}Case")}
    assert set(cases) == {"Verein A", "Verein B", "Verein C"}
    assert len(cases["Verein A"].findall(f"{QDA}SourceRef")) == 1
    variables = {v.get("guid"): v.get("name") for v in project.iter(f"{QDA}Variable")}
    values = {variables[value.find(f"{QDA}VariableRef").get("targetGUID")]: value[1].text
              for value in sources[0].findall(f"{QDA}VariableValue")}
    assert values["Interviewer"] == "Ayla" and values["Founded"] == "1990" and values["Interview date"] == "2026-10-01"


def test_qdpx_on_the_command_line(cli, tmp_path):
    from conftest import run_cli
    from fieldkit.demo import DEMO_PASSPHRASE

    data_dir = tmp_path / "demo"
    assert run_cli("demo", "--no-start", data_dir=data_dir).returncode == 0
    out = tmp_path / "projekt.qdpx"
    result = cli("export", "qdpx", "--out", str(out), data_dir=data_dir, env={"FIELDKIT_PASSPHRASE": DEMO_PASSPHRASE})
    assert result.returncode == 0, result.stderr
    archive, project = read_qdpx(out.read_bytes())
    assert len(project.findall(f"{QDA}Sources/{QDA}TextSource")) >= 2
    again = cli("export", "qdpx", "--out", str(out), data_dir=data_dir, env={"FIELDKIT_PASSPHRASE": DEMO_PASSPHRASE})
    assert again.returncode == 1


def test_qdpx_from_the_analysis_page_covers_the_chosen_interviews(demo_client):
    whole = demo_client.get("/analysis/project.qdpx")
    assert whole.status_code == 200 and "attachment" in whole.headers["Content-Disposition"]
    archive, project = read_qdpx(whole.data)
    assert len(project.findall(f"{QDA}Cases/{QDA}Case")) == 2
    none = demo_client.get("/analysis/project.qdpx?interviewer=Niemand")
    assert read_qdpx(none.data)[1].find(f"{QDA}Cases") is None


# Mixed methods: quotes linked to contacts and ties ------------------------------------------------

def test_a_quote_links_to_a_contact_or_tie_of_its_own_interviews_maps(study):
    from sqlmodel import select

    from fieldkit import quotes
    from fieldkit.models import Quote, Tie
    from fieldkit.quotes import QuoteError

    vault, made = study
    device = vault.device_id
    with db.writing(vault.engine) as session:
        interview_a, interview_b = made["Verein A"][1], made["Verein B"][1]
        quote = session.exec(select(Quote).where(Quote.interview_id == interview_a.id)).first()
        tie = session.exec(select(Tie).where(Tie.type == "tension")).one()  # A: Amt 1 – Sportverein
        link = quotes.link_quote(session, device, interview_a, quote, tie.id)
        assert quotes.link_quote(session, device, interview_a, quote, tie.id).id == link.id  # once
        other_tie = session.exec(select(Tie).where(Tie.type == "power_asymmetry")).one()  # B's map
        with pytest.raises(QuoteError):
            quotes.link_quote(session, device, interview_a, quote, other_tie.id)
        with pytest.raises(QuoteError):
            quotes.link_quote(session, device, interview_b, quote, other_tie.id)
        views = quotes.quotes(session, interview_a, tie_names={"tension": "Spannung", "ego": "Ego"})
        linked = next(view for view in views if view.quote.id == quote.id).links
        assert [(item.map_title, item.target) for item in linked] == [("Netzwerk heute", "Spannung: Amt 1 – Sportverein")]
        assert quotes.linked_quotes(session, tie.map_id) == {tie.id: [{"id": quote.id, "text": quote.text}]}
        by_tie = {row[1]: row[2:] for row in analysis.codes_by_tie_kind(session, analysis.load(session)).rows}
        assert by_tie["Kooperation"] == [0, 0, 1, 0, 0, 1]  # the quote coded Kooperation is about a tension
        quotes.unlink_quote(session, device, interview_a, link)
        assert quotes.linked_quotes(session, tie.map_id) == {}


def test_the_studys_chart_recomputed_from_the_maps_network_canvas_csv(study):
    """The same shares and mean relevances from the files a researcher would export for R or egor."""
    import zipfile
    from collections import defaultdict

    from fieldkit import map_export

    vault, _ = study
    counts, relevance = defaultdict(int), defaultdict(list)
    with db.writing(vault.engine) as session:
        data = analysis.load(session)
        table = analysis.actor_types(data)
        for item in data.main_maps:
            archive = zipfile.ZipFile(io.BytesIO(map_export.render(map_export.load(session, item.network_map), "nc-csv")))
            name = next(member for member in archive.namelist() if member.endswith("_attributeList_Actor.csv"))
            for row in csv.DictReader(io.StringIO(archive.read(name).decode("utf-8"))):
                actor_type = next(column.removeprefix("actor_type_") for column, value in row.items()
                                  if column.startswith("actor_type_") and value == "true")
                counts[actor_type] += 1
                relevance[actor_type].append(int(row["relevance"]))
    total = sum(counts.values())
    for key, _, contacts, share, mean in table.rows:
        assert contacts == counts[key]
        assert share == round(100 * counts[key] / total, 3)
        assert mean == (round(sum(relevance[key]) / len(relevance[key]), 3) if relevance[key] else None)


def test_the_same_analyses_from_release_documents_count_each_map_once():
    def release(created, alters):
        return {"created": created, "records": {
            "organisations": [{"id": "o1", "code": "MO-01"}],
            "interviews": [{"id": "i1", "organisation_id": "o1", "interviewer": "I-01", "month": "2026-10", "status": "completed"}],
            "networks": [{"id": "m1", "interview_id": "i1", "title": "Netzwerk heute", "rings": [{}] * 4,
                          "sectors": [{"id": key} for key in SECTOR_INDEX],
                          "alters": [{"id": f"a{n}", "actor_type": kind, "ring": ring} for n, (kind, ring) in enumerate(alters)],
                          "ties": [{"id": "t1", "source_id": None, "target_id": "a0", "type": "cooperation"}]}]}}

    older = release("2026-11-01T10:00:00+00:00", [("state_actor", 1)])
    newer = release("2026-12-01T10:00:00+00:00", [("state_actor", 1), ("association", 4)])
    data = analysis.from_releases([newer, older])  # the newest release of a map wins, whatever the order
    rows = {row[0]: row[2:] for row in analysis.actor_types(data).rows}
    assert rows["state_actor"] == [1, 50.0, 4.0] and rows["association"] == [1, 50.0, 1.0]
    assert [row[1] for row in analysis.ego_networks(data).rows] == ["MO-01"]
    ego = {row[0]: row[2] for row in analysis.tie_types(data, among=False).rows}
    assert ego["state_actor"] == 1


def test_a_choice_by_organisation_characteristics(study):
    vault, made = study
    with db.writing(vault.engine) as session:
        organisation = session.get(Organisation, made["Verein B"][0].id)
        organisation.reach = "region"
        save(session, vault.device_id, organisation)
        regional = analysis.load(session, analysis.Choice(characteristics=(("reach", "region"),)))
        city = analysis.load(session, analysis.Choice(characteristics=(("reach", "city"), ("offers_scope", "holistic"))))
        ignored = analysis.load(session, analysis.Choice(characteristics=(("name", "Verein A"),)))  # not a characteristic
    assert [i.organisation_id for i in regional.interviews] == [made["Verein B"][0].id]
    assert len(city.interviews) == 2 and len(ignored.interviews) == 3


def test_charts_are_drawn_as_svg_with_round_ticks_and_names_kept_as_text():
    import re
    import xml.etree.ElementTree as ET

    from fieldkit import charts

    names = ["Verein <Süd> & Co", "Kirche", "Amt"]
    svg = charts.columns("Titel", names, [charts.Series("Kooperation", [2, 0, 7], "#1b7837"),
                                          charts.Series("Konflikt", [1, None, 0], "#b2182b")], "Beziehungen", "de", whole=True)
    root = ET.fromstring(svg)  # well-formed: names are escaped, not markup
    ns = {"s": "http://www.w3.org/2000/svg"}
    texts = ["".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Verein <Süd> & Co" in texts and "Titel" in texts and "Konflikt" in texts  # the legend
    assert [t for t in texts if t.isdigit()] == ["0", "2", "4", "6", "8"]  # whole steps up to the largest stack
    assert len(root.findall("s:rect/s:title", ns)) == 3  # one block per value above zero
    shares = charts.columns("Anteile", ["A", "B"], [charts.Series("Anteil (%)", [12.5, 30], "#4a7fb0")], "Anteil (%)", "de",
                            points=charts.Series("Relevanz", [3.25, None], "#b35806"), points_top=4)
    labels = re.findall(r"<text [^>]*>([^<]*)</text>", shares)
    assert labels[:6] == ["Anteile", "0", "10", "20", "30", "Anteil (%)"]  # round steps up to the largest
    assert ["0", "1", "2", "3", "4"] == labels[-6:-1] and "A – Relevanz: 3,25" in shares  # the right axis; German decimals
    assert shares.count("<path") == 1  # no diamond where the mean is missing
    empty = charts.bars("Codes", [], charts.Series("Zitate", [], "#4a7fb0"), "Zitate", "en")
    assert ET.fromstring(empty).get("width") and charts.png(empty)[:8] == b"\x89PNG\r\n\x1a\n"

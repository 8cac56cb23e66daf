"""Map exports read back by the tools researchers use: networkx for GraphML, csv for Network Canvas'
layout, an XML parser for SVG, the PNG header; and `fieldkit export network` on the demo vault."""
import csv
import io
import json
import re
import struct
import uuid
import zipfile
from datetime import datetime, timezone
import xml.etree.ElementTree as ET

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree as lxml_etree

from fieldkit import map_export, network
from fieldkit.demo import DEMO_PASSPHRASE
from fieldkit.text import clean


def make_export() -> map_export.MapExport:
    config = network.default_config()
    places = {"Jobcenter": ("state_actor", 0.5, 1.5), "Moschee": ("religious_institution", 1.5, 4.5),
              "Caritas": ("welfare_association", 2.5, 3.5), "=Verein": ("association", 3.5, 2.5)}
    sectors = [sector["id"] for sector in config["sectors"]]
    alters = []
    for label, (actor_type, ring, _) in places.items():
        x, y = network.position(ring, sectors.index(actor_type) + 0.5, 4, 8)
        alters.append({"id": str(uuid.uuid4()), "label": label, "actor_type": actor_type, "x": x, "y": y,
                       "attributes": {"frequency": "weekly"} if label == "Jobcenter" else {}})
    ids = {alter["label"]: alter["id"] for alter in alters}

    def tie(source, target, kind, direction="undirected", strength=1):
        return {"id": str(uuid.uuid4()), "source_id": ids.get(source), "target_id": ids[target], "type": kind,
                "direction": direction, "strength": strength, "note": ""}

    ties = [tie(None, "Jobcenter", "power_asymmetry", "forward", 3), tie(None, "Moschee", "cooperation"),
            tie(None, "Jobcenter", "cooperation"), tie("Caritas", "Moschee", "tension"),
            tie("Caritas", "Jobcenter", "cooperation", strength=2), tie("Caritas", "Jobcenter", "competition"),
            # one-way ties whose first end was added after the second, and one drawn backwards
            tie("=Verein", "Jobcenter", "conflict", "forward"), tie("Jobcenter", "=Verein", "cooperation", "backward"),
            tie("Moschee", "=Verein", "cooperation", "mutual")]
    state = {"id": str(uuid.uuid4()), "title": "Netzwerk heute", **config, "alters": alters, "ties": ties}
    return map_export.MapExport(state, "Frauentreff <Demo> & Co", "MO-01", "2026-11-26",
                                started=datetime(2026, 11, 26, 9, 30, 0, 250000, tzinfo=timezone.utc))


def test_graphml_round_trips_through_networkx():
    export = make_export()
    read = nx.read_graphml(io.BytesIO(map_export.graphml(export, "de")), force_multigraph=True)
    assert read.is_directed()
    alters = {alter["id"]: alter for alter in export.state["alters"]}
    assert set(read.nodes) == {network.EGO, *alters}
    assert read.nodes[network.EGO]["is_ego"] is True
    for alter_id, alter in alters.items():
        node = read.nodes[alter_id]
        assert node["label"] == alter["label"] and node["actor_type"] == alter["actor_type"]
        ring = network.ring_of(alter["x"], alter["y"], 4)
        assert (node["ring"], node["relevance"]) == (ring + 1, 4 - ring)
    assert read.nodes[alters[export.state["alters"][0]["id"]]["id"]]["frequency"] == "weekly"
    edges = sorted((source, target, data["type"], data["direction"], data["strength"])
                   for source, target, data in read.edges(data=True))
    assert edges == sorted(_expected_edge(tie) for tie in export.state["ties"])
    assert read.graph["title"] == "Netzwerk heute"


def _expected_edge(tie):
    """A one-way tie points from source to target in the file, whatever order the ends were drawn in."""
    ends = (tie["source_id"] or network.EGO, tie["target_id"])
    if tie["direction"] == "backward":
        return (ends[1], ends[0], tie["type"], "forward", tie["strength"])
    return (*ends, tie["type"], tie["direction"], tie["strength"])


def test_a_one_way_tie_reads_from_its_source_in_graphml():
    export = make_export()
    ids = {alter["label"]: alter["id"] for alter in export.state["alters"]}
    root = ET.fromstring(map_export.graphml(export, "de"))
    namespace = {"g": "http://graphml.graphdrawing.org/xmlns"}
    assert root.find("g:graph", namespace).get("edgedefault") == "directed"
    pairs = {(edge.get("source"), edge.get("target")) for edge in root.iter("{http://graphml.graphdrawing.org/xmlns}edge")}
    assert (ids["=Verein"], ids["Jobcenter"]) in pairs  # the forward conflict tie
    assert (ids["=Verein"], ids["Jobcenter"]) in pairs and (ids["Jobcenter"], ids["=Verein"]) not in pairs


def test_network_canvas_zip_matches_network_canvas_exporter():
    export = make_export()
    archive = zipfile.ZipFile(io.BytesIO(map_export.network_canvas_zip(export, "de")))
    prefix = f"MO-01_{export.state['id']}"  # Network Canvas keeps the session id as it is
    names = set(archive.namelist())
    # only the kinds of tie among contacts that occur get an edge list
    assert names == {f"{prefix}_ego.csv", f"{prefix}_attributeList_Actor.csv", f"{prefix}.graphml",
                     *(f"{prefix}_edgeList_{kind}.csv" for kind in ("tension", "cooperation", "competition", "conflict"))}

    def table(name):
        return list(csv.DictReader(io.StringIO(archive.read(f"{prefix}_{name}.csv").decode())))

    ego = table("ego")
    assert len(ego) == 1 and ego[0]["networkCanvasSessionID"] == export.state["id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ego[0]["sessionExported"])  # toISOString()
    assert ego[0]["sessionStart"] == "2026-11-26T09:30:00.250Z" and ego[0]["sessionFinish"] == ""
    assert ego[0]["APP_VERSION"].startswith("v")
    ego_id = ego[0]["networkCanvasEgoUUID"]
    actors = table("attributeList_Actor")
    assert [row["nodeID"] for row in actors] == ["1", "2", "3", "4"]
    assert {row["networkCanvasEgoUUID"] for row in actors} == {ego_id}
    by_name = {row["name"]: row for row in actors}
    assert "=Verein" in by_name  # written as it is, as Network Canvas does
    assert by_name["Jobcenter"]["actor_type_state_actor"] == "true"
    assert by_name["Jobcenter"]["actor_type_association"] == "false"
    assert by_name["Jobcenter"]["frequency_weekly"] == "true" and by_name["Moschee"]["frequency_weekly"] == "false"
    assert "actor_type" not in by_name["Jobcenter"] and "frequency" not in by_name["Jobcenter"]
    assert by_name["Jobcenter"]["ego_tie_power_asymmetry"] == "true"
    assert by_name["Jobcenter"]["ego_tie_power_asymmetry_direction"] == "forward"
    assert by_name["Jobcenter"]["ego_tie_power_asymmetry_strength"] == "3"
    assert by_name["Moschee"]["ego_tie_conflict"] == "false" and by_name["Moschee"]["ego_tie_conflict_strength"] == ""
    assert 0 <= float(by_name["Caritas"]["layout_x"]) <= 1
    cooperation = table("edgeList_cooperation")
    assert len(cooperation) == 3
    edge = cooperation[0]
    assert (edge["networkCanvasSourceUUID"], edge["networkCanvasTargetUUID"]) == (by_name["Caritas"]["networkCanvasUUID"],
                                                                                by_name["Jobcenter"]["networkCanvasUUID"])
    assert (edge["from"], edge["to"]) == (by_name["Caritas"]["nodeID"], by_name["Jobcenter"]["nodeID"])
    edge_ids = [row["edgeID"] for kind in ("tension", "cooperation", "competition", "conflict")
                for row in table(f"edgeList_{kind}")]
    assert sorted(edge_ids, key=int) == ["1", "2", "3", "4", "5", "6"]  # numbered across the map
    raw = archive.read(f"{prefix}_attributeList_Actor.csv").decode()
    assert raw.endswith("\r\n") and "\r\n" in raw.split("\r\n", 1)[0] + "\r\n"


def test_network_canvas_cells_are_quoted_only_when_needed():
    export = make_export()
    export.state["alters"][0]["label"] = 'Verein "Brücke", Ost'
    archive = zipfile.ZipFile(io.BytesIO(map_export.network_canvas_zip(export, "de")))
    name = next(n for n in archive.namelist() if n.endswith("attributeList_Actor.csv"))
    line = archive.read(name).decode().split("\r\n")[1]
    assert ',"Verein ""Brücke"", Ost",' in line
    assert ",true," in line and ",false," in line and '"true"' not in line


def test_network_canvas_writes_one_empty_edge_list_without_ties_among_contacts():
    export = make_export()
    export.state["ties"] = [tie for tie in export.state["ties"] if tie["source_id"] is None]
    archive = zipfile.ZipFile(io.BytesIO(map_export.network_canvas_zip(export, "de")))
    edge_lists = [n for n in archive.namelist() if "_edgeList" in n]
    assert edge_lists == [f"MO-01_{export.state['id']}_edgeList.csv"]
    assert archive.read(edge_lists[0]).decode() == ("edgeID,from,to,networkCanvasEgoUUID,networkCanvasUUID,"
                                                   "networkCanvasSourceUUID,networkCanvasTargetUUID,direction,strength,note\r\n")


SVG = "{http://www.w3.org/2000/svg}"


def texts_of(svg_text: str) -> list[str]:
    return ["".join(element.itertext()) for element in ET.fromstring(svg_text).iter(f"{SVG}text")]


def test_svg_is_valid_xml_with_every_contact_and_the_legend():
    export = make_export()
    texts = texts_of(map_export.svg(export, "de"))
    assert "Frauentreff <Demo> & Co · 2026-11-26" in texts
    assert {"Jobcenter", "Moschee", "Caritas", "=Verein"} <= set(texts)
    assert {"Akteurstypen", "Beziehungen", "Kooperation", "Machtasymmetrie / einseitige Arbeit", "Sehr wichtig"} <= {
        t.split("  ")[-1] for t in texts}
    assert "Actor types" in texts_of(map_export.svg(export, "en"))


def test_png_is_a_picture_of_the_svg():
    export = make_export()
    data = map_export.png(export, "de")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    root = ET.fromstring(map_export.svg(export, "de"))
    assert struct.unpack(">II", data[16:24]) == (int(root.get("width")), int(root.get("height")))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from conftest import run_cli

    data_dir = tmp_path_factory.mktemp("demo")
    assert run_cli("demo", "--no-start", data_dir=data_dir).returncode == 0
    return data_dir


@pytest.mark.parametrize("fmt", ["graphml", "nc-csv", "svg", "png"])
def test_export_network_command(cli, demo_dir, tmp_path, fmt):
    env = {"FIELDKIT_PASSPHRASE": DEMO_PASSPHRASE}
    listed = cli("map", "list", "--json", data_dir=demo_dir, env=env)
    assert listed.returncode == 0, listed.stderr
    first = json.loads(listed.stdout)[0]
    out = tmp_path / f"map.{fmt}"
    result = cli("export", "network", first["id"], "--format", fmt, "--out", str(out), data_dir=demo_dir, env=env)
    assert result.returncode == 0, result.stderr
    assert "nicht verschlüsselt" in result.stdout
    if fmt == "graphml":
        graph = nx.read_graphml(out, force_multigraph=True)
        assert graph.number_of_nodes() == first["alters"] + 1 and graph.number_of_edges() == first["ties"]
    again = cli("export", "network", first["id"], "--format", fmt, "--out", str(out), data_dir=demo_dir, env=env)
    assert again.returncode == 1 and "nicht überschrieben" in again.stderr


def test_map_create_and_copy_on_the_command_line(cli, demo_dir):
    env = {"FIELDKIT_PASSPHRASE": DEMO_PASSPHRASE}
    maps = json.loads(cli("map", "list", "--json", data_dir=demo_dir, env=env).stdout)
    open_map = next(m for m in maps if m["alters"] == 8)  # the demo interview that is still in progress
    copied = cli("map", "create", "--interview", open_map["interview"], "--title", "Vor fünf Jahren",
                 "--copy-of", open_map["id"], "--json", data_dir=demo_dir, env=env)
    assert copied.returncode == 0, copied.stderr
    listed = json.loads(cli("map", "list", "--interview", open_map["interview"], "--json", data_dir=demo_dir, env=env).stdout)
    assert [(m["title"], m["alters"], m["ties"]) for m in listed] == [
        ("Netzwerk heute", 8, 6), ("Vor fünf Jahren", 8, 6)]
    closed = next(m for m in maps if m["alters"] == 6)  # the completed interview cannot get a new map
    refused = cli("map", "create", "--interview", closed["interview"], "--title", "X", data_dir=demo_dir, env=env)
    assert refused.returncode == 1 and "abgeschlossen" in refused.stderr


def test_ties_in_opposite_directions_are_drawn_apart():
    export = make_export()
    first, second = export.state["alters"][:2]
    export.state["ties"] = [
        {"id": str(uuid.uuid4()), "source_id": a["id"], "target_id": b["id"], "type": kind, "direction": "forward",
         "strength": 1, "note": ""} for a, b, kind in ((first, second, "conflict"), (second, first, "cooperation"))]
    paths = [e.get("d") for e in ET.fromstring(map_export.svg(export, "de")).iter("{http://www.w3.org/2000/svg}path")
             if e.get("marker-end")]
    controls = {path.split("Q")[1].split()[0:2].__str__() for path in paths if "Q" in path}
    assert len(controls) == 2


# Every character a user can paste: control characters, Word's vertical tab, lone surrogates, emoji.
pasted = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(label=pasted, note=pasted, title=pasted, organisation=pasted)
def test_every_export_survives_every_character_a_user_can_paste(label, note, title, organisation):
    export = make_export()
    export.state["alters"][0]["label"] = label
    export.state["alters"][1]["attributes"] = {"note": note, "since": note}
    export.state["ties"][3]["note"] = note
    export.state["title"] = title
    export = map_export.MapExport(export.state, organisation, "MO-01", "2026-11-26")
    svg_text = map_export.svg(export, "de")
    lxml_etree.fromstring(svg_text.encode())  # strict XML, as rsvg and browsers read it
    assert map_export.png(export, "de")[:8] == b"\x89PNG\r\n\x1a\n"
    graphml = map_export.graphml(export, "de")
    lxml_etree.fromstring(graphml)
    read = nx.read_graphml(io.BytesIO(graphml), force_multigraph=True)
    assert read.nodes[export.state["alters"][0]["id"]]["label"] == clean(label)
    archive = zipfile.ZipFile(io.BytesIO(map_export.network_canvas_zip(export, "de")))
    actors = next(n for n in archive.namelist() if n.endswith("attributeList_Actor.csv"))
    rows = list(csv.DictReader(io.StringIO(archive.read(actors).decode(), newline="")))
    assert rows[0]["name"] == clean(label)


def test_a_vertical_tab_becomes_a_line_break():
    assert clean("Erste Zeile\x0bzweite\x00\ud800 Zeile") == "Erste Zeile\nzweite Zeile"


def crowded_export(contacts: int = 40) -> map_export.MapExport:
    """40 contacts at random places with random ties, as in the window's test of a crowded map."""
    import math
    import random

    chance = random.Random(40)
    export = make_export()
    sectors = [sector["id"] for sector in export.state["sectors"]]
    alters = []
    for number in range(contacts):
        radius, angle = chance.uniform(0.18, 0.97), chance.uniform(0, 2 * math.pi)
        alters.append({"id": str(uuid.uuid4()), "label": f"Beratungsstelle {number + 1}", "actor_type": chance.choice(sectors),
                       "x": round(radius * math.sin(angle), 4), "y": round(-radius * math.cos(angle), 4), "attributes": {}})
    export.state["alters"] = alters
    export.state["ties"] = [{"id": str(uuid.uuid4()), "source_id": None if number % 3 == 0 else chance.choice(alters)["id"],
                             "target_id": alters[number]["id"], "type": kind, "direction": "forward", "strength": 1 + number % 3,
                             "note": ""} for number, kind in enumerate(list(network.TIE_STYLE) * 6)]
    return export


def picture(export, locale="de"):
    """The SVG's parts: its width, the map's names as boxes, its symbols as boxes, the legend's left edge."""
    root = ET.fromstring(map_export.svg(export, locale))
    groups = [group for group in root.iter(f"{SVG}g")]
    map_group, legend_group = groups[0], groups[1]
    shift = [float(v) for v in re.findall(r"[-\d.]+", map_group.get("transform"))]
    names, symbols = [], []
    for element in map_group:
        if element.tag == f"{SVG}text" and element.get("stroke") == "#ffffff" and element.get("text-anchor") == "middle":
            size = float(element.get("font-size"))
            for span in element:
                x, y = float(span.get("x")) + shift[0], float(span.get("y")) + shift[1]
                width = map_export.map_layout.text_width(span.text or "", size, bold=element.get("font-weight") == "bold")
                names.append((span.text, size, (x - width / 2, y - size * 0.6, x + width / 2, y + size * 0.6)))
        if element.tag == f"{SVG}path" and "scale(" in (element.get("transform") or ""):
            x, y, scale = [float(v) for v in re.findall(r"[-\d.]+", element.get("transform"))]
            reach = scale * 1.2
            symbols.append((x + shift[0] - reach, y + shift[1] - reach, x + shift[0] + reach, y + shift[1] + reach))
    legend_left = float(re.findall(r"[-\d.]+", legend_group.get("transform"))[0])
    return root, float(root.get("width")), names, symbols, legend_left, map_group


def boxes_overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("make", [make_export, crowded_export])
def test_exported_names_are_readable_in_print_and_overlap_nothing(make):
    root, width, names, symbols, legend_left, _ = picture(make())
    assert names
    for name, size, box in names:
        assert size / width * map_export.PRINT_WIDTH_PT >= 7, f"{name!r} prints below 7 pt at 16 cm"
        assert box[2] < legend_left, f"{name!r} runs into the legend"
        for symbol in symbols:
            assert not boxes_overlap(box, symbol), f"{name!r} covers a symbol"
    for index, (name, _, box) in enumerate(names):
        for other, _, other_box in names[index + 1:]:
            assert not boxes_overlap(box, other_box), f"{name!r} and {other!r} overlap"


def test_a_crowded_export_numbers_the_contacts_it_has_no_room_to_name():
    export = crowded_export(90)
    texts = texts_of(map_export.svg(export, "de"))
    assert "Kontakte mit Nummer" in texts
    numbered = [text for text in texts if re.fullmatch(r"\d+  Beratungsstelle \d+", text)]
    assert numbered and all(text.split("  ")[0] == text.split()[-1] for text in numbered)
    named = {text for text in texts if re.fullmatch(r"Beratungsstelle \d+", text)}
    assert len(named) + len(numbered) == 90


def test_tie_kinds_differ_in_greyscale_and_the_legend_shows_no_arrowheads_on_them():
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    styles = network.TIE_STYLE
    assert all(1.05 / (luminance(style["colour"]) + 0.05) >= 4.5 for style in styles.values()), "a faint line in greyscale"
    assert len({(style["dash"], style["cap"]) for style in styles.values()}) == len(styles), "two kinds share a pattern"
    root, _, _, _, _, map_group = picture(make_export())
    legend = list(root.iter(f"{SVG}g"))[1]
    samples = [path for path in legend.iter(f"{SVG}path") if path.get("stroke") in {s["colour"] for s in styles.values()}]
    assert len(samples) == len(styles) and not any(path.get("marker-end") or path.get("marker-start") for path in samples)
    drawn = {path.get("stroke"): path.get("stroke-dasharray") for path in map_group.iter(f"{SVG}path") if path.get("fill") == "none"
             and path.get("stroke") in {s["colour"] for s in styles.values()}}
    assert len(set(drawn.values())) == len(drawn)


def test_ring_numbers_are_drawn_above_the_contacts():
    _, _, _, _, _, map_group = picture(make_export())
    children = list(map_group)
    last_symbol = max(index for index, element in enumerate(children) if "scale(" in (element.get("transform") or ""))
    numbers = [index for index, element in enumerate(children) if element.tag == f"{SVG}text" and "".join(element.itertext()) in "1234"]
    assert len(numbers) == 4 and min(numbers) > last_symbol

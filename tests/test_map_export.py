"""Map exports read back by the tools researchers use: networkx for GraphML, csv for Network Canvas'
layout, an XML parser for SVG, the PNG header; and `fieldkit export network` on the demo vault."""
import csv
import io
import json
import struct
import uuid
import zipfile
import xml.etree.ElementTree as ET

import networkx as nx
import pytest

from fieldkit import map_export, network
from fieldkit.demo import DEMO_PASSPHRASE


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
            tie("Caritas", "Jobcenter", "cooperation", strength=2), tie("Caritas", "Jobcenter", "competition")]
    state = {"id": str(uuid.uuid4()), "title": "Netzwerk heute", **config, "alters": alters, "ties": ties}
    return map_export.MapExport(state, "Frauentreff <Demo> & Co", "MO-01", "2026-11-26")


def test_graphml_round_trips_through_networkx():
    export = make_export()
    read = nx.read_graphml(io.BytesIO(map_export.graphml(export, "de")), force_multigraph=True)
    alters = {alter["id"]: alter for alter in export.state["alters"]}
    assert set(read.nodes) == {network.EGO, *alters}
    assert read.nodes[network.EGO]["is_ego"] is True
    for alter_id, alter in alters.items():
        node = read.nodes[alter_id]
        assert node["label"] == alter["label"] and node["actor_type"] == alter["actor_type"]
        ring = network.ring_of(alter["x"], alter["y"], 4)
        assert (node["ring"], node["relevance"]) == (ring + 1, 4 - ring)
    assert read.nodes[alters[export.state["alters"][0]["id"]]["id"]]["frequency"] == "weekly"
    edges = sorted((data["tie_from"], data["tie_to"], data["type"], data["direction"], data["strength"])
                   for _, _, data in read.edges(data=True))
    expected = sorted((tie["source_id"] or network.EGO, tie["target_id"], tie["type"], tie["direction"], tie["strength"])
                      for tie in export.state["ties"])
    assert edges == expected
    assert read.graph["title"] == "Netzwerk heute"


def test_network_canvas_zip_has_the_layout_egor_reads():
    export = make_export()
    archive = zipfile.ZipFile(io.BytesIO(map_export.network_canvas_zip(export, "de")))
    prefix = f"MO_01_{export.state['id'].replace('-', '_')}"
    names = set(archive.namelist())
    assert names == {f"{prefix}_ego.csv", f"{prefix}_attributeList_Actor.csv", f"{prefix}.graphml",
                     *(f"{prefix}_edgeList_{kind}.csv" for kind in network.TIE_STYLE)}

    def table(name):
        return list(csv.DictReader(io.StringIO(archive.read(f"{prefix}_{name}.csv").decode())))

    ego = table("ego")
    assert len(ego) == 1 and ego[0]["networkCanvasSessionID"] == export.state["id"]
    ego_id = ego[0]["networkCanvasEgoUUID"]
    actors = table("attributeList_Actor")
    assert [row["nodeID"] for row in actors] == ["1", "2", "3", "4"]
    assert {row["networkCanvasEgoUUID"] for row in actors} == {ego_id}
    by_name = {row["name"]: row for row in actors}
    assert "'=Verein" in by_name  # a formula-like name is guarded
    assert by_name["Jobcenter"]["ego_tie_power_asymmetry"] == "true"
    assert by_name["Jobcenter"]["ego_tie_power_asymmetry_direction"] == "forward"
    assert by_name["Jobcenter"]["ego_tie_power_asymmetry_strength"] == "3"
    assert by_name["Moschee"]["ego_tie_conflict"] == "false"
    assert 0 <= float(by_name["Caritas"]["layout_x"]) <= 1
    cooperation = table("edgeList_cooperation")
    assert len(cooperation) == 1
    edge = cooperation[0]
    assert (edge["networkCanvasSourceUUID"], edge["networkCanvasTargetUUID"]) == (by_name["Caritas"]["networkCanvasUUID"],
                                                                                by_name["Jobcenter"]["networkCanvasUUID"])
    assert (edge["from"], edge["to"]) == (by_name["Caritas"]["nodeID"], by_name["Jobcenter"]["nodeID"])
    assert table("edgeList_conflict") == []  # created even when empty, with its header
    assert archive.read(f"{prefix}_edgeList_conflict.csv").decode().startswith("edgeID,from,to,networkCanvasEgoUUID")


def test_svg_is_valid_xml_with_every_contact_and_the_legend():
    export = make_export()
    text = map_export.svg(export, "de")
    root = ET.fromstring(text)
    texts = [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Frauentreff <Demo> & Co" in texts
    assert {"Jobcenter", "Moschee", "Caritas", "=Verein"} <= set(texts)
    assert {"Akteurstypen", "Beziehungen", "Kooperation", "Machtasymmetrie / einseitige Arbeit", "Sehr wichtig"} <= {
        t.split("  ")[-1] for t in texts}
    assert "Actor types" in [e.text for e in ET.fromstring(map_export.svg(export, "en")).iter("{http://www.w3.org/2000/svg}text")]


def test_png_is_a_picture_of_the_svg():
    data = map_export.png(make_export(), "de")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1530, 900)


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

"""A network map for reports and for analysis software: SVG and PNG with legend, GraphML, and the
CSV layout of Network Canvas (one zip per map). These files are plain text: they leave the vault."""
import csv
import io
import math
import re
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from xml.sax.saxutils import escape

import networkx as nx

from . import __version__, maps, network
from .i18n import N_, translate
from .models import Interview, Organisation
from .vocabulary import TIE_TYPES

SCALE = 100  # SVG units per map radius
NODE_SIZE = 3.4
FORMATS = {"svg": "image/svg+xml", "png": "image/png", "graphml": "application/graphml+xml", "nc-csv": "application/zip"}
SUFFIXES = {"svg": ".svg", "png": ".png", "graphml": ".graphml", "nc-csv": ".zip"}


@dataclass
class MapExport:
    """What an export needs to know about one map: its state (maps.state) and where it comes from."""
    state: dict
    organisation: str
    case_id: str
    interview_date: str = ""

    @property
    def rings(self) -> int:
        return len(self.state["rings"])

    def ring_of(self, alter: dict) -> int:
        return network.ring_of(alter["x"], alter["y"], self.rings)


def load(session, network_map) -> MapExport:
    """A map from the vault, ready to export."""
    interview = session.get(Interview, network_map.interview_id)
    organisation = session.get(Organisation, interview.organisation_id)
    return MapExport(maps.state(session, network_map), organisation.name,
                     organisation.pseudonym_code or organisation.id[:8],
                     interview.date.isoformat() if interview.date else "")


def render(export: MapExport, fmt: str, locale: str = "de") -> bytes:
    if fmt == "svg":
        return svg(export, locale).encode()
    if fmt == "png":
        return png(export, locale)
    if fmt == "graphml":
        return graphml(export, locale)
    if fmt == "nc-csv":
        return network_canvas_zip(export, locale)
    raise ValueError(fmt)


def file_name(export: MapExport, fmt: str) -> str:
    title = re.sub(r"[^\w-]+", "_", export.state["title"]).strip("_") or "map"
    return f"{_prefix(export)}_{title}{SUFFIXES[fmt]}"


# Pictures --------------------------------------------------------------------------------------------

def svg(export: MapExport, locale: str) -> str:
    """The map as a standalone SVG: rings, sectors, ties, contacts, title and legend."""
    state = export.state
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="-190 -158 510 300" width="1530" height="900" '
             'font-family="DejaVu Sans, Arial, sans-serif">',
             '<rect x="-190" y="-158" width="510" height="300" fill="#ffffff"/>',
             markers_svg(), background_svg(state, locale)]
    positions = {alter["id"]: (alter["x"] * SCALE, alter["y"] * SCALE) for alter in state["alters"]}
    parts += [_tie(tie, positions, offset) for tie, offset in _with_offsets(state["ties"])]
    parts.append(f'<circle r="{network.EGO_RADIUS * SCALE:.1f}" fill="#ffffff" stroke="#222222" stroke-width="0.8"/>')
    parts.append(_text(0, 1.5, export.organisation, 4, anchor="middle", weight="bold"))
    symbols = {sector["id"]: sector for sector in state["sectors"]}
    parts += [_alter(alter, symbols.get(alter["actor_type"])) for alter in state["alters"]]
    parts.append(_text(-186, -146, state["title"], 7, weight="bold"))
    parts.append(_text(-186, -138, " · ".join(filter(None, [export.organisation, export.interview_date])), 4.5, colour="#444444"))
    parts.append(_legend(state, locale))
    parts.append("</svg>")
    return "\n".join(parts)


def png(export: MapExport, locale: str) -> bytes:
    import resvg_py

    return bytes(resvg_py.svg_to_bytes(svg_string=svg(export, locale), background="#ffffff"))


def background_svg(state: dict, locale: str) -> str:
    rings, sectors = state["rings"], state["sectors"]
    parts = []
    step = 2 * math.pi / len(sectors)
    for index, sector in enumerate(sectors):
        start, end = index * step, (index + 1) * step
        x1, y1 = SCALE * math.sin(start), -SCALE * math.cos(start)
        x2, y2 = SCALE * math.sin(end), -SCALE * math.cos(end)
        large = 1 if step > math.pi else 0
        parts.append(f'<path d="M 0 0 L {x1:.2f} {y1:.2f} A {SCALE} {SCALE} 0 {large} 1 {x2:.2f} {y2:.2f} Z" '
                     f'fill="{sector["colour"]}" fill-opacity="0.08" stroke="#bbbbbb" stroke-width="0.4"/>')
        middle = (index + 0.5) * step
        lx, ly = 1.1 * SCALE * math.sin(middle), -1.1 * SCALE * math.cos(middle)
        anchor = "middle" if abs(lx) < 20 else ("start" if lx > 0 else "end")
        parts.append(_symbol(sector, lx - (7 if anchor == "start" else -7 if anchor == "end" else 0), ly - 1.5, 2.2))
        parts.append(_text(lx, ly + 1.5 + (4 if anchor == "middle" else 0), network.label_text(sector["label"], locale),
                           4.2, anchor=anchor, colour="#333333"))
    for index in range(len(rings)):
        radius = (network.EGO_RADIUS + (index + 1) * network.ring_width(len(rings))) * SCALE
        parts.append(f'<circle r="{radius:.2f}" fill="none" stroke="#999999" stroke-width="0.5"/>')
        middle = radius - network.ring_width(len(rings)) * SCALE / 2
        parts.append(_text(1.5, -middle + 1.5, str(index + 1), 4, colour="#777777"))
    return "\n".join(parts)


def _with_offsets(ties: list[dict]):
    """Ties between the same two ends are drawn as curves beside each other."""
    groups: dict[frozenset, list] = {}
    for tie in ties:
        groups.setdefault(frozenset((tie["source_id"], tie["target_id"])), []).append(tie)
    for group in groups.values():
        for index, tie in enumerate(group):
            # offsets are measured from each tie's own direction: flip those drawn the other way round
            flip = -1 if (tie["source_id"] or "") > tie["target_id"] else 1
            yield tie, flip * (index - (len(group) - 1) / 2) * 5


def tie_path(start: tuple, end: tuple, offset: float, start_gap: float, end_gap: float) -> str:
    (x1, y1), (x2, y2) = start, end
    length = math.hypot(x2 - x1, y2 - y1) or 1
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    x1, y1, x2, y2 = x1 + ux * start_gap, y1 + uy * start_gap, x2 - ux * end_gap, y2 - uy * end_gap
    cx, cy = (x1 + x2) / 2 - uy * offset * 2, (y1 + y2) / 2 + ux * offset * 2
    return f"M {x1:.2f} {y1:.2f} Q {cx:.2f} {cy:.2f} {x2:.2f} {y2:.2f}"


def _tie(tie: dict, positions: dict, offset: float) -> str:
    style = network.TIE_STYLE[tie["type"]]
    ego_gap = network.EGO_RADIUS * SCALE
    start = positions.get(tie["source_id"], (0, 0))
    gaps = (ego_gap if tie["source_id"] is None else NODE_SIZE + 1, NODE_SIZE + 1)
    markers = {"forward": ' marker-end="url(#arrow-{t})"', "backward": ' marker-start="url(#arrow-{t})"',
               "mutual": ' marker-start="url(#arrow-{t})" marker-end="url(#arrow-{t})"'}
    marker = markers.get(tie["direction"], "").format(t=tie["type"])
    dash = f' stroke-dasharray="{style["dash"]}"' if style["dash"] else ""
    return (f'<path d="{tie_path(start, positions[tie["target_id"]], offset, *gaps)}" fill="none" '
            f'stroke="{style["colour"]}" stroke-width="{0.35 + 0.35 * tie["strength"]:.2f}"{dash}{marker}/>')


def markers_svg() -> str:
    markers = "".join(
        f'<marker id="arrow-{key}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" markerHeight="5" '
        f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 Z" fill="{style["colour"]}"/></marker>'
        for key, style in network.TIE_STYLE.items())
    return f"<defs>{markers}</defs>"


def _symbol(sector: dict, x: float, y: float, size: float) -> str:
    return (f'<path d="{network.SYMBOL_PATHS[sector["symbol"]]}" transform="translate({x:.2f} {y:.2f}) scale({size})" '
            f'fill="{sector["colour"]}" stroke="#222222" stroke-width="{0.3 / size:.3f}"/>')


def _alter(alter: dict, sector: dict) -> str:
    sector = sector or {"colour": "#777777", "symbol": "circle"}
    x, y = alter["x"] * SCALE, alter["y"] * SCALE
    return _symbol(sector, x, y, NODE_SIZE) + _text(x, y + NODE_SIZE + 4.5, alter["label"], 4.2, anchor="middle", halo=True)


def _text(x, y, content: str, size: float, anchor: str = "start", weight: str = "normal", colour: str = "#111111",
          halo: bool = False) -> str:
    halo_attrs = ' stroke="#ffffff" stroke-width="1.2" paint-order="stroke" stroke-linejoin="round"' if halo else ""
    return (f'<text x="{x:.2f}" y="{y:.2f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{colour}"{halo_attrs}>{escape(content)}</text>')


def _legend(state: dict, locale: str) -> str:
    x, y = 150, -125
    parts = [_text(x, y, translate(N_("Actor types"), locale), 5, weight="bold")]
    for sector in state["sectors"]:
        y += 8
        parts.append(_symbol(sector, x + 3, y - 1.5, 2.4))
        parts.append(_text(x + 9, y, network.label_text(sector["label"], locale), 4.2))
    y += 14
    parts.append(_text(x, y, translate(N_("Ties"), locale), 5, weight="bold"))
    for key, label in TIE_TYPES.items():
        y += 8
        style = network.TIE_STYLE[key]
        dash = f' stroke-dasharray="{style["dash"]}"' if style["dash"] else ""
        parts.append(f'<path d="M {x} {y - 1.5} H {x + 14}" stroke="{style["colour"]}" stroke-width="1"{dash} '
                     f'marker-end="url(#arrow-{key})"/>')
        parts.append(_text(x + 18, y, translate(label, locale), 4.2))
    y += 14
    parts.append(_text(x, y, translate(N_("Rings, from the centre"), locale), 5, weight="bold"))
    for index, ring in enumerate(state["rings"]):
        y += 8
        parts.append(_text(x, y, f"{index + 1}  {network.label_text(ring['label'], locale)}", 4.2))
    y += 10
    parts.append(_text(x, y, translate(N_("Arrows show the direction of a tie; thicker lines, stronger ties."), locale), 3.4,
                       colour="#444444"))
    return "\n".join(parts)


# Data for analysis -----------------------------------------------------------------------------------

def graph(export: MapExport, locale: str) -> nx.MultiGraph:
    """The map as a networkx multigraph (ties of several types may join the same two ends). Ego is the
    node "ego"; a tie's `direction` reads from its first end (source) to its second (target)."""
    state = export.state
    sectors = {sector["id"]: sector for sector in state["sectors"]}
    ego_id = _ego_uuid(export)
    result = nx.MultiGraph(title=state["title"], map_id=state["id"], organisation=export.organisation,
                           rings=len(state["rings"]))
    result.add_node(network.EGO, label=export.organisation, is_ego=True, networkCanvasType="Ego",
                    networkCanvasUUID=ego_id)
    for alter in state["alters"]:
        ring = export.ring_of(alter)
        sector = sectors.get(alter["actor_type"], {"label": alter["actor_type"]})
        result.add_node(alter["id"], label=alter["label"], is_ego=False, actor_type=alter["actor_type"],
                        actor_type_label=network.label_text(sector["label"], locale), ring=ring + 1,
                        relevance=network.relevance(ring, export.rings), x=alter["x"], y=alter["y"],
                        networkCanvasType="Actor", networkCanvasUUID=alter["id"], **alter["attributes"])
    for tie in state["ties"]:
        source = tie["source_id"] or network.EGO
        result.add_edge(source, tie["target_id"], key=tie["id"], type=tie["type"],
                        type_label=translate(TIE_TYPES[tie["type"]], locale), direction=tie["direction"],
                        strength=tie["strength"], note=tie["note"], tie_from=source, tie_to=tie["target_id"],
                        networkCanvasType=tie["type"], networkCanvasUUID=tie["id"],
                        networkCanvasSourceUUID=tie["source_id"] or ego_id, networkCanvasTargetUUID=tie["target_id"])
    return result


def graphml(export: MapExport, locale: str) -> bytes:
    buffer = io.BytesIO()
    nx.write_graphml(graph(export, locale), buffer)
    return buffer.getvalue()


def network_canvas_zip(export: MapExport, locale: str) -> bytes:
    """ego.csv, attributeList_Actor.csv and one edgeList_<type>.csv per tie type (also when empty), in
    Network Canvas' column layout, with the GraphML beside them. Ego–alter ties are columns of the
    alter, as Network Canvas keeps them; alter–alter ties are the edge lists."""
    prefix = _prefix(export)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in _nc_tables(export, locale).items():
            archive.writestr(f"{prefix}_{name}.csv", _csv(rows))
        archive.writestr(f"{prefix}.graphml", graphml(export, locale))
    return buffer.getvalue()


def _nc_tables(export: MapExport, locale: str) -> dict[str, list[list]]:
    state = export.state
    ego_id = _ego_uuid(export)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tables = {"ego": [
        ["networkCanvasEgoUUID", "networkCanvasCaseID", "networkCanvasSessionID", "networkCanvasProtocolName",
         "sessionStart", "sessionFinish", "sessionExported", "APP_VERSION", "COMMIT_HASH", "name", "map_title",
         "interview_date"],
        [ego_id, export.case_id, state["id"], "fieldkit", "", "", now, __version__, "", export.organisation,
         state["title"], export.interview_date]]}
    ego_ties = {}
    for tie in state["ties"]:
        if tie["source_id"] is None:
            ego_ties.setdefault(tie["target_id"], {})[tie["type"]] = tie
    attributes = list(network.ALTER_ATTRIBUTES)
    header = ["nodeID", "networkCanvasEgoUUID", "networkCanvasUUID", "name", "actor_type", "ring", "relevance",
              *attributes, "layout_x", "layout_y"]
    for key in TIE_TYPES:
        header += [f"ego_tie_{key}", f"ego_tie_{key}_direction", f"ego_tie_{key}_strength"]
    node_ids = {}
    rows = [header]
    for number, alter in enumerate(state["alters"], start=1):
        node_ids[alter["id"]] = number
        ring = export.ring_of(alter)
        row = [number, ego_id, alter["id"], alter["label"], alter["actor_type"], ring + 1,
               network.relevance(ring, export.rings), *[alter["attributes"].get(key, "") for key in attributes],
               round((alter["x"] + 1) / 2, 5), round((alter["y"] + 1) / 2, 5)]
        for key in TIE_TYPES:
            tie = ego_ties.get(alter["id"], {}).get(key)
            row += ["true", tie["direction"], tie["strength"]] if tie else ["false", "", ""]
        rows.append(row)
    tables["attributeList_Actor"] = rows
    for key in TIE_TYPES:
        edges = [["edgeID", "from", "to", "networkCanvasEgoUUID", "networkCanvasUUID", "networkCanvasSourceUUID",
                  "networkCanvasTargetUUID", "direction", "strength", "note"]]
        for tie in state["ties"]:
            if tie["type"] == key and tie["source_id"] is not None:
                edges.append([len(edges), node_ids[tie["source_id"]], node_ids[tie["target_id"]], ego_id, tie["id"],
                              tie["source_id"], tie["target_id"], tie["direction"], tie["strength"], tie["note"]])
        tables[f"edgeList_{key}"] = edges
    return tables


def _csv(rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _cell(value):
    """Spreadsheet programs run cells that start like a formula; Network Canvas guards them with a quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t"):
        return "'" + value
    return value


def _prefix(export: MapExport) -> str:
    return re.sub(r"\W+", "_", f"{export.case_id}_{export.state['id']}")


def _ego_uuid(export: MapExport) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fieldkit:ego:{export.state['id']}"))

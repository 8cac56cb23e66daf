"""A network map for reports and for analysis software: SVG and PNG with legend, GraphML, and the
CSV layout of Network Canvas (one zip per map). These files are plain text: they leave the vault."""
import io
import math
import re
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional
from datetime import datetime, timezone
from xml.sax.saxutils import escape

from . import __version__, maps, network
from .i18n import N_, translate
from .models import Interview, Organisation
from .text import clean, clean_tree
from .vocabulary import TIE_TYPES

if TYPE_CHECKING:
    import networkx as nx

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
    started: Optional[datetime] = None  # the map's first change
    finished: Optional[datetime] = None  # its last change, once the interview is completed

    def __post_init__(self):
        # Whatever reached the vault, every export stays valid XML and CSV: text is cleaned once more here.
        self.state, self.organisation, self.case_id = clean_tree(self.state), clean(self.organisation), clean(self.case_id)

    @property
    def rings(self) -> int:
        return len(self.state["rings"])

    def ring_of(self, alter: dict) -> int:
        return network.ring_of(alter["x"], alter["y"], self.rings)


def load(session, network_map) -> MapExport:
    """A map from the vault, ready to export."""
    interview = session.get(Interview, network_map.interview_id)
    organisation = session.get(Organisation, interview.organisation_id)
    first, last = maps.drawn_between(session, network_map)
    return MapExport(maps.state(session, network_map), organisation.name, organisation.pseudonym_code or organisation.id[:8],
                     interview.date.isoformat() if interview.date else "", first or network_map.created_at,
                     last if interview.status in ("completed", "locked") else None)


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
    """A name a person can read: organisation, map title and date, in letters every system accepts,
    e.g. Bildungsbruecke-Musterstadt_Netzwerk-heute_2026-11-30.png."""
    parts = [_slug(export.organisation), _slug(export.state["title"]) or "map", export.interview_date]
    return "_".join(part for part in parts if part) + SUFFIXES[fmt]


def _slug(text: str) -> str:
    text = text.translate(str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60]


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

# How a tie reads in the graph files: every tie is an edge from `source` to `target`; one-way ties are
# written in their own direction (a "backward" tie with its ends swapped), so tools that read the file
# as directed get every arrow right; mutual and undirected ties say so in `direction`.
GRAPH_DIRECTIONS = {"forward": "forward", "backward": "forward", "mutual": "mutual", "undirected": "undirected"}


def graph(export: MapExport, locale: str) -> "nx.MultiDiGraph":
    """The map as a networkx directed multigraph (ties of several types may join the same two ends).
    Ego is the node "ego"."""
    import networkx as nx  # on first use: importing it takes as long as the rest of the app's start

    state = export.state
    sectors = {sector["id"]: sector for sector in state["sectors"]}
    ego_id = _ego_uuid(export)
    result = nx.MultiDiGraph(title=state["title"], map_id=state["id"], organisation=export.organisation,
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
        source, target = tie["source_id"] or network.EGO, tie["target_id"]
        if tie["direction"] == "backward":
            source, target = target, source
        result.add_edge(source, target, key=tie["id"], type=tie["type"],
                        type_label=translate(TIE_TYPES[tie["type"]], locale),
                        direction=GRAPH_DIRECTIONS[tie["direction"]], strength=tie["strength"], note=tie["note"],
                        networkCanvasType=tie["type"], networkCanvasUUID=tie["id"],
                        networkCanvasSourceUUID=_nc_uuid(source, ego_id), networkCanvasTargetUUID=_nc_uuid(target, ego_id))
    return result


def graphml(export: MapExport, locale: str) -> bytes:
    buffer = io.BytesIO()
    import networkx as nx

    nx.write_graphml(graph(export, locale), buffer)
    return buffer.getvalue()


def network_canvas_zip(export: MapExport, locale: str) -> bytes:
    """The CSV files Network Canvas exports for one interview session (here: one map), as its exporter
    writes them: `<case>_<session>_ego.csv`, `…_attributeList_Actor.csv`, one `…_edgeList_<type>.csv` per
    kind of tie among contacts that occurs (a single header-only `…_edgeList.csv` when none does), with
    the GraphML beside them. fieldkit adds the ties to the organisation itself as `ego_tie_<type>`
    columns of the contacts, since Network Canvas has no edges to ego."""
    prefix = _prefix(export)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in _nc_tables(export, locale).items():
            archive.writestr(f"{prefix}_{name}.csv", "".join(_nc_line(row) for row in rows))
        archive.writestr(f"{prefix}.graphml", graphml(export, locale))
    return buffer.getvalue()


def _nc_tables(export: MapExport, locale: str) -> dict[str, list[list]]:
    state = export.state
    ego_id = _ego_uuid(export)
    tables = {"ego": [
        ["networkCanvasEgoUUID", "networkCanvasCaseID", "networkCanvasSessionID", "networkCanvasProtocolName",
         "sessionStart", "sessionFinish", "sessionExported", "APP_VERSION", "COMMIT_HASH", "name", "map_title",
         "interview_date"],
        [ego_id, export.case_id, state["id"], "fieldkit", _js_time(export.started), _js_time(export.finished),
         _js_time(datetime.now(timezone.utc)), f"v{__version__}", "Unknown commit hash", export.organisation,
         state["title"], export.interview_date]]}
    tables["attributeList_Actor"] = _nc_nodes(export, ego_id)
    tables.update(_nc_edges(export, ego_id))
    return tables


def _nc_nodes(export: MapExport, ego_id: str) -> list[list]:
    """One row per contact. Categorical variables (actor type, the choice attributes) are split into
    `<variable>_<option>` columns of true/false, as Network Canvas writes them."""
    state = export.state
    choices = {"actor_type": [sector["id"] for sector in state["sectors"]]}
    choices.update({key: list(options) for key, (_, options) in network.ALTER_ATTRIBUTES.items() if options})
    texts = [key for key, (_, options) in network.ALTER_ATTRIBUTES.items() if not options]
    header = ["nodeID", "networkCanvasEgoUUID", "networkCanvasUUID", "name"]
    header += [f"{key}_{option}" for key, options in choices.items() for option in options]
    header += ["ring", "relevance", *texts, "layout_x", "layout_y"]
    for key in TIE_TYPES:
        header += [f"ego_tie_{key}", f"ego_tie_{key}_direction", f"ego_tie_{key}_strength"]
    ego_ties = {}
    for tie in state["ties"]:
        if tie["source_id"] is None:
            ego_ties.setdefault(tie["target_id"], {})[tie["type"]] = tie
    rows = [header]
    for number, alter in enumerate(state["alters"], start=1):
        values = {"actor_type": alter["actor_type"], **alter["attributes"]}
        ring = export.ring_of(alter)
        row = [number, ego_id, alter["id"], alter["label"]]
        row += [values.get(key) == option for key, options in choices.items() for option in options]
        row += [ring + 1, network.relevance(ring, export.rings), *[values.get(key) for key in texts],
                round((alter["x"] + 1) / 2, 5), round((alter["y"] + 1) / 2, 5)]
        for key in TIE_TYPES:
            tie = ego_ties.get(alter["id"], {}).get(key)
            row += [True, tie["direction"], tie["strength"]] if tie else [False, None, None]
        rows.append(row)
    return rows


def _nc_edges(export: MapExport, ego_id: str) -> dict[str, list[list]]:
    """Ties among contacts, numbered across the whole map (edgeID) and listed per kind that occurs;
    `from`/`to` are the contacts' nodeID."""
    state = export.state
    node_ids = {alter["id"]: number for number, alter in enumerate(state["alters"], start=1)}
    header = ["edgeID", "from", "to", "networkCanvasEgoUUID", "networkCanvasUUID", "networkCanvasSourceUUID",
              "networkCanvasTargetUUID", "direction", "strength", "note"]
    tables: dict[str, list[list]] = {}
    ties = [tie for tie in state["ties"] if tie["source_id"] is not None]
    for number, tie in enumerate(ties, start=1):
        tables.setdefault(f"edgeList_{re.sub(r'[^A-Za-z0-9_]', '', tie['type'])}", [header]).append(
            [number, node_ids[tie["source_id"]], node_ids[tie["target_id"]], ego_id, tie["id"], tie["source_id"],
             tie["target_id"], tie["direction"], tie["strength"], tie["note"]])
    return tables or {"edgeList": [header]}


def _nc_line(row: list) -> str:
    """A CSV line as Network Canvas writes it: a cell is quoted only if it holds a quote, comma or line
    break; true/false for booleans; nothing for a missing value; CRLF at the end."""
    return ",".join(_nc_cell(value) for value in row) + "\r\n"


def _nc_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # JavaScript prints 5.0 as 5
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in '",\r\n') else text


def _js_time(moment) -> str:
    """A time as JavaScript's toISOString() writes it (UTC, milliseconds, Z); empty for none."""
    if moment is None:
        return ""
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment  # stored in UTC
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _prefix(export: MapExport) -> str:
    """Network Canvas' file prefix: case id and session id, with what file systems refuse removed."""
    return re.sub(r'[/?<>\\:*|"\x00-\x1f\x80-\x9f]', "", f"{export.case_id}_{export.state['id']}")


def _nc_uuid(node: str, ego_id: str) -> str:
    return ego_id if node == network.EGO else node


def _ego_uuid(export: MapExport) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fieldkit:ego:{export.state['id']}"))

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

from . import __version__, map_layout, maps, network
from .i18n import N_, translate
from .models import Interview, Organisation
from .text import clean, clean_tree
from .vocabulary import TIE_TYPES

if TYPE_CHECKING:
    import networkx as nx

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

@dataclass(frozen=True)
class Sizes:
    """An export's sizes in SVG units (pixels at 100 %). Printed across an A4 page's 16 cm, a name's
    type comes out at 7 pt or more (checked as the picture is laid out)."""
    radius: float = 320
    font: float = 23
    symbol: float = 15
    tie: float = 3.5
    ego_font: float = 21
    ring_font: float = 17
    sector_font: float = 18
    legend_font: float = 18
    title_font: float = 30
    gap: float = 4


PRINT_WIDTH_PT = 16 / 2.54 * 72  # 16 cm, an A4 page's text width
MIN_PRINTED_PT = 7
FONT = "DejaVu Sans, Arial, sans-serif"


def svg(export: MapExport, locale: str) -> str:
    """The map as a standalone SVG: title, the map with every contact named, and the legend beside it."""
    picture = _Picture(export, locale, Sizes())
    printed = picture.sizes.font / picture.width * PRINT_WIDTH_PT
    if printed < MIN_PRINTED_PT:  # a wide legend: larger type, laid out once more
        grow = MIN_PRINTED_PT / printed * 1.02
        picture = _Picture(export, locale, Sizes(font=Sizes.font * grow, legend_font=Sizes.legend_font * grow))
    return picture.text()


def thumbnail_svg(export: MapExport, size: int = 160) -> str:
    """A small picture of the map for tables: sectors, rings, ties and symbols, no names."""
    radius, state = 100, export.state
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="-104 -104 208 208" width="{size}" height="{size}">',
             '<rect x="-104" y="-104" width="208" height="208" fill="#ffffff"/>']
    for index, sector in enumerate(state["sectors"]):
        parts.append(f'<path d="{_wedge(index, len(state["sectors"]), radius)}" '
                     f'fill="{sector["colour"]}" fill-opacity="0.1" stroke="#aaaaaa" stroke-width="0.6"/>')
    parts += [f'<circle r="{ring:.1f}" fill="none" stroke="#999999" stroke-width="0.6"/>' for ring in _ring_radii(export.rings, radius)]
    positions = {alter["id"]: (alter["x"] * radius, alter["y"] * radius) for alter in state["alters"]}
    for tie in state["ties"]:
        (x1, y1), (x2, y2) = positions.get(tie["source_id"], (0, 0)), positions[tie["target_id"]]
        parts.append(f'<path d="M {x1:.1f} {y1:.1f} L {x2:.1f} {y2:.1f}" stroke="{network.TIE_STYLE[tie["type"]]["colour"]}" '
                     f'stroke-width="1.4"/>')
    parts.append(f'<circle r="{network.EGO_RADIUS * radius:.1f}" fill="#ffffff" stroke="#222222" stroke-width="1.5"/>')
    sectors = {sector["id"]: sector for sector in state["sectors"]}
    parts += [_symbol(sectors.get(alter["actor_type"]) or {"colour": "#777777", "symbol": "circle"}, *positions[alter["id"]], 4.5)
              for alter in state["alters"]]
    return "\n".join(parts + ["</svg>"])


def png(export: MapExport, locale: str) -> bytes:
    import resvg_py

    return bytes(resvg_py.svg_to_bytes(svg_string=svg(export, locale), background="#ffffff"))


class _Picture:
    """One export picture, laid out around the map's centre and then framed with title and legend."""

    def __init__(self, export: MapExport, locale: str, sizes: Sizes):
        self.export, self.locale, self.sizes = export, locale, sizes
        self.state = export.state
        self.obstacles: list[map_layout.Box] = []
        self.numbered: list[tuple[str, str]] = []  # contacts shown by number, for want of room: (number, name)
        self.extent: list[map_layout.Box] = [map_layout.Box(-sizes.radius, -sizes.radius, sizes.radius, sizes.radius)]
        self.background = self._background()
        self.ring_numbers = self._ring_numbers()
        self.ego = self._ego()
        self.contacts, self.ties = self._contacts_and_ties()
        self.legend, legend_width, legend_height = self._legend()
        left, top = min(box.x0 for box in self.extent), min(box.y0 for box in self.extent)
        right, bottom = max(box.x1 for box in self.extent), max(box.y1 for box in self.extent)
        margin, header = 30, sizes.title_font * 2.6
        self.origin = (margin - left, margin + header - top)  # where the map's centre lands
        self.legend_at = (margin + (right - left) + 50, margin + header)
        self.width = self.legend_at[0] + legend_width + margin
        self.height = margin + header + max(bottom - top, legend_height) + margin

    def text(self) -> str:
        width, height = math.ceil(self.width), math.ceil(self.height)
        sizes, export = self.sizes, self.export
        subtitle = " · ".join(filter(None, [export.organisation, export.interview_date]))
        return "\n".join([
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'font-family="{FONT}">',
            f'<rect width="{width}" height="{height}" fill="#ffffff"/>', markers_svg(),
            _text(30, 30 + sizes.title_font, self.state["title"], sizes.title_font, weight="bold"),
            _text(30, 30 + sizes.title_font * 2.1, subtitle, sizes.legend_font, colour="#444444"),
            f'<g transform="translate({self.origin[0]:.1f} {self.origin[1]:.1f})">',
            self.background, self.ties, self.ego, self.contacts, self.ring_numbers, "</g>",
            f'<g transform="translate({self.legend_at[0]:.1f} {self.legend_at[1]:.1f})">', self.legend, "</g>",
            "</svg>"])

    def _background(self) -> str:
        sectors, radius, parts = self.state["sectors"], self.sizes.radius, []
        for index, sector in enumerate(sectors):
            parts.append(f'<path d="{_wedge(index, len(sectors), radius)}" '
                         f'fill="{sector["colour"]}" fill-opacity="0.08" stroke="#9a9a9a" stroke-width="1"/>')
            parts.append(self._sector_label(sector, (index + 0.5) * 2 * math.pi / len(sectors)))
        parts += [f'<circle r="{ring:.1f}" fill="none" stroke="#8a8a8a" stroke-width="1.2"/>'
                  for ring in _ring_radii(len(self.state["rings"]), radius)]
        return "\n".join(parts)

    def _sector_label(self, sector: dict, angle: float) -> str:
        sizes = self.sizes
        font = sizes.sector_font
        name = network.label_text(sector["label"], self.locale)
        lines = map_layout.wrap(name, font * 7, lambda text: map_layout.text_width(text, font), 3)
        width, height = max(map_layout.text_width(line, font) for line in lines), len(lines) * font * 1.2
        sin, cos, distance = math.sin(angle), -math.cos(angle), sizes.radius + sizes.gap * 2
        anchor = "middle" if abs(sin) < 0.3 else "start" if sin > 0 else "end"
        x, y = sin * distance, cos * distance + (math.copysign(height / 2, cos) if abs(sin) < 0.3 else 0)
        left = x - width / 2 if anchor == "middle" else x if anchor == "start" else x - width
        box = map_layout.Box(left - 2, y - height / 2 - 2, left + width + 2, y + height / 2 + 2)
        self.obstacles.append(box)
        self.extent.append(box)
        return _lines(x, y, lines, font, anchor=anchor, colour="#222222", halo=True)

    def _ring_numbers(self) -> str:
        """Ring numbers on the border between the last and the first sector, drawn above the contacts."""
        sizes, rings, parts = self.sizes, len(self.state["rings"]), []
        for index in range(rings):
            middle = (network.EGO_RADIUS + (index + 0.5) * network.ring_width(rings)) * sizes.radius
            half = sizes.ring_font * 0.75
            parts.append(f'<rect x="{-half:.1f}" y="{-middle - half:.1f}" width="{2 * half:.1f}" height="{2 * half:.1f}" '
                         f'rx="{half / 2:.1f}" fill="#ffffff" stroke="#666666" stroke-width="1.2"/>')
            parts.append(_lines(0, -middle, [str(index + 1)], sizes.ring_font, anchor="middle", weight="bold", colour="#333333"))
            self.obstacles.append(map_layout.Box(-half - 2, -middle - half - 2, half + 2, -middle + half + 2))
        return "\n".join(parts)

    def _ego(self) -> str:
        """The organisation in the centre, its name in the circle, or on a plate if it is too long for it."""
        sizes, radius, name = self.sizes, network.EGO_RADIUS * self.sizes.radius, self.export.organisation
        font, lines = sizes.ego_font, None

        def measure(size):
            return lambda text: map_layout.text_width(text, size, bold=True)

        while font >= max(12, sizes.ego_font * 0.7) and lines is None:
            wrapped = map_layout.wrap(name, radius * 1.7, measure(font), 3)
            fits = len(wrapped) * font * 1.2 <= radius * 1.8 and all(measure(font)(line) <= radius * 1.8 for line in wrapped)
            lines = wrapped if fits else None
            font -= 0 if fits else 1
        if lines is None:
            font = sizes.ego_font * 0.85
            lines = map_layout.wrap(name, font * 8, measure(font), 3)
        width, height = max(measure(font)(line) for line in lines), len(lines) * font * 1.2
        parts = [f'<circle r="{radius:.1f}" fill="#ffffff" stroke="#222222" stroke-width="2.5"/>']
        if width > radius * 1.8 or height > radius * 1.8:
            parts.append(f'<rect x="{-width / 2 - 4:.1f}" y="{-height / 2 - 2:.1f}" width="{width + 8:.1f}" height="{height + 4:.1f}" '
                         f'rx="4" fill="#ffffff" stroke="#222222" stroke-width="1"/>')
        parts.append(_lines(0, 0, lines, font, anchor="middle", weight="bold"))
        half_w, half_h = max(radius, width / 2 + 4), max(radius, height / 2 + 2)
        self.obstacles.append(map_layout.Box(-half_w, -half_h, half_w, half_h))
        return "\n".join(parts)

    def _contacts_and_ties(self) -> tuple[str, str]:
        sizes, radius = self.sizes, self.sizes.radius
        alters = self.state["alters"]
        positions = {alter["id"]: (alter["x"] * radius, alter["y"] * radius) for alter in alters}
        reach = sizes.symbol * 1.25 + 1  # symbols reach 1.2× their size
        circles = [map_layout.Circle(None, 0, 0, network.EGO_RADIUS * radius + sizes.tie * 2)]
        circles += [map_layout.Circle(alter["id"], *positions[alter["id"]], sizes.symbol + sizes.tie * 1.5) for alter in alters]
        ties = []
        for tie, offset in _with_offsets(self.state["ties"]):
            start = positions.get(tie["source_id"], (0, 0))
            start_gap = network.EGO_RADIUS * radius if tie["source_id"] is None else sizes.symbol + 2
            path = map_layout.tie_path(start, positions[tie["target_id"]], start_gap, sizes.symbol + 2, offset * sizes.tie * 1.6,
                                       circles, (tie["source_id"], tie["target_id"]))
            ties.append(_tie(tie, path, sizes.tie))
        labels = [map_layout.Label(alter["id"], *positions[alter["id"]], reach, map_layout.text_width(alter["label"], sizes.font),
                                   sizes.font * 1.2) for alter in alters]
        # Names may reach beyond the rim, a little to the sides (the page is only so wide), more above and below.
        bounds = map_layout.Box(-radius - 150, -radius - 140, radius + 150, radius + 140)
        numbers = {alter["id"]: str(index + 1) for index, alter in enumerate(alters)}

        def numbered(label: map_layout.Label) -> map_layout.Label:  # no room for the name: its number, resolved in the legend
            return map_layout.Label(label.id, label.x, label.y, label.r, map_layout.text_width(numbers[label.id], sizes.font) + 4, label.h)

        spots = map_layout.place_labels(labels, self.obstacles, bounds, short=numbered)
        symbols = {sector["id"]: sector for sector in self.state["sectors"]}
        parts = []
        for alter, label in zip(alters, labels):
            x, y = positions[alter["id"]]
            parts.append(_symbol(symbols.get(alter["actor_type"]) or {"colour": "#777777", "symbol": "circle"}, x, y, sizes.symbol))
            spot = spots[alter["id"]] or map_layout.Spot(x, y + reach + label.h / 2 + 2, False, short=True)  # a full map: below
            text = numbers[alter["id"]] if spot.short else alter["label"]
            if spot.short:
                self.numbered.append((numbers[alter["id"]], alter["label"]))
                label = numbered(label)
            if spot.leader:
                parts.append(_leader(x, y, spot, label, sizes.symbol + 1))
            parts.append(_lines(spot.x, spot.y, [text], sizes.font, anchor="middle", weight="bold" if spot.short else "normal", halo=True))
            self.extent.append(map_layout.Box(spot.x - label.w / 2, spot.y - label.h / 2, spot.x + label.w / 2, spot.y + label.h / 2))
        return "\n".join(parts), "\n".join(ties)

    def _legend(self) -> tuple[str, float, float]:
        """Actor types, tie kinds (patterns without arrowheads; one sample says what an arrow means), rings."""
        sizes, locale, font = self.sizes, self.locale, self.sizes.legend_font
        line, y, parts, widths = font * 1.6, 0.0, [], []

        def heading(text: str) -> None:
            nonlocal y
            y += line
            parts.append(_lines(0, y, [text], font * 1.05, weight="bold"))
            widths.append(map_layout.text_width(text, font * 1.05, bold=True))

        def entry(sample, text: str, indent: float) -> None:
            nonlocal y
            y += line
            parts.append(sample(y) if sample else "")
            parts.append(_lines(indent, y, [text], font))
            widths.append(indent + map_layout.text_width(text, font))

        heading(translate(N_("Actor types"), locale))
        for sector in self.state["sectors"]:
            entry(lambda at, sector=sector: _symbol(sector, 12, at, font * 0.45), network.label_text(sector["label"], locale), 34)
        y += font * 0.6
        heading(translate(N_("Ties"), locale))
        for key, label in TIE_TYPES.items():
            style = network.TIE_STYLE[key]
            dash = network.dash_array(key, sizes.tie)
            entry(lambda at, style=style, dash=dash: (
                f'<path d="M 2 {at:.1f} H 54" stroke="{style["colour"]}" stroke-width="{sizes.tie}" stroke-linecap="{style["cap"]}"'
                + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"), translate(label, locale), 66)
        entry(lambda at: (f'<path d="M 2 {at:.1f} H 44" stroke="#444444" stroke-width="2.5"/>'
                          f'<path d="M 42 {at - 6:.1f} L 56 {at:.1f} L 42 {at + 6:.1f} Z" fill="#444444"/>'),
              translate(N_("Direction of a tie"), locale), 66)
        y += font * 0.6
        heading(translate(N_("Rings, from the centre"), locale))
        for index, ring in enumerate(self.state["rings"]):
            entry(None, f"{index + 1}  {network.label_text(ring['label'], locale)}", 0)
        y += font * 0.6
        entry(None, translate(N_("Thicker lines, stronger ties."), locale), 0)
        if self.numbered:
            y += font * 0.6
            heading(translate(N_("Contacts shown by number"), locale))
            for number, name in self.numbered:
                entry(None, f"{number}  {name}", 0)
        return "\n".join(part for part in parts if part), max(widths), y + font


def _wedge(index: int, sectors: int, radius: float) -> str:
    """The path of one sector, clockwise from twelve o'clock."""
    step = 2 * math.pi / max(1, sectors)
    x1, y1 = radius * math.sin(index * step), -radius * math.cos(index * step)
    x2, y2 = radius * math.sin((index + 1) * step), -radius * math.cos((index + 1) * step)
    return f"M 0 0 L {x1:.1f} {y1:.1f} A {radius} {radius} 0 {int(step > math.pi)} 1 {x2:.1f} {y2:.1f} Z"


def _ring_radii(rings: int, radius: float) -> list[float]:
    """The rings' outer borders, from the innermost."""
    return [(network.EGO_RADIUS + index * network.ring_width(rings)) * radius for index in range(1, rings + 1)]


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


def _tie(tie: dict, path: str, base_width: float) -> str:
    style = network.TIE_STYLE[tie["type"]]
    width = base_width * (0.75 + 0.25 * tie["strength"])
    markers = {"forward": ' marker-end="url(#arrow-{t})"', "backward": ' marker-start="url(#arrow-{t})"',
               "mutual": ' marker-start="url(#arrow-{t})" marker-end="url(#arrow-{t})"'}
    marker = markers.get(tie["direction"], "").format(t=tie["type"])
    dash = network.dash_array(tie["type"], width)
    return (f'<path d="{path}" fill="none" stroke="{style["colour"]}" stroke-width="{width:.2f}" stroke-linecap="{style["cap"]}"'
            + (f' stroke-dasharray="{dash}"' if dash else "") + f"{marker}/>")


def markers_svg() -> str:
    markers = "".join(
        f'<marker id="arrow-{key}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="4" markerHeight="4" '
        f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 Z" fill="{style["colour"]}"/></marker>'
        for key, style in network.TIE_STYLE.items())
    return f"<defs>{markers}</defs>"


def _symbol(sector: dict, x: float, y: float, size: float) -> str:
    return (f'<path d="{network.SYMBOL_PATHS[sector["symbol"]]}" transform="translate({x:.2f} {y:.2f}) scale({size})" '
            f'fill="{sector["colour"]}" stroke="#222222" stroke-width="{1.5 / size:.3f}"/>')


def _leader(x: float, y: float, spot: "map_layout.Spot", label: "map_layout.Label", start: float) -> str:
    """A thin line from a symbol to its name, where the name had to move away."""
    dx, dy = spot.x - x, spot.y - y
    distance = math.hypot(dx, dy) or 1
    reach = distance - min(abs(label.w / 2 / (dx / distance or 1e-9)), abs(label.h / 2 / (dy / distance or 1e-9)))
    reach = max(start, reach)
    return (f'<line x1="{x + dx / distance * start:.1f}" y1="{y + dy / distance * start:.1f}" x2="{x + dx / distance * reach:.1f}" '
            f'y2="{y + dy / distance * reach:.1f}" stroke="#555555" stroke-width="1.2"/>')


def _lines(x: float, y: float, lines: list[str], size: float, anchor: str = "start", weight: str = "normal",
           colour: str = "#111111", halo: bool = False) -> str:
    """Text in lines centred on y (each line's middle: dominant-baseline central)."""
    halo_attrs = ' stroke="#ffffff" stroke-width="3.5" paint-order="stroke" stroke-linejoin="round"' if halo else ""
    spans = "".join(f'<tspan x="{x:.1f}" y="{y + (index - (len(lines) - 1) / 2) * size * 1.2:.1f}" dominant-baseline="central">'
                    f"{escape(line)}</tspan>" for index, line in enumerate(lines))
    return (f'<text font-size="{size:.1f}" text-anchor="{anchor}" font-weight="{weight}" fill="{colour}"{halo_attrs}>'
            f"{spans}</text>")


def _text(x, y, content: str, size: float, weight: str = "normal", colour: str = "#111111") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" fill="{colour}">'
            f"{escape(content)}</text>")


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

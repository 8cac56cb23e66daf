"""The network map's geometry and the ego-network measures: pure functions, no database.

Map coordinates: ego at (0, 0), the outer edge of the outermost ring at radius 1, y pointing down as on
screen. Rings are equal bands between the ego disc and the edge, the innermost the most relevant.
Sectors are equal angles, the first starting at twelve o'clock and following clockwise. A point on a
border belongs to the ring or sector after it (outwards, clockwise), the outer edge to the last ring.
"""
import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Optional

from .i18n import N_, translate
from .vocabulary import ACTOR_TYPES, RINGS, TIE_TYPES

EGO_RADIUS = 0.12
EGO = "ego"  # the node id of the organisation at the centre in exports

# Colour-blind-safe colours (Okabe-Ito and Tol) and a symbol each, so sectors also read in greyscale.
SECTOR_STYLE = {
    "migrant_organisation": ("#e69f00", "circle"),
    "state_actor": ("#0072b2", "square"),
    "association": ("#009e73", "triangle"),
    "welfare_association": ("#cc79a7", "diamond"),
    "religious_institution": ("#882255", "hexagon"),
    "educational_institution": ("#56b4e9", "pentagon"),
    "company": ("#8c6d31", "star"),
    "politics": ("#d55e00", "cross"),
}


def _polygon(corners: int, radius: float = 1.0, inner: float = 0.0) -> str:
    """An SVG path of a regular polygon (a star with `inner`) around 0,0, one corner at the top."""
    points = []
    steps = corners * 2 if inner else corners
    for index in range(steps):
        r = inner if inner and index % 2 else radius
        angle = index * 2 * math.pi / steps
        points.append(f"{r * math.sin(angle):.3f} {-r * math.cos(angle):.3f}")
    return "M " + " L ".join(points) + " Z"


# Symbol outlines of radius about 1 around 0,0, scaled where they are drawn.
SYMBOL_PATHS = {
    "circle": "M -1 0 A 1 1 0 1 0 1 0 A 1 1 0 1 0 -1 0 Z",
    "square": "M -0.85 -0.85 H 0.85 V 0.85 H -0.85 Z",
    "triangle": _polygon(3, 1.2),
    "diamond": _polygon(4, 1.15),
    "hexagon": _polygon(6, 1.05),
    "pentagon": _polygon(5, 1.1),
    "star": _polygon(5, 1.25, 0.55),
    "cross": "M -0.35 -1 H 0.35 V -0.35 H 1 V 0.35 H 0.35 V 1 H -0.35 V 0.35 H -1 V -0.35 H -0.35 Z",
}

# Tie types: colour, dash pattern (in map units of 1/100 of the radius) and whether an arrow is usual.
# Dashes in multiples of the line's width, so each kind keeps its pattern at any width; the colours are
# dark enough (contrast >= 4.5:1 on white) that every kind stays visible in greyscale, told apart by its pattern.
TIE_STYLE = {
    "cooperation": {"colour": "#1b7837", "dash": "", "cap": "butt"},
    "conflict": {"colour": "#b2182b", "dash": "5 2.5", "cap": "butt"},
    "tension": {"colour": "#9c4a00", "dash": "0 2.2", "cap": "round"},
    "power_asymmetry": {"colour": "#542788", "dash": "6 2.2 0 2.2", "cap": "round"},
    "competition": {"colour": "#2166ac", "dash": "1.6 1.6", "cap": "butt"},
}


def dash_array(tie_type: str, width: float) -> str:
    """A tie kind's dash pattern for a line this wide ("" for a solid line)."""
    return " ".join(f"{float(part) * width:.1f}" for part in TIE_STYLE[tie_type]["dash"].split())


DIRECTIONS = {
    "undirected": N_("No direction"),
    "forward": N_("From the first to the second"),
    "backward": N_("From the second to the first"),
    "mutual": N_("Both ways"),
}
STRENGTHS = {1: N_("weak"), 2: N_("medium"), 3: N_("strong")}

# Attributes of an alter beside its label and type, with their choices (None: free text).
FREQUENCIES = {"daily": N_("daily"), "weekly": N_("weekly"), "monthly": N_("monthly"),
               "yearly": N_("a few times a year"), "rarely": N_("rarely")}
FORMALITIES = {"formal": N_("formal"), "informal": N_("informal"), "both": N_("formal and informal")}
EQUAL_FOOTING = {"yes": N_("yes"), "no": N_("no"), "partly": N_("partly")}
ALTER_ATTRIBUTES = {
    "since": (N_("In contact since"), None),
    "frequency": (N_("Contact frequency"), FREQUENCIES),
    "formality": (N_("Formal or informal"), FORMALITIES),
    "equal_footing": (N_("On equal footing"), EQUAL_FOOTING),
    "note": (N_("Note"), None),
}


def label_text(label, locale: str) -> str:
    """A ring's or sector's label in the reader's language: the project's own labels come as
    {"de": …, "en": …}, fieldkit's defaults as English message ids."""
    if isinstance(label, dict):
        return label.get(locale) or next(iter(label.values()), "")
    return translate(label, locale)


def default_config() -> dict:
    """Rings and sectors of a new map when the project sets none: the study's four rings and eight
    actor types. Labels are English message ids, translated where they are shown."""
    return {
        "rings": [{"label": label} for label in RINGS],
        "sectors": [{"id": key, "label": label, "colour": SECTOR_STYLE[key][0], "symbol": SECTOR_STYLE[key][1]}
                    for key, label in ACTOR_TYPES.items()],
    }


def ring_width(rings: int) -> float:
    return (1 - EGO_RADIUS) / rings


def ring_of(x: float, y: float, rings: int) -> int:
    """The ring (0 = innermost) a position lies in; inside the ego disc counts as the innermost ring,
    beyond the edge as the outermost."""
    step = (math.hypot(x, y) - EGO_RADIUS) / ring_width(rings)
    return min(rings - 1, max(0, math.floor(step + 1e-9)))


def angle_of(x: float, y: float) -> float:
    """Clockwise angle from twelve o'clock, in [0, 2π)."""
    return math.atan2(x, -y) % (2 * math.pi)


def sector_of(x: float, y: float, sectors: int) -> int:
    """The sector (0 = the one starting at twelve o'clock) a position lies in."""
    return math.floor(angle_of(x, y) / (2 * math.pi / sectors) + 1e-9) % sectors


def relevance(ring: int, rings: int) -> int:
    """The rating of a ring: the innermost rates highest (4 of 4), the outermost 1."""
    return rings - ring


def position(ring: float, sector: float, rings: int, sectors: int) -> tuple[float, float]:
    """Map coordinates for a place given in ring and sector units; 0.5 is the middle of a band."""
    radius = EGO_RADIUS + ring * ring_width(rings)
    angle = sector * 2 * math.pi / sectors
    return round(radius * math.sin(angle), 5), round(-radius * math.cos(angle), 5)


def clamp(x: float, y: float) -> tuple[float, float]:
    """Keep a position on the map: outside the ego disc and inside the outer edge."""
    radius = math.hypot(x, y)
    if radius == 0:
        return 0.0, -(EGO_RADIUS + 0.01)
    target = min(1.0, max(EGO_RADIUS + 0.01, radius))
    return round(x * target / radius, 5), round(y * target / radius, 5)


@dataclass(frozen=True)
class Node:
    id: str
    actor_type: str
    ring: int


@dataclass(frozen=True)
class Link:
    source: Optional[str]  # None: ego
    target: str
    type: str


def measures(nodes: list[Node], links: Iterable[Link], sector_ids: list[str], rings: int,
             ego_type: str = "migrant_organisation") -> dict:
    """Ego-network measures of one map.

    Alter–alter measures count a pair once, whatever number or types of ties it has. Density is over
    alter–alter pairs (ego is tied to all by construction). IQV is Agresti's index of qualitative
    variation over the map's actor types; the E-I index is Krackhardt's, (E − I) / (E + I), overall and
    per actor type over the alter–alter pairs, and for ego over its alters, with ego counted as `ego_type`.
    """
    links = list(links)
    types = {node.id: node.actor_type for node in nodes}
    size = len(nodes)
    counts = Counter(node.actor_type for node in nodes)
    pairs = {frozenset((link.source, link.target)) for link in links
             if link.source is not None and link.source in types and link.target in types and link.source != link.target}
    relevances: dict[str, list[int]] = {}
    for node in nodes:
        relevances.setdefault(node.actor_type, []).append(relevance(node.ring, rings))
    return {
        "size": size,
        "composition": {key: counts.get(key, 0) for key in sector_ids},
        "shares": {key: (counts.get(key, 0) / size if size else None) for key in sector_ids},
        "mean_relevance": {key: (sum(values) / len(values)) for key, values in relevances.items()},
        "density": len(pairs) / (size * (size - 1) / 2) if size > 1 else None,
        "iqv": iqv(counts, len(sector_ids)),
        "ei": ei_index(pairs, types),
        "ei_by_type": {key: ei_index(pairs, types, group=key) for key in sector_ids if counts.get(key)},
        "ego_ei": _ego_ei(counts, size, ego_type),
        "ties": dict(Counter(link.type for link in links if link.type in TIE_TYPES)),
        "alter_pairs": len(pairs),
    }


def iqv(counts: Counter, categories: int) -> Optional[float]:
    """1 for alters spread evenly over all categories, 0 for all in one."""
    total = sum(counts.values())
    if not total or categories < 2:
        return None
    return (1 - sum((count / total) ** 2 for count in counts.values())) / (1 - 1 / categories)


def ei_index(pairs: set, types: dict[str, str], group: Optional[str] = None) -> Optional[float]:
    """(E − I) / (E + I) over tied pairs; with a group, only the pairs with a member of that group."""
    external = internal = 0
    for pair in pairs:
        first, second = (types[member] for member in pair)
        if group is not None and group not in (first, second):
            continue
        if first == second:
            internal += 1
        else:
            external += 1
    return (external - internal) / (external + internal) if external + internal else None


def _ego_ei(counts: Counter, size: int, ego_type: str) -> Optional[float]:
    if not size:
        return None
    internal = counts.get(ego_type, 0)
    return (size - 2 * internal) / size


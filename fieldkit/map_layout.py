"""The network map's layout for exports, as static/maplayout.js does it in the window: names placed so
that none covers another, a symbol or the organisation's name (with a leader line where a name must
move away from its symbol), ties bent around the centre and around contacts in their way, and names
wrapped into lines. Sizes are in SVG units (pixels at 100 %)."""
import math
import unicodedata
from dataclasses import dataclass
from typing import Callable, Optional

# Advance widths of DejaVu Sans (the export's font, in em), read from its metrics: names are measured
# without a browser, so that placement knows how wide each name will be.
_WIDTHS = {0.278: "ijl'", 0.295: "IJ", 0.318: " ,.", 0.337: "/:;\\|", 0.352: "f", 0.361: "-", 0.39: "()[]",
           0.392: "t", 0.401: "!", 0.411: "r", 0.46: '"', 0.5: "*_`–", 0.521: "s", 0.525: "z", 0.531: "?",
           0.55: "cç", 0.557: "L", 0.575: "F", 0.579: "k", 0.592: "vxy", 0.603: "P", 0.611: "TY", 0.612: "oöó",
           0.613: "aäàá", 0.615: "eéè", 0.63: "ß", 0.632: "E", 0.634: "hnuüñ", 0.635: "Sbdgpq",
           0.636: "$0123456789{}", 0.656: "K", 0.684: "AVÄ", 0.685: "XZ", 0.686: "B", 0.695: "R", 0.698: "C",
           0.732: "UÜ", 0.748: "N", 0.752: "H", 0.77: "D", 0.775: "G", 0.78: "&", 0.787: "OQÖ", 0.818: "w",
           0.838: "#+<=>^~", 0.863: "M", 0.95: "%", 0.974: "m", 0.989: "W", 1.0: "@…"}
WIDTH = {char: width for width, chars in _WIDTHS.items() for char in chars}
BOLD = 1.1  # DejaVu Sans Bold is about a tenth wider


def text_width(text: str, size: float, bold: bool = False) -> float:
    em = sum(WIDTH.get(char) or (1.0 if unicodedata.east_asian_width(char) in "WF" else 0.65) for char in text)
    return em * size * (BOLD if bold else 1)


@dataclass
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: "Box") -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def inside(self, other: "Box") -> bool:
        return self.x0 >= other.x0 and self.y0 >= other.y0 and self.x1 <= other.x1 and self.y1 <= other.y1


@dataclass
class Label:
    id: str
    x: float  # the symbol's centre
    y: float
    r: float  # how far the symbol reaches
    w: float  # the name's size
    h: float


@dataclass
class Spot:
    x: float  # the name's centre
    y: float
    leader: bool
    short: bool = False  # the short form stands here (a number the legend resolves)


class _Grid:
    """Boxes by cell, for fast "is this space free?" questions."""

    def __init__(self, cell: float = 48):
        self.cell, self.cells = cell, {}

    def _keys(self, box: Box):
        c = self.cell
        for i in range(math.floor(box.x0 / c), math.floor(box.x1 / c) + 1):
            for j in range(math.floor(box.y0 / c), math.floor(box.y1 / c) + 1):
                yield i, j

    def add(self, box: Box) -> None:
        for key in self._keys(box):
            self.cells.setdefault(key, []).append(box)

    def hits(self, box: Box) -> bool:
        return any(other.overlaps(box) for key in self._keys(box) for other in self.cells.get(key, ()))


NEAR = [(0, 1), (0, -1), (1, 0), (-1, 0), (0.75, 0.75), (-0.75, 0.75), (0.75, -0.75), (-0.75, -0.75)]
FAR_STEPS, TURNS = 6, 12


def place_labels(items: list[Label], obstacles: list[Box], bounds: Box, pad: float = 2,
                 short: Optional[Callable[[Label], Label]] = None) -> dict[str, Optional[Spot]]:
    """Where each name goes: beside its symbol if there is room, else further out with a leader line
    (the same order and candidates as the window's). Where there is no room anywhere near, the short
    form `short(item)` gives is placed instead, after every name that fits; else None."""
    grid = _Grid()
    for item in items:
        grid.add(Box(item.x - item.r, item.y - item.r, item.x + item.r, item.y + item.r))
    for box in obstacles:
        grid.add(box)

    def place(item: Label) -> Optional[Spot]:
        spot = _find_spot(item, grid, bounds, pad)
        if spot:
            grid.add(Box(spot.x - item.w / 2 - pad, spot.y - item.h / 2 - pad, spot.x + item.w / 2 + pad, spot.y + item.h / 2 + pad))
        return spot

    placed = {item.id: place(item) for item in sorted(items, key=lambda item: (item.x * item.x + item.y * item.y, item.id))}
    for item in items:
        if placed[item.id] is None and short:
            spot = place(short(item))
            placed[item.id] = spot and Spot(spot.x, spot.y, spot.leader, short=True)
    return placed


def _find_spot(item: Label, grid: _Grid, bounds: Box, pad: float) -> Optional[Spot]:
    half_w, half_h, gap = item.w / 2 + pad, item.h / 2 + pad, item.r + 2

    def free(x: float, y: float) -> bool:
        box = Box(x - half_w, y - half_h, x + half_w, y + half_h)
        return box.inside(bounds) and not grid.hits(box)

    for dx, dy in NEAR:
        x = item.x + dx * gap + math.copysign(half_w, dx) * (dx != 0)
        y = item.y + dy * gap + math.copysign(half_h, dy) * (dy != 0)
        if free(x, y):
            return Spot(x, y, False)
    out = math.atan2(item.y, item.x) or math.pi / 2
    for step in range(1, FAR_STEPS + 1):
        distance = gap + step * item.h * 0.8
        for turn in range(TURNS):
            angle = out + (-1 if turn % 2 else 1) * math.ceil(turn / 2) * 2 * math.pi / TURNS
            ux, uy = math.cos(angle), math.sin(angle)
            x, y = item.x + ux * distance + ux * half_w, item.y + uy * distance + uy * half_h
            if free(x, y):
                return Spot(x, y, True)
    return None


@dataclass
class Circle:
    id: Optional[str]
    x: float
    y: float
    r: float


def tie_path(start: tuple, end: tuple, start_gap: float, end_gap: float, offset: float, circles: list[Circle],
             ends: tuple) -> str:
    """A tie: straight where it is clear, bent away from what it would run through (the centre, other
    contacts), spread sideways by `offset` when several ties join the same two ends."""
    (sx, sy), (ex, ey) = start, end
    length = math.hypot(ex - sx, ey - sy) or 1
    ux, uy = (ex - sx) / length, (ey - sy) / length
    nx, ny = -uy, ux
    x1, y1, x2, y2 = sx + ux * start_gap, sy + uy * start_gap, ex - ux * end_gap, ey - uy * end_gap
    bend, side = 0.0, 0
    for circle in circles:
        if circle.id in ends:
            continue
        along = ((circle.x - sx) * ux + (circle.y - sy) * uy) / length
        if along <= 0.08 or along >= 0.92:
            continue
        across = (circle.x - sx) * nx + (circle.y - sy) * ny
        if abs(across) >= circle.r:
            continue
        side = side or (-1 if across > 0 else 1)  # bend away from the first thing in the way
        bend = max(bend, min((circle.r + side * across) / (2 * along * (1 - along)), length * 0.9))
    lift = side * bend + offset * 2
    cx, cy = (x1 + x2) / 2 + nx * lift, (y1 + y2) / 2 + ny * lift
    return f"M {x1:.1f} {y1:.1f} Q {cx:.1f} {cy:.1f} {x2:.1f} {y2:.1f}"


def wrap(text: str, width: float, measure: Callable[[str], float], lines: int) -> list[str]:
    """Words in lines no wider than `width` (a longer word stands alone), at most `lines` of them: the
    last one is shortened with an ellipsis."""
    result, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if not line or measure(candidate) <= width:
            line = candidate
        else:
            result.append(line)
            line = word
    if line:
        result.append(line)
    if len(result) > lines:
        last = " ".join(result[lines - 1:])
        while len(last) > 1 and measure(last + "…") > width:
            last = last[:-1]
        result = result[:lines - 1] + [last.strip() + "…"]
    return result or [""]

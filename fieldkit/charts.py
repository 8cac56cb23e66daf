"""The analysis' charts, drawn as SVG here and rasterised by resvg, as the network map's export is
(map_export): columns per category, stacked by kind or with a second measure as points on a right-hand
axis, and lying bars for long labels. Three kinds of chart did not justify a chart engine: vl-convert's
was 84 MiB of the desktop folder's 574 and took half a second for its first picture."""
import math
from dataclasses import dataclass
from typing import Optional, Sequence
from xml.sax.saxutils import escape

from babel.numbers import format_decimal

from .map_layout import text_width, wrap

FONT = "DejaVu Sans, Arial, sans-serif"
TITLE, LABEL = 16, 13  # font sizes: readable on a projector and, at the PNG's double size, in print
PLOT_WIDTH, PLOT_HEIGHT, BAR_STEP = 560, 300, 22
SLANT = math.radians(35)  # category names under columns, turned so that long ones fit
GRID, AXIS, INK = "#dddddd", "#888888", "#111111"


@dataclass
class Series:
    name: str
    values: Sequence[Optional[float]]  # one per category; None where there is nothing to show
    colour: str


@dataclass
class Scale:
    """Values from 0 to the last tick, mapped onto `length` pixels."""
    ticks: list[float]
    length: float

    @classmethod
    def fitting(cls, values, length: float, whole: bool, top: Optional[float] = None) -> "Scale":
        return cls(_ticks(top if top is not None else max([v for v in values if v is not None] + [0]), whole), length)

    def __call__(self, value: float) -> float:
        return value / self.ticks[-1] * self.length


def columns(title: str, categories: list[str], stacks: list[Series], axis_title: str, locale: str, whole: bool = False,
            points: Optional[Series] = None, points_top: Optional[float] = None) -> str:
    """Columns per category, the stacks' values on top of each other (with a legend when there are
    several), and optionally `points` as diamonds on their own axis at the right, from 0 to points_top."""
    totals = [sum(series.values[index] or 0 for series in stacks) for index in range(len(categories))]
    left_scale = Scale.fitting(totals, PLOT_HEIGHT, whole)
    right_scale = Scale.fitting(points.values, PLOT_HEIGHT, False, points_top) if points else None
    names = [_shortened(name, 200) for name in categories]
    band = PLOT_WIDTH / max(len(categories), 1)
    left = max(_axis_room(left_scale, locale), max((text_width(name, LABEL) * math.cos(SLANT) - band / 2 for name in names),
                                                    default=0) + 10)
    right = _axis_room(right_scale, locale) if points else 40
    legend = [wrap(series.name, 190, lambda text: text_width(text, LABEL), 2) for series in stacks] if len(stacks) > 1 else []
    if legend:
        right = 30 + 22 + max(text_width(line, LABEL) for lines in legend for line in lines) + 16
    top = 46
    bottom = max((text_width(name, LABEL) * math.sin(SLANT) for name in names), default=0) + LABEL + 12
    width, height = left + PLOT_WIDTH + right, top + PLOT_HEIGHT + bottom
    parts = [_title(title, left + PLOT_WIDTH / 2, 26), _vertical_axis(left_scale, left, top, locale, "end"),
             _axis_title(axis_title, left - _axis_room(left_scale, locale) + 16, top + PLOT_HEIGHT / 2, INK)]
    for index, category in enumerate(categories):
        parts += _stack(category, [(series, series.values[index]) for series in stacks], left + band * (index + 0.1),
                        top + PLOT_HEIGHT, band * 0.8, left_scale, locale)
        parts.append(_slanted_label(names[index], left + band * (index + 0.5), top + PLOT_HEIGHT + 8))
    if points:
        parts += [_vertical_axis(right_scale, left + PLOT_WIDTH, top, locale, "start", grid=False),
                  _axis_title(points.name, left + PLOT_WIDTH + right - 16, top + PLOT_HEIGHT / 2, points.colour, turn=90)]
        parts += [_diamond(left + band * (index + 0.5), top + PLOT_HEIGHT - right_scale(value), points.colour,
                           f"{category} – {points.name}: {_number(value, locale)}")
                  for index, (category, value) in enumerate(zip(categories, points.values)) if value is not None]
    if legend:
        parts.append(_legend(stacks, legend, left + PLOT_WIDTH + 30, top))
    parts.append(f'<line x1="{left}" y1="{top + PLOT_HEIGHT}" x2="{left + PLOT_WIDTH}" y2="{top + PLOT_HEIGHT}" stroke="{AXIS}"/>')
    return _svg(title, width, height, parts)


def _stack(category: str, values: list, x: float, bottom: float, width: float, scale: Scale, locale: str) -> list[str]:
    """One column: each series' value above the one before it."""
    blocks = []
    for series, value in values:
        if value:
            size = scale(value)
            bottom -= size
            blocks.append(_rect(x, bottom, width, size, series.colour, f"{category} – {series.name}: {_number(value, locale)}"))
    return blocks


def bars(title: str, categories: list[str], series: Series, axis_title: str, locale: str) -> str:
    """Lying bars, one per category, largest first as given; whole numbers along the bottom."""
    names = [_shortened(name, 260) for name in categories]
    scale = Scale.fitting(series.values, PLOT_WIDTH, whole=True)
    left = max((text_width(name, LABEL) for name in names), default=0) + 16
    top, plot_height = 46, BAR_STEP * max(len(categories), 1)
    width, height = left + PLOT_WIDTH + 30, top + plot_height + LABEL * 3 + 16
    parts = [_title(title, left + PLOT_WIDTH / 2, 26)]
    for tick in scale.ticks:
        x = left + scale(tick)
        parts += [f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_height}" stroke="{GRID}"/>',
                  _label(_number(tick, locale), x, top + plot_height + LABEL + 6, "middle")]
    for index, (category, value) in enumerate(zip(categories, series.values)):
        y = top + BAR_STEP * index
        if value:
            parts.append(_rect(left, y + BAR_STEP * 0.1, scale(value), BAR_STEP * 0.8, series.colour,
                               f"{category}: {_number(value, locale)}"))
        parts.append(_label(names[index], left - 8, y + BAR_STEP / 2 + LABEL * 0.35, "end"))
    parts += [f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_height}" stroke="{AXIS}"/>',
              f'<text x="{left + PLOT_WIDTH / 2:.1f}" y="{top + plot_height + LABEL * 2.6 + 6:.1f}" font-size="{LABEL}" '
              f'font-weight="bold" text-anchor="middle" fill="{INK}">{escape(axis_title)}</text>']
    return _svg(title, width, height, parts)


def png(svg: str) -> bytes:
    """The chart at twice its size, for print."""
    import resvg_py

    return bytes(resvg_py.svg_to_bytes(svg_string=svg, background="#ffffff", zoom=2))


def _ticks(top: float, whole: bool) -> list[float]:
    """Round steps from 0 to at least `top`, about five of them; whole numbers for counts."""
    top = top if top > 0 else 1
    magnitude = 10 ** math.floor(math.log10(top / 5))
    steps = (1, 2, 5, 10) if whole else (1, 2, 2.5, 5, 10)
    step = next(factor * magnitude for factor in steps if factor * magnitude >= top / 5)
    step = max(step, 1) if whole else step
    return [round(index * step, 10) for index in range(math.ceil(top / step - 1e-9) + 1)]


def _number(value: float, locale: str) -> str:
    return format_decimal(value, format="#,##0.###", locale=locale)


def _shortened(name: str, width: float) -> str:
    return wrap(name, width, lambda text: text_width(text, LABEL), 1)[0]


def _axis_room(scale: Scale, locale: str) -> float:
    return 30 + 8 + max(text_width(_number(tick, locale), LABEL) for tick in scale.ticks) + 8


def _vertical_axis(scale: Scale, x: float, top: float, locale: str, anchor: str, grid: bool = True) -> str:
    side = -8 if anchor == "end" else 8
    parts = [f'<line x1="{x}" y1="{top}" x2="{x}" y2="{top + scale.length}" stroke="{AXIS}"/>']
    for tick in scale.ticks:
        y = top + scale.length - scale(tick)
        if grid:
            parts.append(f'<line x1="{x}" y1="{y:.1f}" x2="{x + PLOT_WIDTH}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_label(_number(tick, locale), x + side, y + LABEL * 0.35, anchor))
    return "\n".join(parts)


def _axis_title(text: str, x: float, y: float, colour: str, turn: int = -90) -> str:
    return (f'<text transform="translate({x:.1f} {y:.1f}) rotate({turn})" font-size="{LABEL}" font-weight="bold" '
            f'text-anchor="middle" dominant-baseline="central" fill="{colour}">{escape(text)}</text>')


def _slanted_label(text: str, x: float, y: float) -> str:
    return (f'<text transform="translate({x:.1f} {y + LABEL * 0.6:.1f}) rotate({-math.degrees(SLANT):.0f})" '
            f'font-size="{LABEL}" text-anchor="end" fill="{INK}">{escape(text)}</text>')


def _label(text: str, x: float, y: float, anchor: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{LABEL}" text-anchor="{anchor}" fill="{INK}">{escape(text)}</text>'


def _title(text: str, x: float, y: float) -> str:
    return (f'<text x="{x:.1f}" y="{y}" font-size="{TITLE}" font-weight="bold" text-anchor="middle" fill="{INK}">'
            f"{escape(text)}</text>")


def _rect(x: float, y: float, width: float, height: float, colour: str, tip: str) -> str:
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{colour}">'
            f"<title>{escape(tip)}</title></rect>")


def _diamond(x: float, y: float, colour: str, tip: str, half: float = 8) -> str:
    return (f'<path d="M {x:.1f} {y - half:.1f} L {x + half:.1f} {y:.1f} L {x:.1f} {y + half:.1f} L {x - half:.1f} {y:.1f} Z" '
            f'fill="{colour}" stroke="#ffffff" stroke-width="1"><title>{escape(tip)}</title></path>')


def _legend(stacks: list[Series], lines: list[list[str]], x: float, y: float) -> str:
    parts = []
    for series, name in zip(stacks, lines):
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="14" height="14" fill="{series.colour}"/>')
        parts += [_label(line, x + 22, y + 11.5 + row * LABEL * 1.2, "start") for row, line in enumerate(name)]
        y += LABEL * 1.2 * len(name) + 8
    return "\n".join(parts)


def _svg(title: str, width: float, height: float, parts: list[str]) -> str:
    width, height = math.ceil(width), math.ceil(height)
    return "\n".join([f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                      f'viewBox="0 0 {width} {height}" font-family="{FONT}" role="img">',
                      f"<title>{escape(title)}</title>", f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
                      *parts, "</svg>"])

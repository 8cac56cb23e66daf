"""Quasi-identifiers made coarse for release, and the k-anonymity report over organisation profiles.

A founding year becomes its decade, a city its region (a table the project can edit, with defaults for
Germany: Rheinland or Westfalen-Lippe in NRW, else the federal state), a member count its band, a date its
month. The report lists each combination of quasi-identifiers that fewer than k organisations share,
and which generalisation would dissolve it.
"""
import csv
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

from sqlmodel import Session, select

from ..i18n import N_
from ..local_settings import get_setting, set_setting
from ..models import Organisation
from ..organisations import members_band

QUASI_IDENTIFIERS = {
    "founded": N_("Founded (decade)"), "region": N_("Region"), "members_band": N_("Members"),
    "offers_scope": N_("Offers"), "reach": N_("Reach"),
}
DEFAULT_K = 3


def decade(year: Optional[int]) -> Optional[str]:
    return None if year is None else f"{year // 10 * 10}–{year // 10 * 10 + 9}"


def month(value) -> Optional[str]:
    if not value:
        return None
    date = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return f"{date.year:04d}-{date.month:02d}"


def band(value: Optional[str]) -> Optional[str]:
    return members_band(value) if value else None


@lru_cache(maxsize=1)
def default_regions() -> dict[str, str]:
    lines = (line for line in (Path(__file__).parent / "regions.csv").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#"))
    return {row["city"].casefold(): row["region"] for row in csv.DictReader(lines, delimiter=";")}


def regions(session: Session) -> dict[str, str]:
    """The default table with the project's own rows over it (city in lower case → region)."""
    return {**default_regions(), **get_setting(session, "regions", {})}


def set_regions(session: Session, rows: dict[str, str]) -> None:
    """The project's own rows: city → region; an empty region removes the row."""
    own = dict(get_setting(session, "regions", {}))
    for city, region in rows.items():
        if region.strip():
            own[city.strip().casefold()] = region.strip()
        else:
            own.pop(city.strip().casefold(), None)
    set_setting(session, "regions", own)


def parse_region_rows(text: str) -> dict[str, str]:
    """"City;Region" lines (a CSV with semicolons, as the app's form and `--import` take them)."""
    rows = {}
    for line in text.splitlines():
        city, _, region = line.partition(";")
        if city.strip() and not city.startswith("#") and city.strip().casefold() != "city":
            rows[city.strip()] = region.strip()
    return rows


def region(city: Optional[str], table: dict[str, str]) -> Optional[str]:
    """The region of a city; a district ("Köln-Ehrenfeld", "Köln, Kalk") counts as its city; None if unknown."""
    if not city or not city.strip():
        return None
    name = city.strip().casefold()
    for candidate in (name, name.split(",")[0].strip(), name.split("-")[0].strip(), name.split(" ")[0]):
        if candidate in table:
            return table[candidate]
    return None


def profile(organisation: Organisation, table: dict[str, str]) -> dict:
    """An organisation's quasi-identifiers as released."""
    return {"founded": decade(organisation.founded), "region": region(organisation.city, table),
            "members_band": band(organisation.members_band), "offers_scope": organisation.offers_scope,
            "reach": organisation.reach}


@dataclass
class SmallGroup:
    values: dict
    size: int
    organisations: list = field(default_factory=list)  # ids
    suggestions: list = field(default_factory=list)  # quasi-identifiers whose suppression alone dissolves it


@dataclass
class Report:
    k: int
    organisations: int
    groups: int
    small: list[SmallGroup]
    suggestions: list  # (quasi-identifier, small groups it would dissolve), most useful first


def k_anonymity(session: Session, k: int = DEFAULT_K, only: Optional[set] = None) -> Report:
    """Which combinations of quasi-identifiers fewer than k organisations share."""
    table = regions(session)
    rows = [(o.id, profile(o, table)) for o in session.exec(select(Organisation).where(
        Organisation.deleted == False, Organisation.is_demo == False))  # noqa: E712
        if only is None or o.id in only]
    if not rows:  # a demo vault: report on the demo organisations rather than on nothing
        rows = [(o.id, profile(o, table)) for o in session.exec(select(Organisation).where(Organisation.deleted == False))  # noqa: E712
                if only is None or o.id in only]
    keys = list(QUASI_IDENTIFIERS)
    sizes = Counter(tuple(values[key] for key in keys) for _, values in rows)
    small = []
    for combination, size in sizes.items():
        if size >= k:
            continue
        values = dict(zip(keys, combination))
        group = SmallGroup(values, size, [oid for oid, v in rows if tuple(v[key] for key in keys) == combination])
        for suppressed in keys:
            rest = [key for key in keys if key != suppressed]
            together = sum(1 for _, v in rows if all(v[key] == values[key] for key in rest))
            if together >= k:
                group.suggestions.append(suppressed)
        small.append(group)
    useful = Counter(key for group in small for key in group.suggestions)
    return Report(k, len(rows), len(sizes), sorted(small, key=lambda g: g.size), useful.most_common())

"""What the data says, over every interview of a vault or a chosen part of them (DESIGN.md §9): the
study's chart (each actor type's share of all contacts beside their mean relevance), tie kinds by actor
type, ego-network measures per map, organisations side by side, code frequencies, fieldwork progress.

Every analysis is a `Table`: a title, column names and rows of plain values, so the page, the CSV and
XLSX downloads and the charts read the same numbers. No Flask; the server dashboard reuses it.
"""
import csv
import datetime as dt
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Optional

from sqlmodel import Session, select

from . import charts, maps, network
from .guide import guide_version
from .i18n import N_, translate
from .models import (Alter, Answer, Code, Device, Interview, NetworkMap, Organisation, Quote, QuoteCode, QuoteLink,
                     ReceivedBundle, Tie)
from .quotes import code_text
from .vocabulary import (ACTOR_TYPES, FUNDING_SOURCES, INTERVIEW_STATUSES, MEMBERS_BANDS, OFFER_FIELDS, OFFER_SCOPES,
                         REACH, TIE_TYPES)

ROUND = 3  # decimals kept in tables and downloads


@dataclass
class Choice:
    """Which interviews an analysis covers: all, or those of some organisations, of organisations with
    some characteristics (offers, reach, members), of some interviewers, in a period."""
    organisations: tuple[str, ...] = ()
    interviewers: tuple[str, ...] = ()
    since: Optional[dt.date] = None
    until: Optional[dt.date] = None
    characteristics: tuple[tuple[str, str], ...] = ()  # (Organisation field, value): offers_scope, reach, members_band

    CHARACTERISTICS = ("offers_scope", "reach", "members_band")


@dataclass
class MapData:
    network_map: NetworkMap
    interview: Interview
    organisation: Organisation
    sector_ids: list[str]
    rings: int
    nodes: list[network.Node] = field(default_factory=list)
    links: list[network.Link] = field(default_factory=list)


@dataclass
class Data:
    """The chosen interviews with their organisations and maps, read in a few queries."""
    interviews: list[Interview]
    organisations: dict[str, Organisation]
    maps: list[MapData]  # every map, in the order drawn

    @property
    def main_maps(self) -> list[MapData]:
        """One map per interview, its first: the network as it is today (later ones are often "five years ago")."""
        first: dict[str, MapData] = {}
        for item in self.maps:
            first.setdefault(item.interview.id, item)
        return list(first.values())


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list]

    def csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        writer.writerows([_cell(value) for value in row] for row in self.rows)
        return ("\ufeff" + out.getvalue()).encode("utf-8")  # the mark makes spreadsheets read UTF-8

    def xlsx(self) -> bytes:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(self.title[:31] or "fieldkit")
        sheet.append(self.columns)
        for row in self.rows:
            sheet.append([_cell(value) for value in row])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def _cell(value):
    """A value for a download: numbers stay numbers; text that a spreadsheet would run as a formula
    (a leading = + - @) is written with an apostrophe in front, so it is shown, not run."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def load(session: Session, choice: Choice = Choice()) -> Data:
    query = select(Interview).where(Interview.deleted == False)  # noqa: E712
    if choice.organisations:
        query = query.where(Interview.organisation_id.in_(choice.organisations))
    if choice.interviewers:
        query = query.where(Interview.interviewer.in_(choice.interviewers))
    if choice.since:
        query = query.where(Interview.date >= choice.since)
    if choice.until:
        query = query.where(Interview.date <= choice.until)
    for name, value in choice.characteristics:
        if name in Choice.CHARACTERISTICS:
            query = query.where(Interview.organisation_id.in_(
                select(Organisation.id).where(getattr(Organisation, name) == value)))
    interviews = list(session.exec(query.order_by(Interview.date, Interview.created_at)))
    by_id = {interview.id: interview for interview in interviews}
    organisations = {o.id: o for o in session.exec(select(Organisation).where(
        Organisation.id.in_({i.organisation_id for i in interviews})))}
    found = session.exec(select(NetworkMap).where(NetworkMap.interview_id.in_(by_id), NetworkMap.deleted == False)  # noqa: E712
                         .order_by(NetworkMap.created_at)).all()
    items = {}
    for network_map in found:
        config = maps.config_of(network_map)
        items[network_map.id] = MapData(network_map, by_id[network_map.interview_id],
                                        organisations[by_id[network_map.interview_id].organisation_id],
                                        [sector["id"] for sector in config["sectors"]], len(config["rings"]))
    for map_id, alter_id, actor_type, x, y in session.exec(
            select(Alter.map_id, Alter.id, Alter.actor_type, Alter.x, Alter.y).where(
                Alter.map_id.in_(items), Alter.deleted == False)):  # noqa: E712
        item = items[map_id]
        item.nodes.append(network.Node(alter_id, actor_type, network.ring_of(x, y, item.rings)))
    for map_id, source, target, kind in session.exec(
            select(Tie.map_id, Tie.source_id, Tie.target_id, Tie.type).where(Tie.map_id.in_(items), Tie.deleted == False)):  # noqa: E712
        items[map_id].links.append(network.Link(source, target, kind))
    return Data(interviews, organisations, list(items.values()))


def from_releases(documents: list[dict]) -> Data:
    """The same Data from anonymised release documents (the project server's view): organisations are
    their codes, interviews their months; a map released again, by any laptop, counts once (its newest)."""
    from types import SimpleNamespace

    organisations, interviews, networks = {}, {}, {}
    for document in sorted(documents, key=lambda d: str(d.get("created", ""))):
        records = document.get("records", {})
        for row in records.get("organisations", []):
            organisations[row["id"]] = SimpleNamespace(id=row["id"], name=row.get("code") or row["id"][:8])
        for row in records.get("interviews", []):
            interviews[row["id"]] = SimpleNamespace(id=row["id"], organisation_id=row["organisation_id"], date=None,
                                                    interviewer=row.get("interviewer") or "", status=row.get("status", ""),
                                                    month=row.get("month") or "")
        for row in records.get("networks", []):
            networks[row["id"]] = row
    maps_data = []
    for row in networks.values():
        interview = interviews.get(row["interview_id"])
        if interview is None or interview.organisation_id not in organisations:
            continue
        sectors = [sector["id"] for sector in row.get("sectors", [])]
        item = MapData(SimpleNamespace(id=row["id"], title=row.get("title", "")), interview,
                       organisations[interview.organisation_id], sectors, len(row.get("rings", [])) or 4)
        item.nodes = [network.Node(alter["id"], alter["actor_type"], int(alter["ring"]) - 1) for alter in row.get("alters", [])]
        item.links = [network.Link(tie["source_id"], tie["target_id"], tie["type"]) for tie in row.get("ties", [])]
        maps_data.append(item)
    return Data(list(interviews.values()), organisations, maps_data)


def _type_order(data: Data) -> list[str]:
    """The study's order of actor types, then any a project added, in the order its maps list them."""
    order = list(ACTOR_TYPES)
    for item in data.maps:
        order += [key for key in item.sector_ids if key not in order]
    return order


def _type_name(key: str, locale: str) -> str:
    return translate(ACTOR_TYPES[key], locale) if key in ACTOR_TYPES else key


# The study's chart ---------------------------------------------------------------------------------

def actor_types(data: Data, locale: str = "de") -> Table:
    """Per actor type: contacts, their share of all contacts (%), and their mean relevance (4 for the
    innermost ring … 1 for the outermost), over the first map of each chosen interview."""
    counts, relevances = Counter(), defaultdict(list)
    for item in data.main_maps:
        for node in item.nodes:
            counts[node.actor_type] += 1
            relevances[node.actor_type].append(network.relevance(node.ring, item.rings))
    total = sum(counts.values())
    rows = [[key, _type_name(key, locale), counts[key], _round(100 * counts[key] / total) if total else None,
             _round(sum(relevances[key]) / len(relevances[key])) if relevances[key] else None]
            for key in _type_order(data) if key in ACTOR_TYPES or counts[key]]
    return Table("actor_types", translate(N_("Actor types compared with relevance"), locale),
                 [translate(N_("key"), locale), translate(N_("Actor type"), locale), translate(N_("Contacts"), locale),
                  translate(N_("Share (%)"), locale), translate(N_("Mean relevance"), locale)], rows)


def tie_types(data: Data, among: bool, locale: str = "de") -> Table:
    """Ties by kind and actor type: to the organisation itself (among=False; counted at the contact's
    type) or among contacts (among=True; counted at each end's type, once when both ends share it)."""
    cells = defaultdict(Counter)
    for item in data.main_maps:
        types = {node.id: node.actor_type for node in item.nodes}
        for link in item.links:
            if (link.source is None) == among or link.target not in types:
                continue
            ends = {types[link.target]} if link.source is None else {types.get(link.source), types[link.target]} - {None}
            for end in ends:
                cells[end][link.type] += 1
    kinds = list(TIE_TYPES)
    rows = [[key, _type_name(key, locale)] + [cells[key][kind] for kind in kinds] + [sum(cells[key].values())]
            for key in _type_order(data) if key in ACTOR_TYPES or cells[key]]
    title = N_("Ties among contacts by kind and actor type") if among else N_("Ties to the organisation by kind and actor type")
    return Table("ties_among" if among else "ties_ego", translate(title, locale),
                 [translate(N_("key"), locale), translate(N_("Actor type"), locale)]
                 + [translate(TIE_TYPES[kind], locale) for kind in kinds] + [translate(N_("All"), locale)], rows)


def network_tables(data: Data, locale: str = "de") -> dict:
    """The tables that need only the maps, by key (the laptop's Auswertung and the project server's)."""
    return {"actor_types": lambda: actor_types(data, locale), "ties_ego": lambda: tie_types(data, False, locale),
            "ties_among": lambda: tie_types(data, True, locale), "ego_networks": lambda: ego_networks(data, locale)}


# Per organisation ----------------------------------------------------------------------------------

def ego_networks(data: Data, locale: str = "de", every_map: bool = True) -> Table:
    """Ego-network measures per map (every map of an interview side by side, or only the first)."""
    rows = []
    for item in data.maps if every_map else data.main_maps:
        found = network.measures(item.nodes, item.links, item.sector_ids, item.rings)
        relevance = [network.relevance(node.ring, item.rings) for node in item.nodes]
        composition = ", ".join(f"{_type_name(key, locale)} {count}" for key, count in found["composition"].items() if count)
        rows.append([item.network_map.id, item.organisation.name, item.interview.date.isoformat() if item.interview.date else "",
                     item.network_map.title, found["size"], composition,
                     _round(sum(relevance) / len(relevance)) if relevance else None, _round(found["density"]),
                     _round(found["iqv"]), _round(found["ei"]), _round(found["ego_ei"])])
    return Table("ego_networks", translate(N_("Ego networks"), locale),
                 [translate(N_(label), locale) for label in (
                     N_("map"), N_("Organisation"), N_("Interview date"), N_("Map"), N_("Size (contacts)"), N_("Composition"),
                     N_("Mean relevance"), N_("Density"), N_("Heterogeneity (IQV)"), N_("E-I index among contacts"),
                     N_("E-I index of the organisation"))], rows)


def characteristics(session: Session, organisation_ids: list[str], locale: str = "de") -> Table:
    """Organisations side by side, one column each, as the study compares its cases."""
    found = {o.id: o for o in session.exec(select(Organisation).where(Organisation.id.in_(organisation_ids)))}
    chosen = [found[key] for key in organisation_ids if key in found]

    def named(values, vocabulary) -> str:
        return ", ".join(translate(vocabulary.get(value, value), locale) for value in values or [])

    def professionalisation(o: Organisation) -> str:
        if o.staff_paid is None and o.staff_volunteer is None:
            return ""
        return translate(N_("%(paid)s paid, %(volunteer)s volunteer"), locale, paid=o.staff_paid if o.staff_paid is not None else "–",
                         volunteer=o.staff_volunteer if o.staff_volunteer is not None else "–")

    lines = [
        (N_("Founded"), lambda o: o.founded or ""),
        (N_("City"), lambda o: o.city or ""),
        (N_("Offers"), lambda o: translate(OFFER_SCOPES.get(o.offers_scope, ""), locale) if o.offers_scope else ""),
        (N_("Fields of work"), lambda o: named(o.offer_fields, OFFER_FIELDS)),
        (N_("Formal practices (1–5)"), lambda o: o.practices_formal or ""),
        (N_("Informal practices (1–5)"), lambda o: o.practices_informal or ""),
        (N_("Professionalisation"), professionalisation),
        (N_("Members"), lambda o: MEMBERS_BANDS.get(o.members_band, "") if o.members_band else ""),
        (N_("Target groups"), lambda o: ", ".join(o.target_groups or [])),
        (N_("Reach"), lambda o: translate(REACH.get(o.reach, ""), locale) if o.reach else ""),
        (N_("Funding"), lambda o: named(o.funding_sources, FUNDING_SOURCES)),
    ]
    return Table("characteristics", translate(N_("Organisations side by side"), locale),
                 [translate(N_("Characteristic"), locale)] + [o.name for o in chosen],
                 [[translate(label, locale)] + [value(o) for o in chosen] for label, value in lines])


# Codes ---------------------------------------------------------------------------------------------

def code_frequencies(session: Session, data: Data, locale: str = "de") -> Table:
    """Coded quotes per code and organisation (columns), with the total."""
    interview_ids = [interview.id for interview in data.interviews]
    organisation_of = {interview.id: interview.organisation_id for interview in data.interviews}
    counts = defaultdict(Counter)
    for code_id, interview_id in session.exec(
            select(QuoteCode.code_id, Quote.interview_id).join(Quote, Quote.id == QuoteCode.quote_id).where(
                Quote.interview_id.in_(interview_ids), Quote.deleted == False, QuoteCode.deleted == False)):  # noqa: E712
        counts[code_id][organisation_of[interview_id]] += 1
    codes = session.exec(select(Code).where(Code.deleted == False).order_by(Code.label)).all()  # noqa: E712
    columns = sorted(data.organisations.values(), key=lambda o: o.name.casefold())
    rows = [[code.id, code_text(code, locale)[0]] + [counts[code.id][o.id] for o in columns] + [sum(counts[code.id].values())]
            for code in codes]
    return Table("codes", translate(N_("Coded quotes by code and organisation"), locale),
                 [translate(N_("code"), locale), translate(N_("Code"), locale)] + [o.name for o in columns]
                 + [translate(N_("All"), locale)], rows)


def codes_by_tie_kind(session: Session, data: Data, locale: str = "de") -> Table:
    """Coded quotes linked to ties, by the tie's kind (columns) and the quote's code: what the interview
    says about each kind of relation drawn on the maps."""
    map_ids = [item.network_map.id for item in data.maps]
    counts = defaultdict(Counter)
    for code_id, kind in session.exec(
            select(QuoteCode.code_id, Tie.type).join(QuoteLink, QuoteLink.quote_id == QuoteCode.quote_id)
            .join(Tie, Tie.id == QuoteLink.tie_id).join(Quote, Quote.id == QuoteCode.quote_id)
            .where(QuoteLink.map_id.in_(map_ids), QuoteLink.deleted == False, QuoteCode.deleted == False,  # noqa: E712
                   Quote.deleted == False, Tie.deleted == False)):  # noqa: E712
        counts[code_id][kind] += 1
    codes = session.exec(select(Code).where(Code.deleted == False).order_by(Code.label)).all()  # noqa: E712
    kinds = list(TIE_TYPES)
    return Table("codes_by_tie", translate(N_("Coded quotes linked to ties, by kind of tie"), locale),
                 [translate(N_("code"), locale), translate(N_("Code"), locale)] + [translate(TIE_TYPES[k], locale) for k in kinds]
                 + [translate(N_("All"), locale)],
                 [[code.id, code_text(code, locale)[0]] + [counts[code.id][k] for k in kinds] + [sum(counts[code.id].values())]
                  for code in codes])


# Fieldwork progress --------------------------------------------------------------------------------

def interviews_by_interviewer(data: Data, locale: str = "de") -> Table:
    statuses = ["planned", "consented", "in_progress", "completed", "locked"]
    counts = defaultdict(Counter)
    for interview in data.interviews:
        counts[interview.interviewer or "–"][interview.status] += 1
    return Table("interviewers", translate(N_("Interviews by interviewer and status"), locale),
                 [translate(N_("Interviewer"), locale)] + [translate(INTERVIEW_STATUSES[s], locale) for s in statuses]
                 + [translate(N_("All"), locale)],
                 [[name] + [counts[name][s] for s in statuses] + [sum(counts[name].values())] for name in sorted(counts)])


def missing_consents(data: Data, locale: str = "de") -> Table:
    """Interviews under way or done without a recorded consent."""
    rows = [[interview.id, data.organisations[interview.organisation_id].name, interview.interviewer,
             interview.date.isoformat() if interview.date else "", translate(_status(interview.status), locale)]
            for interview in data.interviews
            if interview.status != "planned" and not (interview.consent or {}).get("by")]
    return Table("consents", translate(N_("Interviews without a recorded consent"), locale),
                 [translate(N_(label), locale) for label in (N_("interview"), N_("Organisation"), N_("Interviewer"),
                                                             N_("Interview date"), N_("Status"))], rows)


def _status(key: str) -> str:
    return INTERVIEW_STATUSES.get(key, key)


def guide_coverage(session: Session, data: Data, locale: str = "de") -> Table:
    """Per question of the guides used: in how many interviews it has notes or was marked as dealt with."""
    asked, covered = Counter(), Counter()
    texts: dict[tuple, str] = {}
    answers = defaultdict(dict)
    for interview_id, key, text, done in session.exec(
            select(Answer.interview_id, Answer.question_id, Answer.text, Answer.covered).where(
                Answer.interview_id.in_([i.id for i in data.interviews]), Answer.deleted == False)):  # noqa: E712
        answers[interview_id][key] = bool(text.strip()) or done
    for interview in data.interviews:
        if interview.status == "planned" or not interview.guide_id:
            continue
        guide = guide_version(session, interview.guide_id, interview.guide_version)
        if guide is None:
            continue
        for question in guide.questions:
            place = (guide.id, guide.section_of(question.key).title(locale), question.key)
            texts[place] = question.text(locale)
            asked[place] += 1
            covered[place] += bool(answers[interview.id].get(question.key))
    rows = [[key, section, texts[(guide_id, section, key)], covered[(guide_id, section, key)], asked[(guide_id, section, key)],
             _round(100 * covered[(guide_id, section, key)] / asked[(guide_id, section, key)])]
            for guide_id, section, key in asked]
    rows.sort(key=lambda row: (row[5], row[0]))  # the least covered first
    return Table("coverage", translate(N_("Guide coverage"), locale),
                 [translate(N_(label), locale) for label in (N_("question"), N_("Section"), N_("Question"),
                                                             N_("Covered in"), N_("Interviews"), N_("Covered (%)"))], rows)


def bundles_received(session: Session, locale: str = "de") -> Table:
    """Per laptop: the bundles received and the sequence numbers still missing between them."""
    rows = []
    devices = {device.device_id: device for device in session.exec(select(Device))}
    received = defaultdict(list)
    for device_id, sequence, imported in session.exec(select(ReceivedBundle.device_id, ReceivedBundle.sequence,
                                                              ReceivedBundle.imported_at)):
        received[device_id].append((sequence, imported))
    for device_id, bundles in sorted(received.items()):
        sequences = sorted(sequence for sequence, _ in bundles)
        missing = sorted(set(range(1, sequences[-1] + 1)) - set(sequences))
        rows.append([device_id, devices[device_id].fingerprint if device_id in devices else "", len(bundles), sequences[-1],
                     ", ".join(map(str, missing)), max(imported for _, imported in bundles).isoformat(timespec="minutes")])
    return Table("bundles", translate(N_("Bundles received per laptop"), locale),
                 [translate(N_(label), locale) for label in (N_("device"), N_("Fingerprint"), N_("Bundles"),
                                                             N_("Latest sequence number"), N_("Missing sequence numbers"),
                                                             N_("Last received"))], rows)


def _round(value):
    return None if value is None else round(value, ROUND)


# Charts ---------------------------------------------------------------------------------------------
# Drawn as SVG by fieldkit.charts: the page shows the SVG as a picture beside its table, the downloads
# are the same pictures.

BAR_COLOUR, POINT_COLOUR = "#4a7fb0", "#b35806"


def chart(table: Table, locale: str = "de") -> Optional[str]:
    """The chart of a table as SVG, or None for tables that are read as tables."""
    if table.key == "actor_types":
        return _study_chart(table, locale)
    if table.key in ("ties_ego", "ties_among"):
        return _ties_chart(table, locale)
    if table.key == "codes":
        return _codes_chart(table, locale)
    return None


def _study_chart(table: Table, locale: str) -> str:
    """Per actor type in the study's order: its share of all contacts (columns, left axis) beside the mean
    relevance of those contacts (diamonds, right axis, 0 to 4), as the study's "Typen im Vergleich zur Relevanz"."""
    categories = [row[1] for row in table.rows]
    return charts.columns(table.title, categories, [charts.Series(table.columns[3], [row[3] for row in table.rows], BAR_COLOUR)],
                          table.columns[3], locale, points=charts.Series(table.columns[4], [row[4] for row in table.rows],
                                                                          POINT_COLOUR), points_top=4)


def _ties_chart(table: Table, locale: str) -> str:
    kinds = list(TIE_TYPES)
    stacks = [charts.Series(table.columns[2 + index], [row[2 + index] for row in table.rows], network.TIE_STYLE[kind]["colour"])
              for index, kind in enumerate(kinds)]
    return charts.columns(table.title, [row[1] for row in table.rows], stacks, table.columns[-1], locale, whole=True)


def _codes_chart(table: Table, locale: str) -> str:
    rows = sorted(table.rows, key=lambda row: -row[-1])
    return charts.bars(table.title, [row[1] for row in rows], charts.Series(table.columns[-1], [row[-1] for row in rows], BAR_COLOUR),
                       table.columns[-1], locale)


TABLE_FILES = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
CHART_FILES = {"svg": "image/svg+xml", "png": "image/png"}


def file_of(table: Table, fmt: str, locale: str = "de") -> Optional[bytes]:
    """A table as CSV or XLSX, or its chart as SVG or PNG; None where the table has no chart."""
    if fmt in TABLE_FILES:
        return table.csv() if fmt == "csv" else table.xlsx()
    svg = chart(table, locale)
    return None if svg is None else svg.encode("utf-8") if fmt == "svg" else charts.png(svg)

"""An anonymised release (DESIGN.md §7): what may leave the vault for the project server and secondary
analysis.

Only approved records are released; their free text is redacted with the steward's decisions, names
in structured fields become their registry codes, quasi-identifiers are generalised. The release is
written as JSON (one file per record kind, valid against fieldkit/schemas/release-1.schema.json),
CSV, and the network maps as GraphML, Network Canvas CSV and SVG with codes as labels. Before anything
is written, a final check reads every file's bytes back and looks for every spelling and form of
every registry entry and every pattern; a single hit refuses the whole release, naming file, record
and field. The release is content-addressed (SHA-256 of its data document) and logged in the vault.
"""
import csv
import datetime as dt
import hashlib
import html
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

from lxml import etree
from sqlmodel import Session, select

from . import __version__, map_export, network
from .anonymise import generalise, patterns, registry, review
from .errors import UserError
from .i18n import N_
from .models import AuditEvent, Code, Interview, Organisation, QuoteCode, Release, new_id, utcnow

FORMAT = "fieldkit-release/1"
SCHEMA_FILE = Path(__file__).parent / "schemas" / "release-1.schema.json"
KINDS = ("organisations", "interviews", "answers", "transcripts", "quotes", "codes", "networks")
# Strings that are structure, not content: ids, hashes, times, colours.
STRUCTURAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{64}|#[0-9a-fA-F]{6}"
                        r"|\d{4}-\d{2}(?:-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?)?|-?(?:0|[1-9]\d{0,5})(?:\.\d+)?(?:e-?\d+)?")


class ReleaseError(UserError):
    message = N_("The release could not be made.")


class LeakFound(ReleaseError):
    message = N_("Release refused: %(file)s still contains identifying text (%(what)s) in record %(record)s, field %(field)s. Nothing was written.")


class NothingApproved(ReleaseError):
    message = N_("Nothing is approved yet, so no release was made (%(left_out)d records wait for review).")


@dataclass
class Leak:
    file: str
    record: str
    field: str
    what: str  # a registry code or a pattern kind, never the text itself


@dataclass
class Dataset:
    """A release before it is written: its records, its files, and what it left out."""
    release_id: str
    created: str
    records: dict
    left_out: list = field(default_factory=list)  # {"record", "reason"}
    files: dict = field(default_factory=dict)  # name → bytes

    @property
    def sha256(self) -> str:
        return content_sha256(self.records)

    def document(self) -> dict:
        """The release as one JSON document: what the project server receives."""
        return {"format": FORMAT, "release_id": self.release_id, "created": self.created, "app_version": __version__,
                "sha256": self.sha256, "records": self.records,
                "counts": {kind: len(rows) for kind, rows in self.records.items()}}


def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def content_sha256(records: dict) -> str:
    """A release's content address: SHA-256 of its format and records as canonical JSON (sorted keys,
    no spaces, UTF-8), so the same records always give the same address."""
    return hashlib.sha256(canonical({"format": FORMAT, "records": records})).hexdigest()


# Building ------------------------------------------------------------------------------------------

def build(session: Session, device_id: str, now: Optional[dt.datetime] = None) -> Dataset:
    """Everything approved, anonymised, with its files; nothing is written yet."""
    registry.register_structured(session, device_id)
    scanner = review.Scanner(session)
    builder = _Builder(session, scanner, generalise.regions(session))
    records = builder.records()
    dataset = Dataset(new_id(), (now or utcnow()).isoformat(), records, builder.left_out)
    dataset.files = files(dataset)
    validate(dataset.document())
    return dataset


class _Builder:
    def __init__(self, session: Session, scanner: review.Scanner, regions: dict):
        self.session, self.scanner, self.regions = session, scanner, regions
        self.codes = {entry.id: entry for entry in registry.entries(session, include_merged=True)}
        self.by_name = {}
        for entry in registry.entries(session):
            for spelling in registry.spellings(entry):
                self.by_name.setdefault(registry.normal(spelling), entry)
        self.left_out: list = []
        self.scans: dict = {}

    def records(self) -> dict:
        records = {kind: [] for kind in KINDS}
        organisations = {}
        for organisation in self.session.exec(select(Organisation).where(Organisation.deleted == False)):  # noqa: E712
            released = self._organisation(organisation)
            if released:
                organisations[organisation.id] = released
                records["organisations"].append(released)
        interviews = {}
        for interview in self.session.exec(select(Interview).where(Interview.deleted == False)):  # noqa: E712
            if interview.organisation_id not in organisations:
                self._leave("interview", interview.id, N_("its organisation's profile is not approved"))
                continue
            released = self._interview(interview, organisations[interview.organisation_id])
            if released:
                interviews[interview.id] = released
                records["interviews"].append(released)
        for record_type, kind, make in (("answer", "answers", self._answer), ("transcript", "transcripts", self._transcript),
                                        ("quote", "quotes", self._quote), ("network_map", "networks", self._network)):
            for _, record_id, interview_id in review.records(self.session, kind=record_type):
                if interview_id not in interviews:
                    self._leave(record_type, record_id, N_("its interview is not approved"))
                    continue
                released = self._approved(record_type, record_id)
                if released is not None:
                    records[kind].append(make(*released))
        records["codes"] = [{"id": c.id, "label": c.label, "description": c.description, "colour": c.colour,
                             "parent_id": c.parent_id} for c in self.session.exec(select(Code).where(Code.deleted == False))]  # noqa: E712
        return records

    def _approved(self, record_type: str, record_id: str):
        scan = self.scanner.scan(record_type, record_id)
        if scan is None:
            return None
        if not review.approved(self.session, record_type, record_id, scan):
            self._leave(record_type, record_id, N_("not approved, or changed since it was approved"))
            return None
        self.scans[(record_type, record_id)] = scan
        model = review.MODELS[record_type]
        return self.session.get(model, record_id), scan

    def _leave(self, record_type: str, record_id: str, reason: str) -> None:
        self.left_out.append({"record": f"{record_type}/{record_id}", "reason": reason})

    def _text(self, scan: review.Scan, name: str) -> str:
        return review.redact(scan.texts.get(name, ""), [f for f in scan.findings if f.field == name])

    def code(self, name: Optional[str]) -> Optional[str]:
        """The code of a name held in a structured field (it was registered automatically)."""
        if not name or not name.strip():
            return None
        entry = self.by_name.get(registry.normal(name))
        if entry is None:
            raise ReleaseError(N_("A name in a structured field has no registry entry; scan the records again."))
        return entry.name if entry.keep else entry.code

    def _organisation(self, organisation: Organisation) -> Optional[dict]:
        approved = self._approved("organisation", organisation.id)
        if approved is None:
            return None
        _, scan = approved
        return {"id": organisation.id, "code": self.code(organisation.name),
                "founded": generalise.decade(organisation.founded),
                "region": generalise.region(organisation.city, self.regions),
                "offers_scope": organisation.offers_scope, "offer_fields": list(organisation.offer_fields),
                "practices_formal": organisation.practices_formal, "practices_informal": organisation.practices_informal,
                "staff_volunteer": organisation.staff_volunteer, "staff_paid": organisation.staff_paid,
                "members_band": generalise.band(organisation.members_band), "reach": organisation.reach,
                "target_groups": [self._text(scan, f"target_groups:{i}") for i in range(len(organisation.target_groups))],
                "funding_sources": list(organisation.funding_sources), "notes": self._text(scan, "notes")}

    def _interview(self, interview: Interview, organisation: dict) -> Optional[dict]:
        approved = self._approved("interview", interview.id)
        if approved is None:
            return None
        _, scan = approved
        consent = interview.consent or {}
        return {"id": interview.id, "organisation_id": interview.organisation_id, "organisation_code": organisation["code"],
                "interviewer": self.code(interview.interviewer), "month": generalise.month(interview.date),
                "place": self._text(scan, "place") or None, "guide_id": interview.guide_id,
                "guide_version": interview.guide_version, "status": interview.status,
                "consent": {"by": self.code(consent.get("by")), "how": consent.get("how"),
                            "month": generalise.month(consent.get("date")),
                            "agreed": dict(consent.get("agreed") or {})} if consent else None,
                "section_seconds": dict(interview.section_seconds or {})}

    def _answer(self, answer, scan) -> dict:
        return {"id": answer.id, "interview_id": answer.interview_id, "question_id": answer.question_id,
                "text": self._text(scan, "text"), "covered": answer.covered}

    def _transcript(self, transcript, scan) -> dict:
        return {"id": transcript.id, "interview_id": transcript.interview_id, "language": transcript.language,
                "source_name": self._text(scan, "source_name"), "text": self._text(scan, "text")}

    def _quote(self, quote, scan) -> dict:
        source_type, source_id = ("answer", quote.answer_id) if quote.answer_id else ("transcript", quote.transcript_id)
        source = self.scans.get((source_type, source_id))
        start = end = None
        if source is not None:  # positions in the released source text
            in_source = [f for f in source.findings if f.field == "text"]
            start, end = review.shifted(quote.start, in_source), review.shifted(quote.end, in_source)
        codes = [row.code_id for row in self.session.exec(select(QuoteCode).where(
            QuoteCode.quote_id == quote.id, QuoteCode.deleted == False))]  # noqa: E712
        return {"id": quote.id, "interview_id": quote.interview_id, "answer_id": quote.answer_id,
                "transcript_id": quote.transcript_id, "start": start, "end": end, "text": self._text(scan, "text"),
                "codes": codes}

    def _network(self, network_map, scan) -> dict:
        from . import maps

        state = maps.state(self.session, network_map)
        rings = len(state["rings"])
        alters = []
        for alter in state["alters"]:
            ring = network.ring_of(alter["x"], alter["y"], rings)
            attributes = {key: value for key, value in alter["attributes"].items() if key not in ("note", "since")}
            for name in ("note", "since"):
                if alter["attributes"].get(name):
                    attributes[name] = self._text(scan, f"alter:{alter['id']}:{name}")
            alters.append({"id": alter["id"], "code": self.code(alter["label"]), "actor_type": alter["actor_type"],
                           "x": alter["x"], "y": alter["y"], "ring": ring + 1,
                           "relevance": network.relevance(ring, rings), "attributes": attributes})
        ties = [{"id": tie["id"], "source_id": tie["source_id"], "target_id": tie["target_id"], "type": tie["type"],
                 "direction": tie["direction"], "strength": tie["strength"],
                 "note": self._text(scan, f"tie:{tie['id']}:note") if tie["note"] else ""} for tie in state["ties"]]
        return {"id": network_map.id, "interview_id": network_map.interview_id, "title": self._text(scan, "title"),
                "rings": state["rings"], "sectors": state["sectors"], "alters": alters, "ties": ties}


# Files ---------------------------------------------------------------------------------------------

def files(dataset: Dataset) -> dict[str, bytes]:
    """Every file of the release, as bytes: JSON per kind, CSV, network exports, and the manifest."""
    out = {f"{kind}.json": json.dumps(rows, ensure_ascii=False, indent=1).encode() for kind, rows in dataset.records.items()}
    for kind, columns in CSV_COLUMNS.items():
        out[f"{kind}.csv"] = _csv(dataset.records[kind], columns)
    organisations = {o["id"]: o for o in dataset.records["organisations"]}
    interviews = {i["id"]: i for i in dataset.records["interviews"]}
    for released in dataset.records["networks"]:
        interview = interviews[released["interview_id"]]
        export = map_export.MapExport(
            {"id": released["id"], "title": released["title"], "rings": released["rings"], "sectors": released["sectors"],
             "alters": [{**a, "label": a["code"]} for a in released["alters"]], "ties": released["ties"]},
            organisations[interview["organisation_id"]]["code"], organisations[interview["organisation_id"]]["code"],
            interview["month"] or "")
        folder = f"networks/{released['id']}"
        out[f"{folder}/map.graphml"] = map_export.graphml(export, "de")
        out[f"{folder}/map.svg"] = map_export.svg(export, "de").encode()
        with zipfile.ZipFile(io.BytesIO(map_export.network_canvas_zip(export, "de"))) as archive:
            for name in archive.namelist():
                if name.endswith(".csv"):
                    out[f"{folder}/{name}"] = archive.read(name)
    manifest = {"format": FORMAT, "release_id": dataset.release_id, "created": dataset.created,
                "app_version": __version__, "sha256": dataset.sha256, "left_out": dataset.left_out,
                "counts": {kind: len(rows) for kind, rows in dataset.records.items()},
                "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                          for name, data in sorted(out.items())}}
    out["release.json"] = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
    return out


CSV_COLUMNS = {
    "organisations": ["id", "code", "founded", "region", "offers_scope", "offer_fields", "practices_formal",
                      "practices_informal", "staff_volunteer", "staff_paid", "members_band", "reach", "target_groups",
                      "funding_sources", "notes"],
    "interviews": ["id", "organisation_id", "organisation_code", "interviewer", "month", "place", "guide_id",
                   "guide_version", "status"],
    "answers": ["id", "interview_id", "question_id", "covered", "text"],
    "quotes": ["id", "interview_id", "answer_id", "transcript_id", "start", "end", "codes", "text"],
}


def _csv(rows: list[dict], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["; ".join(map(str, row[c])) if isinstance(row[c], list) else "" if row[c] is None else row[c]
                         for c in columns])
    return out.getvalue().encode("utf-8")


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def validate(document: dict) -> None:
    """The release document against its JSON Schema: a release that breaks it is a fault of ours."""
    import jsonschema

    jsonschema.validate(document, schema())


# The final check -----------------------------------------------------------------------------------

def leaks(session: Session, written: dict[str, bytes]) -> list[Leak]:
    """Every identifying string in the files as written: each registry spelling and form (entries kept
    as they are excepted) and each pattern, looked for in every string of every file, then in each
    file's whole text once more for the registry. Region names from the region table are allowed."""
    replaced = [entry for entry in registry.entries(session) if not entry.keep]
    matcher = registry.Matcher((entry.id, spelling) for entry in replaced for spelling in registry.spellings(entry))
    codes = {entry.id: entry.code for entry in replaced}
    allowed = set(generalise.regions(session).values())
    found = []
    for name, data in sorted(written.items()):
        text = data.decode("utf-8")
        for record, field_name, value in _strings(name, text):
            if value in allowed or STRUCTURAL.fullmatch(value):
                continue
            match = next(iter(matcher.find(value)), None)
            hit = None if match else next(iter(patterns.find(value)), None)
            if match or hit:
                found.append(Leak(name, record, field_name, codes[match.entry_id] if match else hit.kind))
        for record, attribute, value in _attributes(name, text):
            match = next(iter(matcher.find(value)), None)
            if match is not None:
                found.append(Leak(name, record, attribute, codes[match.entry_id]))
        whole = html.unescape(text)
        for region in allowed:
            whole = whole.replace(region, " ")
        match = next(iter(matcher.find(whole)), None)
        if match is not None and not any(leak.file == name for leak in found):
            found.append(Leak(name, "-", "-", codes[match.entry_id]))
    return found


def _strings(name: str, text: str):
    """(record, field, text) for every string in a file, read back from its bytes as its format says."""
    if name.endswith(".json"):
        yield from _json_strings(json.loads(text), "-", "")
    elif name.endswith(".csv"):
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header = rows[0] if rows else []
        for row in rows[1:]:
            record = next((row[i] for i, column in enumerate(header) if column in ("id", "networkCanvasUUID") and i < len(row)), "-")
            for column, value in zip(header, row):
                yield record, column, value
        yield "-", "header", " ".join(header)
    else:  # GraphML and SVG: every text node, entities resolved (attributes: see _attributes)
        root = etree.fromstring(text.encode())
        for element in root.iter():
            if isinstance(element.tag, str) and element.text and element.text.strip():
                yield element.get("id") or "-", etree.QName(element).localname, element.text


def _attributes(name: str, text: str):
    """(record, attribute, value) of the XML files' attributes: ids, geometry and styles, which only the
    registry is looked for in (patterns would mistake coordinates for phone numbers)."""
    if name.endswith((".graphml", ".svg")):
        for element in etree.fromstring(text.encode()).iter():
            for attribute, value in element.attrib.items():
                if not attribute.startswith("{http://www.w3.org/2001/XMLSchema-instance}"):
                    yield element.get("id") or "-", attribute, value


def _json_strings(value, record: str, path: str):
    if isinstance(value, dict):
        record = value.get("id", record) if isinstance(value.get("id"), str) else record
        for key, item in value.items():
            yield from _json_strings(item, record, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item, record, path)
    elif isinstance(value, str):
        yield record, path, value


# Writing -------------------------------------------------------------------------------------------

def write(session: Session, device_id: str, out: Path, actor: str, now: Optional[dt.datetime] = None) -> Release:
    """Build the release, check its bytes, write it to a folder of its own under `out` and log it."""
    dataset = build(session, device_id, now)
    if not dataset.records["organisations"]:
        raise NothingApproved(left_out=len(dataset.left_out))
    found = leaks(session, dataset.files)
    if found:
        first = found[0]
        raise LeakFound(file=first.file, record=first.record, field=first.field, what=first.what,
                        leaks=[{"file": leak.file, "record": leak.record, "field": leak.field, "what": leak.what}
                               for leak in found[:50]])
    folder = out / f"release-{dataset.created[:10]}-{dataset.sha256[:12]}"
    if folder.exists():
        raise ReleaseError(N_("The folder %(folder)s exists already; nothing was written."), folder=str(folder))
    for name, data in dataset.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (folder / "release-document.json").write_bytes(canonical(dataset.document()))
    release = Release(id=dataset.release_id, sha256=dataset.sha256, directory=str(folder), actor=actor,
                      counts={kind: len(rows) for kind, rows in dataset.records.items()}, left_out=dataset.left_out)
    session.add(release)
    from .sync import enqueue

    enqueue(session, release)  # waits for the project server (sync.py)
    session.add(AuditEvent(action="release.write", actor=actor, origin_device=device_id, detail={
        "release": release.id, "sha256": release.sha256, "counts": release.counts, "left_out": len(dataset.left_out)}))
    return release


def make_release(engine, device_id: str, out: Path, actor: str) -> Release:
    """Write a release in a transaction of its own; a refusal is logged with every leak it found (by
    file, record, field and what matched, never the text). One entry for the command and the screen."""
    from . import db

    try:
        with db.writing(engine) as session:
            return write(session, device_id, out, actor)
    except LeakFound as refused:
        with db.writing(engine) as session:
            session.add(AuditEvent(action="release.refused", actor=actor, origin_device=device_id,
                                   detail={"leaks": refused.params["leaks"]}))
        raise


def releases(session: Session) -> list[Release]:
    return list(session.exec(select(Release).order_by(Release.created_at.desc())))


def document(release: Release) -> dict:
    """A written release's document, as the project server receives it."""
    return json.loads((Path(release.directory) / "release-document.json").read_text(encoding="utf-8"))

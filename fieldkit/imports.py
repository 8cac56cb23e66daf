"""Importing organisations and planned interviews from a coordinator's CSV or XLSX table.

Reading gives a preview: every row with its values and its problems. Only rows without problems
are imported, all of them in one transaction.
"""
import csv
import datetime as dt
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import PurePath

from sqlmodel import Session, select

from . import interviews, untrusted
from .errors import UserError
from .guide import latest_guide
from .i18n import N_
from .models import Organisation, save
from .organisations import parse_profile
from .text import decode

MAX_ROWS = 5000
MAX_COLUMNS = 60
MAX_UNPACKED = 100 * 1024 * 1024  # what a workbook of MAX_ROWS rows may unpack to, shared strings and all
MAX_STYLE_ELEMENTS = 50_000  # openpyxl builds an object per cell format, ~25 µs each; real workbooks have < 1,000
# Column names as coordinators write them (German or English) → field.
COLUMNS = {
    "name": "name", "organisation": "name", "organisationsname": "name",
    "code": "pseudonym_code", "kürzel": "pseudonym_code", "pseudonym": "pseudonym_code",
    "city": "city", "stadt": "city", "ort": "city",
    "founded": "founded", "gegründet": "founded", "gründungsjahr": "founded",
    "offers": "offers_scope", "angebot": "offers_scope", "angebote": "offers_scope",
    "offer_fields": "offer_fields", "felder": "offer_fields", "handlungsfelder": "offer_fields",
    "formal": "practices_formal", "formell": "practices_formal",
    "informal": "practices_informal", "informell": "practices_informal",
    "volunteers": "staff_volunteer", "ehrenamtliche": "staff_volunteer",
    "paid_staff": "staff_paid", "hauptamtliche": "staff_paid",
    "members": "members_band", "mitglieder": "members_band",
    "target_groups": "target_groups", "zielgruppen": "target_groups",
    "reach": "reach", "reichweite": "reach",
    "funding": "funding_sources", "finanzierung": "funding_sources",
    "notes": "notes", "notizen": "notes",
    "interviewer": "interviewer", "interviewer*in": "interviewer",
    "interview_date": "interview_date", "interviewdatum": "interview_date",
    "interview_place": "interview_place", "interviewort": "interview_place",
}


class TableError(UserError):
    message = N_("The table could not be read.")


@dataclass
class Row:
    line: int
    values: dict
    fields: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)  # (message, params)


def read_table(filename: str, data: bytes) -> list[dict]:
    """Rows of a CSV (comma or semicolon, UTF-8 or Windows) or XLSX file as {header: text}."""
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(data)
    elif suffix == ".xlsx":
        rows = _xlsx_rows(data)
    else:
        raise TableError(N_("Import a .csv or .xlsx file."))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise TableError(N_("The table is empty."))
    if len(rows) > MAX_ROWS + 1:
        raise TableError(N_("The table has more than %(max)d rows."), max=MAX_ROWS)
    header = [cell.strip().lower() for cell in rows[0]]
    unknown = [name for name in header if name and name not in COLUMNS]
    if unknown:
        raise TableError(N_("Unknown column: %(column)s."), column=unknown[0])
    if "name" not in {COLUMNS.get(name) for name in header}:
        raise TableError(N_("The table needs a column 'name' (or 'Organisation')."))
    return [{COLUMNS[name]: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header) if name}
            for row in rows[1:]]


def preview(session: Session, rows: list[dict]) -> list[Row]:
    """Check every row; a row whose organisation exists already (same name and city) is flagged."""
    existing = _existing(session)
    has_guide = latest_guide(session, "mikoss") is not None
    seen, result = set(), []
    for line, values in enumerate(rows, start=2):
        row = Row(line, values)
        _check(row)
        if values.get("interviewer") and not has_guide:
            row.errors.append((N_("No interview guide is loaded, so no interview can be planned."), {}))
        key = (values.get("name", "").casefold(), values.get("city", "").casefold())
        if key in existing:
            row.errors.append((N_("An organisation with this name and city exists already."), {}))
        elif key in seen:
            row.errors.append((N_("The same organisation appears twice in the table."), {}))
        seen.add(key)
        result.append(row)
    return result


def import_rows(session: Session, device_id: str, rows: list[Row]) -> tuple[int, int]:
    """Create the organisations (and planned interviews) of the rows without problems: (organisations, interviews)."""
    guide = latest_guide(session, "mikoss")
    existing = _existing(session)  # again: the same preview may be confirmed twice
    organisations = planned = 0
    for row in rows:
        key = (row.values.get("name", "").casefold(), row.values.get("city", "").casefold())
        if row.errors or key in existing:
            continue
        existing.add(key)
        fields = dict(row.fields)
        interviewer, date, place = (fields.pop(k, None) for k in ("interviewer", "interview_date", "interview_place"))
        organisation = save(session, device_id, Organisation(**fields))
        organisations += 1
        if interviewer and guide:
            interviews.new(session, device_id, organisation, guide, interviewer, date, place or "")
            planned += 1
    return organisations, planned


def _existing(session: Session) -> set:
    return {(o.name.casefold(), (o.city or "").casefold())
            for o in session.exec(select(Organisation).where(Organisation.deleted == False))}  # noqa: E712


def _check(row: Row) -> None:
    values = row.values
    fields, errors = parse_profile(values)
    row.fields.update(fields)
    row.errors.extend(errors)
    for name in ("interviewer", "interview_place"):
        if values.get(name):
            row.fields[name] = values[name]
    if values.get("interview_date"):
        try:
            row.fields["interview_date"] = _date(values["interview_date"])
        except ValueError:
            row.errors.append((N_("interview_date must be a date like 2026-03-14 or 14.03.2026."), {}))
    if (values.get("interview_date") or values.get("interview_place")) and not values.get("interviewer"):
        row.errors.append((N_("A planned interview needs an interviewer."), {}))


def _date(text: str) -> dt.date:
    text = text.strip().split(" ")[0]
    if "." in text:
        day, month, year = text.split(".")
        return dt.date(int(year), int(month), int(day))
    return dt.date.fromisoformat(text)


def _csv_rows(data: bytes) -> list[list[str]]:
    try:
        text = decode(data)
    except ValueError as error:
        raise TableError(N_("The table is not a text file fieldkit can read (UTF-8, UTF-16 or Windows-1252); save it as CSV in UTF-8 or as XLSX.")) from error
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as error:
        raise TableError(N_("The table could not be read: %(problem)s"), problem=str(error)) from error


def _xlsx_rows(data: bytes) -> list[list[str]]:
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            untrusted.check_archive(archive, MAX_UNPACKED)
            if "xl/styles.xml" in archive.namelist():
                styles = untrusted.inflate(archive, "xl/styles.xml", MAX_UNPACKED)
                if styles.count(b"<") > MAX_STYLE_ELEMENTS:
                    raise TableError(N_("The workbook holds too many cell formats to read; save the table as CSV and try again."))
    except untrusted.TooLarge as error:
        if error.by_ratio:
            raise TableError(N_("The workbook unpacks to far more than a table of its size can hold; save the table as CSV and try again.")) from error
        raise TableError(N_("The workbook unpacks to more than %(limit)d MB; save the table as CSV and try again."),
                         limit=MAX_UNPACKED // 2**20) from error
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, ValueError, EOFError, OSError) as error:
        raise TableError(N_("The file is damaged or not an Excel workbook.")) from error
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # a declared size is not trusted: only cells that exist are read
        rows = [["" if v is None else v.date().isoformat() if isinstance(v, dt.datetime) else str(v) for v in values]
                for values in sheet.iter_rows(values_only=True, max_row=MAX_ROWS + 2, max_col=MAX_COLUMNS)]
        workbook.close()
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise TableError(N_("The file is damaged or not an Excel workbook.")) from error
    return rows

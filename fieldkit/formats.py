"""How numbers and dates read on the pages of both apps (the laptop's and the project server's), in
the reader's language through Flask-Babel: "30.11.2026", "0,07", "1.024"."""
import datetime as dt

from flask_babel import format_date, format_datetime, format_decimal


def register(app) -> None:
    for function in (local_date, local_number, local_cell, clock):
        app.add_template_filter(function)


def local_number(value, pattern: str = "0.00") -> str:
    """A number as the reader's language writes it ("0,07" in German); a Babel pattern, e.g. "+0.00;-0.00"."""
    return format_decimal(value, format=pattern)


def local_date(value, length: str = "medium") -> str:
    """A date or time as the reader's language writes it ("30.11.2026", "Nov 30, 2026"); dates stored as
    ISO text too; anything else as it is."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return format_datetime(value, "short" if length == "medium" else length)
    if isinstance(value, dt.date):
        return format_date(value, length)
    return "" if value is None else str(value)


def local_cell(value) -> str:
    """A table cell: numbers as the reader writes them ("16,667"), empty cells as –."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "–" if value in (None, "") else str(value)
    return format_decimal(value, format="#,##0.###")


def clock(ms: int) -> str:
    """A place in a recording: "4:05" or "1:04:05" (an offset before its start: "-0:05")."""
    sign, seconds = "-" if ms < 0 else "", abs(int(ms)) // 1000
    hours, minutes = seconds // 3600, seconds // 60 % 60
    return sign + (f"{hours}:{minutes:02d}:{seconds % 60:02d}" if hours else f"{minutes}:{seconds % 60:02d}")

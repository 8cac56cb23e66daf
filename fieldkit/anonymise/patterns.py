"""Identifying details that follow a pattern: e-mail addresses, web addresses, phone numbers (German
and international, found and checked by phonenumbers), IBANs (checked with python-stdnum), street
addresses with a house number, postcodes with a place, and dates of birth."""
import re
from dataclasses import dataclass

from ..i18n import N_

# kind → what replaces it in a released text (in the study's language, like the pseudonym codes)
PLACEHOLDERS = {
    "email": "[E-Mail]", "url": "[URL]", "phone": "[Telefon]", "iban": "[IBAN]",
    "address": "[Adresse]", "postcode": "[Adresse]", "birthdate": "[Geburtsdatum]",
}
KIND_LABELS = {
    "email": N_("E-mail address"), "url": N_("Web address"), "phone": N_("Phone number"), "iban": N_("IBAN"),
    "address": N_("Street address"), "postcode": N_("Postcode and place"), "birthdate": N_("Date of birth"),
}

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}")
URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'„“”]+|\b[\w-]+(?:\.[\w-]+)*\.(?:de|com|org|net|eu|info|tr|at|ch|nl|pl|ru|ua|sy|iq)"
                 r"\b(?:/[^\s<>\"'„“”]*)?", re.IGNORECASE)
PHONE_CANDIDATE = re.compile(r"(?:\+|\b00|\(0|\b0)[\d][\d ()/.\-–]{5,22}\d")
IBAN_CANDIDATE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
STREET = (r"[A-ZÄÖÜ][\wäöüß.-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|pfad|markt|"
          r"hof|berg|graben|wall|kamp|feld|garten|park|Straße|Str\.|Weg|Gasse|Platz|Allee|Ring|Damm|Ufer)")
ADDRESS = re.compile(rf"\b(?:{STREET}|(?:Am|An der|An den|Auf dem|Auf der|Im|In der|In den|Zum|Zur|Unter den) "
                     rf"[A-ZÄÖÜ][\wäöüß-]+)\s+\d{{1,3}}(?:\s?[a-zA-Z](?![\wäöüß]))?(?:\s?[-–/]\s?\d{{1,3}}[a-z]?)?(?![\d:])")
POSTCODE = re.compile(r"\b\d{5}\s+[A-ZÄÖÜ][\wäöüß-]+(?:\s(?:am|an der|im|in der|ob der|bei)\s[A-ZÄÖÜ][\wäöüß-]+)?")
MONTHS = r"(?:Januar|Jänner|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember)"
DATE = rf"(?:\d{{1,2}}\.\s?(?:\d{{1,2}}\.\s?|{MONTHS}\s)\d{{2,4}}|\d{{4}}-\d{{2}}-\d{{2}})"
BIRTHDATE = re.compile(rf"(?:\bgeb(?:oren)?\.?|\bGeburtsdatum:?|\bGeburtstag:?|\*)\s*(?:am\s+)?({DATE})", re.IGNORECASE)


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    kind: str


DIGITS = re.compile(r"\d[\d .,/()\-–]*")
TLD = re.compile(r"\.(?:de|com|org|net|eu|info|tr|at|ch|nl|pl|ru|ua|sy|iq)\b", re.IGNORECASE)
WINDOW = 70  # characters before a number that a street name, a title or a "geb." may take


def find(text: str) -> list[Found]:
    """Every pattern hit in the text, leftmost first; overlapping hits keep the longer one. The patterns
    that need a number run only on windows around the text's numbers, and the others only where a
    cheap test says they can match, so a long text without contact details costs little."""
    hits = [Found(m.start(), m.end(), "email") for m in EMAIL.finditer(text)] if "@" in text else []
    if "www." in text or "://" in text or TLD.search(text):
        hits += [Found(m.start(), _trim(text, m.start(), m.end()), "url") for m in URL.finditer(text)
                 if not _inside(m.start(), hits)]
    seen = set()
    for start, end in _windows(text):
        window = text[start:end]
        for hit in _numbered(window):
            key = (start + hit.start, start + hit.end, hit.kind)
            if key not in seen:
                seen.add(key)
                hits.append(Found(*key))
    return _without_overlaps(hits)


def _windows(text: str) -> list[tuple[int, int]]:
    """Stretches of text around its numbers, from a word's start, merged where they touch."""
    windows: list[list[int]] = []
    for match in DIGITS.finditer(text):
        start = max(0, match.start() - WINDOW)
        start = text.rfind(" ", 0, start) + 1 if start else 0
        end = min(len(text), match.end() + 20)
        if windows and start <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], end)
        else:
            windows.append([start, end])
    return [(start, end) for start, end in windows]


def _numbered(text: str) -> list[Found]:
    """The patterns that hold a number: IBANs, phone numbers, addresses, postcodes, dates of birth."""
    from stdnum import iban  # here, not at the top: the app's start need not wait for it

    ibans = [(m.start(), m.end(), iban.is_valid(m.group().replace(" ", ""))) for m in IBAN_CANDIDATE.finditer(text)]
    hits = [Found(start, end, "iban") for start, end, valid in ibans if valid]
    # digits inside an account-number-shaped string are not a phone number
    hits += [hit for hit in _phones(text) if not any(start <= hit.start < end for start, end, _ in ibans)]
    hits += [Found(m.start(), m.end(), "address") for m in ADDRESS.finditer(text)]
    hits += [Found(m.start(), m.end(), "postcode") for m in POSTCODE.finditer(text)]
    hits += [Found(m.start(1), m.end(1), "birthdate") for m in BIRTHDATE.finditer(text)]
    return hits


def _phones(text: str) -> list[Found]:
    """Phone numbers in German and international formats: a cheap pre-filter, then phonenumbers decides."""
    import phonenumbers  # here, not at the top: the app's start need not wait for its tables

    found = []
    for candidate in PHONE_CANDIDATE.finditer(text):
        window = candidate.group()
        for match in phonenumbers.PhoneNumberMatcher(window, "DE", leniency=phonenumbers.Leniency.POSSIBLE):
            found.append(Found(candidate.start() + match.start, candidate.start() + match.end, "phone"))
    return found


def _trim(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1] in ".,;:!?)]}":
        end -= 1
    return end


def _inside(position: int, hits: list[Found]) -> bool:
    return any(hit.start <= position < hit.end for hit in hits)


def _without_overlaps(hits: list[Found]) -> list[Found]:
    chosen, reach = [], -1
    for hit in sorted(hits, key=lambda h: (h.start, h.start - h.end)):
        if hit.start >= reach:
            chosen.append(hit)
            reach = hit.end
    return chosen

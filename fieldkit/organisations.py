"""Organisations: their profile (the study's characteristics) and what was gathered about them."""
import datetime as dt
from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy import func, or_
from sqlmodel import Session, select

from .i18n import N_
from . import maps
from .models import Interview, NetworkMap, Organisation, save
from .text import clean
from .vocabulary import FUNDING_SOURCES, MEMBERS_BANDS, OFFER_FIELDS, OFFER_SCOPES, REACH

TEXT_FIELDS = ("name", "pseudonym_code", "city", "notes")
NUMBER_FIELDS = {"founded": (1800, None), "practices_formal": (1, 5), "practices_informal": (1, 5),
                 "staff_volunteer": (0, 100000), "staff_paid": (0, 100000)}
CHOICE_FIELDS = {"offers_scope": OFFER_SCOPES, "members_band": MEMBERS_BANDS, "reach": REACH}
LIST_FIELDS = {"offer_fields": OFFER_FIELDS, "funding_sources": FUNDING_SOURCES, "target_groups": None}


@dataclass
class OrganisationSummary:
    organisation: Organisation
    interviews: int


@dataclass
class OrganisationDetail:
    organisation: Organisation
    interviews: list[Interview]
    maps: list[tuple[NetworkMap, int, int]] = field(default_factory=list)  # map, alters, ties


def list_organisations(session: Session, query: str = "") -> list[OrganisationSummary]:
    """Organisations not deleted, by name, with their interview counts; query filters by name, city or code."""
    interviews = (select(Interview.organisation_id, func.count().label("n"))
                  .where(Interview.deleted == False).group_by(Interview.organisation_id).subquery())  # noqa: E712
    statement = (select(Organisation, func.coalesce(interviews.c.n, 0))
                 .outerjoin(interviews, interviews.c.organisation_id == Organisation.id)
                 .where(Organisation.deleted == False).order_by(func.lower(Organisation.name)))  # noqa: E712
    if query.strip():
        pattern = f"%{query.strip()}%"
        statement = statement.where(or_(Organisation.name.ilike(pattern), Organisation.city.ilike(pattern),
                                        Organisation.pseudonym_code.ilike(pattern)))
    return [OrganisationSummary(org, count) for org, count in session.exec(statement)]


def organisation_detail(session: Session, organisation_id: str) -> Optional[OrganisationDetail]:
    organisation = session.get(Organisation, organisation_id)
    if organisation is None or organisation.deleted:
        return None
    interviews = list(session.exec(select(Interview).where(
        Interview.organisation_id == organisation_id, Interview.deleted == False).order_by(Interview.date)))  # noqa: E712
    detail = OrganisationDetail(organisation, interviews)
    for interview in interviews:
        detail.maps += maps.summaries(session, interview.id)
    return detail


def parse_profile(values: dict) -> tuple[dict, list]:
    """Profile fields from text values (a form or a table row): (fields, [(message, params)]).
    Lists come as Python lists or as comma/semicolon separated text; empty values clear a field."""
    fields, errors = {}, []
    if not (values.get("name") or "").strip():
        errors.append((N_("The name is missing."), {}))
    values = {key: clean(value) if isinstance(value, str) else value for key, value in values.items()}
    for name in TEXT_FIELDS:
        fields[name] = (values.get(name) or "").strip() or (None if name in ("pseudonym_code", "city") else "")
    for name, (low, high) in NUMBER_FIELDS.items():
        high = high or dt.date.today().year
        text = str(values.get(name) or "").strip()
        number = _integer(text) if text else None
        if text and (number is None or not low <= number <= high):
            errors.append((N_("%(column)s must be a whole number from %(low)d to %(high)d."),
                           {"column": name, "low": low, "high": high}))
        fields[name] = number
    for name, allowed in CHOICE_FIELDS.items():
        value = (values.get(name) or "").strip()
        if name == "members_band":
            value = members_band(value)
        if value and value not in allowed:
            errors.append((N_("%(column)s must be one of: %(allowed)s."), {"column": name, "allowed": ", ".join(allowed)}))
        fields[name] = value or None
    for name, allowed in LIST_FIELDS.items():
        raw = values.get(name) or []
        items = raw if isinstance(raw, list) else [i.strip() for i in raw.replace(";", ",").split(",")]
        items = [item.strip() for item in items if item.strip()]
        if allowed and any(item not in allowed for item in items):
            errors.append((N_("%(column)s must be from: %(allowed)s."), {"column": name, "allowed": ", ".join(allowed)}))
        fields[name] = items
    return fields, errors


def update_profile(session: Session, device_id: str, organisation: Organisation, values: dict) -> list:
    """Apply a profile form; returns the problems, and changes nothing if there are any."""
    fields, errors = parse_profile(values)
    if not errors:
        for name, value in fields.items():
            setattr(organisation, name, value)
        save(session, device_id, organisation)
    return errors


def create_organisation(session: Session, device_id: str, name: str, city: str = "") -> Organisation:
    return save(session, device_id, Organisation(name=clean(name).strip(), city=clean(city).strip() or None))


def members_band(text: str) -> str:
    """A members band from a band ("26-50", "26–50", "> 200") or from a count ("45" → "26-50")."""
    compact = text.replace("–", "-").replace(" ", "")
    if compact in MEMBERS_BANDS:
        return compact
    count = _integer(text) if text else None
    if count is None or count < 1:
        return text
    for band in MEMBERS_BANDS:
        low, _, high = band.lstrip(">").partition("-")
        if count <= int(high or 10**9) and (high or count > int(low)):
            return band
    return text


def _integer(text: str) -> Optional[int]:
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        return None
    return int(number) if number.is_integer() else None

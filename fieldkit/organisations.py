"""Reading organisations with what was gathered about them (interviews, maps)."""
from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy import func, or_
from sqlmodel import Session, select

from .models import Alter, Interview, NetworkMap, Organisation, Tie


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
        for network_map in session.exec(select(NetworkMap).where(
                NetworkMap.interview_id == interview.id, NetworkMap.deleted == False)):  # noqa: E712
            alters = session.exec(select(func.count()).select_from(Alter).where(
                Alter.map_id == network_map.id, Alter.deleted == False)).one()  # noqa: E712
            ties = session.exec(select(func.count()).select_from(Tie).where(
                Tie.map_id == network_map.id, Tie.deleted == False)).one()  # noqa: E712
            detail.maps.append((network_map, alters, ties))
    return detail

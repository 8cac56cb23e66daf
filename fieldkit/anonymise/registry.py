"""The pseudonym registry: every real entity with its spellings and a stable code in the study's style.

Organisation names, cities, interviewers, consent-givers and network-map contacts are registered
automatically. An entry registered from a name gets an id derived from its category and name, so two
coordinators who register the same name create the same record, and bundles merge it as one. Codes
count up per category ("MO-03", "Organisation-7", "Person-12", "Ort-2") and never change unless a
steward renames them.
"""
import re
import uuid
from collections.abc import Iterable
from typing import Optional

from sqlmodel import Session, select

from ..errors import UserError
from ..i18n import N_
from ..models import AuditEvent, Interview, Organisation, RegistryEntry, save
from ..text import clean
from .matching import Matcher, name_keys

CATEGORIES = {
    "mo": N_("Migrant organisation"),
    "organisation": N_("Other organisation"),
    "person": N_("Person"),
    "place": N_("Place"),
    "term": N_("Not a name"),
}
CODE_PREFIX = {"mo": "MO-", "organisation": "Organisation-", "person": "Person-", "place": "Ort-"}
NAMESPACE = uuid.UUID("8c4f0b0e-2f6d-4d6b-9a39-3c1f0e7a5d21")
MAX_NAME = 300


class RegistryError(UserError):
    message = N_("This change to the registry is not possible.")


def normal(name: str) -> str:
    """A name as the registry compares names: its word keys."""
    return " ".join(name_keys(name))


def entries(session: Session, include_merged: bool = False) -> list[RegistryEntry]:
    statement = select(RegistryEntry).where(RegistryEntry.deleted == False)  # noqa: E712
    if not include_merged:
        statement = statement.where(RegistryEntry.merged_into == None)  # noqa: E711
    return sorted(session.exec(statement), key=_order)


def _order(entry: RegistryEntry) -> tuple:
    """By category, then by the number in the code (Organisation-2 before Organisation-10), then name."""
    number = re.search(r"(\d+)$", entry.code or "")
    return (list(CATEGORIES).index(entry.category) if entry.category in CATEGORIES else 99,
            int(number.group(1)) if number else 0, entry.code, entry.name.casefold())


def spellings(entry: RegistryEntry) -> list[str]:
    return [entry.name, *entry.variants]


def matcher(session: Session) -> Matcher:
    """The automaton over every spelling of every live entry (terms included: they are found and kept)."""
    return Matcher((entry.id, spelling) for entry in entries(session) for spelling in spellings(entry))


def generation(session: Session) -> str:
    """Changes whenever the registry changes, so scans made with an older registry show as stale."""
    from sqlalchemy import func

    count, latest = session.exec(select(func.count(), func.max(RegistryEntry.updated_at))).one()
    return f"{count}:{latest}"


def register(session: Session, device_id: str, category: str, name: str, source: Optional[dict] = None,
             actor: str = "") -> Optional[RegistryEntry]:
    """The entry for a name, created with the next code of its category if no entry has this spelling."""
    name = clean(name or "").strip()[:MAX_NAME]
    if category not in CATEGORIES or not name or not name_keys(name):
        return None
    key = normal(name)
    found = _by_spelling(session).get(key)
    if found is None:
        entry_id = str(uuid.uuid5(NAMESPACE, f"{category}:{key}"))
        found = session.get(RegistryEntry, entry_id)
        if found is not None and (found.deleted or found.merged_into):
            found = _final(session, found)
    if found is not None:
        if source and source not in found.sources:
            found.sources = [*found.sources, source]
            save(session, device_id, found)
        return found
    entry = RegistryEntry(id=str(uuid.uuid5(NAMESPACE, f"{category}:{key}")), category=category, name=name,
                          code=next_code(session, category), keep=category == "term", sources=[source] if source else [])
    save(session, device_id, entry)
    _log(session, device_id, actor, "registry.add", entry, automatic=source is not None)
    _by_spelling(session)[key] = entry
    return entry


def add(session: Session, device_id: str, category: str, name: str, variants: Iterable[str] = (), keep: bool = False,
        actor: str = "") -> RegistryEntry:
    """A steward's entry, with its variants and abbreviations."""
    if category not in CATEGORIES:
        raise RegistryError(N_("Choose a category for the entry."))
    if not name_keys(clean(name or "")):
        raise RegistryError(N_("Give the name of the entry."))
    entry = register(session, device_id, category, name, actor=actor)
    for variant in variants:
        add_variant(session, device_id, entry, variant, actor=actor)
    if keep and not entry.keep:
        set_keep(session, device_id, entry, True, actor=actor)
    return entry


def add_variant(session: Session, device_id: str, entry: RegistryEntry, variant: str, actor: str = "") -> RegistryEntry:
    variant = clean(variant or "").strip()[:MAX_NAME]
    if not name_keys(variant):
        raise RegistryError(N_("Give the spelling to add."))
    owner = _by_spelling(session).get(normal(variant))
    if owner is not None and owner.id != entry.id:
        raise RegistryError(N_("“%(variant)s” already belongs to %(code)s."), variant=variant, code=owner.code or owner.name)
    if owner is None:
        entry.variants = [*entry.variants, variant]
        save(session, device_id, entry)
        _log(session, device_id, actor, "registry.variant", entry, variants=len(entry.variants))
        _by_spelling(session)[normal(variant)] = entry
    return entry


def merge(session: Session, device_id: str, keep_entry: RegistryEntry, other: RegistryEntry, actor: str = "") -> RegistryEntry:
    """One entity registered twice: `other`'s spellings and sources move to `keep_entry`, whose code stays."""
    if keep_entry.id == other.id or other.merged_into:
        raise RegistryError()
    keep_entry.variants = list(dict.fromkeys([*keep_entry.variants, *spellings(other)]))
    keep_entry.sources = [*keep_entry.sources, *(s for s in other.sources if s not in keep_entry.sources)]
    other.merged_into = keep_entry.id
    save(session, device_id, keep_entry)
    save(session, device_id, other)
    _log(session, device_id, actor, "registry.merge", keep_entry, merged=other.id, merged_code=other.code)
    _forget_spellings(session)
    return keep_entry


def rename_code(session: Session, device_id: str, entry: RegistryEntry, code: str, actor: str = "") -> RegistryEntry:
    code = (code or "").strip()
    if entry.category == "term" or not re.fullmatch(r"[\w.-]{1,40}", code):
        raise RegistryError(N_("A code is one word of letters, digits, dots and hyphens, e.g. MO-03."))
    taken = session.exec(select(RegistryEntry).where(RegistryEntry.code == code, RegistryEntry.id != entry.id,
                                                     RegistryEntry.deleted == False)).first()  # noqa: E712
    if taken is not None:
        raise RegistryError(N_("The code %(code)s is taken already."), code=code)
    old, entry.code = entry.code, code
    session.info.pop("registry_highest", None)
    save(session, device_id, entry)
    _log(session, device_id, actor, "registry.rename", entry, old_code=old)
    return entry


def set_keep(session: Session, device_id: str, entry: RegistryEntry, keep: bool, actor: str = "") -> RegistryEntry:
    """Keep an entity as it is in released texts (e.g. "Jugendamt", at the project's choice), or not."""
    entry.keep = keep or entry.category == "term"
    save(session, device_id, entry)
    _log(session, device_id, actor, "registry.keep" if entry.keep else "registry.replace", entry)
    return entry


def find(session: Session, query: str) -> list[RegistryEntry]:
    query = (query or "").strip().casefold()
    return [entry for entry in entries(session)
            if not query or query in entry.code.casefold() or any(query in s.casefold() for s in spellings(entry))]


def next_code(session: Session, category: str) -> str:
    """The next free code of a category (its highest number + 1), counted once per session."""
    prefix = CODE_PREFIX.get(category)
    if prefix is None:
        return ""
    highest = session.info.setdefault("registry_highest", {})
    if category not in highest:
        numbered = re.compile(re.escape(prefix) + "([0-9]+)")
        codes = session.exec(select(RegistryEntry.code).where(RegistryEntry.category == category))
        highest[category] = max((int(found[1]) for code in codes if (found := numbered.fullmatch(code))), default=0)
    highest[category] += 1
    number = highest[category]
    return f"{prefix}{number:02d}" if category == "mo" else f"{prefix}{number}"


def register_structured(session: Session, device_id: str) -> int:
    """Register every name held in a structured field: organisations and their cities, interviewers,
    consent-givers, network-map contacts. Returns how many entries are new."""
    from ..models import Alter

    before = len(_by_spelling(session))
    for organisation in session.exec(select(Organisation).where(Organisation.deleted == False)):  # noqa: E712
        entry = register(session, device_id, "mo", organisation.name, _source(organisation, "name"))
        if entry and organisation.pseudonym_code and entry.code != organisation.pseudonym_code and not _code_taken(
                session, organisation.pseudonym_code):
            entry.code = organisation.pseudonym_code  # the project's own code for the organisation
            session.info.pop("registry_highest", None)
            save(session, device_id, entry)
        register(session, device_id, "place", organisation.city, _source(organisation, "city"))
    for interview in session.exec(select(Interview).where(Interview.deleted == False)):  # noqa: E712
        register(session, device_id, "person", interview.interviewer, _source(interview, "interviewer"))
        register(session, device_id, "person", (interview.consent or {}).get("by"), _source(interview, "consent.by"))
    for alter in session.exec(select(Alter).where(Alter.deleted == False)):  # noqa: E712
        category = "mo" if alter.actor_type == "migrant_organisation" else "organisation"
        register(session, device_id, category, alter.label, _source(alter, "label"))
    return len(_by_spelling(session)) - before


def _source(record, field: str) -> dict:
    return {"type": record.__tablename__, "id": record.id, "field": field}


def _code_taken(session: Session, code: str) -> bool:
    return session.exec(select(RegistryEntry).where(RegistryEntry.code == code)).first() is not None


def _final(session: Session, entry: RegistryEntry) -> Optional[RegistryEntry]:
    """Follow merges to the entry that took this one over."""
    seen = set()
    while entry is not None and entry.merged_into and entry.id not in seen:
        seen.add(entry.id)
        entry = session.get(RegistryEntry, entry.merged_into)
    return None if entry is None or entry.deleted else entry


def _by_spelling(session: Session) -> dict[str, RegistryEntry]:
    """Every spelling's normal form → its live entry, cached on the session until the registry changes."""
    cached = session.info.get("registry_spellings")
    if cached is None:
        cached = {}
        for entry in entries(session):
            for spelling in spellings(entry):
                cached.setdefault(normal(spelling), entry)
        session.info["registry_spellings"] = cached
    return cached


def _forget_spellings(session: Session) -> None:
    session.info.pop("registry_spellings", None)


def _log(session: Session, device_id: str, actor: str, action: str, entry: RegistryEntry, **detail) -> None:
    # The audit log names the entry by id and code, never by the name it stands for.
    session.add(AuditEvent(action=action, actor=actor, origin_device=device_id,
                           detail={"entry": entry.id, "code": entry.code, "category": entry.category, **detail}))

"""What a record in a bundle may hold, derived from the models, checked after the signature and before
the merge transaction opens: a signed bundle from a broken or compromised laptop is still untrusted.

Every field must be a column of its record type, of that column's JSON type (a date or time as ISO
text), within its length, and JSON values nested no deeper than MAX_DEPTH. Ids are UUID-shaped and
version vectors map device ids to counters from 1 to 2^53.
"""
import datetime as dt
import math
import re
from functools import lru_cache
from typing import Union, get_args, get_origin

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, String

from .i18n import N_

MAX_TEXT = 2_000_000  # characters of a text field (a long transcript)
MAX_JSON = 1_000_000  # characters of a JSON field, serialised
MAX_DEPTH = 20
MAX_COUNTER = 2**53
MAX_DEVICES = 1000
ID = re.compile(r"[0-9a-fA-F-]{1,36}")


class BadRecord(Exception):
    """A record that breaks the rules: `message` says how (translatable), `field` where."""

    def __init__(self, message: str, field: str, **params):
        super().__init__(message)
        self.message, self.field, self.params = message, field, params


def check(kind: str, record_id, version, fields, model) -> None:
    """Raise BadRecord for the first thing wrong with one record of `model`'s table."""
    if not isinstance(record_id, str) or not ID.fullmatch(record_id):
        raise BadRecord(N_("the id is not a UUID"), "id")
    if not isinstance(version, dict) or not 0 < len(version) <= MAX_DEVICES:
        raise BadRecord(N_("the version vector is not an object of devices and counters"), "version")
    for device, counter in version.items():
        if not ID.fullmatch(device) or type(counter) is not int or not 0 < counter <= MAX_COUNTER:
            raise BadRecord(N_("the version vector is not an object of devices and counters"), "version")
    if not isinstance(fields, dict):
        raise BadRecord(N_("the fields are not an object"), "fields")
    rules = _rules(model)
    for name, value in fields.items():
        rule = rules.get(name)
        if rule is None:
            raise BadRecord(N_("no such field in a record of this kind"), name)
        _check_value(rule, name, value)


def _check_value(rule: tuple, name: str, value) -> None:
    kind, nullable, limit, container = rule
    if value is None:
        if not nullable:
            raise BadRecord(N_("must not be empty"), name)
        return
    if kind is bool and type(value) is not bool:
        raise BadRecord(N_("must be true or false"), name)
    if kind is int and (type(value) is not int or abs(value) > MAX_COUNTER):
        raise BadRecord(N_("must be a whole number"), name)
    if kind is float and (type(value) not in (int, float) or not math.isfinite(value)):
        raise BadRecord(N_("must be a number"), name)
    if kind is str and (not isinstance(value, str) or len(value) > limit):
        raise BadRecord(N_("must be text of at most %(limit)d characters"), name, limit=limit)
    if kind in (dt.date, dt.datetime):
        if not isinstance(value, str) or len(value) > 40:
            raise BadRecord(N_("must be a date or time as ISO 8601 text"), name)
        try:
            (dt.date if kind is dt.date else dt.datetime).fromisoformat(value)
        except ValueError as error:
            raise BadRecord(N_("must be a date or time as ISO 8601 text"), name) from error
    if kind is JSON:
        if container is not None and not isinstance(value, container):
            raise BadRecord(N_("must be a JSON object") if container is dict else N_("must be a JSON array (a list)"), name)
        if _depth(value) > MAX_DEPTH or len(repr(value)) > MAX_JSON:
            raise BadRecord(N_("is nested too deeply or too large"), name)


def _depth(value, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(item, level + 1) for item in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(item, level + 1) for item in value), default=level + 1)
    return level


@lru_cache(maxsize=None)
def _rules(model) -> dict:
    """column name → (kind, nullable, length limit, JSON container type) for every column but id and version."""
    rules = {}
    for column in model.__table__.columns:
        if column.name in ("id", "version"):
            continue
        annotation = model.model_fields[column.name].annotation
        container = _container(annotation)
        column_type = getattr(column.type, "impl", column.type)  # SQLModel's types decorate SQLAlchemy's
        if isinstance(column_type, JSON):
            kind = JSON
        elif isinstance(column_type, Boolean):
            kind = bool
        elif isinstance(column_type, DateTime):
            kind = dt.datetime
        elif isinstance(column_type, Date):
            kind = dt.date
        elif isinstance(column_type, Float):
            kind = float
        elif isinstance(column_type, Integer):
            kind = int
        elif isinstance(column_type, String):
            kind = str
        else:  # a type this check does not know: refuse rather than trust
            kind = type(None)
        limit = getattr(column_type, "length", None) or MAX_TEXT
        rules[column.name] = (kind, bool(column.nullable), limit, container)
    return rules


def _container(annotation):
    if get_origin(annotation) is Union:
        annotation = next((arg for arg in get_args(annotation) if arg is not type(None)), annotation)
    return annotation if annotation in (dict, list) else None

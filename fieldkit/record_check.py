"""What a record in a bundle may hold, derived from the models, checked after the signature and before
the merge transaction opens: a signed bundle from a broken or compromised laptop is still untrusted.

Every field must be a column of its record type, of that column's JSON type (a date or time as ISO
text, within years 1000–9000), within its length; a JSON column must have the shape its model
annotation gives (pydantic, strict, no keys beyond the shape's own), nested no deeper than MAX_DEPTH;
a few fields take only known values (RULES). Ids are UUID-shaped and version vectors map device ids to counters from 1 to 2^53.
"""
import datetime as dt
import json
import re
from functools import lru_cache

import orjson
import pydantic
from pydantic import AfterValidator, ConfigDict, StringConstraints
from pydantic.types import FailFast
from typing_extensions import (Annotated, Literal, NotRequired, Optional, Required, TypedDict, Union, get_args,
                               get_origin, is_typeddict)
from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, String

from .i18n import N_

MAX_TEXT = 2_000_000  # characters of a text field (a long transcript)
MAX_JSON = 1_000_000  # bytes of a JSON field, serialised as UTF-8
MAX_DEPTH = 20
MAX_ELEMENTS = 100_000  # entries of the objects and lists of one JSON field; a whole map copied is ~10,000
MAX_COUNTER = 2**53
MAX_DEVICES = 1000
ID = re.compile(r"[0-9a-fA-F-]{1,36}")
MAX_NUMBER = 1e12  # of a float column; coordinates and scores are far smaller


class _OneOf:
    def __init__(self, *choices):
        self.choices = choices

    def __call__(self, value) -> bool:
        return value in self.choices


class _Within:
    def __init__(self, low: float, high: float):
        self.low, self.high = low, high

    def __call__(self, value) -> bool:
        return self.low <= value <= self.high


class _Matches:
    def __init__(self, pattern: str):
        self.pattern = re.compile(pattern)

    def __call__(self, value) -> bool:
        return self.pattern.fullmatch(value) is not None


def _rules_beyond_types() -> dict:
    """(table, column) → a test the value must pass, for values that pages and exports look up or
    compute with (a tie type names its style, a coordinate is drawn, a version is compared)."""
    from .audio import IMPORTED_TYPES, MAX_RECORDING_MS, MAX_SIZE, RECORDED_TYPES
    from .maps import UNDOABLE
    from .network import DIRECTIONS
    from .vocabulary import TIE_TYPES

    return {
        ("map_event", "action"): _OneOf("create", "clone", "undo", "redo", *UNDOABLE),
        ("network_tie", "type"): _OneOf(*TIE_TYPES),
        ("network_tie", "direction"): _OneOf(*DIRECTIONS),
        ("network_alter", "x"): _Within(-1.0, 1.0),  # the map's outer edge is at radius 1
        ("network_alter", "y"): _Within(-1.0, 1.0),
        ("guide", "guide_version"): _Matches(r"[0-9]{1,6}(\.[0-9]{1,6}){0,3}"),
        ("recording", "kind"): _OneOf("recorded", "imported"),
        ("recording", "status"): _OneOf("recording", "paused", "finished"),
        ("recording", "mime"): _OneOf(*RECORDED_TYPES, *IMPORTED_TYPES),
        ("recording", "size"): _Within(0, MAX_SIZE),
        ("recording", "duration_ms"): _Within(0, MAX_RECORDING_MS),
        ("registry_entry", "code"): _Matches(r"([^\W\d_]+(-[^\W\d_]+)*-[0-9]{1,6})?"),  # "Person-12"; empty for terms
    }


class BadRecord(Exception):
    """A record that breaks the rules: `message` says how (translatable), `field` where."""

    def __init__(self, message: str, field: str, **params):
        super().__init__(message)
        self.message, self.field, self.params = message, field, params


def check_identity(record_id, version, fields) -> None:
    """Raise BadRecord for the first thing wrong with what deciding whether a record changes anything
    reads: its id, its version vector, its fields' container (check_fields checks the fields)."""
    if not isinstance(record_id, str) or not ID.fullmatch(record_id):
        raise BadRecord(N_("the id is not a UUID"), "id")
    if not isinstance(version, dict) or not 0 < len(version) <= MAX_DEVICES:
        raise BadRecord(N_("the version vector is not an object of devices and counters"), "version")
    for device, counter in version.items():
        if not ID.fullmatch(device) or type(counter) is not int or not 0 < counter <= MAX_COUNTER:
            raise BadRecord(N_("the version vector is not an object of devices and counters"), "version")
    if not isinstance(fields, dict):
        raise BadRecord(N_("the fields are not an object"), "fields")


def check_fields(model, fields: dict, prefix: str = "") -> None:
    checkers = _checkers(model)
    for name, value in fields.items():
        checker = checkers.get(name)
        if checker is None:
            raise BadRecord(N_("no such field in a record of this kind"), prefix + name)
        problem = checker(value)
        if problem:
            raise BadRecord(problem[0], prefix + name + problem[1], **problem[2])
    if model.__tablename__ == "map_event" and isinstance(fields.get("payload"), dict):
        _check_steps(fields["payload"], prefix)
    if model.__tablename__ == "recording":
        _check_spans(fields.get("spans") or [], prefix)


def _check_spans(spans: list, prefix: str) -> None:
    """A recording's spans are compared with the times of notes: each must name a time and a place in
    the recording."""
    moment = _checker(dt.datetime, False, 40, None, None)
    for number, span in enumerate(spans):
        if moment(span["at"]) or dt.datetime.fromisoformat(span["at"]).tzinfo is None or not 0 <= span["ms"] <= MAX_COUNTER:
            raise BadRecord(N_("must be a time as ISO 8601 text with its offset from UTC"), f"{prefix}spans[{number}]")


def _check_steps(payload: dict, prefix: str) -> None:
    """A map event's steps are written to contacts and ties on undo and redo: each put must be a
    complete, valid contact or tie."""
    from .maps import ALTER_FIELDS, TIE_FIELDS
    from .models import Alter, Tie

    for direction in ("forward", "backward"):
        for number, step in enumerate(payload.get(direction, ())):
            if "put" not in step:
                continue
            model, needed = (Alter, ALTER_FIELDS) if step["put"] == "alter" else (Tie, TIE_FIELDS)
            record, where = step["record"], f"{prefix}payload.{direction}[{number}]."
            if set(record) != {"id", *needed} or not isinstance(record["id"], str) or not ID.fullmatch(record["id"]):
                raise BadRecord(N_("is not a complete contact or tie"), where + "record")
            check_fields(model, {key: record[key] for key in needed}, where)


# A checker takes a value and returns None, or (message, where inside the field, message parameters).
_FINE = None


def _checker(kind, nullable: bool, limit: int, shape, test):
    """The check of one column, built once: a merge runs it on every field of every record, so each
    check handles an empty value itself and asks `test` only where the column has one."""
    empty = _FINE if nullable else (N_("must not be empty"), "", {})
    unknown = (N_("is not one of the values fieldkit knows here"), "", {})

    def text(value):
        if type(value) is str and len(value) <= limit:
            return _FINE if test is None or test(value) else unknown
        return empty if value is None else (N_("must be text of at most %(limit)d characters"), "", {"limit": limit})

    def whole(value):
        if value is None:
            return empty
        if type(value) is not int or abs(value) > MAX_COUNTER:
            return N_("must be a whole number"), "", {}
        return _FINE if test is None or test(value) else unknown

    def number(value):  # NaN and a 400-digit integer fail the comparison too
        if value is None:
            return empty
        if type(value) not in (int, float) or not -MAX_NUMBER <= value <= MAX_NUMBER:
            return N_("must be a number"), "", {}
        return _FINE if test is None or test(value) else unknown

    def flag(value):
        return _FINE if type(value) is bool else empty if value is None else (N_("must be true or false"), "", {})

    def moment(value):
        if value is None:
            return empty
        if not isinstance(value, str) or len(value) > 40:
            return N_("must be a date or time as ISO 8601 text"), "", {}
        try:
            parsed = (dt.date if kind is dt.date else dt.datetime).fromisoformat(value)
        except ValueError:
            return N_("must be a date or time as ISO 8601 text"), "", {}
        if not 1000 <= parsed.year <= 9000:  # far from the ends, where moving to UTC overflows
            return N_("must be a date or time as ISO 8601 text"), "", {}
        return _FINE

    def structure(value):
        if value is None:
            return empty
        depth, elements = _extent(value)
        if depth > MAX_DEPTH or elements > MAX_ELEMENTS or _serialised_length(value) > MAX_JSON:  # serialising recurses
            return N_("is nested too deeply or too large"), "", {}
        try:
            shape.validate_python(value, strict=True)
        except pydantic.ValidationError as error:
            where = ".".join(str(part) for part in error.errors()[0]["loc"])
            return N_("does not have the shape of this field"), f".{where}" if where else "", {}
        return _FINE

    return {str: text, int: whole, float: number, bool: flag, dt.date: moment, dt.datetime: moment,
            JSON: structure}.get(kind, lambda value: empty if value is None else (N_("does not have the shape of this field"), "", {}))


def _serialised_length(value) -> int:
    """Bytes of a JSON value serialised as UTF-8 (by orjson, in C; by the standard library, ASCII-escaped,
    for an integer beyond 64 bits, which orjson does not write)."""
    try:
        return len(orjson.dumps(value))
    except TypeError:
        return len(json.dumps(value))


def _extent(value) -> tuple[int, int]:
    """How deep lists and objects nest and how many entries they hold, counted level by level (so that
    only containers are visited one by one) and no further than just past MAX_DEPTH or MAX_ELEMENTS:
    a merge runs this on every JSON field of the records it checks in Python."""
    level, elements, layer = 0, 0, [value] if isinstance(value, (dict, list)) else []
    while layer and level <= MAX_DEPTH and elements <= MAX_ELEMENTS:
        level += 1
        children = []
        for container in layer:
            children.extend(container.values() if isinstance(container, dict) else container)
        elements += len(children)
        layer = [child for child in children if isinstance(child, (dict, list))]
    return level, elements


def _columns(model):
    """(name, kind, nullable, limit, JSON annotation, rule) of every column but id and version."""
    kinds = ((JSON, JSON), (Boolean, bool), (DateTime, dt.datetime), (Date, dt.date), (Float, float),
             (Integer, int), (String, str))
    for column in model.__table__.columns:
        if column.name in ("id", "version"):
            continue
        column_type = getattr(column.type, "impl", column.type)  # SQLModel's types decorate SQLAlchemy's
        # a type this check does not know is refused rather than trusted
        kind = next((kind for sql_type, kind in kinds if isinstance(column_type, sql_type)), type(None))
        annotation = model.model_fields[column.name].annotation if kind is JSON else None
        yield (column.name, kind, bool(column.nullable), getattr(column_type, "length", None) or MAX_TEXT,
               annotation, _RULES.get((model.__tablename__, column.name)))


@lru_cache(maxsize=None)
def _checkers(model) -> dict:
    """column name → its checker, for every column but id and version."""
    return {name: _checker(kind, nullable, limit, pydantic.TypeAdapter(_fail_fast(annotation)) if kind is JSON else None,
                           rule) for name, kind, nullable, limit, annotation, rule in _columns(model)}


_RULES = _rules_beyond_types()


# The same rules compiled, for whole bundles. Checked field by field in Python, the rules were most of a
# merge's time (tens of thousands of records); here each record kind's rules become one pydantic-core
# validator, and a bundle's records of a kind pass it in one call. It may refuse what the rules allow
# (a date on 29 February, a time with another offset than UTC's, a recording):
# a refusal only sends the bundle through the rules above, which decide and say what is wrong. It never
# accepts what they refuse (tests/test_record_check.py compares the two).

_DATE = (r"[1-8][0-9]{3}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
         r"|02-(?:0[1-9]|1[0-9]|2[0-8]))")
_TIME = _DATE + r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{6})?(?:\+00:00)?"  # as fieldkit writes them
# A validator collects every error it meets: a list of a million bad items would cost gigabytes. The
# compiled checks therefore see only records up to this size (larger ones, long transcripts say, go to
# check_fields), and every list of theirs stops at its first bad item.
COMPILED_LIMIT = 64 * 1024


class _FailFastMark(FailFast):
    __hash__ = object.__hash__  # typing's Union hashes its members' metadata; pydantic's mark is a plain dataclass


_FAIL_FAST = _FailFastMark()
_Id = Annotated[str, StringConstraints(pattern=f"^{ID.pattern}$")]
_STRICT = ConfigDict(extra="forbid", strict=True)
_IDENTITIES = pydantic.TypeAdapter(tuple[Annotated[list[_Id], _FAIL_FAST], Annotated[list[Annotated[
    dict[_Id, Annotated[int, pydantic.Field(gt=0, le=MAX_COUNTER)]], pydantic.Field(min_length=1, max_length=MAX_DEVICES)]],
    _FAIL_FAST]])


def identities_fine(ids: list, versions: list, fields: list) -> bool:
    """True if every record's id, version vector and fields' container pass check_identity (False: let
    check_identity decide)."""
    if not all(type(version) is dict and len(version) <= MAX_DEVICES for version in versions):
        return False  # before the validator meets a vector of a million devices
    try:
        _IDENTITIES.validate_python((ids, versions), strict=True)
    except pydantic.ValidationError:
        return False
    return all(map(isinstance, fields, [dict] * len(fields)))


def records_fine(model, fields: list) -> bool:
    """True if the fields of every record of this kind pass check_fields (False: let check_fields decide).
    Records larger than COMPILED_LIMIT are checked by check_fields here, one by one."""
    validator = _compiled(model)
    if validator is None:
        return False
    try:
        sizes = list(map(len, map(orjson.dumps, fields)))
    except TypeError:  # orjson's, for an integer beyond 64 bits
        return False
    small = [record for record, size in zip(fields, sizes) if size <= COMPILED_LIMIT]
    try:
        validator.validate_python(small, strict=True)  # their JSON fields are far within MAX_JSON
    except pydantic.ValidationError:
        return False
    try:
        for record, size in zip(fields, sizes):
            if size > COMPILED_LIMIT:
                check_fields(model, record)
    except BadRecord:
        return False
    return True


@lru_cache(maxsize=None)
def _compiled(model):
    """One validator for a list of this kind's fields, or None where some rule has no compiled form (a
    recording's spans; a shape that does not bound how deep a value nests)."""
    if model.__tablename__ == "recording":
        return None
    columns = {}
    for name, kind, nullable, limit, annotation, rule in _columns(model):
        if (model.__tablename__, name) == ("map_event", "payload"):
            annotation = _map_event_payload()
        shape = _column_shape(kind, nullable, limit, annotation, rule)
        if kind is JSON and not _bounded(shape):
            return None
        if shape is not None:  # a column nothing passes stays out: extra fields are refused
            columns[name] = shape
    shape = TypedDict(f"{model.__name__}Fields", columns, total=False)
    shape.__pydantic_config__ = _STRICT
    return pydantic.TypeAdapter(Annotated[list[shape], _FAIL_FAST])


def _column_shape(kind, nullable: bool, limit: int, annotation, rule):
    """The compiled form of one column's values (None where no value passes)."""
    if kind is JSON:
        shape = _fail_fast(annotation)
    elif kind is type(None):  # a type the checks do not know: only an empty value, where allowed
        shape = None
    else:
        shape = _scalar(kind, limit, rule)
    if not nullable:
        return shape
    return Optional[shape] if shape is not None else type(None)


def _scalar(kind, limit: int, rule):
    """The compiled form of a text, number, flag, date or time column with its rule."""
    if kind is str:
        if isinstance(rule, _OneOf):
            return Literal[tuple(choice for choice in rule.choices if isinstance(choice, str) and len(choice) <= limit)]
        text = Annotated[str, StringConstraints(max_length=limit)]
        return Annotated[text, AfterValidator(_passing(rule))] if rule else text
    if kind in (int, float):
        low, high = (-MAX_COUNTER, MAX_COUNTER) if kind is int else (-MAX_NUMBER, MAX_NUMBER)
        if isinstance(rule, _Within):
            low, high = max(low, rule.low), min(high, rule.high)
        return Annotated[kind, pydantic.Field(ge=low, le=high, allow_inf_nan=False) if kind is float
                         else pydantic.Field(ge=low, le=high)]
    if kind is bool:
        return bool
    return Annotated[str, StringConstraints(pattern=f"^{_TIME if kind is dt.datetime else _DATE}$")]


def _passing(rule):
    def check(value):
        if not rule(value):
            raise ValueError("not allowed")
        return value
    return check


def _map_event_payload():
    """A map event's payload with its steps' records as complete contacts or ties (what _check_steps asks)."""
    from .maps import ALTER_FIELDS, TIE_FIELDS
    from .models import Alter, MapEventPayload, RemoveStep, Tie

    def put(kind: str, model, needed):
        shapes = {name: _column_shape(*column) for name, *column in _columns(model) if name in needed}
        columns = {name: shape for name, shape in shapes.items() if shape is not None}  # the others refused
        record = TypedDict(f"Put{model.__name__}", {"id": _Id, **columns})
        record.__pydantic_config__ = _STRICT
        step = TypedDict(f"Put{model.__name__}Step", {"put": Literal[kind], "record": record})
        step.__pydantic_config__ = _STRICT
        return step

    alter, tie = put("alter", Alter, ALTER_FIELDS), put("tie", Tie, TIE_FIELDS)
    steps = Annotated[list[Union[alter, tie, RemoveStep]], _FAIL_FAST]
    shape = TypedDict("MapEventPayloadSteps", {**MapEventPayload.__annotations__, "forward": steps, "backward": steps},
                      total=False)
    shape.__pydantic_config__ = _STRICT
    return shape


def _bounded(annotation) -> bool:
    """Whether a shape bounds how deep a value nests: built only of text, numbers, flags, None, literals,
    typed dicts, and lists, dicts and unions of such (no Any, no bare containers, no forward references,
    which could make a shape recursive)."""
    if annotation in (str, int, float, bool, type(None)):
        return True
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return True
    if origin is Annotated:
        return _bounded(arguments[0])
    if origin in (Required, NotRequired):
        return _bounded(arguments[0])
    if origin in (list, dict, Union):
        return bool(arguments) and all(_bounded(argument) for argument in arguments)
    if is_typeddict(annotation):
        return all(_bounded(hint) for hint in annotation.__annotations__.values())
    return False


def _fail_fast(annotation):
    """The same shape with every list stopping at its first bad item."""
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is list:
        return Annotated[list[_fail_fast(arguments[0])], _FAIL_FAST]
    if origin is dict:
        return dict[arguments[0], _fail_fast(arguments[1])]
    if origin is Union:
        return Union[tuple(_fail_fast(argument) for argument in arguments)]
    if is_typeddict(annotation):
        fields = {name: (Required if name in annotation.__required_keys__ else NotRequired)[_fail_fast(_unwrapped(hint))]
                  for name, hint in annotation.__annotations__.items()}
        shape = TypedDict(annotation.__name__, fields)
        shape.__pydantic_config__ = getattr(annotation, "__pydantic_config__", {})
        return shape
    return annotation


def _unwrapped(hint):
    return get_args(hint)[0] if get_origin(hint) in (Required, NotRequired) else hint

"""Interview guides as data: YAML files validated on load, with the line of every mistake.

A guide has an id, a version, its languages, and sections of questions with probes (follow-up
prompts) and an optional "covers" checklist. Every text is given in every declared language.
A question's key is "<section id>.<question id>", which answers refer to.
"""
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml
from sqlmodel import Session, select
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import UserError
from .i18n import N_
from .models import GuideVersion, save

BUILTIN_DIR = Path(__file__).parent / "guides"


class GuideError(UserError):
    """A guide file is not valid; `line` is 1-based (None: the whole file)."""

    def __init__(self, message: str, line: Optional[int] = None, **params):
        super().__init__(message, **params)
        self.line = line


@dataclass(frozen=True)
class Text:
    """One text in each of the guide's languages."""

    translations: dict

    def __call__(self, locale: str) -> str:
        return self.translations.get(locale) or next(iter(self.translations.values()))


ANSWER_TYPES = ("text", "scale", "single", "multiple", "number", "date", "list")
MAX_LIST_ITEMS, MAX_ITEM_CHARS = 100, 500


@dataclass(frozen=True)
class Option:
    id: str
    label: Text


@dataclass(frozen=True)
class Condition:
    """Show a question only once an earlier one is answered (`equals` None), or answered with this value
    (an option's id, or the value as written)."""

    question: str
    equals: Optional[str] = None

    def holds(self, values: dict) -> bool:
        value = values.get(self.question)
        if value in (None, "", []):
            return False
        if self.equals is None:
            return True
        return self.equals in value if isinstance(value, list) else str(value) == self.equals


@dataclass(frozen=True)
class Question:
    """A question: notes always; beyond them, an answer of its type (a point on a scale, one or several
    options, a number, a date, a list of items)."""

    key: str  # section id + "." + question id
    text: Text
    probes: tuple[Text, ...]
    type: str = "text"
    options: tuple[Option, ...] = ()
    scale: tuple[int, int] = (1, 5)
    scale_labels: tuple[tuple[int, Text], ...] = ()
    show_if: Optional[Condition] = None

    def value_of(self, raw):
        """The answer's value checked for this type ("12,5" → 12.5, "" → None); AnswerValueError says why not."""
        if raw in (None, "", []):
            return None
        if self.type == "scale":
            number = _whole(raw)
            if number is None or not self.scale[0] <= number <= self.scale[1]:
                raise AnswerValueError(N_("Choose a point from %(low)s to %(high)s."), low=self.scale[0], high=self.scale[1])
            return number
        if self.type in ("single", "multiple"):
            chosen = [raw] if isinstance(raw, str) else raw
            known = {option.id for option in self.options}
            if not isinstance(chosen, list) or not all(isinstance(c, str) and c in known for c in chosen):
                raise AnswerValueError(N_("Choose from the answers offered."))
            if self.type == "single":
                if len(chosen) != 1:
                    raise AnswerValueError(N_("Choose one answer."))
                return chosen[0]
            return [option.id for option in self.options if option.id in chosen]  # in the guide's order, once each
        if self.type == "number":
            return _number(raw)
        if self.type == "date":
            return _date(raw)
        if self.type == "list":
            items = raw.splitlines() if isinstance(raw, str) else raw
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                raise AnswerValueError(N_("Write one item per line."))
            items = [" ".join(item.split()) for item in items if item.strip()]
            if len(items) > MAX_LIST_ITEMS or any(len(item) > MAX_ITEM_CHARS for item in items):
                raise AnswerValueError(N_("At most %(items)s items of at most %(chars)s characters each."),
                                       items=MAX_LIST_ITEMS, chars=MAX_ITEM_CHARS)
            return items or None
        raise AnswerValueError(N_("This question takes notes only."))


class AnswerValueError(UserError):
    message = N_("This answer does not fit the question.")


def _whole(raw):
    try:
        number = int(str(raw).strip()) if not isinstance(raw, bool) else None
    except ValueError:
        return None
    return number


def _number(raw):
    """A number as people write it: "12", "12,5", "1.250" is not guessed (a German thousands point)."""
    import math

    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise AnswerValueError(N_("Enter a number, e.g. 12 or 12,5."))
    text = str(raw).strip().replace(",", ".") if isinstance(raw, str) else raw
    try:
        number = float(text)
    except ValueError:
        raise AnswerValueError(N_("Enter a number, e.g. 12 or 12,5.")) from None
    if not math.isfinite(number) or abs(number) > 1e12:
        raise AnswerValueError(N_("Enter a number, e.g. 12 or 12,5."))
    return int(number) if number.is_integer() else number


def _date(raw) -> str:
    import datetime as dt

    try:
        return dt.date.fromisoformat(str(raw).strip()).isoformat()
    except ValueError:
        raise AnswerValueError(N_("Enter a date, e.g. 2026-12-04.")) from None


@dataclass(frozen=True)
class CoverItem:
    id: str
    label: Text


@dataclass(frozen=True)
class Section:
    id: str
    title: Text
    questions: tuple[Question, ...]
    covers: tuple[CoverItem, ...]


@dataclass(frozen=True)
class Guide:
    id: str
    version: str
    languages: tuple[str, ...]
    title: Text
    sections: tuple[Section, ...]
    network_map: Optional[dict] = None  # the project's rings and sectors for new maps (maps.config_of format)

    def section(self, section_id: str) -> Optional[Section]:
        return next((s for s in self.sections if s.id == section_id), None)

    def question(self, key: str) -> Optional[Question]:
        return next((q for s in self.sections for q in s.questions if q.key == key), None)

    def section_of(self, key: str) -> Optional[Section]:
        return next((s for s in self.sections if any(q.key == key for q in s.questions)), None)

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(q for s in self.sections for q in s.questions)


MAX_GUIDE_BYTES = 1024 * 1024
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the same events and marks, ten times faster
MAX_NESTING = 32  # a guide is sections → questions → texts: a few levels


def decode(data: bytes) -> str:
    """A guide file's text: UTF-8 (with or without a byte order mark), or a GuideError that says what it is."""
    if len(data) > MAX_GUIDE_BYTES:
        raise GuideError(N_("The guide file is larger than 1 MB; a guide is a short text file."))
    if b"\x00" in data:
        raise GuideError(N_("This is not a guide: the file is not text (YAML)."))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise GuideError(N_("The guide file must be UTF-8 text; save it as UTF-8 and load it again."), error.start and
                         data[:error.start].count(b"\n") + 1) from error


def parse_guide(source: str) -> Guide:
    """Parse and validate a guide's YAML text; GuideError names the line of the first mistake."""
    from . import untrusted

    if untrusted.depth(source.encode("utf-8", "surrogatepass")) > MAX_NESTING:
        raise GuideError(N_("The guide is nested too deeply ([ and { within each other) to be a guide."))
    try:
        for event in yaml.parse(source, Loader=YAML_LOADER):
            if isinstance(event, yaml.AliasEvent):  # aliases can multiply a small file into a huge one
                raise GuideError(N_("Guides may not use YAML anchors and aliases (& and *)."), event.start_mark.line + 1)
        root = yaml.compose(source, Loader=YAML_LOADER)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else None
        raise GuideError(N_("This is not valid YAML: %(problem)s"), line, problem=error.problem) from error
    except (yaml.YAMLError, RecursionError) as error:
        raise GuideError(N_("This is not valid YAML: %(problem)s"), problem=str(error).splitlines()[0][:200]) from error
    if root is None:
        raise GuideError(N_("The guide file is empty."))
    return _Reader().guide(root)


def builtin_guide_sources() -> list[str]:
    """The guides shipped with fieldkit, as YAML text."""
    return [path.read_text(encoding="utf-8") for path in sorted(BUILTIN_DIR.glob("*.yaml"))]


class _Reader:
    """Walks the composed YAML nodes, so every error can point at its line."""

    def guide(self, node: Node) -> Guide:
        fields = self._mapping(node, required=("id", "version", "languages", "title", "sections"), optional=("network_map",))
        languages = tuple(self._scalar(item) for item in self._sequence(fields["languages"]))
        if not languages:
            raise GuideError(N_("'languages' must list at least one language."), _line(fields["languages"]))
        self.languages, self.questions = languages, {}
        sections = tuple(self._section(item) for item in self._sequence(fields["sections"], non_empty=True))
        self._unique([s.id for s in sections], fields["sections"], N_("Section id '%(id)s' is used twice."))
        network_map = self._network_map(fields["network_map"]) if "network_map" in fields else None
        return Guide(self._identifier(fields["id"]), self._scalar(fields["version"]), languages,
                     self._text(fields["title"]), sections, network_map)

    def _network_map(self, node: Node) -> dict:
        """The project's rings (inside out) and sectors (clockwise from twelve) for its network maps."""
        from .network import SYMBOL_PATHS

        fields = self._mapping(node, required=("rings", "sectors"))
        rings = [{"label": self._text(item).translations} for item in self._sequence(fields["rings"])]
        if not 2 <= len(rings) <= 8:
            raise GuideError(N_("A network map needs 2 to 8 rings."), _line(fields["rings"]))
        sectors = []
        for item in self._sequence(fields["sectors"]):
            sector = self._mapping(item, required=("id", "label", "colour", "symbol"))
            colour, symbol = self._scalar(sector["colour"]), self._scalar(sector["symbol"])
            if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
                raise GuideError(N_("Colours are written #rrggbb, e.g. #0072b2."), _line(sector["colour"]))
            if symbol not in SYMBOL_PATHS:
                raise GuideError(N_("Symbols are: %(symbols)s."), _line(sector["symbol"]), symbols=", ".join(SYMBOL_PATHS))
            sectors.append({"id": self._identifier(sector["id"]), "label": self._text(sector["label"]).translations,
                            "colour": colour, "symbol": symbol})
        if not 2 <= len(sectors) <= 12:
            raise GuideError(N_("A network map needs 2 to 12 sectors."), _line(fields["sectors"]))
        self._unique([s["id"] for s in sectors], fields["sectors"], N_("Sector id '%(id)s' is used twice."))
        return {"rings": rings, "sectors": sectors}

    def _section(self, node: Node) -> Section:
        fields = self._mapping(node, required=("id", "title", "questions"), optional=("covers",))
        section_id = self._identifier(fields["id"])
        questions = tuple(self._question(section_id, item)
                          for item in self._sequence(fields["questions"], non_empty=True))
        self._unique([q.key for q in questions], fields["questions"], N_("Question id '%(id)s' is used twice."))
        covers = tuple(self._cover(item) for item in self._sequence(fields["covers"])) if "covers" in fields else ()
        self._unique([c.id for c in covers], node, N_("Checklist id '%(id)s' is used twice."))
        return Section(section_id, self._text(fields["title"]), questions, covers)

    def _question(self, section_id: str, node: Node) -> Question:
        fields = self._mapping(node, required=("id", "text"), optional=("probes", "type", "options", "scale", "show_if"))
        probes = tuple(self._text(p) for p in self._sequence(fields["probes"])) if "probes" in fields else ()
        kind = self._scalar(fields["type"]) if "type" in fields else "text"
        if kind not in ANSWER_TYPES:
            raise GuideError(N_("Answer types are: %(types)s."), _line(fields["type"]), types=", ".join(ANSWER_TYPES))
        options = ()
        if kind in ("single", "multiple"):
            if "options" not in fields:
                raise GuideError(N_("A choice question needs 'options'."), _line(node))
            options = tuple(self._option(item) for item in self._sequence(fields["options"], non_empty=True))
            self._unique([o.id for o in options], fields["options"], N_("Option id '%(id)s' is used twice."))
        elif "options" in fields:
            raise GuideError(N_("Only choice questions (single, multiple) have 'options'."), _line(fields["options"]))
        scale, labels = (1, 5), ()
        if "scale" in fields:
            if kind != "scale":
                raise GuideError(N_("Only scale questions have 'scale'."), _line(fields["scale"]))
            scale, labels = self._scale(fields["scale"])
        key = f"{section_id}.{self._identifier(fields['id'])}"
        show_if = self._condition(section_id, fields["show_if"]) if "show_if" in fields else None
        question = Question(key, self._text(fields["text"]), probes, kind, options, scale, labels, show_if)
        self.questions[key] = question
        return question

    def _option(self, node: Node) -> Option:
        fields = self._mapping(node, required=("id", "label"))
        return Option(self._identifier(fields["id"]), self._text(fields["label"]))

    def _scale(self, node: Node) -> tuple:
        fields = self._mapping(node, required=("min", "max"), optional=("labels",))
        low, high = _whole(self._scalar(fields["min"])), _whole(self._scalar(fields["max"]))
        for bound, bad in ((fields["min"], low is None or not 0 <= low < 10),
                           (fields["max"], high is None or low is None or not low < high <= 10)):
            if bad:
                raise GuideError(N_("A scale runs from a whole number to a larger one, within 0 to 10."), _line(bound))
        labels = []
        if "labels" in fields:
            if not isinstance(fields["labels"], MappingNode):
                raise GuideError(N_("Expected a mapping with the keys: %(keys)s."), _line(fields["labels"]), keys=f"{low} … {high}")
            for key_node, value_node in fields["labels"].value:
                point = _whole(self._scalar(key_node))
                if point is None or not low <= point <= high:
                    raise GuideError(N_("A scale label belongs to a point from %(low)s to %(high)s."), _line(key_node), low=low, high=high)
                labels.append((point, self._text(value_node)))
        return (low, high), tuple(sorted(labels, key=lambda pair: pair[0]))

    def _condition(self, section_id: str, node: Node) -> Condition:
        """show_if names an earlier question (its id in this section, or section.question)."""
        fields = self._mapping(node, required=("question",), optional=("equals",))
        name = self._scalar(fields["question"])
        key = name if "." in name else f"{section_id}.{name}"
        earlier = self.questions.get(key)
        if earlier is None:
            raise GuideError(N_("'show_if' must name an earlier question: '%(id)s' is not one."), _line(fields["question"]), id=name)
        equals = self._scalar(fields["equals"]) if "equals" in fields else None
        if equals is not None and earlier.options and equals not in {o.id for o in earlier.options}:
            raise GuideError(N_("'%(value)s' is not an option of '%(id)s'."), _line(fields["equals"]), value=equals, id=name)
        return Condition(key, equals)

    def _cover(self, node: Node) -> CoverItem:
        fields = self._mapping(node, required=("id", "label"))
        return CoverItem(self._identifier(fields["id"]), self._text(fields["label"]))

    def _text(self, node: Node) -> Text:
        fields = self._mapping(node, required=self.languages)
        return Text({language: self._scalar(fields[language]) for language in self.languages})

    def _mapping(self, node: Node, required=(), optional=()) -> dict:
        if not isinstance(node, MappingNode):
            raise GuideError(N_("Expected a mapping with the keys: %(keys)s."), _line(node), keys=", ".join(required))
        fields = {}
        for key_node, value_node in node.value:
            key = self._scalar(key_node)
            if key not in required and key not in optional:
                raise GuideError(N_("Unknown key '%(key)s'."), _line(key_node), key=key)
            if key in fields:
                raise GuideError(N_("Key '%(key)s' appears twice."), _line(key_node), key=key)
            fields[key] = value_node
        missing = [key for key in required if key not in fields]
        if missing:
            raise GuideError(N_("Missing key '%(key)s'."), _line(node), key=missing[0])
        return fields

    @staticmethod
    def _sequence(node: Node, non_empty: bool = False) -> list:
        if not isinstance(node, SequenceNode):
            raise GuideError(N_("Expected a list here."), _line(node))
        if non_empty and not node.value:
            raise GuideError(N_("This list must not be empty."), _line(node))
        return node.value

    @staticmethod
    def _scalar(node: Node) -> str:
        if not isinstance(node, ScalarNode) or not str(node.value).strip():
            raise GuideError(N_("Expected a non-empty text here."), _line(node))
        return str(node.value).strip()

    def _identifier(self, node: Node) -> str:
        value = self._scalar(node)
        if not value.replace("_", "").replace("-", "").isalnum() or not value.isascii():
            raise GuideError(N_("Ids may contain only letters, digits, '-' and '_': '%(id)s'."), _line(node), id=value)
        return value

    @staticmethod
    def _unique(values: list, node: Node, message: str) -> None:
        seen = set()
        for value in values:
            if value in seen:
                raise GuideError(message, _line(node), id=value.rsplit(".", 1)[-1])
            seen.add(value)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


GUIDE_NAMESPACE = uuid.UUID("6f1c1d2e-4b7a-4c55-9a51-0f3c2b6e8d10")


class GuideConflict(UserError):
    message = N_("Guide %(id)s version %(version)s is already loaded with different content. Give the changed guide a new version.")


def register_guide(session: Session, source: str, device_id: str, parsed: Optional[Guide] = None) -> GuideVersion:
    """Store a validated guide version; loading the same version again is a no-op. Callers holding the
    write lock pass the guide parsed before they took it."""
    guide = parsed or parse_guide(source)
    record_id = _record_id(guide.id, guide.version)
    existing = session.get(GuideVersion, record_id)
    if existing is not None:
        if existing.source != source:
            raise GuideConflict(id=guide.id, version=guide.version)
        return existing
    return save(session, device_id, GuideVersion(id=record_id, guide_id=guide.id, guide_version=guide.version,
                                                 title=guide.title("de"), source=source))


def ensure_builtin_guides(session: Session, device_id: str) -> None:
    """Make the guides shipped with fieldkit available in the vault."""
    for source in builtin_guide_sources():
        register_guide(session, source, device_id)


def list_guides(session: Session) -> list[GuideVersion]:
    """Every loaded guide version, newest version of each guide first."""
    records = session.exec(select(GuideVersion).where(GuideVersion.deleted == False)).all()  # noqa: E712
    return sorted(records, key=lambda r: (r.guide_id, _version_key(r.guide_version)), reverse=True)


def latest_guide(session: Session, guide_id: str) -> Optional[GuideVersion]:
    return next((r for r in list_guides(session) if r.guide_id == guide_id), None)


def guide_record(session: Session, guide_id: str, version: str) -> Optional[GuideVersion]:
    return session.get(GuideVersion, _record_id(guide_id, version))


def guide_version(session: Session, guide_id: str, version: str) -> Optional[Guide]:
    """The parsed guide an interview was run with."""
    record = guide_record(session, guide_id, version)
    return _parsed(record.source) if record else None


def title_of(record: GuideVersion, locale: str) -> str:
    """A stored guide's title in the reader's language (the record keeps the German one)."""
    try:
        return _parsed(record.source).title(locale)
    except Exception:  # noqa: BLE001 (a guide that no longer parses still has its stored title)
        return record.title


def _record_id(guide_id: str, version: str) -> str:
    return str(uuid.uuid5(GUIDE_NAMESPACE, f"{guide_id}@{version}"))


@lru_cache(maxsize=32)
def _parsed(source: str) -> Guide:
    return parse_guide(source)


def _version_key(version: str) -> tuple:
    """"1.10" sorts after "1.9"."""
    return tuple((0, int(part)) if part.isascii() and part.isdigit() else (1, part) for part in version.split("."))

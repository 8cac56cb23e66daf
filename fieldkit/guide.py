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


@dataclass(frozen=True)
class Question:
    key: str  # section id + "." + question id
    text: Text
    probes: tuple[Text, ...]


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
        for event in yaml.parse(source, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):  # aliases can multiply a small file into a huge one
                raise GuideError(N_("Guides may not use YAML anchors and aliases (& and *)."), event.start_mark.line + 1)
        root = yaml.compose(source, Loader=yaml.SafeLoader)
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
        self.languages = languages
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
        fields = self._mapping(node, required=("id", "text"), optional=("probes",))
        probes = tuple(self._text(p) for p in self._sequence(fields["probes"])) if "probes" in fields else ()
        return Question(f"{section_id}.{self._identifier(fields['id'])}", self._text(fields["text"]), probes)

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

"""The guide editor's model: a guide as plain data, the shape its YAML has, changed one field or one
list item at a time, written back as YAML and checked by the same loader as every guide file (its
messages pointed at the field), then published as a new, immutable version.

A draft lives only on the coordinator's laptop (GuideDraft); a published version is a GuideVersion
like any loaded guide file and travels in bundles."""
import re
import uuid
from functools import lru_cache
from typing import Optional

import yaml
from sqlmodel import Session, select

from .errors import UserError
from .guide import (ANSWER_TYPES, YAML_LOADER, Guide, GuideConflict, GuideError, guide_record, parse_guide,
                    register_guide)
from .i18n import N_
from .models import GuideDraft, GuideVersion, utcnow

LANGUAGES = ("de", "en")
MAX_TEXT = 2000
# What a list holds when an item is added to it, by the list's name.
NEW_ITEMS = {
    "sections": lambda model, items: {"id": _free_id(items, "abschnitt"), "title": _blank(model),
                                      "questions": [{"id": "frage_1", "text": _blank(model)}]},
    "questions": lambda model, items: {"id": _free_id(items, "frage"), "text": _blank(model)},
    "probes": lambda model, items: _blank(model),
    "options": lambda model, items: {"id": _free_id(items, "antwort"), "label": _blank(model)},
    "covers": lambda model, items: {"id": _free_id(items, "punkt"), "label": _blank(model)},
}


class EditorError(UserError):
    """A change the editor cannot make; `field` is the path of the field it concerns."""

    def __init__(self, message: str, field: str = "", **params):
        super().__init__(message, **params)
        self.field = field


# Reading and writing ----------------------------------------------------------------------------

def model_of(source: str) -> dict:
    """A valid guide's YAML as the editor's model."""
    parse_guide(source)
    return yaml.load(source, Loader=YAML_LOADER)


def write_yaml(model: dict) -> tuple[str, list[str]]:
    """The model as YAML text, and for each line the path of the field it writes ("sections.0.title.de")."""
    lines: list[tuple[str, tuple]] = []
    _emit(model, 0, (), lines)
    return "\n".join(text for text, _ in lines) + "\n", [".".join(map(str, path)) for _, path in lines]


def check(model: dict) -> tuple[str, Guide]:
    """Check the model as the loader checks a guide file: its YAML and the guide read from it, or an
    EditorError naming the field of the first mistake."""
    source, paths = write_yaml(model)
    try:
        return source, parse_guide(source)
    except GuideError as error:
        field = paths[error.line - 1] if error.line and error.line <= len(paths) else ""
        raise EditorError(error.message, field, **error.params) from error


def missing_translations(model: dict) -> list[str]:
    """The paths of texts written in one language but not yet in another."""
    found = []

    def walk(value, path):
        if isinstance(value, dict):
            if set(value) == set(model.get("languages", ())):
                written = [language for language in value if str(value[language] or "").strip()]
                if written:  # a text nobody wrote yet is not a missing translation (the check names it)
                    found.extend(f"{path}.{language}" for language in value if language not in written)
                return
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for number, item in enumerate(value):
                walk(item, f"{path}.{number}")

    walk(model, "")
    return found


def _emit(value, indent: int, path: tuple, lines: list) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append((f"{pad}{_key(key)}:", path + (key,)))
                _emit(item, indent + 2, path + (key,), lines)
            else:
                lines.append((f"{pad}{_key(key)}: {_scalar(item)}", path + (key,)))
    else:
        for number, item in enumerate(value):
            if isinstance(item, dict) and item:
                inner: list = []
                _emit(item, indent + 2, path + (number,), inner)
                first, first_path = inner[0]
                lines.append((f"{pad}- {first.lstrip()}", first_path))
                lines.extend(inner[1:])
            else:
                lines.append((f"{pad}- {_scalar(item)}", path + (number,)))


def _key(key) -> str:
    return str(key) if isinstance(key, int) or re.fullmatch(r"[a-z_]+", str(key)) else _scalar(str(key))


def _scalar(value) -> str:
    if value is None:
        return "''"
    if isinstance(value, (list, dict)):
        return "[]" if isinstance(value, list) else "{}"
    return _dumped(value)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@lru_cache(maxsize=20_000)
def _dumped(value) -> str:
    """A scalar as YAML writes it (quoted where it must be), by libyaml where PyYAML has it."""
    dumped = yaml.dump(value, Dumper=_DUMPER, allow_unicode=True, width=1_000_000, default_flow_style=True)
    return dumped.removesuffix("\n...\n").rstrip("\n")


# Changes ------------------------------------------------------------------------------------------

def set_field(model: dict, path: str, value: str) -> None:
    """Set one text or id ("sections.0.questions.2.text.en", "version", "sections.1.id", "….scale.max")."""
    parent, last = _parent(model, path)
    if isinstance(parent, list) or last not in parent or isinstance(parent[last], (dict, list)):
        raise EditorError(N_("This field cannot be edited here."), path)
    value = str(value).strip()
    if len(value) > MAX_TEXT:
        raise EditorError(N_("At most %(chars)s characters."), path, chars=MAX_TEXT)
    if last in ("min", "max") and path.endswith(f"scale.{last}"):
        if not value.isdigit():
            raise EditorError(N_("A scale runs from a whole number to a larger one, within 0 to 10."), path)
        labels = parent.get("labels", {})
        end = min(labels) if last == "min" else max(labels) if labels else None
        if end is not None and end != int(value):  # the end's label moves with the end
            labels[int(value)] = labels.pop(end)
            parent["labels"] = dict(sorted(labels.items()))
        value = int(value)
    parent[last] = value


def set_type(model: dict, question_path: str, kind: str) -> None:
    """Give a question another answer type, with what that type needs (options, a scale)."""
    question = _at(model, question_path)
    if kind not in ANSWER_TYPES or not isinstance(question, dict) or "text" not in question:
        raise EditorError(N_("Answer types are: %(types)s."), question_path, types=", ".join(ANSWER_TYPES))
    for key in ("type", "options", "scale"):
        question.pop(key, None)
    if kind != "text":
        question["type"] = kind
    if kind in ("single", "multiple"):
        question["options"] = [{"id": "antwort_1", "label": _blank(model)}]
    if kind == "scale":
        question["scale"] = {"min": 1, "max": 5, "labels": {1: _blank(model), 5: _blank(model)}}
    _reorder(question)


def set_condition(model: dict, question_path: str, earlier_key: str, equals: str) -> None:
    """Show the question only if an earlier one has an answer (or this answer); no key: always show it."""
    question = _at(model, question_path)
    question.pop("show_if", None)
    if earlier_key:
        question["show_if"] = {"question": earlier_key, **({"equals": equals} if equals else {})}
    _reorder(question)


def add_item(model: dict, list_path: str) -> str:
    """Add an item to a list (sections, a section's questions or checklist, a question's probes or options);
    returns the new item's path. A missing list (the first probe) is made."""
    parent, last = _parent(model, list_path)
    if last not in NEW_ITEMS or isinstance(parent, list):
        raise EditorError(N_("Nothing can be added here."), list_path)
    items = parent.setdefault(last, [])
    items.append(NEW_ITEMS[last](model, items))
    if isinstance(parent, dict) and "id" in parent:
        _reorder(parent)
    return f"{list_path}.{len(items) - 1}"


def remove_item(model: dict, item_path: str) -> None:
    parent, last = _parent(model, item_path)
    if not isinstance(parent, list) or not isinstance(last, int):
        raise EditorError(N_("Only items of a list can be removed."), item_path)
    del parent[last]


def move_item(model: dict, item_path: str, to: int) -> None:
    """Move an item within its list (by keyboard: one up or down; by drag: to a place)."""
    parent, last = _parent(model, item_path)
    if not isinstance(parent, list) or not isinstance(last, int) or not 0 <= to < len(parent):
        raise EditorError(N_("This item cannot go there."), item_path)
    parent.insert(to, parent.pop(last))


def _parent(model: dict, path: str):
    head, _, last = str(path).rpartition(".")
    if not last:
        raise EditorError(N_("This field cannot be edited here."), path)
    parent = _at(model, head)
    return parent, int(last) if last.isdigit() and (isinstance(parent, list) or last not in parent) else last


def _at(model, path: str):
    value = model
    if len(str(path)) > 200:
        raise EditorError(N_("This part of the guide no longer exists; reload the page."), path)
    for part in [p for p in str(path).split(".") if p != ""]:
        try:  # list positions and scale points are numbers, every other key a name
            value = value[int(part)] if isinstance(value, list) or (part.isdigit() and part not in value) else value[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise EditorError(N_("This part of the guide no longer exists; reload the page."), path) from None
    return value


def _reorder(item: dict) -> None:
    """A question's or section's keys in the order a person writes them (id, type, show_if, text, …), so
    the YAML reads well."""
    order = ["id", "type", "show_if", "title", "text", "label", "scale", "options", "probes", "questions", "covers"]
    keys = sorted(item.items(), key=lambda pair: order.index(pair[0]) if pair[0] in order else len(order))
    item.clear()
    item.update(keys)


def _blank(model: dict) -> dict:
    return {language: "" for language in model.get("languages", LANGUAGES)}


def _free_id(items: list, stem: str) -> str:
    taken = {item.get("id") for item in items if isinstance(item, dict)}
    return next(f"{stem}_{number}" for number in range(1, len(items) + 2) if f"{stem}_{number}" not in taken)


# Drafts and versions ------------------------------------------------------------------------------

def new_draft(session: Session, guide_id: Optional[str] = None, version: Optional[str] = None) -> GuideDraft:
    """A draft: of the next version of a published guide, or of a new guide."""
    if guide_id:
        record = guide_record(session, guide_id, version) if version else None
        if record is None:
            raise EditorError(N_("There is no such guide."))
        model = model_of(record.source)
        model["version"] = next_version(session, guide_id, record.guide_version)
    else:
        model = {"id": _free_guide_id(session), "version": "1", "languages": list(LANGUAGES),
                 "title": {language: "" for language in LANGUAGES}, "sections": []}
        add_item(model, "sections")
    draft = GuideDraft(id=str(uuid.uuid4()), guide_id=model["id"], model=model)
    session.add(draft)
    return draft


def save_draft(session: Session, draft: GuideDraft, model: dict) -> GuideDraft:
    draft.model, draft.guide_id, draft.updated_at = model, str(model.get("id", "")), utcnow()
    session.add(draft)
    return draft


def drafts(session: Session) -> list[GuideDraft]:
    return list(session.exec(select(GuideDraft).order_by(GuideDraft.updated_at.desc())))


def publish(session: Session, device_id: str, draft: GuideDraft) -> GuideVersion:
    """The draft as a new, immutable guide version; the draft is done."""
    source, parsed = check(draft.model)
    if guide_record(session, parsed.id, parsed.version) is not None:
        raise EditorError(GuideConflict.message, "version", id=parsed.id, version=parsed.version)
    record = register_guide(session, source, device_id, parsed)
    session.delete(draft)
    return record


def next_version(session: Session, guide_id: str, version: str) -> str:
    """The next free version number: 1.0 → 1.1, 3 → 4."""
    head, _, tail = str(version).rpartition(".")
    candidate = version
    while guide_record(session, guide_id, candidate) is not None or candidate == version:
        number = int(tail) + 1 if tail.isdigit() else 1
        candidate, tail = f"{head}.{number}" if head else str(number), str(number)
    return candidate


def _free_guide_id(session: Session) -> str:
    taken = {record.guide_id for record in session.exec(select(GuideVersion))} | {d.guide_id for d in drafts(session)}
    return next(f"leitfaden_{number}" for number in range(1, len(taken) + 2) if f"leitfaden_{number}" not in taken)


# Comparing versions ------------------------------------------------------------------------------

def diff(old: Guide, new: Guide) -> list[tuple[str, str, str]]:
    """What changed from one parsed guide version to another: (mark, where, what), mark "+" added,
    "-" removed, "~" changed, in the newer version's order."""
    changes = []
    old_sections, new_sections = {s.id: s for s in old.sections}, {s.id: s for s in new.sections}
    for section in new.sections:
        if section.id not in old_sections:
            changes.append(("+", section.id, "section"))
        elif section.title != old_sections[section.id].title:
            changes.append(("~", section.id, "title"))
    changes += [("-", s.id, "section") for s in old.sections if s.id not in new_sections]
    old_questions = {q.key: q for q in old.questions}
    new_keys = {q.key for q in new.questions}
    for question in new.questions:
        before = old_questions.get(question.key)
        if before is None:
            changes.append(("+", question.key, "question"))
            continue
        for part in ("text", "type", "options", "scale", "scale_labels", "show_if", "probes"):
            if getattr(before, part) != getattr(question, part):  # texts compare by their translations
                changes.append(("~", question.key, part))
    changes += [("-", key, "question") for key in old_questions if key not in new_keys]
    if [q.key for q in old.questions if q.key in new_keys] != [q.key for q in new.questions if q.key in old_questions]:
        changes.append(("~", "", "order"))
    return changes

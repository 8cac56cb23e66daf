"""Network maps of an interview: drawing them change by change, with a replayable log and undo/redo.

Every change is one MapEvent holding the primitive steps that perform it (`forward`) and those that take
it back (`backward`), each a full record put or a removal (tombstone). Undo applies an event's backward
steps and logs an `undo` event; redo applies them forward again. The undo and redo stacks live in the
log as linked lists: each event keeps the stacks' tops after it, an undoable event the undo top below it
and an undo event the redo top below it. A change reads the latest events only, so its cost does not
grow with the map's history; the stacks survive a reload, and a replay shows every step as drawn.
"""
import math
import re
import uuid
from typing import NamedTuple, Optional

from sqlalchemy import bindparam, literal_column, or_
from sqlmodel import Session, func, select

from . import network
from .errors import UserError
from .i18n import N_
from .interviews import ensure_editable
from .models import Alter, Interview, MapEvent, NetworkMap, Tie, save
from .text import clean
from .vocabulary import TIE_TYPES

MAX_LABEL = 200
MAX_TEXT = 2000
ALTER_FIELDS = ("label", "actor_type", "x", "y", "attributes")
TIE_FIELDS = ("source_id", "target_id", "type", "direction", "strength", "note")
UNDOABLE = ("add_alter", "move_alter", "edit_alter", "delete_alter", "add_tie", "edit_tie", "delete_tie")


class MapError(UserError):
    message = N_("This change to the map is not possible.")


def config_of(network_map: NetworkMap) -> dict:
    """The map's rings and sectors (maps keep their own, so they read the same wherever they travel).
    Colours and symbols end up in SVG attributes, so anything but #rrggbb and a known symbol is replaced."""
    defaults = network.default_config()
    known = {sector["id"]: sector for sector in defaults["sectors"]}
    rings = [ring if isinstance(ring, dict) else {"label": str(ring)} for ring in network_map.rings] or defaults["rings"]
    sectors = []
    for sector in network_map.sectors or defaults["sectors"]:
        sector = sector if isinstance(sector, dict) else known.get(sector, {"id": str(sector), "label": str(sector)})
        colour = sector.get("colour", "")
        sectors.append({"id": str(sector["id"]), "label": sector.get("label", sector["id"]),
                        "colour": colour if re.fullmatch(r"#[0-9a-fA-F]{6}", str(colour)) else "#777777",
                        "symbol": sector.get("symbol") if sector.get("symbol") in network.SYMBOL_PATHS else "circle"})
    return {"rings": rings, "sectors": sectors}


def maps_of(session: Session, interview_id: str) -> list[NetworkMap]:
    return list(session.exec(select(NetworkMap).where(NetworkMap.interview_id == interview_id,
                                                      NetworkMap.deleted == False).order_by(NetworkMap.created_at)))  # noqa: E712


def summaries(session: Session, interview_id: str) -> list[tuple[NetworkMap, int, int]]:
    """An interview's maps with their numbers of contacts and ties, for lists."""
    return [(m, len(alters(session, m)), len(ties(session, m))) for m in maps_of(session, interview_id)]


def get(session: Session, map_id: str) -> Optional[NetworkMap]:
    network_map = session.get(NetworkMap, map_id)
    return network_map if network_map and not network_map.deleted else None


def ensure_drawable(interview: Interview) -> None:
    """Maps are drawn only in an open interview whose representative agreed to it."""
    ensure_editable(interview)
    if not interview.consent.get("agreed", {}).get("network_map"):
        raise MapError(N_("The representative did not agree to a network map in this interview."))


def create(session: Session, device_id: str, interview: Interview, title: str, config: Optional[dict] = None) -> NetworkMap:
    ensure_drawable(interview)
    config = config or _project_config(session, interview) or network.default_config()
    network_map = save(session, device_id, NetworkMap(interview_id=interview.id, title=_title(title),
                                                       rings=config["rings"], sectors=config["sectors"]))
    _log(session, device_id, network_map, "create", [], [], {"title": network_map.title})
    return network_map


def _project_config(session: Session, interview: Interview) -> Optional[dict]:
    """The rings and sectors the interview's guide sets for the project, if it does."""
    from .guide import guide_version

    guide = guide_version(session, interview.guide_id, interview.guide_version) if interview.guide_id else None
    return guide.network_map if guide else None


def rename(session: Session, device_id: str, interview: Interview, network_map: NetworkMap, title: str) -> NetworkMap:
    ensure_drawable(interview)
    network_map.title = _title(title)
    return save(session, device_id, network_map)


def remove(session: Session, device_id: str, interview: Interview, network_map: NetworkMap) -> None:
    """Delete a map with its contacts and ties (as tombstones, so the deletion travels in bundles)."""
    ensure_drawable(interview)
    for record in [*alters(session, network_map), *ties(session, network_map), network_map]:
        record.deleted = True
        save(session, device_id, record)


def clone(session: Session, device_id: str, interview: Interview, source: NetworkMap, title: str) -> NetworkMap:
    """A new map starting from another's contacts and ties, e.g. "five years ago" from "today"."""
    ensure_drawable(interview)
    copy = save(session, device_id, NetworkMap(interview_id=interview.id, title=_title(title),
                                               rings=source.rings, sectors=source.sectors))
    originals = alters(session, source)
    new_ids = {alter.id: str(uuid.uuid4()) for alter in originals}
    steps = [_put("alter", {**_alter_record(alter), "id": new_ids[alter.id]}) for alter in originals]
    steps += [_put("tie", {**_tie_record(tie), "id": str(uuid.uuid4()), "target_id": new_ids[tie.target_id],
                           "source_id": new_ids.get(tie.source_id)}) for tie in ties(session, source)]
    _apply(session, device_id, copy, steps)
    _log(session, device_id, copy, "clone", steps, [], {"title": copy.title, "from": source.id})
    return copy


def alters(session: Session, network_map: NetworkMap) -> list[Alter]:
    return list(session.exec(_live_alters(network_map)))


def ties(session: Session, network_map: NetworkMap) -> list[Tie]:
    return list(session.exec(_live_ties(network_map)))


def _live_alters(network_map: NetworkMap):
    return select(Alter).where(Alter.map_id == network_map.id, Alter.deleted == False).order_by(Alter.created_at)  # noqa: E712


def _live_ties(network_map: NetworkMap):
    """The map's ties between live ends (after a merge a tie may outlive a contact deleted elsewhere)."""
    live = select(Alter.id).where(Alter.map_id == network_map.id, Alter.deleted == False)  # noqa: E712
    return select(Tie).where(Tie.map_id == network_map.id, Tie.deleted == False, Tie.target_id.in_(live),  # noqa: E712
                             or_(Tie.source_id.is_(None), Tie.source_id.in_(live))).order_by(Tie.created_at)


def _records(session: Session, statement, model, fields: tuple) -> list[dict]:
    """The rows a statement selects as plain records, read column by column (a map of 300 contacts and
    600 ties is drawn on every page: building ORM objects for it took most of the page's time)."""
    columns = [model.id, *(getattr(model, field) for field in fields)]
    return [dict(zip(("id", *fields), row)) for row in session.execute(statement.with_only_columns(*columns))]


def state(session: Session, network_map: NetworkMap) -> dict:
    """Everything the map editor draws, as plain data."""
    tops = _tops(session, network_map, _latest(session, network_map, 1))
    return {"id": network_map.id, "title": network_map.title, **config_of(network_map),
            "alters": _records(session, _live_alters(network_map), Alter, ALTER_FIELDS),
            "ties": _records(session, _live_ties(network_map), Tie, TIE_FIELDS),
            "can_undo": bool(tops["undo_top"]), "can_redo": bool(tops["redo_top"])}


def drawn_between(session: Session, network_map: NetworkMap) -> tuple:
    """When the map's first and last logged changes were made (None, None for a map never changed)."""
    return session.exec(select(func.min(MapEvent.at), func.max(MapEvent.at))
                        .where(MapEvent.map_id == network_map.id)).one()


def measures(session: Session, network_map: NetworkMap) -> dict:
    config = config_of(network_map)
    rings = len(config["rings"])
    nodes = [network.Node(alter.id, alter.actor_type, network.ring_of(alter.x, alter.y, rings))
             for alter in alters(session, network_map)]
    links = [network.Link(tie.source_id, tie.target_id, tie.type) for tie in ties(session, network_map)]
    return network.measures(nodes, links, [sector["id"] for sector in config["sectors"]], rings)


def change(session: Session, device_id: str, interview: Interview, network_map: NetworkMap, request: dict) -> dict:
    """Apply one change the editor sent and log it. A change is sent again after a lost answer, so a
    known `op_id` changes nothing twice. Returns the steps applied and whether undo/redo are possible."""
    ensure_drawable(interview)
    if not isinstance(request, dict):
        raise MapError()
    latest = _latest(session, network_map, RETRY_WINDOW)
    tops = _tops(session, network_map, latest)
    op_id = _text(request.get("op_id"), 64) or str(uuid.uuid4())
    done = next((entry for entry in latest if entry.op_id == op_id), None)
    if done:  # answer the retry with what was applied, so the editor can show it
        return _result(session.get(MapEvent, done.id).payload.get("forward", []), tops)
    action = request.get("action")
    builders = {"add_alter": _add_alter, "edit_alter": _edit_alter, "delete_alter": _delete_alter,
                "add_tie": _add_tie, "edit_tie": _edit_tie, "delete_tie": _delete_tie}
    if action in ("undo", "redo"):
        action, forward, backward, extra = _undo_redo(session, network_map, action, tops)
    elif action in builders:
        action, forward, backward = builders[action](session, network_map, request)
        extra = {}
    else:
        raise MapError()
    if not forward:
        return _result([], tops)
    _apply(session, device_id, network_map, forward)
    logged = _log(session, device_id, network_map, action, forward, backward, {"op_id": op_id, **extra}, tops)
    return _result(forward, logged)


def history(session: Session, network_map: NetworkMap) -> list[dict]:
    """The map's log for the replay: when, what, and the steps to apply."""
    return [{"at": event.at.isoformat(), "action": event.action, "forward": event.payload.get("forward", [])}
            for event in _events(session, network_map)]


# Building the steps of each change ------------------------------------------------------------------

def _add_alter(session, network_map, request):
    data = _mapping(request.get("alter"))
    record = {"id": _new_or_given_id(data.get("id")), **_clean_alter(network_map, data)}
    if session.get(Alter, record["id"]):
        raise MapError(N_("This contact exists already."))
    return "add_alter", [_put("alter", record)], [_remove("alter", record["id"])]


def _edit_alter(session, network_map, request):
    alter = _alter(session, network_map, request.get("id"))
    old = _alter_record(alter)
    new = {**old, **_clean_alter(network_map, {**old, **_mapping(request.get("fields"))})}
    moved_only = all(new[key] == old[key] for key in ("label", "actor_type", "attributes"))
    return _replace("alter", "move_alter" if moved_only else "edit_alter", old, new)


def _delete_alter(session, network_map, request):
    alter = _alter(session, network_map, request.get("id"))
    incident = [tie for tie in ties(session, network_map) if alter.id in (tie.source_id, tie.target_id)]
    forward = [_remove("tie", tie.id) for tie in incident] + [_remove("alter", alter.id)]
    backward = [_put("alter", _alter_record(alter))] + [_put("tie", _tie_record(tie)) for tie in incident]
    return "delete_alter", forward, backward


def _add_tie(session, network_map, request):
    data = _mapping(request.get("tie"))
    record = {"id": _new_or_given_id(data.get("id")), **_clean_tie(session, network_map, data)}
    if session.get(Tie, record["id"]):
        raise MapError(N_("This tie exists already."))
    return "add_tie", [_put("tie", record)], [_remove("tie", record["id"])]


def _edit_tie(session, network_map, request):
    tie = _tie(session, network_map, request.get("id"))
    old = _tie_record(tie)
    new = {**old, **_clean_tie(session, network_map, {**old, **_mapping(request.get("fields"))}, ignore=tie.id)}
    return _replace("tie", "edit_tie", old, new)


def _replace(kind: str, action: str, old: dict, new: dict):
    """An edit's steps: the new record forward, the old one back; nothing if nothing changed."""
    if new == old:
        return action, [], []
    return action, [_put(kind, new)], [_put(kind, old)]


def _delete_tie(session, network_map, request):
    tie = _tie(session, network_map, request.get("id"))
    return "delete_tie", [_remove("tie", tie.id)], [_put("tie", _tie_record(tie))]


def _undo_redo(session, network_map, action, tops):
    """Undo takes back the undo stack's top; redo brings back the change the redo stack's top undid."""
    target_id = tops["undo_top"] if action == "undo" else _pointers(session, network_map, tops["redo_top"])["target"]
    target = session.get(MapEvent, target_id) if target_id else None
    if target is None or target.map_id != network_map.id:
        raise MapError(N_("There is nothing to undo.") if action == "undo" else N_("There is nothing to redo."))
    forward, backward = target.payload["forward"], target.payload["backward"]
    if action == "undo":
        forward, backward = backward, forward
    return action, forward, backward, {"target": target.id}


# Validation -----------------------------------------------------------------------------------------

def _clean_alter(network_map: NetworkMap, data: dict) -> dict:
    config = config_of(network_map)
    label = _text(data.get("label"), MAX_LABEL)
    if not label:
        raise MapError(N_("Give the contact a name."))
    actor_type = data.get("actor_type")
    if actor_type not in {sector["id"] for sector in config["sectors"]}:
        raise MapError(N_("Choose one of the map's actor types."))
    try:
        x, y = float(data.get("x", 0)), float(data.get("y", 0))
    except (TypeError, ValueError):
        raise MapError() from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise MapError()
    x, y = network.clamp(x, y)
    return {"label": label, "actor_type": actor_type, "x": x, "y": y,
            "attributes": _clean_attributes(data.get("attributes"))}


def _clean_attributes(data: dict) -> dict:
    data = _mapping(data)
    attributes = {}
    for key, (_, choices) in network.ALTER_ATTRIBUTES.items():
        value = _text(data.get(key), MAX_TEXT if key == "note" else MAX_LABEL)
        if value and choices is not None and value not in choices:
            raise MapError()
        if value:
            attributes[key] = value
    return attributes


def _clean_tie(session: Session, network_map: NetworkMap, data: dict, ignore: Optional[str] = None) -> dict:
    source_id = data.get("source_id") or None
    target_id = data.get("target_id")
    if source_id is not None:
        _alter(session, network_map, source_id)
    _alter(session, network_map, target_id)
    if source_id == target_id:
        raise MapError(N_("A tie joins two different actors."))
    if data.get("type") not in TIE_TYPES or data.get("direction", "undirected") not in network.DIRECTIONS:
        raise MapError(N_("Choose the kind of tie."))
    try:
        strength = int(data.get("strength", 1))
    except (TypeError, ValueError):
        raise MapError() from None
    if strength not in network.STRENGTHS:
        raise MapError()
    ends = {source_id, target_id}
    if any({tie.source_id, tie.target_id} == ends and tie.type == data["type"] and tie.id != ignore
           for tie in ties(session, network_map)):
        raise MapError(N_("These two are already tied this way."))
    return {"source_id": source_id, "target_id": target_id, "type": data["type"],
            "direction": data.get("direction", "undirected"), "strength": strength,
            "note": _text(data.get("note"), MAX_TEXT)}


def _row(session: Session, model, row_id: str):
    """A row by id, kept for the rest of the transaction: the session holds rows only weakly, and a change
    that reads a contact to check it writes it a moment later."""
    row = session.get(model, row_id)
    session.info.setdefault("rows_read", []).append(row)
    return row


def _alter(session: Session, network_map: NetworkMap, alter_id) -> Alter:
    alter = _row(session, Alter, alter_id) if isinstance(alter_id, str) else None
    if alter is None or alter.deleted or alter.map_id != network_map.id:
        raise MapError(N_("This contact is no longer on the map."))
    return alter


def _tie(session: Session, network_map: NetworkMap, tie_id) -> Tie:
    tie = _row(session, Tie, tie_id) if isinstance(tie_id, str) else None
    if tie is None or tie.deleted or tie.map_id != network_map.id:
        raise MapError(N_("This tie is no longer on the map."))
    return tie


def _mapping(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MapError()
    return value


def _text(value, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):
        raise MapError()
    return clean(str(value)).strip()[:limit]


def _title(title: str) -> str:
    title = _text(title, MAX_LABEL)
    if not title:
        raise MapError(N_("Give the map a title."))
    return title


def _new_or_given_id(given) -> str:
    if given is None:
        return str(uuid.uuid4())
    if not isinstance(given, str) or not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", given):
        raise MapError()
    return given


# Steps, the log and the stacks ---------------------------------------------------------------------

def _alter_record(alter: Alter) -> dict:
    return {"id": alter.id, **{key: getattr(alter, key) for key in ALTER_FIELDS}}


def _tie_record(tie: Tie) -> dict:
    return {"id": tie.id, **{key: getattr(tie, key) for key in TIE_FIELDS}}


def _put(kind: str, record: dict) -> dict:
    return {"put": kind, "record": record}


def _remove(kind: str, record_id: str) -> dict:
    return {"remove": kind, "id": record_id}


def _apply(session: Session, device_id: str, network_map: NetworkMap, steps: list[dict]) -> None:
    models = {"alter": (Alter, ALTER_FIELDS), "tie": (Tie, TIE_FIELDS)}
    for step in steps:
        model, fields = models[step.get("put") or step.get("remove")]
        if "put" in step:
            record = session.get(model, step["record"]["id"]) or model(id=step["record"]["id"], map_id=network_map.id)
            if record.map_id != network_map.id:
                raise MapError()
            for key in fields:
                setattr(record, key, step["record"][key])
            record.deleted = False
        else:
            record = session.get(model, step["id"])
            record.deleted = True
        save(session, device_id, record)


def _events(session: Session, network_map: NetworkMap) -> list[MapEvent]:
    events = session.exec(select(MapEvent).where(MapEvent.map_id == network_map.id, MapEvent.deleted == False))  # noqa: E712
    return sorted(events, key=lambda event: (event.payload.get("seq", 0), event.at))


RETRY_WINDOW = 50  # a change sent again is recognised among the map's latest events
# The log's order; the same expression as the index on map_event (migration 0008), so reading the
# latest events reads only them.
_SEQ = func.json_extract(MapEvent.payload, literal_column("'$.seq'"))
POINTERS = ("undo_top", "redo_top", "undo_below", "redo_below")


class _Entry(NamedTuple):
    id: str
    op_id: Optional[str]
    seq: Optional[int]
    undo_top: Optional[str]
    redo_top: Optional[str]


_LATEST = (select(MapEvent.id, *[func.json_extract(MapEvent.payload, f"$.{key}") for key in _Entry._fields[1:]])
           .where(MapEvent.map_id == bindparam("map_id"), MapEvent.deleted == False)  # noqa: E712
           .order_by(_SEQ.desc(), MapEvent.at.desc()).limit(bindparam("count")))


def _latest(session: Session, network_map: NetworkMap, count: int) -> list[_Entry]:
    """The map's latest events, newest first, without their steps (a statement built once: every change
    reads them)."""
    return [_Entry(*row) for row in session.execute(_LATEST, {"map_id": network_map.id, "count": count})]


def _tops(session: Session, network_map: NetworkMap, latest: list[_Entry]) -> dict:
    """The seq and the stacks' tops after the latest event."""
    if not latest:
        return {"seq": 0, "undo_top": None, "redo_top": None}
    newest = latest[0]
    if newest.undo_top is not None or newest.redo_top is not None:
        return {"seq": newest.seq or 0, "undo_top": newest.undo_top, "redo_top": newest.redo_top}
    return {"seq": newest.seq or 0, **_pointers(session, network_map, newest.id)}  # both empty, or not kept


def _pointers(session: Session, network_map: NetworkMap, event_id: Optional[str]) -> dict:
    """The stack pointers an event keeps; for a log written before events kept them, found by replaying it."""
    event = session.get(MapEvent, event_id) if event_id else None
    if event is None or event.map_id != network_map.id:  # e.g. a log that arrived only in part
        return dict.fromkeys((*POINTERS, "target"))
    if "undo_top" in event.payload:
        return {key: event.payload.get(key) for key in (*POINTERS, "target")}
    replays = session.info.setdefault("map_replays", {})  # once per session: a change may ask twice
    if network_map.id not in replays:
        replays[network_map.id] = _replayed(session, network_map)
    return replays[network_map.id][event.id]


def _replayed(session: Session, network_map: NetworkMap) -> dict[str, dict]:
    """Every event's stack pointers, from the whole log in order (once, for a log from before they were kept)."""
    pointers: dict[str, dict] = {}
    tops = {"undo_top": None, "redo_top": None}
    missing = dict.fromkeys((*POINTERS, "target"))
    for event in _events(session, network_map):
        if "undo_top" in event.payload:
            tops = {key: event.payload.get(key) for key in POINTERS}
        else:
            tops = _next(tops, event.id, event.action, lambda older: pointers.get(older, missing))
        pointers[event.id] = {**tops, "target": event.payload.get("target", tops.get("target"))}
    return pointers


def _next(before: dict, event_id: Optional[str], action: str, pointers) -> dict:
    """The stack pointers after an event, from those before it (`pointers` gives older events' own)."""
    if action in UNDOABLE:
        return {"undo_top": event_id, "redo_top": None, "undo_below": before["undo_top"]}
    if action == "undo" and before["undo_top"]:
        undone = before["undo_top"]
        return {"undo_top": pointers(undone)["undo_below"], "redo_top": event_id, "redo_below": before["redo_top"],
                "target": undone}
    if action == "redo" and before["redo_top"]:
        node = pointers(before["redo_top"])
        return {"undo_top": node["target"], "redo_top": node["redo_below"], "target": node["target"]}
    return {"undo_top": before["undo_top"], "redo_top": before["redo_top"]}


def _log(session, device_id, network_map, action, forward, backward, extra, tops=None) -> dict:
    """Append an event with the stack pointers after it; returns them."""
    tops = _tops(session, network_map, _latest(session, network_map, 1)) if tops is None else tops
    event_id = str(uuid.uuid4())
    after = _next(tops, event_id, action, lambda older: _pointers(session, network_map, older))
    after.pop("target", None)  # an undo or redo names its target in `extra`
    save(session, device_id, MapEvent(id=event_id, map_id=network_map.id, action=action, payload={
        "seq": tops["seq"] + 1, "forward": forward, "backward": backward, **after, **extra}))
    return {"seq": tops["seq"] + 1, **after}


def _result(steps: list[dict], tops: dict) -> dict:
    return {"steps": steps, "can_undo": bool(tops["undo_top"]), "can_redo": bool(tops["redo_top"])}


EVENT_LABELS = {
    "create": N_("Map created"), "clone": N_("Map copied"),
    "add_alter": N_("Contact added"), "move_alter": N_("Contact moved"), "edit_alter": N_("Contact changed"),
    "delete_alter": N_("Contact removed"), "add_tie": N_("Tie added"), "edit_tie": N_("Tie changed"),
    "delete_tie": N_("Tie removed"), "undo": N_("Undone"), "redo": N_("Redone"),
}


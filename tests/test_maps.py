"""Drawing a network map on a real encrypted vault: changes, the event log, undo/redo, clones."""
import uuid

import pytest
from sqlmodel import Session, select

from fieldkit import db, interviews, maps
from fieldkit.guide import latest_guide
from fieldkit.models import Alter, MapEvent, Organisation, save

from conftest import consented_interview


@pytest.fixture
def drawing(vault):
    """An interview whose representative agreed to a map, with an empty map; yields a function that
    applies one change in its own transaction, as each request does."""
    interview = consented_interview(vault, "Frauentreff", {"network_map"})
    with db.writing(vault.engine) as session:
        network_map = maps.create(session, vault.device_id, interviews.get(session, interview.id), "Heute")

    def apply(action, **request):
        with db.writing(vault.engine) as session:
            return maps.change(session, vault.device_id, session.get(type(interview), interview.id),
                               maps.get(session, network_map.id), {"action": action, **request})

    def current():
        with Session(vault.engine) as session:
            return maps.state(session, maps.get(session, network_map.id))

    apply.state, apply.map_id, apply.interview_id = current, network_map.id, interview.id
    return apply


def alter(label, actor_type="state_actor", x=0.3, y=-0.3, **extra):
    return {"id": str(uuid.uuid4()), "label": label, "actor_type": actor_type, "x": x, "y": y, **extra}


def test_add_move_edit_and_delete_alters_and_ties(drawing):
    jobcenter, mosque = alter("Jobcenter"), alter("Moschee", "religious_institution", -0.4, 0.2)
    drawing("add_alter", alter=jobcenter)
    drawing("add_alter", alter=mosque)
    tie = drawing("add_tie", tie={"source_id": None, "target_id": jobcenter["id"], "type": "power_asymmetry",
                                  "direction": "forward", "strength": 3})["steps"][0]["record"]
    drawing("add_tie", tie={"source_id": jobcenter["id"], "target_id": mosque["id"], "type": "conflict"})
    drawing("edit_alter", id=jobcenter["id"], fields={"x": 0.5, "y": 0.5})
    drawing("edit_alter", id=jobcenter["id"], fields={"attributes": {"frequency": "weekly", "since": "2019"}})

    state = drawing.state()
    assert [a["label"] for a in state["alters"]] == ["Jobcenter", "Moschee"]
    moved = state["alters"][0]
    assert (moved["x"], moved["y"], moved["attributes"]) == (0.5, 0.5, {"frequency": "weekly", "since": "2019"})
    assert {(t["source_id"], t["type"], t["strength"]) for t in state["ties"]} == {
        (None, "power_asymmetry", 3), (jobcenter["id"], "conflict", 1)}

    result = drawing("delete_alter", id=jobcenter["id"])  # takes its ties with it
    assert [step.get("remove") for step in result["steps"]] == ["tie", "tie", "alter"]
    assert drawing.state()["ties"] == [] and len(drawing.state()["alters"]) == 1
    assert tie["id"] in {step["id"] for step in result["steps"]}


def test_undo_and_redo_follow_the_log_and_survive_a_reload(drawing):
    first = alter("Caritas", "welfare_association")
    drawing("add_alter", alter=first)
    drawing("edit_alter", id=first["id"], fields={"x": -0.6, "y": -0.1})
    drawing("delete_alter", id=first["id"])
    assert drawing.state()["alters"] == []

    drawing("undo")  # the deletion
    assert drawing.state()["alters"][0]["x"] == -0.6
    drawing("undo")  # the move
    assert drawing.state()["alters"][0]["x"] == 0.3
    state = drawing("redo")  # the move again
    assert state["can_undo"] and state["can_redo"]
    assert drawing.state()["alters"][0]["x"] == -0.6

    drawing("edit_alter", id=first["id"], fields={"label": "Caritas Musterstadt"})  # a new change clears redo
    assert not drawing.state()["can_redo"]
    for _ in range(3):
        drawing("undo")
    assert drawing.state()["alters"] == [] and not drawing.state()["can_undo"]
    with pytest.raises(maps.MapError):
        drawing("undo")


def test_a_change_sent_twice_is_applied_once(drawing):
    first = alter("Schule", "educational_institution")
    drawing("add_alter", alter=first, op_id="op-1")
    drawing("undo", op_id="op-2")
    drawing("undo", op_id="op-2")  # the retry of a lost answer
    drawing("add_alter", alter=first, op_id="op-1")
    assert drawing.state()["alters"] == [] and drawing.state()["can_redo"]


@pytest.mark.parametrize("action, request_body, message", [
    ("add_alter", {"alter": {"label": " ", "actor_type": "state_actor"}}, "Give the contact a name."),
    ("add_alter", {"alter": {"label": "X", "actor_type": "bakery"}}, "Choose one of the map's actor types."),
    ("add_alter", {"alter": {"label": "X", "actor_type": "company", "x": "nan"}}, "This change to the map is not possible."),
    ("add_alter", {"alter": {"label": "X", "actor_type": "company", "attributes": {"frequency": "hourly"}}},
     "This change to the map is not possible."),
    ("add_tie", {"tie": {"source_id": None, "target_id": "nobody", "type": "conflict"}}, "This contact is no longer on the map."),
    ("edit_alter", {"id": "nobody", "fields": {}}, "This contact is no longer on the map."),
    ("rotate", {}, "This change to the map is not possible."),
])
def test_bad_changes_are_refused_with_a_reason(drawing, action, request_body, message):
    with pytest.raises(maps.MapError) as refused:
        drawing(action, **request_body)
    assert refused.value.message == message


def test_ties_must_join_two_actors_once_per_type(drawing):
    first, second = alter("A"), alter("B", "company")
    drawing("add_alter", alter=first)
    drawing("add_alter", alter=second)
    drawing("add_tie", tie={"source_id": first["id"], "target_id": second["id"], "type": "cooperation"})
    drawing("add_tie", tie={"source_id": second["id"], "target_id": first["id"], "type": "competition"})
    with pytest.raises(maps.MapError, match="already tied"):
        drawing("add_tie", tie={"source_id": second["id"], "target_id": first["id"], "type": "cooperation"})
    with pytest.raises(maps.MapError, match="two different"):
        drawing("add_tie", tie={"source_id": first["id"], "target_id": first["id"], "type": "conflict"})


def test_positions_are_kept_on_the_map(drawing):
    far = alter("Weit weg", x=5, y=0)
    drawing("add_alter", alter=far)
    assert drawing.state()["alters"][0]["x"] == 1.0


def test_clone_copies_contacts_and_ties_with_new_ids_and_its_own_log(drawing, vault):
    first, second = alter("A"), alter("B", "company")
    drawing("add_alter", alter=first)
    drawing("add_alter", alter=second)
    drawing("add_tie", tie={"source_id": None, "target_id": second["id"], "type": "cooperation"})
    drawing("add_tie", tie={"source_id": first["id"], "target_id": second["id"], "type": "conflict"})
    with db.writing(vault.engine) as session:
        interview = interviews.get(session, drawing.interview_id)
        copy = maps.clone(session, vault.device_id, interview, maps.get(session, drawing.map_id), "Vor fünf Jahren")
        cloned = maps.state(session, copy)
        assert {a["label"] for a in cloned["alters"]} == {"A", "B"}
        assert not {a["id"] for a in cloned["alters"]} & {first["id"], second["id"]}
        by_label = {a["label"]: a["id"] for a in cloned["alters"]}
        assert {(t["source_id"], t["target_id"], t["type"]) for t in cloned["ties"]} == {
            (None, by_label["B"], "cooperation"), (by_label["A"], by_label["B"], "conflict")}
        assert [e["action"] for e in maps.history(session, copy)] == ["clone"]
        assert not cloned["can_undo"]
        assert len(maps.maps_of(session, interview.id)) == 2
        assert maps.measures(session, copy)["size"] == 2


def test_history_replays_to_the_current_state(drawing, vault):
    first, second = alter("A"), alter("B", "company")
    drawing("add_alter", alter=first)
    drawing("add_alter", alter=second)
    drawing("add_tie", tie={"source_id": first["id"], "target_id": second["id"], "type": "tension"})
    drawing("edit_alter", id=second["id"], fields={"x": -0.2, "y": 0.7})
    drawing("delete_alter", id=first["id"])
    drawing("undo")
    with Session(vault.engine) as session:
        events = maps.history(session, maps.get(session, drawing.map_id))
    assert [e["action"] for e in events] == ["create", "add_alter", "add_alter", "add_tie", "move_alter", "delete_alter", "undo"]
    replayed = {"alter": {}, "tie": {}}
    for event in events:
        for step in event["forward"]:
            if "put" in step:
                replayed[step["put"]][step["record"]["id"]] = step["record"]
            else:
                replayed[step["remove"]].pop(step["id"])
    state = drawing.state()
    assert sorted(replayed["alter"].values(), key=lambda a: a["label"]) == state["alters"]
    assert list(replayed["tie"].values()) == state["ties"]


def test_maps_need_consent_and_an_open_interview(vault):
    with db.writing(vault.engine) as session:
        organisation = save(session, vault.device_id, Organisation(name="Verein"))
        interview = interviews.new(session, vault.device_id, organisation, latest_guide(session, "mikoss"), "Ayla")
        with pytest.raises(interviews.NotEditable):
            maps.create(session, vault.device_id, interview, "Heute")
        interviews.record_consent(session, vault.device_id, interview, "Vorstand", "verbal", "2026-11-26", {"quotes"})
        with pytest.raises(maps.MapError, match="did not agree"):
            maps.create(session, vault.device_id, interview, "Heute")


def test_deleting_a_map_leaves_tombstones(drawing, vault):
    drawing("add_alter", alter=alter("A"))
    with db.writing(vault.engine) as session:
        maps.remove(session, vault.device_id, interviews.get(session, drawing.interview_id), maps.get(session, drawing.map_id))
    with Session(vault.engine) as session:
        assert maps.get(session, drawing.map_id) is None
        assert all(a.deleted for a in session.exec(select(Alter)))
        assert session.exec(select(MapEvent)).first() is not None


PROJECT_MAP = """\
network_map:
  rings:
    - {de: zentral, en: central}
    - {de: am Rand, en: at the edge}
  sectors:
    - {id: state, label: {de: Staat, en: State}, colour: "#0072b2", symbol: square}
    - {id: civil, label: {de: Zivilgesellschaft, en: Civil society}, colour: "#009e73", symbol: triangle}
    - {id: family, label: {de: Familie, en: Family}, colour: "#e69f00", symbol: star}
"""


def test_a_project_guide_sets_rings_and_sectors_of_new_maps(vault):
    from test_guide import VALID

    from fieldkit.guide import register_guide

    with db.writing(vault.engine) as session:
        guide = register_guide(session, VALID + PROJECT_MAP, vault.device_id)
        organisation = save(session, vault.device_id, Organisation(name="Projektverein"))
        interview = interviews.new(session, vault.device_id, organisation, guide, "Ayla")
        interviews.record_consent(session, vault.device_id, interview, "Vorstand", "verbal", "2026-11-26", {"network_map"})
        network_map = maps.create(session, vault.device_id, interview, "Heute")
        config = maps.config_of(network_map)
        assert [ring["label"]["de"] for ring in config["rings"]] == ["zentral", "am Rand"]
        assert [(s["id"], s["symbol"]) for s in config["sectors"]] == [("state", "square"), ("civil", "triangle"), ("family", "star")]
        maps.change(session, vault.device_id, interview, network_map, {"action": "add_alter", "alter": {
            "label": "Tante", "actor_type": "family", "x": -0.5, "y": -0.1}})
        assert maps.measures(session, network_map)["composition"] == {"state": 0, "civil": 0, "family": 1}


@pytest.mark.parametrize("change, text", [
    (('colour: "#0072b2"', 'colour: "blue"'), "#rrggbb"),
    (("symbol: star", "symbol: heart"), "Symbols are"),
    (("{id: civil,", "{id: state,"), "used twice"),
    (("    - {de: am Rand, en: at the edge}\n", ""), "2 to 8 rings"),
])
def test_a_bad_project_map_is_refused_with_its_line(change, text):
    from test_guide import VALID

    from fieldkit.guide import GuideError, parse_guide

    with pytest.raises(GuideError, match=text.replace("(", r"\(")) as refused:
        parse_guide(VALID + PROJECT_MAP.replace(*change))
    assert refused.value.line


def test_an_edit_cannot_redirect_itself_to_another_record(drawing):
    first, second = alter("A"), alter("B", "company")
    drawing("add_alter", alter=first)
    drawing("add_alter", alter=second)
    drawing("edit_alter", id=first["id"], fields={"id": second["id"], "label": "Umbenannt"})
    assert {a["id"]: a["label"] for a in drawing.state()["alters"]} == {first["id"]: "Umbenannt", second["id"]: "B"}


def test_a_retried_undo_answers_with_the_steps_it_applied(drawing):
    drawing("add_alter", alter=alter("A"))
    applied = drawing("undo", op_id="undo-1")["steps"]
    assert drawing("undo", op_id="undo-1")["steps"] == applied and applied[0]["remove"] == "alter"


def _reference_stacks(actions: list[str]) -> tuple[int, int]:
    """Undo and redo as two plain stacks: the model the log's linked stacks must agree with."""
    undo, redo = [], []
    for number, action in enumerate(actions):
        if action == "undo" and undo:
            redo.append(undo.pop())
        elif action == "redo" and redo:
            undo.append(redo.pop())
        elif action == "move":
            undo.append(number)
            redo.clear()
    return len(undo), len(redo)


@pytest.mark.parametrize("seed", range(4))
def test_undo_and_redo_agree_with_two_plain_stacks_over_long_random_sessions(drawing, seed):
    """Moves, undos and redos in random order: after each, the contact stands where plain undo/redo
    stacks put it, and undo/redo are offered exactly when those stacks are not empty."""
    import random

    chance = random.Random(seed)
    contact = alter("Jobcenter", x=0.6, y=0.0)
    drawing("add_alter", alter=contact)
    positions, undone, actions = [0.6], [], []  # the reference: x after each move still in effect
    for _ in range(60):
        action = chance.choice(["move", "move", "undo", "redo"])
        if action == "move":
            x = round(chance.uniform(0.3, 0.8), 3)
            result = drawing("edit_alter", id=contact["id"], fields={"x": x})
            positions.append(x)
            undone.clear()
        elif action == "undo" and len(positions) > 1:
            result = drawing("undo")
            undone.append(positions.pop())
        elif action == "redo" and undone:
            result = drawing("redo")
            positions.append(undone.pop())
        else:
            continue
        actions.append(action)
        undo_depth, redo_depth = _reference_stacks(["move", *actions])  # the contact's adding counts too
        assert (result["can_undo"], result["can_redo"]) == (undo_depth > 0, redo_depth > 0)
        assert drawing.state()["alters"][0]["x"] == positions[-1]


def test_a_log_written_before_events_kept_the_stacks_still_undoes_and_redoes(drawing, vault):
    """Events of an earlier fieldkit lack the stack pointers: the log is replayed once to find them."""
    contact = alter("Jobcenter", x=0.5, y=0.0)
    drawing("add_alter", alter=contact)
    for x in (0.2, 0.3, 0.4):
        drawing("edit_alter", id=contact["id"], fields={"x": x})
    drawing("undo")
    with db.writing(vault.engine) as session:
        for event in session.exec(select(MapEvent).where(MapEvent.map_id == drawing.map_id)):
            event.payload = {key: value for key, value in event.payload.items() if key not in maps.POINTERS}
            session.add(event)
    assert drawing.state()["can_redo"]
    assert drawing("undo")["can_undo"] and drawing.state()["alters"][0]["x"] == 0.2
    drawing("redo")
    drawing("redo")
    assert drawing.state()["alters"][0]["x"] == 0.4 and not drawing.state()["can_redo"]
    drawing("undo"), drawing("undo"), drawing("undo")
    assert drawing.state()["alters"][0]["x"] == 0.5
    assert drawing("undo")["can_undo"] is False and drawing.state()["alters"] == []

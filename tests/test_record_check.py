"""The compiled record checks (one pydantic-core call per kind of record in a bundle) against the rules
they stand in for (record_check.check_fields, check_identity): they may send a record to the rules, but
never pass one the rules refuse, and they pass the records fieldkit writes itself."""
import datetime as dt
import math

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from fieldkit import db, record_check
from fieldkit.demo import create_demo_data
from fieldkit.interviews import ensure_shipped_content
from fieldkit.merge import TRAVELLING, collect
from fieldkit.vault import Vault, new_project_identity

from conftest import PASSPHRASE


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Every record of a vault with the demo data, as it travels (fields by kind)."""
    vault = Vault(tmp_path_factory.mktemp("demo"), memory_kib=8192, iterations=1)
    vault.create(PASSPHRASE, [new_project_identity()[1]])
    with db.writing(vault.engine) as session:
        ensure_shipped_content(session, vault.device_id)
        create_demo_data(session, vault.device_id)
    with Session(vault.engine) as session:
        travelling = list(collect(session))
    vault.lock()
    return travelling


def passes_the_rules(model, fields) -> bool:
    try:
        record_check.check_fields(model, fields)
    except record_check.BadRecord:
        return False
    return True


def test_the_records_fieldkit_writes_pass_compiled(records):
    by_kind = {}
    for record in records:
        by_kind.setdefault(record.type, []).append(record.fields)
    assert {"organisation", "interview", "answer", "network_alter", "network_tie", "map_event"} <= set(by_kind)
    for kind, fields in by_kind.items():
        assert record_check.records_fine(TRAVELLING[kind], fields) == (kind != "recording"), kind
    assert record_check.identities_fine([r.id for r in records], [r.version for r in records], [r.fields for r in records])


ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), st.text(min_size=250, max_size=300),
    st.datetimes(min_value=dt.datetime(1, 1, 1), timezones=st.one_of(st.none(), st.timezones())).map(dt.datetime.isoformat),
    st.dates().map(dt.date.isoformat),
    st.sampled_from(["2024-02-29T10:00:00", "2023-02-29T10:00:00", "2026-04-31", "2026-12-06T24:00:00", "9000-12-31",
                     "0999-12-31T23:59:59+00:00", "2026-12-06T10:00:00,5+00:00", "2026-12-06 10:00:00", "cooperation",
                     "mutual", "add_alter", "1.0", "Person-12", "", -1.0, 1.0, 1.5, 2**53, 2**53 + 1]),
    st.recursive(st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.none()),
                 lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                 max_leaves=8),
)


def _one_changed(value, data):
    """A value of a JSON structure with one place inside it replaced (or the value itself)."""
    if isinstance(value, dict) and value and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(value)))
        return {**value, key: _one_changed(value[key], data)}
    if isinstance(value, list) and value and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(value) - 1))
        return [*value[:index], _one_changed(value[index], data), *value[index + 1:]]
    return data.draw(ODD_VALUES)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_compiled_never_passes_what_the_rules_refuse(records, data):
    """A record fieldkit wrote, one field (or a place inside it) changed, added or taken away."""
    record = data.draw(st.sampled_from(records))
    model, fields = TRAVELLING[record.type], dict(record.fields)
    change = data.draw(st.sampled_from(["change", "change", "add", "remove"]))
    if change == "add":
        fields[data.draw(st.sampled_from(["extra", "id", "version", "created_at"]))] = data.draw(ODD_VALUES)
    elif fields:
        name = data.draw(st.sampled_from(sorted(fields)))
        if change == "remove":
            del fields[name]
        else:
            fields[name] = _one_changed(fields[name], data)
    if record_check.records_fine(model, [fields]):
        event("passed compiled")  # how often: pytest --hypothesis-show-statistics
        assert passes_the_rules(model, fields), (record.type, fields)


@pytest.mark.parametrize("kind, fields", [
    ("network_alter", {"x": math.nan}), ("network_alter", {"x": 1.0000001}), ("network_alter", {"y": True}),
    ("network_alter", {"attributes": {"a": {"b": "c"}}}), ("network_tie", {"type": "feud"}),
    ("organisation", {"name": "x" * 10_000_000}),
    ("map_event", {"payload": {"forward": [{"put": "alter", "record": {"id": "a", "label": "A"}}]}}),
    ("map_event", {"payload": {"forward": [{"put": "tie", "record": {
        "id": "a", "label": "A", "actor_type": "state_actor", "x": 0.0, "y": 0.0, "attributes": {}}}]}}),
    ("guide", {"guide_version": "1.²"}), ("registry_entry", {"code": "Person-²"}),
    ("organisation", {"created_at": "2023-02-29T10:00:00+00:00"}), ("organisation", {"created_at": None}),
])
def test_compiled_refuses_what_the_rules_refuse(kind, fields):
    assert not passes_the_rules(TRAVELLING[kind], fields)
    assert not record_check.records_fine(TRAVELLING[kind], [fields])


@pytest.mark.parametrize("kind, fields", [
    ("organisation", {"created_at": "2024-02-29T10:00:00+00:00"}), ("organisation", {"created_at": "2026-12-06T11:00:00+01:00"}),
    ("interview", {"section_seconds": {"a": 2**70}}), ("recording", {"spans": []}),
])
def test_compiled_leaves_to_the_rules_what_it_cannot_decide(kind, fields):
    assert passes_the_rules(TRAVELLING[kind], fields)
    assert not record_check.records_fine(TRAVELLING[kind], [fields])


def test_records_beyond_the_compiled_limit_are_checked_by_the_rules():
    """A long note is checked in Python, on its own; its bundle's other records still compiled."""
    long = "x" * (record_check.COMPILED_LIMIT + 1)
    assert record_check.records_fine(TRAVELLING["answer"], [{"text": "kurz"}, {"text": long, "value": "y"}])
    assert not record_check.records_fine(TRAVELLING["answer"], [{"text": "kurz"}, {"text": long, "value": {"a": 1}}])


def test_hostile_records_are_refused_cheaply_on_either_path():
    """A validator collects every error it meets: a million bad items must not cost gigabytes (found by an
    attacker's review: 28 s and 8 GB for one map event of two million empty steps, before lists stopped
    at their first bad item and records beyond COMPILED_LIMIT went to the rules one by one)."""
    from test_fuzz import peak_memory, reset_peak_memory

    before = reset_peak_memory()
    steps = {"forward": [{}] * 300_000}
    assert not record_check.records_fine(TRAVELLING["map_event"], [{"payload": {"forward": [{}] * 20_000}}] * 6)
    assert not record_check.records_fine(TRAVELLING["map_event"], [{"payload": steps}] * 6)
    with pytest.raises(record_check.BadRecord, match="too"):
        record_check.check_fields(TRAVELLING["map_event"], {"payload": steps})
    assert not record_check.records_fine(TRAVELLING["quote_code"], [{f"k{number}": 1 for number in range(300_000)}])
    assert not record_check.records_fine(TRAVELLING["organisation"], [{"offer_fields": [1] * 1_000_000}])
    assert not record_check.identities_fine(["0a"], [{f"{number:x}": 1 for number in range(1_000_000)}], [{}])
    assert peak_memory() - before < 150 * 2**20


@given(ids=st.lists(st.one_of(st.uuids().map(str), st.text(max_size=40), st.integers()), min_size=1, max_size=3),
       versions=st.lists(st.one_of(
           st.dictionaries(st.one_of(st.uuids().map(str), st.text(max_size=40)),
                           st.one_of(st.integers(-2, 2**54), st.booleans(), st.floats()), max_size=3),
           st.lists(st.integers(), max_size=2)), min_size=3, max_size=3))
@settings(max_examples=400, deadline=None)
def test_compiled_identities_never_pass_what_the_rules_refuse(ids, versions):
    fields = [{}] * len(ids)
    if record_check.identities_fine(ids, versions[:len(ids)], fields):
        for record_id, version in zip(ids, versions):
            record_check.check_identity(record_id, version, {})

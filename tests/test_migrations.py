"""Alembic owns the schema: an empty database upgraded to head matches the models exactly."""
import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import fieldkit.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from fieldkit import db
from fieldkit.config import resource_dir
from fieldkit.models import SHARED_TABLES

SHARED_COLUMNS = {"id", "created_at", "updated_at", "origin_device", "version", "deleted"}


# The map log's order index is on an expression, which reflection cannot see (migration 0008).
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_empty_encrypted_database_upgrades_to_a_schema_matching_the_models(tmp_path):
    engine = db.sqlcipher_engine(tmp_path / "fresh.db", os.urandom(32))
    db.migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) | {"alembic_version"} == tables


def test_every_shared_table_carries_the_merge_columns(tmp_path):
    engine = db.plain_engine(tmp_path / "plain.db")
    db.migrate(engine)
    inspector = inspect(engine)
    for model in SHARED_TABLES:
        columns = {column["name"] for column in inspector.get_columns(model.__tablename__)}
        assert SHARED_COLUMNS <= columns, model.__tablename__


def _head() -> str:
    return ScriptDirectory(str(resource_dir("migrations"))).get_current_head()


def test_migrating_twice_changes_nothing(tmp_path):
    engine = db.plain_engine(tmp_path / "twice.db")
    db.migrate(engine)
    db.migrate(engine)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _head()


def test_a_vault_at_the_newest_revision_is_opened_without_alembic(tmp_path):
    """Unlocking checks the revision against the migrations' own lines; Alembic is loaded only to migrate."""
    import subprocess
    import sys

    assert db._newest_revision() == _head()
    engine = db.plain_engine(tmp_path / "current.db")
    db.migrate(engine)
    engine.dispose()
    opened = subprocess.run([sys.executable, "-c", (
        "import sys; from pathlib import Path; from fieldkit import db; "
        f"db.migrate(db.plain_engine(Path({str(tmp_path / 'current.db')!r}))); print('alembic' in sys.modules)")],
        capture_output=True, text=True, check=True)
    assert opened.stdout.strip() == "False"
    older = db.plain_engine(tmp_path / "older.db")
    db.migrate(older, "0012")  # one behind: Alembic takes it to the newest as before
    assert db._revisions_of(older) == {"0012"}
    db.migrate(older)
    assert db._revisions_of(older) == {_head()}


def test_a_vault_from_the_first_release_upgrades_with_its_data(tmp_path):
    engine = db.sqlcipher_engine(tmp_path / "old.db", os.urandom(32))
    db.migrate(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO organisation (id, created_at, updated_at, origin_device, version, deleted, name, "
            "offer_fields, target_groups, funding_sources, notes, is_demo) VALUES ('o1', '2026-01-01', '2026-01-01', "
            "'d', '{}', 0, 'Verein', '[]', '[]', '[]', '', 0)"))
        connection.execute(text(
            "INSERT INTO interview (id, created_at, updated_at, origin_device, version, deleted, organisation_id, "
            "interviewer, status, consent, section_seconds) VALUES ('i1', '2026-01-01', '2026-01-01', 'd', '{}', 0, "
            "'o1', 'A', 'planned', '{}', '{}')"))
    db.migrate(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT coverage, position FROM interview WHERE id = 'i1'")).one() == ("{}", "{}")


def test_production_code_never_creates_tables_itself(repo_root):
    for path in (repo_root / "fieldkit").rglob("*.py"):
        assert "create_all" not in path.read_text(encoding="utf-8"), path


def test_the_map_log_is_read_newest_first_through_its_index(tmp_path):
    """A change reads the latest events of its map through the index, not the whole log (maps._latest)."""
    from fieldkit import maps
    from fieldkit.models import MapEvent
    from sqlmodel import select

    engine = db.plain_engine(tmp_path / "plain.db")
    db.migrate(engine)
    query = (select(MapEvent.id).where(MapEvent.map_id == "m", MapEvent.deleted == False)  # noqa: E712
             .order_by(maps._SEQ.desc(), MapEvent.at.desc()).limit(50))
    with engine.connect() as connection:
        plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(query.compile(
            engine, compile_kwargs={"literal_binds": True}))).all()
    details = " ".join(row[-1] for row in plan)
    assert "USING INDEX ix_map_event_log_order" in details and "TEMP B-TREE" not in details

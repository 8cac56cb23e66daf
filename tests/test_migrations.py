"""Alembic owns the schema: an empty database upgraded to head matches the models exactly."""
import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import fieldkit.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from fieldkit import db
from fieldkit.models import SHARED_TABLES

SHARED_COLUMNS = {"id", "created_at", "updated_at", "origin_device", "version", "deleted"}


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


def test_migrating_twice_changes_nothing(tmp_path):
    engine = db.plain_engine(tmp_path / "twice.db")
    db.migrate(engine)
    db.migrate(engine)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0001"


def test_production_code_never_creates_tables_itself(repo_root):
    for path in (repo_root / "fieldkit").rglob("*.py"):
        assert "create_all" not in path.read_text(encoding="utf-8"), path

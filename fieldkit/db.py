"""Engines for the vault database: SQLCipher keyed with a raw key, SQLite pragmas, Alembic migrations.

Durability: WAL with synchronous=FULL, so a write that was acknowledged survives a crash or power cut.
Writes go through `writing()`, which begins with BEGIN IMMEDIATE: SQLite has one writer, and taking
the lock up front avoids two readers that both try to upgrade. Reads begin deferred and never block.
"""
import re
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Optional

import sqlcipher3.dbapi2 as sqlcipher
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from .config import resource_dir

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA temp_store = MEMORY",  # sorts and temporary tables never touch the disk
)


def sqlcipher_engine(path: Path, key: bytes) -> Engine:
    """An engine whose every connection opens the database encrypted with the 256-bit raw key."""
    if len(key) != 32:
        raise ValueError("the database key must be 32 bytes")
    key_pragma = f"PRAGMA key = \"x'{key.hex()}'\""  # a raw key skips SQLCipher's own PBKDF2

    def connect():
        connection = sqlcipher.connect(str(path), check_same_thread=False, isolation_level=None)
        connection.execute(key_pragma)
        return _configure(connection)

    return _engine(path, connect, sqlcipher)


def plain_engine(path: Path) -> Engine:
    """The same database unencrypted: for benchmarks that compare against plain SQLite and for
    authoring migrations."""

    def connect():
        return _configure(sqlite3.connect(str(path), check_same_thread=False, isolation_level=None))

    return _engine(path, connect, sqlite3)


def _configure(connection):
    for pragma in PRAGMAS:
        connection.execute(pragma)
    return connection


def _engine(path: Path, connect, module) -> Engine:
    # hide_parameters: an error never carries record values (interview content) into a log or onto stderr
    engine = create_engine(f"sqlite:///{path}", creator=connect, module=module, poolclass=QueuePool,
                           pool_size=4, max_overflow=4, hide_parameters=True)

    @event.listens_for(engine, "begin")
    def _begin(connection):
        immediate = connection.get_execution_options().get("immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def writing(engine: Engine) -> Iterator[Session]:
    """A session for one action that writes: takes the write lock at once, commits at the end,
    rolls back everything if anything fails."""
    with Session(engine.execution_options(immediate=True), expire_on_commit=False) as session, session.begin():
        yield session


def stored_time(moment: datetime) -> str:
    """A time as SQLAlchemy stores it in SQLite, in UTC: "2026-12-04 18:05:32.000000"."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(" ", "microseconds")


@contextmanager
def writing_core(engine: Engine) -> Iterator[Connection]:
    """As writing(), without the ORM session, for a hot path of one statement (autosave)."""
    with engine.execution_options(immediate=True).begin() as connection:
        yield connection


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the given Alembic revision; Alembic alone creates and changes tables. A vault
    at the newest revision already, as nearly every unlock finds it, is left as it is without loading
    Alembic (a sixth of a second)."""
    if revision == "head" and _revisions_of(engine) == {_newest_revision()}:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _revisions_of(engine: Engine) -> set:
    with engine.connect() as connection:
        if not connection.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").first():
            return set()
        return {row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}


_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


@lru_cache(maxsize=None)
def _newest_revision() -> Optional[str]:
    """The one revision no migration builds on, read from the migrations' own lines (None if not exactly one)."""
    revisions, built_on = set(), set()
    for script in (resource_dir("migrations") / "versions").glob("*.py"):
        for name, value in _REVISION.findall(script.read_text(encoding="utf-8")):
            (revisions if name == "revision" else built_on).add(value)
    heads = revisions - built_on
    return heads.pop() if len(heads) == 1 else None

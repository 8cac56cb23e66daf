"""The project server's database: SQLite in the data directory, or PostgreSQL when
FIELDKIT_SERVER_DATABASE_URL names one (psycopg 3). Alembic owns the schema on both.

Tables are SQLAlchemy Core on their own metadata, apart from the laptop's models: the server keeps
only anonymised releases, the devices allowed to send them and its administrator.
"""
import hashlib
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from sqlalchemy import (Column, DateTime, ForeignKey, Integer, MetaData, String, Table, Text, create_engine, event,
                        func, select)
from sqlalchemy.engine import Engine

from ..errors import UserError
from ..i18n import N_

metadata = MetaData()

devices = Table(
    "device", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 of the token; the token is never stored
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)
releases = Table(
    "release", metadata,
    Column("release_id", String(36), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("device_id", String(36), ForeignKey("device.id"), nullable=False, index=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("created", String(40), nullable=False),  # when the laptop made it
    Column("size", Integer, nullable=False),
    Column("counts", Text, nullable=False),  # JSON
    Column("document", Text, nullable=False),  # the release document, JSON
)
settings = Table(
    "server_setting", metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)
login_failures = Table(
    "login_failure", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("remote", String(100), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)

DATABASE_ENV = "FIELDKIT_SERVER_DATABASE_URL"
SQLITE_FILE = "server.db"


def now() -> datetime:
    return datetime.now(timezone.utc)


def database_url(data_dir: Path) -> str:
    """PostgreSQL if FIELDKIT_SERVER_DATABASE_URL says so, else an SQLite file in the data directory."""
    url = os.environ.get(DATABASE_ENV, "").strip()
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, not the older psycopg2
    return url or f"sqlite:///{Path(data_dir) / SQLITE_FILE}"


def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        # isolation_level=None: the driver begins no transaction of its own; the "begin" event below does.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
                               pool_size=16, max_overflow=16, hide_parameters=True)  # one per waitress thread

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            # WAL: readers never wait for the writer; FULL: a stored release survives a power cut.
            for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "busy_timeout = 30000"):
                connection.execute(f"PRAGMA {pragma}")

        @event.listens_for(engine, "begin")
        def _begin(connection):
            # Writes take the lock at once (one writer at a time, no upgrade deadlock); reads never wait.
            immediate = connection.get_execution_options().get("immediate", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    try:
        return create_engine(url, pool_size=16, max_overflow=16, pool_pre_ping=True, hide_parameters=True)
    except ModuleNotFoundError as missing:  # the desktop folder carries no PostgreSQL driver (build_app.py)
        raise UserError(N_("There is no driver for this database here (%(module)s): run the project server from a "
                           "pip installation of fieldkit, as the README's section on the server says."),
                        module=missing.name) from None


def writing(engine: Engine):
    """A transaction that writes: on SQLite it takes the write lock at its start."""
    return engine.execution_options(immediate=True).begin()


def migrate(engine: Engine) -> None:
    """Bring the server schema to the newest revision (Alembic, for SQLite and PostgreSQL alike)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def setting(connection, key: str) -> Optional[str]:
    return connection.execute(select(settings.c.value).where(settings.c.key == key)).scalar()


def put_setting(connection, key: str, value: str) -> None:
    if setting(connection, key) is None:
        connection.execute(settings.insert().values(key=key, value=value))
    else:
        connection.execute(settings.update().where(settings.c.key == key).values(value=value))


def secret_key(engine: Engine) -> str:
    """The key that signs dashboard sessions, made once and shared by every worker through the database."""
    with writing(engine) as connection:
        key = setting(connection, "secret_key")
        if key is None:
            key = secrets.token_hex(32)
            put_setting(connection, "secret_key", key)
        return key


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def release_count(connection) -> int:
    return connection.execute(select(func.count()).select_from(releases)).scalar()

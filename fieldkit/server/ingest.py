"""Storing releases with group commit: requests that arrive together are written in one transaction,
so many releases share one fsync, and each request is answered only once its release is on disk."""
import queue
import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from ..db import stored_time

MAX_BATCH = 64
WAIT_SECONDS = 60
MAX_WAITING = 256  # releases held in memory for the writer; beyond, the server is busy (a stalled database)


class Busy(Exception):
    """The database cannot take this release now; the laptop sends it again later."""


def _held() -> threading.Lock:
    """A lock taken already: the request waits on it, the writer releases it (C-level, no Python Condition)."""
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class _Item:
    values: dict
    done: threading.Lock = field(default_factory=_held)  # released once the batch is written
    stored: bool = False
    conflict: bool = False
    error: Exception = None


class Ingest:
    """One writer thread per process takes the waiting releases in batches."""

    def __init__(self, engine: Engine):
        self.engine, self.waiting = engine, queue.SimpleQueue()  # C-level: fewer hand-overs of the interpreter
        self._thread, self._start = None, threading.Lock()

    def store(self, values: dict) -> str:
        """'stored', 'duplicate' (this exact release is there already) or 'conflict' (same id, other content)."""
        self._ensure_writer()
        if self.waiting.qsize() >= MAX_WAITING:
            raise Busy("the server is busy: send the release again later")
        item = _Item(values)
        self.waiting.put(item)
        if not item.done.acquire(timeout=WAIT_SECONDS):  # it may still be stored: sent again, it is a duplicate
            raise Busy("the database did not answer in time: send the release again later")
        if item.error is not None:
            raise item.error
        return "conflict" if item.conflict else "stored" if item.stored else "duplicate"

    def _ensure_writer(self) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._write, name="fieldkit-ingest", daemon=True)
                self._thread.start()

    def _write(self) -> None:
        connection = None
        while True:
            batch = [self.waiting.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            try:
                connection = connection or self._connect()
                self._store(connection, batch)
            except Exception as error:  # noqa: BLE001 (handed to the waiting requests)
                for item in batch:
                    item.error = error
                connection = self._close(connection)  # the next batch starts on a fresh connection
            finally:
                for item in batch:
                    item.done.release()

    def _connect(self):
        """The writer's own driver connection, in autocommit: a batch is one statement, one round trip and
        one commit, so the writer (the thread every request waits for) hands the interpreter over rarely."""
        connection = self.engine.raw_connection()
        if self.engine.dialect.name != "sqlite":  # the SQLite engine's driver connections commit each statement already
            connection.driver_connection.autocommit = True
        return connection

    @staticmethod
    def _close(connection):
        if connection is not None:
            try:
                connection.invalidate()
            except Exception:  # noqa: BLE001 (a broken connection is dropped either way)
                pass
        return None

    def _store(self, connection, batch: list[_Item]) -> None:
        """Insert what is new in one statement; only a release that was there already costs a lookup."""
        sqlite = self.engine.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        first = {}
        for item in batch:
            first.setdefault(item.values["release_id"], item)
        rows = [_row(item.values, sqlite) for item in first.values()]
        placeholders = "(" + ",".join([mark] * 8) + ")"
        cursor = connection.cursor()
        cursor.execute(f"INSERT INTO release ({COLUMNS}) VALUES {','.join([placeholders] * len(rows))}"
                       " ON CONFLICT (release_id) DO NOTHING RETURNING release_id",
                       [value for row in rows for value in row])
        inserted = {row[0] for row in cursor.fetchall()}
        held = [release_id for release_id in first if release_id not in inserted]
        known = {}
        if held:
            cursor.execute(f"SELECT release_id, sha256 FROM release WHERE release_id IN ({','.join([mark] * len(held))})", held)
            known = dict(cursor.fetchall())
        cursor.close()
        for item in batch:
            release_id = item.values["release_id"]
            item.stored = release_id in inserted and first[release_id] is item
            stored_sha = item.values["sha256"] if item.stored else known.get(release_id, first[release_id].values["sha256"])
            item.conflict = stored_sha != item.values["sha256"]


COLUMNS = "release_id, sha256, device_id, received_at, created, size, counts, document"


def _row(values: dict, sqlite: bool) -> tuple:
    received = stored_time(values["received_at"]) if sqlite else values["received_at"]
    return (values["release_id"], values["sha256"], values["device_id"], received, values["created"], values["size"],
            values["counts"], values["document"])


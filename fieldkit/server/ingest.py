"""Storing releases with group commit: requests that arrive together are written in one transaction,
so many releases share one fsync, and each request is answered only once its release is on disk."""
import queue
import threading
from dataclasses import dataclass, field
from datetime import timezone

from sqlalchemy.engine import Engine

MAX_BATCH = 64
WAIT_SECONDS = 60


@dataclass
class _Item:
    values: dict
    done: threading.Event = field(default_factory=threading.Event)
    stored: bool = False
    conflict: bool = False
    error: Exception = None


class Ingest:
    """One writer thread per process takes the waiting releases in batches."""

    def __init__(self, engine: Engine):
        self.engine, self.waiting = engine, queue.Queue()
        self._thread, self._start = None, threading.Lock()

    def store(self, values: dict) -> str:
        """'stored', 'duplicate' (this exact release is there already) or 'conflict' (same id, other content)."""
        self._ensure_writer()
        item = _Item(values)
        self.waiting.put(item)
        if not item.done.wait(WAIT_SECONDS):
            raise TimeoutError("the database did not answer in time")
        if item.error is not None:
            raise item.error
        return "conflict" if item.conflict else "stored" if item.stored else "duplicate"

    def _ensure_writer(self) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._write, name="fieldkit-ingest", daemon=True)
                self._thread.start()

    def _write(self) -> None:
        while True:
            batch = [self.waiting.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except self.engine.dialect.dbapi.IntegrityError:  # another process stored one meanwhile: one by one
                for item in batch:
                    try:
                        self._commit([item])
                    except Exception as error:  # noqa: BLE001 (handed to the waiting request)
                        item.error = error
            except Exception as error:  # noqa: BLE001 (handed to the waiting requests)
                for item in batch:
                    item.error = error
            finally:
                for item in batch:
                    item.done.set()

    def _commit(self, batch: list[_Item]) -> None:
        """One transaction for the batch, on the driver directly: the writer is the one thread every
        request waits for, so it does as little Python work per release as it can."""
        sqlite = self.engine.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        ids = [item.values["release_id"] for item in batch]
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(f"SELECT release_id, sha256 FROM release WHERE release_id IN ({','.join([mark] * len(ids))})", ids)
            known = dict(cursor.fetchall())
            rows = []
            for item in batch:
                values = item.values
                if values["release_id"] in known:
                    item.stored, item.conflict = False, known[values["release_id"]] != values["sha256"]
                    continue
                known[values["release_id"]] = values["sha256"]
                item.stored = True
                received = values["received_at"]
                rows.append((values["release_id"], values["sha256"], values["device_id"],
                             _sqlite_time(received) if sqlite else received, values["created"], values["size"],
                             values["counts"], values["document"]))
            if rows:
                cursor.executemany(f"INSERT INTO release ({COLUMNS}) VALUES ({','.join([mark] * 8)})", rows)
            raw.commit()
        except Exception:
            raw.rollback()
            raise
        finally:
            raw.close()


COLUMNS = "release_id, sha256, device_id, received_at, created, size, counts, document"


def _sqlite_time(moment) -> str:
    """A time as SQLAlchemy stores it in SQLite (UTC, without offset), so it reads back the same."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")

"""Storing releases with group commit: requests that arrive together are written in one transaction,
so many releases share one fsync, and each request is answered only once its release is on disk."""
import queue
import threading
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from . import storage
from .storage import releases

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
            except IntegrityError:  # another process stored one of these meanwhile: one by one, then
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
        ids = [item.values["release_id"] for item in batch]
        with storage.writing(self.engine) as connection:
            known = dict(connection.execute(select(releases.c.release_id, releases.c.sha256).where(
                releases.c.release_id.in_(ids))).all())
            new = []
            for item in batch:
                release_id, sha256 = item.values["release_id"], item.values["sha256"]
                if release_id in known:
                    item.stored, item.conflict = False, known[release_id] != sha256
                else:
                    known[release_id] = sha256
                    item.stored = True
                    new.append(item.values)
            if new:
                connection.execute(releases.insert(), new)

"""One running fieldkit per data directory: an exclusive lock on a file there, held while we run."""
import os
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError
from .i18n import N_

LOCK_NAME = "fieldkit.lock"


class AlreadyRunning(UserError):
    message = N_("fieldkit is already running for this data directory (%(directory)s). Use the running fieldkit (its window or browser tab), or quit it first.")

    def __init__(self, directory: Path):
        super().__init__(directory=str(directory))


@contextmanager
def single_instance(data_dir: Path):
    """Hold the data directory's lock for the duration; AlreadyRunning if another process holds it.
    The operating system drops the lock when the process dies, so a crash never leaves it stuck."""
    handle = open(Path(data_dir) / LOCK_NAME, "a+")
    try:
        try:
            _lock(handle)
        except OSError as error:
            raise AlreadyRunning(data_dir) from error
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


if os.name == "nt":
    import msvcrt

    def _lock(handle):
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def _lock(handle):
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

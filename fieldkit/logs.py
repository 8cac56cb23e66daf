"""The app's log: a rotating file in the data directory, so a coordinator can ask for it when something
went wrong. It holds what happened (requests by path, window events, errors with their traces and
error ids), never content: paths carry only ids (query strings, which carry search terms, are left out),
and database errors are raised without their parameters (db.engine's hide_parameters)."""
import logging
import logging.handlers
from pathlib import Path

LOG_NAME = "fieldkit.log"
MAX_BYTES = 1_000_000
KEEP = 5


def to_file(data_dir: Path) -> Path:
    """Write the `fieldkit` loggers to data_dir/logs/fieldkit.log (1 MB each, the last 5 kept). Calling it
    again for another directory moves the log there."""
    folder = Path(data_dir) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_NAME
    logger = logging.getLogger("fieldkit")
    for handler in [h for h in logger.handlers if getattr(h, "fieldkit_file", False)]:
        logger.removeHandler(handler)
        handler.close()
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=KEEP, encoding="utf-8")
    handler.fieldkit_file = True
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)  # requests and window events go to the file; stderr keeps its own level
    return path

"""Settings: where the data lives, how long the app stays unlocked, what a passphrase costs.

Defaults first; every key can be overridden by an environment variable FIELDKIT_<KEY>.
"""
import os
from pathlib import Path

import platformdirs

IDLE_LOCK_MINUTES_RANGE = (1, 240)
KEYSTORE_NAME = "keystore.json"  # in the data directory: its presence means a vault is set up (fieldkit.vault)

DEFAULTS = {
    "DATA_DIR": None,  # None: the platform's user data directory
    "IDLE_LOCK_MINUTES": 15,
    # Argon2id: memory is fixed, iterations are calibrated at vault creation to ARGON2_TARGET_SECONDS.
    "ARGON2_MEMORY_KIB": 256 * 1024,
    "ARGON2_LANES": 4,
    "ARGON2_ITERATIONS": None,
    "ARGON2_TARGET_SECONDS": 0.6,
    "BABEL_DEFAULT_LOCALE": "de",
    "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,  # uploads are held in memory, never spooled to disk
    "UPLOAD_SLOTS": 2,  # uploads processed at once; more wait (fieldkit.UploadSlots)
}
_INT_KEYS = {"IDLE_LOCK_MINUTES", "ARGON2_MEMORY_KIB", "ARGON2_LANES", "ARGON2_ITERATIONS", "MAX_CONTENT_LENGTH",
             "UPLOAD_SLOTS"}
_FLOAT_KEYS = {"ARGON2_TARGET_SECONDS"}


def from_env(environ=os.environ) -> dict:
    """The FIELDKIT_* overrides present in the environment, converted to their types."""
    settings = {}
    for key in DEFAULTS:
        raw = environ.get(f"FIELDKIT_{key}")
        if raw is None or raw == "":
            continue
        settings[key] = int(raw) if key in _INT_KEYS else float(raw) if key in _FLOAT_KEYS else raw
    return settings


def settings(environ=os.environ) -> dict:
    """The defaults with the environment's overrides applied."""
    return {**DEFAULTS, **from_env(environ)}


def data_dir(configured=None, create: bool = True) -> Path:
    """The data directory: configured, else FIELDKIT_DATA_DIR, else the platform's user data dir.
    Created (private to the user) unless create is False, for commands that only read a vault."""
    chosen = configured or os.environ.get("FIELDKIT_DATA_DIR") or platformdirs.user_data_dir("fieldkit", "fieldkit")
    path = Path(chosen).expanduser().resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def resource_dir(name: str) -> Path:
    """A top-level resource folder (templates, static, migrations): inside the package when installed
    from a wheel or frozen by PyInstaller, beside it in a source checkout."""
    package = Path(__file__).resolve().parent
    inside = package / name
    return inside if inside.is_dir() else package.parent / name

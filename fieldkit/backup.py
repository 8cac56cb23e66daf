"""Backups of the vault: one file holding a consistent copy of the encrypted database (its file and
write-ahead log copied under a read transaction while the app runs, still encrypted with the vault's
key) and the keystore, so it opens only with the passphrase or the coordination's recovery key, like
the vault itself.

Backups run by hand (`fieldkit backup`, *Jetzt sichern*) or by plan (a folder such as a USB stick, how many
to keep, daily and/or when the window closes), kept as this device's local settings; BackupWorker makes
the daily one while the app runs. The app warns when the last backup is more than 7 days old.

The file is a ZIP of `keystore.json`, `fieldkit.db`, `fieldkit.db-wal` (if the vault has one) and
`manifest.json` (format, time, device, SHA-256 of each member). A restore goes into an empty data
directory (or replaces the vault after moving it aside), checks every member against the manifest,
opens the restored vault with the passphrase and checks its integrity; anything wrong leaves nothing
restored.
"""
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from sqlmodel import Session

from . import __version__, db
from .errors import UserError
from .i18n import N_
from .local_settings import get_setting, set_setting
from .models import utcnow
from .periodic import Periodic
from .vault import DATABASE_NAME, KEYSTORE_NAME, Vault

log = logging.getLogger("fieldkit.backup")

FORMAT = "fieldkit-backup/2"  # /2 may hold the write-ahead log beside the database; /1 restores too
READABLE = ("fieldkit-backup/1", FORMAT)
WAL_NAME = DATABASE_NAME + "-wal"
MEMBERS = (KEYSTORE_NAME, DATABASE_NAME, WAL_NAME)  # the log only if the vault had one
# What makes a vault on disk: a log or index left beside a database must go with it, never onto another.
VAULT_FILES = (KEYSTORE_NAME, DATABASE_NAME, WAL_NAME, DATABASE_NAME + "-shm")
SUFFIX = ".fkbak"
MAX_MEMBER = 64 * 2**30  # a vault larger than this is no vault of ours
SYNC_EVERY = 1 * 2**20
PACE = 240e6  # bytes per second: fast enough for a USB 3 stick, slow enough that notes are saved as fast


class BackupError(UserError):
    message = N_("The backup could not be used.")


def write(vault: Vault, folder: Path, keep: int = 10, now: Optional[dt.datetime] = None) -> Path:
    """Back up the unlocked vault into `folder`; the oldest backups beyond `keep` are removed. The copy
    runs in a thread of the lowest CPU priority: on two cores, a note saved meanwhile otherwise waited
    three times as long for the processor (measured), whatever the disk."""
    outcome: dict = {}

    def copy() -> None:
        if hasattr(os, "setpriority"):  # per thread on Linux; a thread cannot get its priority back
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
            except OSError:
                pass
        try:
            outcome["file"] = _write(vault, Path(folder), keep, now or utcnow())
        except BaseException as error:  # handed to the caller as it is
            outcome["error"] = error

    worker = threading.Thread(target=copy, name="fieldkit-backup-copy")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["file"]


def _write(vault: Vault, folder: Path, keep: int, now: dt.datetime) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"fieldkit-backup_{vault.device_id[:8]}_{now.strftime('%Y-%m-%d_%H%M%S-%f')}{SUFFIX}"  # two in one second stay two
    scratch = folder / f".partial-{uuid.uuid4().hex}"
    try:
        keystore = vault.keystore_path.read_bytes()
        hashes = {KEYSTORE_NAME: _sha256_bytes(keystore)}
        with zipfile.ZipFile(scratch, "w", zipfile.ZIP_STORED) as archive:  # encrypted pages do not compress
            archive.writestr(KEYSTORE_NAME, keystore)
            with _snapshot(vault):
                for member in MEMBERS[1:]:
                    path = vault.database_path.with_name(member)
                    if path.exists():
                        hashes[member] = _store(archive, member, path)
            manifest = {"format": FORMAT, "created": now.isoformat(), "device_id": vault.device_id,
                        "app_version": __version__, "members": hashes}
            archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        with open(scratch, "rb") as written:
            os.fsync(written.fileno())
        target_path = folder / name
        os.replace(scratch, target_path)
    finally:
        scratch.unlink(missing_ok=True)
    for old in backups(folder)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return target_path


@contextmanager
def _snapshot(vault: Vault):
    """While this holds a read transaction, the database file and its write-ahead log copied as they lie
    on disk are one consistent vault: no checkpoint writes past the snapshot's place in the log and the
    log does not start over, so restoring both replays the log onto the file (later commits copied with
    the log are whole or cut off by its checksums). The pages stay encrypted as they are, which makes a
    backup a copy, not a decryption and encryption of every page (SQLite's backup API)."""
    connection = vault.engine.raw_connection()
    driver = connection.driver_connection
    try:
        driver.execute("BEGIN")
        driver.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the read snapshot starts here
        yield
    finally:
        driver.execute("COMMIT")
        connection.close()


def _store(archive: zipfile.ZipFile, member: str, path: Path) -> str:
    """Copy a file into the archive, hashing it as it is stored (one pass); its SHA-256. Written data is
    put on disk every few megabytes: a note saved meanwhile then waits for a few megabytes, never for
    the whole backup, when its own fsync flushes the file system's journal."""
    digest, unsynced, started, copied = hashlib.sha256(), 0, time.monotonic(), 0
    with open(path, "rb") as source, archive.open(member, "w", force_zip64=True) as target:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
            target.write(chunk)
            unsynced, copied = unsynced + len(chunk), copied + len(chunk)
            if unsynced >= SYNC_EVERY:
                archive.fp.flush()
                getattr(os, "fdatasync", os.fsync)(archive.fp.fileno())  # macOS and Windows have no fdatasync
                unsynced = 0
                time.sleep(max(0.0, copied / PACE - (time.monotonic() - started)))  # leave the disk room
    return digest.hexdigest()


def backups(folder: Path) -> list[Path]:
    """The backup files in a folder, oldest first."""
    return sorted(Path(folder).glob(f"fieldkit-backup_*{SUFFIX}"), key=lambda path: path.name.rsplit("_", 2)[-2:])


def restore(file: Path, data_dir: Path, passphrase: str, identity: Optional[str] = None,
            replace: bool = False, open_vault: Callable[[Path], Vault] = Vault) -> Optional[Path]:
    """Restore a backup into data_dir and prove it opens with the passphrase; with the coordination's
    recovery identity, `passphrase` becomes the vault's new one (the old one was lost). With `replace`,
    an existing vault is first moved aside: the returned folder keeps it (else None)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    present = [data_dir / name for name in VAULT_FILES if (data_dir / name).exists()]
    if present and not replace:
        raise BackupError(N_("There is a vault in this data directory already. Restore into an empty one, or "
                             "replace it (the current vault is kept beside it)."))
    aside = None
    if present:
        aside = data_dir / f"vault-before-restore-{dt.datetime.now().strftime('%Y-%m-%d_%H%M%S')}"
        aside.mkdir()
        for path in present:
            shutil.move(str(path), aside / path.name)
    try:
        _unpack(Path(file), data_dir)
        _prove(open_vault(data_dir), passphrase, identity)
    except BaseException:
        for name in VAULT_FILES:
            (data_dir / name).unlink(missing_ok=True)
        if aside is not None:  # put the vault that was there back
            for path in aside.iterdir():
                shutil.move(str(path), data_dir / path.name)
            aside.rmdir()
        raise
    return aside


def _unpack(file: Path, data_dir: Path) -> None:
    try:
        archive = zipfile.ZipFile(file)
    except (OSError, zipfile.BadZipFile) as error:
        raise BackupError(N_("This is not a fieldkit backup (or it is damaged).")) from error
    with archive:
        try:
            manifest = json.loads(archive.read("manifest.json"))
            members = manifest["members"]
            if manifest.get("format") not in READABLE or not set(MEMBERS[:2]) <= set(members) <= set(MEMBERS):
                raise ValueError("format")
        except (KeyError, ValueError, TypeError, zipfile.BadZipFile) as error:
            raise BackupError(N_("This is not a fieldkit backup (or it is damaged).")) from error
        for name in [member for member in MEMBERS if member in members]:
            info = archive.getinfo(name)
            if info.file_size > MAX_MEMBER:
                raise BackupError(N_("This is not a fieldkit backup (or it is damaged)."))
            digest = hashlib.sha256()
            with archive.open(info) as source, open(data_dir / name, "wb") as target:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    digest.update(chunk)
                    target.write(chunk)
                target.flush()
                os.fsync(target.fileno())
            if digest.hexdigest() != members[name]:
                raise BackupError(N_("The backup is damaged: %(member)s does not match its checksum."), member=name)


def _prove(vault: Vault, passphrase: str, identity: Optional[str]) -> None:
    """Open the restored vault (the key must fit and it must be this keystore's database) and check
    every page of it."""
    from sqlalchemy import text

    if identity:
        vault.recover(identity, passphrase)
    vault.unlock(passphrase)
    try:
        with vault.engine.connect() as connection:
            problems = [row[0] for row in connection.execute(text("PRAGMA integrity_check"))]
        if problems != ["ok"]:
            raise BackupError(N_("The restored vault is damaged: %(problem)s"), problem="; ".join(problems)[:200])
    finally:
        vault.lock()


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Backups by plan ---------------------------------------------------------------------------------

PLAN_SETTING, LAST_SETTING, WATCHED_SETTING = "backup_plan", "backup_last", "backup_watched_since"
DAILY = dt.timedelta(hours=24)
WARN_AFTER = dt.timedelta(days=7)
KEEP_RANGE = (1, 100)


@dataclass
class Plan:
    folder: str
    keep: int = 10
    daily: bool = True
    on_close: bool = True


def plan(session: Session) -> Optional[Plan]:
    stored = get_setting(session, PLAN_SETTING)
    return Plan(**stored) if isinstance(stored, dict) and stored.get("folder") else None


def save_plan(session: Session, folder: str, keep: int, daily: bool, on_close: bool) -> Plan:
    """Check and keep the plan: an absolute folder that exists (or can be made) and takes files."""
    path = Path(folder.strip()).expanduser() if folder.strip() else None
    if path is None or not path.is_absolute():
        raise BackupError(N_("Enter the whole path of the backup folder, e.g. /media/usb/fieldkit or E:\\fieldkit."))
    if not KEEP_RANGE[0] <= keep <= KEEP_RANGE[1]:
        raise BackupError(N_("Keep between %(low)s and %(high)s backups."), low=KEEP_RANGE[0], high=KEEP_RANGE[1])
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".fieldkit-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise BackupError(N_("fieldkit cannot write into this folder (%(reason)s)."), reason=error.strerror or "?") from error
    chosen = Plan(str(path), keep, daily, on_close)
    set_setting(session, PLAN_SETTING, asdict(chosen))
    return chosen


def watch(session: Session, now: dt.datetime) -> None:
    """Start counting the days without a backup (on this vault's first unlock with this feature)."""
    if get_setting(session, WATCHED_SETTING) is None:
        set_setting(session, WATCHED_SETTING, now.isoformat())


@dataclass
class State:
    last: Optional[dt.datetime]
    failed: Optional[str]  # why the last planned backup failed, if it did after the last success
    overdue_days: Optional[int]  # days without a backup, once there are more than 7


def state(session: Session, now: dt.datetime) -> State:
    last = get_setting(session, LAST_SETTING) or {}
    done = _time(last.get("at"))
    since = done or _time(get_setting(session, WATCHED_SETTING)) or now
    overdue = now - since
    return State(done, last.get("failed"), overdue.days if overdue > WARN_AFTER else None)


def run_planned(vault: Vault, reason: str, now: Optional[dt.datetime] = None) -> Optional[Path]:
    """Back up by the plan (if there is one) and note the outcome; a missing USB stick is noted, not raised."""
    now = now or utcnow()
    with Session(vault.engine) as session:
        chosen = plan(session)
        last = get_setting(session, LAST_SETTING) or {}
    if chosen is None:
        return None
    try:
        written = write(vault, Path(chosen.folder), chosen.keep, now)
    except Exception as error:  # the stick is not plugged in, full, read-only: noted and shown, tried again later
        log.warning("%s backup failed: %s", reason, type(error).__name__)
        with db.writing(vault.engine) as session:
            set_setting(session, LAST_SETTING, {**last, "failed": getattr(error, "strerror", None) or type(error).__name__})
        return None
    noted(vault, now)
    log.info("%s backup written", reason)
    return written


def on_closing(vault: Vault) -> None:
    """The backup when the window closes, if planned."""
    with Session(vault.engine) as session:
        chosen = plan(session)
    if chosen and chosen.on_close:
        run_planned(vault, "closing")


def due(vault: Vault, now: dt.datetime) -> bool:
    with Session(vault.engine) as session:
        chosen = plan(session)
        done = _time((get_setting(session, LAST_SETTING) or {}).get("at"))
    return bool(chosen and chosen.daily and (done is None or now - done >= DAILY))


def noted(vault: Vault, now: Optional[dt.datetime] = None) -> None:
    """Note a backup made (by plan, or by hand to any folder), so the reminder counts from it."""
    with db.writing(vault.engine) as session:
        set_setting(session, LAST_SETTING, {"at": (now or utcnow()).isoformat(), "failed": None})


class BackupWorker(Periodic):
    """The daily backup while the app runs: checks every few minutes whether one is due."""

    def __init__(self, vault: Vault, interval: float = 300):
        super().__init__("fieldkit-backup", interval)
        self.vault = vault

    def round(self) -> None:
        if self.vault.is_unlocked and due(self.vault, utcnow()):
            run_planned(self.vault, "daily")


def _time(text) -> Optional[dt.datetime]:
    try:
        return dt.datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


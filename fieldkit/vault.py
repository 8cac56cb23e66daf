"""The vault (DESIGN.md §4): an SQLCipher database and the keystore that holds its key.

The database is encrypted with a random 256-bit raw key. That key and the device's Ed25519 signing
key ("the secrets") are stored in keystore.json twice:
  - wrapped with AES-256-GCM under a key derived by Argon2id from the passphrase; format, device id
    and KDF parameters are the associated data, so editing any of them breaks the wrap;
  - age-encrypted to the project's recovery recipients, so a coordinator can recover a laptop whose
    passphrase is lost.
Argon2id yields 64 bytes: the first half wraps, the second half keys a passphrase check value.
A wrong passphrase fails the check; a right passphrase whose wrap does not open means the file was
changed. The check gives an attacker nothing GCM did not already give: both need one Argon2id run.
"""
import base64
import hashlib
import hmac
import json
import os
import secrets as random
import threading
import unicodedata
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pyrage
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session

from . import db
from .config import KEYSTORE_NAME
from .errors import UserError
from .i18n import N_
from .models import LocalSetting

KEYSTORE_FORMAT = "fieldkit-keystore/1"
_CHECK_LABEL = b"fieldkit passphrase check v1"
DATABASE_NAME = "fieldkit.db"
MIN_PASSPHRASE_LENGTH = 12
# Bounds a keystore's KDF parameters must keep: an edited file must not make unlocking trivial
# (too cheap) or hang the laptop (too dear).
_KDF_BOUNDS = {"memory_kib": (8 * 1024, 4 * 1024 * 1024), "iterations": (1, 64), "lanes": (1, 16)}


class VaultError(UserError):
    message = N_("The vault could not be opened.")


class NoVault(VaultError):
    message = N_("There is no vault in this data directory yet.")


class VaultExists(VaultError):
    message = N_("A vault already exists in this data directory.")


class VaultLocked(VaultError):
    message = N_("The vault is locked.")


class WrongPassphrase(VaultError):
    message = N_("Wrong passphrase. Nothing was changed.")


class KeystoreDamaged(VaultError):
    message = N_("The key file has been changed or damaged and cannot be used.")


class KeystoreMismatch(VaultError):
    message = N_("The key file does not belong to this database (it comes from another device or vault).")


class DatabaseMissing(VaultError):
    message = N_("The database file fieldkit.db is missing from the data directory. Restore it from a backup; the key file alone holds no data.")


class DatabaseDamaged(VaultError):
    message = N_("The database fieldkit.db is damaged (%(problem)s). Nothing was changed. Restore the latest backup; `fieldkit doctor` checks the vault and says what it finds.")


def damaged(error: Exception) -> "DatabaseDamaged":
    """A DatabaseDamaged naming the database's own complaint, never a statement or its values."""
    text = str(getattr(error, "orig", error)).splitlines()[0][:120] if str(error) else type(error).__name__
    return DatabaseDamaged(problem=text)


class WeakPassphrase(VaultError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(problems[0])


class VaultTooNew(VaultError):
    message = N_("This vault was written by a newer version of fieldkit. Install the current version to open it.")


class RecoveryFailed(VaultError):
    message = N_("This coordinator key cannot open the recovery copy of this vault.")


class BadRecipient(VaultError):
    message = N_("That is not an age public key (it starts with age1…).")


def passphrase_problems(passphrase: str, confirmation: Optional[str] = None) -> list[str]:
    """What is wrong with a new passphrase, as translatable messages; empty when it is acceptable."""
    problems = []
    if confirmation is not None and passphrase != confirmation:
        problems.append(N_("The two passphrases do not match."))
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        problems.append(N_("The passphrase needs at least 12 characters; a few words in a row are easy to remember."))
    elif len(set(passphrase)) < 6:
        problems.append(N_("The passphrase repeats too few different characters."))
    elif _looks_sequential(passphrase) or _is_repetition(passphrase):
        problems.append(N_("The passphrase is a simple sequence or repetition such as 123456789 or abcabcabc."))
    return problems


def _require_strong(passphrase: str, confirmation: Optional[str]) -> None:
    problems = passphrase_problems(passphrase, confirmation)
    if problems:
        raise WeakPassphrase(problems)


def _looks_sequential(text: str) -> bool:
    """1234567890…, abcdefgh…, or the same backwards (digits wrap around from 9 to 0)."""
    steps = {ord(b) - ord(a) for a, b in zip(text.lower(), text.lower()[1:])}
    return steps <= {1, -9} or steps <= {-1, 9}


def _is_repetition(text: str) -> bool:
    """One chunk repeated, e.g. abcabcabcabc: the text reappears inside itself shifted."""
    return text in (text + text)[1:-1]


def parse_recipient(text: str) -> str:
    """Find the age recipient in pasted text or an identity file's '# public key:' line."""
    words = text.replace("#", " ").replace(":", " ").split()
    if any(w.upper().startswith("AGE-SECRET-KEY-") for w in words):  # also an identity file naming its public key
        raise BadRecipient(N_("This is the coordinator's secret key, which must never be on a laptop. Use only the public key (age1…, the file coordinator.pub); keep the secret key with the coordinator."))
    for word in words:
        if word.startswith("age1"):
            try:
                pyrage.x25519.Recipient.from_str(word)
            except Exception as error:
                raise BadRecipient() from error
            return word
    raise BadRecipient()


def new_project_identity() -> tuple[str, str]:
    """A coordinator key pair: (identity file text, recipient). The file is what `age-keygen` writes."""
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = f"# created: {created}\n# public key: {recipient}\n{identity}\n"
    return text, recipient


def fingerprint(public_key: bytes) -> str:
    """A device key's fingerprint as people compare it: SHA-256, first 16 bytes, in groups of four hex digits."""
    digest = hashlib.sha256(public_key).hexdigest()[:32]
    return " ".join(digest[i:i + 4] for i in range(0, 32, 4))


@dataclass(frozen=True)
class KdfParams:
    salt: bytes
    memory_kib: int
    iterations: int
    lanes: int

    def __post_init__(self):
        """Refuse parameters outside the bounds, whether read from a file or configured."""
        for name, (low, high) in _KDF_BOUNDS.items():
            if not low <= getattr(self, name) <= high:
                raise KeystoreDamaged(N_("Argon2id %(name)s must lie between %(low)s and %(high)s."),
                                      name=name, low=low, high=high)
        if len(self.salt) < 16:
            raise KeystoreDamaged()

    def derive(self, passphrase: str) -> tuple[bytes, bytes]:
        """(wrapping key, check key) from the passphrase."""
        # NFC: "ü" typed as one character or as u + combining diaeresis is the same passphrase.
        out = Argon2id(salt=self.salt, length=64, iterations=self.iterations, lanes=self.lanes,
                       memory_cost=self.memory_kib).derive(unicodedata.normalize("NFC", passphrase).encode("utf-8"))
        return out[:32], out[32:]

    def to_json(self) -> dict:
        return {"name": "argon2id", "salt": _b64(self.salt), "memory_kib": self.memory_kib,
                "iterations": self.iterations, "lanes": self.lanes}

    @classmethod
    def from_json(cls, data: dict) -> "KdfParams":
        if not isinstance(data, dict) or data.get("name") != "argon2id":
            raise KeystoreDamaged()
        numbers = [data.get(name) for name in ("memory_kib", "iterations", "lanes")]
        if not all(type(number) is int for number in numbers):  # 1e400, "64", null: a damaged file
            raise KeystoreDamaged()
        try:
            return cls(_unb64(data["salt"]), *numbers)
        except KeystoreDamaged as error:  # out of bounds: said as damage, not as a configuration error
            raise KeystoreDamaged() from error


def calibrate_kdf(memory_kib: int, lanes: int, target_seconds: float, iterations: Optional[int] = None,
                  clock: Callable[[], float] = time.perf_counter) -> KdfParams:
    """KDF parameters with a fresh salt; iterations grow until one derivation takes target_seconds."""
    salt = random.token_bytes(16)
    if iterations:
        return KdfParams(salt, memory_kib, iterations, lanes)
    iterations = 2
    while True:
        params = KdfParams(salt, memory_kib, iterations, lanes)
        started = clock()
        params.derive("calibration")
        elapsed = clock() - started
        if elapsed >= target_seconds or iterations >= 10:
            return params
        # Cost is linear in iterations: jump close to the target, then step.
        iterations = max(iterations + 1, min(10, int(iterations * target_seconds / max(elapsed, 1e-3))))


@dataclass(frozen=True)
class Secrets:
    device_id: str
    database_key: bytes
    signing_key: bytes  # Ed25519 private key, raw 32 bytes

    @classmethod
    def generate(cls) -> "Secrets":
        signing = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(str(uuid.uuid4()), random.token_bytes(32), signing)

    def to_bytes(self) -> bytes:
        return json.dumps({"device_id": self.device_id, "database_key": _b64(self.database_key),
                           "signing_key": _b64(self.signing_key)}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Secrets":
        fields = json.loads(data)
        return cls(fields["device_id"], _unb64(fields["database_key"]), _unb64(fields["signing_key"]))

    @property
    def public_key(self) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.signing_key).public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Keystore:
    device_id: str
    kdf: KdfParams
    check: bytes
    nonce: bytes
    wrapped: bytes
    recovery_recipients: tuple[str, ...]
    recovery: bytes  # age ciphertext of the secrets

    @staticmethod
    def header(device_id: str, kdf: KdfParams, recipients: tuple[str, ...], recovery: bytes) -> bytes:
        """The associated data: what the wrap is bound to, the recovery copy and its recipients included,
        so an edited recovery part cannot be carried forward unnoticed."""
        return json.dumps({"format": KEYSTORE_FORMAT, "device_id": device_id, "kdf": kdf.to_json(),
                           "recovery_recipients": list(recipients),
                           "recovery_sha256": hashlib.sha256(recovery).hexdigest()},
                          sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def wrap(cls, secrets: Secrets, passphrase: str, kdf: KdfParams, recipients: tuple[str, ...],
             recovery: Optional[bytes] = None) -> "Keystore":
        """Wrap the secrets under the passphrase; encrypt them to the recipients unless a recovery copy is given."""
        if recovery is None:
            recovery = pyrage.encrypt(secrets.to_bytes(), [pyrage.x25519.Recipient.from_str(r) for r in recipients])
        wrap_key, check_key = kdf.derive(passphrase)
        header = cls.header(secrets.device_id, kdf, tuple(recipients), recovery)
        nonce = random.token_bytes(12)
        wrapped = AESGCM(wrap_key).encrypt(nonce, secrets.to_bytes(), header)
        check = hmac.new(check_key, _CHECK_LABEL, hashlib.sha256).digest()
        return cls(secrets.device_id, kdf, check, nonce, wrapped, tuple(recipients), recovery)

    def unwrap(self, passphrase: str) -> Secrets:
        """The secrets, or WrongPassphrase / KeystoreDamaged."""
        wrap_key, check_key = self.kdf.derive(passphrase)
        header = self.header(self.device_id, self.kdf, self.recovery_recipients, self.recovery)
        if not hmac.compare_digest(hmac.new(check_key, _CHECK_LABEL, hashlib.sha256).digest(), self.check):
            raise WrongPassphrase()
        try:
            secrets = Secrets.from_bytes(AESGCM(wrap_key).decrypt(self.nonce, self.wrapped, header))
        except InvalidTag as error:
            raise KeystoreDamaged() from error
        if secrets.device_id != self.device_id:
            raise KeystoreDamaged()
        return secrets

    def recover(self, identity_text: str) -> Secrets:
        """The secrets from the recovery copy, opened with a coordinator's age identity."""
        identities = []
        for line in identity_text.splitlines():
            if line.strip().upper().startswith("AGE-SECRET-KEY-"):
                try:
                    identities.append(pyrage.x25519.Identity.from_str(line.strip()))
                except Exception as error:
                    raise RecoveryFailed(N_("The file does not contain a valid age identity (AGE-SECRET-KEY-…).")) from error
        if not identities:
            raise RecoveryFailed(N_("The file does not contain a valid age identity (AGE-SECRET-KEY-…)."))
        try:
            plaintext = pyrage.decrypt(self.recovery, identities)
        except pyrage.DecryptError as error:
            raise RecoveryFailed() from error
        try:
            secrets = Secrets.from_bytes(plaintext)
        except (ValueError, KeyError, TypeError) as error:
            raise KeystoreDamaged() from error
        if secrets.device_id != self.device_id:
            raise KeystoreDamaged()
        return secrets

    def to_json(self) -> dict:
        return {"format": KEYSTORE_FORMAT, "device_id": self.device_id, "kdf": self.kdf.to_json(),
                "check": _b64(self.check), "nonce": _b64(self.nonce), "wrapped": _b64(self.wrapped),
                "recovery": {"recipients": list(self.recovery_recipients), "age": _b64(self.recovery)}}

    @classmethod
    def from_json(cls, data: dict) -> "Keystore":
        try:
            if data["format"] != KEYSTORE_FORMAT:
                raise KeystoreDamaged()
            return cls(str(data["device_id"]), KdfParams.from_json(data["kdf"]), _unb64(data["check"]),
                       _unb64(data["nonce"]), _unb64(data["wrapped"]),
                       tuple(data["recovery"]["recipients"]), _unb64(data["recovery"]["age"]))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
            raise KeystoreDamaged() from error

    @classmethod
    def load(cls, path: Path) -> "Keystore":
        try:
            data = path.read_bytes()
            if len(data) > 1024 * 1024:
                raise KeystoreDamaged()
            return cls.from_json(json.loads(data))
        except FileNotFoundError as error:
            raise NoVault() from error
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise KeystoreDamaged() from error

    def save(self, path: Path) -> None:
        """Replace the keystore atomically: the old one stays whole until the new one is on disk."""
        temporary = path.with_name(path.name + ".new")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(self.to_json(), file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        _fsync_directory(path.parent)


class Vault:
    """The vault in one data directory: locked (no key in memory, no connection) or unlocked."""

    def __init__(self, directory: Path, memory_kib: int = 256 * 1024, lanes: int = 4,
                 iterations: Optional[int] = None, target_seconds: float = 0.6):
        self.directory = Path(directory)
        self.keystore_path = self.directory / KEYSTORE_NAME
        self.database_path = self.directory / DATABASE_NAME
        self._kdf_settings = dict(memory_kib=memory_kib, lanes=lanes, iterations=iterations,
                                  target_seconds=target_seconds)
        self._engine: Optional[Engine] = None
        self._secrets: Optional[Secrets] = None
        self._guard = threading.RLock()
        self._last_activity = time.monotonic()

    @classmethod
    def from_settings(cls, directory: Path, settings) -> "Vault":
        """A vault configured from the app settings (the ARGON2_* keys of fieldkit.config)."""
        return cls(directory, memory_kib=settings["ARGON2_MEMORY_KIB"], lanes=settings["ARGON2_LANES"],
                   iterations=settings["ARGON2_ITERATIONS"], target_seconds=settings["ARGON2_TARGET_SECONDS"])

    @property
    def exists(self) -> bool:
        return self.keystore_path.exists()

    @property
    def is_unlocked(self) -> bool:
        return self._engine is not None

    @property
    def engine(self) -> Engine:
        engine = self._engine
        if engine is None:
            raise VaultLocked()
        return engine

    @property
    def secrets(self) -> Secrets:
        if self._secrets is None:
            raise VaultLocked()
        return self._secrets

    @property
    def device_id(self) -> str:
        return self.secrets.device_id

    def keystore(self) -> Keystore:
        return Keystore.load(self.keystore_path)

    def create(self, passphrase: str, recipients: list[str], confirmation: Optional[str] = None) -> None:
        """Create the database and keystore, then stay unlocked. The keystore is written last, so a
        crash in between leaves no vault (only an unreadable database, moved aside on the next try)."""
        _require_strong(passphrase, confirmation)
        if not recipients:
            raise BadRecipient()
        recipients = [parse_recipient(r) for r in recipients]
        with self._guard:
            if self.exists:
                raise VaultExists()
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._move_aside_orphaned_database()
            secrets = Secrets.generate()
            engine = db.sqlcipher_engine(self.database_path, secrets.database_key)
            with _disposed_on_error(engine):
                _migrate(engine)
                with db.writing(engine) as session:
                    session.add(LocalSetting(key="device", value={"device_id": secrets.device_id}))
                kdf = calibrate_kdf(**self._kdf_settings)
                Keystore.wrap(secrets, passphrase, kdf, tuple(recipients)).save(self.keystore_path)
            self._open(secrets, engine)

    def unlock(self, passphrase: str) -> None:
        """Unwrap the key, open the database, bring its schema up to date."""
        with self._guard:
            secrets = self.keystore().unwrap(passphrase)
            engine = self._verified_engine(secrets)
            with _disposed_on_error(engine):
                try:
                    _migrate(engine)
                except DatabaseError as error:
                    raise damaged(error) from error
            self._open(secrets, engine)

    def lock(self) -> None:
        """Forget the key and close every connection."""
        with self._guard:
            engine, self._engine, self._secrets = self._engine, None, None
            if engine is not None:
                engine.dispose()

    def change_passphrase(self, old: str, new: str, confirmation: Optional[str] = None) -> None:
        """Rewrap the same secrets under a new passphrase; the database and recovery copy stay as they are."""
        _require_strong(new, confirmation)
        with self._guard:
            keystore = self.keystore()
            secrets = keystore.unwrap(old)
            self._rewrap(keystore, secrets, new)

    def recover(self, identity_text: str, new: str, confirmation: Optional[str] = None) -> None:
        """Set a new passphrase with the coordinator's identity, when the old one is lost."""
        _require_strong(new, confirmation)
        with self._guard:
            keystore = self.keystore()
            secrets = keystore.recover(identity_text)
            self._verified_engine(secrets).dispose()
            self._rewrap(keystore, secrets, new)

    def touch(self) -> None:
        """Note user activity; the idle lock counts from here."""
        self._last_activity = time.monotonic()

    def lock_if_idle(self, idle_seconds: float) -> bool:
        """Lock when nothing happened for idle_seconds; True if it locked now."""
        with self._guard:
            if self.is_unlocked and time.monotonic() - self._last_activity >= idle_seconds:
                self.lock()
                return True
        return False

    def _rewrap(self, keystore: Keystore, secrets: Secrets, passphrase: str) -> None:
        kdf = calibrate_kdf(**self._kdf_settings)
        Keystore.wrap(secrets, passphrase, kdf, keystore.recovery_recipients, keystore.recovery).save(self.keystore_path)

    def _verified_engine(self, secrets: Secrets) -> Engine:
        """An engine for the database, after proving the key opens it and it is this device's."""
        if not self.database_path.exists():
            raise DatabaseMissing()
        if self.database_path.stat().st_size < 1024:  # less than one page: emptied or cut off
            raise DatabaseDamaged(problem="truncated")
        engine = db.sqlcipher_engine(self.database_path, secrets.database_key)
        try:
            with Session(engine) as session:
                device = session.get(LocalSetting, "device")
        except DatabaseError as error:
            engine.dispose()
            if "not a database" in str(error):  # the key does not fit: another vault's, or a damaged first page
                raise KeystoreMismatch() from error
            raise damaged(error) from error
        if device is None or device.value.get("device_id") != secrets.device_id:
            engine.dispose()
            raise KeystoreMismatch()
        return engine

    def _open(self, secrets: Secrets, engine: Engine) -> None:
        self.lock()
        self._secrets, self._engine = secrets, engine
        self.touch()

    def _move_aside_orphaned_database(self) -> None:
        if self.database_path.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for suffix in ("", "-wal", "-shm"):
                part = self.directory / (DATABASE_NAME + suffix)
                if part.exists():
                    part.rename(self.directory / f"{DATABASE_NAME}{suffix}.orphaned-{stamp}")


class IdleLock(threading.Thread):
    """Locks the vault after `minutes()` without activity; checks a few times a minute."""

    def __init__(self, vault: Vault, minutes: Callable[[], float], interval: float = 5.0):
        super().__init__(name="fieldkit-idle-lock", daemon=True)
        self.vault, self.minutes, self.interval = vault, minutes, interval
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.vault.lock_if_idle(self.minutes() * 60)

    def stop(self) -> None:
        self._stopped.set()


@contextmanager
def _disposed_on_error(engine: Engine):
    """Close the engine's connections if what follows fails, so nothing stays half open."""
    try:
        yield
    except BaseException:
        engine.dispose()
        raise


def _migrate(engine: Engine) -> None:
    try:
        db.migrate(engine)
    except Exception as error:
        from alembic.util import CommandError  # imported only now: a vault at the newest revision needs no Alembic

        if isinstance(error, CommandError):  # the database names a revision this version does not have
            raise VaultTooNew() from error
        raise


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _fsync_directory(directory: Path) -> None:
    if os.name == "posix":
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

"""Administering the project server: its administrator password and the devices allowed to send releases.

A device token is shown once when the device is added; the server keeps only its SHA-256. Revoking a
device keeps its releases and refuses its token from then on.
"""
import hashlib
import hmac
import secrets
import time
import uuid
from typing import Optional

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..errors import UserError
from ..i18n import N_
from . import storage
from .storage import devices

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 12


class AdminError(UserError):
    message = N_("The server cannot do that.")


def init(engine: Engine, password: str) -> None:
    """Create or update the schema and set the administrator's password."""
    if len(password) < MIN_PASSWORD:
        raise AdminError(N_("The administrator password needs at least 12 characters."))
    storage.migrate(engine)
    storage.secret_key(engine)
    with storage.writing(engine) as connection:
        storage.put_setting(connection, "admin_password", hash_password(password))


def is_initialised(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            return storage.setting(connection, "admin_password") is not None
    except Exception:  # no schema yet
        return False


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(engine: Engine, password: str) -> bool:
    with engine.connect() as connection:
        stored = storage.setting(connection, "admin_password") or ""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(computed.hex(), digest)


def add_device(engine: Engine, name: str) -> tuple[str, str]:
    """A new device and its token: (device id, token). The token is not stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 200:
        raise AdminError(N_("Name the device (at most 200 characters)."))
    device_id, token = str(uuid.uuid4()), "fkd_" + secrets.token_urlsafe(32)
    try:
        with storage.writing(engine) as connection:
            connection.execute(devices.insert().values(id=device_id, name=name, token_hash=storage.token_hash(token),
                                                       created_at=storage.now()))
    except IntegrityError as error:
        raise AdminError(N_("A device named %(name)s exists already."), name=name) from error
    return device_id, token


def list_devices(engine: Engine) -> list[dict]:
    from sqlalchemy import func

    from .storage import releases

    counts = select(releases.c.device_id, func.count().label("releases"), func.max(releases.c.received_at).label("last")
                    ).group_by(releases.c.device_id).subquery()
    statement = (select(devices.c.id, devices.c.name, devices.c.created_at, devices.c.revoked_at, counts.c.releases,
                        counts.c.last).select_from(devices.outerjoin(counts, counts.c.device_id == devices.c.id))
                 .order_by(devices.c.name))
    with engine.connect() as connection:
        return [dict(row._mapping) | {"releases": row.releases or 0} for row in connection.execute(statement)]


def revoke_device(engine: Engine, name_or_id: str) -> str:
    with storage.writing(engine) as connection:
        row = connection.execute(select(devices.c.id, devices.c.name).where(
            (devices.c.name == name_or_id) | (devices.c.id == name_or_id))).first()
        if row is None:
            raise AdminError(N_("There is no device %(name)s."), name=name_or_id)
        connection.execute(devices.update().where(devices.c.id == row.id).values(revoked_at=storage.now()))
        return row.name


# token hash → (device id, when looked up): a device sending many releases is looked up once a second
_KNOWN: dict[str, tuple[str, float]] = {}
KNOWN_FOR = 1.0  # seconds; a revoked token is refused at most this long after revoking


def device_for_token(engine: Engine, token: str) -> Optional[str]:
    """The id of the live device this token belongs to, or None (unknown or revoked)."""
    if not token or len(token) > 200:
        return None
    hashed = storage.token_hash(token)
    known = _KNOWN.get(hashed)
    if known is not None and time.monotonic() - known[1] < KNOWN_FOR:
        return known[0]
    with engine.connect() as connection:
        row = connection.execute(select(devices.c.id, devices.c.revoked_at).where(devices.c.token_hash == hashed)).first()
    if row is None or row.revoked_at is not None:
        _KNOWN.pop(hashed, None)
        return None
    if len(_KNOWN) > 10_000:
        _KNOWN.clear()
    _KNOWN[hashed] = (row.id, time.monotonic())
    return row.id

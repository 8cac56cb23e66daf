"""Device-local settings kept in the vault (LocalSetting rows): read and written inside a session."""
from typing import Any

from sqlmodel import Session

from .models import LocalSetting


def get_setting(session: Session, key: str, default: Any = None) -> Any:
    row = session.get(LocalSetting, key)
    return default if row is None else row.value.get("value", default)


def set_setting(session: Session, key: str, value: Any) -> None:
    row = session.get(LocalSetting, key) or LocalSetting(key=key)
    row.value = {"value": value}
    session.add(row)

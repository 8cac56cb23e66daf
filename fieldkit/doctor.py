"""`fieldkit doctor`: what state a vault is in, checked step by step, each finding said plainly.

The key file's shape, the passphrase, the database file, SQLCipher's page authentication
(`PRAGMA cipher_integrity_check`: every page's HMAC), SQLite's own `PRAGMA integrity_check`, and the
schema version. Nothing is changed.
"""
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from .errors import UserError
from .i18n import N_
from .vault import Keystore, Vault

MAX_PROBLEMS = 20


@dataclass
class Finding:
    ok: bool
    check: str  # a message id: what was checked
    detail: str = ""  # what the database said (never record content)
    error: UserError = None  # or fieldkit's own account of the problem

    def text(self, translate) -> str:
        return self.error.render(translate) if self.error is not None else self.detail


def examine(vault: Vault, passphrase: str) -> list[Finding]:
    """Every check that can run, in order; a failed step stops those that depend on it."""
    findings = []
    try:
        keystore = Keystore.load(vault.keystore_path)
    except UserError as error:
        return [Finding(False, N_("Key file (keystore.json)"), error=error)]
    findings.append(Finding(True, N_("Key file (keystore.json)")))
    try:
        secrets = keystore.unwrap(passphrase)
    except UserError as error:
        return findings + [Finding(False, N_("Passphrase"), error=error)]
    findings.append(Finding(True, N_("Passphrase")))
    try:
        engine = vault._verified_engine(secrets)
    except UserError as error:
        return findings + [Finding(False, N_("Database file (fieldkit.db)"), error=error)]
    findings.append(Finding(True, N_("Database file (fieldkit.db)")))
    try:
        findings.append(_pragma(engine, "PRAGMA cipher_integrity_check", N_("Page authentication (SQLCipher)"), empty_ok=True))
        findings.append(_pragma(engine, "PRAGMA integrity_check", N_("Database structure (SQLite)"), empty_ok=False))
        findings.append(_schema(engine))
    finally:
        engine.dispose()
    return findings


def _pragma(engine, pragma: str, check: str, empty_ok: bool) -> Finding:
    try:
        with engine.connect() as connection:
            rows = [str(row[0]) for row in connection.execute(text(pragma)).fetchmany(MAX_PROBLEMS)]
    except DatabaseError as error:
        return Finding(False, check, str(error.orig).splitlines()[0][:200])
    good = rows == [] if empty_ok else rows == ["ok"]
    return Finding(good, check, "" if good else "; ".join(rows)[:500])


def _schema(engine) -> Finding:
    from alembic.script import ScriptDirectory
    from alembic.config import Config

    from .config import resource_dir

    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        with engine.connect() as connection:
            current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DatabaseError as error:
        return Finding(False, N_("Schema version"), str(error.orig).splitlines()[0][:200])
    return Finding(current == head, N_("Schema version"), f"{current} / {head}")

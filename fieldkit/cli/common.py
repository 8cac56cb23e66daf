"""What every command shares: the data directory, passphrases, messages in the user's language,
machine-readable output and the vault unlocked for one command.

The database layer (SQLAlchemy, SQLCipher, the models) is imported only when a command opens a vault,
so `fieldkit --help` and every command's start stay fast."""
from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import config
from ..i18n import translate
from ..instance import single_instance

if TYPE_CHECKING:
    from ..vault import Vault

LOCALE = os.environ.get("FIELDKIT_LANG", "de")


def t(message: str, **params) -> str:
    return translate(message, LOCALE, **params)


class Context:
    def __init__(self, data_dir: Path | None = None):
        self.given_data_dir = data_dir

    def data_dir(self, default: Path | None = None, create: bool = True) -> Path:
        return config.data_dir(self.given_data_dir or os.environ.get("FIELDKIT_DATA_DIR") or default, create)

    def vault(self, data_dir: Path | None = None) -> Vault:
        from ..vault import Vault

        return Vault.from_settings(data_dir or self.data_dir(), config.settings())

    def existing_vault(self) -> Vault:
        """The vault of the data directory, which must exist already (a typo creates no folder)."""
        from ..vault import NoVault, Vault

        vault = Vault.from_settings(self.data_dir(create=False), config.settings())
        if not vault.exists:
            raise NoVault()
        return vault


pass_context = click.make_pass_decorator(Context, ensure=True)


def error_text(error) -> str:
    from ..vault import WeakPassphrase

    if isinstance(error, WeakPassphrase):
        return "\n".join(t(problem) for problem in error.problems)
    return error.render(lambda message: translate(message, LOCALE))


class CommandFailed(click.ClickException):
    """A failure reported in the user's language, without click's English "Error:" prefix."""

    def show(self, file=None) -> None:
        click.echo(self.format_message(), err=True)


def read_secret(path: Path | None, env: str, prompt: str, confirm: bool = False) -> str:
    if path:
        return path.read_text(encoding="utf-8-sig").rstrip("\r\n")  # -sig: editors' byte order mark
    if os.environ.get(env):
        return os.environ[env]
    if not sys.stdin.isatty():
        raise CommandFailed(t("No passphrase given: set %(env)s or use a passphrase file.", env=env))
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def read_passphrase(path: Path | None) -> str:
    return read_secret(path, "FIELDKIT_PASSPHRASE", t("Passphrase"))


def echo(as_json: bool, data, text: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False) if as_json else text)


def writing(engine):
    """db.writing (a session for one action that writes), imported on first use."""
    from ..db import writing as write

    return write(engine)


@contextmanager
def unlocked_vault(ctx: Context, passphrase_file: Path | None):
    """The vault unlocked for one command, locked again afterwards."""
    from ..interviews import ensure_shipped_content

    vault = ctx.existing_vault()
    with single_instance(vault.directory):
        vault.unlock(read_passphrase(passphrase_file))
        try:
            with writing(vault.engine) as session:
                ensure_shipped_content(session, vault.device_id)
            yield vault
        finally:
            vault.lock()


@contextmanager
def reading(vault: Vault):
    """A read-only session on the unlocked vault."""
    from sqlmodel import Session

    with Session(vault.engine) as session:
        yield session


def refuse_existing(path: Path) -> None:
    if path.exists():
        raise CommandFailed(t("%(file)s exists already; it is not overwritten.", file=path))


passphrase_file = click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
new_passphrase_file = click.option("--new-passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")

"""The `fieldkit` command (DESIGN.md §11): every action of the app, scriptable, one module per group.

Passphrases come from FIELDKIT_PASSPHRASE or --passphrase-file, else a prompt; new passphrases from
FIELDKIT_NEW_PASSPHRASE or --new-passphrase-file. `--data-dir` is accepted before or after the
sub-command. Exit status is 0 only on success.
"""
import logging
import os
import sys
from pathlib import Path

import click

from ..errors import UserError
from . import app, audio, exchange, fieldwork, maps, server, steward, sync, vault
from .common import Context, error_text


@click.group()
@click.option("-v", "--verbose", is_flag=True,
              help="Log every request and window event to stderr too (they always go to the log file in the data directory).")
@click.version_option(package_name="fieldkit")
@click.pass_context
def cli(ctx, verbose):
    """fieldkit: expert interviews and network maps with migrant organisations."""
    logging.getLogger("fieldkit").setLevel(logging.INFO)  # the log file takes requests and window events
    for handler in logging.getLogger().handlers:  # the terminal only with --verbose
        handler.setLevel(logging.INFO if verbose else logging.WARNING)
    ctx.ensure_object(Context)


for module in (vault, app, fieldwork, maps, audio, exchange, steward, sync, server):
    for command in module.COMMANDS:
        cli.add_command(command)


def _remember_data_dir(ctx, _param, value):
    if value is not None:
        ctx.ensure_object(Context).given_data_dir = value
    return value


def _add_data_dir_option(command: click.Command) -> None:
    """Every group and command takes --data-dir, so it may stand before or after the sub-command."""
    command.params.append(click.Option(
        ["--data-dir"], type=click.Path(file_okay=False, path_type=Path), expose_value=False,
        callback=_remember_data_dir, help="Data directory (default: FIELDKIT_DATA_DIR, else the platform's user data directory)."))
    for sub in getattr(command, "commands", {}).values():
        _add_data_dir_option(sub)


_add_data_dir_option(cli)


def main():
    _harden_process()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        cli(standalone_mode=True)
    except UserError as error:  # every command's expected failures, said plainly
        click.echo(error_text(error), err=True)
        sys.exit(1)
    except Exception as error:
        if not _database_error(error):
            raise
        from ..vault import damaged

        click.echo(error_text(damaged(error)), err=True)  # a damaged page met in the middle of a command
        sys.exit(1)


def _database_error(error: Exception) -> bool:
    """Whether SQLAlchemy raised it (only a command that opened a vault has imported SQLAlchemy)."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(error, errors.DatabaseError)


def _harden_process() -> None:
    """Files private to the user; no core dumps, since a crash must not write decrypted data to disk."""
    os.umask(0o077)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass

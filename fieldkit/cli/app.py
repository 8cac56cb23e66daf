"""Commands that start the app: demo, run (desktop window), serve (browser)."""
import gc
import os
import sys
from pathlib import Path

import click

from .. import config
from ..instance import single_instance
from .common import CommandFailed, pass_context, t


@click.command()
@click.option("--serve", "mode", flag_value="serve", help="Open in the browser instead of a window.")
@click.option("--no-start", "mode", flag_value="none", help="Only create the demo vault.")
@pass_context
def demo(ctx, mode):
    """Create a demo vault with two fictional organisations, then start fieldkit on it."""
    from sqlmodel import Session

    from ..demo import DEMO_PASSPHRASE, create_demo_data
    from ..vault import new_project_identity

    data_dir = ctx.data_dir(default=Path(config.data_dir()) / "demo")
    passphrase = os.environ.get("FIELDKIT_PASSPHRASE") or DEMO_PASSPHRASE
    with single_instance(data_dir):
        vault = ctx.vault(data_dir)
        if not vault.exists:
            identity, recipient = new_project_identity()
            key_file = data_dir / "demo-coordinator.key"
            key_file.write_text(identity, encoding="utf-8")
            key_file.chmod(0o600)
            vault.create(passphrase, [recipient])
            with Session(vault.engine) as session, session.begin():
                create_demo_data(session, vault.device_id)
            vault.lock()
            click.echo(t("Demo vault created in %(dir)s (its demo coordinator key: %(key)s).", dir=data_dir, key=key_file))
        if passphrase == DEMO_PASSPHRASE:  # never echo a passphrase the user chose
            click.echo(t("Demo passphrase: %(passphrase)s", passphrase=passphrase))
        if mode != "none":
            _start(data_dir, "serve" if mode == "serve" else "window")


@click.command()
@pass_context
def run(ctx):
    """Open fieldkit in its desktop window."""
    from ..desktop import display_available

    if not display_available():
        raise CommandFailed(t("No screen found for a window. Use `fieldkit serve` to open fieldkit in a browser."))
    _run_locked(ctx, "window")


@click.command()
@click.option("--open", "open_browser", is_flag=True, help="Also open the address in the default browser.")
@pass_context
def serve(ctx, open_browser):
    """Serve fieldkit for a browser on 127.0.0.1 and print its one-time address."""
    _run_locked(ctx, "browser" if open_browser else "serve")


def _run_locked(ctx, mode: str) -> None:
    data_dir = ctx.data_dir()
    with single_instance(data_dir):
        _start(data_dir, mode)


def _start(data_dir: Path, mode: str) -> None:
    """Run the app on data_dir: in a window, or served for a browser until Ctrl+C. The first page comes
    from the entrance while the app is built behind it (fieldkit/entrance.py)."""
    gc.disable()  # until the app stands (_started)
    from ..desktop import display_available
    from ..entrance import Entrance
    from ..local_server import LocalServer

    entrance = Entrance(data_dir, built=_started)
    if mode == "window":
        if display_available():
            from ..desktop import open_window

            open_window(entrance)
            return
        click.echo(t("No screen found for a window: fieldkit opens in the browser instead."))
    server = LocalServer(entrance)
    click.echo(t("fieldkit is running. Open this address in your browser; it works once:"))
    click.echo(server.launch_url)
    sys.stdout.flush()
    if mode == "browser":
        import webbrowser

        webbrowser.open(server.launch_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        vault = entrance.extensions.get("vault")
        if vault is not None:
            vault.lock()


def _started() -> None:
    """The start imports and creates ~170,000 objects that live as long as the app (Qt's bindings too, in
    the window): with the cycle collector off until the app stands, it did not walk them again and again
    on the way (a tenth of the start); frozen, no later full collection walks them either (the little
    cyclic garbage of the start stays)."""
    gc.freeze()
    gc.enable()


COMMANDS = (demo, run, serve)

"""Commands for the project server: init, run (waitress), device add|list|revoke."""
import logging
import os

import click

from .common import CommandFailed, Context, echo, json_option, pass_context, t


def _engine(ctx: Context):
    from ..server import storage

    return storage.engine_for(storage.database_url(ctx.data_dir()))


@click.group("server")
def server_group():
    """The project server that receives anonymised releases."""


@server_group.command("init")
@pass_context
def server_init(ctx):
    """Create the server's database (SQLite in the data directory, or FIELDKIT_SERVER_DATABASE_URL) and
    set the administrator password (FIELDKIT_ADMIN_PASSWORD, else a prompt)."""
    from ..server import admin, storage

    password = os.environ.get("FIELDKIT_ADMIN_PASSWORD") or click.prompt(
        t("Administrator password"), hide_input=True, confirmation_prompt=True)
    admin.init(_engine(ctx), password)
    url = storage.database_url(ctx.data_dir())
    where = url if not url.startswith("sqlite") else url.removeprefix("sqlite:///")
    click.echo(t("The project server is set up (%(database)s). Add devices with `fieldkit server device add NAME`.",
                 database=where.split("@")[-1]))


@server_group.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@pass_context
def server_run(ctx, host, port, threads):
    """Serve the project server with waitress (a production WSGI server)."""
    import waitress

    from ..server import admin, create_server_app

    app = create_server_app({"DATA_DIR": ctx.data_dir()})
    if not admin.is_initialised(app.extensions["server_engine"]):
        raise CommandFailed(t("The project server is not set up yet: run `fieldkit server init` first."))
    click.echo(t("fieldkit project server on http://%(host)s:%(port)d/ (Ctrl+C stops it)", host=host, port=port))
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a busy moment is no warning worth a log line
    waitress.serve(app, host=host, port=port, threads=threads, ident="fieldkit", clear_untrusted_proxy_headers=True,
                   max_request_body_size=app.config["MAX_CONTENT_LENGTH"] + 1024, _quiet=True)


@server_group.group("device")
def device_group():
    """The laptops allowed to send releases."""


@device_group.command("add")
@click.argument("name")
@json_option
@pass_context
def device_add(ctx, name, as_json):
    """Add a device and print its token, once (only its hash is stored)."""
    from ..server import admin

    device_id, token = admin.add_device(_engine(ctx), name)
    echo(as_json, {"id": device_id, "name": name, "token": token},
         t("Device %(name)s added. Its token (shown only now; enter it on the laptop with `fieldkit sync setup`):",
           name=name) + f"\n{token}")


@device_group.command("list")
@json_option
@pass_context
def device_list(ctx, as_json):
    """Every device: releases received, last release, revoked or not."""
    from ..server import admin

    rows = admin.list_devices(_engine(ctx))
    data = [{"id": r["id"], "name": r["name"], "releases": r["releases"], "revoked": r["revoked_at"] is not None,
             "last": r["last"].isoformat() if r["last"] else None} for r in rows]
    echo(as_json, data, "\n".join(f"{r['name']}\t{r['releases']}\t{r['last'] or '-'}\t"
                                  + (t("revoked") if r["revoked"] else t("active")) for r in data))


@device_group.command("revoke")
@click.argument("name_or_id")
@pass_context
def device_revoke(ctx, name_or_id):
    """Refuse a device's token from now on (its releases stay)."""
    from ..server import admin

    name = admin.revoke_device(_engine(ctx), name_or_id)
    click.echo(t("Device %(name)s is revoked.", name=name))


COMMANDS = (server_group,)

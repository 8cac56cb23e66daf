"""Commands for network maps: list, create, export."""
from pathlib import Path

import click

from .common import (CommandFailed, echo, json_option, LOCALE, pass_context, passphrase_file, reading, refuse_existing,
                     t, unlocked_vault, writing)


@click.group("map")
def map_group():
    """Network maps of interviews."""


@map_group.command("list")
@click.option("--interview", "interview_id", help="Only the maps of this interview.")
@passphrase_file
@json_option
@pass_context
def map_list(ctx, interview_id, passphrase_file, as_json):
    """Maps with their size: id, interview, contacts, ties, title."""
    from sqlmodel import select

    from .. import maps
    from ..models import NetworkMap

    with unlocked_vault(ctx, passphrase_file) as vault, reading(vault) as session:
        query = select(NetworkMap).where(NetworkMap.deleted == False).order_by(NetworkMap.created_at)  # noqa: E712
        if interview_id:
            query = query.where(NetworkMap.interview_id == interview_id)
        rows = [{"id": m.id, "interview": m.interview_id, "title": m.title,
                 "alters": len(maps.alters(session, m)), "ties": len(maps.ties(session, m))} for m in session.exec(query)]
    echo(as_json, rows, "\n".join(f"{r['id']}\t{r['interview']}\t{r['alters']}\t{r['ties']}\t{r['title']}" for r in rows))


@map_group.command("create")
@click.option("--interview", "interview_id", required=True)
@click.option("--title", required=True)
@click.option("--copy-of", "source_id", help="Start from this map's contacts and ties.")
@passphrase_file
@json_option
@pass_context
def map_create(ctx, interview_id, title, source_id, passphrase_file, as_json):
    """Start a map in an interview, empty or as a copy of another."""
    from .. import interviews, maps

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        found = interviews.get(session, interview_id)
        if found is None:
            raise CommandFailed(t("There is no interview with this id."))
        if source_id:
            source = maps.get(session, source_id)
            if source is None:
                raise CommandFailed(t("There is no map %(id)s.", id=source_id))
            created = maps.clone(session, vault.device_id, found, source, title)
        else:
            created = maps.create(session, vault.device_id, found, title)
        result = {"id": created.id, "title": created.title}
    echo(as_json, result, t("Map created: %(id)s", id=result["id"]))


@click.command("network")
@click.argument("map_id")
@click.option("--format", "fmt", type=click.Choice(["graphml", "nc-csv", "svg", "png"]), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="The file to write (default: a name from the map, here).")
@click.option("--lang", type=click.Choice(["de", "en"]), default=LOCALE, show_default=True, help="Language of labels and legend.")
@passphrase_file
@json_option
@pass_context
def export_network(ctx, map_id, fmt, out, lang, passphrase_file, as_json):
    """A network map as picture (SVG, PNG with legend) or for analysis (GraphML; Network Canvas CSV zip).
    The file is not encrypted: it holds the contacts' names."""

    from .. import map_export, maps

    with unlocked_vault(ctx, passphrase_file) as vault, reading(vault) as session:
        network_map = maps.get(session, map_id)
        if network_map is None:
            raise CommandFailed(t("There is no map %(id)s.", id=map_id))
        export = map_export.load(session, network_map)
    out = out or Path(map_export.file_name(export, fmt))
    refuse_existing(out)
    out.write_bytes(map_export.render(export, fmt, lang))
    echo(as_json, {"file": str(out), "format": fmt, "alters": len(export.state["alters"]), "ties": len(export.state["ties"])},
          t("Map written to %(file)s (not encrypted).", file=out))


COMMANDS = (map_group,)

"""Commands for handing data over: export bundles, merge them, settle conflicts."""
import sys
from pathlib import Path

import click

from ..errors import UserError
from .common import (echo, error_text, json_option, pass_context, passphrase_file, reading, refuse_existing, t,
                     unlocked_vault, writing)
from .maps import export_network


@click.group("export")
def export_group():
    """Export data for the coordination."""


@export_group.command("qdpx")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The .qdpx file to write.")
@click.option("--interview", "interview_ids", multiple=True, help="Only these interviews (repeatable).")
@click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True,
              help="Language of the question texts and shipped codes.")
@click.option("--with-audio", is_flag=True,
              help="Also the recordings the quotes were said in, each quote an audio selection (voices identify people).")
@passphrase_file
@json_option
@pass_context
def export_qdpx(ctx, out, interview_ids, lang, with_audio, passphrase_file, as_json):
    """Notes, transcripts, quotes and codes as a REFI-QDA project for MAXQDA, ATLAS.ti or NVivo.
    The file is not encrypted."""
    from .. import qdpx

    refuse_existing(out)
    with unlocked_vault(ctx, passphrase_file) as vault, reading(vault) as session:
        data = qdpx.export(session, vault.device_id, list(interview_ids) or None, lang, with_audio)
    out.write_bytes(data)
    echo(as_json, {"file": str(out), "bytes": len(data)}, t("REFI-QDA project written to %(file)s (not encrypted).", file=out))


@export_group.command("bundle")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The .fkb file to write (default: fieldkit-DEVICE-DATE-NUMBER.fkb here).")
@click.option("--interview", "interview_ids", multiple=True, help="Only these interviews (repeatable).")
@click.option("--changed", is_flag=True, help="Only what changed since the last export.")
@passphrase_file
@json_option
@pass_context
def export_bundle(ctx, out, interview_ids, changed, passphrase_file, as_json):
    """Write an encrypted, signed bundle for the coordinators (an age file; see docs/bundle-format.md)."""
    import datetime as dt

    from .. import __version__
    from ..merge import bundle_file_name, coordinator_recipients, export

    if out:
        refuse_existing(out)
    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        recipients = coordinator_recipients(session, vault.keystore().recovery_recipients)
        written = export(session, vault.device_id, vault.secrets.signing_key, recipients,
                         __version__, list(interview_ids) or None, changed)
        out = out or Path(bundle_file_name(vault.device_id, written.manifest["sequence"], dt.date.today()))
        refuse_existing(out)
        out.write_bytes(written.data)  # inside the transaction: the sequence only advances if the file is written
    skipped = [{"id": record_id, "reason": reason} for record_id, reason in written.skipped]
    lines = [t("Record %(id)s could not be read and was left out: %(reason)s", id=s["id"], reason=s["reason"]) for s in skipped]
    lines.append(t("Bundle %(number)d written to %(file)s: %(records)d records.", number=written.manifest["sequence"],
                   file=out, records=sum(written.manifest["counts"].values())))
    echo(as_json, {"file": str(out), "sequence": written.manifest["sequence"], "counts": written.manifest["counts"],
                    "skipped": skipped}, "\n".join(lines))


@click.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--identity", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="The coordinator's age identity file.")
@click.option("--accept-device", "accepted", multiple=True,
              help="Accept a new device with this fingerprint (compare it with the interviewer first).")
@click.option("--accept-coordinator", "relays", multiple=True,
              help="Accept another coordinator's vault with this fingerprint; its bundles may pass on laptops' changes.")
@passphrase_file
@json_option
@pass_context
def merge(ctx, bundles, identity, accepted, relays, passphrase_file, as_json):
    """Import bundles into this (the coordinator's) vault; each bundle wholly or not at all."""
    from ..bundle import coordinator_identities
    from ..merge import SKIPPED, merge_files

    identities = coordinator_identities(identity.read_bytes())
    with unlocked_vault(ctx, passphrase_file) as vault:
        merged = merge_files(vault.engine, ((path.name, path.read_bytes()) for path in bundles), identities, accepted,
                             vault.device_id, relays)
    results = [{"bundle": str(path), "error": error_text(outcome)} if isinstance(outcome, UserError) else
               {"bundle": str(path), "added": outcome.added, "updated": outcome.updated, "unchanged": outcome.unchanged,
                "conflicts": outcome.conflicts, "skipped": outcome.skipped,
                "warnings": [t(text, **params) for text, params in outcome.warnings]}
               for path, (_, outcome) in zip(bundles, merged)]
    failed = any("error" in result for result in results)
    echo(as_json, results, "\n".join(f"{r['bundle']}: {_merge_line(r, SKIPPED)}" for r in results))
    if failed:
        sys.exit(1)


def _merge_line(result: dict, skipped: dict) -> str:
    if "error" in result:
        return result["error"]
    if result["skipped"]:
        return t(skipped[result["skipped"]])
    counts = t("%(added)d new, %(updated)d updated, %(unchanged)d unchanged, %(conflicts)d conflicts.",
               **{key: result[key] for key in ("added", "updated", "unchanged", "conflicts")})
    return counts + "".join(" " + warning for warning in result["warnings"])


@click.group()
def conflicts():
    """Records that two devices changed independently."""


@conflicts.command("list")
@passphrase_file
@json_option
@pass_context
def conflicts_list(ctx, passphrase_file, as_json):
    """The open conflicts: each record with the local and the incoming fields that differ."""

    from ..merge import differences, open_conflicts

    with unlocked_vault(ctx, passphrase_file) as vault, reading(vault) as session:
        rows = []
        for conflict in open_conflicts(session):
            fields = differences(session, conflict)
            rows.append({"id": conflict.id, "record": f"{conflict.record_type}/{conflict.record_id}",
                         "local": {name: mine for name, mine, _ in fields},
                         "incoming": {name: theirs for name, _, theirs in fields}})
    here, there = t("this vault"), t("the bundle")
    echo(as_json, rows, "\n\n".join(
        f"{r['id']}  {r['record']}\n" + "\n".join(f"  {k}:\n    {here}: {r['local'][k]}\n    {there}: {r['incoming'][k]}"
                                                  for k in r["local"]) for r in rows))


@conflicts.command("resolve")
@click.argument("conflict_id")
@click.option("--keep", type=click.Choice(["local", "incoming"]), required=True)
@passphrase_file
@pass_context
def conflicts_resolve(ctx, conflict_id, keep, passphrase_file):
    """Settle a conflict by keeping the local or the incoming version."""
    from ..merge import ConflictError, resolve
    from ..models import Conflict

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        conflict = session.get(Conflict, conflict_id)
        if conflict is None:
            raise ConflictError()
        resolve(session, vault.device_id, conflict, keep)
    click.echo(t("Conflict resolved."))


export_group.add_command(export_network)
COMMANDS = (export_group, merge, conflicts)

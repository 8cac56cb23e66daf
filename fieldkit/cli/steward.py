"""Commands for the data steward: anonymise (scan, batch decisions, k-anonymity), registry, release."""
import getpass
import os
from pathlib import Path

import click

from .common import CommandFailed, echo, json_option, pass_context, passphrase_file, t, unlocked_vault, writing

by_option = click.option("--by", "actor", default=lambda: os.environ.get("FIELDKIT_USER") or getpass.getuser(),
                         help="Who decides, for the audit log (default: FIELDKIT_USER, else the login name).")


@click.command()
@click.option("--interview", "interview_id", default="", help="Only the records of this interview.")
@click.option("--replace-flagged", is_flag=True, help="Turn every open flag into a new registry entry of its guessed category.")
@click.option("--approve-all", is_flag=True, help="Approve every record without open flags.")
@click.option("--k-anonymity", "k", type=click.IntRange(1, 100), help="Also report organisation profiles shared by fewer than K.")
@by_option
@passphrase_file
@json_option
@pass_context
def anonymise(ctx, interview_id, replace_flagged, approve_all, k, actor, passphrase_file, as_json):
    """Scan every record for names and identifying details and list what waits for a decision."""
    from ..anonymise import generalise, review

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        replaced = review.replace_flagged(session, vault.device_id, actor, interview_id) if replace_flagged else 0
        approved = review.approve_all(session, vault.device_id, actor, interview_id) if approve_all else None
        scans = review.scan_all(session, vault.device_id, interview_id)
        rows = review.queue(session, interview_id)
        flags = [{"record": f"{s.record_type}/{s.record_id}", "interview": s.interview_id, "field": f.field,
                  "text": f.text, "kind": f.kind, "category": f.category} for s in scans for f in s.findings if f.open]
        report = generalise.k_anonymity(session, k) if k else None
    result = {"records": len(rows), "status": review.counts(rows), "flags": flags, "replaced": replaced,
              "approved": approved[0] if approved else 0, "left_open": approved[1] if approved else None}
    lines = [f"{flag['record']}  {flag['field']}: {flag['text']}  ({flag['kind']}, {flag['category']})" for flag in flags]
    lines.append(t("%(records)d records: %(approved)d approved, %(reviewed)d reviewed, %(flagged)d with open flags (%(flags)d flags).",
                   records=len(rows), approved=result["status"]["approved"], reviewed=result["status"]["reviewed"],
                   flagged=result["status"]["flagged"], flags=len(flags)))
    if replace_flagged:
        lines.append(t("%(count)d flags became registry entries.", count=replaced))
    if approved:
        lines.append(t("%(count)d records approved; %(open)d still have open flags.", count=approved[0], open=approved[1]))
    if report:
        result["k_anonymity"] = {"k": report.k, "organisations": report.organisations, "small_groups": [
            {"values": g.values, "size": g.size, "organisations": g.organisations, "suggestions": g.suggestions}
            for g in report.small]}
        lines.append(t("k-anonymity (k=%(k)d): %(small)d of %(groups)d combinations are shared by fewer than %(k)d organisations.",
                       k=report.k, small=len(report.small), groups=report.groups))
        lines += [f"  {g.size}× {g.values}  → {', '.join(g.suggestions) or '-'}" for g in report.small]
    echo(as_json, result, "\n".join(lines))


@click.group("registry")
def registry_group():
    """The pseudonym registry: names, their spellings and codes."""


@registry_group.command("list")
@click.option("--search", default="")
@passphrase_file
@json_option
@pass_context
def registry_list(ctx, search, passphrase_file, as_json):
    """Every entry: code, category, name, variants, kept as is."""
    from ..anonymise import registry

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        registry.register_structured(session, vault.device_id)
        rows = [{"id": e.id, "code": e.code, "category": e.category, "name": e.name, "variants": e.variants,
                 "keep": e.keep} for e in registry.find(session, search)]
    echo(as_json, rows, "\n".join(f"{r['code'] or '-'}\t{r['category']}\t{r['name']}"
                                  + (f"\t({', '.join(r['variants'])})" if r["variants"] else "")
                                  + ("\t" + t("kept as is") if r["keep"] else "") for r in rows))


@registry_group.command("add")
@click.argument("name")
@click.option("--category", type=click.Choice(["mo", "organisation", "person", "place", "term"]), required=True)
@click.option("--variant", "variants", multiple=True, help="A further spelling or abbreviation (repeatable).")
@click.option("--keep", is_flag=True, help="Find it in texts but keep it as it is.")
@by_option
@passphrase_file
@json_option
@pass_context
def registry_add(ctx, name, category, variants, keep, actor, passphrase_file, as_json):
    """Add an entry (or variants to the entry that has this name already)."""
    from ..anonymise import registry

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        entry = registry.add(session, vault.device_id, category, name, variants, keep, actor)
        result = {"id": entry.id, "code": entry.code, "name": entry.name, "variants": entry.variants, "keep": entry.keep}
    echo(as_json, result, t("Registry entry %(code)s: %(name)s", code=result["code"] or "-", name=result["name"]))


@registry_group.command("merge")
@click.argument("keep_code")
@click.argument("other_code")
@by_option
@passphrase_file
@pass_context
def registry_merge(ctx, keep_code, other_code, actor, passphrase_file):
    """Merge OTHER_CODE into KEEP_CODE: one entity registered twice."""
    from ..anonymise import registry

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        registry.merge(session, vault.device_id, _entry(session, keep_code), _entry(session, other_code), actor)
    click.echo(t("%(other)s is now part of %(code)s.", other=other_code, code=keep_code))


@registry_group.command("keep")
@click.argument("code_or_name")
@click.option("--undo", is_flag=True, help="Replace it again in released texts.")
@by_option
@passphrase_file
@pass_context
def registry_keep(ctx, code_or_name, undo, actor, passphrase_file):
    """Keep an entry as it is in released texts (e.g. a public body named for context)."""
    from ..anonymise import registry

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        entry = registry.set_keep(session, vault.device_id, _entry(session, code_or_name), not undo, actor)
        kept, code = entry.keep, entry.code or entry.name
    click.echo(t("%(code)s is kept as it is.", code=code) if kept else t("%(code)s is replaced by its code.", code=code))


@registry_group.command("rename")
@click.argument("code")
@click.argument("new_code")
@by_option
@passphrase_file
@pass_context
def registry_rename(ctx, code, new_code, actor, passphrase_file):
    """Give an entry another code."""
    from ..anonymise import registry

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        registry.rename_code(session, vault.device_id, _entry(session, code), new_code, actor)
    click.echo(t("%(code)s is now %(new)s.", code=code, new=new_code))


@registry_group.command("regions")
@click.option("--import", "table", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A table of City;Region lines to add (an empty region removes a row).")
@passphrase_file
@json_option
@pass_context
def registry_regions(ctx, table, passphrase_file, as_json):
    """The table that turns cities into regions in releases: show it, or add the project's own rows."""
    from ..anonymise import generalise

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        if table:
            generalise.set_regions(session, generalise.parse_region_rows(table.read_text(encoding="utf-8-sig")))
        rows = generalise.regions(session)
    echo(as_json, rows, "\n".join(f"{city};{region}" for city, region in sorted(rows.items())))


def _entry(session, code_or_name: str):
    from ..anonymise import registry

    wanted = code_or_name.strip().casefold()
    for entry in registry.entries(session):
        if wanted in (entry.code.casefold(), entry.name.casefold()):
            return entry
    raise CommandFailed(t("There is no registry entry %(code)s.", code=code_or_name))


@click.command("release")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The folder to write the release into (a folder of its own is made inside).")
@by_option
@passphrase_file
@json_option
@pass_context
def release_command(ctx, out, actor, passphrase_file, as_json):
    """Write an anonymised release of every approved record, after a final check of every file."""
    from .. import release

    with unlocked_vault(ctx, passphrase_file) as vault:
        written = release.make_release(vault.engine, vault.device_id, out, actor)
    result = {"release_id": written.id, "sha256": written.sha256, "directory": written.directory,
              "counts": written.counts, "left_out": [{**item, "reason": t(item["reason"])} for item in written.left_out]}
    lines = [t("Release written to %(folder)s (SHA-256 %(sha)s).", folder=written.directory, sha=written.sha256)]
    lines += [t("%(kind)s: %(count)d", kind=kind, count=count) for kind, count in written.counts.items()]
    lines += [t("Left out: %(record)s, because %(reason)s", record=item["record"], reason=item["reason"])
              for item in result["left_out"]]
    echo(as_json, result, "\n".join(lines))


COMMANDS = (anonymise, registry_group, release_command)

"""Commands for the fieldwork: organisations, imports, interviews, guides."""
import datetime as dt
from pathlib import Path

import click

from ..vocabulary import INTERVIEW_STATUSES
from .common import (CommandFailed, echo, error_text, json_option, pass_context, passphrase_file, reading, t,
                     unlocked_vault, writing)


@click.group()
def organisations():
    """Organisations."""


@organisations.command("list")
@click.option("--search", default="", help="Only names, cities or codes containing this.")
@passphrase_file
@json_option
@pass_context
def organisations_list(ctx, search, passphrase_file, as_json):
    """List the organisations with their interview counts."""

    from ..organisations import list_organisations

    with unlocked_vault(ctx, passphrase_file) as vault, reading(vault) as session:
        rows = [{"id": item.organisation.id, "name": item.organisation.name, "city": item.organisation.city,
                 "founded": item.organisation.founded, "members_band": item.organisation.members_band,
                 "interviews": item.interviews} for item in list_organisations(session, search)]
    echo(as_json, rows, "\n".join(f"{row['name']}\t{row['city'] or ''}\t{row['interviews']}" for row in rows))


@click.group("import")
def import_group():
    """Import organisations, planned interviews and transcripts."""


@import_group.command("organisations")
@click.argument("table", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only show the preview with each row's problems.")
@passphrase_file
@json_option
@pass_context
def import_organisations(ctx, table, dry_run, passphrase_file, as_json):
    """Import organisations (and planned interviews) from a CSV or XLSX table; rows with problems are skipped."""
    from .. import imports

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        rows = imports.preview(session, imports.read_table(table.name, table.read_bytes()))
        created, planned = (0, 0) if dry_run else imports.import_rows(session, vault.device_id, rows)
    problems = [{"line": row.line, "problems": [t(text, **params) for text, params in row.errors]}
                for row in rows if row.errors]
    lines = [t("Row %(line)d: %(problems)s", line=p["line"], problems="; ".join(p["problems"])) for p in problems]
    lines.append(t("%(organisations)d organisations and %(interviews)d planned interviews were imported.",
                   organisations=created, interviews=planned))
    echo(as_json, {"organisations": created, "interviews": planned, "rows": len(rows), "problems": problems},
          "\n".join(lines))


@import_group.command("transcript")
@click.option("--interview", "interview_id", required=True, help="The interview's id (see `fieldkit interview list`).")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--language", default="de", show_default=True)
@passphrase_file
@pass_context
def import_transcript(ctx, interview_id, file, language, passphrase_file):
    """Attach a transcript (.txt, .docx, .odt) to an interview."""
    from .. import interviews, transcripts

    text = transcripts.read(file.name, file.read_bytes())
    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        interview = interviews.get(session, interview_id)
        if interview is None:
            raise CommandFailed(t("There is no interview with this id."))
        record = transcripts.add(session, vault.device_id, interview, file.name, text, language)
        characters = len(record.text)
    click.echo(t("Transcript attached (%(characters)d characters).", characters=characters))


@click.group()
def interview():
    """Plan and list interviews."""


@interview.command("create")
@click.option("--organisation", required=True, help="The organisation's id or exact name; a new name creates it.")
@click.option("--interviewer", required=True)
@click.option("--date", "date_text", help="YYYY-MM-DD")
@click.option("--place", default="")
@click.option("--guide", "guide_ref", default="mikoss", show_default=True, help="Guide id, or id@version.")
@passphrase_file
@json_option
@pass_context
def interview_create(ctx, organisation, interviewer, date_text, place, guide_ref, passphrase_file, as_json):
    """Plan an interview with an organisation."""

    from sqlmodel import select

    from .. import interviews
    from ..guide import guide_record, latest_guide
    from ..models import Organisation
    from ..organisations import create_organisation

    try:
        date = dt.date.fromisoformat(date_text) if date_text else None
    except ValueError as error:
        raise click.BadParameter(t("Enter the date as a calendar date."), param_hint="--date") from error
    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        guide_id, _, version = guide_ref.partition("@")
        guide = guide_record(session, guide_id, version) if version else latest_guide(session, guide_id)
        if guide is None:
            raise CommandFailed(t("Choose the guide for this interview."))
        found = session.get(Organisation, organisation) or session.exec(
            select(Organisation).where(Organisation.name == organisation, Organisation.deleted == False)).first()  # noqa: E712
        found = found or create_organisation(session, vault.device_id, organisation)
        planned = interviews.new(session, vault.device_id, found, guide, interviewer, date, place)
        result = {"id": planned.id, "organisation": found.name, "guide": f"{guide.guide_id}@{guide.guide_version}"}
    echo(as_json, result, t("Interview planned: %(id)s", id=result["id"]))


CONSENT_NAMES = {"recording": "recording", "quotes": "quotes", "map": "network_map", "network_map": "network_map",
                 "archiving": "archiving"}


def _consent_items(ctx, _param, value: str) -> set[str]:
    words = {word.strip() for word in (value or "").split(",") if word.strip()}
    unknown = sorted(words - set(CONSENT_NAMES))
    if unknown:
        raise click.BadParameter(t("Unknown consent items: %(items)s. Possible: recording, quotes, map, archiving.",
                                   items=", ".join(unknown)))
    return {CONSENT_NAMES[word] for word in words}


@interview.command("consent")
@click.argument("interview_id")
@click.option("--by", "by", required=True, help="Who gave consent (the organisation's representative).")
@click.option("--form", "how", type=click.Choice(["written", "verbal"]), required=True)
@click.option("--date", "date_text", help="YYYY-MM-DD (default: today).")
@click.option("--to", "agreed", default="", callback=_consent_items,
              help="What was agreed to, comma-separated: recording, quotes, map, archiving (nothing: none of them).")
@passphrase_file
@json_option
@pass_context
def interview_consent(ctx, interview_id, by, how, date_text, agreed, passphrase_file, as_json):
    """Record the consent of a planned interview; only then can notes be taken."""
    from .. import interviews

    date_text = date_text or dt.date.today().isoformat()
    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        found = _interview(session, interview_id)
        interviews.record_consent(session, vault.device_id, found, by, how, date_text, agreed)
        result = {"id": found.id, "status": found.status, "consent": found.consent}
    echo(as_json, result, t("Consent recorded; the interview can begin."))


def _status_command(action: str, help_text: str):
    @interview.command(action, help=help_text)
    @click.argument("interview_id")
    @passphrase_file
    @json_option
    @pass_context
    def change(ctx, interview_id, passphrase_file, as_json):
        from .. import interviews

        with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
            found = _interview(session, interview_id)
            interviews.change_status(session, vault.device_id, found, action)
            result = {"id": found.id, "status": found.status}
        echo(as_json, result, t("The interview's status is now: %(status)s", status=t(INTERVIEW_STATUSES[found.status])))

    return change


_status_command("complete", "Complete an interview (read-only until reopened).")
_status_command("reopen", "Reopen a completed interview for changes.")
_status_command("lock", "Lock a completed interview for analysis: read-only for good.")


def _interview(session, interview_id: str):
    from .. import interviews

    found = interviews.get(session, interview_id)
    if found is None:
        raise CommandFailed(t("There is no interview with this id."))
    return found


@interview.command("list")
@click.option("--status", type=click.Choice(list(INTERVIEW_STATUSES)))
@click.option("--search", default="")
@passphrase_file
@json_option
@pass_context
def interview_list(ctx, status, search, passphrase_file, as_json):
    """List interviews, newest first."""

    from .. import interviews

    with unlocked_vault(ctx, passphrase_file) as vault, reading(vault) as session:
        rows = [{"id": row.interview.id, "organisation": row.organisation.name, "status": row.interview.status,
                 "date": row.interview.date.isoformat() if row.interview.date else None,
                 "interviewer": row.interview.interviewer, "guide": f"{row.interview.guide_id}@{row.interview.guide_version}"}
                for row in interviews.find(session, search, status or "")]
    echo(as_json, rows, "\n".join(f"{r['id']}\t{r['status']}\t{r['date'] or ''}\t{r['organisation']}" for r in rows))


@click.group()
def guide():
    """Interview guides."""


@guide.command("load")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@passphrase_file
@pass_context
def guide_load(ctx, file, passphrase_file):
    """Load a guide (YAML); a mistake is reported with its line."""
    from ..guide import GuideError, decode, parse_guide, register_guide

    try:
        source = decode(file.read_bytes())
        parsed = parse_guide(source)
        with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
            record = register_guide(session, source, vault.device_id, parsed)
            title, version = record.title, record.guide_version
    except GuideError as error:
        text = t("Line %(line)d: %(problem)s", line=error.line, problem=error_text(error)) if error.line else error_text(error)
        raise CommandFailed(f"{file}: {text}") from error
    click.echo(t("Guide “%(title)s”, version %(version)s, is loaded.", title=title, version=version))


@guide.command("list")
@passphrase_file
@json_option
@pass_context
def guide_list(ctx, passphrase_file, as_json):
    """The loaded guides and their versions."""

    from ..guide import list_guides

    with unlocked_vault(ctx, passphrase_file) as vault, reading(vault) as session:
        rows = [{"id": g.guide_id, "version": g.guide_version, "title": g.title} for g in list_guides(session)]
    echo(as_json, rows, "\n".join(f"{r['id']}@{r['version']}\t{r['title']}" for r in rows))


@guide.command("export")
@click.argument("which", metavar="ID[@VERSION]")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="The file (default: ID-VERSION.yaml here).")
@passphrase_file
@pass_context
def guide_export(ctx, which, out, passphrase_file):
    """Write a loaded guide version (the newest without @VERSION) as its YAML file."""
    with unlocked_vault(ctx, passphrase_file) as vault, reading(vault) as session:
        record = _guide_record(session, which)
    out = out or Path(f"{record.guide_id}-{record.guide_version}.yaml")
    out.write_text(record.source, encoding="utf-8")
    click.echo(t("Guide %(id)s version %(version)s written to %(file)s.", id=record.guide_id, version=record.guide_version, file=out))


@guide.command("diff")
@click.argument("older", metavar="ID@A")
@click.argument("newer", metavar="ID@B")
@passphrase_file
@json_option
@pass_context
def guide_diff(ctx, older, newer, passphrase_file, as_json):
    """What changed between two versions: + added, - removed, ~ changed (section or question, and what)."""
    from ..guide import parse_guide
    from ..guide_editor import diff

    with unlocked_vault(ctx, passphrase_file) as vault, reading(vault) as session:
        first, second = _guide_record(session, older), _guide_record(session, newer)
        changes = diff(parse_guide(first.source), parse_guide(second.source))
    rows = [{"change": mark, "where": where, "what": what} for mark, where, what in changes]
    echo(as_json, rows, "\n".join(f"{mark} {where} {what}".replace("  ", " ") for mark, where, what in changes)
         or t("No differences."))


def _guide_record(session, which: str):
    from ..guide import guide_record, latest_guide

    guide_id, _, version = which.partition("@")
    record = guide_record(session, guide_id, version) if version else latest_guide(session, guide_id)
    if record is None:
        raise CommandFailed(t("There is no guide %(which)s (see `fieldkit guide list`).", which=which))
    return record


COMMANDS = (organisations, import_group, interview, guide)

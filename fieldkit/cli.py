"""The `fieldkit` command (DESIGN.md §11): every action of the app, scriptable.

Passphrases come from FIELDKIT_PASSPHRASE or --passphrase-file, else a prompt; new passphrases from
FIELDKIT_NEW_PASSPHRASE or --new-passphrase-file. Exit status is 0 only on success.
"""
import json
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from . import config
from .i18n import translate
from .db import writing
from .errors import UserError
from .instance import single_instance
from .interviews import STATUSES, ensure_shipped_content
from .local_settings import IDLE_LOCK_MINUTES_RANGE, set_setting
from .vault import NoVault, Vault, WeakPassphrase, fingerprint, new_project_identity

LOCALE = os.environ.get("FIELDKIT_LANG", "de")


def t(message: str, **params) -> str:
    return translate(message, LOCALE, **params)


class Context:
    def __init__(self, data_dir: Path | None):
        self._data_dir = data_dir

    def data_dir(self, default: Path | None = None, create: bool = True) -> Path:
        return config.data_dir(self._data_dir or os.environ.get("FIELDKIT_DATA_DIR") or default, create)

    def vault(self, data_dir: Path | None = None) -> Vault:
        return Vault.from_settings(data_dir or self.data_dir(), config.settings())

    def existing_vault(self) -> Vault:
        """The vault of the data directory, which must exist already (a typo creates no folder)."""
        vault = Vault.from_settings(self.data_dir(create=False), config.settings())
        if not vault.exists:
            raise NoVault()
        return vault


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data directory (default: FIELDKIT_DATA_DIR, else the platform's user data directory).")
@click.option("-v", "--verbose", is_flag=True, help="Log every request and window event to stderr.")
@click.version_option(package_name="fieldkit")
@click.pass_context
def cli(ctx, data_dir, verbose):
    """fieldkit: expert interviews and network maps with migrant organisations."""
    logging.getLogger("fieldkit").setLevel(logging.INFO if verbose else logging.WARNING)
    ctx.obj = Context(data_dir)


def main():
    _harden_process()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        cli(standalone_mode=True)
    except UserError as error:  # every command's expected failures, said plainly
        click.echo(_error_text(error), err=True)
        sys.exit(1)


def _harden_process() -> None:
    """Files private to the user; no core dumps, since a crash must not write decrypted data to disk."""
    os.umask(0o077)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass


def _error_text(error) -> str:
    if isinstance(error, WeakPassphrase):
        return "\n".join(t(problem) for problem in error.problems)
    return t(error.message, **getattr(error, "params", {}))


class CommandFailed(click.ClickException):
    """A failure reported in the user's language, without click's English "Error:" prefix."""

    def show(self, file=None) -> None:
        click.echo(self.format_message(), err=True)


def _read_secret(path: Path | None, env: str, prompt: str, confirm: bool = False) -> str:
    if path:
        return path.read_text(encoding="utf-8-sig").rstrip("\r\n")  # -sig: editors' byte order mark
    if os.environ.get(env):
        return os.environ[env]
    if not sys.stdin.isatty():
        raise CommandFailed(t("No passphrase given: set %(env)s or use a passphrase file.", env=env))
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def _echo(as_json: bool, data, text: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False) if as_json else text)


@contextmanager
def _unlocked_vault(ctx, passphrase_file):
    """The vault unlocked for one command, locked again afterwards."""
    vault = ctx.existing_vault()
    with single_instance(vault.directory):
        vault.unlock(_read_secret(passphrase_file, "FIELDKIT_PASSPHRASE", t("Passphrase")))
        try:
            with writing(vault.engine) as session:
                ensure_shipped_content(session, vault.device_id)
            yield vault
        finally:
            vault.lock()


passphrase_file = click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
new_passphrase_file = click.option("--new-passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@cli.command()
@click.option("--recipient", help="The project's recovery public key (age1…).")
@click.option("--recipient-file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@passphrase_file
@json_option
@pass_context
def init(ctx, recipient, recipient_file, passphrase_file, as_json):
    """Create the encrypted vault in the data directory."""
    recipient = recipient_file.read_text(encoding="utf-8") if recipient_file else recipient
    if not recipient:
        raise click.UsageError(t("Give the project's recovery key with --recipient or --recipient-file."))
    data_dir = ctx.data_dir()
    with single_instance(data_dir):
        vault = ctx.vault(data_dir)
        vault.create(_read_secret(passphrase_file, "FIELDKIT_PASSPHRASE", t("New passphrase"), confirm=True), [recipient])
        device_id, public_key = vault.device_id, vault.secrets.public_key
        vault.lock()
    _echo(as_json, {"data_dir": str(data_dir), "device_id": device_id, "fingerprint": fingerprint(public_key)},
          t("Vault created in %(dir)s. Device fingerprint: %(fp)s", dir=data_dir, fp=fingerprint(public_key)))


@cli.command()
@click.option("--serve", "mode", flag_value="serve", help="Open in the browser instead of a window.")
@click.option("--no-start", "mode", flag_value="none", help="Only create the demo vault.")
@pass_context
def demo(ctx, mode):
    """Create a demo vault with two fictional organisations, then start fieldkit on it."""
    from sqlmodel import Session

    from .demo import DEMO_PASSPHRASE, create_demo_data

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


@cli.command()
@pass_context
def run(ctx):
    """Open fieldkit in its desktop window."""
    from .desktop import display_available

    if not display_available():
        raise CommandFailed(t("No screen found for a window. Use `fieldkit serve` to open fieldkit in a browser."))
    _run_locked(ctx, "window")


@cli.command()
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
    """Run the app on data_dir: in a window, or served for a browser until Ctrl+C."""
    from . import create_app
    from .desktop import display_available, open_window
    from .local_server import LocalServer

    app = create_app({"DATA_DIR": data_dir})
    if mode == "window":
        if display_available():
            open_window(app)
            return
        click.echo(t("No screen found for a window: fieldkit opens in the browser instead."))
    server = LocalServer(app)
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
        app.extensions["vault"].lock()


@cli.group()
def keys():
    """Keys: the project's coordinator key pair and this device's keys."""


@keys.command("project-init")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("coordinator.key"), show_default=True)
@json_option
def project_init(out, as_json):
    """Create a coordinator key pair (an age identity). Keep the file secret; hand out the public key."""
    if out.exists():
        raise CommandFailed(t("%(file)s exists already; it is not overwritten.", file=out))
    identity, recipient = new_project_identity()
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(identity)
    _echo(as_json, {"identity_file": str(out), "recipient": recipient},
          t("Coordinator key written to %(file)s. Public key for the laptops:", file=out) + f"\n{recipient}")


@keys.command("show")
@passphrase_file
@json_option
@pass_context
def keys_show(ctx, passphrase_file, as_json):
    """Show this device's id, signing key fingerprint and recovery keys."""
    keystore = ctx.existing_vault().keystore()
    secrets = keystore.unwrap(_read_secret(passphrase_file, "FIELDKIT_PASSPHRASE", t("Passphrase")))
    data = {"device_id": secrets.device_id, "fingerprint": fingerprint(secrets.public_key),
            "recovery_recipients": list(keystore.recovery_recipients)}
    _echo(as_json, data, "\n".join(f"{key}: {value}" for key, value in data.items()))


@keys.command("import")
@click.argument("key")
@click.option("--confirm", "confirmed", help="The fingerprint the coordinator read out; without it, it is shown and nothing is stored.")
@passphrase_file
@pass_context
def keys_import(ctx, key, confirmed, passphrase_file):
    """Add a coordinator's public key (age1…, pasted or a file) that bundles are encrypted to."""
    from .merge import add_coordinator_recipient, recipient_fingerprint
    from .vault import parse_recipient

    text = Path(key).read_text(encoding="utf-8") if Path(key).is_file() else key
    recipient = parse_recipient(text)
    shown = recipient_fingerprint(recipient)
    if " ".join((confirmed or "").split()) != shown:
        raise CommandFailed(t("Fingerprint of this key: %(fingerprint)s. Compare it with the coordinator, then run the command again with --confirm \"%(fingerprint)s\".", fingerprint=shown))
    with _unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        add_coordinator_recipient(session, recipient)
    click.echo(t("Bundles are now also encrypted to %(recipient)s.", recipient=recipient))


@cli.command()
@passphrase_file
@new_passphrase_file
@pass_context
def passwd(ctx, passphrase_file, new_passphrase_file):
    """Change the passphrase (rewraps the key; the data stays as it is)."""
    vault = ctx.existing_vault()
    with single_instance(vault.directory):
        old = _read_secret(passphrase_file, "FIELDKIT_PASSPHRASE", t("Current passphrase"))
        new = _read_secret(new_passphrase_file, "FIELDKIT_NEW_PASSPHRASE", t("New passphrase"), confirm=True)
        vault.change_passphrase(old, new)
    click.echo(t("The passphrase was changed. Use the new one from now on."))


@cli.command()
@click.option("--identity", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="The coordinator's age identity file.")
@new_passphrase_file
@pass_context
def recover(ctx, identity, new_passphrase_file):
    """Set a new passphrase with the coordinator's key when the old one is lost."""
    vault = ctx.existing_vault()
    with single_instance(vault.directory):
        new = _read_secret(new_passphrase_file, "FIELDKIT_NEW_PASSPHRASE", t("New passphrase"), confirm=True)
        vault.recover(identity.read_text(encoding="utf-8"), new)
    click.echo(t("Access restored. Unlock fieldkit with the new passphrase."))


@cli.group()
def organisations():
    """Organisations."""


@organisations.command("list")
@click.option("--search", default="", help="Only names, cities or codes containing this.")
@passphrase_file
@json_option
@pass_context
def organisations_list(ctx, search, passphrase_file, as_json):
    """List the organisations with their interview counts."""
    from sqlmodel import Session

    from .organisations import list_organisations

    with _unlocked_vault(ctx, passphrase_file) as vault, Session(vault.engine) as session:
        rows = [{"id": item.organisation.id, "name": item.organisation.name, "city": item.organisation.city,
                 "founded": item.organisation.founded, "members_band": item.organisation.members_band,
                 "interviews": item.interviews} for item in list_organisations(session, search)]
    _echo(as_json, rows, "\n".join(f"{row['name']}\t{row['city'] or ''}\t{row['interviews']}" for row in rows))


@cli.group("settings")
def settings_group():
    """Device settings kept in the vault."""


@settings_group.command("idle-lock")
@click.argument("minutes", type=click.IntRange(*IDLE_LOCK_MINUTES_RANGE))
@passphrase_file
@pass_context
def idle_lock(ctx, minutes, passphrase_file):
    """Lock the app after MINUTES without activity."""
    from sqlmodel import Session

    with _unlocked_vault(ctx, passphrase_file) as vault, Session(vault.engine) as session, session.begin():
        set_setting(session, "idle_lock_minutes", minutes)
    click.echo(t("The app now locks after %(minutes)d minutes without activity.", minutes=minutes))


@cli.group("import")
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
    from . import imports

    with _unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        rows = imports.preview(session, imports.read_table(table.name, table.read_bytes()))
        created, planned = (0, 0) if dry_run else imports.import_rows(session, vault.device_id, rows)
    problems = [{"line": row.line, "problems": [t(text, **params) for text, params in row.errors]}
                for row in rows if row.errors]
    lines = [t("Row %(line)d: %(problems)s", line=p["line"], problems="; ".join(p["problems"])) for p in problems]
    lines.append(t("%(organisations)d organisations and %(interviews)d planned interviews were imported.",
                   organisations=created, interviews=planned))
    _echo(as_json, {"organisations": created, "interviews": planned, "rows": len(rows), "problems": problems},
          "\n".join(lines))


@import_group.command("transcript")
@click.option("--interview", "interview_id", required=True, help="The interview's id (see `fieldkit interview list`).")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--language", default="de", show_default=True)
@passphrase_file
@pass_context
def import_transcript(ctx, interview_id, file, language, passphrase_file):
    """Attach a transcript (.txt, .docx, .odt) to an interview."""
    from . import interviews, transcripts

    with _unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        interview = interviews.get(session, interview_id)
        if interview is None:
            raise CommandFailed(t("There is no interview with this id."))
        record = transcripts.import_transcript(session, vault.device_id, interview, file.name, file.read_bytes(), language)
        characters = len(record.text)
    click.echo(t("Transcript attached (%(characters)d characters).", characters=characters))


@cli.group()
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
    import datetime as dt

    from sqlmodel import select

    from . import interviews
    from .guide import guide_record, latest_guide
    from .models import Organisation
    from .organisations import create_organisation

    try:
        date = dt.date.fromisoformat(date_text) if date_text else None
    except ValueError as error:
        raise click.BadParameter(t("Enter the date as a calendar date."), param_hint="--date") from error
    with _unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        guide_id, _, version = guide_ref.partition("@")
        guide = guide_record(session, guide_id, version) if version else latest_guide(session, guide_id)
        if guide is None:
            raise CommandFailed(t("Choose the guide for this interview."))
        found = session.get(Organisation, organisation) or session.exec(
            select(Organisation).where(Organisation.name == organisation, Organisation.deleted == False)).first()  # noqa: E712
        found = found or create_organisation(session, vault.device_id, organisation)
        planned = interviews.new(session, vault.device_id, found, guide, interviewer, date, place)
        result = {"id": planned.id, "organisation": found.name, "guide": f"{guide.guide_id}@{guide.guide_version}"}
    _echo(as_json, result, t("Interview planned: %(id)s", id=result["id"]))


@interview.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--search", default="")
@passphrase_file
@json_option
@pass_context
def interview_list(ctx, status, search, passphrase_file, as_json):
    """List interviews, newest first."""
    from sqlmodel import Session

    from . import interviews

    with _unlocked_vault(ctx, passphrase_file) as vault, Session(vault.engine) as session:
        rows = [{"id": row.interview.id, "organisation": row.organisation.name, "status": row.interview.status,
                 "date": row.interview.date.isoformat() if row.interview.date else None,
                 "interviewer": row.interview.interviewer, "guide": f"{row.interview.guide_id}@{row.interview.guide_version}"}
                for row in interviews.find(session, search, status or "")]
    _echo(as_json, rows, "\n".join(f"{r['id']}\t{r['status']}\t{r['date'] or ''}\t{r['organisation']}" for r in rows))


@cli.group("map")
def map_group():
    """Network maps of interviews."""


@map_group.command("list")
@click.option("--interview", "interview_id", help="Only the maps of this interview.")
@passphrase_file
@json_option
@pass_context
def map_list(ctx, interview_id, passphrase_file, as_json):
    """Maps with their size: id, interview, contacts, ties, title."""
    from sqlmodel import Session, select

    from . import maps
    from .models import NetworkMap

    with _unlocked_vault(ctx, passphrase_file) as vault, Session(vault.engine) as session:
        query = select(NetworkMap).where(NetworkMap.deleted == False).order_by(NetworkMap.created_at)  # noqa: E712
        if interview_id:
            query = query.where(NetworkMap.interview_id == interview_id)
        rows = [{"id": m.id, "interview": m.interview_id, "title": m.title,
                 "alters": len(maps.alters(session, m)), "ties": len(maps.ties(session, m))} for m in session.exec(query)]
    _echo(as_json, rows, "\n".join(f"{r['id']}\t{r['interview']}\t{r['alters']}\t{r['ties']}\t{r['title']}" for r in rows))


@map_group.command("create")
@click.option("--interview", "interview_id", required=True)
@click.option("--title", required=True)
@click.option("--copy-of", "source_id", help="Start from this map's contacts and ties.")
@passphrase_file
@json_option
@pass_context
def map_create(ctx, interview_id, title, source_id, passphrase_file, as_json):
    """Start a map in an interview, empty or as a copy of another."""
    from . import interviews, maps

    with _unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
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
    _echo(as_json, result, t("Map created: %(id)s", id=result["id"]))


@cli.group()
def guide():
    """Interview guides."""


@guide.command("load")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@passphrase_file
@pass_context
def guide_load(ctx, file, passphrase_file):
    """Load a guide (YAML); a mistake is reported with its line."""
    from .guide import GuideError, register_guide

    try:
        with _unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
            record = register_guide(session, file.read_text(encoding="utf-8-sig"), vault.device_id)
            title, version = record.title, record.guide_version
    except GuideError as error:
        text = t("Line %(line)d: %(problem)s", line=error.line, problem=_error_text(error)) if error.line else _error_text(error)
        raise CommandFailed(f"{file}: {text}") from error
    click.echo(t("Guide “%(title)s”, version %(version)s, is loaded.", title=title, version=version))


@guide.command("list")
@passphrase_file
@json_option
@pass_context
def guide_list(ctx, passphrase_file, as_json):
    """The loaded guides and their versions."""
    from sqlmodel import Session

    from .guide import list_guides

    with _unlocked_vault(ctx, passphrase_file) as vault, Session(vault.engine) as session:
        rows = [{"id": g.guide_id, "version": g.guide_version, "title": g.title} for g in list_guides(session)]
    _echo(as_json, rows, "\n".join(f"{r['id']}@{r['version']}\t{r['title']}" for r in rows))


@cli.group("export")
def export_group():
    """Export data for the coordination."""


@export_group.command("network")
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
    from sqlmodel import Session

    from . import map_export, maps

    with _unlocked_vault(ctx, passphrase_file) as vault, Session(vault.engine) as session:
        network_map = maps.get(session, map_id)
        if network_map is None:
            raise CommandFailed(t("There is no map %(id)s.", id=map_id))
        export = map_export.load(session, network_map)
    out = out or Path(map_export.file_name(export, fmt))
    if out.exists():
        raise CommandFailed(t("%(file)s exists already; it is not overwritten.", file=out))
    out.write_bytes(map_export.render(export, fmt, lang))
    _echo(as_json, {"file": str(out), "format": fmt, "alters": len(export.state["alters"]), "ties": len(export.state["ties"])},
          t("Map written to %(file)s (not encrypted).", file=out))


@export_group.command("bundle")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The .fkb file to write.")
@click.option("--interview", "interview_ids", multiple=True, help="Only these interviews (repeatable).")
@click.option("--changed", is_flag=True, help="Only what changed since the last export.")
@passphrase_file
@json_option
@pass_context
def export_bundle(ctx, out, interview_ids, changed, passphrase_file, as_json):
    """Write an encrypted, signed bundle for the coordinators (an age file; see docs/bundle-format.md)."""
    from . import __version__
    from .merge import coordinator_recipients, export

    if out.exists():
        raise CommandFailed(t("%(file)s exists already; it is not overwritten.", file=out))
    with _unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        recipients = coordinator_recipients(session, vault.keystore().recovery_recipients)
        written = export(session, vault.device_id, vault.secrets.signing_key, recipients,
                         __version__, list(interview_ids) or None, changed)
        out.write_bytes(written.data)  # inside the transaction: the sequence only advances if the file is written
    skipped = [{"id": record_id, "reason": reason} for record_id, reason in written.skipped]
    lines = [t("Record %(id)s could not be read and was left out: %(reason)s", id=s["id"], reason=s["reason"]) for s in skipped]
    lines.append(t("Bundle %(number)d written to %(file)s: %(records)d records.", number=written.manifest["sequence"],
                   file=out, records=sum(written.manifest["counts"].values())))
    _echo(as_json, {"file": str(out), "sequence": written.manifest["sequence"], "counts": written.manifest["counts"],
                    "skipped": skipped}, "\n".join(lines))


@cli.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--identity", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="The coordinator's age identity file.")
@click.option("--accept-device", "accepted", multiple=True,
              help="Accept a new device with this fingerprint (compare it with the interviewer first).")
@passphrase_file
@json_option
@pass_context
def merge(ctx, bundles, identity, accepted, passphrase_file, as_json):
    """Import bundles into this (the coordinator's) vault; each bundle wholly or not at all."""
    from .bundle import identity_lines
    from .merge import merge_file

    identities = identity_lines(identity.read_text(encoding="utf-8"))
    results, failed = [], False
    with _unlocked_vault(ctx, passphrase_file) as vault:
        for path in bundles:
            try:
                report = merge_file(vault.engine, path.name, path.read_bytes(), identities, accepted)
                results.append({"bundle": str(path), "added": report.added, "updated": report.updated,
                                "unchanged": report.unchanged, "conflicts": report.conflicts,
                                "warnings": [t(text, **params) for text, params in report.warnings]})
            except UserError as error:
                failed = True
                results.append({"bundle": str(path), "error": _error_text(error)})
    text = "\n".join(
        f"{r['bundle']}: " + (r["error"] if "error" in r else t(
            "%(added)d new, %(updated)d updated, %(unchanged)d unchanged, %(conflicts)d conflicts.", **{
                k: r[k] for k in ("added", "updated", "unchanged", "conflicts")}) + "".join(" " + w for w in r["warnings"]))
        for r in results)
    _echo(as_json, results, text)
    if failed:
        sys.exit(1)


@cli.group()
def conflicts():
    """Records that two devices changed independently."""


@conflicts.command("list")
@passphrase_file
@json_option
@pass_context
def conflicts_list(ctx, passphrase_file, as_json):
    """The open conflicts: each record with the local and the incoming fields that differ."""
    from sqlmodel import Session

    from .merge import differences, open_conflicts

    with _unlocked_vault(ctx, passphrase_file) as vault, Session(vault.engine) as session:
        rows = []
        for conflict in open_conflicts(session):
            fields = differences(session, conflict)
            rows.append({"id": conflict.id, "record": f"{conflict.record_type}/{conflict.record_id}",
                         "local": {name: mine for name, mine, _ in fields},
                         "incoming": {name: theirs for name, _, theirs in fields}})
    here, there = t("this vault"), t("the bundle")
    _echo(as_json, rows, "\n\n".join(
        f"{r['id']}  {r['record']}\n" + "\n".join(f"  {k}:\n    {here}: {r['local'][k]}\n    {there}: {r['incoming'][k]}"
                                                  for k in r["local"]) for r in rows))


@conflicts.command("resolve")
@click.argument("conflict_id")
@click.option("--keep", type=click.Choice(["local", "incoming"]), required=True)
@passphrase_file
@pass_context
def conflicts_resolve(ctx, conflict_id, keep, passphrase_file):
    """Settle a conflict by keeping the local or the incoming version."""
    from .merge import ConflictError, resolve
    from .models import Conflict

    with _unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        conflict = session.get(Conflict, conflict_id)
        if conflict is None:
            raise ConflictError()
        resolve(session, vault.device_id, conflict, keep)
    click.echo(t("Conflict resolved."))

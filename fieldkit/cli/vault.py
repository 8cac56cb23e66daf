"""Commands for the vault and its keys: init, passwd, recover, keys, settings, doctor."""
import os
import sys
from pathlib import Path

import click

from ..config import IDLE_LOCK_MINUTES_RANGE
from ..instance import single_instance
from .common import (CommandFailed, echo, json_option, new_passphrase_file, pass_context, passphrase_file,
                     read_passphrase, read_secret, reading, refuse_existing, t, unlocked_vault, writing)


@click.command()
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
    from ..vault import fingerprint

    data_dir = ctx.data_dir()
    with single_instance(data_dir):
        vault = ctx.vault(data_dir)
        vault.create(read_secret(passphrase_file, "FIELDKIT_PASSPHRASE", t("New passphrase"), confirm=True), [recipient])
        device_id, public_key = vault.device_id, vault.secrets.public_key
        vault.lock()
    echo(as_json, {"data_dir": str(data_dir), "device_id": device_id, "fingerprint": fingerprint(public_key)},
          t("Vault created in %(dir)s. Device fingerprint: %(fp)s", dir=data_dir, fp=fingerprint(public_key)))


@click.group()
def keys():
    """Keys: the project's coordinator key pair and this device's keys."""


@keys.command("project-init")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("coordinator.key"), show_default=True)
@json_option
def project_init(out, as_json):
    """Create a coordinator key pair: the secret age identity (OUT, keep it with the coordinator) and
    its public key beside it (OUT with .pub, for the laptops)."""
    from ..vault import new_project_identity

    public = out.with_suffix(".pub")
    refuse_existing(out)
    refuse_existing(public)
    identity, recipient = new_project_identity()
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(identity)
    public.write_text(recipient + "\n", encoding="utf-8")
    public.chmod(0o644)  # public: meant to be handed out
    echo(as_json, {"identity_file": str(out), "public_key_file": str(public), "recipient": recipient},
         t("Coordinator key written to %(file)s; keep it secret. Public key for the laptops, also in %(public)s:",
           file=out, public=public) + f"\n{recipient}")


@keys.command("show")
@passphrase_file
@json_option
@pass_context
def keys_show(ctx, passphrase_file, as_json):
    """Show this device's id, signing key fingerprint and recovery keys."""
    from ..vault import fingerprint

    keystore = ctx.existing_vault().keystore()
    secrets = keystore.unwrap(read_passphrase(passphrase_file))
    data = {"device_id": secrets.device_id, "fingerprint": fingerprint(secrets.public_key),
            "recovery_recipients": list(keystore.recovery_recipients)}
    echo(as_json, data, "\n".join(f"{key}: {value}" for key, value in data.items()))


@keys.command("import")
@click.argument("key")
@click.option("--confirm", "confirmed", help="The fingerprint the coordinator read out; without it, it is shown and nothing is stored.")
@passphrase_file
@pass_context
def keys_import(ctx, key, confirmed, passphrase_file):
    """Add a coordinator's public key (age1…, pasted or a file) that bundles are encrypted to."""
    from ..merge import add_coordinator_recipient, recipient_fingerprint
    from ..vault import parse_recipient

    text = Path(key).read_text(encoding="utf-8") if Path(key).is_file() else key
    recipient = parse_recipient(text)
    shown = recipient_fingerprint(recipient)
    if " ".join((confirmed or "").split()) != shown:
        raise CommandFailed(t("Fingerprint of this key: %(fingerprint)s. Compare it with the coordinator, then run the command again with --confirm \"%(fingerprint)s\".", fingerprint=shown))
    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        add_coordinator_recipient(session, recipient)
    click.echo(t("Bundles are now also encrypted to %(recipient)s.", recipient=recipient))


@click.command()
@passphrase_file
@new_passphrase_file
@pass_context
def passwd(ctx, passphrase_file, new_passphrase_file):
    """Change the passphrase (rewraps the key; the data stays as it is)."""
    vault = ctx.existing_vault()
    with single_instance(vault.directory):
        old = read_secret(passphrase_file, "FIELDKIT_PASSPHRASE", t("Current passphrase"))
        new = read_secret(new_passphrase_file, "FIELDKIT_NEW_PASSPHRASE", t("New passphrase"), confirm=True)
        vault.change_passphrase(old, new)
    click.echo(t("The passphrase was changed. Use the new one from now on."))


@click.command()
@click.option("--identity", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="The coordinator's age identity file.")
@new_passphrase_file
@pass_context
def recover(ctx, identity, new_passphrase_file):
    """Set a new passphrase with the coordinator's key when the old one is lost."""
    vault = ctx.existing_vault()
    with single_instance(vault.directory):
        new = read_secret(new_passphrase_file, "FIELDKIT_NEW_PASSPHRASE", t("New passphrase"), confirm=True)
        vault.recover(identity.read_text(encoding="utf-8"), new)
    click.echo(t("Access restored. Unlock fieldkit with the new passphrase."))


@click.group("settings")
def settings_group():
    """Device settings kept in the vault."""


@settings_group.command("idle-lock")
@click.argument("minutes", type=click.IntRange(*IDLE_LOCK_MINUTES_RANGE))
@passphrase_file
@pass_context
def idle_lock(ctx, minutes, passphrase_file):
    """Lock the app after MINUTES without activity."""
    from ..local_settings import set_setting

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        set_setting(session, "idle_lock_minutes", minutes)
    click.echo(t("The app now locks after %(minutes)d minutes without activity.", minutes=minutes))


@click.command()
@passphrase_file
@json_option
@pass_context
def doctor(ctx, passphrase_file, as_json):
    """Check the vault: key file, passphrase, database file, page authentication, structure, schema."""
    from ..doctor import examine

    vault = ctx.existing_vault()
    with single_instance(vault.directory):
        findings = examine(vault, read_passphrase(passphrase_file))
    rows = [{"check": t(f.check), "ok": f.ok, "detail": f.text(lambda message: t(message))} for f in findings]
    lines = [("✓ " if row["ok"] else "✗ ") + row["check"] + (f": {row['detail']}" if row["detail"] else "") for row in rows]
    if not all(row["ok"] for row in rows):
        lines.append(t("Something is wrong: restore the latest backup, or with a lost passphrase use `fieldkit recover`."))
    echo(as_json, rows, "\n".join(lines))
    if not all(row["ok"] for row in rows):
        sys.exit(1)


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write the backup into (e.g. a USB stick); default: the planned folder, else here.")
@click.option("--keep", type=click.IntRange(1, 1000), help="Backups kept in that folder (default: as planned, else 10).")
@passphrase_file
@json_option
@pass_context
def backup(ctx, out, keep, passphrase_file, as_json):
    """Back up the vault into one encrypted file (opens only with the passphrase or the recovery key)."""
    from .. import backup as backups

    with unlocked_vault(ctx, passphrase_file) as vault:
        with reading(vault) as session:
            planned = backups.plan(session)
        written = backups.write(vault, out or Path(planned.folder if planned else "."), keep or (planned.keep if planned else 10))
        backups.noted(vault)
    echo(as_json, {"file": str(written), "bytes": written.stat().st_size},
         t("Backup written to %(file)s (%(size)s MB).", file=written, size=f"{written.stat().st_size / 2**20:.1f}"))


@settings_group.command("backup")
@click.argument("folder")
@click.option("--keep", type=click.IntRange(1, 100), default=10, show_default=True, help="Backups kept in the folder.")
@click.option("--daily/--no-daily", default=True, show_default=True, help="A backup every day while the app runs.")
@click.option("--on-close/--no-on-close", default=True, show_default=True, help="A backup when the window closes.")
@passphrase_file
@pass_context
def backup_plan(ctx, folder, keep, daily, on_close, passphrase_file):
    """Plan backups into FOLDER (e.g. a USB stick), as under Einstellungen → Sicherung."""
    from .. import backup as backups

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        chosen = backups.save_plan(session, folder, keep, daily, on_close)
    click.echo(t("Backups go to %(folder)s; the last %(keep)s are kept.", folder=chosen.folder, keep=chosen.keep))


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace the vault of the data directory (it is kept beside it).")
@click.option("--identity", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The coordinator's age identity file, when the passphrase is lost (then set a new one).")
@passphrase_file
@json_option
@pass_context
def restore(ctx, file, replace, identity, passphrase_file, as_json):
    """Restore a backup into the data directory and prove it opens; nothing is restored if it does not."""
    from .. import backup as backups

    data_dir = ctx.data_dir()
    with single_instance(data_dir):
        if identity:
            passphrase = read_secret(passphrase_file, "FIELDKIT_NEW_PASSPHRASE", t("New passphrase"), confirm=True)
        else:
            passphrase = read_passphrase(passphrase_file)
        aside = backups.restore(file, data_dir, passphrase, identity.read_text(encoding="utf-8") if identity else None,
                                replace, ctx.vault)
    lines = [t("Restored from %(file)s; the vault opens and every page checks out.", file=file)]
    if aside:
        lines.append(t("The vault that was there is kept in %(folder)s.", folder=aside))
    echo(as_json, {"restored": str(file), "previous": str(aside) if aside else None}, "\n".join(lines))


COMMANDS = (init, passwd, recover, keys, settings_group, doctor, backup, restore)

"""Commands for sending releases to the project server: sync (run the queue), sync setup, sync status."""

import sys

import click

from .common import echo, json_option, pass_context, passphrase_file, reading, t, unlocked_vault, writing


@click.group("sync", invoke_without_command=True)
@passphrase_file
@json_option
@pass_context
@click.pass_context
def sync_group(click_ctx, ctx, passphrase_file, as_json):
    """Send the waiting releases to the project server now (with a progress bar)."""
    if click_ctx.invoked_subcommand is not None:
        return
    from .. import sync

    with unlocked_vault(ctx, passphrase_file) as vault:
        with reading(vault) as session:
            total = len(sync.due(session, sync.utcnow()))
        with click.progressbar(length=total, label=t("Sending releases"), file=sys.stderr) as bar:  # stdout: the result
            summary = sync.run(vault.engine, progress=lambda job, outcome: bar.update(1))
        with reading(vault) as session:
            jobs = [{"release_id": job.release_id, "sha256": job.sha256, "status": job.status, "attempts": job.attempts,
                     "error": job.last_error} for job in sync.jobs(session)]
            last = sync.last_success(session)
    echo(as_json, {**summary, "jobs": jobs, "last_success": last},
         t("%(sent)d sent, %(refused)d refused, %(retry)d to try again later.", **summary)
         + "".join(f"\n{job['sha256'][:12]}  {t(sync.STATUSES[job['status']])}  {job['error']}" for job in jobs if job["error"]))


@sync_group.command("setup")
@click.argument("url")
@click.option("--token", required=True, help="This device's token from the server's administrator.")
@click.option("--pin", default="", help="SHA-256 fingerprint of the server's TLS certificate to require (hex).")
@passphrase_file
@pass_context
def sync_setup(ctx, url, token, pin, passphrase_file):
    """Where releases go: the project server's address and this device's token (kept in the vault)."""
    from .. import sync

    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        sync.configure(session, vault.device_id, url, token, pin)
    click.echo(t("Releases go to %(url)s from now on.", url=url))


@sync_group.command("status")
@passphrase_file
@json_option
@pass_context
def sync_status(ctx, passphrase_file, as_json):
    """The queue: each release with its state, attempts and the server's last answer."""
    from .. import sync

    with unlocked_vault(ctx, passphrase_file) as vault, reading(vault) as session:
        chosen = sync.settings(session)
        jobs = [{"release_id": job.release_id, "status": job.status, "attempts": job.attempts, "error": job.last_error,
                 "next_attempt": job.next_attempt_at.isoformat() if job.next_attempt_at else None}
                for job in sync.jobs(session)]
        data = {"server": chosen.url if chosen else None, "last_success": sync.last_success(session), "jobs": jobs}
    echo(as_json, data, "\n".join([t("Server: %(url)s", url=data["server"] or "-"),
                                   t("Last successful synchronisation: %(when)s", when=data["last_success"] or "-")]
                                  + [f"{job['release_id']}  {t(sync.STATUSES[job['status']])}  {job['attempts']}  {job['error']}"
                                     for job in jobs]))


COMMANDS = (sync_group,)

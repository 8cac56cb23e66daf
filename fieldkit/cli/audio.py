"""Commands for interview audio: list the recordings, import a phone's recording."""
from pathlib import Path

import click

from .common import CommandFailed, echo, json_option, pass_context, passphrase_file, reading, t, unlocked_vault, writing


@click.group("audio")
def audio_group():
    """Recordings of interviews (kept encrypted in the vault; never in a release)."""


@audio_group.command("list")
@click.option("--interview", "interview_id", help="Only the recordings of this interview.")
@passphrase_file
@json_option
@pass_context
def audio_list(ctx, interview_id, passphrase_file, as_json):
    """Recordings: id, interview, kind, length in seconds, size in bytes, file name."""
    from sqlmodel import select

    from ..models import Recording

    with unlocked_vault(ctx, passphrase_file) as vault, reading(vault) as session:
        query = select(Recording).where(Recording.deleted == False).order_by(Recording.created_at)  # noqa: E712
        if interview_id:
            query = query.where(Recording.interview_id == interview_id)
        rows = [{"id": r.id, "interview": r.interview_id, "kind": r.kind, "seconds": r.duration_ms // 1000,
                 "bytes": r.size, "status": r.status, "file": r.file_name, "spans": r.spans} for r in session.exec(query)]
    echo(as_json, rows, "\n".join(f"{r['id']}\t{r['interview']}\t{r['kind']}\t{r['seconds']}\t{r['bytes']}\t{r['file']}"
                                  for r in rows))


@audio_group.command("import")
@click.option("--interview", "interview_id", required=True, help="The interview's id (see `fieldkit interview list`).")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--offset", default="0", show_default=True,
              help="Where in the recording the interview's first note falls, as minutes:seconds (e.g. 1:30).")
@passphrase_file
@json_option
@pass_context
def audio_import(ctx, interview_id, file, offset, passphrase_file, as_json):
    """Import a recording made elsewhere (.m4a, .mp3, .wav, .ogg), lined up with the notes."""
    from .. import audio, interviews

    if file.stat().st_size > audio.MAX_IMPORT:
        raise CommandFailed(t("The recording is larger than %(limit)d MB.", limit=audio.MAX_IMPORT // 2**20))
    data = file.read_bytes()
    offset_ms = audio.parse_offset(offset)
    with unlocked_vault(ctx, passphrase_file) as vault, writing(vault.engine) as session:
        interview = interviews.get(session, interview_id)
        if interview is None:
            raise CommandFailed(t("There is no interview with this id."))
        recording = audio.import_file(session, vault.device_id, interview, file.name, data, offset_ms=offset_ms)
        result = {"id": recording.id, "seconds": recording.duration_ms // 1000, "bytes": recording.size}
    echo(as_json, result, t("Recording imported (%(minutes)d:%(seconds)02d long).",
                             minutes=result["seconds"] // 60, seconds=result["seconds"] % 60))


COMMANDS = (audio_group,)

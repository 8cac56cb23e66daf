"""Interview audio: the recorder window, its pieces arriving every few seconds, imported recordings, and
the audio played from where a note, quote or map step was made."""
from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlmodel import Session

from .. import audio, interviews
from ..errors import UserError
from ..models import Interview, Organisation, Recording
from . import current_vault, db_session, message, writing
from .interviews import change_interview

bp = Blueprint("audio", __name__)


def _interview(session, interview_id: str) -> Interview:
    return interviews.get(session, interview_id) or abort(404)


def _recording(session, recording_id: str) -> Recording:
    recording = session.get(Recording, recording_id)
    if recording is None or recording.deleted:
        abort(404)
    return recording


@bp.route("/interviews/<interview_id>/recorder")
def recorder(interview_id: str):
    """The recorder: a small window of its own, so recording goes on while the main window moves
    between the guide, the map and the quotes."""
    session = db_session()
    interview = _interview(session, interview_id)
    return render_template("audio/recorder.html", interview=interview,
                           organisation=session.get(Organisation, interview.organisation_id),
                           refused=audio.why_not_recordable(interview))


@bp.post("/interviews/<interview_id>/recorder/open")
def open_recorder(interview_id: str):
    """In the desktop app: the recorder opens as a second window (pywebview would load a new browser
    window into the main one, which would end the recording at the next click)."""
    _interview(db_session(), interview_id)
    opener = current_app.extensions.get("open_window")
    if opener is None:
        return redirect(url_for(".recorder", interview_id=interview_id))
    opener(url_for(".recorder", interview_id=interview_id), gettext("Recording"))
    return redirect(url_for("interviews.detail", interview_id=interview_id) + "#audio")


def _refusal(error: UserError, status: int = 400):
    return jsonify(error=message(error)), status


def _ms() -> int:
    try:
        return max(0, min(int(request.form.get("ms", "0")), audio.MAX_RECORDING_MS))
    except ValueError:
        return 0


@bp.post("/interviews/<interview_id>/recordings")
def start(interview_id: str):
    try:
        with writing() as session:
            recording = audio.start(session, current_vault().device_id, _interview(session, interview_id),
                                    request.form.get("mime", ""))
    except UserError as failure:
        return _refusal(failure)
    return jsonify(id=recording.id, piece_url=url_for(".piece", recording_id=recording.id),
                   **{step: url_for(".step", recording_id=recording.id, step=step) for step in ("pause", "resume", "finish")})


@bp.post("/recordings/<recording_id>/pieces")
def piece(recording_id: str):
    """One piece of audio (a few seconds); sent again after a lost answer, it is kept once."""
    upload = request.files.get("piece")
    try:
        seq = int(request.form.get("seq", ""))
    except ValueError:
        seq = -1
    if upload is None or seq < 0:
        return jsonify(error=gettext("A piece of the recording arrived incomplete.")), 400
    try:
        with writing() as session:
            audio.append(session, current_vault().device_id, _recording(session, recording_id), seq,
                         upload.read(audio.MAX_CHUNK + 1), _ms())
    except audio.AudioError as failure:
        return _refusal(failure, 409)
    return "", 204


_STEPS = {"pause": audio.pause, "resume": audio.resume, "finish": audio.finish}


@bp.post("/recordings/<recording_id>/<any(pause, resume, finish):step>")
def step(recording_id: str, step: str):
    try:
        with writing() as session:
            _STEPS[step](session, current_vault().device_id, _recording(session, recording_id), _ms())
    except UserError as failure:
        return _refusal(failure)
    return "", 204


@bp.route("/recordings/<recording_id>/audio")
def listen(recording_id: str):
    """The audio, in the byte ranges the player asks for (it seeks by them), never all of it at once."""
    session = db_session()
    recording = _recording(session, recording_id)
    size = recording.size
    wanted = request.range.range_for_length(size) if request.range else None
    if request.range and wanted is None:
        return Response(status=416, headers={"Content-Range": f"bytes */{size}"})
    if wanted:
        start, stop = wanted[0], min(wanted[1], wanted[0] + _STEP)  # the player asks again for the rest
        response = Response(audio.read(session, recording, start, stop), status=206, mimetype=_type(recording))
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    else:  # all of it, a piece at a time
        response = Response(_pieces(current_vault().engine, recording.id, size), mimetype=_type(recording))
        response.headers["Content-Length"] = str(size)
    response.headers["Accept-Ranges"] = "bytes"
    return response


_STEP = 8 * 1024 * 1024


def _type(recording: Recording) -> str:
    return recording.mime.split(";")[0]


def _pieces(engine, recording_id: str, size: int):
    """A recording's audio in steps, read in a session of its own (the request's closes when the view returns)."""
    with Session(engine) as session:
        recording = session.get(Recording, recording_id)
        for start in range(0, size, _STEP):
            yield audio.read(session, recording, start, start + _STEP)


@bp.post("/interviews/<interview_id>/recordings/import")
def import_recording(interview_id: str):
    upload = request.files.get("file")  # up to audio.MAX_IMPORT (app._upload_limit)

    def keep(session, interview):
        if upload is None or not upload.filename:
            raise audio.AudioError(gettext("Choose the recording to import."))
        audio.import_file(session, current_vault().device_id, interview, upload.filename, upload.read(),
                          audio.parse_offset(request.form.get("offset", "")))
    return change_interview(interview_id, keep, section="audio")


@bp.post("/recordings/<recording_id>/align")
def align(recording_id: str):
    def line_up(session, _interview):
        audio.align(session, current_vault().device_id, _recording(session, recording_id),
                    audio.parse_offset(request.form.get("offset", "")))
    return change_interview(_recording(db_session(), recording_id).interview_id, line_up, section="audio")

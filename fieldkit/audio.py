"""Interview audio: recorded in the app in chunks every few seconds, or imported from a phone's file;
kept in the vault (audio_chunk rows, so SQLCipher encrypts it like every note), and lined up with the
notes, quotes and map events by wall time.

A recording's spans say where its audio is at a given time: each start or resume begins one
(`{"at": time, "ms": position}`), so a moment during a pause lands where the talk went on. An imported
file has one span: the interview's first note (or a time the user gives) falls on second `offset` of
the file. Only the device that made a recording writes its audio; others receive it whole in bundles.
"""
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import PurePath
from typing import Iterable, Optional

from sqlalchemy.orm import object_session
from sqlmodel import Session, func, select

from .errors import UserError
from .i18n import N_
from .interviews import why_not_editable
from .models import Answer, AudioChunk, Interview, MapEvent, NetworkMap, Quote, Recording, save, utcnow

# What the window's MediaRecorder makes (Opus in WebM; Chromium offers no Ogg) and what phones make.
RECORDED_TYPES = ("audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/ogg")
IMPORTED_TYPES = ("audio/wav", "audio/mp4", "audio/mpeg")
MAX_RECORDING_MS = 48 * 3600 * 1000
MAX_CHUNK = 4 * 1024 * 1024  # bytes of one recorded piece (a few seconds are ~20 KB at 48 kbit/s)
MAX_IMPORT = 400 * 1024 * 1024  # bytes of an imported file: 7 hours of 128 kbit/s MP3; a bundle holds 512 MB
MAX_SIZE = 2**31  # bytes of any recording's audio, as a bundle's record may claim
IMPORT_PIECE = 1024 * 1024  # an imported file is kept in pieces of this size
LEAD_MS = 10_000  # a passage starts this long before its note was begun: notes follow what was said
IMPORT_SUFFIXES = (".m4a", ".mp3", ".wav", ".ogg", ".opus", ".webm")


class AudioError(UserError):
    message = N_("The recording could not be saved.")


@dataclass(frozen=True)
class Moment:
    """A place in a recording: which one, and where in it (milliseconds)."""

    recording_id: str
    ms: int

    @property
    def seconds(self) -> float:
        return self.ms / 1000


def consents_to_recording(interview: Interview) -> bool:
    return bool((interview.consent.get("agreed") or {}).get("recording"))


def why_not_recordable(interview: Interview, importing: bool = False) -> Optional[str]:
    """None if audio may be added to this interview, else the reason to show."""
    if not consents_to_recording(interview):
        return N_("The consent recorded for this interview does not cover an audio recording.")
    if importing and interview.status == "completed":
        return None  # a phone's recording is often brought in after the interview
    return why_not_editable(interview)


def _ensure_recordable(interview: Interview, importing: bool = False) -> None:
    reason = why_not_recordable(interview, importing)
    if reason:
        raise AudioError(reason)


def recordings(session: Session, interview_id: str) -> list[Recording]:
    return list(session.exec(select(Recording).where(Recording.interview_id == interview_id,
                                                      Recording.deleted == False)  # noqa: E712
                             .order_by(Recording.created_at)))


LIVE = dt.timedelta(seconds=15)  # a recorder sends a piece every three seconds


def recording_now(session: Session, device_id: str, now: Optional[dt.datetime] = None) -> bool:
    """Whether a recorder of this laptop is recording: one of its recordings got a piece in the last
    quarter minute (a time ahead of now, from another laptop's clock or a bundle, does not count)."""
    now = now or utcnow()
    return session.exec(select(Recording.id).where(
        Recording.origin_device == device_id, Recording.status == "recording",
        Recording.updated_at >= now - LIVE, Recording.updated_at <= now + dt.timedelta(minutes=1))
        .limit(1)).first() is not None


def state_of(recording: Recording, now: Optional[dt.datetime] = None) -> str:
    """recording, paused, finished, or interrupted: not finished, and nothing came for a while (the
    recorder window was closed or the laptop stopped; what arrived is kept)."""
    if recording.status == "recording" and _aware(recording.updated_at) < (now or utcnow()) - LIVE:
        return "interrupted"
    return recording.status


def start(session: Session, device_id: str, interview: Interview, mime: str, now: Optional[dt.datetime] = None) -> Recording:
    """A new recording that begins now; its audio follows in chunks (append)."""
    _ensure_recordable(interview)
    mime = mime.replace(" ", "").lower()
    if mime not in RECORDED_TYPES:
        raise AudioError(N_("This window records in a format fieldkit does not keep (%(type)s)."), type=mime[:60])
    moment = now or utcnow()
    return save(session, device_id, Recording(interview_id=interview.id, kind="recorded", mime=mime,
                                              spans=[{"at": moment.isoformat(), "ms": 0}]))


def append(session: Session, device_id: str, recording: Recording, seq: int, data: bytes, ms: int) -> bool:
    """Keep the next piece of a recording's audio, `ms` being its length so far; False if this piece
    arrived before (a retried upload), which changes nothing. A gap is refused: the window sends again."""
    _ensure_own(recording, device_id)
    if not 0 < len(data) <= MAX_CHUNK:
        raise AudioError(N_("A piece of the recording is empty or too large."))
    stored = _chunk_count(session, recording.id)
    if seq < stored:
        return False
    if seq > stored:
        raise AudioError(N_("A piece of the recording is missing (expected %(expected)d, received %(received)d)."),
                         expected=stored, received=seq)
    session.add(AudioChunk(recording_id=recording.id, seq=seq, offset=recording.size, data=data))
    recording.size += len(data)
    recording.duration_ms = max(recording.duration_ms, int(ms))
    if recording.status == "finished":
        recording.status = "paused"  # a last piece after the window closed: the recording is not over
    save(session, device_id, recording)
    return True


def pause(session: Session, device_id: str, recording: Recording, ms: int) -> Recording:
    _ensure_own(recording, device_id)
    recording.duration_ms = max(recording.duration_ms, int(ms))
    recording.status = "paused"
    return save(session, device_id, recording)


def resume(session: Session, device_id: str, recording: Recording, ms: int, now: Optional[dt.datetime] = None) -> Recording:
    """Recording goes on: from now the audio is at `ms`."""
    _ensure_own(recording, device_id)
    recording.spans = [*recording.spans, {"at": (now or utcnow()).isoformat(), "ms": int(ms)}]
    recording.status = "recording"
    return save(session, device_id, recording)


def finish(session: Session, device_id: str, recording: Recording, ms: int) -> Recording:
    _ensure_own(recording, device_id)
    recording.duration_ms = max(recording.duration_ms, int(ms))
    recording.status = "finished"
    return save(session, device_id, recording)


def _ensure_own(recording: Recording, device_id: str) -> None:
    """Only the laptop that recorded adds to a recording, and not once its interview is locked for
    analysis (a recording still running when the interview is completed goes on)."""
    if recording.origin_device != device_id or recording.kind != "recorded":
        raise AudioError(N_("This recording was not made on this laptop; only its own laptop adds to it."))
    _ensure_not_locked(recording)


def _ensure_not_locked(recording: Recording) -> None:
    interview = object_session(recording).get(Interview, recording.interview_id)
    if interview is None or interview.status == "locked":
        raise AudioError(N_("This interview is completed and locked for analysis; it can only be read."))


def import_file(session: Session, device_id: str, interview: Interview, file_name: str, data: bytes,
                offset_ms: int = 0, anchor: Optional[dt.datetime] = None) -> Recording:
    """Keep an external recording (a phone's .m4a, .mp3, .wav or .ogg), lined up (align)."""
    _ensure_recordable(interview, importing=True)
    mime, duration_ms = inspect(file_name, data)
    recording = save(session, device_id, Recording(
        interview_id=interview.id, kind="imported", mime=mime, file_name=PurePath(file_name).name[:200],
        duration_ms=duration_ms, size=len(data), status="finished"))
    _store_whole(session, recording.id, data)
    return align(session, device_id, recording, offset_ms, anchor)


def align(session: Session, device_id: str, recording: Recording, offset_ms: int,
          anchor: Optional[dt.datetime] = None) -> Recording:
    """Line an imported recording up: the wall time `anchor` is at offset_ms into it. Without an anchor,
    the one it has (lined up again), else the interview's first note or map step."""
    if recording.kind != "imported":
        raise AudioError(N_("Only an imported recording can be lined up by hand."))
    _ensure_not_locked(recording)
    if not -recording.duration_ms <= offset_ms <= max(recording.duration_ms, 1):
        raise AudioError(N_("The offset lies outside the recording (it is %(minutes)d minutes long)."),
                         minutes=recording.duration_ms // 60_000)
    if anchor is None:
        anchor = (dt.datetime.fromisoformat(recording.spans[0]["at"]) if recording.spans
                  else first_activity(session, session.get(Interview, recording.interview_id)))
    recording.spans = [{"at": _aware(anchor).astimezone(dt.timezone.utc).isoformat(), "ms": int(offset_ms)}]
    return save(session, device_id, recording)


def parse_offset(text: str) -> int:
    """"1:23", "83" or "-0:05" (minutes and seconds, or seconds) in milliseconds."""
    text = text.strip().replace(",", ".")
    if not text:
        return 0
    sign = -1 if text.startswith("-") else 1
    try:
        parts = [float(part) for part in text.lstrip("-").split(":")]
        if len(parts) > 3 or not all(0 <= part < 10**6 for part in parts):  # no NaN, no infinity
            raise ValueError(text)
    except ValueError as error:
        raise AudioError(N_("Give the offset as minutes:seconds, e.g. 1:30.")) from error
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return sign * int(seconds * 1000)


def first_activity(session: Session, interview: Interview) -> dt.datetime:
    """When the interview began to leave traces: its first note or map step, else its day at noon."""
    noted = session.exec(select(func.min(Answer.created_at)).where(Answer.interview_id == interview.id)).one()
    drawn = session.exec(select(func.min(MapEvent.at)).join(NetworkMap, NetworkMap.id == MapEvent.map_id)
                         .where(NetworkMap.interview_id == interview.id)).one()
    found = [_aware(moment) for moment in (noted, drawn) if moment is not None]
    if found:
        return min(found)
    day = interview.date or interview.created_at.date()
    return dt.datetime.combine(day, dt.time(12), dt.timezone.utc)


_SIGNATURES = (  # (test on the first bytes, type)
    (lambda head: head[:4] == b"RIFF" and head[8:12] == b"WAVE", "audio/wav"),
    (lambda head: head[:4] == b"OggS", "audio/ogg"),
    (lambda head: head[4:8] == b"ftyp", "audio/mp4"),
    (lambda head: head[:4] == b"\x1a\x45\xdf\xa3", "audio/webm"),
    (lambda head: head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0), "audio/mpeg"),
)


def inspect(file_name: str, data: bytes) -> tuple[str, int]:
    """The type of an audio file by its first bytes (not its name) and its length in ms; refused with a
    reason if it is none of the formats fieldkit plays."""
    if PurePath(file_name).suffix.lower() not in IMPORT_SUFFIXES:
        raise AudioError(N_("Recordings can be .m4a, .mp3, .wav, .ogg, .opus or .webm files."))
    if len(data) > MAX_IMPORT:
        raise AudioError(N_("The recording is larger than %(limit)d MB."), limit=MAX_IMPORT // 2**20)
    mime = next((kind for test, kind in _SIGNATURES if test(data[:12])), None)
    if mime is None:
        raise AudioError(N_("The file is not an audio recording fieldkit can read (.m4a, .mp3, .wav, .ogg)."))
    from tinytag import TinyTag, TinyTagException

    try:
        seconds = TinyTag.get(file_obj=io.BytesIO(data)).duration
    except (TinyTagException, ValueError, KeyError, IndexError, OSError, EOFError) as error:
        raise AudioError(N_("The recording is damaged or incomplete: %(problem)s"), problem=str(error)[:120]) from error
    if not seconds or seconds <= 0:
        raise AudioError(N_("The recording is damaged or incomplete: %(problem)s"), problem="no length")
    return mime, int(seconds * 1000)


def _store_whole(session: Session, recording_id: str, data: bytes, first_seq: int = 0, offset: int = 0) -> None:
    for index, start in enumerate(range(0, len(data), IMPORT_PIECE)):
        session.add(AudioChunk(recording_id=recording_id, seq=first_seq + index, offset=offset + start,
                               data=data[start:start + IMPORT_PIECE]))
    session.flush()


def _chunk_count(session: Session, recording_id: str) -> int:
    """How many pieces a recording has (numbered from 0 without gaps; the key's index answers at once)."""
    last = session.exec(select(func.max(AudioChunk.seq)).where(AudioChunk.recording_id == recording_id)).one()
    return 0 if last is None else last + 1


def read(session: Session, recording: Recording, start: int = 0, stop: Optional[int] = None) -> bytes:
    """Bytes start..stop of a recording's audio, reading only the pieces that hold them."""
    stop = recording.size if stop is None else min(stop, recording.size)
    if start >= stop:
        return b""
    first = session.exec(select(func.max(AudioChunk.offset)).where(
        AudioChunk.recording_id == recording.id, AudioChunk.offset <= start)).one() or 0
    pieces = session.exec(select(AudioChunk.offset, AudioChunk.data).where(
        AudioChunk.recording_id == recording.id, AudioChunk.offset >= first, AudioChunk.offset < stop)
        .order_by(AudioChunk.offset))
    joined = b"".join(data for _, data in pieces)
    return joined[start - first:stop - first]


def absorb(session: Session, recording_id: str, data: bytes) -> bool:
    """A bundle's copy of a recording's audio into this vault: what this vault lacks is added; True if
    anything was. Audio only grows at its origin, so a copy that is not a continuation of this vault's
    (or the other way round) was altered, and is refused. Compared piece by piece, as stored."""
    incoming, held, pieces = memoryview(data), 0, 0
    for offset, stored in session.exec(select(AudioChunk.offset, AudioChunk.data)
                                       .where(AudioChunk.recording_id == recording_id).order_by(AudioChunk.seq)):
        if offset != held or incoming[held:held + len(stored)] != stored[:max(0, len(data) - held)]:
            raise AudioError(N_("The audio of a recording differs from the one this vault holds: it was altered."))
        held, pieces = held + len(stored), pieces + 1
    if len(data) <= held:
        return False
    _store_whole(session, recording_id, data[held:], first_seq=pieces, offset=held)
    return True


def position(recordings: Iterable[Recording], at: dt.datetime) -> Optional[Moment]:
    """Where in the recordings the moment `at` is: during a pause, where the talk went on; None if no
    recording covers it."""
    at = _aware(at)
    for recording in recordings:
        spans = sorted(recording.spans, key=lambda span: span["ms"])
        for index, span in enumerate(spans):
            begun = _aware(dt.datetime.fromisoformat(span["at"]))
            end_ms = spans[index + 1]["ms"] if index + 1 < len(spans) else recording.duration_ms
            ms = span["ms"] + int((at - begun).total_seconds() * 1000)
            if index == 0 and at < begun and ms >= 0:
                return Moment(recording.id, ms)  # an imported file that began before its anchor
            if begun <= at and ms <= end_ms:
                return Moment(recording.id, ms)
            if index + 1 < len(spans) and begun <= at < _aware(dt.datetime.fromisoformat(spans[index + 1]["at"])):
                return Moment(recording.id, end_ms)  # paused here: the talk goes on at the resume
    return None


def _earlier(moment: Optional[Moment], ms: int) -> Optional[Moment]:
    return Moment(moment.recording_id, max(0, moment.ms - ms)) if moment else None


def question_moments(recordings: list[Recording], notes: dict[str, Answer]) -> dict[str, Moment]:
    """Where each noted question was discussed: shortly before its first note was typed."""
    found = {key: _earlier(position(recordings, answer.created_at), LEAD_MS) for key, answer in notes.items()}
    return {key: moment for key, moment in found.items() if moment}


def quote_moment(recordings: list[Recording], quote: Quote, answer: Optional[Answer]) -> Optional[Moment]:
    """Where a quote from the notes was said: its note was typed from the note's first to its last save,
    about evenly, so the quote's place in the text gives its time (a note edited much later gives only
    the note's start). A quote from a transcript has no time."""
    if answer is None:
        return None
    begun, ended = _aware(answer.created_at), _aware(answer.updated_at)
    typing = (ended - begun).total_seconds()
    share = quote.start / max(len(answer.text), 1) if 0 < typing < 3600 else 0
    return _earlier(position(recordings, begun + dt.timedelta(seconds=typing * share)), LEAD_MS)


def passage_ms(quote: Quote) -> int:
    """How long a quote's passage lasts, from its start: the lead, then the quote spoken at about 14
    characters a second (at least 20 seconds in all)."""
    return max(20_000, LEAD_MS + len(quote.text) * 70)


def _aware(moment: dt.datetime) -> dt.datetime:
    """Times read back from SQLite carry no zone; fieldkit stores them in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)

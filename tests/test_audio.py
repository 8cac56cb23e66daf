"""Interview audio in the vault: recorded pieces, imported files (made by sox), offsets of notes, quotes
and map events, bundles with audio and releases without."""
import datetime as dt
import subprocess

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from fieldkit import audio, db, maps, release
from fieldkit.bundle import InvalidBundle, write_bundle
from fieldkit.merge import collect
from fieldkit.models import Answer, AudioChunk, Interview, MapEvent, Quote, Recording, save, utcnow

from conftest import consented_interview
from test_bundle import export_from, merge_into, new_vault

START = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.timezone.utc)


def sox(path, seconds=5, *effects):
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", str(path), "synth", str(seconds), "sine", "440", *effects],
                   check=True)
    return path.read_bytes()


def record(vault, interview, pieces, now=START):
    """A recording made in the window: `pieces` chunks of audio, three seconds each."""
    with db.writing(vault.engine) as session:
        recording = audio.start(session, vault.device_id, session.get(Interview, interview.id), "audio/webm;codecs=opus", now)
        for seq, piece in enumerate(pieces):
            audio.append(session, vault.device_id, recording, seq, piece, (seq + 1) * 3000)
        return recording


def test_a_recording_keeps_its_pieces_in_order_and_a_resent_piece_once(vault):
    interview = consented_interview(vault, "Brücke e. V.", {"recording"})
    recording = record(vault, interview, [b"first-", b"second-"])
    with db.writing(vault.engine) as session:
        recording = session.get(Recording, recording.id)
        assert audio.append(session, vault.device_id, recording, 1, b"second-", 6000) is False  # a retried upload
        with pytest.raises(audio.AudioError, match="missing"):
            audio.append(session, vault.device_id, recording, 5, b"later", 9000)
        audio.append(session, vault.device_id, recording, 2, b"third", 9000)
    with Session(vault.engine) as session:
        recording = session.get(Recording, recording.id)
        assert (recording.size, recording.duration_ms, recording.status) == (18, 9000, "recording")
        assert audio.read(session, recording) == b"first-second-third"
        assert audio.read(session, recording, 3, 10) == b"st-seco"  # across two pieces
        assert audio.read(session, recording, 13, 100) == b"third"


def test_no_recording_without_consent_to_it(vault):
    interview = consented_interview(vault, "Brücke e. V.", {"quotes"})
    with db.writing(vault.engine) as session, pytest.raises(audio.AudioError, match="does not cover"):
        audio.start(session, vault.device_id, session.get(Interview, interview.id), "audio/webm;codecs=opus")


def test_a_moment_lands_in_its_span_and_a_pause_where_the_talk_went_on(vault):
    interview = consented_interview(vault, "Brücke e. V.", {"recording"})
    recording = record(vault, interview, [b"x" * 10] * 20)  # one minute
    with db.writing(vault.engine) as session:
        recording = session.get(Recording, recording.id)
        audio.pause(session, vault.device_id, recording, 30_000)  # paused at 10:00:30 …
        audio.resume(session, vault.device_id, recording, 30_000, START + dt.timedelta(minutes=5))  # … until 10:05
    later = lambda seconds: START + dt.timedelta(seconds=seconds)  # noqa: E731
    assert audio.position([recording], later(12)).ms == 12_000
    assert audio.position([recording], later(120)).ms == 30_000  # during the pause
    assert audio.position([recording], later(310)).ms == 40_000
    assert audio.position([recording], later(-5)) is None
    assert audio.position([recording], later(400)) is None  # after its end


def test_an_ogg_made_by_sox_is_imported_lined_up_with_the_first_note(vault, tmp_path):
    interview = consented_interview(vault, "Brücke e. V.", {"recording"})
    data = sox(tmp_path / "telefon.ogg", 5)
    first_note = START + dt.timedelta(minutes=1)
    with db.writing(vault.engine) as session:
        save(session, vault.device_id, Answer(interview_id=interview.id, question_id="target_group.who", text="Familien",
                                              created_at=first_note))
        recording = audio.import_file(session, vault.device_id, session.get(Interview, interview.id), "telefon.ogg",
                                      data, offset_ms=2000)
    assert (recording.kind, recording.mime, recording.size) == ("imported", "audio/ogg", len(data))
    assert 4900 <= recording.duration_ms <= 5100
    assert audio.position([recording], first_note).ms == 2000
    assert audio.position([recording], first_note - dt.timedelta(seconds=2)).ms == 0  # the file began before the note
    with Session(vault.engine) as session:
        assert audio.read(session, session.get(Recording, recording.id)) == data


@pytest.mark.parametrize("name, content, message", [
    ("notiz.txt", b"hello", ".m4a, .mp3"),
    ("telefon.mp3", b"<html>not audio</html>", "not an audio recording"),
    ("telefon.ogg", b"OggS\x00\x02" + b"\x00" * 40, "damaged"),
])
def test_what_is_not_a_recording_is_refused_with_a_reason(vault, name, content, message):
    interview = consented_interview(vault, "Brücke e. V.", {"recording"})
    with db.writing(vault.engine) as session, pytest.raises(audio.AudioError, match=message):
        audio.import_file(session, vault.device_id, session.get(Interview, interview.id), name, content)


def test_a_quote_plays_where_its_note_was_typed_and_map_events_have_offsets(vault):
    interview = consented_interview(vault, "Brücke e. V.", {"recording", "quotes", "network_map"})
    begun = utcnow() - dt.timedelta(minutes=10)
    recording = record(vault, interview, [b"x"] * 400, now=begun)  # 20 minutes
    with db.writing(vault.engine) as session:
        note = save(session, vault.device_id, Answer(interview_id=interview.id, question_id="practices.informal",
                                                     text="a" * 100, created_at=begun + dt.timedelta(minutes=4)))
        note.updated_at = begun + dt.timedelta(minutes=6)  # typed for two minutes
        quote = Quote(interview_id=interview.id, answer_id=note.id, start=50, end=60, text="a" * 10)
        network = maps.create(session, vault.device_id, session.get(Interview, interview.id), "Netzwerk")
        maps.change(session, vault.device_id, session.get(Interview, interview.id), network,
                    {"action": "add_alter", "alter": {"label": "Caritas", "actor_type": "state_actor", "x": 0.3, "y": 0.2}})
        events = session.exec(select(MapEvent).where(MapEvent.map_id == network.id)).all()
    assert audio.quote_moment([recording], quote, note).ms == 5 * 60_000 - audio.LEAD_MS  # half way through the note
    assert audio.question_moments([recording], {"practices.informal": note})["practices.informal"].ms == 4 * 60_000 - audio.LEAD_MS
    assert audio.quote_moment([recording], Quote(interview_id=interview.id, transcript_id="t"), None) is None
    moments = [audio.position([recording], event.at) for event in events]  # as the map's replay places its steps
    assert len(events) == 2 and all(9 * 60_000 < moment.ms < 11 * 60_000 for moment in moments)


@pytest.fixture
def two_vaults(tmp_path, coordinator):
    """A laptop with the demo (its interview under way) and a coordinator's empty vault."""
    laptop = new_vault(tmp_path / "laptop", coordinator[1], demo=True)
    office = new_vault(tmp_path / "office", coordinator[1])
    with Session(laptop.engine) as session:
        interview = session.exec(select(Interview).where(Interview.status == "in_progress")).first()
    yield laptop, office, interview
    laptop.lock(), office.lock()


def test_audio_travels_in_bundles_grows_with_the_recording_and_is_never_released(two_vaults, coordinator):
    laptop, office, interview = two_vaults
    recording = record(laptop, interview, [b"OggS-first-", b"second-"])
    merge_into(office, export_from(laptop).data, coordinator)
    with db.writing(laptop.engine) as session:
        audio.append(session, laptop.device_id, session.get(Recording, recording.id), 2, b"third", 9000)
    merge_into(office, export_from(laptop, changed_only=True).data, coordinator)
    with Session(office.engine) as session:
        copy = session.get(Recording, recording.id)
        assert (copy.size, copy.duration_ms) == (23, 9000)
        assert audio.read(session, copy) == b"OggS-first-second-third"
        dataset = release.build(session, office.device_id)
    assert "recording" not in dataset.records and "audio" not in str(sorted(dataset.files))


def test_a_bundle_whose_audio_differs_from_the_vaults_is_refused_whole(two_vaults, coordinator):
    laptop, office, interview = two_vaults
    recording = record(laptop, interview, [b"original"])
    merge_into(office, export_from(laptop).data, coordinator)
    with db.writing(laptop.engine) as session:  # the laptop's audio is rewritten behind fieldkit's back
        session.exec(text("UPDATE audio_chunk SET data = :data"), params={"data": b"ORIGINAL"})
        audio.append(session, laptop.device_id, session.get(Recording, recording.id), 1, b"+more", 6000)
    with pytest.raises(InvalidBundle, match="altered"):
        merge_into(office, export_from(laptop, changed_only=True).data, coordinator)
    with Session(office.engine) as session:
        assert session.get(Recording, recording.id).size == 8


def test_an_attachment_must_be_as_long_as_its_record_says(two_vaults, coordinator):
    """A laptop with its key could sign a bundle whose audio is cut short: the record's size gives it away."""
    laptop, office, interview = two_vaults
    record(laptop, interview, [b"complete audio"])
    with Session(laptop.engine) as session:
        forged = write_bundle(collect(session), laptop.device_id, laptop.secrets.signing_key,
                              list(laptop.keystore().recovery_recipients), 1, None, "test",
                              attach=lambda record: b"short" if record.type == "recording" else None)
    with pytest.raises(InvalidBundle, match="missing from the bundle or incomplete"):
        merge_into(office, forged.data, coordinator)
    with Session(office.engine) as session:
        assert session.exec(select(AudioChunk)).all() == []


def test_audio_is_unreadable_without_the_vaults_key(vault):
    interview = consented_interview(vault, "Brücke e. V.", {"recording"})
    record(vault, interview, [b"VOICE-OF-THE-CHAIR" * 100])
    vault.lock()
    on_disk = b"".join(path.read_bytes() for path in vault.directory.iterdir() if path.is_file())
    assert b"VOICE-OF-THE-CHAIR" not in on_disk


def test_the_command_line_imports_and_lists_recordings_and_refuses_what_is_not_audio(cli, tmp_path):
    import json

    from conftest import PASSPHRASE, consented_on_the_command_line

    data_dir, env = tmp_path / "data", {"FIELDKIT_PASSPHRASE": PASSPHRASE}
    interview_id = consented_on_the_command_line(cli, data_dir, "Brücke e. V.", "recording,quotes")
    path = tmp_path / "telefon.wav"
    sox(path, 3)
    imported = cli("audio", "import", "--interview", interview_id, str(path), "--offset", "0:02", "--json",
                   data_dir=data_dir, env=env)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["seconds"] == 3
    [listed] = json.loads(cli("audio", "list", "--json", data_dir=data_dir, env=env).stdout)
    assert (listed["kind"], listed["bytes"], listed["spans"][0]["ms"]) == ("imported", path.stat().st_size, 2000)
    (tmp_path / "notiz.mp3").write_text("keine Aufnahme")
    refused = cli("audio", "import", "--interview", interview_id, str(tmp_path / "notiz.mp3"), data_dir=data_dir, env=env)
    assert refused.returncode != 0 and "keine Tonaufnahme" in refused.stderr
    bad_offset = cli("audio", "import", "--interview", interview_id, str(path), "--offset", "nan", data_dir=data_dir, env=env)
    assert bad_offset.returncode != 0 and "Minuten:Sekunden" in bad_offset.stderr


def test_a_quotes_passage_goes_into_the_refi_qda_project_as_an_audio_selection_only_when_asked(vault):
    from fieldkit import qdpx, quotes

    from test_analysis import QDA, read_qdpx

    interview = consented_interview(vault, "Brücke e. V.", {"recording", "quotes"})
    begun = utcnow() - dt.timedelta(minutes=10)
    recording = record(vault, interview, [b"\x1a\x45\xdf\xa3-voice"] * 200, now=begun)  # 10 minutes
    with db.writing(vault.engine) as session:
        interview = session.get(Interview, interview.id)
        note = save(session, vault.device_id, Answer(interview_id=interview.id, question_id="practices.informal",
                                                     text="Die Moschee hilft bei Behördengängen.",
                                                     created_at=begun + dt.timedelta(minutes=2)))
        code = quotes.codebook(session)[0]
        quote = quotes.mark_quote(session, vault.device_id, interview, "answer", note.id, 0, 11, "Die Moschee", [code.id])
        plain = qdpx.export(session, vault.device_id)
        heard = qdpx.export(session, vault.device_id, with_audio=True)
        sound = audio.read(session, session.get(Recording, recording.id))
    assert read_qdpx(plain)[1].find(f"{QDA}Sources/{QDA}AudioSource") is None
    archive, project = read_qdpx(heard)  # valid against the REFI-QDA schema
    [source] = project.findall(f"{QDA}Sources/{QDA}AudioSource")
    assert archive.read("sources/" + source.get("path").removeprefix("internal://")) == sound
    [selection] = source.findall(f"{QDA}AudioSelection")
    begin, end = int(selection.get("begin")), int(selection.get("end"))
    assert begin == 2 * 60_000 - audio.LEAD_MS and end - begin == audio.passage_ms(quote)
    assert selection.find(f"{QDA}Coding/{QDA}CodeRef").get("targetGUID") == code.id


def test_a_backup_holds_the_recordings_and_restores_them(vault, tmp_path):
    from fieldkit import backup

    from conftest import PASSPHRASE
    from fieldkit.vault import Vault

    interview = consented_interview(vault, "Brücke e. V.", {"recording"})
    recording = record(vault, interview, [bytes([n]) * 6000 for n in range(40)])  # two minutes
    with Session(vault.engine) as session:
        sound = audio.read(session, session.get(Recording, recording.id))
    file = backup.write(vault, tmp_path / "backups")
    backup.restore(file, tmp_path / "restored", PASSPHRASE,
                   open_vault=lambda path: Vault(path, memory_kib=8192, iterations=1))
    restored = Vault(tmp_path / "restored", memory_kib=8192, iterations=1)
    restored.unlock(PASSPHRASE)
    with Session(restored.engine) as session:
        assert audio.read(session, session.get(Recording, recording.id)) == sound
    restored.lock()


def test_a_recording_nothing_came_for_a_while_is_interrupted_not_running(vault):
    interview = consented_interview(vault, "Brücke e. V.", {"recording"})
    recording = record(vault, interview, [b"piece"])
    assert audio.state_of(recording) == "recording"
    with Session(vault.engine) as session:
        assert audio.recording_now(session, vault.device_id)
        later = utcnow() + dt.timedelta(minutes=1)
        assert not audio.recording_now(session, vault.device_id, later)
    assert audio.state_of(recording, later) == "interrupted"


def test_the_audio_is_served_in_the_ranges_asked_for_and_whole_without_one(unlocked, client):
    from fieldkit import interviews as interview_steps
    from fieldkit.guide import latest_guide
    from fieldkit.models import Organisation

    vault = unlocked.extensions["vault"]
    with db.writing(vault.engine) as session:
        organisation = save(session, vault.device_id, Organisation(name="Brücke e. V."))
        interview = interview_steps.new(session, vault.device_id, organisation, latest_guide(session, "mikoss"), "Ayla")
        interview_steps.record_consent(session, vault.device_id, interview, "Vorsitz", "verbal", "2026-12-05", {"recording"})
    pieces = [bytes([n]) * 1000 for n in range(10)]
    recording = record(vault, interview, pieces)
    whole = b"".join(pieces)
    answer = client.get(f"/recordings/{recording.id}/audio")
    assert (answer.status_code, answer.data, answer.headers["Accept-Ranges"]) == (200, whole, "bytes")
    part = client.get(f"/recordings/{recording.id}/audio", headers={"Range": "bytes=1500-2499"})
    assert (part.status_code, part.data, part.headers["Content-Range"]) == (206, whole[1500:2500], "bytes 1500-2499/10000")
    assert client.get(f"/recordings/{recording.id}/audio", headers={"Range": "bytes=20000-"}).status_code == 416
    assert client.get("/recordings/nonsense/audio").status_code == 404


def test_a_bundle_too_large_for_a_coordinator_to_read_is_refused_when_it_is_written(two_vaults):
    laptop, _, interview = two_vaults
    record(laptop, interview, [b"x" * 600_000, b"y" * 600_000])
    with Session(laptop.engine) as session, pytest.raises(InvalidBundle, match="in parts"):
        write_bundle(collect(session), laptop.device_id, laptop.secrets.signing_key,
                     list(laptop.keystore().recovery_recipients), 1, None, "test",
                     attach=lambda record: audio.read(session, session.get(Recording, record.id)) if record.type == "recording" else None,
                     max_size=1024 * 1024)


def test_audio_attached_to_a_recording_that_claims_none_is_refused(two_vaults, coordinator):
    """A signed bundle saying size 0 but carrying audio would otherwise block the real audio later."""
    laptop, office, interview = two_vaults
    recording = record(laptop, interview, [b"real audio"])
    with Session(laptop.engine) as session:
        records = list(collect(session))
        for claimed in records:
            if claimed.type == "recording" and claimed.id == recording.id:
                claimed.fields["size"] = 0
        forged = write_bundle(records, laptop.device_id, laptop.secrets.signing_key,
                              list(laptop.keystore().recovery_recipients), 1, None, "test",
                              attach=lambda record: b"JUNK" * 1000 if record.id == recording.id else None)
    with pytest.raises(InvalidBundle, match="missing from the bundle or incomplete"):
        merge_into(office, forged.data, coordinator)


def test_a_bundle_with_audio_of_an_interview_without_consent_to_it_is_refused(two_vaults, coordinator):
    laptop, office, interview = two_vaults
    recording = record(laptop, interview, [b"voices"])
    with db.writing(laptop.engine) as session:  # the consent is changed behind fieldkit's back
        session.exec(text("UPDATE interview SET consent = json_set(consent, '$.agreed.recording', json('false')) WHERE id = :id"),
                     params={"id": interview.id})
    with pytest.raises(InvalidBundle, match="consent does not cover"):
        merge_into(office, export_from(laptop).data, coordinator)
    with Session(office.engine) as session:
        assert session.get(Recording, recording.id) is None


def test_span_times_need_their_zone_and_times_read_without_one_are_utc(vault):
    from fieldkit import record_check
    from fieldkit.merge import TRAVELLING

    with pytest.raises(record_check.BadRecord):
        record_check.check_fields(TRAVELLING["recording"], {"spans": [{"at": "2026-12-05T10:00:00", "ms": 0}]})
    record_check.check_fields(TRAVELLING["recording"], {"spans": [{"at": "2026-12-05T10:00:00+01:00", "ms": 0}]})
    naive = Recording(interview_id="i", spans=[{"at": "2026-12-05T10:00:00", "ms": 0}], duration_ms=60_000)
    assert audio.position([naive], START + dt.timedelta(seconds=30)).ms == 30_000  # START is 10:00 UTC


def test_another_laptops_or_a_future_recording_keeps_no_idle_lock_away(vault):
    interview = consented_interview(vault, "Brücke e. V.", {"recording"})
    record(vault, interview, [b"piece"])
    with Session(vault.engine) as session:
        assert audio.recording_now(session, vault.device_id)
        assert not audio.recording_now(session, "another-laptop")
        assert not audio.recording_now(session, vault.device_id, now=utcnow() - dt.timedelta(minutes=5))  # its time lies ahead


def test_nothing_is_added_to_the_audio_of_a_locked_interview(vault):
    from fieldkit import interviews as steps

    interview = consented_interview(vault, "Brücke e. V.", {"recording"})
    recording = record(vault, interview, [b"piece"])
    with db.writing(vault.engine) as session:
        for action in ("complete",):
            steps.change_status(session, vault.device_id, session.get(Interview, interview.id), action)
        assert audio.append(session, vault.device_id, session.get(Recording, recording.id), 1, b"after", 6000)  # completed: goes on
        steps.change_status(session, vault.device_id, session.get(Interview, interview.id), "lock")
    with db.writing(vault.engine) as session, pytest.raises(audio.AudioError, match="locked"):
        audio.append(session, vault.device_id, session.get(Recording, recording.id), 2, b"later", 9000)


def test_a_phone_recording_larger_than_other_uploads_goes_through_the_form(unlocked, client, guard):
    import io

    vault = unlocked.extensions["vault"]
    interview = consented_interview(vault, "Brücke e. V.", {"recording"})
    big = b"RIFF" + b"\x00" * (30 * 1024 * 1024)  # 30 MB, beyond the 25 MB of other uploads; not valid audio
    answer = client.post(f"/interviews/{interview.id}/recordings/import",
                         data={"csrf_token": guard.csrf_token, "offset": "0:00", "file": (io.BytesIO(big), "telefon.wav")},
                         content_type="multipart/form-data")
    assert answer.status_code == 400 and "Tonaufnahme" in answer.get_data(as_text=True)  # read and judged, not 413

"""Backups of the vault: taken while notes are being saved, restored record for record, unreadable
without the passphrase, refused when wrong or damaged without restoring anything; on the command line."""
import datetime as dt
import json
import shutil
import sqlite3
import threading
import time
import zipfile

import pytest
from sqlalchemy import text

from conftest import PASSPHRASE, consented_interview, run_cli

from fieldkit import backup, db, interviews
from fieldkit.demo import create_demo_data
from fieldkit.guide import guide_version
from fieldkit.models import SHARED_TABLES
from fieldkit.vault import Vault

NOTE = "Notiz aus dem Lindenviertel"


def restored_vault(path):
    return Vault(path, memory_kib=8192, iterations=1)


def rows(vault) -> dict:
    with vault.engine.connect() as connection:
        return {model.__tablename__: sorted(tuple(row) for row in connection.execute(text(f"SELECT * FROM {model.__tablename__}")))
                for model in SHARED_TABLES}


def test_a_backup_taken_while_notes_are_saved_restores_every_record(vault, tmp_path):
    with db.writing(vault.engine) as session:
        create_demo_data(session, vault.device_id)
    interview = consented_interview(vault, "Verein im Lindenviertel", {"network_map"})
    with db.writing(vault.engine) as session:
        guide = guide_version(session, interview.guide_id, interview.guide_version)
        interviews.save_answer(session, vault.device_id, interview, guide, "organisation.history", NOTE)
    stop, written = threading.Event(), []

    def typing():
        while not stop.is_set():
            text_now = f"{NOTE} {len(written)}"
            interviews.autosave(vault.engine, vault.device_id, interview.id, "organisation.history", text_now)
            written.append(text_now)

    writer = threading.Thread(target=typing)
    writer.start()
    try:
        files = [backup.write(vault, tmp_path / "backups") for _ in range(3)]
    finally:
        stop.set()
        writer.join()
    assert written, "the note was being saved during the backups"
    source = rows(vault)
    aside = backup.restore(files[-1], tmp_path / "restored", PASSPHRASE, open_vault=restored_vault)
    assert aside is None
    copy = restored_vault(tmp_path / "restored")
    copy.unlock(PASSPHRASE)
    try:
        restored = rows(copy)
    finally:
        copy.lock()
    for table, records in source.items():
        if table != "answer":
            assert restored[table] == records, table
    answer = next(row for row in restored["answer"] if NOTE in str(row))
    assert any(text_now in answer for text_now in [NOTE] + written)  # the note as it stood at that moment


def test_a_backup_is_unreadable_without_the_key(vault, tmp_path):
    interview = consented_interview(vault, "Verein Geheim", {"network_map"})
    with db.writing(vault.engine) as session:
        guide = guide_version(session, interview.guide_id, interview.guide_version)
        interviews.save_answer(session, vault.device_id, interview, guide, "organisation.history", NOTE)
    file = backup.write(vault, tmp_path)
    data = file.read_bytes()
    assert NOTE.encode() not in data and b"Verein Geheim" not in data
    extracted = tmp_path / "copy.db"
    extracted.write_bytes(zipfile.ZipFile(file).read("fieldkit.db"))
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(extracted).execute("SELECT * FROM sqlite_master").fetchall()


def test_a_wrong_passphrase_or_a_damaged_file_restores_nothing(vault, tmp_path):
    file = backup.write(vault, tmp_path / "backups")
    target = tmp_path / "empty"
    with pytest.raises(Exception):
        backup.restore(file, target, "falsche Passphrase im Lindenviertel", open_vault=restored_vault)
    assert list(target.iterdir()) == []
    damaged = tmp_path / "damaged.fkbak"
    with zipfile.ZipFile(file) as source, zipfile.ZipFile(damaged, "w") as copy:
        for info in source.infolist():
            content = source.read(info)
            copy.writestr(info, content[:-1] + bytes([content[-1] ^ 1]) if info.filename == "fieldkit.db" else content)
    with pytest.raises(backup.BackupError, match="checksum"):
        backup.restore(damaged, target, PASSPHRASE, open_vault=restored_vault)
    assert list(target.iterdir()) == []
    (tmp_path / "nonsense.fkbak").write_bytes(b"PK\x03\x04 no zip at all")
    with pytest.raises(backup.BackupError):
        backup.restore(tmp_path / "nonsense.fkbak", target, PASSPHRASE, open_vault=restored_vault)


def test_replacing_keeps_the_old_vault_and_a_failed_replace_puts_it_back(vault, tmp_path):
    file = backup.write(vault, tmp_path / "backups")
    target = tmp_path / "laptop"
    backup.restore(file, target, PASSPHRASE, open_vault=restored_vault)
    with pytest.raises(backup.BackupError):
        backup.restore(file, target, PASSPHRASE, open_vault=restored_vault)  # not over a vault without asking
    keystore = (target / "keystore.json").read_bytes()
    with pytest.raises(Exception):
        backup.restore(file, target, "falsche Passphrase im Lindenviertel", replace=True, open_vault=restored_vault)
    assert (target / "keystore.json").read_bytes() == keystore and not list(target.glob("vault-before-restore-*"))
    aside = backup.restore(file, target, PASSPHRASE, replace=True, open_vault=restored_vault)
    assert (aside / "keystore.json").read_bytes() == keystore


def test_only_the_last_backups_are_kept(vault, tmp_path):
    import datetime as dt

    start = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    for day in range(5):
        backup.write(vault, tmp_path, keep=3, now=start + dt.timedelta(days=day))
    assert [path.name.split("_")[2] for path in backup.backups(tmp_path)] == ["2026-12-03", "2026-12-04", "2026-12-05"]


def test_backup_and_restore_on_the_command_line(tmp_path):
    data = tmp_path / "data"
    env = {"FIELDKIT_PASSPHRASE": PASSPHRASE}
    from fieldkit.vault import new_project_identity

    created = run_cli("init", "--recipient", new_project_identity()[1], data_dir=data, env=env)
    assert created.returncode == 0, created.stderr
    made = run_cli("backup", "--out", str(tmp_path / "stick"), "--json", data_dir=data, env=env)
    assert made.returncode == 0, made.stderr
    file = json.loads(made.stdout)["file"]
    restored = run_cli("restore", file, data_dir=tmp_path / "new", env=env)
    assert restored.returncode == 0, restored.stderr
    assert "jede Seite ist in Ordnung" in restored.stdout
    again = run_cli("restore", file, data_dir=tmp_path / "new", env=env)
    assert again.returncode == 1 and again.stderr.strip()


def test_with_a_lost_passphrase_the_recovery_key_restores_under_a_new_one(vault, coordinator, tmp_path):
    file = backup.write(vault, tmp_path / "backups")
    new = "Neue Passphrase für den Lindenplatz"
    backup.restore(file, tmp_path / "laptop", new, identity=coordinator[0], open_vault=restored_vault)
    restored = restored_vault(tmp_path / "laptop")
    restored.unlock(new)
    assert restored.device_id == vault.device_id
    restored.lock()


# Backups by plan ---------------------------------------------------------------------------------

def test_a_plan_needs_a_whole_path_to_a_folder_that_takes_files(vault, tmp_path):
    (tmp_path / "a-file").write_text("")
    with db.writing(vault.engine) as session:
        for folder, keep in (("relativ/ordner", 10), ("", 10), (str(tmp_path / "a-file" / "below"), 10), (str(tmp_path / "ok"), 0)):
            with pytest.raises(backup.BackupError):
                backup.save_plan(session, folder, keep, True, True)
        assert backup.plan(session) is None
        chosen = backup.save_plan(session, str(tmp_path / "stick" / "fieldkit"), 3, True, False)
    assert (tmp_path / "stick" / "fieldkit").is_dir() and chosen.keep == 3 and not chosen.on_close


def test_a_planned_backup_is_noted_and_a_missing_stick_is_noted_not_raised(vault, tmp_path):
    from sqlmodel import Session

    stick = tmp_path / "stick"
    now = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.timezone.utc)
    with db.writing(vault.engine) as session:
        backup.watch(session, now - dt.timedelta(days=8))
        backup.save_plan(session, str(stick), 2, True, True)
    with Session(vault.engine) as session:
        assert backup.state(session, now).overdue_days == 8 and backup.due(vault, now)
    assert backup.run_planned(vault, "daily", now).parent == stick
    with Session(vault.engine) as session:
        noted = backup.state(session, now)
    assert noted.last == now and noted.failed is None and noted.overdue_days is None
    assert not backup.due(vault, now + dt.timedelta(hours=23)) and backup.due(vault, now + dt.timedelta(hours=24))
    shutil.rmtree(stick)
    stick.write_text("the stick is gone, a file is in its place")
    assert backup.run_planned(vault, "daily", now + dt.timedelta(days=1)) is None
    with Session(vault.engine) as session:
        failed = backup.state(session, now + dt.timedelta(days=9))
    assert failed.failed and failed.last == now and failed.overdue_days == 9  # the last success still counts


def test_the_worker_makes_the_daily_backup_while_the_app_runs(vault, tmp_path):
    with db.writing(vault.engine) as session:
        backup.save_plan(session, str(tmp_path / "stick"), 5, True, True)
    worker = backup.BackupWorker(vault, interval=0.05)
    worker.start()
    deadline = time.monotonic() + 20
    while not backup.backups(tmp_path / "stick") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # further rounds find it done for today
    assert len(backup.backups(tmp_path / "stick")) == 1


def test_settings_plan_back_up_now_and_the_seven_day_warning(unlocked, client, guard, tmp_path):
    vault = unlocked.extensions["vault"]
    with db.writing(vault.engine) as session:
        from fieldkit.local_settings import set_setting

        set_setting(session, backup.WATCHED_SETTING, (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=9)).isoformat())
    page = client.get("/interviews/").get_data(as_text=True)
    assert "Seit 9 Tagen keine Sicherung." in page
    refused = client.post("/settings/backup", data={"csrf_token": guard.csrf_token, "folder": "usb", "keep": "5"})
    assert refused.status_code == 400 and "ganzen Pfad" in refused.get_data(as_text=True)
    saved = client.post("/settings/backup", data={"csrf_token": guard.csrf_token, "folder": str(tmp_path / "usb"),
                                                   "keep": "5", "daily": "on"})
    assert saved.status_code == 200 and str(tmp_path / "usb") in saved.get_data(as_text=True)
    done = client.post("/settings/backup/now", data={"csrf_token": guard.csrf_token}).get_data(as_text=True)
    assert "Sicherung geschrieben" in done and "Letzte Sicherung" in done
    assert len(backup.backups(tmp_path / "usb")) == 1
    assert "keine Sicherung." not in client.get("/interviews/").get_data(as_text=True)


def test_planning_and_backing_up_on_the_command_line(tmp_path):
    from fieldkit.vault import new_project_identity

    data_dir, env = tmp_path / "data", {"FIELDKIT_PASSPHRASE": PASSPHRASE}
    assert run_cli("init", "--recipient", new_project_identity()[1], data_dir=data_dir, env=env).returncode == 0
    planned = run_cli("settings", "backup", str(tmp_path / "stick"), "--keep", "2", "--no-on-close", data_dir=data_dir, env=env)
    assert planned.returncode == 0, planned.stderr
    for _ in range(3):
        assert run_cli("backup", data_dir=data_dir, env=env).returncode == 0
    assert len(backup.backups(tmp_path / "stick")) == 2  # into the planned folder, keeping the planned number


def test_the_last_saved_note_still_in_the_write_ahead_log_is_restored(vault, tmp_path):
    interview = consented_interview(vault, "Verein im Lindenviertel", {"network_map"})
    with vault.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the file holds everything so far …
    with db.writing(vault.engine) as session:  # … and the note only the log
        guide = guide_version(session, interview.guide_id, interview.guide_version)
        interviews.save_answer(session, vault.device_id, interview, guide, "organisation.history", NOTE)
    file = backup.write(vault, tmp_path / "backups")
    with zipfile.ZipFile(file) as archive:
        assert archive.getinfo("fieldkit.db-wal").file_size > 0
    backup.restore(file, tmp_path / "restored", PASSPHRASE, open_vault=restored_vault)
    copy = restored_vault(tmp_path / "restored")
    copy.unlock(PASSPHRASE)
    try:
        assert any(NOTE in str(row) for row in rows(copy)["answer"])
    finally:
        copy.lock()


def test_a_backup_of_the_first_format_still_restores(vault, tmp_path):
    with vault.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    file = backup.write(vault, tmp_path / "backups")
    old = tmp_path / "old.fkbak"
    with zipfile.ZipFile(file) as source, zipfile.ZipFile(old, "w") as copy:
        manifest = json.loads(source.read("manifest.json"))
        manifest["format"] = "fieldkit-backup/1"
        manifest["members"].pop("fieldkit.db-wal", None)
        for name in ("keystore.json", "fieldkit.db"):
            copy.writestr(name, source.read(name))
        copy.writestr("manifest.json", json.dumps(manifest))
    assert backup.restore(old, tmp_path / "restored", PASSPHRASE, open_vault=restored_vault) is None

"""The vault: wrapping, tampering, another device's keystore, rewrap, recovery, encryption at rest."""
import base64
import json
import shutil
import sqlite3
import time
import unicodedata

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from fieldkit.demo import create_demo_data
from fieldkit.models import Organisation
from fieldkit.vault import (BadRecipient, IdleLock, KeystoreDamaged, KeystoreMismatch, RecoveryFailed, Vault,
                            VaultExists, VaultLocked, VaultTooNew, WeakPassphrase, WrongPassphrase, new_project_identity,
                            parse_recipient)

from conftest import PASSPHRASE

FAST = dict(memory_kib=8192, iterations=1)


@pytest.fixture
def vault(tmp_path, coordinator):
    vault = Vault(tmp_path / "vault", **FAST)
    vault.create(PASSPHRASE, [coordinator[1]])
    with Session(vault.engine) as session, session.begin():
        create_demo_data(session, vault.device_id)
    yield vault
    vault.lock()


def organisation_names(vault):
    with Session(vault.engine) as session:
        return sorted(o.name for o in session.exec(select(Organisation)))


def test_unlock_with_the_passphrase_reads_the_data_back(vault):
    vault.lock()
    with pytest.raises(VaultLocked):
        vault.engine
    vault.unlock(PASSPHRASE)
    assert organisation_names(vault) == ["Bildungsbrücke Musterstadt e. V. (Demo)", "Frauentreff Lindenviertel (Demo)"]


def test_wrong_passphrase_is_refused_and_changes_nothing(vault):
    vault.lock()
    before = vault.keystore_path.read_bytes()
    with pytest.raises(WrongPassphrase) as refused:
        vault.unlock("Winterfest im Lindenviertel")
    assert "Wrong passphrase" in refused.value.message
    assert not vault.is_unlocked
    assert vault.keystore_path.read_bytes() == before


def _edit(keystore: dict, field: str) -> None:
    if field == "wrapped":
        raw = bytearray(base64.b64decode(keystore["wrapped"]))
        raw[5] ^= 0x01
        keystore["wrapped"] = base64.b64encode(bytes(raw)).decode()
    elif field == "nonce":
        keystore["nonce"] = "AAAAAAAAAAAAAAAA"
    elif field == "device_id":
        keystore["device_id"] = "00000000-0000-0000-0000-000000000000"
    elif field == "format":
        keystore["format"] = "fieldkit-keystore/99"
    elif field == "kdf_too_cheap":
        keystore["kdf"]["memory_kib"] = 8
    elif field == "missing_check":
        del keystore["check"]


@pytest.mark.parametrize("field", ["wrapped", "nonce", "device_id", "format", "kdf_too_cheap", "missing_check"])
def test_tampered_keystore_is_detected(vault, field):
    vault.lock()
    keystore = json.loads(vault.keystore_path.read_text())
    _edit(keystore, field)
    vault.keystore_path.write_text(json.dumps(keystore))
    with pytest.raises(KeystoreDamaged) as refused:
        vault.unlock(PASSPHRASE)
    assert "changed or damaged" in refused.value.message
    assert not vault.is_unlocked


@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff\xfe", b'{"format": "fieldkit-keystore/1"}'])
def test_truncated_or_garbled_keystore_is_detected(vault, content):
    vault.lock()
    vault.keystore_path.write_bytes(content)
    with pytest.raises(KeystoreDamaged):
        vault.unlock(PASSPHRASE)


def test_keystore_from_another_device_is_refused(vault, tmp_path, coordinator):
    other = Vault(tmp_path / "other", **FAST)
    other.create("Herbstmarkt am Rathausplatz", [coordinator[1]])
    other.lock()
    vault.lock()
    original = vault.keystore_path.read_bytes()
    shutil.copy(other.keystore_path, vault.keystore_path)
    with pytest.raises(KeystoreMismatch) as refused:
        vault.unlock("Herbstmarkt am Rathausplatz")
    assert "another device" in refused.value.message
    assert not vault.is_unlocked
    vault.keystore_path.write_bytes(original)  # the database was not touched: its own keystore still opens it
    vault.unlock(PASSPHRASE)
    assert len(organisation_names(vault)) == 2


def test_passphrase_change_rewraps_only(vault):
    vault.lock()
    database = vault.database_path.read_bytes()
    old = json.loads(vault.keystore_path.read_text())
    vault.change_passphrase(PASSPHRASE, "Neue Passphrase fuer den Herbst")
    new = json.loads(vault.keystore_path.read_text())
    assert vault.database_path.read_bytes() == database
    assert new["recovery"] == old["recovery"] and new["device_id"] == old["device_id"]
    assert new["wrapped"] != old["wrapped"] and new["kdf"]["salt"] != old["kdf"]["salt"]
    with pytest.raises(WrongPassphrase):
        vault.unlock(PASSPHRASE)
    vault.unlock("Neue Passphrase fuer den Herbst")
    assert len(organisation_names(vault)) == 2


def test_passphrase_change_needs_the_current_passphrase(vault):
    before = vault.keystore_path.read_bytes()
    with pytest.raises(WrongPassphrase):
        vault.change_passphrase("Winterfest im Lindenviertel", "Neue Passphrase fuer den Herbst")
    assert vault.keystore_path.read_bytes() == before


def test_recovery_with_the_coordinator_identity_sets_a_new_passphrase(vault, coordinator):
    vault.lock()
    vault.recover(coordinator[0], "Wiederhergestellt am Montag")
    vault.unlock("Wiederhergestellt am Montag")
    assert len(organisation_names(vault)) == 2


def test_recovery_with_a_foreign_identity_fails_and_changes_nothing(vault):
    vault.lock()
    before = vault.keystore_path.read_bytes()
    with pytest.raises(RecoveryFailed):
        vault.recover(new_project_identity()[0], "Wiederhergestellt am Montag")
    with pytest.raises(RecoveryFailed):
        vault.recover("not an identity", "Wiederhergestellt am Montag")
    assert vault.keystore_path.read_bytes() == before


@pytest.mark.parametrize("passphrase, confirmation, expected", [
    ("kurz", "kurz", "at least 12 characters"),
    ("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "too few different characters"),
    ("1234567890123", "1234567890123", "simple sequence"),
    ("abcdefghijklmn", "abcdefghijklmn", "simple sequence"),
    ("Lindenviertel!", "Lindenviertel?", "do not match"),
])
def test_weak_or_mistyped_passphrases_are_refused(tmp_path, coordinator, passphrase, confirmation, expected):
    vault = Vault(tmp_path / "weak", **FAST)
    with pytest.raises(WeakPassphrase) as refused:
        vault.create(passphrase, [coordinator[1]], confirmation=confirmation)
    assert any(expected in problem for problem in refused.value.problems)
    assert not vault.exists


def test_creating_over_an_existing_vault_is_refused(vault, coordinator):
    with pytest.raises(VaultExists):
        vault.create("Noch ein Tresor hier bitte", [coordinator[1]])


@pytest.mark.parametrize("pasted", ["", "age1notakey", "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"])
def test_bad_recovery_keys_are_refused(pasted):
    with pytest.raises(BadRecipient):
        parse_recipient(pasted)


def test_recipient_is_found_in_an_identity_file(coordinator):
    assert parse_recipient(coordinator[0].splitlines()[1]) == coordinator[1]
    assert parse_recipient(f"  {coordinator[1]}\n") == coordinator[1]


def test_database_and_wal_reveal_neither_schema_nor_names(vault):
    # The vault is still open, so the write-ahead log holds the latest pages.
    wal = vault.database_path.with_name(vault.database_path.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    for path in (vault.database_path, wal):
        content = path.read_bytes()
        for needle in (b"Frauentreff", b"Lindenviertel", "Bildungsbrücke".encode(), b"Musterstadt",
                       b"CREATE TABLE", b"organisation", b"SQLite format 3"):
            assert needle not in content, (path.name, needle)
    with pytest.raises(sqlite3.DatabaseError, match="file is not a database"):
        sqlite3.connect(vault.database_path).execute("SELECT name FROM sqlite_master").fetchall()


def test_database_pragmas_favour_durability(vault):
    with vault.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_idle_vault_locks_itself(vault):
    vault.touch()
    assert not vault.lock_if_idle(60)
    watcher = IdleLock(vault, minutes=lambda: 0.001, interval=0.02)
    watcher.start()
    for _ in range(100):
        if not vault.is_unlocked:
            break
        time.sleep(0.02)
    watcher.stop()
    assert not vault.is_unlocked


def test_kdf_settings_outside_the_bounds_create_no_vault(tmp_path, coordinator):
    vault = Vault(tmp_path / "cheap", memory_kib=4096, iterations=1)
    with pytest.raises(KeystoreDamaged):
        vault.create(PASSPHRASE, [coordinator[1]])
    assert not vault.exists


@pytest.mark.parametrize("field", ["recipients", "age"])
def test_edited_recovery_part_is_detected(vault, field):
    vault.lock()
    keystore = json.loads(vault.keystore_path.read_text())
    if field == "recipients":
        keystore["recovery"]["recipients"] = [new_project_identity()[1]]
    else:
        keystore["recovery"]["age"] = base64.b64encode(b"age-encryption.org/v1 forged").decode()
    vault.keystore_path.write_text(json.dumps(keystore))
    with pytest.raises(KeystoreDamaged):
        vault.unlock(PASSPHRASE)


def test_passphrase_in_either_unicode_form_unlocks(tmp_path, coordinator):
    vault = Vault(tmp_path / "umlaut", **FAST)
    vault.create("Grüße aus dem Lindenviertel", [coordinator[1]])
    vault.lock()
    vault.unlock(unicodedata.normalize("NFD", "Grüße aus dem Lindenviertel"))
    assert vault.is_unlocked
    vault.lock()


def test_a_vault_from_a_newer_version_is_refused_and_left_locked(vault):
    with vault.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    vault.lock()
    with pytest.raises(VaultTooNew):
        vault.unlock(PASSPHRASE)
    assert not vault.is_unlocked


@pytest.mark.parametrize("kdf", [["argon2id"], None, "argon2id", {"name": "argon2id", "salt": None},
                                 {"name": "argon2id", "salt": "AAAAAAAAAAAAAAAAAAAAAA==", "memory_kib": 1e400,
                                  "iterations": 1, "lanes": 1}])
def test_a_keystore_with_a_damaged_kdf_says_so(vault, kdf):
    vault.lock()
    keystore = json.loads(vault.keystore_path.read_text())
    keystore["kdf"] = kdf
    vault.keystore_path.write_text(json.dumps(keystore).replace("Infinity", "1e400"))
    with pytest.raises(KeystoreDamaged):
        vault.unlock(PASSPHRASE)


@pytest.mark.parametrize("offset", [4096, 8000, 40960])
def test_a_flipped_byte_in_the_database_is_named_as_damage(vault, offset):
    from fieldkit.vault import DatabaseDamaged, KeystoreMismatch

    vault.lock()
    data = bytearray(vault.database_path.read_bytes())
    if offset >= len(data):
        pytest.skip("the database is smaller")
    data[offset] ^= 0xFF
    vault.database_path.write_bytes(bytes(data))
    from fieldkit.doctor import examine

    try:
        vault.unlock(PASSPHRASE)  # a damaged page the unlock does not read lets it open …
        vault.lock()
    except (DatabaseDamaged, KeystoreMismatch) as refused:
        assert isinstance(refused, DatabaseDamaged)
        assert not vault.is_unlocked
    findings = examine(vault, PASSPHRASE)  # … but the doctor finds it
    assert not all(finding.ok for finding in findings)


@pytest.mark.parametrize("change, expected", [
    (lambda path: path.unlink(), "DatabaseMissing"),
    (lambda path: path.write_bytes(b""), "DatabaseDamaged"),
    (lambda path: path.write_bytes(path.read_bytes()[:500]), "DatabaseDamaged"),
])
def test_a_missing_or_truncated_database_is_named_as_such(vault, change, expected):
    vault.lock()
    for suffix in ("-wal", "-shm"):
        sidecar = vault.database_path.with_name(vault.database_path.name + suffix)
        if sidecar.exists():
            sidecar.unlink()
    change(vault.database_path)
    with pytest.raises(Exception) as refused:
        vault.unlock(PASSPHRASE)
    assert type(refused.value).__name__ == expected

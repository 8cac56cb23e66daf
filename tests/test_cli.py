"""The `fieldkit` command as a coordinator scripts it: real processes, real files."""
import json
import os
import stat
import subprocess
import sys
import time

import pytest

from conftest import FAST_KDF_ENV, PASSPHRASE


@pytest.fixture
def coordinator_key(cli, tmp_path):
    result = cli("keys", "project-init", "--out", str(tmp_path / "coordinator.key"), "--json")
    assert result.returncode == 0, result.stderr
    return tmp_path / "coordinator.key", json.loads(result.stdout)["recipient"]


@pytest.fixture
def initialised(cli, tmp_path, coordinator_key):
    data_dir = tmp_path / "data"
    result = cli("init", "--recipient", coordinator_key[1], "--json", data_dir=data_dir,
                 env={"FIELDKIT_PASSPHRASE": PASSPHRASE})
    assert result.returncode == 0, result.stderr
    return data_dir, json.loads(result.stdout)


def test_project_init_writes_a_private_identity_and_never_overwrites(cli, coordinator_key):
    path, recipient = coordinator_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert recipient.startswith("age1") and recipient in path.read_text()
    again = cli("keys", "project-init", "--out", str(path))
    assert again.returncode == 1 and "nicht überschrieben" in again.stderr


def test_init_creates_a_vault_and_keys_show_reports_it(cli, initialised, coordinator_key):
    data_dir, created = initialised
    shown = cli("keys", "show", "--json", data_dir=data_dir, env={"FIELDKIT_PASSPHRASE": PASSPHRASE})
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"device_id": created["device_id"], "fingerprint": created["fingerprint"],
                                        "recovery_recipients": [coordinator_key[1]]}


def test_init_twice_is_refused(cli, initialised, coordinator_key):
    again = cli("init", "--recipient", coordinator_key[1], data_dir=initialised[0],
                env={"FIELDKIT_PASSPHRASE": PASSPHRASE})
    assert again.returncode == 1 and "bereits einen Tresor" in again.stderr


def test_wrong_passphrase_gets_a_clear_german_error(cli, initialised):
    result = cli("keys", "show", data_dir=initialised[0], env={"FIELDKIT_PASSPHRASE": "Winterfest am See 2026"})
    assert result.returncode == 1
    assert "Falsche Passphrase" in result.stderr


def test_passwd_then_recover_with_the_coordinator_key(cli, initialised, coordinator_key, tmp_path):
    data_dir = initialised[0]
    changed = cli("passwd", data_dir=data_dir,
                  env={"FIELDKIT_PASSPHRASE": PASSPHRASE, "FIELDKIT_NEW_PASSPHRASE": "Zweite Passphrase im Herbst"})
    assert changed.returncode == 0, changed.stderr
    new_file = tmp_path / "new-passphrase.txt"
    new_file.write_text("Dritte Passphrase nach Verlust\n")
    recovered = cli("recover", "--identity", str(coordinator_key[0]), "--new-passphrase-file", str(new_file),
                    data_dir=data_dir)
    assert recovered.returncode == 0, recovered.stderr
    assert cli("keys", "show", data_dir=data_dir, env={"FIELDKIT_PASSPHRASE": "Zweite Passphrase im Herbst"}).returncode == 1
    assert cli("keys", "show", data_dir=data_dir, env={"FIELDKIT_PASSPHRASE": "Dritte Passphrase nach Verlust"}).returncode == 0


def test_recover_with_a_foreign_key_is_refused(cli, initialised, tmp_path):
    foreign = tmp_path / "foreign.key"
    assert cli("keys", "project-init", "--out", str(foreign)).returncode == 0
    result = cli("recover", "--identity", str(foreign), data_dir=initialised[0],
                 env={"FIELDKIT_NEW_PASSPHRASE": "Dritte Passphrase nach Verlust"})
    assert result.returncode == 1 and "Wiederherstellungskopie" in result.stderr


def test_demo_creates_a_marked_demo_vault(cli, tmp_path):
    result = cli("demo", "--no-start", data_dir=tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    assert "Demo-Passphrase" in result.stdout
    assert (tmp_path / "demo" / "keystore.json").exists()


def start_serving(data_dir, **env):
    """`fieldkit serve` in the background; returns the process and the one-time URL it printed."""
    process = subprocess.Popen([sys.executable, "-m", "fieldkit", "--data-dir", str(data_dir), "serve"],
                               env={**os.environ, **FAST_KDF_ENV, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("http://127.0.0.1:"):
            return process, line.strip()
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"no URL printed: {process.stderr.read()}")


def test_second_start_on_the_same_data_directory_is_refused(cli, tmp_path):
    first, _url = start_serving(tmp_path / "data")
    try:
        second = cli("serve", data_dir=tmp_path / "data", timeout=30)
        assert second.returncode == 1
        assert "läuft bereits" in second.stderr
    finally:
        first.terminate()
        first.wait(timeout=10)


def test_organisations_list_and_idle_lock_setting(cli, tmp_path):
    data_dir = tmp_path / "demo"
    assert cli("demo", "--no-start", data_dir=data_dir).returncode == 0
    env = {"FIELDKIT_PASSPHRASE": "Demo-Passphrase fuer fieldkit"}
    listed = cli("organisations", "list", "--search", "Frauen", "--json", data_dir=data_dir, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)] == ["Frauentreff Lindenviertel (Demo)"]
    assert cli("settings", "idle-lock", "5", data_dir=data_dir, env=env).returncode == 0
    refused = cli("settings", "idle-lock", "0", data_dir=data_dir, env=env)
    assert refused.returncode == 2


def test_project_init_creates_the_folder_it_is_asked_for(cli, tmp_path):
    result = cli("keys", "project-init", "--out", str(tmp_path / "neu" / "coordinator.key"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "neu" / "coordinator.key").exists()


def test_commands_on_a_mistyped_data_directory_create_nothing(cli, tmp_path):
    result = cli("keys", "show", data_dir=tmp_path / "tippfehler", env={"FIELDKIT_PASSPHRASE": PASSPHRASE})
    assert result.returncode == 1
    assert result.stderr.strip() == "In diesem Datenordner gibt es noch keinen Tresor."
    assert not (tmp_path / "tippfehler").exists()


def test_failures_are_reported_without_an_english_prefix(cli, coordinator_key):
    result = cli("keys", "project-init", "--out", str(coordinator_key[0]))
    assert result.stderr.startswith(str(coordinator_key[0]))


def test_coordinator_commands_for_interviews(cli, tmp_path):
    data_dir = tmp_path / "demo"
    assert cli("demo", "--no-start", data_dir=data_dir).returncode == 0
    env = {"FIELDKIT_PASSPHRASE": "Demo-Passphrase fuer fieldkit"}
    table = tmp_path / "orgs.csv"
    table.write_text("name;Stadt;interviewer;interview_date\nKulturverein;Musterstadt;Ayla;2026-12-01\n;Musterstadt;;\n")
    preview = cli("import", "organisations", str(table), "--dry-run", "--json", data_dir=data_dir, env=env)
    assert json.loads(preview.stdout)["problems"] == [{"line": 3, "problems": ["Der Name fehlt."]}]
    assert json.loads(preview.stdout)["organisations"] == 0
    imported = cli("import", "organisations", str(table), "--json", data_dir=data_dir, env=env)
    assert (json.loads(imported.stdout)["organisations"], json.loads(imported.stdout)["interviews"]) == (1, 1)

    created = cli("interview", "create", "--organisation", "Neuer Verein", "--interviewer", "Jonas", "--date",
                  "2026-12-02", "--json", data_dir=data_dir, env=env)
    assert created.returncode == 0, created.stderr
    interview_id = json.loads(created.stdout)["id"]
    listed = json.loads(cli("interview", "list", "--status", "planned", "--json", data_dir=data_dir, env=env).stdout)
    assert {row["organisation"] for row in listed} == {"Kulturverein", "Neuer Verein"}
    assert all(row["guide"] == "mikoss@1.0" for row in listed)

    transcript = tmp_path / "gespraech.txt"
    transcript.write_text("I: Wie fing es an?\nB: Mit fünf Frauen.")
    refused = cli("import", "transcript", "--interview", interview_id, str(transcript), data_dir=data_dir, env=env)
    assert refused.returncode == 1 and "Einwilligung" in refused.stderr  # planned: no content before consent

    guide = tmp_path / "leitfaden.yaml"
    guide.write_text('id: kurz\nversion: "1"\nlanguages: [de]\ntitle: {de: Kurz}\nsections:\n  - id: a\n    title: {de: A}\n    questions:\n      - id: q\n        text: {de: Frage}\n')
    assert cli("guide", "load", str(guide), data_dir=data_dir, env=env).returncode == 0
    guide.write_text(guide.read_text().replace("text: {de: Frage}", "text: {fr: Question}"))
    broken = cli("guide", "load", str(guide), data_dir=data_dir, env=env)
    assert broken.returncode == 1 and "Zeile 10" in broken.stderr
    listed_guides = json.loads(cli("guide", "list", "--json", data_dir=data_dir, env=env).stdout)
    assert {(g["id"], g["version"]) for g in listed_guides} == {("mikoss", "1.0"), ("kurz", "1")}


def test_export_bundle_and_merge_on_the_command_line(cli, tmp_path, coordinator_key):
    laptop, office = tmp_path / "laptop", tmp_path / "office"
    assert cli("demo", "--no-start", data_dir=laptop).returncode == 0
    demo_env = {"FIELDKIT_PASSPHRASE": "Demo-Passphrase fuer fieldkit"}
    # The demo laptop encrypts to its own demo coordinator key; the office uses that key to open bundles.
    identity = laptop / "demo-coordinator.key"
    exported = cli("export", "bundle", "--out", str(tmp_path / "a.fkb"), "--json", data_dir=laptop, env=demo_env)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["sequence"] == 1
    recipient = [line for line in identity.read_text().splitlines() if "public key" in line][0].split(": ")[1]
    assert cli("init", "--recipient", recipient, data_dir=office, env={"FIELDKIT_PASSPHRASE": PASSPHRASE}).returncode == 0
    office_env = {"FIELDKIT_PASSPHRASE": PASSPHRASE}

    unknown = cli("merge", str(tmp_path / "a.fkb"), "--identity", str(identity), "--json", data_dir=office, env=office_env)
    assert unknown.returncode == 1
    message = json.loads(unknown.stdout)[0]["error"]
    shown = message.split("Fingerabdruck ")[1].split(")")[0]
    merged = cli("merge", str(tmp_path / "a.fkb"), "--identity", str(identity), "--accept-device", shown, "--json",
                 data_dir=office, env=office_env)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert json.loads(merged.stdout)[0]["added"] > 20
    again = cli("merge", str(tmp_path / "a.fkb"), "--identity", str(identity), data_dir=office, env=office_env)
    assert again.returncode == 0 and "Bereits importiert: nichts geändert." in again.stdout  # daily re-runs succeed
    own = cli("merge", str(tmp_path / "a.fkb"), "--identity", str(identity), data_dir=laptop, env=demo_env)
    assert own.returncode == 0 and "Paket dieses Laptops selbst" in own.stdout
    public_as_key = cli("merge", str(tmp_path / "a.fkb"), "--identity", str(identity.with_name("x.pub")), data_dir=office,
                        env=office_env) if identity.with_name("x.pub").write_text(recipient) else None
    assert public_as_key.returncode == 1 and "öffentlicher Schlüssel" in public_as_key.stderr
    listed = json.loads(cli("organisations", "list", "--json", data_dir=office, env=office_env).stdout)
    assert len(listed) == 2


def test_two_laptops_merge_without_spurious_conflicts_or_duplicate_codes(cli, tmp_path):
    laptop, office = tmp_path / "laptop", tmp_path / "office"
    env = {"FIELDKIT_PASSPHRASE": "Demo-Passphrase fuer fieldkit"}
    assert cli("demo", "--no-start", data_dir=laptop).returncode == 0
    identity = laptop / "demo-coordinator.key"
    recipient = [line for line in identity.read_text().splitlines() if "public key" in line][0].split(": ")[1]
    assert cli("init", "--recipient", recipient, data_dir=office, env=env).returncode == 0
    assert cli("export", "bundle", "--out", str(tmp_path / "1.fkb"), data_dir=laptop, env=env).returncode == 0
    for vault in (laptop, office):  # the same profile edited on both sides
        if vault == office:
            first = cli("merge", str(tmp_path / "1.fkb"), "--identity", str(identity), "--json", data_dir=office, env=env)
            shown = json.loads(first.stdout)[0]["error"].split("Fingerabdruck ")[1].split(")")[0]
            assert cli("merge", str(tmp_path / "1.fkb"), "--identity", str(identity), "--accept-device", shown,
                       data_dir=office, env=env).returncode == 0
        table = tmp_path / f"{vault.name}.csv"
        table.write_text(f"name;city\nVerein {vault.name};Musterstadt\n")
        assert cli("import", "organisations", str(table), data_dir=vault, env=env).returncode == 0
    assert cli("export", "bundle", "--out", str(tmp_path / "2.fkb"), "--changed", data_dir=laptop, env=env).returncode == 0
    merged = cli("merge", str(tmp_path / "2.fkb"), "--identity", str(identity), "--json", data_dir=office, env=env)
    assert json.loads(merged.stdout)[0]["conflicts"] == 0  # new records on both sides do not conflict
    listed = json.loads(cli("conflicts", "list", "--json", data_dir=office, env=env).stdout)
    assert listed == []  # the shipped guide and codebook exist on both sides: the same records, not conflicts
    missing = cli("conflicts", "resolve", "no-such-id", "--keep", "local", data_dir=office, env=env)
    assert missing.returncode == 1 and "nicht auflösen" in missing.stderr


def test_a_second_coordinator_key_is_imported_after_confirming_its_fingerprint(cli, tmp_path, coordinator_key):
    laptop = tmp_path / "laptop"
    env = {"FIELDKIT_PASSPHRASE": "Demo-Passphrase fuer fieldkit"}
    assert cli("demo", "--no-start", data_dir=laptop).returncode == 0
    second_key, second_recipient = coordinator_key
    unconfirmed = cli("keys", "import", second_recipient, data_dir=laptop, env=env)
    assert unconfirmed.returncode == 1 and "Fingerabdruck dieses Schlüssels" in unconfirmed.stderr
    shown = unconfirmed.stderr.split("--confirm \"")[1].split("\"")[0]
    secret = cli("keys", "import", str(second_key), "--confirm", shown, data_dir=laptop, env=env)
    assert secret.returncode == 1 and "geheime Schlüssel" in secret.stderr  # never the secret key on a laptop
    public = second_key.with_suffix(".pub")  # what project-init wrote beside it
    assert public.read_text().strip() == second_recipient
    assert cli("keys", "import", str(public), "--confirm", shown, data_dir=laptop, env=env).returncode == 0
    assert cli("export", "bundle", "--out", str(tmp_path / "b.fkb"), data_dir=laptop, env=env).returncode == 0
    opened = subprocess.run(["age", "-d", "-i", str(second_key), str(tmp_path / "b.fkb")], capture_output=True)
    assert opened.returncode == 0 and opened.stdout.startswith(b"PK")  # the second coordinator opens it too


def test_every_interview_action_on_the_command_line(cli, initialised):
    data_dir, _ = initialised
    env = {"FIELDKIT_PASSPHRASE": PASSPHRASE}
    planned = json.loads(cli("interview", "create", "--organisation", "Kulturverein West", "--interviewer", "Ayla",
                             "--json", data_dir=data_dir, env=env).stdout)

    def run(*args):
        return cli("interview", *args, data_dir=data_dir, env=env)

    assert run("complete", planned["id"]).returncode == 1  # nothing before consent
    wrong = run("consent", planned["id"], "--by", "Vorsitz", "--form", "verbal", "--to", "quotes,mop")
    assert wrong.returncode == 2 and "mop" in wrong.stderr
    consent = run("consent", planned["id"], "--by", "Vorsitz", "--form", "written", "--to", "recording,map",
                  "--date", "2026-11-30", "--json")
    assert consent.returncode == 0, consent.stderr
    assert json.loads(consent.stdout)["consent"] == {"by": "Vorsitz", "how": "written", "date": "2026-11-30", "agreed": {
        "recording": True, "quotes": False, "network_map": True, "archiving": False}}
    assert run("complete", planned["id"]).returncode == 0
    assert run("reopen", planned["id"]).returncode == 0
    assert run("complete", planned["id"]).returncode == 0
    locked = run("lock", planned["id"], "--json")
    assert json.loads(locked.stdout)["status"] == "locked"
    refused = run("reopen", planned["id"])
    assert refused.returncode == 1 and "gesperrtes bleibt" in refused.stderr


def test_data_dir_may_follow_the_command(cli, initialised):
    data_dir, _ = initialised
    listed = cli("interview", "list", "--data-dir", str(data_dir), "--json", env={"FIELDKIT_PASSPHRASE": PASSPHRASE})
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    assert "--data-dir" in cli("serve", "--help").stdout


def test_the_steward_on_the_command_line(cli, tmp_path):
    data_dir = tmp_path / "demo"
    env = {"FIELDKIT_PASSPHRASE": "Demo-Passphrase fuer fieldkit", "FIELDKIT_USER": "Steward Sahin"}
    assert cli("demo", "--no-start", data_dir=data_dir).returncode == 0
    interviews = json.loads(cli("interview", "list", "--status", "in_progress", "--json", data_dir=data_dir, env=env).stdout)
    (tmp_path / "gespraech.txt").write_text("I: Wer hilft Ihnen?\nB: Herr Kowalczyk vom Sportverein.\n")
    assert cli("import", "transcript", "--interview", interviews[0]["id"], str(tmp_path / "gespraech.txt"),
               data_dir=data_dir, env=env).returncode == 0
    scanned = json.loads(cli("anonymise", "--json", "--k-anonymity", "2", data_dir=data_dir, env=env).stdout)
    assert scanned["records"] == 11 and scanned["status"]["approved"] == 0
    assert [flag["text"] for flag in scanned["flags"]] == ["Kowalczyk"]
    assert len(scanned["k_anonymity"]["small_groups"]) == 2
    added = cli("registry", "add", "Lomingo", "--category", "mo", "--variant", "LeV", "--json", data_dir=data_dir, env=env)
    assert json.loads(added.stdout)["code"] == "MO-04"
    assert cli("registry", "keep", "MO-04", data_dir=data_dir, env=env).returncode == 0
    assert cli("registry", "rename", "MO-04", "MO-99", data_dir=data_dir, env=env).returncode == 0
    listed = json.loads(cli("registry", "list", "--search", "lomingo", "--json", data_dir=data_dir, env=env).stdout)
    assert [(r["code"], r["keep"], r["variants"]) for r in listed] == [("MO-99", True, ["LeV"])]
    refused = cli("release", "--out", str(tmp_path / "out"), data_dir=data_dir, env=env)
    assert refused.returncode == 1 and "Noch ist nichts freigegeben" in refused.stderr and not (tmp_path / "out").exists()
    done = json.loads(cli("anonymise", "--replace-flagged", "--approve-all", "--json", data_dir=data_dir, env=env).stdout)
    assert done["replaced"] == 1 and done["approved"] == 11 and done["left_open"] == 0
    written = cli("release", "--out", str(tmp_path / "out"), data_dir=data_dir, env=env)
    assert written.returncode == 0 and "Freigabe in" in written.stdout
    missing = cli("registry", "merge", "MO-01", "MO-77", data_dir=data_dir, env=env)
    assert missing.returncode == 1 and "keinen Registereintrag MO-77" in missing.stderr


def test_doctor_checks_a_vault_and_a_damaged_page_is_named_not_traced(cli, tmp_path):
    data_dir = tmp_path / "demo"
    env = {"FIELDKIT_PASSPHRASE": "Demo-Passphrase fuer fieldkit"}
    assert cli("demo", "--no-start", data_dir=data_dir).returncode == 0
    healthy = cli("doctor", "--json", data_dir=data_dir, env=env)
    assert healthy.returncode == 0 and all(row["ok"] for row in json.loads(healthy.stdout))
    wrong = cli("doctor", data_dir=data_dir, env={"FIELDKIT_PASSPHRASE": "Falsche Passphrase hier"})
    assert wrong.returncode == 1 and "✗ Passphrase: Falsche Passphrase" in wrong.stdout
    database = data_dir / "fieldkit.db"
    data = bytearray(database.read_bytes())
    for offset in range(len(data) - 4096 * 3, len(data), 4096):  # damage the last pages, which unlocking does not read
        data[offset + 100] ^= 0xFF
    database.write_bytes(bytes(data))
    damaged = cli("doctor", data_dir=data_dir, env=env)
    assert damaged.returncode == 1 and "✗" in damaged.stdout and "Traceback" not in damaged.stderr
    exported = cli("export", "bundle", "--out", str(tmp_path / "x.fkb"), data_dir=data_dir, env=env)
    assert exported.returncode == 1 and "Traceback" not in exported.stderr
    assert "beschädigt" in exported.stderr


def test_the_command_line_starts_without_flask_or_the_database_layer():
    """`fieldkit --help` and every command's own help load neither Flask nor SQLAlchemy (0.6 s of
    imports): only a command that opens a vault or starts the app does."""
    code = """
import sys
from fieldkit.cli import cli
for args in (["--help"], *([name, "--help"] for name in cli.commands)):
    try:
        cli(args)
    except SystemExit:
        pass
print(sorted(m for m in ("flask", "sqlalchemy", "sqlmodel", "sqlcipher3", "fieldkit.models") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"

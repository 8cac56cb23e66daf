"""`fieldkit run` opens the real pywebview (Qt) window under Xvfb, loads the first page, closes cleanly."""
import json
import subprocess
import sys
import time

import pytest

from conftest import PASSPHRASE, consented_on_the_command_line
from window import DevTools, launch, window_env

pytestmark = pytest.mark.desktop


def test_run_opens_a_window_that_loads_the_first_page_and_closes_on_sigterm(display, tmp_path):
    env = window_env(display)
    log_path = tmp_path / "window.log"
    with open(log_path, "w") as log:
        window = subprocess.Popen([sys.executable, "-m", "fieldkit", "--verbose", "--data-dir", str(tmp_path / "data"), "run"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not _loaded(log_path.read_text()):
                assert window.poll() is None, log_path.read_text()
                time.sleep(0.2)
            output = log_path.read_text()
            assert _loaded(output), output
            window.terminate()
            assert window.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if window.poll() is None:
                window.kill()
    output = log_path.read_text()
    assert '"GET /launch/…" 302' in output  # the token itself never reaches the log
    assert "window closed" in output
    assert "Content Security Policy" not in output  # the window injects nothing our policy refuses
    place = json.loads((tmp_path / "data" / "window.json").read_text())  # it opens there next time
    assert place["width"] >= 900 and place["height"] >= 600


def _loaded(output: str) -> bool:
    return '"GET /setup" 200' in output and "window loaded" in output


def test_closing_the_window_saves_the_note_typed_last(display, tmp_path, cli):
    data_dir, env = tmp_path / "data", {"FIELDKIT_PASSPHRASE": PASSPHRASE}
    interview_id = consented_on_the_command_line(cli, data_dir, "Nachbarschaftsverein Ost")
    assert cli("settings", "backup", str(tmp_path / "stick"), "--no-daily", data_dir=data_dir, env=env).returncode == 0
    window, _, debug_port = launch(display, data_dir)
    try:
        tools = DevTools(debug_port)
        tools.unlock(PASSPHRASE)
        tools.evaluate(f"location.assign('/interviews/{interview_id}/guide')")
        tools.wait_for("!!(document.querySelector('textarea') && window.htmx && window.fieldkit)")
        tools.evaluate("const area = document.querySelector('textarea'); area.focus();"
                       "document.execCommand('insertText', false, 'Zuletzt getippt, dann das Fenster geschlossen.')")
        window.terminate()  # closes the window the way its close button does, within the autosave pause
        assert window.wait(timeout=30) == 0
    finally:
        if window.poll() is None:
            window.kill()
    from sqlmodel import Session, select

    from fieldkit.models import Answer
    from fieldkit.vault import Vault

    vault = Vault(data_dir)
    vault.unlock(PASSPHRASE)
    with Session(vault.engine) as session:
        assert [a.text for a in session.exec(select(Answer))] == ["Zuletzt getippt, dann das Fenster geschlossen."]
    vault.lock()
    from fieldkit import backup

    [closing_backup] = backup.backups(tmp_path / "stick")  # planned "when the window is closed": after the note
    backup.restore(closing_backup, tmp_path / "restored", PASSPHRASE, open_vault=lambda path: Vault(path))
    restored = Vault(tmp_path / "restored")
    restored.unlock(PASSPHRASE)
    with Session(restored.engine) as session:
        assert [a.text for a in session.exec(select(Answer))] == ["Zuletzt getippt, dann das Fenster geschlossen."]
    restored.lock()


def test_the_window_place_is_kept_and_nonsense_is_ignored(tmp_path):
    from fieldkit.desktop import WindowPlace

    place = WindowPlace(tmp_path)
    assert place.saved() == {"width": 1280, "height": 860}
    place.resized(1400, 900)
    place.moved(40, 30)
    place.save()
    assert WindowPlace(tmp_path).saved() == {"width": 1400, "height": 900, "x": 40, "y": 30}
    for nonsense in ('{"width": 5, "height": 5}', '[1, 2]', 'kein JSON', '{"width": "1400", "height": 900}'):
        (tmp_path / "window.json").write_text(nonsense)
        assert WindowPlace(tmp_path).saved() == {"width": 1280, "height": 860}


def test_a_file_the_page_offers_is_saved_where_the_save_dialog_says(display, tmp_path, cli):
    data_dir, chosen = tmp_path / "data", tmp_path / "USB-Stick" / "karte.png"
    chosen.parent.mkdir()
    assert cli("demo", "--no-start", data_dir=data_dir).returncode == 0
    demo_env = {"FIELDKIT_PASSPHRASE": "Demo-Passphrase fuer fieldkit"}
    first_map = json.loads(cli("map", "list", "--json", data_dir=data_dir, env=demo_env).stdout)[0]
    window, debug_env, debug_port = launch(display, data_dir)
    try:
        tools = DevTools(debug_port)
        tools.unlock(demo_env["FIELDKIT_PASSPHRASE"])
        tools.evaluate(f"const link = document.createElement('a');"
                       f"link.href = '/interviews/{first_map['interview']}/maps/{first_map['id']}/export/png';"
                       "document.body.append(link); link.click()")
        # The save dialog (Qt's own on a screen without a desktop): the file name typed, Enter.
        dialog = _xdotool("search", "--sync", "--name", "Speichern unter", env=debug_env).split()[0]
        _xdotool("windowfocus", "--sync", dialog, env=debug_env)
        _xdotool("key", "--clearmodifiers", "ctrl+a", env=debug_env)
        _xdotool("type", "--delay", "5", str(chosen), env=debug_env)
        _xdotool("key", "Return", env=debug_env)
        deadline = time.monotonic() + 30
        while not (chosen.exists() and chosen.read_bytes().startswith(b"\x89PNG")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert chosen.read_bytes().startswith(b"\x89PNG")
        window.terminate()
        output, _ = window.communicate(timeout=30)
    finally:
        if window.poll() is None:
            window.kill()
    assert "download completed" in output
    assert "karte" not in output and "USB-Stick" not in output  # where it went and what it is called stay private


def _xdotool(*args, env) -> str:
    done = subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_closing_with_a_note_that_cannot_be_saved_asks_before_losing_it(display, tmp_path):
    from fieldkit.desktop import _SaveBeforeClosing

    window, debug_env, debug_port = launch(display, tmp_path / "data")
    try:
        tools = DevTools(debug_port)
        tools.wait_for("!!window.fieldkit")
        # A change the server never confirms (as when a save is refused): the page cannot flush it.
        tools.evaluate("fieldkit.addSaver({pending: () => true, flush: () => Promise.resolve(false),"
                       " sendBeforeUnload: () => false}); true")
        window.terminate()
        time.sleep(_SaveBeforeClosing.WAIT_SECONDS + 2)
        assert window.poll() is None  # still open: the page asks
        question = _xdotool("search", "--sync", "--name", "JavaScript", env=debug_env).split()[0]
        _xdotool("windowfocus", "--sync", question, env=debug_env)
        _xdotool("key", "Return", env=debug_env)  # "OK": lose it and close
        output, _ = window.communicate(timeout=30)
    finally:
        if window.poll() is None:
            window.kill()
    assert window.returncode == 0
    assert "window stays open: something could not be saved" in output and "window closed" in output


def test_the_recorder_window_records_with_the_microphone_granted_by_fieldkit_and_a_kill_loses_one_piece(display, tmp_path, cli):
    """Qt's web view asks fieldkit for the microphone (no fake permission UI here, only a fake device);
    SIGKILL while recording loses at most the piece under way (three seconds)."""
    import os
    import signal

    data_dir = tmp_path / "data"
    interview_id = consented_on_the_command_line(cli, data_dir, "Brücke e. V.", "recording")
    flags = window_env(display).get("QTWEBENGINE_CHROMIUM_FLAGS", "") + " --use-fake-device-for-media-stream"
    window, _, debug_port = launch(display, data_dir, env={"QTWEBENGINE_CHROMIUM_FLAGS": flags.strip(), "PYTHONUNBUFFERED": "1"})
    try:
        main = DevTools(debug_port)
        main.unlock(PASSPHRASE)
        main.evaluate(f"location.assign('/interviews/{interview_id}')")
        main.wait_for("!!document.querySelector('form[action$=\"/recorder/open\"] button')")
        main.evaluate("document.querySelector('form[action$=\"/recorder/open\"]').submit()")
        recorder = DevTools(debug_port, path="/recorder")
        recorder.wait_for("!!window.fieldkitRecorder")
        recorder.evaluate("fieldkitRecorder.start()")
        recorder.wait_for("fieldkitRecorder.state().saved >= 6000", timeout=40)
        state = recorder.evaluate("fieldkitRecorder.state()")
        main.wait_for("location.reload() || true")
        main.wait_for("!!document.querySelector('.recording-banner')")  # the main window says it records
        # A page of another origin (the same server, named localhost) gets no microphone.
        main.evaluate("location.assign('http://localhost:' + location.port + '/static/favicon.svg')")
        main.wait_for("location.hostname === 'localhost' && document.readyState === 'complete'")
        refused = main.evaluate("navigator.mediaDevices.getUserMedia({audio: true}).then(() => 'granted', e => e.name)")
        os.kill(window.pid, signal.SIGKILL)
        window.wait(timeout=30)
    finally:
        if window.poll() is None:
            window.kill()
    output = window.stdout.read()
    assert refused in ("NotAllowedError", "AbortError")  # Qt ends a refused request with AbortError
    assert output.count("permission MediaAudioCapture granted") == 1 and output.count("MediaAudioCapture refused") == 1, output
    from sqlmodel import Session, select

    from fieldkit import audio
    from fieldkit.models import Recording
    from fieldkit.vault import Vault

    vault = Vault(data_dir)
    vault.unlock(PASSPHRASE)
    with Session(vault.engine) as session:
        recording = session.exec(select(Recording)).one()
        sound = audio.read(session, recording)
    vault.lock()
    assert sound[:4] == b"\x1a\x45\xdf\xa3" and recording.size == len(sound)
    assert recording.duration_ms >= state["ms"] - 3000 - 1000  # at most the piece under way (and a second's slack)


def test_only_fieldkits_own_pages_get_the_microphone_and_nobody_the_camera():
    from fieldkit.desktop import may_use

    assert may_use("MediaAudioCapture", "http://127.0.0.1:5123/", "http://127.0.0.1:5123")
    assert not may_use("MediaAudioCapture", "http://localhost:5123/", "http://127.0.0.1:5123")
    assert not may_use("MediaAudioCapture", "http://127.0.0.1:5124/", "http://127.0.0.1:5123")
    assert not may_use("MediaVideoCapture", "http://127.0.0.1:5123/", "http://127.0.0.1:5123")
    assert not may_use("MediaAudioVideoCapture", "http://127.0.0.1:5123/", "http://127.0.0.1:5123")

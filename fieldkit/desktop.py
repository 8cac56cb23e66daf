"""The desktop window: pywebview (Qt, PySide6) showing the app served on 127.0.0.1."""
import json
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from flask import Flask

from .entrance import Entrance
from .local_server import LocalServer

log = logging.getLogger("fieldkit.desktop")


def display_available() -> bool:
    """Whether a window can be shown: always on Windows and macOS, with X11 or Wayland on Linux."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_window(app: Flask | Entrance) -> None:
    """Serve the app (or a start's entrance, which builds it), show it in a window, and return when the
    window closes (or on SIGTERM/SIGINT)."""
    os.environ.setdefault("QT_API", "pyside6")  # qtpy would prefer PyQt (GPL) if it happened to be installed
    import webview

    # Downloads (exports, bundles) go through our own handler (_SaveDialog), not pywebview's, which
    # uses Qt 5's download API and so never saves a file on Qt 6.
    webview.settings["ALLOW_DOWNLOADS"] = False
    server = LocalServer(app)
    server.start()
    # text_select: interviewers select passages to quote (and pywebview then injects no inline style,
    # which our Content-Security-Policy would refuse).
    place = WindowPlace(app.config["DATA_DIR"])
    window = webview.create_window("fieldkit", server.launch_url, min_size=(900, 600), text_select=True, **place.saved())
    window.events.loaded += lambda: log.info("window loaded")
    if isinstance(app, Entrance):  # the app is built while the person reads the first page
        app.build_after_page = False
        window.events.loaded += app.build
    window.events.resized += place.resized
    window.events.moved += place.moved
    window.events.closing += _SaveBeforeClosing(app, window)
    window.events.before_show += _SaveDialog(window).attach
    origin = f"http://127.0.0.1:{server.port}"
    window.events.before_show += lambda: _microphone_for(window, origin)
    further = _FurtherWindows(app, origin)
    window.events.closed += further.close_all
    _close_on_signal(window)
    _start_web_engine()
    try:
        # private_mode: the web view keeps no cookies, cache or local storage on disk.
        # Qt on every platform: the window's code (closing, saving files) and its tests are Qt's.
        webview.start(gui="qt", private_mode=True)
    finally:
        server.shutdown()
        vault = app.extensions.get("vault")  # none if the window closed before the app stood
        if vault is not None:
            _back_up_before_locking(vault)
            vault.lock()
        place.save()
        log.info("window closed")


def _start_web_engine() -> None:
    """Start Qt's web engine before pywebview builds its first window. pywebview adds Chromium's
    --use-fake-ui-for-media-stream then, which hands camera and microphone to every page without asking;
    Chromium reads its flags once, at this start, so it never sees that one and every request for the
    microphone reaches _microphone_for."""
    import importlib

    from qtpy.QtWebEngineCore import QWebEngineProfile
    from qtpy.QtWidgets import QApplication

    importlib.import_module("qtpy.QtWebEngineWidgets")  # sets up sharing OpenGL, which must precede the application
    QApplication.instance() or QApplication(sys.argv)
    QWebEngineProfile.defaultProfile()


def _back_up_before_locking(vault) -> None:
    """The planned backup on closing (to a USB stick, say); a failure is noted for the next start."""
    if vault.is_unlocked:
        from .backup import on_closing

        on_closing(vault)


class WindowPlace:
    """The window opens where it was closed, at its size (window.json in the data directory)."""

    DEFAULT = {"width": 1280, "height": 860}

    def __init__(self, data_dir):
        self.path = Path(data_dir) / "window.json"
        self.current = self.saved()

    def saved(self) -> dict:
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return dict(self.DEFAULT)
        place = {key: stored[key] for key in ("width", "height", "x", "y")
                 if isinstance(stored, dict) and isinstance(stored.get(key), int) and -10_000 < stored[key] < 20_000}
        if place.get("width", 0) < 900 or place.get("height", 0) < 600:
            return dict(self.DEFAULT)
        return place

    def resized(self, width, height) -> None:
        self.current.update(width=int(width), height=int(height))

    def moved(self, x, y) -> None:
        self.current.update(x=int(x), y=int(y))

    def save(self) -> None:
        try:
            self.path.write_text(json.dumps(self.current), encoding="utf-8")
        except OSError as error:  # a read-only data directory costs only the window's place
            log.warning("window place not saved: %s", error.strerror)


_DOWNLOAD_STATES = {"DownloadCompleted": "completed", "DownloadCancelled": "cancelled", "DownloadInterrupted": "interrupted"}


class _SaveDialog:
    """A file the page offers (an export, a bundle, a release) is saved where the user chooses in the
    system's save dialog, suggested under the name the server gave it, in the folder chosen last
    (first: the Downloads folder). The log says only that a file was saved: names carry organisations."""

    def __init__(self, window):
        self.window, self.folder = window, None

    def attach(self) -> None:  # on the GUI thread, before the window shows
        self.window.native.webview.page().profile().downloadRequested.connect(self.requested)

    def requested(self, download) -> None:
        from qtpy.QtCore import QStandardPaths
        from qtpy.QtWidgets import QFileDialog

        folder = self.folder or QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation)
        chosen, _ = QFileDialog.getSaveFileName(self.window.native, "Speichern unter / Save as", str(Path(folder) / download.downloadFileName()))
        if not chosen:
            download.cancel()
            log.info("download cancelled in the save dialog")
            return
        path = Path(chosen)
        self.folder = str(path.parent)
        download.setDownloadDirectory(str(path.parent))
        download.setDownloadFileName(path.name)
        download.isFinishedChanged.connect(lambda: log.info("download %s", _DOWNLOAD_STATES.get(download.state().name, "ended")))
        download.accept()


class _FurtherWindows:
    """Windows besides the main one (the recorder), opened by the app (app.extensions["open_window"]),
    each let in by a one-time URL of its own, and closed with the main window."""

    def __init__(self, app: Flask, origin: str):
        self.guard, self.origin, self.windows = app.extensions["launch_guard"], origin, []
        app.extensions["open_window"] = self.open

    def open(self, path: str, title: str) -> None:
        import webview

        from qtpy.QtCore import QTimer

        window = webview.create_window(f"{title} · fieldkit", self.guard.window_url(path), width=520, height=460,
                                       min_size=(360, 320), on_top=True, text_select=True)
        self.windows.append(window)
        # A window made while the app runs is built at once, before an event handler could be added:
        # its permissions are set on the GUI thread once it is there (a page asks only when recording starts).
        if not window.events.before_show.wait(15):
            log.warning("further window did not open")
            return
        QTimer.singleShot(0, window.native, lambda: _microphone_for(window, self.origin))
        log.info("further window opened")

    def close_all(self) -> None:
        for window in self.windows:
            try:
                window.destroy()
            except Exception:  # closed already by the person
                pass


def may_use(feature: str, origin: str, own_origin: str) -> bool:
    """Which page may use what: the microphone, for our own pages only (the recorder); no camera, no
    screen, nothing else, for anyone. pywebview's Qt backend would grant camera and microphone to any page."""
    return feature == "MediaAudioCapture" and origin.rstrip("/") == own_origin


def _microphone_for(window, own_origin: str) -> None:  # on the GUI thread, before the window shows
    page = window.native.webview.page()
    try:
        page.featurePermissionRequested.disconnect()  # pywebview's handler, which grants to every page
    except (RuntimeError, TypeError):
        pass

    def decide_feature(url, feature):  # Qt before 6.8
        allowed = may_use(feature.name, url.toString(), own_origin)
        page.setFeaturePermission(url, feature, page.PermissionPolicy.PermissionGrantedByUser if allowed
                                  else page.PermissionPolicy.PermissionDeniedByUser)
        log.info("permission %s %s", feature.name, "granted" if allowed else "refused")

    def decide(permission):  # Qt 6.8 and later
        allowed = may_use(permission.permissionType().name, permission.origin().toString(), own_origin)
        permission.grant() if allowed else permission.deny()
        log.info("permission %s %s", permission.permissionType().name, "granted" if allowed else "refused")

    if hasattr(page, "permissionRequested"):
        page.permissionRequested.connect(decide)
    else:
        page.featurePermissionRequested.connect(decide_feature)
    log.info("permissions decided by fieldkit")


class _SaveBeforeClosing:
    """Closing the window first lets the page save what is pending (fieldkit.closeWindow in
    fieldkit.js), which then asks the server to close it for good. A page that does not answer in
    time (not loaded, hung) does not keep the window open; a page that could not save something keeps
    it open while it asks whether to lose it."""

    WAIT_SECONDS = 8

    def __init__(self, app: Flask, window):
        self.window, self.allowed, self.timer = window, threading.Event(), None
        app.extensions["close_window"] = self.close_now
        app.extensions["keep_window"] = self.keep_open

    def __call__(self) -> bool:  # runs on the GUI thread; False cancels this close
        if self.allowed.is_set():
            return True
        log.info("window closing: saving what is pending first")
        self.window.native.webview.page().runJavaScript("window.fieldkit && window.fieldkit.closeWindow()")
        if self.timer is not None:  # closed again while the page was asking: ask again
            self.timer.cancel()
        self.timer = threading.Timer(self.WAIT_SECONDS, self.close_now)
        self.timer.start()
        return False

    def keep_open(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            log.info("window stays open: something could not be saved")

    def close_now(self) -> None:
        if not self.allowed.is_set():
            self.allowed.set()
            self.window.destroy()


def _close_on_signal(window) -> None:
    """Close the window on SIGTERM or SIGINT. The GUI loop keeps Python's own signal handlers from
    running, but the interpreter still writes the signal number to the wakeup socket at once; a
    thread waits on it and asks the window to close, which pywebview hands to the GUI thread."""
    if os.name != "posix":
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: None)

    def wait_and_close(keep_open=writer):  # the thread holds the writer: closed, it would wake us at once
        # The wakeup socket carries the number of every signal Python handles; wait for ours.
        while (number := reader.recv(1)[0]) not in (signal.SIGTERM, signal.SIGINT):
            log.info("ignoring signal %s", number)
        log.info("closing the window on signal %s", signal.Signals(number).name)
        window.destroy()

    threading.Thread(target=wait_and_close, name="fieldkit-signals", daemon=True).start()

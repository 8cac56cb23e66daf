"""Build the desktop app as one folder with PyInstaller (DESIGN.md §10).

    pip install -e '.[desktop]' pyinstaller && python build_app.py    # → dist/fieldkit/fieldkit

One folder, not one file: a one-file build unpacks itself on every start (seconds, and a plaintext
copy of the app in a temp folder); the folder starts as fast as the installed app. The folder is kept
small by leaving out what the app never loads (Qt's QML, 3D, multimedia, charts…, other web-view
backends, translations and locale data beyond German and English) and carries the licence texts of
what it contains in licences/.
"""
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DIST = ROOT / "dist"
SEPARATOR = os.pathsep  # PyInstaller's --add-data uses ";" on Windows, ":" elsewhere

# Resource folders go inside the package, where fieldkit.config.resource_dir looks first; Alembic reads
# both apps' migration scripts as files. The package's own data files (guides, schemas, translations,
# word lists) come with --collect-data fieldkit.
DATA = [("templates", "fieldkit/templates"), ("static", "fieldkit/static"), ("migrations", "fieldkit/migrations"),
        ("fieldkit/server/migrations", "fieldkit/server/migrations")]
# Imported only at run time (Alembic loads the migration scripts from files; pywebview picks its GUI).
HIDDEN = ["sqlcipher3", "pyrage", "alembic", "sqlmodel", "fieldkit.views.vault", "fieldkit.views.organisations",
          "fieldkit.views.settings", "logging.config", "webview.platforms.qt"]
# Packages whose data files the app reads at run time (word lists, name lists, locale data).
DATA_PACKAGES = ["fieldkit", "babel", "wordfreq", "langcodes", "gender_guesser", "simplemma", "phonenumbers", "stdnum",
                 "jsonschema_specifications"]
# The Qt modules the window uses (pywebview's Qt backend); every other PySide6 module stays out.
QT_MODULES = {"QtCore", "QtGui", "QtWidgets", "QtNetwork", "QtWebChannel", "QtWebEngineCore", "QtWebEngineWidgets",
              "QtPrintSupport", "QtOpenGL", "QtPositioning", "QtQml", "QtQuick", "QtQuickWidgets", "QtDBus"}
# pywebview's other web-view backends: the window is Qt's on every platform (fieldkit/desktop.py).
OTHER_BACKENDS = ["gtk", "cef", "android", "mshtml", "edgechromium", "winforms", "cocoa"]
KEEP_LANGUAGES = ("de", "en")
# PostgreSQL's driver: the project server runs from a pip installation (README), never from this folder.
SERVER_ONLY = ["psycopg", "psycopg_binary", "psycopg_c", "psycopg2"]


def arguments(dist: Path) -> list[str]:
    work = dist.parent / "build" if dist != DIST else ROOT / "build"
    args = [str(ROOT / "fieldkit" / "__main__.py"), "--name", "fieldkit", "--onedir", "--noconfirm", "--clean",
            "--distpath", str(dist), "--workpath", str(work), "--specpath", str(work)]
    if sys.platform != "linux":
        args.append("--windowed")  # no console window beside the app (and an .app bundle on macOS)
    else:
        args.append("--strip")  # symbol tables and debug info out of the libraries: ~60 MB nobody runs
    for source, target in DATA:
        args += ["--add-data", f"{ROOT / source}{SEPARATOR}{target}"]
    for module in HIDDEN:
        args += ["--hidden-import", module]
    for package in DATA_PACKAGES:
        args += ["--collect-data", package]
    args += ["--collect-submodules", "alembic"]
    for module in unused_modules():
        args += ["--exclude-module", module]
    for name in metadata_packages():  # versions and licences for *Über fieldkit*, from the packages' metadata
        args += ["--copy-metadata", name]
    return args


def unused_modules() -> list[str]:
    import importlib.util

    excluded = ["PyQt5", "PyQt6", "PySide2", "tkinter", "IPython", "matplotlib", "pytest", "playwright",
                "hypothesis", "schemathesis", "PyInstaller",
                # Only a fallback of stdnum, pytz and babel, which find their data through importlib first;
                # included, it brings a run-time hook that imports it on every start (a tenth of a second).
                "pkg_resources", "setuptools",
                *SERVER_ONLY]
    excluded += [f"webview.platforms.{name}" for name in OTHER_BACKENDS]
    pyside = importlib.util.find_spec("PySide6")
    if pyside is not None:
        folder = Path(pyside.origin).parent
        names = {path.name.split(".")[0] for path in folder.iterdir() if path.name.startswith("Qt")}
        excluded += [f"PySide6.{name}" for name in sorted(names - QT_MODULES) if name.isidentifier()]
    return excluded


def metadata_packages() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from fieldkit.components import python_packages

    return ["fieldkit"] + [component.name for component in python_packages()
                           if component.name.replace("-", "_").lower() not in SERVER_ONLY]


def prune(app: Path) -> None:
    """Remove what PyInstaller's hooks collect but the app never loads (checked by the built-app test)."""
    qt = app / "_internal" / "PySide6" / "Qt"
    for unused in ("qml", "plugins/qmltooling", "plugins/position", "plugins/egldeviceintegrations",
                   "plugins/generic", "plugins/sensors", "plugins/platforms/libqvnc.so",
                   "plugins/platforms/libqeglfs.so", "plugins/platforms/libqlinuxfb.so",
                   "plugins/platforms/libqvkkhrdisplay.so", "plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
                   "resources/qtwebengine_devtools_resources.pak",  # the inspector's own pages
                   *(f"plugins/imageformats/libq{kind}.so" for kind in ("pdf", "tiff", "tga", "icns", "wbmp"))):
        shutil.rmtree(qt / unused, ignore_errors=True) if (qt / unused).is_dir() else (qt / unused).unlink(missing_ok=True)
    if sys.platform == "linux":
        remove_unreached_libraries(app / "_internal" / "PySide6")
    for path in (qt / "translations").glob("*.qm"):
        if not path.stem.endswith(tuple(f"_{language}" for language in KEEP_LANGUAGES)):
            path.unlink()
    for path in (qt / "translations" / "qtwebengine_locales").glob("*.pak"):
        if path.stem.split("-")[0] not in KEEP_LANGUAGES:
            path.unlink()
    for path in (app / "_internal" / "babel" / "locale-data").glob("*.dat"):
        if path.stem != "root" and path.stem.split("_")[0] not in KEEP_LANGUAGES:
            path.unlink()
    for path in (app / "_internal" / "wordfreq" / "data").iterdir():
        if not path.name.startswith(("large_de.", "large_en.", "small_de.", "small_en.")):
            path.unlink()
    for path in (app / "_internal" / "simplemma" / "strategies" / "dictionaries" / "data").glob("*.plzma"):
        if path.stem not in KEEP_LANGUAGES:
            path.unlink()


def remove_unreached_libraries(pyside: Path) -> None:
    """Qt's hooks collect every library that some QML plugin might load; with the QML plugins gone, keep
    only the libraries the bindings, the plugins and the web engine's helper process link to."""
    from PyInstaller.depend.bindepend import get_imports

    libraries = pyside / "Qt" / "lib"
    roots = [path for path in pyside.rglob("*") if path.is_file() and libraries not in path.parents
             and (".so" in path.suffixes or path.name == "QtWebEngineProcess")]
    reached, waiting = set(), roots
    while waiting:
        path = waiting.pop()
        for _, resolved in get_imports(str(path)):
            target = libraries / Path(resolved or "").name
            if resolved and target.exists() and target.name not in reached:
                reached.add(target.name)
                waiting.append(target)
    for path in libraries.iterdir():
        if path.name not in reached:
            path.unlink()


def write_licences(app: Path) -> int:
    """licences/: each component's licence text as it ships it, and an index with versions."""
    from fieldkit.components import VENDORED, licence_text, python_packages

    folder = app / "licences"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    lines = ["Components of this fieldkit folder, their versions and licences.", ""]
    for component in python_packages():
        text = licence_text(component.name)
        lines.append(f"{component.name} {component.version}: {component.licence}")
        if text:
            (folder / f"{component.name}.txt").write_text(text, encoding="utf-8")
    for name, version, licence, file in VENDORED:
        lines.append(f"{name} {version} (static/): {licence}")
        shutil.copyfile(ROOT / "static" / file, folder / f"{name}.txt")
    lines += ["", "Qt and Qt WebEngine (inside PySide6, LGPL-3.0) include Chromium; their third-party notices",
              "are in Qt's documentation: https://doc.qt.io/qt-6/licenses-used-in-qt.html"]
    (folder / "INDEX.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def folder_size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink())


def build(dist: Path = DIST, extra: tuple = ()) -> Path:
    import PyInstaller.__main__

    started = time.monotonic()
    PyInstaller.__main__.run(arguments(dist) + list(extra))
    app = dist / "fieldkit"
    before = folder_size(app)
    prune(app)
    write_licences(app)
    from fieldkit import __version__

    print(f"fieldkit {__version__} built in {app}: {folder_size(app) / 2**20:.0f} MiB "
          f"({before / 2**20:.0f} MiB before pruning) in {time.monotonic() - started:.0f} s")
    return app


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Build the one-folder desktop app; other options go to PyInstaller.")
    parser.add_argument("--dist", type=Path, default=DIST, help="where the folder fieldkit/ is built (default: dist/)")
    options, rest = parser.parse_known_args()
    build(options.dist.resolve(), tuple(rest))

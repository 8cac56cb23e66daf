"""Build the desktop app as one folder with PyInstaller (DESIGN.md §10).

    pip install -e '.[desktop]' pyinstaller && python build_app.py    # → dist/fieldkit/fieldkit

One folder, not one file: a one-file build unpacks itself on every start (seconds, and a plaintext
copy of the app in a temp folder); the folder starts as fast as the installed app.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SEPARATOR = os.pathsep  # PyInstaller's --add-data uses ";" on Windows, ":" elsewhere

# Resource folders go inside the package, where fieldkit.config.resource_dir looks first.
DATA = [("templates", "fieldkit/templates"), ("static", "fieldkit/static"), ("migrations", "fieldkit/migrations"),
        ("fieldkit/translations", "fieldkit/translations")]
# Imported only at run time (Alembic loads the migration scripts from files; pywebview picks its GUI).
HIDDEN = ["sqlcipher3", "pyrage", "alembic", "sqlmodel", "fieldkit.views.vault", "fieldkit.views.organisations",
          "fieldkit.views.settings", "logging.config"]


def arguments() -> list[str]:
    args = [str(ROOT / "fieldkit" / "__main__.py"), "--name", "fieldkit", "--onedir", "--noconfirm", "--clean",
            "--distpath", str(ROOT / "dist"), "--workpath", str(ROOT / "build"),
            "--specpath", str(ROOT / "build")]
    for source, target in DATA:
        args += ["--add-data", f"{ROOT / source}{SEPARATOR}{target}"]
    for module in HIDDEN:
        args += ["--hidden-import", module]
    args += ["--collect-submodules", "alembic", "--collect-data", "babel", "--collect-submodules", "webview"]
    return args


if __name__ == "__main__":
    import PyInstaller.__main__

    PyInstaller.__main__.run(arguments() + sys.argv[1:])

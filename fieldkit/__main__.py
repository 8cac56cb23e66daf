"""`python -m fieldkit` is the `fieldkit` command (and the entry point of the PyInstaller build)."""
import sys

from fieldkit.cli import main

if __name__ == "__main__":
    if getattr(sys, "frozen", False) and not [arg for arg in sys.argv[1:] if not arg.startswith("-psn_")]:
        sys.argv[1:] = ["run"]  # the built app double-clicked (macOS adds a -psn_ argument): open the window
    main()

"""`python -m fieldkit` is the `fieldkit` command (and the entry point of the PyInstaller build)."""
from fieldkit.cli import main

if __name__ == "__main__":
    main()

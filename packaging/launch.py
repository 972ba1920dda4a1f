"""Entry point of the PyInstaller bundle: the same ``sieve`` command (GUI with no arguments, else the CLI)."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""Entry point of the PyInstaller bundle: the same ``sieve`` command (GUI with no arguments, else the CLI)."""

import sys

from app.__main__ import run  # first: a Ctrl+C while the rest imports exits quietly

if __name__ == "__main__":
    sys.exit(run())

"""``python -m app`` is the ``sieve`` command (the console script and the desktop bundle call :func:`run` too)."""

from app import _exit_quietly_on_ctrl_c

_exit_quietly_on_ctrl_c()  # again, for entry points app/__init__.py does not recognise


def run() -> int:
    from app.cli import main

    return main()


if __name__ == "__main__":
    import sys

    sys.exit(run())

"""``python -m app`` is the ``sieve`` command (the console script and the desktop bundle call :func:`run` too)."""

import contextlib
import os
import signal
import sys

from app import _exit_quietly_on_ctrl_c

_exit_quietly_on_ctrl_c()  # again, for entry points app/__init__.py does not recognise


def _exit_on_ctrl_c(code: int) -> None:
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(code))


def run() -> int:
    """Run the command and return its exit code.

    Once the command has finished, a Ctrl+C while Python shuts down ends the process with the command's own code
    at once: the work is done and reported, and a KeyboardInterrupt there would print a traceback.
    """
    from app.cli import EXIT_INTERRUPTED, main

    try:
        code = main()
        _exit_on_ctrl_c(code)
    except KeyboardInterrupt:  # one that came as main() was returning, after it could report it
        _exit_on_ctrl_c(EXIT_INTERRUPTED)
        print("sieve: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()
    if code == EXIT_INTERRUPTED:
        # CPython (3.11) can mark an interrupt main() handled as "unhandled" when it surfaced in code an extension
        # module ran, and then ends the process by SIGINT instead of with 130: leave directly.
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(run())

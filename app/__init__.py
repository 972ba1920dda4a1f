"""Sieve: score texts with ONNX text classifiers, from a desktop window or the command line."""

import sys as _sys

__version__ = "0.1.0"


def _exit_quietly_on_ctrl_c() -> None:
    """Ctrl+C while the ``sieve`` command is still importing (a few hundred ms): one line, exit 130, no traceback.

    ``app.cli.main`` hands Ctrl+C back to Python (``KeyboardInterrupt``) as soon as it can catch it.
    """
    import contextlib
    import os
    import signal

    def interrupted(signum, frame):  # noqa: ANN001, ANN202, ARG001
        os.write(2, b"sieve: interrupted\n")
        os._exit(130)

    with contextlib.suppress(ValueError):  # not the main thread: not the command starting
        signal.signal(signal.SIGINT, interrupted)


# Only when this process is the command: `python -m app` imports this package while sys.argv[0] is still "-m",
# the console script and the desktop bundle are called sieve. A script that imports the engine keeps Python's Ctrl+C.
_program = (getattr(_sys, "argv", None) or [""])[0]
if _program == "-m" or _program.replace("\\", "/").rsplit("/", 1)[-1].lower() in ("sieve", "sieve.exe"):
    _exit_quietly_on_ctrl_c()

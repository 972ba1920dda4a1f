"""Errors a user can cause, each carrying one sentence for people.

The UI shows ``str(error)``, the CLI prints it and exits 2, the log keeps the traceback.
"""

from __future__ import annotations


class SieveError(Exception):
    """Base for errors caused by input the user chose (a file, a model, a setting).

    ``message`` says what is wrong; ``hint`` says what to do about it. ``str()`` joins both.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message.rstrip(".")
        self.hint = hint.rstrip(".") if hint else None
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.message}. {self.hint}." if self.hint else f"{self.message}."


class ModelError(SieveError):
    """The model folder, ONNX file, tokenizer or label config cannot be used as a text classifier."""


class InputError(SieveError):
    """An input file, column, field or pasted text cannot be read."""


class InferenceError(SieveError):
    """ONNX Runtime failed on a batch (the message names the batch and the cause).

    ``out_of_memory`` marks allocation failures, which a smaller batch (or the CPU) may avoid.
    """

    def __init__(self, message: str, hint: str | None = None, *, out_of_memory: bool = False) -> None:
        super().__init__(message, hint)
        self.out_of_memory = out_of_memory


class OutputError(SieveError, OSError):
    """An output cannot be written: a read-only or full disk, a closed standard output, another run writing it.

    Also an ``OSError`` (with the original ``errno`` when there is one), so code that catches those still does.
    ``disk_full`` marks a full disk (or quota), after which a partial output is removed rather than kept.
    """

    def __init__(self, message: str, hint: str | None = None, *, disk_full: bool = False,
                 errno: int | None = None) -> None:
        super().__init__(message, hint)
        self.disk_full = disk_full
        self.errno = errno


class ExportError(SieveError):
    """A checkpoint could not be exported to an ONNX bundle."""

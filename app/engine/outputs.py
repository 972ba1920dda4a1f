"""Where scored files go, and which run may write them.

Naming (``sieve score`` without ``-o FILE``): the output of ``notes.csv`` is ``notes.scored.csv`` beside it, or in
the ``-o`` folder. Two rules keep every result:

- an output path is never an input of the same run, nor another input's output. When two inputs would share an
  output name (``notes.txt`` and ``notes.csv``; ``x.txt`` next to an input called ``x.scored.csv``), each of those
  inputs keeps its whole file name instead: ``notes.txt.scored.csv``, ``notes.csv.scored.csv``. The rule depends on
  the run's inputs only, not their order, so the same command always writes the same files. When even those names
  collide (``x/data.csv`` and ``y/data.csv`` into one folder) the run is refused before anything is written.
- names are compared case-insensitively, so a run gives the same files on a case-insensitive disk.

Folders are listed without Sieve's earlier outputs (see :func:`app.engine.io.is_earlier_output`).

Locking: :class:`OutputLock` holds ``.NAME.sieve-lock`` beside an output while a run writes it, so a second run on
the same output is refused with a sentence instead of sharing its partial file. The lock is an OS advisory lock
(``flock``; on Windows a byte-range lock), released by the kernel when a process dies, so a killed run never
blocks the next one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, OutputError
from .io import TextSource, explain_write_error, output_kind

DEFAULT_EXT = {"txt": "csv", "csv": "csv", "tsv": "tsv", "jsonl": "jsonl"}


@dataclass
class Target:
    """One input and where its results go (``path=None``: standard output)."""

    source: TextSource
    path: Path | None
    kind: str


def _key(path: Path) -> str:
    return str(Path(path).resolve()).casefold()


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def plan_targets(sources: Sequence[TextSource], output: str | None, fmt: str | None = None) -> list[Target]:
    """Decide every output before anything is written; refuse with a sentence when outputs would clash.

    ``output`` is ``-o``: ``None`` (beside each input), ``"-"`` (standard output), a folder, or a file (one input).
    ``fmt`` is ``--format`` (csv, tsv or jsonl).
    """
    streamed = [s for s in sources if s.stream is not None]
    if streamed and len(sources) > 1:
        raise InputError("Standard input (-) can only be scored on its own", "Score the files in another run")
    if output == "-" or (output is None and streamed):
        if len(sources) > 1:
            raise InputError("Several inputs cannot share standard output", "Give -o a folder, or score one file")
        return [Target(sources[0], None, fmt or DEFAULT_EXT[sources[0].kind])]
    file_inputs = {_key(s.path): s for s in sources if s.stream is None}
    input_ids = {fid: s for s in sources if s.stream is None and (fid := _file_id(s.path))}
    folder = Path(output) if output and (len(sources) > 1 or Path(output).is_dir() or output.endswith(("/", "\\"))) else None
    if output and folder is None:  # one input, one named output file
        path = Path(output)
        kind = output_kind(path)
        _check_folder(path)
        if fmt and fmt != kind:
            raise InputError(f"--format {fmt} contradicts the output name {path.name}, which is a .{kind} name",
                             f"Drop --format, or name the output .{fmt}")
        _refuse_input(sources[0], path, file_inputs, input_ids)
        return [Target(sources[0], path, kind)]
    if folder is not None and not folder.is_dir():
        raise InputError(f"{folder} is not a folder", "Several inputs need -o to name an existing folder")

    kinds = [fmt or DEFAULT_EXT[s.kind] for s in sources]
    places = [folder or s.path.parent for s in sources]
    stems = ["stdin" if s.stream is not None else s.path.stem for s in sources]
    short = [place / f"{stem}.scored.{k}" for stem, place, k in zip(stems, places, kinds, strict=True)]
    counts = Counter(_key(p) for p in short)
    chosen = [
        place / f"{s.path.name}.scored.{k}" if counts[_key(p)] > 1 or _key(p) in file_inputs else p
        for s, place, k, p in zip(sources, places, kinds, short, strict=True)
    ]
    claimed: dict[str, TextSource] = {}
    targets = []
    for src, path in zip(sources, chosen, strict=True):
        _check_folder(path)
        _refuse_input(src, path, file_inputs, input_ids)
        other = claimed.setdefault(_key(path), src)
        if other is not src:
            raise InputError(f"{other.path} and {src.path} would both be written to {path}",
                             "Score them into different folders (-o), or rename one of them")
        targets.append(Target(src, path, output_kind(path)))
    return targets


def _check_folder(path: Path) -> None:
    if not path.parent.is_dir():
        raise InputError(f"The folder {path.parent} does not exist", "Choose an existing folder for the output")


def _refuse_input(src: TextSource, path: Path, by_key: dict[str, TextSource],
                  by_id: dict[tuple[int, int], TextSource]) -> None:
    victim = by_key.get(_key(path)) or by_id.get(_file_id(path) or (-1, -1))
    if victim is None:
        return
    if victim is src:
        raise InputError(f"The output {path} is the input file", "Choose another output name with -o")
    raise InputError(f"The output of {src.path.name} would be {path}, which is an input of this run",
                     "Choose another output with -o")


def lock_path(output: Path) -> Path:
    return output.with_name(f".{output.name}.sieve-lock")


class OutputLock:
    """An exclusive, non-blocking lock on one output path, held from planning until the output is complete.

    The lock file is removed on release. A run that opened it just before then may hold a lock on a removed file,
    so after locking, the holder checks that the path still names the file it locked, and tries again if not.
    """

    def __init__(self, output: Path) -> None:
        self.output = Path(output)
        self.path = lock_path(self.output)
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        while self._fd is None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise (explain_write_error(exc, self.output) or exc) from exc
            try:
                locked = _try_lock(fd)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):  # a file system without locks
                    return self
                raise
            if not locked:
                holder = _read_pid(fd)
                os.close(fd)
                who = f" (process {holder})" if holder else ""
                raise OutputError(f"Another Sieve run{who} is writing {self.output}",
                                  "Wait for it to finish, or choose another output with -o")
            if _same_file(fd, self.path):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
            else:
                os.close(fd)  # the previous holder removed it between our open and our lock: start again
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still locked, so nobody can lock this file and then see it vanish
        os.close(self._fd)  # closing releases the lock
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino)


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        return str(int(os.pread(fd, 32, 0).decode().strip())) if hasattr(os, "pread") else ""
    return ""


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

"""Streaming readers (txt, csv/tsv, jsonl) and atomic writers (csv, jsonl).

Readers yield one :class:`SourceRow` per input row without loading the file. A row that cannot be read (bad JSON,
missing column) is still yielded, with ``text=None`` and an ``error``, so every input row has exactly one output
row. Undecodable bytes are replaced (or refused, with ``errors="strict"``) and their line numbers kept. Lines end at
``\n``, ``\r\n`` or a lone ``\r`` (old Mac files).

Writers never leave half files: output goes to a temporary file beside the target and is renamed over it in one
step. Failures of the machine rather than of the data (a read-only folder, a full disk, a closed standard output)
become :class:`OutputError` sentences.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import glob
import json
import os
import re
import secrets
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from .errors import InputError, OutputError

READ_KINDS = {".txt": "txt", ".text": "txt", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl",
              ".ndjson": "jsonl"}
WRITE_KINDS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
TEXT_COLUMN_GUESSES = ("text", "sentence", "content", "review", "tweet", "body", "message")
MAX_ISSUE_LINES = 20  # line numbers kept per kind of problem; the count is always exact
_SNIFF_BYTES = 64 * 1024
# Sieve's own outputs, ``NAME.scored.csv`` and the like: a folder is listed without them, so scoring it again does
# not score its earlier results (``notes.scored.scored.csv``).
_SURROGATE = re.compile("[\ud800-\udfff]")
_EARLIER_OUTPUT = re.compile(r"\.scored\.(csv|tsv|jsonl|ndjson)$", re.IGNORECASE)
_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")  # the place after a \r that is not part of \r\n
STDIN_NAME = "standard input"

with contextlib.suppress(OverflowError):
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a 1 MB single-line text is data, not an attack


class SourceRow(NamedTuple):
    line: int  # 1-based line where the row starts (for pasted lists: the item's position)
    text: str | None  # None when the row could not be read; ``error`` says why
    record: Any  # the row's original fields: list[str] for csv/tsv, dict for jsonl, None for txt
    error: str | None = None


@dataclass
class ReadIssues:
    """Problems met while reading, counted exactly, with the first line numbers of each kind."""

    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    lines: dict[str, list[int]] = dataclasses.field(default_factory=dict)

    def add(self, kind: str, line: int) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        seen = self.lines.setdefault(kind, [])
        if len(seen) < MAX_ISSUE_LINES:
            seen.append(line)

    def messages(self, name: str) -> list[str]:
        out = []
        for kind, count in self.counts.items():
            where = ", ".join(map(str, self.lines[kind])) + (", …" if count > len(self.lines[kind]) else "")
            out.append(f"{name}: {count} {_ISSUE_TEXT[kind]} (line {where})")
        return out


_ISSUE_TEXT = {
    "decode": "lines were not valid text in the chosen encoding; undecodable bytes were replaced with �",
    "extra_fields": "rows had more fields than the header; the extra fields are not copied to the output",
    "bad_row": "rows could not be read and are marked failed in the output",
    "surrogate": "lines held \\u escapes of lone UTF-16 surrogates, which are not text; they were replaced with �",
}


def detect_kind(path: Path) -> str:
    kind = READ_KINDS.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path.name}: Sieve does not read {path.suffix or 'extension-less'} files",
            "Use .txt (one text per line), .csv/.tsv (a text column) or .jsonl (a text field)",
        )
    return kind


def _check_file(path: Path) -> None:
    try:
        _check_readable(path)
    except PermissionError as exc:
        raise InputError(f"Sieve may not read {path} (permission denied)", "Check the file's permissions") from exc


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path} does not exist", "Check the path")
    if path.is_dir():
        raise InputError(f"{path} is a folder", "Choose a file, or let Sieve list the folder's readable files")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is empty (0 bytes)", "Choose a file with texts in it")
    with path.open("rb") as fh:
        head = fh.read(8192)
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{path.name} looks like a binary file, not text (it contains NUL bytes)",
            "Choose a .txt, .csv, .tsv or .jsonl file",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path.name} is UTF-16 encoded", "Save it as UTF-8 (or any ASCII-compatible encoding)")


@dataclass
class TextSource:
    """A file of texts, read as a stream of :class:`SourceRow`.

    ``column`` picks the csv/tsv column (name or 0-based index; found automatically when it is named ``text`` or
    the file has one column). ``field`` picks the jsonl key (default ``text``). ``errors`` is ``"replace"`` or
    ``"strict"`` for undecodable bytes. ``stream`` reads an already open byte stream (standard input, one text per
    line) instead of ``path``; such a source can be read once.
    """

    path: Path
    kind: str
    column: str | int | None = None
    field: str = "text"
    encoding: str = "utf-8"
    errors: str = "replace"
    header: list[str] | None = None
    column_index: int | None = None
    delimiter: str = ","
    issues: ReadIssues = dataclasses.field(default_factory=ReadIssues)
    stream: IO[bytes] | None = dataclasses.field(default=None, repr=False)
    _fields: list[str] | None = dataclasses.field(default=None, repr=False)

    @property
    def name(self) -> str:
        return STDIN_NAME if self.stream is not None else self.path.name

    @property
    def columns(self) -> list[str]:
        """Names of the output's input-side columns: the CSV header, ``text`` for txt, every JSONL key in use."""
        if self.kind in ("csv", "tsv"):
            return list(self.header or [])
        return ["text"] if self.kind == "txt" else self.field_names()

    def field_names(self) -> list[str]:
        """Every key the file's JSON objects use, in first-seen order (one extra pass over the file, cached).

        Writers need them all before the first row: a CSV header names every column, and Sieve's own fields are
        prefixed with ``sieve_`` when any row already uses one of their names.
        """
        if self._fields is None:
            seen: dict[str, None] = {}
            for row in self._rows(ReadIssues()):
                if isinstance(row.record, dict):
                    seen.update(dict.fromkeys(row.record))
            self._fields = list(seen)
        return list(self._fields)

    def estimate_rows(self) -> int:
        """Count lines (fast, by bytes); exact for txt, an upper bound for csv with multi-line fields; 0 when unknown."""
        if self.stream is not None:
            return 0
        lines, last, after_cr = 0, b"\n", False
        with self.path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                pairs = chunk.count(b"\r\n") + (after_cr and chunk[:1] == b"\n")
                lines += chunk.count(b"\n") + chunk.count(b"\r") - pairs
                last, after_cr = chunk[-1:], chunk[-1:] == b"\r"
        lines += last not in (b"\n", b"\r")
        return max(0, lines - (1 if self.kind in ("csv", "tsv") else 0))

    def __iter__(self) -> Iterator[SourceRow]:
        self.issues = ReadIssues()
        yield from self._rows(self.issues)

    def rows_from(self, offset: int = 0, line: int = 1) -> Iterator[SourceRow]:
        """The rows from byte ``offset``, where physical line ``line`` starts and a row begins.

        Started at a row's first line (see :meth:`line_offsets`), this yields exactly the rows, line numbers and
        error texts a read from the top yields from there on, so blocks of a file can be read apart
        (``sieve score --ray``). ``issues`` then counts only what this read met.
        """
        self.issues = ReadIssues()
        yield from self._rows(self.issues, offset, line)

    def line_offsets(self, lines: Iterable[int]) -> list[int]:
        """Byte offsets at which the given 1-based physical lines start (ascending), as this reader counts lines."""
        offsets: list[int] = []
        wanted = iter(lines)
        target = next(wanted, None)
        position = 0
        with self.path.open("rb") as fh:
            for number, raw in enumerate(_physical_lines(fh), 1):
                while target is not None and target == number:
                    offsets.append(position)
                    target = next(wanted, None)
                if target is None:
                    break
                position += len(raw)
        if target is not None:
            raise ValueError(f"{self.name} has no line {target}")
        return offsets

    def _rows(self, issues: ReadIssues, offset: int = 0, line: int = 1) -> Iterator[SourceRow]:
        if self.stream is not None and (offset or line != 1):
            raise ValueError("standard input can only be read from its start")
        with contextlib.nullcontext(self.stream) if self.stream is not None else self.path.open("rb") as fh:
            if offset:
                fh.seek(offset)
            lines = _decoded_lines(fh, self.name, self.encoding, self.errors, issues, first=line)
            if self.kind == "txt":
                yield from _txt_rows(lines, line)
            elif self.kind == "jsonl":
                yield from _jsonl_rows(lines, self.field, issues, line)
            else:
                yield from self._csv_rows(lines, issues, header=offset == 0, first=line)

    def _csv_rows(self, lines: Iterator[str], issues: ReadIssues, *, header: bool = True,
                  first: int = 1) -> Iterator[SourceRow]:
        at_end = [False]  # set once the reader has asked for a line past the last one

        def tap() -> Iterator[str]:
            yield from lines
            at_end[0] = True

        reader = csv.reader(tap(), delimiter=self.delimiter)
        base = first - 1  # reader.line_num counts from where this read started
        if header:
            try:
                next(reader)  # header, already parsed by open_source
            except StopIteration:
                return
        width = len(self.header or [])
        col = self.column_index if self.column_index is not None else 0
        start = base + reader.line_num + 1
        try:
            for record in reader:
                line, start = start, base + reader.line_num + 1
                if not record:  # a blank line is not a row
                    continue
                if at_end[0]:  # a record can only end at end of file inside a quoted field that never closed
                    issues.add("bad_row", line)
                    error = (f"line {line} opens a quoted field that is never closed, so lines {line} to "
                             f"{base + reader.line_num} were read as one row; close the quote and score the file again")
                    yield SourceRow(line, None, (record + [""] * width)[:width], error)
                    continue
                if col >= len(record):
                    issues.add("bad_row", line)
                    error = f"line {line} has {len(record)} fields, so column {col + 1} ({self.header[col]!r}) is missing"
                    yield SourceRow(line, None, record + [""] * (width - len(record)), error)
                    continue
                if len(record) > width:
                    issues.add("extra_fields", line)
                    record = record[:width]
                elif len(record) < width:
                    record = record + [""] * (width - len(record))
                yield SourceRow(line, record[col], record)
        except csv.Error as exc:
            raise InputError(
                f"{self.name}: line {base + reader.line_num} is not valid {self.kind.upper()} ({exc})",
                "Check the file's quoting (an unclosed quote swallows the rest of the file)",
            ) from exc


def open_source(
    path: str | Path,
    *,
    column: str | int | None = None,
    field: str | None = None,
    encoding: str = "utf-8",
    errors: str = "replace",
    kind: str | None = None,
) -> TextSource:
    """Check ``path`` and prepare to stream it. Raises :class:`InputError` with a sentence when it cannot be read."""
    path = Path(path).expanduser()
    _check_file(path)
    kind = kind or detect_kind(path)
    if errors not in ("replace", "strict"):
        raise InputError(f"Unknown decode-error policy {errors!r}", "Use replace or strict")
    try:
        "".encode(encoding)
    except LookupError as exc:
        raise InputError(f"Unknown text encoding {encoding!r}", "Use e.g. utf-8, cp1252 or latin-1") from exc
    source = TextSource(path, kind, column=column, field=field or "text", encoding=encoding, errors=errors)
    if kind in ("csv", "tsv"):
        _prepare_csv(source)
    elif column is not None and kind == "jsonl" and field is None:
        source.field = str(column)
    return source


def open_stdin(*, encoding: str = "utf-8", errors: str = "replace") -> TextSource:
    """Standard input as a source of texts, one per line, read as it arrives."""
    if sys.stdin is None:
        raise InputError("Standard input is closed", "Pipe texts into sieve, or name a file to score")
    try:
        "".encode(encoding)
    except LookupError as exc:
        raise InputError(f"Unknown text encoding {encoding!r}", "Use e.g. utf-8, cp1252 or latin-1") from exc
    return TextSource(Path("-"), "txt", encoding=encoding, errors=errors, stream=sys.stdin.buffer)


def _prepare_csv(source: TextSource) -> None:
    with source.path.open("rb") as fh:
        sample = fh.read(_SNIFF_BYTES)
    text = sample.decode(source.encoding, errors="replace").lstrip("\ufeff")
    if source.kind == "tsv":
        source.delimiter = "\t"
    else:
        try:
            source.delimiter = csv.Sniffer().sniff(text.splitlines()[0] if text.strip() else ",", ",;\t|").delimiter
        except csv.Error:
            source.delimiter = ","
    header = next(csv.reader(text.splitlines()[:1], delimiter=source.delimiter), [])
    if not header:
        raise InputError(f"{source.name} has no header row", "Put column names on the first line")
    source.header = header
    source.column_index = resolve_column(header, source.column, source.name)


def resolve_column(header: Sequence[str], column: str | int | None, name: str = "the file") -> int:
    """Find the text column: by name (exact, then case-insensitive), by 0-based index, or by guessing."""
    names = ", ".join(repr(h) for h in header)
    if column is None:
        lowered = [h.strip().lower() for h in header]
        for guess in TEXT_COLUMN_GUESSES:
            if guess in lowered:
                return lowered.index(guess)
        if len(header) == 1:
            return 0
        raise InputError(
            f"{name} has no column named 'text' (its columns are {names})",
            "Choose the text column (--column NAME in the CLI)",
        )
    if isinstance(column, int) or (isinstance(column, str) and column.isdigit() and column not in header):
        index = int(column)
        if not 0 <= index < len(header):
            raise InputError(f"{name} has {len(header)} columns, so there is no column {index}", f"Columns: {names}")
        return index
    if column in header:
        return header.index(column)
    lowered = [h.strip().lower() for h in header]
    if column.strip().lower() in lowered:
        return lowered.index(column.strip().lower())
    raise InputError(f"{name} has no column {column!r} (its columns are {names})", "Choose one of those columns")


def _physical_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """Lines ending in ``\n``, ``\r\n`` or a lone ``\r``, each with its ending (a CR-only file is many lines).

    What line numbers count: :meth:`TextSource.line_offsets` finds lines by the same rule.
    """
    for raw in fh:
        cr = raw.find(b"\r")
        if cr < 0 or (cr == len(raw) - 2 and raw[-1:] == b"\n"):
            yield raw
        else:
            yield from (piece for piece in _LONE_CR.split(raw) if piece)


def _decoded_lines(fh: IO[bytes], name: str, encoding: str, errors: str, issues: ReadIssues,
                   first: int = 1) -> Iterator[str]:
    for number, raw in enumerate(_physical_lines(fh), first):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as exc:
            if errors == "strict":
                raise InputError(
                    f"{name}: line {number} is not valid {encoding} (byte 0x{raw[exc.start]:02x} at column "
                    f"{exc.start + 1})",
                    "Choose the file's encoding (e.g. cp1252 or latin-1), or let Sieve replace undecodable bytes",
                ) from exc
            issues.add("decode", number)
            yield raw.decode(encoding, errors="replace")


def _txt_rows(lines: Iterable[str], first: int = 1) -> Iterator[SourceRow]:
    for number, line in enumerate(lines, first):
        yield SourceRow(number, line.rstrip("\r\n"), None)


def _jsonl_rows(lines: Iterable[str], key: str, issues: ReadIssues, first: int = 1) -> Iterator[SourceRow]:
    for number, line in enumerate(lines, first):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.add("bad_row", number)
            yield SourceRow(number, None, {}, f"line {number} is not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            issues.add("bad_row", number)
            yield SourceRow(number, None, {}, f"line {number} nests JSON values too deeply to be read")
            continue
        if "\\u" in line and _has_surrogate(obj):  # JSON can spell a lone surrogate; no encoder can write one
            issues.add("surrogate", number)
            obj = _replace_surrogates(obj)
        if not isinstance(obj, dict):
            issues.add("bad_row", number)
            yield SourceRow(number, None, {"value": obj}, f"line {number} is a JSON {type(obj).__name__}, not an object")
            continue
        value = obj.get(key)
        if isinstance(value, str):
            yield SourceRow(number, value, obj)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield SourceRow(number, str(value), obj)
        else:
            issues.add("bad_row", number)
            what = "has no" if key not in obj else f"has a {type(value).__name__} in its"
            keys = ", ".join(repr(k) for k in list(obj)[:10])
            yield SourceRow(number, None, obj, f"line {number} {what} {key!r} field (keys: {keys})")


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    return isinstance(value, list) and any(_has_surrogate(v) for v in value)


def _replace_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate (not text: tokenizers and UTF-8 writers refuse it) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def rows_from_texts(texts: Iterable[str] | str) -> Iterator[SourceRow]:
    """Pasted or programmatic texts as rows (``line`` is the 1-based position); a single string is one text.

    Lone surrogates (Python strings can hold them; they are not text) are replaced by U+FFFD.
    """
    if isinstance(texts, str):
        texts = (texts,)
    for number, text in enumerate(texts, 1):
        if isinstance(text, str):
            yield SourceRow(number, _SURROGATE.sub("\ufffd", text), None)
        else:
            yield SourceRow(number, None, None, f"item {number} is a {type(text).__name__}, not text")


def is_earlier_output(path: Path) -> bool:
    """True for names Sieve gives its outputs (``NAME.scored.csv``, ``.tsv``, ``.jsonl``)."""
    return bool(_EARLIER_OUTPUT.search(Path(path).name))


def expand_inputs(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Files to read from ``paths`` (folders are listed, sorted); also notes on what was skipped and why.

    A folder's hidden files, sub-folders and Sieve's own earlier outputs (``*.scored.csv`` …) are not listed; a file
    named on its own is always an input.
    """
    files: list[Path] = []
    skipped: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            earlier = [p for p in found if is_earlier_output(p)]
            readable = [p for p in found if p.suffix.lower() in READ_KINDS and p not in earlier]
            for p in found:
                if p in earlier:
                    skipped.append(f"{p.name}: an earlier Sieve output (its name ends in .scored{p.suffix}); "
                                   "name it on its own to score it")
                elif p not in readable:
                    skipped.append(f"{p.name}: not a .txt/.csv/.tsv/.jsonl file")
            if not readable:
                besides = " besides earlier Sieve outputs" if earlier else ""
                raise InputError(f"The folder {path} holds no .txt, .csv, .tsv or .jsonl files{besides}",
                                 "Choose a folder with such files in it, or the files themselves")
            files += readable
        else:
            files.append(path)
    return files, skipped


# ---------------------------------------------------------------------- writers
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NOT_ALLOWED = {errno.EACCES, errno.EPERM}


def explain_write_error(exc: OSError, path: Path | None) -> OutputError | None:
    """One sentence for an operating-system failure while writing ``path`` (``None``: standard output).

    Returns ``None`` for failures that are not the machine's (a broken pipe is the reader leaving, not an error).
    """
    code = exc.errno
    if code == errno.EPIPE:
        return None
    if path is None:
        if code in _DISK_FULL:
            return OutputError("Standard output's device is full", "Write to a file with free space (-o FILE)",
                               disk_full=True)
        if code == errno.EBADF:
            return OutputError("Standard output is closed", "Redirect it to a file, or name an output file with -o")
        return OutputError(f"Could not write to standard output ({exc.strerror or exc})",
                           "Name an output file with -o instead")
    folder = path.parent
    if code in _DISK_FULL:
        return OutputError(f"The disk holding {folder} is full", "Free some space, or choose another output folder",
                           disk_full=True)
    if code == errno.EROFS:
        return OutputError(f"{folder} is on a read-only file system", "Choose a folder you can write to (-o)")
    if code in _NOT_ALLOWED:
        return OutputError(f"Sieve may not write to {folder} (permission denied)",
                           "Choose a folder you can write to (-o)")
    if code == errno.EFBIG:
        return OutputError(f"{path.name} grew past the largest file this file system or user may write",
                           "Write to another file system, or split the input")
    if code == errno.ENOENT:
        return OutputError(f"The folder {folder} does not exist", "Choose an existing folder for the output")
    if code == errno.EISDIR:
        return OutputError(f"{path} is a folder", "Name an output file, or give -o a folder for several inputs")
    if code == errno.EIO:
        return OutputError(f"The device holding {folder} reported an input/output error",
                           "Check the disk, or choose another output folder")
    return None


def _raise_write_error(exc: OSError, path: Path | None) -> None:
    explained = explain_write_error(exc, path)
    if explained is None:
        raise exc
    explained.errno = exc.errno
    raise explained from exc


def _check_folder(path: Path) -> None:
    if not path.parent.exists():
        raise InputError(f"The folder {path.parent} does not exist", "Choose an existing folder for the output")


def new_temp_path(path: Path) -> Path:
    """Create an empty hidden file beside ``path`` (``.NAME.XXXXXXXX.tmp``) with the normal permissions.

    ``tempfile.mkstemp`` would make it 0600, which the finished file would keep; this one gets 0666 less the
    umask (usually 0644), like any file the user saves.
    """
    path = Path(path)
    _check_folder(path)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            _raise_write_error(exc, path)
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))  # 100 collisions of 32 random bits


@contextlib.contextmanager
def atomic_path(path: Path, *, partial: Path | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step, on failure it goes.

    With ``partial`` the temporary file has that fixed name and is kept on failure, so a run can resume from it.
    A full disk, a read-only folder and the like raise :class:`OutputError` with a sentence.
    """
    path = Path(path)
    _check_folder(path)
    tmp = partial if partial is not None else new_temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        if partial is None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if isinstance(exc, OSError):
            _raise_write_error(exc, path)
        raise


def remove_stale_temps(path: Path) -> int:
    """Delete temporary files :func:`atomic_path` left beside ``path`` when its process was killed mid-write."""
    path = Path(path)
    removed = 0
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()
            removed += 1
    return removed


def partial_path(path: Path) -> Path:
    """Where an unfinished ``sieve score`` output is kept until it completes (for ``--resume``)."""
    return path.with_name(f".{path.name}.sieve-partial")


def output_kind(path: Path) -> str:
    kind = WRITE_KINDS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"Cannot write {path.suffix or 'extension-less'} files", "Name the output .csv or .jsonl")
    return kind


@dataclass(frozen=True)
class OutputColumns:
    """Names of the fields Sieve adds, prefixed with ``sieve_`` when the input already uses one of them.

    The prefix is repeated until no name collides, so scoring an output again (which has ``label`` and
    ``sieve_label``) adds ``sieve_sieve_label``: an input field is never overwritten.
    """

    labels: tuple[str, ...]
    input_columns: tuple[str, ...]

    @property
    def prefix(self) -> str:
        ours = ("label", "confidence", "scores", "truncated", "error", *(f"score_{x}" for x in self.labels))
        taken = set(self.input_columns)
        prefix = ""
        while any(prefix + name in taken for name in ours):
            prefix = "sieve_" + prefix
        return prefix

    def csv_header(self) -> list[str]:
        p = self.prefix
        return [*self.input_columns, f"{p}label", f"{p}confidence", *(f"{p}score_{x}" for x in self.labels),
                f"{p}truncated", f"{p}error"]


def _cell(value: Any) -> str:
    """A JSON value as a CSV cell: strings as they are, null as empty, anything else as JSON text."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class ResultWriter:
    """Writes scored rows as CSV/TSV or JSONL: the input's fields, then label, confidence, scores, flags, error.

    Every input field is kept: a CSV row's cells, a JSONL object's keys (as columns in CSV, in first-seen order),
    a txt line as ``text``. Use as a context manager; the file appears (atomically) only when the block ends without
    an exception. ``partial`` names a fixed temporary file that survives a crash (see ``sieve score --resume``);
    ``append`` continues it. Operating-system failures (full disk, read-only folder, closed standard output)
    raise :class:`OutputError`.
    """

    def __init__(
        self,
        path: str | Path | None,
        labels: Sequence[str],
        input_columns: Sequence[str],
        *,
        source_kind: str = "txt",
        partial: Path | None = None,
        append: bool = False,
        stream: IO[str] | None = None,
        kind: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.stream = stream
        if self.path is None and stream is None:
            raise ValueError("ResultWriter needs a path or a stream")
        self.kind = kind or output_kind(self.path)
        self.labels = tuple(labels)
        self.cols = OutputColumns(self.labels, tuple(input_columns))
        self.source_kind = source_kind
        self.partial = partial
        self.append = append
        self.rows_written = 0
        self._tmp: Path | None = None
        self._fh: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> ResultWriter:
        if self.stream is not None:
            self._fh, fresh = self.stream, True
        else:
            _check_folder(self.path)
            self._tmp = self.partial if self.partial is not None else new_temp_path(self.path)
            fresh = not (self.append and self._tmp.exists() and self._tmp.stat().st_size > 0)
            try:
                self._fh = open(self._tmp, "w" if fresh else "a", newline="", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                self._discard()
                _raise_write_error(exc, self.path)
        if self.kind in ("csv", "tsv"):
            self._csv = csv.writer(self._fh, delimiter="\t" if self.kind == "tsv" else ",")
            if fresh:
                self._guarded(self._csv.writerow, self.cols.csv_header())
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        assert self._fh is not None
        if self._tmp is None:  # a stream: push out what is buffered; the stream stays open
            if exc_type is None:
                self._guarded(self._fh.flush)
            return
        if exc_type is not None:
            with contextlib.suppress(OSError):  # the rows up to the last checkpoint are already on disk
                self._fh.close()
            self._discard()
            return
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self._tmp, self.path)
        except OSError as err:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._discard()
            _raise_write_error(err, self.path)

    def _discard(self) -> None:
        """Remove the temporary file after a failure, unless it is a partial file kept for ``--resume``."""
        if self._tmp is not None and self.partial is None:
            with contextlib.suppress(OSError):
                self._tmp.unlink()

    def _guarded(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except OSError as exc:
            _raise_write_error(exc, self.path if self.stream is None else None)

    def flush(self) -> int:
        """Push written rows to the OS; return the file's size in bytes (0 for a stream)."""
        if self._fh is None:
            return 0
        self._guarded(self._fh.flush)
        return self._fh.tell() if self._tmp is not None else 0

    def write(
        self,
        rows: Sequence[SourceRow],
        probs: np.ndarray,
        label_idx: np.ndarray,
        truncated: np.ndarray,
        errors: Sequence[str | None],
    ) -> None:
        """Write ``rows`` with their results; ``label_idx[i] < 0`` marks a row without a result (see ``errors``)."""
        assert self._fh is not None
        conf = probs.max(axis=1) if len(probs) else np.zeros(0, dtype=np.float32)
        if self.kind == "jsonl":
            self._guarded(self._write_jsonl, rows, probs, label_idx, conf, truncated, errors)
        else:
            self._guarded(self._write_csv, rows, probs, label_idx, conf, truncated, errors)
        self.rows_written += len(rows)

    def _input_fields(self, row: SourceRow) -> list[Any]:
        if self.source_kind in ("csv", "tsv"):
            return list(row.record)
        if self.source_kind == "jsonl":
            record = row.record if isinstance(row.record, dict) else {}
            return [_cell(record.get(key)) for key in self.cols.input_columns]
        return [row.text if row.text is not None else ""]

    def _input_object(self, row: SourceRow) -> dict:
        if self.source_kind == "jsonl" and isinstance(row.record, dict):
            return dict(row.record)
        if self.source_kind in ("csv", "tsv"):
            return dict(zip(self.cols.input_columns, row.record, strict=False))
        return {"text": row.text}

    def _write_csv(self, rows, probs, label_idx, conf, truncated, errors) -> None:  # noqa: ANN001
        out = []
        prob_text = [[f"{p:.6g}" for p in r] for r in probs.tolist()]
        blank = [""] * len(self.labels)
        for i, row in enumerate(rows):
            li = int(label_idx[i])
            if li >= 0:
                out.append([*self._input_fields(row), self.labels[li], f"{conf[i]:.6g}", *prob_text[i],
                            "true" if truncated[i] else "false", ""])
            else:
                out.append([*self._input_fields(row), "", "", *blank, "", errors[i] or "not scored"])
        self._csv.writerows(out)

    def _write_jsonl(self, rows, probs, label_idx, conf, truncated, errors) -> None:  # noqa: ANN001
        p = self.cols.prefix
        lines = []
        for i, row in enumerate(rows):
            obj = self._input_object(row)
            li = int(label_idx[i])
            if li >= 0:
                obj[f"{p}label"] = self.labels[li]
                obj[f"{p}confidence"] = round(float(conf[i]), 6)
                obj[f"{p}scores"] = {lab: round(float(v), 6) for lab, v in zip(self.labels, probs[i].tolist(), strict=True)}
                if truncated[i]:
                    obj[f"{p}truncated"] = True
            else:
                obj[f"{p}label"] = None
                obj[f"{p}error"] = errors[i] or "not scored"
            lines.append(json.dumps(obj, ensure_ascii=False))
        self._fh.write("\n".join(lines) + ("\n" if lines else ""))

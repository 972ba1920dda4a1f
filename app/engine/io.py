"""Streaming readers (txt, csv/tsv, jsonl) and atomic writers (csv, jsonl).

Readers yield one :class:`SourceRow` per input row without loading the file. A row that cannot be read (bad JSON,
missing column) is still yielded, with ``text=None`` and an ``error``, so every input row has exactly one output
row. Undecodable bytes are replaced (or refused, with ``errors="strict"``) and their line numbers kept.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import glob
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from .errors import InputError

READ_KINDS = {".txt": "txt", ".text": "txt", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl",
              ".ndjson": "jsonl"}
WRITE_KINDS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
TEXT_COLUMN_GUESSES = ("text", "sentence", "content", "review", "tweet", "body", "message")
MAX_ISSUE_LINES = 20  # line numbers kept per kind of problem; the count is always exact
_SNIFF_BYTES = 64 * 1024

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
    ``"strict"`` for undecodable bytes.
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

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def columns(self) -> list[str]:
        """Names of the output's input-side columns."""
        if self.kind in ("csv", "tsv"):
            return list(self.header or [])
        return ["text"] if self.kind == "txt" else [self.field]

    def estimate_rows(self) -> int:
        """Count lines (fast, by bytes); exact for txt, an upper bound for csv with multi-line fields."""
        lines, last = 0, b"\n"
        with self.path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        lines += last != b"\n"
        return max(0, lines - (1 if self.kind in ("csv", "tsv") else 0))

    def __iter__(self) -> Iterator[SourceRow]:
        self.issues = ReadIssues()
        with self.path.open("rb") as fh:
            lines = _decoded_lines(fh, self.path.name, self.encoding, self.errors, self.issues)
            if self.kind == "txt":
                yield from _txt_rows(lines)
            elif self.kind == "jsonl":
                yield from _jsonl_rows(lines, self.field, self.issues)
            else:
                yield from self._csv_rows(lines)

    def _csv_rows(self, lines: Iterator[str]) -> Iterator[SourceRow]:
        at_end = [False]  # set once the reader has asked for a line past the last one

        def tap() -> Iterator[str]:
            yield from lines
            at_end[0] = True

        reader = csv.reader(tap(), delimiter=self.delimiter)
        try:
            next(reader)  # header, already parsed by open_source
        except StopIteration:
            return
        width = len(self.header or [])
        col = self.column_index if self.column_index is not None else 0
        start = reader.line_num + 1
        try:
            for record in reader:
                line, start = start, reader.line_num + 1
                if not record:  # a blank line is not a row
                    continue
                if at_end[0]:  # a record can only end at end of file inside a quoted field that never closed
                    self.issues.add("bad_row", line)
                    error = (f"line {line} opens a quoted field that is never closed, so lines {line} to "
                             f"{reader.line_num} were read as one row; close the quote and score the file again")
                    yield SourceRow(line, None, (record + [""] * width)[:width], error)
                    continue
                if col >= len(record):
                    self.issues.add("bad_row", line)
                    error = f"line {line} has {len(record)} fields, so column {col + 1} ({self.header[col]!r}) is missing"
                    yield SourceRow(line, None, record + [""] * (width - len(record)), error)
                    continue
                if len(record) > width:
                    self.issues.add("extra_fields", line)
                    record = record[:width]
                elif len(record) < width:
                    record = record + [""] * (width - len(record))
                yield SourceRow(line, record[col], record)
        except csv.Error as exc:
            raise InputError(
                f"{self.name}: line {reader.line_num} is not valid {self.kind.upper()} ({exc})",
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


def _prepare_csv(source: TextSource) -> None:
    with source.path.open("rb") as fh:
        sample = fh.read(_SNIFF_BYTES)
    text = sample.decode(source.encoding, errors="replace").lstrip("\ufeff")
    if source.kind == "tsv":
        source.delimiter = "\t"
    else:
        try:
            source.delimiter = csv.Sniffer().sniff(text.split("\n", 50)[0] if text else ",", ",;\t|").delimiter
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


def _decoded_lines(fh: IO[bytes], name: str, encoding: str, errors: str, issues: ReadIssues) -> Iterator[str]:
    for number, raw in enumerate(fh, 1):
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


def _txt_rows(lines: Iterable[str]) -> Iterator[SourceRow]:
    for number, line in enumerate(lines, 1):
        yield SourceRow(number, line.rstrip("\r\n"), None)


def _jsonl_rows(lines: Iterable[str], key: str, issues: ReadIssues) -> Iterator[SourceRow]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.add("bad_row", number)
            yield SourceRow(number, None, {}, f"line {number} is not valid JSON ({exc.msg} at column {exc.colno})")
            continue
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


def rows_from_texts(texts: Iterable[str]) -> Iterator[SourceRow]:
    """Pasted or programmatic texts as rows (``line`` is the 1-based position)."""
    for number, text in enumerate(texts, 1):
        if isinstance(text, str):
            yield SourceRow(number, text, None)
        else:
            yield SourceRow(number, None, None, f"item {number} is a {type(text).__name__}, not text")


def expand_inputs(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Files to read from ``paths`` (folders are listed, sorted); also notes on what was skipped and why."""
    files: list[Path] = []
    skipped: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            readable = [p for p in found if p.suffix.lower() in READ_KINDS]
            skipped += [f"{p.name}: not a .txt/.csv/.tsv/.jsonl file" for p in found if p not in readable]
            if not readable:
                raise InputError(f"The folder {path} holds no .txt, .csv, .tsv or .jsonl files",
                                 "Choose a folder with such files in it, or the files themselves")
            files += readable
        else:
            files.append(path)
    return files, skipped


# ---------------------------------------------------------------------- writers
@contextlib.contextmanager
def atomic_path(path: Path, *, partial: Path | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step, on failure it goes.

    With ``partial`` the temporary file has that fixed name and is kept on failure, so a run can resume from it.
    """
    path = Path(path)
    if not path.parent.exists():
        raise InputError(f"The folder {path.parent} does not exist", "Choose an existing folder for the output")
    if partial is not None:
        tmp = partial
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        if partial is None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    os.replace(tmp, path)


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
    """Names of the columns Sieve adds; prefixed with ``sieve_`` when the input already uses one of them."""

    labels: tuple[str, ...]
    input_columns: tuple[str, ...]

    @property
    def prefix(self) -> str:
        ours = {"label", "confidence", "scores", "truncated", "error", *(f"score_{x}" for x in self.labels)}
        return "sieve_" if ours & set(self.input_columns) else ""

    def csv_header(self) -> list[str]:
        p = self.prefix
        return [*self.input_columns, f"{p}label", f"{p}confidence", *(f"{p}score_{x}" for x in self.labels),
                f"{p}truncated", f"{p}error"]


class ResultWriter:
    """Writes scored rows as CSV/TSV or JSONL: the input's fields, then label, confidence, scores, flags, error.

    Use as a context manager; the file appears (atomically) only when the block ends without an exception.
    ``partial`` names a fixed temporary file that survives a crash (see ``sieve score --resume``); ``append``
    continues it.
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
        self._ctx: contextlib.AbstractContextManager | None = None
        self._fh: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> ResultWriter:
        if self.stream is not None:
            self._fh, fresh = self.stream, True
        else:
            self._ctx = atomic_path(self.path, partial=self.partial)
            tmp = self._ctx.__enter__()
            fresh = not (self.append and tmp.exists() and tmp.stat().st_size > 0)
            self._fh = open(tmp, "w" if fresh else "a", newline="", encoding="utf-8")  # noqa: SIM115
        if self.kind in ("csv", "tsv"):
            self._csv = csv.writer(self._fh, delimiter="\t" if self.kind == "tsv" else ",")
            if fresh:
                self._csv.writerow(self.cols.csv_header())
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        assert self._fh is not None
        self._fh.flush()
        if self._ctx is None:
            return
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._ctx.__exit__(exc_type, exc, tb)

    def flush(self) -> int:
        """Push written rows to the OS; return the file's size in bytes (0 for a stream)."""
        if self._fh is None:
            return 0
        self._fh.flush()
        return self._fh.tell() if self._ctx is not None else 0

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
            self._write_jsonl(rows, probs, label_idx, conf, truncated, errors)
        else:
            self._write_csv(rows, probs, label_idx, conf, truncated, errors)
        self.rows_written += len(rows)

    def _input_fields(self, row: SourceRow) -> list[Any]:
        if self.source_kind in ("csv", "tsv"):
            return list(row.record)
        if self.source_kind == "jsonl":
            return [row.text if row.text is not None else ""]
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

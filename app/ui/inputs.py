"""Imported files waiting to be scored: which column holds the text, which (if any) holds gold labels.

No widgets: the controller calls :func:`open_input` for each file and passes a ``choose`` callback when a person
should pick the columns (the window's column dialog). Loaded on the first import, not with the window.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..engine.errors import InputError
from ..engine.evaluation import find_gold_column
from ..engine.io import READ_KINDS, TEXT_COLUMN_GUESSES, TextSource, detect_kind, open_source
from .text import plural
from .workers import GoldColumn

PREVIEW_ROWS = 6
# (path, column names, first rows, guessed text column, guessed gold column) → (text column, gold column or None),
# or None when the person cancelled.
ColumnChooser = Callable[[Path, list[str], list[list[str]], int | None, int | None], "tuple[str, str | None] | None"]


@dataclass(frozen=True)
class InputFile:
    """An imported file waiting to be scored."""

    source: TextSource
    rows: int  # estimated (exact for txt; an upper bound for csv with multi-line fields)
    gold: GoldColumn | None = None

    def describe(self) -> str:
        s = self.source
        where = (f", column {s.header[s.column_index]!r}" if s.header and s.column_index is not None
                 else f", field {s.field!r}" if s.kind == "jsonl" else "")
        gold = f", gold labels in {self.gold.name!r}" if self.gold else ""
        return f"{s.name}  ({plural(self.rows, 'row')}{where}{gold})"


def peek_table(path: Path, limit: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]]:
    """Header and first rows of a csv/tsv, or keys and first values of a jsonl (reads at most 64 KB)."""
    with path.open("rb") as fh:
        sample = fh.read(64 * 1024).decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = sample.splitlines()[: limit + 1]
    if detect_kind(path) == "jsonl":
        objs = []
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                objs.append(obj)
        keys = list(dict.fromkeys(k for o in objs for k in o))
        return keys, [[str(o.get(k, "")) for k in keys] for o in objs[:limit]]
    delimiter = "\t" if detect_kind(path) == "tsv" else ","
    if detect_kind(path) == "csv":
        with contextlib.suppress(csv.Error):
            delimiter = csv.Sniffer().sniff(lines[0] if lines else ",", ",;\t|").delimiter
    rows = list(csv.reader(lines, delimiter=delimiter))
    return (rows[0] if rows else []), rows[1 : limit + 1]


def guess_text_column(names: Sequence[str]) -> int | None:
    lowered = [n.strip().lower() for n in names]
    for guess in TEXT_COLUMN_GUESSES:
        if guess in lowered:
            return lowered.index(guess)
    return 0 if len(names) == 1 else None


def open_input(path: Path, *, labels: Sequence[str], ask: bool = False, column: str | None = None,
               choose: ColumnChooser | None = None) -> InputFile | None:
    """Open one file for scoring, finding (or asking for) its text and gold columns; None if the person cancelled.

    ``labels`` are the loaded model's (empty before a model is loaded, or for a multi-label model). With labels, a
    column counts as gold when its values are those labels; without, when it is named like ``gold`` or ``label``.
    Raises :class:`InputError` with a sentence when the file cannot be read.
    """
    if path.suffix.lower() not in READ_KINDS:
        raise InputError(f"{path.name}: Sieve does not read {path.suffix or 'extension-less'} files",
                         "Use .txt, .csv, .tsv or .jsonl")
    kind = READ_KINDS[path.suffix.lower()]
    if kind == "txt":
        source = open_source(path)
        return InputFile(source, source.estimate_rows())
    if not path.is_file():
        open_source(path)  # raises the right sentence
    names, rows = peek_table(path)
    text_guess = guess_text_column(names) if names else None
    gold_guess = find_gold_column(names, rows if labels else [], labels, skip=text_guess) if names else None
    gold_name = names[gold_guess] if gold_guess is not None else None
    if column is None and names and len(names) > 1 and (ask or text_guess is None):
        if choose is None:
            raise InputError(f"{path.name} has no column named 'text' (its columns are "
                             f"{', '.join(repr(n) for n in names)})", "Import it with Ctrl+I and pick the column")
        choice = choose(path, names, rows, text_guess, gold_guess)
        if choice is None:
            return None
        column, gold_name = choice
    if kind == "jsonl":
        source = open_source(path, field=column) if column else open_source(path)
        gold = GoldColumn(gold_name, gold_name) if gold_name and gold_name != source.field else None
    else:
        source = open_source(path, column=column)
        gold = None
        if gold_name and source.header and gold_name in source.header:
            key = source.header.index(gold_name)
            gold = GoldColumn(key, gold_name) if key != source.column_index else None
    return InputFile(source, source.estimate_rows(), gold)

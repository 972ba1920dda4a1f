"""Scores against gold labels: accuracy, macro-F1, per-class precision and recall, and the confusion matrix.

A gold column is a field of the input (``label``, ``gold``, or one the user names) whose values are the model's
labels. Values are matched to label indices once, as rows arrive (:class:`GoldLabels`); the metrics are then a few
``bincount`` calls over two integer arrays, cheap enough to recompute whenever a view wants them. numpy only.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import SourceRow, atomic_path

NO_GOLD = -1  # the row has no gold value (empty, or the row could not be read)
UNKNOWN_GOLD = -2  # the row's gold value is none of the model's labels
GOLD_COLUMN_GUESSES = ("gold", "label", "labels", "gold_label", "target", "class", "sentiment", "category")
MIN_MATCH = 0.5  # share of sampled values that must be model labels for a column to be taken as gold
EXAMPLES_KEPT = 5


def no_gold(n: int) -> np.ndarray:
    """Gold indices for ``n`` rows that have no gold label."""
    return np.full(n, NO_GOLD, dtype=np.int32)


def label_lookup(labels: Sequence[str]) -> dict[str, int]:
    """Gold text → label index: exact names, then case-insensitive, then 0-based indices written as numbers."""
    table: dict[str, int] = {}
    for i in range(len(labels)):
        table.setdefault(str(i), i)
    for i, name in enumerate(labels):
        table[name.strip().lower()] = i
    for i, name in enumerate(labels):
        table[name] = i
    return table


def match_labels(values: Sequence[str | None], labels: Sequence[str]) -> np.ndarray:
    """Label index per value (int32): :data:`NO_GOLD` for None/blank, :data:`UNKNOWN_GOLD` for other text."""
    table = label_lookup(labels)
    out = np.empty(len(values), dtype=np.int32)
    for i, value in enumerate(values):
        if value is None or not str(value).strip():
            out[i] = NO_GOLD
            continue
        text = str(value)
        hit = table.get(text)
        if hit is None:
            hit = table.get(text.strip().lower(), UNKNOWN_GOLD)
        out[i] = hit
    return out


def unknown_examples(values: Sequence[str | None], idx: np.ndarray, limit: int = EXAMPLES_KEPT) -> list[str]:
    """A few distinct gold values that are none of the labels (to tell the user what was left out)."""
    out: list[str] = []
    for i in np.flatnonzero(idx == UNKNOWN_GOLD).tolist():
        if str(values[i]) not in out:
            out.append(str(values[i]))
            if len(out) >= limit:
                break
    return out


def gold_values(rows: Sequence[SourceRow], column: int | str) -> list[str | None]:
    """The gold field of each row: ``column`` is a 0-based index (csv/tsv records) or a key (jsonl records)."""
    out: list[str | None] = []
    for row in rows:
        record = row.record
        value = None
        if isinstance(record, dict):
            value = record.get(column)
        elif isinstance(record, list | tuple) and isinstance(column, int) and 0 <= column < len(record):
            value = record[column]
        out.append(None if value is None or isinstance(value, dict | list) else str(value))
    return out


def find_gold_column(names: Sequence[str], rows: Sequence[Sequence[str]], labels: Sequence[str],
                     skip: int | None = None) -> int | None:
    """Which column of a table sample holds gold labels, or None.

    A column named like ``gold``/``label`` qualifies when at least half its sampled values are model labels; any
    other column when all of them are. ``skip`` is the text column. Without sampled rows, a name alone decides.
    """
    lowered = [n.strip().lower() for n in names]
    table = label_lookup(labels)

    def share(c: int) -> float:
        values = [r[c] for r in rows if c < len(r) and r[c].strip()]
        if not values:
            return 0.0
        return sum(v in table or v.strip().lower() in table for v in values) / len(values)

    for guess in GOLD_COLUMN_GUESSES:
        if guess in lowered and lowered.index(guess) != skip:
            c = lowered.index(guess)
            if not rows or share(c) >= MIN_MATCH:
                return c
    for c in range(len(names)):
        values = [r[c].strip() for r in rows if c < len(r)]
        if c != skip and values and share(c) == 1.0 and not all(v.isdigit() for v in values):  # not an id column
            return c
    return None


class GoldLabels:
    """Gold label indices for the rows of a run, filled chunk by chunk in input order."""

    def __init__(self, labels: Sequence[str], column: str, capacity: int = 4096) -> None:
        self.labels = tuple(labels)
        self.column = column
        self._idx = np.full(capacity, NO_GOLD, dtype=np.int32)
        self._n = 0
        self.unknown_examples: list[str] = []
        self.version = 0

    def __len__(self) -> int:
        return self._n

    @property
    def values(self) -> np.ndarray:
        return self._idx[: self._n]

    def append(self, values: Sequence[str | None]) -> None:
        """Match gold texts to labels and append them."""
        idx = match_labels(values, self.labels)
        self.extend(idx, unknown_examples(values, idx))

    def extend(self, idx: np.ndarray, examples: Sequence[str] = ()) -> None:
        """Append label indices already matched (e.g. on a worker thread) and examples of unmatched values."""
        for v in examples:
            if len(self.unknown_examples) < EXAMPLES_KEPT and v not in self.unknown_examples:
                self.unknown_examples.append(v)
        n = self._n + len(idx)
        if n > len(self._idx):
            grown = np.full(max(n, 2 * len(self._idx)), NO_GOLD, dtype=np.int32)
            grown[: self._n] = self._idx[: self._n]
            self._idx = grown
        self._idx[self._n : n] = idx
        self._n = n
        self.version += 1

    def name_of(self, i: int) -> str:
        g = int(self._idx[i])
        if g >= 0:
            return self.labels[g]
        return "" if g == NO_GOLD else "(not a label)"


@dataclass(frozen=True)
class Evaluation:
    """How the predictions of one run compare with its gold labels.

    ``confusion[g, p]`` counts rows with gold label ``g`` predicted as ``p``. Rows without a gold value, with a gold
    value that is not a label, or without a prediction (failed, not scored) are counted apart and left out.
    """

    labels: tuple[str, ...]
    confusion: np.ndarray  # [k, k] int64
    no_gold: int
    unknown_gold: int
    unscored: int

    @property
    def compared(self) -> int:
        return int(self.confusion.sum())

    @property
    def correct(self) -> int:
        return int(np.trace(self.confusion))

    @property
    def accuracy(self) -> float:
        return self.correct / self.compared if self.compared else float("nan")

    @property
    def support(self) -> np.ndarray:
        return self.confusion.sum(axis=1)

    @property
    def precision(self) -> np.ndarray:
        """Per label: correct ÷ predicted as that label (NaN when nothing was predicted as it)."""
        predicted = self.confusion.sum(axis=0)
        return _ratio(np.diag(self.confusion), predicted)

    @property
    def recall(self) -> np.ndarray:
        """Per label: correct ÷ gold rows of that label (NaN when the gold column has none)."""
        return _ratio(np.diag(self.confusion), self.support)

    @property
    def f1(self) -> np.ndarray:
        p, r = np.nan_to_num(self.precision), np.nan_to_num(self.recall)
        f1 = _ratio(2 * p * r, p + r)
        return np.where(self.support > 0, np.nan_to_num(f1), np.nan)

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the labels that occur in the gold column."""
        f1 = self.f1[self.support > 0]
        return float(f1.mean()) if len(f1) else float("nan")

    def as_dict(self) -> dict:
        def num(x: float) -> float | None:
            return None if np.isnan(x) else round(float(x), 6)

        return {
            "compared": self.compared,
            "accuracy": num(self.accuracy),
            "macro_f1": num(self.macro_f1),
            "per_label": [
                {"label": name, "support": int(s), "precision": num(p), "recall": num(r), "f1": num(f)}
                for name, s, p, r, f in zip(self.labels, self.support.tolist(), self.precision.tolist(),
                                            self.recall.tolist(), self.f1.tolist(), strict=True)
            ],
            "confusion": {"rows_are": "gold", "columns_are": "predicted", "labels": list(self.labels),
                          "counts": self.confusion.tolist()},
            "left_out": {"no_gold": self.no_gold, "gold_not_a_label": self.unknown_gold, "not_scored": self.unscored},
        }

    def write(self, path: str | Path, about: dict | None = None) -> None:
        """Write the report as JSON (``.json``) or CSV (anything else), atomically. ``about`` adds provenance."""
        path = Path(path)
        with atomic_path(path) as tmp:
            if path.suffix.lower() == ".json":
                tmp.write_text(json.dumps({**(about or {}), **self.as_dict()}, indent=2) + "\n", encoding="utf-8")
                return
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                for key, value in (about or {}).items():
                    w.writerow([key, value])
                w.writerow(["compared", self.compared])
                w.writerow(["accuracy", _cell(self.accuracy)])
                w.writerow(["macro_f1", _cell(self.macro_f1)])
                w.writerow([])
                w.writerow(["label", "support", "precision", "recall", "f1"])
                for name, s, p, r, f in zip(self.labels, self.support.tolist(), self.precision.tolist(),
                                            self.recall.tolist(), self.f1.tolist(), strict=True):
                    w.writerow([name, s, _cell(p), _cell(r), _cell(f)])
                w.writerow([])
                w.writerow(["gold \\ predicted", *self.labels])
                for name, counts in zip(self.labels, self.confusion.tolist(), strict=True):
                    w.writerow([name, *counts])


def evaluate(gold: np.ndarray, predicted: np.ndarray, labels: Sequence[str]) -> Evaluation:
    """Compare label indices row by row (``predicted < 0``: failed or not scored; ``gold < 0``: no usable gold)."""
    n = min(len(gold), len(predicted))
    gold, predicted = np.asarray(gold[:n]), np.asarray(predicted[:n])
    k = len(labels)
    usable = (gold >= 0) & (predicted >= 0)
    confusion = np.bincount(gold[usable].astype(np.int64) * k + predicted[usable], minlength=k * k).reshape(k, k)
    return Evaluation(tuple(labels), confusion, no_gold=int((gold == NO_GOLD).sum()),
                      unknown_gold=int((gold == UNKNOWN_GOLD).sum()), unscored=int(((gold >= 0) & (predicted < 0)).sum()))


def cell_rows(gold: np.ndarray, predicted: np.ndarray, g: int, p: int) -> np.ndarray:
    """Row indices whose gold label is ``g`` and predicted label is ``p`` (one confusion-matrix cell)."""
    n = min(len(gold), len(predicted))
    return np.flatnonzero((gold[:n] == g) & (predicted[:n] == p)).astype(np.int64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def _cell(x: float) -> str:
    return "" if np.isnan(x) else f"{x:.6g}"

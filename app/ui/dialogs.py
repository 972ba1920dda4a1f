"""Small dialogs: the column/field chooser shown when importing a table, and the keyboard-shortcut list."""

from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..engine.io import TEXT_COLUMN_GUESSES, detect_kind

PREVIEW_ROWS = 6


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


def guess_column(names: list[str]) -> int | None:
    lowered = [n.strip().lower() for n in names]
    for guess in TEXT_COLUMN_GUESSES:
        if guess in lowered:
            return lowered.index(guess)
    return 0 if len(names) == 1 else None


class ColumnDialog(QDialog):
    """Pick which column (csv/tsv) or field (jsonl) holds the text, and which (if any) holds gold labels, with a
    preview of the first rows."""

    NO_GOLD = "(none)"

    def __init__(self, path: Path, names: list[str], rows: list[list[str]], text_guess: int | None = None,
                 gold_guess: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import {path.name}")
        what = "field" if detect_kind(path) == "jsonl" else "column"
        self.combo = QComboBox()
        self.combo.setObjectName("columnChoice")
        self.combo.addItems(names)
        guess = text_guess if text_guess is not None else guess_column(names)
        if guess is not None:
            self.combo.setCurrentIndex(guess)
        self.gold_combo = QComboBox()
        self.gold_combo.setObjectName("goldChoice")
        self.gold_combo.addItem(self.NO_GOLD)
        self.gold_combo.addItems(names)
        self.gold_combo.setToolTip(f"A {what} whose values are the model's labels: Sieve then reports accuracy, "
                                   "per-label precision and recall, and a confusion matrix")
        if gold_guess is not None:
            self.gold_combo.setCurrentIndex(gold_guess + 1)
        preview = QTableWidget(len(rows), len(names))
        preview.setHorizontalHeaderLabels(names)
        for r, row in enumerate(rows):
            for c, value in enumerate(row[: len(names)]):
                preview.setItem(r, c, QTableWidgetItem(value[:200]))
        preview.setMinimumWidth(560)
        form = QFormLayout()
        form.addRow(f"Text {what}", self.combo)
        form.addRow(f"Gold labels {what} (optional)", self.gold_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Which {what} holds the texts — and does one hold the expected labels?"))
        layout.addLayout(form)
        layout.addWidget(preview)
        layout.addWidget(buttons)
        self.combo.setFocus()

    @property
    def choice(self) -> str:
        return self.combo.currentText()

    @property
    def gold(self) -> str | None:
        text = self.gold_combo.currentText()
        return None if self.gold_combo.currentIndex() == 0 or text == self.choice else text


SHORTCUTS = (
    ("Ctrl+O", "Open a model folder"),
    ("Ctrl+I", "Import text files"),
    ("Ctrl+Enter", "Run: score the pasted texts or imported files"),
    ("Esc", "Cancel the run (finished results stay)"),
    ("Ctrl+S", "Export results (CSV / TSV / JSONL)"),
    ("Ctrl+Shift+S", "Export the per-batch latency records (CSV)"),
    ("Ctrl+L", "Quick classify: focus the one-line box"),
    ("Ctrl+F", "Search the results"),
    ("Ctrl+C", "Copy the selected result rows"),
    ("Ctrl+Shift+C", "Sort the results by confidence, highest first"),
    ("Ctrl+1 / Ctrl+2", "Show the latency dashboard / the sweep"),
    ("Ctrl+E", "Show the evaluation against gold labels (arrows + Enter open a confusion-matrix cell)"),
    ("Ctrl+Shift+Del", "Clear results"),
    ("Ctrl+Q", "Quit"),
    ("", "Drop files or folders anywhere on the window to import them; drop a model folder or .onnx to load it."),
)

"""Small dialogs: the column/field chooser shown when importing a table, the keyboard-shortcut list, and the GPU setup
report (``sieve doctor``) opened from the model panel."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


class ColumnDialog(QDialog):
    """Pick which column (csv/tsv) or field (jsonl) holds the text, and which (if any) holds gold labels, with a
    preview of the first rows."""

    NO_GOLD = "(none)"

    def __init__(self, path: Path, names: list[str], rows: list[list[str]], text_guess: int | None = None,
                 gold_guess: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import {path.name}")
        what = "field" if path.suffix.lower() in (".jsonl", ".ndjson") else "column"
        self.combo = QComboBox()
        self.combo.setObjectName("columnChoice")
        self.combo.addItems(names)
        if text_guess is not None:
            self.combo.setCurrentIndex(text_guess)
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


def show_shortcuts(parent: QWidget) -> None:
    rows = "".join(f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td><td>{html.escape(v)}</td></tr>"
                   for k, v in SHORTCUTS)
    QMessageBox.information(parent, "Keyboard shortcuts", f"<table>{rows}</table>")


def show_about(parent: QWidget) -> None:
    from .. import __version__

    QMessageBox.about(parent, "About Sieve",
                      f"<b>Sieve {__version__}</b><br>Text classification on ONNX Runtime.<br>"
                      "Load a model folder (model.onnx + tokenizer.json + config.json), score texts and files, "
                      "check them against gold labels, and watch latency live.")


def error_dialog(parent: QWidget, title: str, message: str) -> QMessageBox:
    """A window-modal, non-blocking dialog with one selectable sentence."""
    from PySide6.QtCore import Qt

    dialog = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    dialog.setObjectName("errorDialog")
    dialog.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    dialog.open()
    return dialog


class DoctorDialog(QDialog):
    """``sieve doctor``'s report, as the CLI prints it, with the verdict on top and the fix commands to copy."""

    def __init__(self, report, parent: QWidget | None = None) -> None:  # noqa: ANN001 - engine.doctor.DoctorReport
        from PySide6.QtGui import QFontDatabase, QGuiApplication

        super().__init__(parent)
        self.setObjectName("doctorDialog")
        self.setWindowTitle("GPU setup (sieve doctor)")
        self.verdict = QLabel(html.escape(report.verdict))
        self.verdict.setObjectName("doctorVerdict")
        self.verdict.setWordWrap(True)
        self.report = QPlainTextEdit("\n".join(report.lines()))
        self.report.setObjectName("doctorReport")
        self.report.setReadOnly(True)
        self.report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.report.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_fixes = QPushButton("Copy fixes")
        self.copy_fixes.setToolTip("Copy the commands that close each gap, in order")
        self.copy_fixes.setEnabled(bool(report.fixes))
        buttons.addButton(self.copy_fixes, QDialogButtonBox.ButtonRole.ActionRole)
        fixes = "\n".join(report.fixes)
        self.copy_fixes.clicked.connect(lambda: QGuiApplication.clipboard().setText(fixes))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.verdict)
        layout.addWidget(self.report, 1)
        layout.addWidget(buttons)
        width = self.report.fontMetrics().horizontalAdvance("x" * 140)  # most report lines fit without scrolling
        screen = (parent.screen() if parent is not None else QGuiApplication.primaryScreen()).availableGeometry()
        self.resize(min(width + 60, screen.width() - 40), min(480, screen.height() - 40))

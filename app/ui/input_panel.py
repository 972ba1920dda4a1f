"""Input: the quick-classify line, pasted texts or imported files, Run / Cancel and the run's progress."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .widgets import ERROR_COLOUR, after_pause, label_colour

if TYPE_CHECKING:
    from ..engine.scoring import Prediction

QUICK_PAUSE_MS = 200  # classify once typing pauses this long


class PasteBox(QPlainTextEdit):
    """A text area that hands dropped *files* to the window (text drops still paste as text)."""

    def __init__(self, on_files: Callable[[list[str]], None]) -> None:
        super().__init__()
        self.on_files = on_files

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802
        return source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802
        files = [u.toLocalFile() for u in source.urls() if u.isLocalFile()] if source.hasUrls() else []
        if files:
            self.on_files(files)
        else:
            super().insertFromMimeData(source)


class InputPanel(QWidget):
    run_requested = Signal()
    cancel_requested = Signal()
    import_requested = Signal()
    clear_files_requested = Signal()
    remove_file_requested = Signal(int)
    quick_text = Signal(str)  # the quick-classify line, once typing pauses

    def __init__(self, on_files: Callable[[list[str]], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.quick = QLineEdit()
        self.quick.setObjectName("quickClassify")
        self.quick.setPlaceholderText("Quick classify: type a sentence (Ctrl+L)")
        self.quick.setClearButtonEnabled(True)
        self.quick_result = QLabel()
        self.quick_result.setObjectName("quickResult")
        self.quick_result.setTextFormat(Qt.TextFormat.RichText)
        self.quick_result.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.quick_result.setMinimumWidth(200)
        quick_row = QHBoxLayout()
        quick_row.addWidget(self.quick, 3)
        quick_row.addWidget(self.quick_result, 2)
        self.quick.textChanged.connect(after_pause(lambda: self.quick_text.emit(self.quick.text()), QUICK_PAUSE_MS,
                                                   self))

        self.paste = PasteBox(on_files)
        self.paste.setObjectName("pasteBox")
        self.paste.setPlaceholderText(
            "Paste texts here, one per line — or import (Ctrl+I) or drop .txt, .csv, .tsv, .jsonl files or folders "
            "anywhere on the window. Ctrl+Enter runs.")
        self.paste.setMinimumHeight(48)
        self.files = QListWidget()
        self.files.setObjectName("fileList")
        self.files.setVisible(False)
        self.files.setMinimumHeight(48)
        self.files.setToolTip("Files to score (they take the place of the pasted texts). Delete removes one.")
        self.import_button = QPushButton("Import files…")
        self.import_button.setObjectName("importButton")
        self.import_button.setToolTip("Import .txt, .csv/.tsv or .jsonl files (Ctrl+I)")
        self.import_button.clicked.connect(self.import_requested)
        self.clear_files = QPushButton("Clear files")
        self.clear_files.setVisible(False)
        self.clear_files.clicked.connect(self.clear_files_requested)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("runButton")
        self.run_button.setToolTip("Score the texts (Ctrl+Enter)")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop after the current batch; finished results stay (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.progress = QProgressBar()
        self.progress.setObjectName("runProgress")
        self.progress.setTextVisible(True)
        self.progress.setFormat("Ready")
        self.progress.setValue(0)
        self.progress.setMinimumWidth(180)
        controls = QHBoxLayout()
        for button in (self.import_button, self.clear_files, self.run_button, self.cancel_button):
            controls.addWidget(button)
        controls.addWidget(self.progress, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(quick_row)
        layout.addWidget(self.paste, 1)
        layout.addWidget(self.files, 1)
        layout.addLayout(controls)

    # ------------------------------------------------------------------ texts and files
    def pasted_texts(self) -> list[str]:
        return [line for line in self.paste.toPlainText().splitlines() if line.strip()]

    def show_files(self, descriptions: list[str], paths: list[str]) -> None:
        """The imported files (they replace the pasted texts while there are any)."""
        self.files.clear()
        for text, path in zip(descriptions, paths, strict=True):
            self.files.addItem(text)
            self.files.item(self.files.count() - 1).setToolTip(path)
        has = bool(descriptions)
        self.files.setVisible(has)
        self.clear_files.setVisible(has)
        self.paste.setVisible(not has)

    def keyPressEvent(self, event) -> None:  # noqa: ANN001, N802
        if event.key() == Qt.Key.Key_Delete and self.files.hasFocus() and self.files.currentRow() >= 0:
            self.remove_file_requested.emit(self.files.currentRow())
            return
        super().keyPressEvent(event)

    # ------------------------------------------------------------------ run state
    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.import_button.setEnabled(not running)
        self.clear_files.setEnabled(not running)

    def show_progress(self, progress) -> None:  # noqa: ANN001 - controller.Progress
        self.progress.setMaximum(max(progress.total, 1))
        self.progress.setValue(min(progress.done, max(progress.total, 1)))
        self.progress.setFormat(progress.text().replace("%", "%%"))
        self.progress.setToolTip(progress.text())

    def progress_text(self) -> str:
        return self.progress.format().replace("%%", "%")

    def show_quick(self, answer: Prediction | str | None) -> None:
        if answer is None:
            self.quick_result.setText("")
        elif isinstance(answer, str):
            self.quick_result.setText(f"<span style='color:{ERROR_COLOUR}'>{html.escape(answer)}</span>")
            self.quick_result.setToolTip(answer)
        else:
            names = list(answer.scores) if hasattr(answer, "scores") else []
            colour = label_colour(answer.label or "", names.index(answer.label) if answer.label in names else 0)
            top = " · ".join(f"{html.escape(k)} {v:.2f}" for k, v in answer.top(3))
            self.quick_result.setText(f"<b style='color:{colour}'>{html.escape(answer.label or '?')}</b> "
                                      f"{answer.confidence:.2f} <small>({top})</small>")
            self.quick_result.setToolTip(top)

"""Input: pasted texts, imported files, the quick-classify line, Run / Cancel and progress."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import QMimeData, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.io import TextSource
from ..engine.scoring import Prediction


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
    quick_text = Signal(str)  # debounced text from the quick-classify line

    def __init__(self, on_files: Callable[[list[str]], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sources: list[TextSource] = []
        self.quick = QLineEdit()
        self.quick.setObjectName("quickClassify")
        self.quick.setPlaceholderText("Quick classify: type a sentence (Ctrl+L)")
        self.quick.setClearButtonEnabled(True)
        self.quick_result = QLabel()
        self.quick_result.setObjectName("quickResult")
        self.quick_result.setMinimumWidth(260)
        quick_row = QHBoxLayout()
        quick_row.addWidget(self.quick, 1)
        quick_row.addWidget(self.quick_result)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(200)
        self._debounce.timeout.connect(lambda: self.quick_text.emit(self.quick.text()))
        self.quick.textChanged.connect(self._debounce.start)

        self.paste = PasteBox(on_files)
        self.paste.setObjectName("pasteBox")
        self.paste.setPlaceholderText(
            "Paste texts here, one per line — or import / drop .txt, .csv, .tsv, .jsonl files or folders anywhere "
            "on the window. Ctrl+Enter runs.")
        self.files = QListWidget()
        self.files.setObjectName("fileList")
        self.files.setMaximumHeight(90)
        self.files.setVisible(False)
        self.files.setToolTip("Files to score (they take the place of the pasted texts). Delete removes one.")
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Import .txt, .csv/.tsv or .jsonl files (Ctrl+I)")
        self.import_button.clicked.connect(self.import_requested)
        self.clear_files = QPushButton("Clear files")
        self.clear_files.setVisible(False)
        self.clear_files.clicked.connect(self.remove_all_sources)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("runButton")
        self.run_button.setToolTip("Score the texts (Ctrl+Enter)")
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop after the current batch; finished results stay (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.progress = QProgressBar()
        self.progress.setObjectName("runProgress")
        self.progress.setFormat("%v / %m rows")
        self.progress.setValue(0)
        self.rate = QLabel()
        self.rate.setObjectName("runRate")
        self.rate.setMinimumWidth(220)
        controls = QHBoxLayout()
        controls.addWidget(self.import_button)
        controls.addWidget(self.clear_files)
        controls.addWidget(self.run_button)
        controls.addWidget(self.cancel_button)
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.rate)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(quick_row)
        layout.addWidget(self.paste, 1)
        layout.addWidget(self.files)
        layout.addLayout(controls)

    # ------------------------------------------------------------------ texts and files
    def pasted_texts(self) -> list[str]:
        return [line for line in self.paste.toPlainText().splitlines() if line.strip()]

    def add_source(self, source: TextSource) -> None:
        self.sources.append(source)
        where = f", column {source.header[source.column_index]!r}" if source.header else (
            f", field {source.field!r}" if source.kind == "jsonl" else "")
        item = QListWidgetItem(f"{source.name}  ({source.estimate_rows():,} rows{where})")
        item.setToolTip(str(source.path))
        self.files.addItem(item)
        self._show_files()

    def remove_all_sources(self) -> None:
        self.sources.clear()
        self.files.clear()
        self._show_files()

    def keyPressEvent(self, event) -> None:  # noqa: ANN001, N802
        if event.key() == Qt.Key.Key_Delete and self.files.hasFocus() and self.files.currentRow() >= 0:
            row = self.files.currentRow()
            self.files.takeItem(row)
            del self.sources[row]
            self._show_files()
            return
        super().keyPressEvent(event)

    def _show_files(self) -> None:
        has = bool(self.sources)
        self.files.setVisible(has)
        self.clear_files.setVisible(has)
        self.paste.setEnabled(not has)

    # ------------------------------------------------------------------ run state
    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.import_button.setEnabled(not running)
        self.clear_files.setEnabled(not running)

    def show_progress(self, done: int, total: int, rate: float, eta_s: float | None) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        eta = "" if eta_s is None else f", ETA {_duration(eta_s)}"
        self.rate.setText(f"{rate:,.0f} texts/s{eta}")

    def show_quick(self, answer: Prediction | str | None) -> None:
        if answer is None:
            self.quick_result.setText("")
        elif isinstance(answer, str):
            self.quick_result.setText(f"<span style='color:#c62828'>{html.escape(answer)}</span>")
        else:
            top = " · ".join(f"{html.escape(k)} {v:.2f}" for k, v in answer.top(3))
            self.quick_result.setText(f"<b>{html.escape(answer.label or '?')}</b> {answer.confidence:.2f}"
                                      f" <small>({top})</small>")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"

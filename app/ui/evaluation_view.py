"""Accuracy, macro-F1, per-label precision and recall, and a confusion matrix whose cells filter the results."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .text import plural

if TYPE_CHECKING:
    from ..engine.evaluation import Evaluation

NO_GOLD_YET = ("No gold labels yet. Import a file with a column of expected labels (named <b>label</b> or <b>gold</b>, "
               "or picked when importing with Ctrl+I) and run it: accuracy and a confusion matrix appear here.")


def _pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.1%}"


def _num(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.3f}"


class ConfusionMatrix(QTableWidget):
    """Gold labels down, predictions across. Click a cell, or move to it and press Enter, to filter the table."""

    cell_chosen = Signal(int, int)  # gold, predicted

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("confusionMatrix")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.cellClicked.connect(self.cell_chosen)
        self.setToolTip("Rows: gold label. Columns: predicted label. Click a cell to show those rows.")

    def show_counts(self, ev: Evaluation) -> None:
        k = len(ev.labels)
        if self.rowCount() != k:
            self.setRowCount(k)
            self.setColumnCount(k)
        self.setHorizontalHeaderLabels(list(ev.labels))
        self.setVerticalHeaderLabels(list(ev.labels))
        support = ev.support
        for g in range(k):
            for p in range(k):
                count = int(ev.confusion[g, p])
                item = self.item(g, p) or QTableWidgetItem()
                item.setText(f"{count:,}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                share = count / support[g] if support[g] else 0.0
                base = QColor("#2e7d32") if g == p else QColor("#c62828")
                base.setAlphaF(0.08 + 0.6 * share if count else 0.0)
                item.setBackground(QBrush(base))
                item.setToolTip(f"gold {ev.labels[g]}, predicted {ev.labels[p]}: {plural(count, 'row')}"
                                " — click to show them")
                if self.item(g, p) is None:
                    self.setItem(g, p, item)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and self.currentRow() >= 0:
            self.cell_chosen.emit(self.currentRow(), self.currentColumn())
            return
        super().keyPressEvent(event)


class EvaluationPanel(QWidget):
    cell_chosen = Signal(int, int)
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.evaluation: Evaluation | None = None
        self.summary = QLabel(NO_GOLD_YET)
        self.summary.setObjectName("evaluationSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.left_out = QLabel()
        self.left_out.setWordWrap(True)
        self.left_out.setVisible(False)
        self.matrix = ConfusionMatrix()
        self.matrix.cell_chosen.connect(self.cell_chosen)
        self.per_label = QTableWidget(0, 5)
        self.per_label.setObjectName("perLabelScores")
        self.per_label.setHorizontalHeaderLabels(["Label", "Precision", "Recall", "F1", "Gold rows"])
        self.per_label.verticalHeader().setVisible(False)
        self.per_label.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_label.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.export = QPushButton("Export report…")
        self.export.setToolTip("Save accuracy, per-label scores and the confusion matrix (JSON or CSV)")
        self.export.clicked.connect(self.export_requested)
        self.matrix_title = QLabel("<b>Confusion matrix</b> — gold label down, predicted across; click a cell (or "
                                   "move to it and press Enter) to show its rows in the table")
        self.matrix_title.setWordWrap(True)
        left = QVBoxLayout()
        left.addWidget(self.summary)
        left.addWidget(self.left_out)
        left.addWidget(self.matrix_title)
        left.addWidget(self.matrix, 1)
        right = QVBoxLayout()
        right.addWidget(QLabel("<b>Per label</b>"))
        right.addWidget(self.per_label, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export)
        right.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(left, 3)
        layout.addLayout(right, 2)
        self.setFocusProxy(self.matrix)
        self.show_evaluation(None)

    def show_evaluation(self, ev: Evaluation | None, column: str = "") -> None:
        self.evaluation = ev
        has = ev is not None
        for w in (self.matrix, self.per_label, self.export, self.matrix_title):
            w.setEnabled(has)
        if ev is None:
            self.summary.setText(NO_GOLD_YET)
            self.left_out.setVisible(False)
            self.matrix.setRowCount(0)
            self.per_label.setRowCount(0)
            return
        self.summary.setText(f"<b>Accuracy {_pct(ev.accuracy)}</b> · macro-F1 {_num(ev.macro_f1)} — "
                             f"{plural(ev.compared, 'row')} compared with the gold column '{column}'")
        parts = []
        if ev.no_gold:
            parts.append(f"{plural(ev.no_gold, 'row')} without a gold label")
        if ev.unknown_gold:
            parts.append(f"{plural(ev.unknown_gold, 'row')} whose gold value is not one of the model's labels")
        if ev.unscored:
            parts.append(f"{plural(ev.unscored, 'row')} not scored")
        self.left_out.setText("Left out: " + "; ".join(parts) + "." if parts else "")
        self.left_out.setVisible(bool(parts))
        self.matrix.show_counts(ev)
        k = len(ev.labels)
        self.per_label.setRowCount(k)
        for i, (name, p, r, f, s) in enumerate(zip(ev.labels, ev.precision.tolist(), ev.recall.tolist(),
                                                  ev.f1.tolist(), ev.support.tolist(), strict=True)):
            for c, text in enumerate((name, _num(p), _num(r), _num(f), f"{s:,}")):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.per_label.setItem(i, c, item)

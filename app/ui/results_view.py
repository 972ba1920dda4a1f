"""The results panel: the table (its model is in ``results_model.py``), filters, export, label counts and the
selected row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .label_chart import LabelChart
from .text import plural
from .widgets import ElidedLabel, LabelChipDelegate, ScoreBars, after_pause, label_colour

if TYPE_CHECKING:
    from ..engine.evaluation import GoldLabels
    from ..engine.results import ResultStore
    from .controller import Provenance
    from .results_model import ResultsTableModel

class RowDetail(QWidget):
    """The selected row: where it came from, its whole text, and every label's score as a bar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.where = ElidedLabel("Select a row to see its whole text and every label's score.")
        self.where.setObjectName("rowWhere")
        self.text = QPlainTextEdit()
        self.text.setObjectName("rowText")
        self.text.setReadOnly(True)
        self.bars = ScoreBars()
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.where)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.bars)
        layout.addWidget(self.note)

    def show_row(self, store: ResultStore, r: int | None, gold: GoldLabels | None = None) -> None:
        if r is None or r >= len(store):
            self.where.set_full_text("Select a row to see its whole text and every label's score.")
            self.text.setPlainText("")
            self.bars.set_scores([], None)
            self.note.setText("")
            return
        gold_text = gold.name_of(r) if gold is not None and r < len(gold) else ""
        self.where.set_full_text(f"Row {r + 1} · {store.source_of(r)}, line {store.line_of(r)}"
                                 + (f" · gold: {gold_text}" if gold_text else ""))
        self.text.setPlainText(store.texts[r])
        li = int(store.label_idx[r])
        if li >= 0:
            self.bars.set_scores([(n, float(store.probs[r, i]), label_colour(n, i))
                                  for i, n in enumerate(store.labels)], li)
        else:
            self.bars.set_scores([], None)
        note = store.errors.get(r) or ("not scored (run cancelled)" if li < 0 else
                                       "truncated to the model's maximum length" if store.truncated[r] else "")
        self.note.setText(note)


class ResultsPanel(QWidget):
    """Table + filters + export; beside it, the label counts and the selected row."""

    export_requested = Signal(bool)  # True: only the rows shown (filtered)
    evaluation_changed = Signal(object)  # Evaluation | None, when the results or their gold labels changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model: ResultsTableModel | None = None  # made with the first results (it needs numpy)
        self.table = QTableView()
        self.table.setObjectName("resultsTable")
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        header.setMinimumSectionSize(40)
        self.chips = LabelChipDelegate(lambda index: self.model.label_colour_at(index), self.table)

        self.label_box = QComboBox()
        self.label_box.setObjectName("labelFilter")
        self.label_box.setToolTip("Show one label only")
        self.search = QLineEdit()
        self.search.setObjectName("searchBox")
        self.search.setPlaceholderText("Search texts (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.cell_filter = QToolButton()
        self.cell_filter.setObjectName("cellFilter")
        self.cell_filter.setToolTip("Showing one confusion-matrix cell; click to show every row again")
        self.cell_filter.setVisible(False)
        self.cell_filter.clicked.connect(self.clear_cell)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save results as CSV, TSV or JSONL (Ctrl+S)")
        self.export_button.clicked.connect(lambda: self.export_requested.emit(False))
        self.export_shown = QPushButton("Export shown…")
        self.export_shown.setToolTip("Save only the rows that pass the filters")
        self.export_shown.clicked.connect(lambda: self.export_requested.emit(True))
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Label:"))
        bar.addWidget(self.label_box)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.cell_filter)
        bar.addWidget(self.export_button)
        bar.addWidget(self.export_shown)

        self.summary = ElidedLabel("No results yet.")
        self.summary.setObjectName("resultsSummary")
        self.provenance = ElidedLabel("")
        self.provenance.setObjectName("provenance")
        info = QHBoxLayout()
        info.addWidget(self.summary, 2)
        info.addWidget(self.provenance, 3)

        self.counts = LabelChart()
        self.detail = RowDetail()
        self.side = QSplitter(Qt.Orientation.Vertical)
        self.side.setObjectName("resultsSide")
        self.side.addWidget(self.counts)
        self.side.addWidget(self.detail)
        self.side.setStretchFactor(0, 2)
        self.side.setStretchFactor(1, 3)
        self.side.setChildrenCollapsible(False)
        self.side.setMinimumWidth(200)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.setObjectName("resultsSplit")
        self.split.addWidget(self.table)
        self.split.addWidget(self.side)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 1)
        self.split.setChildrenCollapsible(False)
        self.table.setMinimumWidth(300)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addLayout(bar)
        layout.addLayout(info)
        layout.addWidget(self.split, 1)

        self.search.textChanged.connect(after_pause(self.apply_filter, 250, self))
        self.label_box.currentIndexChanged.connect(self.apply_filter)
        copy = QShortcut(QKeySequence.StandardKey.Copy, self.table)
        copy.activated.connect(self.copy_selection)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(300)
        self._refresh_timer.timeout.connect(self.refresh_counts)
        self._refresh_timer.start()
        self._counted = (-1, -1)
        self.evaluate = lambda: None  # set by the window: () -> Evaluation | None
        self.gold_column = ""

    @property
    def model(self) -> ResultsTableModel:
        if self._model is None:
            from .results_model import ResultsTableModel

            self._model = ResultsTableModel()
            self.table.setModel(self._model)
            self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        return self._model

    @property
    def store(self) -> ResultStore:
        return self.model.store

    def set_store(self, store: ResultStore, gold: GoldLabels | None = None) -> None:
        self.label_box.blockSignals(True)
        self.label_box.clear()
        self.label_box.addItem("All", None)
        for i, name in enumerate(store.labels):
            self.label_box.addItem(name, i)
        self.label_box.addItem("Failed / not scored", "failed")
        self.label_box.blockSignals(False)
        self.model.label_filter = None
        self.model.search = self.search.text().strip()
        self.cell_filter.setVisible(False)
        self.model.set_store(store, gold)
        self.gold_column = gold.column if gold is not None else ""
        for c in range(self.model.columnCount()):  # columns move when a gold column comes or goes
            self.table.setItemDelegateForColumn(c, None)
            self.table.setColumnHidden(c, False)  # (the header keeps hidden sections by position)
        self.table.setItemDelegateForColumn(self.model.column("label"), self.chips)
        self._size_columns()
        self.detail.show_row(store, None)
        self._counted = (-1, -1)
        self.refresh_counts()

    def _size_columns(self) -> None:
        """Fixed widths that fit their contents; the text takes what is left and elides."""
        fm = QFontMetrics(self.table.font())
        header = self.table.horizontalHeader()
        labels = self.store.labels or ("label",)
        chip = max(fm.horizontalAdvance(n) for n in (*labels, "not scored")) + 32
        for c, (kind, i) in enumerate(self.model.columns):
            if kind == "text":
                header.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
                continue
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
            width = {
                "row": fm.horizontalAdvance("100,000") + 16,
                "label": chip,
                "gold": chip - 10,
                "confidence": fm.horizontalAdvance("Confidence") + 24,
                "score": max(fm.horizontalAdvance(self.store.labels[i]) if kind == "score" else 0,
                             fm.horizontalAdvance("0.000")) + 14,
                "note": fm.horizontalAdvance("not scored (run cancelled)") + 12,
            }[kind]
            header.resizeSection(c, width)

    def rows_added(self, rows: range) -> None:
        self.model.rows_added(rows)

    def set_provenance(self, provenance: Provenance | None) -> None:
        self.provenance.set_full_text(f"Scored by {provenance.line()}" if provenance else "")

    def apply_filter(self) -> None:
        self.model.set_filter(self.label_box.currentData(), self.search.text().strip(), self.model.cell)
        self.refresh_counts(force=True)

    def show_cell(self, gold: int, predicted: int) -> None:
        """Show only the rows of one confusion-matrix cell (label and search filters are cleared)."""
        labels = self.store.labels
        self.label_box.blockSignals(True)
        self.label_box.setCurrentIndex(0)
        self.label_box.blockSignals(False)
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self.model.set_filter(None, "", (gold, predicted))
        n = self.model.rowCount()
        self.cell_filter.setText(f"gold {labels[gold]} → predicted {labels[predicted]}: {plural(n, 'row')}  ✕")
        self.cell_filter.setVisible(True)
        self.refresh_counts(force=True)

    def run_finished(self) -> None:
        """Counts as they ended; rows that arrived during the run take their place in the chosen sort order."""
        self.refresh_counts(force=True)
        if self.model.sort_column not in (None, 0):
            self.model.sort(self.model.sort_column, self.model.sort_order)

    def sort_by(self, kind: str) -> None:
        """Sort by a column (``confidence``: highest first) and put the focus on the table."""
        order = Qt.SortOrder.DescendingOrder if kind == "confidence" else Qt.SortOrder.AscendingOrder
        self.table.sortByColumn(self.model.column(kind), order)
        self.table.setFocus()

    def show_every_row(self) -> None:
        self.label_box.setCurrentIndex(0)
        self.search.clear()
        self.clear_cell()

    def clear_cell(self) -> None:
        self.cell_filter.setVisible(False)
        self.model.set_filter(self.label_box.currentData(), self.search.text().strip(), None)
        self.refresh_counts(force=True)

    def refresh_counts(self, force: bool = False) -> None:
        if self._model is None:  # no results yet
            return
        s = self.store
        gold = self.model.gold
        key = (s.version, gold.version if gold is not None else -1)
        if key == self._counted and not force:
            return
        self._counted = key
        self.counts.show_counts(s.counts() if len(s) else {})
        shown = self.model.rowCount()
        ev = self.evaluate() if gold is not None else None
        text = f"{plural(len(s), 'row')}" + (f", {shown:,} shown" if shown != len(s) else "") if len(s) else \
            "No results yet."
        if ev is not None and ev.compared:
            text += f" · accuracy {ev.accuracy:.1%} · macro-F1 {ev.macro_f1:.3f}"
        self.summary.set_full_text(text)
        self.evaluation_changed.emit(ev)
        note = self.model.column("note")
        has_notes = bool(s.errors) or bool(s.truncated.any()) or bool((s.label_idx < 0).any())
        if self.table.isColumnHidden(note) == has_notes:  # the Note column shows only when a row has one
            self.table.setColumnHidden(note, not has_notes)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        r = int(self.model.view[current.row()]) if current.isValid() and current.row() < len(self.model.view) else None
        self.detail.show_row(self.store, r, self.model.gold)

    def copy_selection(self) -> None:
        """Copy the selected rows as tab-separated text: text, label, confidence, scores."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedIndexes()})
        if not rows:
            return
        s = self.store
        lines = ["\t".join(["text", "label", "confidence", *s.labels])]
        for r in self.model.store_rows(rows).tolist()[:100_000]:
            ok = s.label_idx[r] >= 0
            lines.append("\t".join([
                s.texts[r].replace("\t", " ").replace("\n", " "), s.label_of(r) or s.status_of(r),
                f"{s.confidence[r]:.4f}" if ok else "", *(f"{p:.4f}" if ok else "" for p in s.probs[r].tolist()),
            ]))
        QGuiApplication.clipboard().setText("\n".join(lines) + "\n")

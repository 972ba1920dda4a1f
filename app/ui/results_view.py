"""The results: a table over the engine's result arrays, its filters, the label counts and the selected row.

The table model holds no per-row Python objects: it maps view rows to store rows through one numpy index array, so a
million rows cost a few megabytes and ``data()`` does O(1) work per visible cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QGuiApplication, QKeySequence, QShortcut
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

from ..engine.evaluation import GoldLabels
from ..engine.results import ResultStore
from .label_chart import LabelChart
from .text import plural
from .widgets import ERROR_COLOUR, ElidedLabel, LabelChipDelegate, ScoreBars, after_pause, label_colour

if TYPE_CHECKING:
    from .controller import Provenance

TEXT_CHARS = 300  # characters shown per cell (the detail pane shows all)
Index = QModelIndex | QPersistentModelIndex
ALIGN_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class ResultsTableModel(QAbstractTableModel):
    """Rows of a :class:`ResultStore`: ``#``, label, confidence, [gold,] text, one score per label, note."""

    def __init__(self, store: ResultStore | None = None) -> None:
        super().__init__()
        self.store = store or ResultStore(())
        self.gold: GoldLabels | None = None
        self.view = np.zeros(0, dtype=np.int64)
        self.label_filter: int | str | None = None
        self.search = ""
        self.cell: tuple[int, int] | None = None  # (gold, predicted): one confusion-matrix cell
        self.sort_column: int | None = None
        self.sort_order = Qt.SortOrder.AscendingOrder
        self.columns: list[tuple[str, int | None]] = []
        self._colours: list[QColor] = []
        self._layout_columns()

    def _layout_columns(self) -> None:
        cols: list[tuple[str, int | None]] = [("row", None), ("label", None), ("confidence", None)]
        if self.gold is not None:
            cols.append(("gold", None))
        cols.append(("text", None))
        cols += [("score", i) for i in range(len(self.store.labels))]
        cols.append(("note", None))
        self.columns = cols

    def column(self, kind: str, index: int | None = None) -> int:
        """The position of a column: ``column("confidence")``, ``column("score", 2)``."""
        return self.columns.index((kind, index))

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.view)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802, ANN201
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        kind, i = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            names = {"row": "#", "label": "Label", "confidence": "Confidence", "gold": "Gold", "text": "Text",
                     "note": "Note"}
            return self.store.labels[i] if kind == "score" else names[kind]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Score of {self.store.labels[i]}" if kind == "score" else None
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: ANN201, C901
        if not index.isValid():
            return None
        r = int(self.view[index.row()])
        kind, i = self.columns[index.column()]
        s = self.store
        ok = s.label_idx[r] >= 0
        if role == Qt.ItemDataRole.DisplayRole:
            if kind == "row":
                return r + 1
            if kind == "label":
                return s.label_of(r) or s.status_of(r)
            if kind == "confidence":
                return f"{s.confidence[r]:.3f}" if ok else ""
            if kind == "gold":
                return self.gold.name_of(r) if self.gold is not None and r < len(self.gold) else ""
            if kind == "text":
                text = s.texts[r]
                return (text[:TEXT_CHARS] + "…" if len(text) > TEXT_CHARS else text).replace("\n", " ⏎ ")
            if kind == "score":
                return f"{s.probs[r, i]:.3f}" if ok else ""
            return self._note(r)
        if role == Qt.ItemDataRole.ToolTipRole:
            if kind == "text":
                return f"{s.source_of(r)}, line {s.line_of(r)}\n\n{s.texts[r][:2000]}"
            if kind == "note":
                return self._note(r) or None
            return None
        if role == Qt.ItemDataRole.ForegroundRole and kind == "gold" and self.gold is not None and r < len(self.gold):
            g = int(self.gold.values[r])
            return QBrush(QColor(ERROR_COLOUR)) if g >= 0 and ok and g != s.label_idx[r] else None
        if role == Qt.ItemDataRole.TextAlignmentRole and kind in ("row", "confidence", "score"):
            return ALIGN_RIGHT
        if role == Qt.ItemDataRole.UserRole:
            return r
        return None

    def label_colour_at(self, index: Index) -> str | None:
        li = int(self.store.label_idx[int(self.view[index.row()])])
        return self._colours[li].name() if 0 <= li < len(self._colours) else None

    def _note(self, r: int) -> str:
        if r in self.store.errors:
            return self.store.errors[r]
        if self.store.label_idx[r] < 0:
            return "not scored (run cancelled)"
        return "truncated" if self.store.truncated[r] else ""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_column, self.sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        self.view = self._sorted(self.view)
        self.layoutChanged.emit()

    # ------------------------------------------------------------------ feeding
    def set_store(self, store: ResultStore, gold: GoldLabels | None = None) -> None:
        self.beginResetModel()
        self.store, self.gold = store, gold
        self.cell = None
        self._layout_columns()
        self._colours = [QColor(label_colour(n, i)) for i, n in enumerate(store.labels)]
        self.view = self._filtered()
        self.endResetModel()

    def rows_added(self, rows: range) -> None:
        """New store rows: append those passing the filters to the end of the view (sort again to place them)."""
        new = self._filtered(np.arange(rows.start, rows.stop))
        if not len(new):
            return
        n = len(self.view)
        self.beginInsertRows(QModelIndex(), n, n + len(new) - 1)
        self.view = np.concatenate([self.view, new])
        self.endInsertRows()

    def set_filter(self, label: int | str | None, search: str, cell: tuple[int, int] | None = None) -> None:
        self.label_filter, self.search, self.cell = label, search, cell
        self.beginResetModel()
        self.view = self._sorted(self._filtered())
        self.endResetModel()

    def _filtered(self, base: np.ndarray | None = None) -> np.ndarray:
        rows = np.arange(len(self.store)) if base is None else base
        if self.cell is not None and self.gold is not None:
            g, p = self.cell
            gold = self.gold.values
            inside = rows[rows < len(gold)]
            rows = inside[(gold[inside] == g) & (self.store.label_idx[inside] == p)]
        return self.store.select(self.label_filter, self.search, base=rows)

    def _sorted(self, rows: np.ndarray) -> np.ndarray:
        kind = self.columns[self.sort_column][0] if self.sort_column is not None else "row"
        if kind == "row" or not len(rows):
            out = np.sort(rows)
        else:
            keys = self._keys(self.sort_column)
            if isinstance(keys, np.ndarray):
                out = rows[np.argsort(keys[rows], kind="stable")]
            else:
                out = np.array(sorted(rows.tolist(), key=lambda i: keys[i].lower()), dtype=np.int64)
        return out[::-1].copy() if self.sort_order == Qt.SortOrder.DescendingOrder else out

    def _keys(self, column: int) -> np.ndarray | list:
        kind, i = self.columns[column]
        if kind == "gold":
            values = self.gold.values if self.gold is not None else np.zeros(0)
            return np.concatenate([values, np.full(max(0, len(self.store) - len(values)), -9)])
        if kind == "score":
            return self.store.sort_keys(f"score:{i}")
        if kind == "note":
            return np.array([1 if r in self.store.errors else 0 for r in range(len(self.store))])
        return self.store.sort_keys(kind)

    def store_rows(self, view_rows: list[int]) -> np.ndarray:
        return self.view[np.asarray(view_rows, dtype=np.int64)] if view_rows else np.zeros(0, dtype=np.int64)


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
        self.model = ResultsTableModel()
        self.table = QTableView()
        self.table.setObjectName("resultsTable")
        self.table.setModel(self.model)
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
        self.chips = LabelChipDelegate(self.model.label_colour_at, self.table)

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
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
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

    def clear_cell(self) -> None:
        self.cell_filter.setVisible(False)
        self.model.set_filter(self.label_box.currentData(), self.search.text().strip(), None)
        self.refresh_counts(force=True)

    def refresh_counts(self, force: bool = False) -> None:
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

"""The results table: a QAbstractTableModel over the engine's result arrays, with filter, sort, copy and counts.

The model holds no per-row Python objects: it maps view rows to store rows through one numpy index array, so a
million rows cost a few megabytes and ``data()`` does O(1) work per visible cell.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..engine.results import ResultStore

PALETTE = ("#c62828", "#757575", "#2e7d32", "#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457")
LABEL_COLOURS = {"negative": "#c62828", "neutral": "#757575", "positive": "#2e7d32"}
FIXED_COLUMNS = ("#", "Text", "Label", "Confidence")
TEXT_CHARS = 300  # characters shown per cell (the tooltip shows more)


def label_colour(name: str, i: int) -> str:
    return LABEL_COLOURS.get(name.lower(), PALETTE[i % len(PALETTE)])


Index = QModelIndex | QPersistentModelIndex


class ResultsTableModel(QAbstractTableModel):
    """Rows of a :class:`ResultStore`, filtered and sorted through an index array."""

    def __init__(self, store: ResultStore | None = None) -> None:
        super().__init__()
        self.store = store or ResultStore(())
        self.view = np.zeros(0, dtype=np.int64)
        self.label_filter: int | str | None = None
        self.search = ""
        self.sort_column: int | None = None
        self.sort_order = Qt.SortOrder.AscendingOrder
        self._colours: list[QBrush] = []

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.view)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(FIXED_COLUMNS) + len(self.store.labels) + 1

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802, ANN201
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Vertical:
            return None
        labels = self.store.labels
        if section < len(FIXED_COLUMNS):
            return FIXED_COLUMNS[section]
        if section < len(FIXED_COLUMNS) + len(labels):
            return labels[section - len(FIXED_COLUMNS)]
        return "Note"

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: ANN201, C901
        if not index.isValid():
            return None
        r = int(self.view[index.row()])
        c = index.column()
        s = self.store
        nfix, nlab = len(FIXED_COLUMNS), len(s.labels)
        if role == Qt.ItemDataRole.DisplayRole:
            if c == 0:
                return r + 1
            if c == 1:
                text = s.texts[r]
                return (text[:TEXT_CHARS] + "…" if len(text) > TEXT_CHARS else text).replace("\n", " ⏎ ")
            if c == 2:
                return s.label_of(r) or s.status_of(r)
            if c == 3:
                return f"{s.confidence[r]:.3f}" if s.label_idx[r] >= 0 else ""
            if c < nfix + nlab:
                return f"{s.probs[r, c - nfix]:.3f}" if s.label_idx[r] >= 0 else ""
            return self._note(r)
        if role == Qt.ItemDataRole.ToolTipRole:
            if c == 1:
                return f"{s.source_of(r)}, line {s.line_of(r)}\n\n{s.texts[r][:2000]}"
            if c == nfix + nlab:
                return self._note(r) or None
            return None
        if role == Qt.ItemDataRole.ForegroundRole and c == 2:
            li = int(s.label_idx[r])
            return self._colours[li] if 0 <= li < len(self._colours) else QBrush(QColor("#c62828"))
        if role == Qt.ItemDataRole.TextAlignmentRole and (c == 0 or c >= 3) and c < nfix + nlab:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return r
        return None

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
    def set_store(self, store: ResultStore) -> None:
        self.beginResetModel()
        self.store = store
        self._colours = [QBrush(QColor(label_colour(n, i))) for i, n in enumerate(store.labels)]
        self.view = np.arange(len(store), dtype=np.int64)
        self.endResetModel()

    def rows_added(self, rows: range) -> None:
        """New store rows: append those passing the filter to the end of the view (sort again to place them)."""
        new = self.store.select(self.label_filter, self.search, base=np.arange(rows.start, rows.stop))
        if not len(new):
            return
        n = len(self.view)
        self.beginInsertRows(QModelIndex(), n, n + len(new) - 1)
        self.view = np.concatenate([self.view, new])
        self.endInsertRows()

    def set_filter(self, label: int | str | None, search: str) -> None:
        self.label_filter, self.search = label, search
        self.beginResetModel()
        self.view = self._sorted(self.store.select(label, search))
        self.endResetModel()

    def _sorted(self, rows: np.ndarray) -> np.ndarray:
        if self.sort_column is None or self.sort_column == 0 or not len(rows):
            out = np.sort(rows)
        else:
            keys = self._keys(self.sort_column)
            if isinstance(keys, np.ndarray):
                out = rows[np.argsort(keys[rows], kind="stable")]
            else:
                out = np.array(sorted(rows.tolist(), key=lambda i: keys[i].lower()), dtype=np.int64)
        return out[::-1].copy() if self.sort_order == Qt.SortOrder.DescendingOrder else out

    def _keys(self, column: int) -> np.ndarray | list:
        nfix, nlab = len(FIXED_COLUMNS), len(self.store.labels)
        if column == 1:
            return self.store.sort_keys("text")
        if column == 2:
            return self.store.sort_keys("label")
        if column == 3:
            return self.store.sort_keys("confidence")
        if column < nfix + nlab:
            return self.store.sort_keys(f"score:{column - nfix}")
        return np.array([1 if r in self.store.errors else 0 for r in range(len(self.store))])

    def store_rows(self, view_rows: list[int]) -> np.ndarray:
        return self.view[np.asarray(view_rows, dtype=np.int64)] if view_rows else np.zeros(0, dtype=np.int64)


class LabelCounts(pg.PlotWidget):
    """Bar chart of rows per label (plus failed / not scored)."""

    def __init__(self) -> None:
        super().__init__(title="Rows per label")
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.bars: pg.BarGraphItem | None = None
        self.counts: dict[str, int] = {}

    def show_counts(self, counts: dict[str, int]) -> None:
        if counts == self.counts:
            return
        self.counts = dict(counts)
        if self.bars is not None:
            self.removeItem(self.bars)
            self.bars = None
        names = list(counts)
        if not names:  # (pyqtgraph cannot build an empty BarGraphItem)
            self.getAxis("bottom").setTicks([[]])
            return
        brushes = [label_colour(n, i) if n not in ("failed", "not scored") else "#ffab91" for i, n in enumerate(names)]
        self.bars = pg.BarGraphItem(x=np.arange(len(names)), height=list(counts.values()), width=0.7,
                                    brushes=brushes, pens=[None] * len(names))
        self.addItem(self.bars)
        self.getAxis("bottom").setTicks([[(i, f"{n}\n{counts[n]:,}") for i, n in enumerate(names)]])


class ResultsPanel(QWidget):
    """Table + filter/search + export + label counts."""

    export_requested = Signal(bool)  # True: only the rows shown (filtered)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ResultsTableModel()
        self.table = QTableView()
        self.table.setObjectName("resultsTable")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSortIndicatorShown(True)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)

        self.label_box = QComboBox()
        self.label_box.setObjectName("labelFilter")
        self.label_box.setToolTip("Show one label only")
        self.search = QLineEdit()
        self.search.setObjectName("searchBox")
        self.search.setPlaceholderText("Search texts (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.summary = QLabel("No results yet.")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save results as CSV or JSONL (Ctrl+S)")
        self.export_button.clicked.connect(lambda: self.export_requested.emit(False))
        self.export_shown = QPushButton("Export shown…")
        self.export_shown.setToolTip("Save only the rows that pass the filter and search")
        self.export_shown.clicked.connect(lambda: self.export_requested.emit(True))
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Label:"))
        bar.addWidget(self.label_box)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.export_button)
        bar.addWidget(self.export_shown)

        self.counts = LabelCounts()
        self.counts.setMinimumWidth(160)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("resultsSplit")
        split.addWidget(self.table)
        split.addWidget(self.counts)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)
        self.split = split

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.summary)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(self._search_timer.start)
        self.label_box.currentIndexChanged.connect(self.apply_filter)
        copy = QShortcut(QKeySequence.StandardKey.Copy, self.table)
        copy.activated.connect(self.copy_selection)
        self._counts_timer = QTimer(self)
        self._counts_timer.setInterval(300)
        self._counts_timer.timeout.connect(self.refresh_counts)
        self._counts_timer.start()
        self._counted = -1

    @property
    def store(self) -> ResultStore:
        return self.model.store

    def set_store(self, store: ResultStore) -> None:
        self.label_box.blockSignals(True)
        self.label_box.clear()
        self.label_box.addItem("All", None)
        for i, name in enumerate(store.labels):
            self.label_box.addItem(name, i)
        self.label_box.addItem("Failed / not scored", "failed")
        self.label_box.blockSignals(False)
        self.model.label_filter = None
        self.model.set_store(store)
        header = self.table.horizontalHeader()
        for column, width in ((0, 56), (1, 340), (2, 80), (3, 80)):
            header.resizeSection(column, width)
        self._counted = -1
        self.refresh_counts()

    def rows_added(self, rows: range) -> None:
        self.model.rows_added(rows)

    def apply_filter(self) -> None:
        self.model.set_filter(self.label_box.currentData(), self.search.text().strip())
        self.refresh_counts(force=True)

    def refresh_counts(self, force: bool = False) -> None:
        s = self.store
        if s.version == self._counted and not force:
            return
        self._counted = s.version
        self.counts.show_counts(s.counts() if len(s) else {})
        shown = self.model.rowCount()
        self.summary.setText(
            f"{len(s):,} rows" + (f", {shown:,} shown" if shown != len(s) else "") if len(s) else "No results yet.")

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

"""The results table model: a QAbstractTableModel over the engine's result arrays, filtered and sorted through one
index array.

It holds no per-row Python objects: view rows map to store rows through a numpy array, so a million rows cost a few
megabytes and ``data()`` does O(1) work per visible cell. (Loaded with the first results, not with the window.)
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from ..engine.evaluation import GoldLabels
from ..engine.results import ResultStore
from .widgets import ERROR_COLOUR, label_colour

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

"""The results table model over a million rows: counts, cells, filter and sort stay correct (no timing asserts)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from app.engine.io import SourceRow
from app.engine.results import ResultStore
from app.ui.results_model import ResultsTableModel

N = 1_000_000


def big_store() -> tuple[ResultStore, np.ndarray]:
    rng = np.random.default_rng(0)
    store = ResultStore(("neg", "neu", "pos"))
    src = store.add_source("big.txt")
    probs = rng.dirichlet([1, 1, 1], size=N).astype(np.float32)
    for start in range(0, N, 100_000):
        part = probs[start : start + 100_000]
        rows = [SourceRow(start + i + 1, f"row {start + i}", None) for i in range(len(part))]
        store.append(src, rows, part, part.argmax(axis=1).astype(np.int32), np.zeros(len(part), bool),
                     [None] * len(part))
    return store, probs


def test_a_million_rows_filter_and_sort_correctly(qtbot) -> None:  # noqa: ANN001
    store, probs = big_store()
    model = ResultsTableModel()
    model.set_store(store)
    assert model.rowCount() == N
    text, label, conf = model.column("text"), model.column("label"), model.column("confidence")
    assert model.data(model.index(N - 1, text)) == f"row {N - 1}"
    assert model.data(model.index(N - 1, label)) == ("neg", "neu", "pos")[int(probs[-1].argmax())]
    model.set_filter(2, "")
    assert model.rowCount() == int((probs.argmax(axis=1) == 2).sum())
    model.set_filter(None, "row 99999")  # matches row 99999 and rows 999990..999999
    assert model.rowCount() == 11
    model.set_filter(None, "")
    model.sort(conf, Qt.SortOrder.DescendingOrder)
    top = [float(model.data(model.index(r, conf))) for r in range(5)]
    assert top == sorted(top, reverse=True)
    assert abs(top[0] - float(probs.max(axis=1).max())) < 1e-3

"""ResultStore: growing result arrays, counts, selection, and export of a frozen copy."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from app.engine.io import SourceRow
from app.engine.results import ResultStore
from app.engine.scoring import FAILED, NOT_SCORED

LABELS = ("neg", "pos")


def chunk(start: int, n: int, rng: np.random.Generator):
    rows = [SourceRow(start + i + 1, f"text {start + i}", None) for i in range(n)]
    probs = rng.dirichlet([1, 1], size=n).astype(np.float32)
    label = probs.argmax(axis=1).astype(np.int32)
    return rows, probs, label, np.zeros(n, dtype=bool), [None] * n


def test_appends_grow_past_capacity_and_keep_every_row_in_order() -> None:
    rng = np.random.default_rng(0)
    store = ResultStore(LABELS, capacity=8)
    src = store.add_source("a.txt")
    all_probs = []
    for start in range(0, 1000, 37):
        rows, probs, label, trunc, errs = chunk(start, min(37, 1000 - start), rng)
        got = store.append(src, rows, probs, label, trunc, errs)
        assert got == range(start, start + len(rows))
        all_probs.append(probs)
    probs = np.concatenate(all_probs)
    assert len(store) == 1000
    assert store.texts == [f"text {i}" for i in range(1000)]
    np.testing.assert_array_equal(store.probs, probs)
    np.testing.assert_array_equal(store.label_idx, probs.argmax(axis=1))
    np.testing.assert_allclose(store.confidence, probs.max(axis=1))
    assert store.line_of(999) == 1000 and store.source_of(999) == "a.txt"


def test_counts_and_select_cover_failed_and_unscored_rows() -> None:
    store = ResultStore(LABELS)
    rows = [SourceRow(i + 1, t, None) for i, t in enumerate(["good", "bad", "ugly", "fine"])]
    probs = np.array([[0.9, 0.1], [0, 0], [0, 0], [0.2, 0.8]], dtype=np.float32)
    label = np.array([0, FAILED, NOT_SCORED, 1], dtype=np.int32)
    store.append(store.add_source("x"), rows, probs, label, np.zeros(4, bool), [None, "boom", None, None])
    assert store.counts() == {"neg": 1, "pos": 1, "failed": 1, "not scored": 1}
    assert store.select(0).tolist() == [0]
    assert store.select("failed").tolist() == [1, 2]
    assert store.select(None, "U").tolist() == [2]  # case-insensitive by default
    assert store.select(None, "U", case=True).tolist() == []
    assert store.select(1, "fin").tolist() == [3]
    assert store.confidence[1] == 0 and store.label_of(1) is None and store.status_of(1) == "failed"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_frozen_results_export_every_row_or_a_selection(tmp_path, suffix: str) -> None:
    rng = np.random.default_rng(1)
    store = ResultStore(LABELS)
    src = store.add_source("in.csv")
    rows, probs, label, trunc, errs = chunk(0, 50, rng)
    label[7] = FAILED
    errs[7] = "batch failed: boom"
    store.append(src, rows, probs, label, trunc, errs)
    frozen = store.freeze()
    store.append(src, *chunk(50, 10, rng))  # later rows do not leak into the frozen copy
    out = tmp_path / f"all{suffix}"
    assert frozen.write(out, chunk=16) == 50
    if suffix == ".csv":
        got = list(csv.DictReader(out.open(encoding="utf-8")))
        assert [r["text"] for r in got] == [f"text {i}" for i in range(50)]
        assert got[7]["label"] == "" and got[7]["error"] == "batch failed: boom"
        assert got[0]["label"] == LABELS[label[0]] and got[0]["source"] == "in.csv" and got[0]["line"] == "1"
    else:
        got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert len(got) == 50 and got[7]["label"] is None
        assert got[3]["scores"][LABELS[label[3]]] == pytest.approx(float(probs[3].max()), abs=1e-6)
    some = tmp_path / f"some{suffix}"
    assert frozen.write(some, rows=np.array([5, 2])) == 2
    text = some.read_text(encoding="utf-8")
    assert text.index("text 5") < text.index("text 2")


def test_cancelled_export_leaves_no_file(tmp_path) -> None:
    store = ResultStore(LABELS)
    store.append(store.add_source("x"), *chunk(0, 100, np.random.default_rng(2)))
    out = tmp_path / "out.csv"
    with pytest.raises(InterruptedError):
        store.freeze().write(out, chunk=10, cancelled=lambda: True)
    assert not out.exists() and list(tmp_path.iterdir()) == []

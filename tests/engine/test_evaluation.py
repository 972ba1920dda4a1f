"""Scores against gold labels, checked against counts worked out by hand and against a plain-Python reference."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from app.engine.evaluation import (
    NO_GOLD,
    UNKNOWN_GOLD,
    GoldLabels,
    cell_rows,
    evaluate,
    find_gold_column,
    gold_values,
    match_labels,
)
from app.engine.io import SourceRow
from app.engine.scoring import FAILED, NOT_SCORED

LABELS = ("negative", "neutral", "positive")


def test_gold_text_matches_names_case_and_indices() -> None:
    got = match_labels(["negative", " Positive ", "NEUTRAL", "2", "", None, "mixed", "7"], LABELS)
    assert got.tolist() == [0, 2, 1, 2, NO_GOLD, NO_GOLD, UNKNOWN_GOLD, UNKNOWN_GOLD]


def test_label_names_win_over_indices() -> None:
    assert match_labels(["1", "0"], ("0", "1")).tolist() == [1, 0]


def test_hand_worked_example() -> None:
    # gold:      neg neg neg neu neu pos pos pos pos
    # predicted: neg neg pos neu neg pos pos neu pos
    gold = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 0, 2, 1, 0, 2, 2, 1, 2])
    ev = evaluate(gold, pred, LABELS)
    assert ev.confusion.tolist() == [[2, 0, 1], [1, 1, 0], [0, 1, 3]]
    assert ev.compared == 9 and ev.correct == 6
    assert ev.accuracy == pytest.approx(6 / 9)
    assert ev.precision.tolist() == pytest.approx([2 / 3, 1 / 2, 3 / 4])
    assert ev.recall.tolist() == pytest.approx([2 / 3, 1 / 2, 3 / 4])
    assert ev.macro_f1 == pytest.approx((2 / 3 + 1 / 2 + 3 / 4) / 3)


def test_rows_without_gold_or_prediction_are_left_out_and_counted() -> None:
    gold = np.array([0, NO_GOLD, UNKNOWN_GOLD, 1, 2, 2])
    pred = np.array([0, 1, 1, FAILED, NOT_SCORED, 2])
    ev = evaluate(gold, pred, LABELS)
    assert ev.compared == 2 and ev.accuracy == 1.0
    assert (ev.no_gold, ev.unknown_gold, ev.unscored) == (1, 1, 2)


def test_a_label_never_predicted_has_no_precision_and_one_never_in_gold_is_not_averaged() -> None:
    ev = evaluate(np.array([0, 0, 1]), np.array([0, 1, 1]), LABELS)
    assert math.isnan(ev.precision[2]) and math.isnan(ev.recall[2]) and math.isnan(ev.f1[2])
    assert ev.macro_f1 == pytest.approx((2 / 3 + 2 / 3) / 2)  # F1 of negative and neutral only


def test_matches_a_plain_python_reference_on_random_data() -> None:
    rng = random.Random(1)
    gold = [rng.randrange(3) for _ in range(500)]
    pred = [g if rng.random() < 0.7 else rng.randrange(3) for g in gold]
    ev = evaluate(np.array(gold), np.array(pred), LABELS)
    f1s = []
    for k in range(3):
        tp = sum(g == k and p == k for g, p in zip(gold, pred, strict=True))
        prec = tp / sum(p == k for p in pred)
        rec = tp / sum(g == k for g in gold)
        f1s.append(2 * prec * rec / (prec + rec))
        assert ev.precision[k] == pytest.approx(prec) and ev.recall[k] == pytest.approx(rec)
    assert ev.macro_f1 == pytest.approx(sum(f1s) / 3)
    assert ev.accuracy == pytest.approx(sum(g == p for g, p in zip(gold, pred, strict=True)) / 500)


def test_cell_rows_are_exactly_that_cell() -> None:
    gold = np.array([0, 2, 2, 1, 2, 0])
    pred = np.array([2, 2, 0, 1, 0, 2])
    assert cell_rows(gold, pred, 2, 0).tolist() == [2, 4]
    assert cell_rows(gold, pred, 0, 2).tolist() == [0, 5]
    assert cell_rows(gold, pred, 1, 0).tolist() == []


def test_gold_values_from_csv_and_jsonl_records() -> None:
    rows = [SourceRow(2, "a", ["1", "a", "positive"]), SourceRow(3, None, ["2"], "missing column")]
    assert gold_values(rows, 2) == ["positive", None]
    rows = [SourceRow(1, "a", {"text": "a", "gold": "neutral"}), SourceRow(2, "b", {"text": "b", "gold": 2}),
            SourceRow(3, None, {}, "bad json")]
    assert gold_values(rows, "gold") == ["neutral", "2", None]


def test_gold_labels_grow_in_order_and_keep_examples_of_unknown_values() -> None:
    gold = GoldLabels(LABELS, "gold", capacity=2)
    gold.append(["negative", "mixed"])
    gold.append(["positive", "", "meh"])
    assert gold.values.tolist() == [0, UNKNOWN_GOLD, 2, NO_GOLD, UNKNOWN_GOLD]
    assert gold.unknown_examples == ["mixed", "meh"]
    assert [gold.name_of(i) for i in range(5)] == ["negative", "(not a label)", "positive", "", "(not a label)"]


def test_find_gold_column() -> None:
    names = ["id", "text", "gold"]
    rows = [["1", "great", "positive"], ["2", "bad", "negative"], ["3", "fine", "neutral"]]
    assert find_gold_column(names, rows, LABELS, skip=1) == 2
    assert find_gold_column(["id", "text", "stars"], [["1", "x", "5"]], LABELS, skip=1) is None  # ids are not gold
    assert find_gold_column(["text", "sentiment_truth"], [["x", "Positive"], ["y", "negative"]], LABELS, skip=0) == 1
    assert find_gold_column(["text", "label"], [["x", "spam"], ["y", "ham"]], LABELS, skip=0) is None


def test_report_files(tmp_path) -> None:  # noqa: ANN001
    ev = evaluate(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 0]), LABELS)
    ev.write(tmp_path / "report.json", about={"model": "tiny"})
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["model"] == "tiny" and data["accuracy"] == 0.75
    assert data["confusion"]["counts"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    ev.write(tmp_path / "report.csv")
    text = (tmp_path / "report.csv").read_text()
    assert "accuracy,0.75" in text and "positive,1,0,1" in text

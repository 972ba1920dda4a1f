"""Evaluation in the window: a gold column found on import, the metrics shown, and a confusion-matrix cell that
filters the table to exactly its rows (by mouse and by keyboard)."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.ui.text import plural

from .conftest import column, load, run_and_wait
from .test_main_window import LABELS, expected_labels, sentences


def gold_file(tmp_path, texts, gold, name="gold.csv"):  # noqa: ANN001, ANN201
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label"])
        w.writerows([i, t, g] for i, (t, g) in enumerate(zip(texts, gold, strict=True)))
    return path


def click_cell(matrix, row: int, col: int) -> None:  # noqa: ANN001
    rect = matrix.visualRect(matrix.model().index(row, col))
    QTest.mouseClick(matrix.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_a_confusion_cell_shows_exactly_its_rows(qtbot, window, tiny_bundle, tmp_path) -> None:  # noqa: ANN001
    window.resize(1280, 800)
    load(qtbot, window, tiny_bundle[0])
    rng = random.Random(5)
    texts = sentences(400, seed=31)
    predicted = expected_labels(tiny_bundle, texts)
    gold = [p if rng.random() < 0.6 else rng.choice(LABELS) for p in predicted]
    gold[3], gold[4] = "", "mixed"  # no gold, and a value that is not a label
    window.add_inputs([str(gold_file(tmp_path, texts, gold))], ask=False)
    assert window.controller.inputs[0].gold.name == "label"
    run_and_wait(qtbot, window)
    assert window.tabs.currentWidget() is window.evaluation  # a run with gold labels ends on its evaluation
    ev = window.controller.evaluation()
    usable = [i for i in range(400) if i not in (3, 4)]
    assert ev.compared == len(usable) and ev.no_gold == 1 and ev.unknown_gold == 1
    assert ev.accuracy == sum(gold[i] == predicted[i] for i in usable) / len(usable)
    assert f"Accuracy {ev.accuracy:.1%}" in window.evaluation.summary.text()
    assert any("'mixed'" in n for n in window.notices.texts())
    matrix = window.evaluation.matrix
    for g in range(3):
        for p in range(3):
            want = sum(gold[i] == LABELS[g] and predicted[i] == LABELS[p] for i in usable)
            assert matrix.item(g, p).text() == f"{want:,}"

    click_cell(matrix, 0, 2)  # gold negative, predicted positive
    want = [i for i in usable if gold[i] == "negative" and predicted[i] == "positive"]
    assert want and window.results.model.view.tolist() == want
    assert column(window, "label") == ["positive"] * len(want) and column(window, "gold") == ["negative"] * len(want)
    assert window.results.cell_filter.isVisible() and plural(len(want), "row") in window.results.cell_filter.text()

    matrix.setFocus()
    matrix.setCurrentCell(1, 1)
    QTest.keyClick(matrix, Qt.Key.Key_Return)  # the keyboard way
    want = [i for i in usable if gold[i] == "neutral" and predicted[i] == "neutral"]
    assert window.results.model.view.tolist() == want

    window.results.cell_filter.click()  # back to every row
    assert window.results.model.rowCount() == 400 and not window.results.cell_filter.isVisible()


def test_the_report_exports_with_provenance(qtbot, window, tiny_bundle, tmp_path) -> None:  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    texts = sentences(60, seed=32)
    window.add_inputs([str(gold_file(tmp_path, texts, expected_labels(tiny_bundle, texts)))], ask=False)
    run_and_wait(qtbot, window)
    out = tmp_path / "report.json"
    assert window.controller.write_report(out)
    data = json.loads(out.read_text())
    assert data["accuracy"] == 1.0 and data["compared"] == 60
    assert data["model"] == "tiny" and data["model_sha256"] == window.controller.card.sha256
    assert data["gold_column"] == "label"
    assert np.trace(np.array(data["confusion"]["counts"])) == 60


def test_without_gold_the_evaluation_says_how_to_get_one(qtbot, window, tiny_bundle) -> None:  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    window.input_panel.paste.setPlainText("i love this")
    run_and_wait(qtbot, window)
    assert window.controller.evaluation() is None
    assert "gold" in window.evaluation.summary.text() and window.evaluation.matrix.rowCount() == 0
    assert window.tabs.currentWidget() is not window.evaluation
    window.files.report()
    assert "no evaluation yet" in window.last_error
    window.dialog.done(0)

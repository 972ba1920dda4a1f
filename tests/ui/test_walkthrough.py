"""The new user's first minutes, on the embedded model, once by mouse and once by keyboard: launch, bring in a CSV
whose text column is not called "text" and which has a gold column, pick the column, run, read the accuracy, open
one confusion-matrix cell, sort by confidence, export."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog

from app.ui import visible_columns
from app.ui.dialogs import ColumnDialog

from .conftest import column, load
from .test_main_window import LABELS, drop

pytestmark = pytest.mark.slow


def feedback_csv(default_model: Path, tmp_path: Path, n: int = 120) -> tuple[Path, list[dict]]:
    with (default_model.parents[1] / "samples" / "tweets.csv").open(encoding="utf-8", newline="") as fh:
        tweets = list(csv.DictReader(fh))[:n]
    path = tmp_path / "feedback.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ticket", "comment", "sentiment"])
        writer.writerows([i, t["text"], t["gold"]] for i, t in enumerate(tweets))
    return path, tweets


def when_modal(kind: type, act: Callable, done: list) -> None:  # noqa: ANN001
    """Once a modal dialog of ``kind`` is up, call ``act(dialog)`` (from inside its event loop)."""

    def poll(tries: int = 200) -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, kind):
            act(dialog)
            done.append(dialog)
        elif tries:
            QTimer.singleShot(50, lambda: poll(tries - 1))

    QTimer.singleShot(0, poll)


def type_file_name(path: Path) -> Callable:
    """Name the file in the file dialog and press Enter. (``selectFile`` stands in for typing: under the offscreen
    platform the dialog's name box does not update its selection from synthetic key events.)"""

    def act(dialog: QFileDialog) -> None:
        dialog.selectFile(str(path))
        accept = dialog.findChild(QDialogButtonBox).buttons()[0]

        def enter(tries: int = 200) -> None:  # the dialog reads the folder in the background first
            if accept.isEnabled() or not tries:
                QTest.keyClick(dialog, Qt.Key.Key_Return)
            else:
                QTimer.singleShot(25, lambda: enter(tries - 1))

        enter()

    return act


def check_results(window, tweets: list[dict], out: Path) -> None:  # noqa: ANN001
    """The exported file has every row in input order; the accuracy shown is the agreement with the gold column."""
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["text"] for r in rows] == [t["text"] for t in tweets]
    assert all(r["label"] in LABELS for r in rows)
    agree = sum(r["label"] == t["gold"] for r, t in zip(rows, tweets, strict=True)) / len(rows)
    assert agree > 0.6  # held-out tweets: the model card reports 0.80 accuracy on its test split
    assert f"Accuracy {agree:.1%}" in window.evaluation.summary.text()


def test_the_walk_by_mouse(qtbot, window, default_model, tmp_path) -> None:  # noqa: ANN001
    window.resize(1280, 800)
    load(qtbot, window, default_model, timeout=60_000)
    path, tweets = feedback_csv(default_model, tmp_path)

    def pick(dialog: ColumnDialog) -> None:
        assert dialog.gold == "sentiment"  # found by its name and its values
        combo = dialog.combo
        combo.showPopup()
        view = combo.view()
        index = combo.model().index(combo.findText("comment"), 0)
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center())
        box = dialog.findChild(QDialogButtonBox)
        QTest.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)

    picked: list = []
    when_modal(ColumnDialog, pick, picked)
    drop(window, [path])
    assert picked and window.controller.inputs[0].gold.name == "sentiment"
    assert window.controller.inputs[0].source.header[window.controller.inputs[0].source.column_index] == "comment"

    with qtbot.waitSignal(window.controller.run_finished, timeout=120_000):
        QTest.mouseClick(window.input_panel.run_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.evaluation
    assert {"#", "Label", "Confidence", "Gold", "Text"} <= set(visible_columns(window.results.table))

    matrix = window.evaluation.matrix  # negative tweets read as neutral
    rect = matrix.visualRect(matrix.model().index(0, 1))
    QTest.mouseClick(matrix.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    want = [i for i, t in enumerate(tweets) if t["gold"] == "negative"
            and window.controller.store.label_of(i) == "neutral"]
    assert sorted(window.results.model.view.tolist()) == want
    assert set(column(window, "gold")) <= {"negative"} and set(column(window, "label")) <= {"neutral"}

    header = window.results.table.horizontalHeader()
    c = window.results.model.column("confidence")
    x = header.sectionViewportPosition(c) + header.sectionSize(c) // 2
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    confidences = [float(v) for v in column(window, "confidence")]
    assert confidences in (sorted(confidences), sorted(confidences, reverse=True))

    QTest.mouseClick(window.results.cell_filter, Qt.MouseButton.LeftButton)  # every row again
    assert window.results.model.rowCount() == len(tweets)
    out = tmp_path / "exported.csv"
    saved: list = []
    when_modal(QFileDialog, type_file_name(out), saved)
    with qtbot.waitSignal(window.controller.exported, timeout=30_000):
        QTest.mouseClick(window.results.export_button, Qt.MouseButton.LeftButton)
    assert saved
    check_results(window, tweets, out)


def test_the_walk_by_keyboard(qtbot, window, default_model, tmp_path) -> None:  # noqa: ANN001
    window.resize(1280, 800)
    load(qtbot, window, default_model, timeout=60_000)
    path, tweets = feedback_csv(default_model, tmp_path)
    window.activateWindow()

    def pick(dialog: ColumnDialog) -> None:
        combo = dialog.combo
        while combo.currentText() != "comment":
            QTest.keyClick(combo, Qt.Key.Key_Down)
        QTest.keyClick(dialog, Qt.Key.Key_Return)  # OK is the default button

    opened: list = []
    picked: list = []
    when_modal(QFileDialog, type_file_name(path), opened)
    QTimer.singleShot(0, lambda: when_modal(ColumnDialog, pick, picked))
    QTest.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)  # Import texts…
    assert opened and picked
    assert window.controller.inputs[0].gold.name == "sentiment"
    window.activateWindow()  # a desktop hands the focus back when a dialog closes; the offscreen platform does not
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)

    with qtbot.waitSignal(window.controller.run_finished, timeout=120_000):
        QTest.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    QTest.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)  # Evaluation, matrix focused
    matrix = window.evaluation.matrix
    assert window.tabs.currentWidget() is window.evaluation
    matrix.setCurrentCell(0, 0)
    QTest.keyClick(matrix, Qt.Key.Key_Right)  # gold negative → predicted neutral
    QTest.keyClick(matrix, Qt.Key.Key_Return)
    want = [i for i, t in enumerate(tweets) if t["gold"] == "negative"
            and window.controller.store.label_of(i) == "neutral"]
    assert sorted(window.results.model.view.tolist()) == want

    sort = next(a for a in window.actions() if a.text().replace("&", "").startswith("Sort by confidence"))
    assert sort.shortcut().toString() == "Ctrl+Shift+C"
    QTest.keyClick(window, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    confidences = [float(v) for v in column(window, "confidence")]
    assert confidences == sorted(confidences, reverse=True)

    out = tmp_path / "exported.csv"
    saved: list = []
    when_modal(QFileDialog, type_file_name(out), saved)
    with qtbot.waitSignal(window.controller.exported, timeout=30_000):
        QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert saved
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["text"] for r in rows] == [t["text"] for t in tweets]  # the export has every row, filtered or not
    check_results(window, tweets, out)

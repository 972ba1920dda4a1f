"""What a person sees, measured in pixels: columns inside the viewport, a status message with width, splitters
that keep the Run controls, a model dock without a horizontal scrollbar, a window no larger than the screen."""

from __future__ import annotations

import csv
import re

import pytest
from builders import make_bundle
from PySide6.QtWidgets import QApplication

from app.ui import visible_columns
from app.ui.main_window import MainWindow

from .conftest import load, run_and_wait, slow_down
from .test_main_window import sentences


def columns_inside(win: MainWindow) -> list[str]:
    return visible_columns(win.results.table)


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_label_and_confidence_are_inside_the_table_at_common_screen_sizes(qtbot, window, tiny_bundle, tmp_path,
                                                                        size) -> None:  # noqa: ANN001
    window.resize(*size)
    load(qtbot, window, tiny_bundle[0])
    path = tmp_path / "with-gold.csv"
    texts = sentences(50, seed=11)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label"])
        w.writerows([i, t, "positive"] for i, t in enumerate(texts))
    assert window.add_inputs([str(path)], ask=False) == 1
    run_and_wait(qtbot, window)
    qtbot.waitUntil(lambda: window.results.table.viewport().width() > 0)
    shown = columns_inside(window)
    for name in ("#", "Label", "Confidence", "Gold", "Text"):
        assert name in shown, f"{name} is not fully inside the table at {size}: {shown}"
    table = window.results.table
    text = window.results.model.column("text")
    assert table.horizontalHeader().sectionSize(text) >= 120  # the text gets real room, and elides
    assert table.horizontalScrollBar().maximum() == 0
    assert window.results.isVisible() and window.results.height() > window.input_panel.height()


def test_the_status_message_has_width_and_shows_text(qtbot, window, tiny_bundle) -> None:  # noqa: ANN001
    window.resize(1280, 800)
    load(qtbot, window, tiny_bundle[0])
    window.input_panel.paste.setPlainText("\n".join(sentences(20)))
    run_and_wait(qtbot, window)
    status = window.status
    assert status.isVisible() and status.width() > 300
    assert status.full_text().startswith("Done: 20 rows")
    assert status.text()  # what is drawn (elided to the width) is not empty
    assert status.geometry().right() <= window.statusBar().width()
    window.controller.run([])  # nothing to score: an error, in the same place, in red
    assert status.is_error and "nothing to score" in status.full_text()
    window.dialog.done(0)


def test_a_first_start_opens_within_the_screen(qtbot, settings) -> None:  # noqa: ANN001
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    free = QApplication.primaryScreen().availableGeometry()
    assert win.width() <= free.width() and win.height() <= free.height()


def test_splitters_keep_the_input_and_run_controls(qtbot, window) -> None:  # noqa: ANN001
    window.resize(1280, 800)
    window.main_split.setSizes([0, 5000, 5000])  # a user drags the input away
    QApplication.processEvents()
    ip = window.input_panel
    assert ip.height() >= ip.minimumHeight() > 0
    run = ip.run_button
    assert run.isVisible() and run.height() >= run.sizeHint().height() - 2
    assert run.mapTo(window, run.rect().bottomLeft()).y() < window.results.mapTo(window, window.results.rect()
                                                                               .topLeft()).y() + 1
    window.main_split.setSizes([5000, 5000, 0])
    assert window.tabs.height() >= window.tabs.minimumHeight() > 0


def test_the_model_dock_needs_no_horizontal_scrollbar(qtbot, window, tmp_path) -> None:  # noqa: ANN001
    window.resize(1280, 800)
    deep = tmp_path / ("a-rather-long-folder-name-that-people-really-use-" * 3) / "sentiment-model-final-v2-export"
    make_bundle(deep)
    load(qtbot, window, deep)
    QApplication.processEvents()
    scroll = window.model_dock.widget()
    assert scroll.horizontalScrollBar().maximum() == 0
    assert window.model_panel.width() <= scroll.viewport().width()
    path = window.model_panel.path
    assert path.full_text() == str(deep / "model.onnx") and "…" in path.text()  # elided, whole path in the tooltip
    assert path.toolTip() == str(deep / "model.onnx")


def test_a_file_run_shows_a_total_and_the_time_left(qtbot, window, tiny_bundle, tmp_path) -> None:  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    window.model_panel.max_batch.setValue(8)
    slow_down(window.controller.clf, 0.01)
    path = tmp_path / "many.txt"
    path.write_text("\n".join(sentences(3000, seed=12)) + "\n", encoding="utf-8")
    window.add_inputs([str(path)], ask=False)
    seen: list[str] = []
    window.controller.progress.connect(lambda p: seen.append(p.text()))
    with qtbot.waitSignal(window.controller.run_finished, timeout=60_000):
        window.run()
        qtbot.waitUntil(lambda: any(re.search(r"left$", s) for s in seen), timeout=30_000)
        text = window.input_panel.progress_text()
        assert re.fullmatch(r"[\d,]+ / 3,000 rows · [\d,]+ texts/s · (\d+ s|\d+ min \d\d s) left", text), text
        assert window.input_panel.progress.maximum() == 3000
        window.controller.cancel()
    assert seen[0] == "0 / 3,000 rows · 0 texts/s"  # the run started from zero


def test_a_new_run_starts_from_zero(qtbot, window, tiny_bundle) -> None:  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    window.input_panel.paste.setPlainText("\n".join(sentences(40)))
    run_and_wait(qtbot, window)
    assert window.input_panel.progress.value() == 40
    window.input_panel.paste.setPlainText("\n".join(sentences(10)))
    first = []
    window.controller.progress.connect(lambda p: first.append((p.done, p.total)) if not first else None)
    run_and_wait(qtbot, window)
    assert first == [(0, 10)]
    assert window.input_panel.progress.value() == 10 and window.input_panel.progress.maximum() == 10

"""The desktop window, driven the way a user drives it: load, paste, drop, run, cancel, filter, export, settings."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
from builders import WORDS, make_bundle, reference_logits, token_ids
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from app.ui import settings as keys
from app.ui.main_window import MainWindow

from .conftest import column, load, run_and_wait, slow_down

LABELS = ("negative", "neutral", "positive")


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 20))) for _ in range(n)]


def expected_labels(bundle, texts: list[str]) -> list[str]:  # noqa: ANN001
    _, weights, tok = bundle
    logits = reference_logits(weights, token_ids(tok, texts))
    return [LABELS[i] for i in logits.argmax(axis=1)]


def drop(target, paths: list[Path]) -> None:  # noqa: ANN001
    """A real drag-enter + drop of file URLs on ``target``."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(target.width() / 2, target.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted(), "the drag was refused"
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, event)


# ---------------------------------------------------------------------------------------------- model
def test_loads_a_model_and_shows_what_it_is(qtbot, window, tiny_bundle):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    assert window.controller.clf is not None
    card = window.model_panel.card.text()
    for needle in ("negative, neutral, positive", "input_ids", "attention_mask", "logits"):
        assert needle in card
    assert "CPU" in window.model_panel.provider_state.text()
    assert "tiny" in window.windowTitle()


def test_a_bad_model_shows_a_dialog_and_the_window_keeps_working(qtbot, window, tiny_bundle, tmp_path):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "model.onnx").write_bytes(b"this is not a protobuf" * 10)
    (bad / "tokenizer.json").write_text((tiny_bundle[0] / "tokenizer.json").read_text())
    load(qtbot, window, bad)
    assert window.dialog is not None and window.dialog.isVisible()
    assert "ONNX" in window.dialog.text() or "onnx" in window.dialog.text()
    assert window.last_error and window.status.is_error and window.status.text()
    clf = window.controller.clf
    assert clf is not None and clf.bundle.root == tiny_bundle[0]  # the old model stays in use
    assert "still in use" in window.model_panel.state.text()
    window.dialog.done(QMessageBox.StandardButton.Ok)
    texts = sentences(20)
    window.input_panel.paste.setPlainText("\n".join(texts))
    outcome = run_and_wait(qtbot, window)
    assert not outcome.cancelled
    assert column(window, "label") == expected_labels(tiny_bundle, texts)
    assert not window.status.is_error  # the next success clears the error


# ---------------------------------------------------------------------------------------------- scoring
def test_pasted_texts_are_scored_in_order_with_labels(qtbot, window, tiny_bundle):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    texts = sentences(300, seed=1)
    window.input_panel.paste.setPlainText("\n".join(texts))
    outcome = run_and_wait(qtbot, window)
    assert outcome.rows == len(texts) and not outcome.cancelled
    assert window.results.model.rowCount() == len(texts)
    assert column(window, "text") == texts
    assert column(window, "label") == expected_labels(tiny_bundle, texts)
    assert window.input_panel.progress.value() == len(texts)
    store = window.controller.store
    assert window.results.counts.counts == store.counts()
    assert sum(store.counts().values()) == len(texts)
    assert window.input_panel.progress_text().startswith("Done: 300 rows")


def test_ctrl_enter_runs_and_the_keyboard_reaches_every_action(qtbot, window, tiny_bundle):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    window.input_panel.paste.setPlainText("i love this\nawful")
    window.activateWindow()
    window.input_panel.paste.setFocus()
    with qtbot.waitSignal(window.controller.run_finished, timeout=30_000):
        qtbot.keyClick(window.input_panel.paste, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.results.model.rowCount() == 2
    shortcuts = {a.text().replace("&", ""): a.shortcut().toString() for a in window.actions()}
    assert shortcuts["Cancel"] == "Esc"
    assert shortcuts["Import texts…"] == "Ctrl+I"
    assert shortcuts["Export results…"] == "Ctrl+S"
    assert shortcuts["Open model folder…"] == "Ctrl+O"
    assert shortcuts["Quick classify"] == "Ctrl+L"
    assert shortcuts["Evaluation"] == "Ctrl+E"


def test_a_dropped_csv_is_imported_and_scored(qtbot, window, tiny_bundle, tmp_path):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    texts = sentences(120, seed=2)
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "stars"])
        writer.writerows([i, t, 3] for i, t in enumerate(texts))
    drop(window, [path])
    inputs = window.controller.inputs
    assert inputs and inputs[0].source.path == path and inputs[0].rows == len(texts) and inputs[0].gold is None
    outcome = run_and_wait(qtbot, window)
    assert outcome.rows == len(texts)
    assert column(window, "text") == texts
    assert column(window, "label") == expected_labels(tiny_bundle, texts)
    assert window.controller.store.sources == ["reviews.csv"]


def test_files_dropped_on_the_text_box_are_imported_not_pasted(qtbot, window, tiny_bundle, tmp_path):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a.txt").write_text("i love this\nthe worst day\n", encoding="utf-8")
    (folder / "b.jsonl").write_text(json.dumps({"text": "so happy"}) + "\n", encoding="utf-8")
    (folder / "notes.pdf").write_bytes(b"%PDF")
    drop(window.input_panel.paste.viewport(), [folder])
    assert window.input_panel.paste.toPlainText() == ""
    assert [i.source.name for i in window.controller.inputs] == ["a.txt", "b.jsonl"]
    assert "notes.pdf" in (window.last_error or "")  # skipped, and said so
    window.dialog.done(0)
    run_and_wait(qtbot, window)
    assert column(window, "text") == ["i love this", "the worst day", "so happy"]


def test_dropping_a_model_folder_loads_it(qtbot, window, tiny_bundle, tmp_path):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    other, _, _ = make_bundle(tmp_path / "other-model", labels=("spam", "ham"))
    with qtbot.waitSignal(window.controller.model_settled, timeout=30_000):
        drop(window, [other])
    assert window.controller.clf.labels == ("spam", "ham")
    window.input_panel.paste.setPlainText("spam spam\nham")
    run_and_wait(qtbot, window)
    assert window.results.model.columnCount() == 4 + 2 + 1  # #, label, confidence, text, 2 scores, note


def test_cancel_mid_run_keeps_finished_results_which_export(qtbot, window, tiny_bundle, tmp_path):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    window.model_panel.max_batch.setValue(8)
    slow_down(window.controller.clf, 0.01)
    texts = sentences(5000, seed=3)
    window.input_panel.paste.setPlainText("\n".join(texts))
    store = None
    with qtbot.waitSignal(window.controller.run_finished, timeout=60_000) as blocker:
        window.run()
        store = window.controller.store
        qtbot.waitUntil(lambda: len(store) > 0, timeout=30_000)
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    outcome = blocker.args[0]
    assert outcome.cancelled
    labelled = np.flatnonzero(store.label_idx >= 0)
    assert 0 < len(labelled) < len(texts)
    expected = expected_labels(tiny_bundle, texts)
    assert all(store.label_of(i) == expected[i] for i in labelled.tolist())
    # a cancelled run says so, and does not look like success
    assert window.input_panel.progress_text() == f"Cancelled at {len(labelled):,} of {len(texts):,} rows"
    assert window.status.full_text().startswith(f"Cancelled at {len(labelled):,} of {len(texts):,} rows")
    out = tmp_path / "partial.csv"
    window.write_results(out)
    qtbot.waitUntil(lambda: out.exists(), timeout=30_000)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == len(store)
    assert sum(1 for r in rows if r["label"]) == len(labelled)
    assert {r["error"] for r in rows if not r["label"]} == {"not scored"}


def test_closing_the_window_mid_run_stops_cleanly(qtbot, settings, tiny_bundle):  # noqa: ANN001
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    load(qtbot, win, tiny_bundle[0])
    win.model_panel.max_batch.setValue(4)
    slow_down(win.controller.clf, 0.01)
    win.input_panel.paste.setPlainText("\n".join(sentences(3000, seed=4)))
    win.run()
    qtbot.waitUntil(lambda: len(win.controller.store) > 0, timeout=30_000)
    threads = list(win.controller.threads)
    win.close()
    assert all(not t.isRunning() for t in threads)
    assert len(win.controller.store) > 0  # finished results are still there


def test_a_run_with_nothing_to_score_says_what_to_do(qtbot, window, tiny_bundle):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    window.run()
    assert "Paste texts" in window.last_error
    assert window.dialog.isVisible()


# ---------------------------------------------------------------------------------------------- results
def test_filter_search_sort_and_copy(qtbot, window, tiny_bundle):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    texts = sentences(400, seed=5)
    window.input_panel.paste.setPlainText("\n".join(texts))
    run_and_wait(qtbot, window)
    expected = expected_labels(tiny_bundle, texts)
    panel = window.results
    panel.label_box.setCurrentIndex(panel.label_box.findText("positive"))
    shown = column(window, "label")
    assert shown and set(shown) == {"positive"} and len(shown) == expected.count("positive")
    panel.label_box.setCurrentIndex(0)
    panel.search.setText("love")
    panel.apply_filter()
    assert column(window, "text") == [t for t in texts if "love" in t]
    panel.search.setText("")
    panel.apply_filter()
    panel.table.sortByColumn(panel.model.column("confidence"), Qt.SortOrder.DescendingOrder)
    conf = [float(x) for x in column(window, "confidence")]
    assert conf == sorted(conf, reverse=True) and len(conf) == len(texts)
    panel.table.selectRow(0)
    panel.copy_selection()
    copied = QGuiApplication.clipboard().text().splitlines()
    assert copied[0].startswith("text\tlabel\tconfidence") and len(copied) == 2
    assert abs(float(copied[1].split("\t")[2]) - conf[0]) <= 5e-4  # the table shows 3 decimals, the copy 4


def test_quick_classify_answers_as_you_type(qtbot, window, tiny_bundle):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    window.input_panel.quick.setText("the worst awful day")
    want = expected_labels(tiny_bundle, ["the worst awful day"])[0]
    qtbot.waitUntil(lambda: want in window.input_panel.quick_result.text(), timeout=10_000)
    window.input_panel.quick.setText("")
    qtbot.waitUntil(lambda: window.input_panel.quick_result.text() == "", timeout=10_000)


def test_dashboard_draws_every_batch_and_reports_percentiles(qtbot, window, tiny_bundle):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    window.model_panel.max_batch.setValue(16)
    window.input_panel.paste.setPlainText("\n".join(sentences(200, seed=6)))
    run_and_wait(qtbot, window)
    window.build_plots()
    window.dashboard.refresh(full=True)
    batches = window.controller.clf.stats.summary().batches
    assert batches >= 200 // 16
    assert sum(len(item.points()) for item in window.dashboard.plots.scatters) == batches
    assert "p50" in window.dashboard.readout.text() and "texts/s" in window.dashboard.readout.text()
    window.dashboard.reset()
    assert sum(len(item.points()) for item in window.dashboard.plots.scatters) == 0


def test_sweep_fills_table_and_exports(qtbot, window, tiny_bundle, tmp_path):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    sweep = window.sweep
    sweep.batches.setText("1, 4")
    sweep.lengths.setText("8, 16")
    sweep.repeats.setValue(2)
    sweep.run_button.click()
    qtbot.waitUntil(lambda: sweep.run_button.isEnabled(), timeout=60_000)
    assert sweep.table.rowCount() == 4
    assert all(not p.error and p.p50_ms > 0 for p in sweep.points)
    assert all(sweep.table.item(r, 3).text() for r in range(4))
    out = tmp_path / "sweep.json"
    window.controller.write_sweep(out, sweep.points)
    data = json.loads(out.read_text())
    assert [(p["batch_size"], p["seq_len"]) for p in data["points"]] == [(1, 8), (4, 8), (1, 16), (4, 16)]


def test_sweep_input_errors_are_sentences(qtbot, window, tiny_bundle):  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    window.sweep.batches.setText("one, two")
    window.sweep.run_button.click()
    assert "whole numbers" in window.last_error


# ---------------------------------------------------------------------------------------------- settings
def test_settings_round_trip(qtbot, settings, tiny_bundle):  # noqa: ANN001
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.show()
    load(qtbot, first, tiny_bundle[0])
    first.model_panel.max_batch.setValue(7)
    first.model_panel.max_tokens.setValue(4096)
    first.model_panel.set_provider("cpu")
    first.resize(first.minimumSizeHint().width() + 31, 503)
    size = first.size()
    first.tabs.setCurrentIndex(1)
    first.close()
    assert first.settings.get(keys.LAST_INPUT_DIR) == ""  # nothing was imported: the folder is not remembered

    second = MainWindow(settings)
    qtbot.addWidget(second)
    mp = second.model_panel
    assert (mp.max_batch.value(), mp.max_tokens.value()) == (7, 4096)
    assert mp.provider_value == "cpu"
    assert second.tabs.currentIndex() == 1
    assert second.size().height() == size.height()  # (the offscreen screen is 800 px wide, which caps width)
    assert [a.text() for a in mp.recent_menu.actions()] == [str(tiny_bundle[0])]
    second.close()

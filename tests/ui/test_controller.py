"""The run controller: a run's rows all come from one model, every run gets a fresh store, folders are remembered
only on success, and the window-free controller is usable on its own."""

from __future__ import annotations

import numpy as np
from builders import make_bundle

from app.ui import settings as keys
from app.ui.controller import RunController

from .conftest import load, run_and_wait, slow_down
from .test_main_window import expected_labels, sentences


def test_a_model_load_during_a_run_waits_for_the_run_and_leaves_its_results_alone(qtbot, window, tiny_bundle,
                                                                                  tmp_path) -> None:  # noqa: ANN001
    c = window.controller
    load(qtbot, window, tiny_bundle[0])
    first = c.clf
    other, _, _ = make_bundle(tmp_path / "spam-model", labels=("spam", "ham"))
    window.model_panel.max_batch.setValue(8)
    slow_down(first, 0.01)
    texts = sentences(600, seed=21)
    window.input_panel.paste.setPlainText("\n".join(texts))
    messages: list[str] = []
    c.message.connect(messages.append)
    with qtbot.waitSignal(c.run_finished, timeout=60_000):
        window.run()
        store = c.store
        qtbot.waitUntil(lambda: len(store) > 0, timeout=30_000)
        window.load_model(str(other))  # asked for mid-run
        assert c.clf is first and not c.loading
        assert any("will load when this run ends" in m for m in messages)
    with qtbot.waitSignal(c.model_settled, timeout=30_000):
        pass  # the queued load starts once the run has ended
    assert c.clf is not first and c.clf.labels == ("spam", "ham")
    # the run's results: every row, all from the first model, in the store the run began with
    assert c.store is store and store.labels == ("negative", "neutral", "positive")
    assert len(store) == len(texts) and (store.label_idx >= 0).all()
    assert [store.label_of(i) for i in range(len(texts))] == expected_labels(tiny_bundle, texts)
    assert window.results.model.store is store
    assert "tiny" in window.results.provenance.full_text()
    # the next run is the new model's, in a new store
    window.input_panel.paste.setPlainText("spam\nham")
    run_and_wait(qtbot, window)
    assert c.store is not store and c.store.labels == ("spam", "ham")
    assert "spam-model" in window.results.provenance.full_text()


def test_provenance_names_the_model_its_hash_provider_and_weights(qtbot, window, tiny_bundle) -> None:  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    window.input_panel.paste.setPlainText("i love this")
    run_and_wait(qtbot, window)
    card = window.controller.card
    p = window.controller.provenance
    assert (p.model, p.sha256, p.device, p.quantization) == (card.name, card.sha256, card.device, card.quantization)
    shown = window.results.provenance.full_text()
    for part in (card.name, card.short_hash, card.device, card.quantization):
        assert part in shown


def test_clearing_or_importing_is_refused_during_a_run(qtbot, window, tiny_bundle, tmp_path) -> None:  # noqa: ANN001
    c = window.controller
    load(qtbot, window, tiny_bundle[0])
    slow_down(c.clf, 0.01)
    window.model_panel.max_batch.setValue(4)
    window.input_panel.paste.setPlainText("\n".join(sentences(800, seed=22)))
    extra = tmp_path / "more.txt"
    extra.write_text("more text\n", encoding="utf-8")
    with qtbot.waitSignal(c.run_finished, timeout=60_000):
        window.run()
        store = c.store
        qtbot.waitUntil(lambda: len(store) > 0, timeout=30_000)
        c.clear_results()
        assert c.store is store and "cancel it first" in window.last_error
        window.dialog.done(0)
        assert window.add_inputs([str(extra)], ask=False) == 0 and "when it ends" in window.last_error
        window.dialog.done(0)
        c.cancel()


def test_the_last_folders_change_only_on_success(qtbot, window, tiny_bundle, tmp_path) -> None:  # noqa: ANN001
    s = window.settings
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    assert window.add_inputs([str(bad / "empty.txt")], ask=False) == 0
    assert s.get(keys.LAST_INPUT_DIR) == ""
    window.dialog.done(0)
    good = tmp_path / "good"
    good.mkdir()
    (good / "texts.txt").write_text("i love this\n", encoding="utf-8")
    assert window.add_inputs([str(good / "texts.txt")], ask=False) == 1
    assert s.get(keys.LAST_INPUT_DIR) == str(good)
    load(qtbot, window, tiny_bundle[0])
    run_and_wait(qtbot, window)
    window.write_results(tmp_path / "missing-folder" / "out.csv")  # fails: the folder does not exist
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=10_000)
    assert s.get(keys.LAST_EXPORT_DIR) == ""
    window.dialog.done(0)
    out = tmp_path / "exports" / "out.csv"
    out.parent.mkdir()
    with qtbot.waitSignal(window.controller.exported, timeout=10_000):
        window.write_results(out)
    assert s.get(keys.LAST_EXPORT_DIR) == str(out.parent)


def test_the_controller_runs_without_a_window(qtbot, tiny_bundle) -> None:  # noqa: ANN001
    c = RunController()
    with qtbot.waitSignal(c.model_settled, timeout=30_000):
        c.load_model(str(tiny_bundle[0]))
    texts = sentences(30, seed=23)
    with qtbot.waitSignal(c.run_finished, timeout=30_000):
        assert c.run(texts)
    assert [c.store.label_of(i) for i in range(30)] == expected_labels(tiny_bundle, texts)
    assert c.last_progress.state == "done" and c.last_progress.text() == f"Done: 30 rows · {c.last_progress.rate:,.0f} texts/s"
    assert np.isfinite(c.last_progress.rate)
    c.shutdown()

"""The reliability catalogue through the desktop window: an error dialog with the sentence, and the window still
scores afterwards; or the correct result with the problems reported (tests/reliability/catalogue.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QDialog
from reliability.catalogue import CASES, GOOD_TEXTS, Refusal, Result, good_input

from .conftest import load, run_and_wait


def still_usable(qtbot, window) -> None:  # noqa: ANN001
    window.controller.clear_inputs()
    window.input_panel.paste.setPlainText("\n".join(GOOD_TEXTS))
    outcome = run_and_wait(qtbot, window)
    store = window.controller.store
    assert not outcome.cancelled and len(store) == len(GOOD_TEXTS)
    assert (store.label_idx >= 0).all()


class FakeChooser:
    offered: list[list[str]] = []

    def __init__(self, path, names, rows, text_guess=None, gold_guess=None, parent=None) -> None:  # noqa: ANN001
        FakeChooser.offered.append(list(names))

    def exec(self) -> int:
        return QDialog.DialogCode.Rejected


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_catalogue_case_in_the_window(case, qtbot, window, shared_bundle, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr("app.ui.main_window.ColumnDialog", FakeChooser)
    FakeChooser.offered = []
    setup = case.build(tmp_path)
    load(qtbot, window, shared_bundle[0])
    good = window.controller.clf
    if setup.model is not None:
        load(qtbot, window, setup.model)
    expect = case.expect
    if case.stage == "load":
        assert isinstance(expect, Refusal)
        assert window.dialog is not None and window.dialog.isVisible()
        for fragment in expect.says:
            assert fragment in window.last_error
        assert expect.advice in window.last_error
        assert window.controller.clf is good  # the previous model stays in use
        window.dialog.done(0)
        still_usable(qtbot, window)
        return
    inputs = [str(p) for p in (setup.inputs or (good_input(tmp_path),))]
    added = window.add_inputs(inputs, ask=False, column=setup.column)
    if case.id == "csv-no-text-column":  # the window asks which column instead of refusing
        assert FakeChooser.offered == [["id", "headline"]] and added == 0
        still_usable(qtbot, window)
        return
    if case.stage == "open":
        assert isinstance(expect, Refusal) and added == 0
        assert window.dialog.isVisible()
        for fragment in expect.says:
            assert fragment in window.last_error
        window.dialog.done(0)
        still_usable(qtbot, window)
        return
    window.last_error = None
    if window.dialog is not None:
        window.dialog.done(0)
    told_on_open = window.status.full_text() if window.status.is_error else ""
    outcome = run_and_wait(qtbot, window)
    told = " ".join([*window.notices.texts(), window.last_error or "", told_on_open])
    store = window.controller.store
    if isinstance(expect, Refusal):  # stops while running: a dialog, and the window still works
        assert window.dialog.isVisible()
        for fragment in expect.says:
            assert fragment in window.last_error
        assert len(store) > 0 or expect.rows == 0  # the rows read so far are kept, marked failed
        window.dialog.done(0)
        load(qtbot, window, shared_bundle[0])
        still_usable(qtbot, window)
        return
    assert isinstance(expect, Result) and not outcome.cancelled
    assert len(store) == expect.rows
    failed = np.flatnonzero(store.label_idx < 0).tolist()
    assert failed == list(expect.failed)
    for fragment in expect.reported:
        assert fragment.removeprefix("skipped ") in told

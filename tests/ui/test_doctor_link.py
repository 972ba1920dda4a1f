"""The model panel links to ``sieve doctor``'s report (issue 16): built on a worker thread, on the loaded model."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtWidgets import QScrollArea

from .conftest import load


def test_the_gpu_setup_link_shows_the_doctor_report_for_the_loaded_model(qtbot, window, tiny_bundle,
                                                                        monkeypatch) -> None:  # noqa: ANN001
    from app.engine import doctor

    load(qtbot, window, tiny_bundle[0])
    panel = window.model_panel
    link = panel.doctor_link
    assert link.isVisibleTo(window) and "sieve doctor" in link.text()
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() <= 1280)
    viewport = window.model_dock.findChild(QScrollArea, "modelScroll").viewport()
    assert panel.width() <= viewport.width()  # the dock never scrolls sideways, so nothing may be wider than it
    state = panel.provider_state
    qtbot.wait(200)  # let the dock's layout settle at the new size
    assert state.height() >= state.heightForWidth(state.width())  # every line of the CUDA reason is shown
    assert link.geometry().top() >= state.geometry().bottom()  # and the link sits under it, not on it

    ran_on: list[str] = []
    real = doctor.run_doctor

    def spy(model=None, probes=None):  # noqa: ANN001, ANN202
        ran_on.append(threading.current_thread().name)
        return real(model, probes)

    monkeypatch.setattr(doctor, "run_doctor", spy)
    with qtbot.waitSignal(window.controller.doctor_report, timeout=60_000) as got:
        link.linkActivated.emit("doctor")
        assert not window.controller.check_gpu_setup()  # a second click while one runs starts nothing
    report = got.args[0]
    assert ran_on and ran_on[0] != threading.main_thread().name
    assert Path(report.model).parent == tiny_bundle[0]  # the test session ran the loaded model, not the embedded one
    qtbot.waitUntil(lambda: getattr(window, "doctor_dialog", None) is not None and window.doctor_dialog.isVisible())
    dialog = window.doctor_dialog
    assert dialog.report.toPlainText() == "\n".join(report.lines())
    assert dialog.verdict.text() == report.verdict
    assert dialog.width() <= window.screen().availableGeometry().width()
    assert dialog.copy_fixes.isEnabled() == bool(report.fixes)
    if report.fixes:
        dialog.copy_fixes.click()
        from PySide6.QtGui import QGuiApplication

        assert QGuiApplication.clipboard().text() == "\n".join(report.fixes)
    assert window.status.full_text() == report.verdict
    dialog.close()

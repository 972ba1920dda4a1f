"""GUI fixtures: a main window with throw-away settings, and helpers that wait on its signals."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QSettings  # noqa: E402

from app.ui.main_window import MainWindow  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def gui_thread_collector(qapp):  # noqa: ANN001, ANN201
    """Garbage collection on the GUI thread only, as the app sets it up (``app.ui.tune_process``): without it a
    collection on a worker thread can reach a closed test window and hang in its destructor."""
    from app.ui.collector import collect_on_gui_thread

    collector = collect_on_gui_thread()
    yield collector


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "sieve.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):  # noqa: ANN001, ANN201
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def load(qtbot, win: MainWindow, path: Path | str, timeout: int = 30_000) -> None:  # noqa: ANN001
    with qtbot.waitSignal(win.controller.model_settled, timeout=timeout):
        win.load_model(str(path))


def run_and_wait(qtbot, win: MainWindow, timeout: int = 60_000):  # noqa: ANN001, ANN201
    with qtbot.waitSignal(win.controller.run_finished, timeout=timeout) as blocker:
        win.run()
    return blocker.args[0]


def column(win: MainWindow, kind: str) -> list[str]:
    """The shown values of one results column (``"text"``, ``"label"``, ``"confidence"``, ``"gold"``…)."""
    model = win.results.model
    c = model.column(kind)
    return [model.data(model.index(r, c)) for r in range(model.rowCount())]


def slow_down(clf, seconds: float) -> None:  # noqa: ANN001
    """Make every batch take at least ``seconds`` (so a test can act mid-run)."""
    real = clf.session.run

    def run(feeds):  # noqa: ANN001, ANN202
        time.sleep(seconds)
        return real(feeds)

    clf.session.run = run

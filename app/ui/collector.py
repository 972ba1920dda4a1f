"""The cyclic garbage collector runs on the GUI thread only, while the window lives.

CPython starts a collection on whichever thread happens to allocate when a generation's threshold trips. If that
collection frees a Qt object that sat in a reference cycle (a closed window, a dialog, a menu), its C++ destructor
runs on that thread: Qt forbids destroying widgets off the GUI thread, and PySide's destructor then waits for a GIL
that the collecting thread itself holds. The process hangs. Seen in the test suite: a model-loader thread parsing
config.json ran a collection that reached an earlier test's window, and stopped inside ``QMenu::~QMenu`` waiting
for the GIL. So automatic collection is switched off and a timer on the GUI thread collects instead, generation by
generation with CPython's own thresholds (the scheme pyqtgraph's ``GarbageCollector`` uses; written here so the
window does not import pyqtgraph before its first frame).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

CHECK_INTERVAL_MS = 500  # garbage cycles wait at most this long; the check itself is a few microseconds


class GuiThreadCollector(QObject):
    """Create it on the GUI thread; :meth:`stop` gives collection back to the interpreter."""

    def __init__(self, interval_ms: int = CHECK_INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.was_enabled = gc.isenabled()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect)
        self.timer.start(interval_ms)

    def collect(self) -> int:
        """Collect the generations whose counts passed their thresholds, as the interpreter would; objects freed."""
        c0, c1, c2 = gc.get_count()
        t0, t1, t2 = self.thresholds
        if c0 <= t0:
            return 0
        generation = 2 if c1 > t1 and c2 > t2 else 1 if c1 > t1 else 0
        return gc.collect(generation)

    def stop(self) -> None:
        self.timer.stop()
        if self.was_enabled:
            gc.enable()


_collector: GuiThreadCollector | None = None


def collect_on_gui_thread() -> GuiThreadCollector:
    """Install the process's one collector (idempotent). Call from the GUI thread once a QApplication exists."""
    global _collector
    if _collector is None:
        _collector = GuiThreadCollector()
    return _collector

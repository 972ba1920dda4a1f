"""A watchdog for the GUI benchmarks (``desktop.py``, ``serve_tab.py``): where was the GUI thread when a beat came late?

Imports nothing of Sieve's, so a benchmark can use it while it runs another checkout's window (``--ref``).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from pathlib import Path


class StallWatchdog:
    """A thread that notes where the GUI thread is whenever a heartbeat is ``late_ms`` late: inside our Python code
    (a redraw, a chunk handler) or in Qt's C++ (painting, or waiting for the GIL before calling back into Python).

    ``beats`` is the list the heartbeat appends its ``clock.elapsed()`` readings to (ms); ``samples`` collects
    ``{"at_s", "late_ms", "where"}``, once per late beat.
    """

    def __init__(self, beats: list[float], clock, depth: int = 4, late_ms: float = 30.0) -> None:  # noqa: ANN001
        self.beats, self.clock, self.depth, self.late_ms = beats, clock, depth, late_ms
        self.samples: list[dict] = []
        self._main = threading.main_thread().ident
        self._watching = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stall-watchdog", daemon=True)

    def start(self) -> None:
        self._watching.set()
        self._thread.start()

    def stop(self) -> None:
        self._watching.clear()

    def _watch(self) -> None:
        sampled_for = -1.0
        while self._watching.is_set():
            time.sleep(0.002)
            if not self.beats:
                continue
            last = self.beats[-1]
            late = self.clock.elapsed() - last
            if late > self.late_ms and sampled_for != last:
                sampled_for = last
                frame = sys._current_frames().get(self._main)
                stack = traceback.extract_stack(frame)[-self.depth:] if frame is not None else []
                self.samples.append({"at_s": round(last / 1000.0, 2), "late_ms": late,
                                     "where": [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack]})

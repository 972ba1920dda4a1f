"""The QThread workers run below the GUI thread's CPU priority, so a busy machine still paints the window."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from app.ui import workers


class Probe(workers._Worker):
    def __init__(self) -> None:
        super().__init__()
        self.nice: int | None = None

    def work(self) -> None:
        self.nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are a Linux feature")
@pytest.mark.parametrize("setting", ["default", "normal"])
def test_workers_run_at_background_priority(qtbot, monkeypatch, setting):  # noqa: ANN001
    if setting == "normal":
        monkeypatch.setenv("SIEVE_WORKER_PRIORITY", "normal")
    else:
        monkeypatch.delenv("SIEVE_WORKER_PRIORITY", raising=False)
    gui_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    probe = Probe()
    with qtbot.waitSignal(probe.finished, timeout=10_000):
        thread = workers.start(probe, "probe")
    qtbot.waitUntil(lambda: thread.isFinished(), timeout=10_000)
    assert probe.nice is not None
    if setting == "normal":
        assert probe.nice == gui_nice
    else:
        assert probe.nice == min(19, gui_nice + workers.BACKGROUND_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == gui_nice  # the GUI thread is untouched

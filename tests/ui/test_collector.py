"""Garbage cycles are collected on the GUI thread, never on a worker that happens to allocate (``collector.py``)."""

from __future__ import annotations

import gc
import threading
import weakref


class Node:
    pass


def test_a_cycle_dropped_while_a_worker_allocates_is_collected_on_the_gui_thread(qtbot, gui_thread_collector) -> None:  # noqa: ANN001
    assert gui_thread_collector.timer.isActive()
    freed_on: list[str] = []
    cycle = Node()
    cycle.me = cycle  # only the cyclic collector can free it
    weakref.finalize(cycle, lambda: freed_on.append(threading.current_thread().name))
    del cycle

    kept: list = []

    def allocate() -> None:  # far past every generation's threshold: the interpreter would collect here
        kept.extend([i] for i in range(200_000))  # (kept alive: the count is allocations less frees)

    worker = threading.Thread(target=allocate, name="busy-worker")
    worker.start()
    worker.join()
    assert freed_on == []  # nothing was collected on the worker
    qtbot.waitUntil(lambda: bool(freed_on), timeout=10_000)
    assert freed_on == [threading.main_thread().name]
    kept.clear()


def test_collection_follows_the_interpreters_generation_thresholds(gui_thread_collector) -> None:  # noqa: ANN001
    gc.collect()
    assert gui_thread_collector.collect() == 0  # under the first threshold: nothing to do
    before = gc.get_stats()[0]["collections"]
    junk = [[i] for i in range(gui_thread_collector.thresholds[0] * 2)]  # (the count is allocations less frees)
    gui_thread_collector.collect()
    assert gc.get_stats()[0]["collections"] == before + 1
    del junk

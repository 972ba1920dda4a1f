"""Throughput over time from per-batch records: rows (and tokens) finished in a sliding window, per second.

Dividing each batch by the time since the previous one makes the first batch of a run (or the first after a pause)
look thousands of times faster than the run really was, and draws an idle gap as a slope. Here the rate at time
``t`` is what finished in ``(t - window, t]`` divided by the window, on an even time grid: a pause reads 0.
"""

from __future__ import annotations

import numpy as np

MIN_WINDOW_S = 1.0
MAX_POINTS = 400


def sliding_throughput(t: np.ndarray, rows: np.ndarray, tokens: np.ndarray, *, window_s: float | None = None,
                       points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(grid_s, rows_per_s, tokens_per_s)`` on an even grid from the first batch to the last.

    ``t`` holds batch end times in seconds (ascending), ``rows`` and ``tokens`` what each batch finished. The window
    is ``window_s`` (at least 1 s; by default 1 s, or 1/60 of a long run so its curve stays readable).
    """
    t = np.asarray(t, dtype=np.float64)
    if len(t) == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    span = float(t[-1] - t[0])
    window = max(MIN_WINDOW_S, window_s if window_s is not None else span / 60.0)
    step = max(span / max(points - 1, 1), window / 10.0, 1e-3)
    grid = t[0] + np.arange(int(np.floor(span / step)) + 1) * step
    if grid[-1] < t[-1]:
        grid = np.append(grid, t[-1])
    rows_cum = np.concatenate([[0.0], np.cumsum(rows, dtype=np.float64)])
    tokens_cum = np.concatenate([[0.0], np.cumsum(tokens, dtype=np.float64)])
    hi = np.searchsorted(t, grid, side="right")
    lo = np.searchsorted(t, grid - window, side="right")
    return grid, (rows_cum[hi] - rows_cum[lo]) / window, (tokens_cum[hi] - tokens_cum[lo]) / window

"""Throughput over a sliding window: the first batch is not a spike, and a pause reads zero, not a slope."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine.throughput import sliding_throughput


def test_a_steady_run_reads_its_real_rate() -> None:
    t = np.arange(1, 201) * 0.05  # a batch of 10 every 50 ms for 10 s: 200 texts/s
    grid, rate, tokens = sliding_throughput(t, np.full(200, 10), np.full(200, 80))
    after_first_second = grid >= t[0] + 1.0
    assert rate[after_first_second] == pytest.approx(200.0, rel=0.06)
    assert tokens[after_first_second] == pytest.approx(1600.0, rel=0.06)
    assert rate.max() <= 210  # the first batch (10 rows after 50 ms) is not read as 10 / 0.001 s


def test_an_idle_gap_reads_zero() -> None:
    first = np.arange(1, 21) * 0.05  # 1 s of work, then nothing until t = 10 s, then 1 s more
    t = np.concatenate([first, 10 + np.arange(1, 21) * 0.05])
    grid, rate, _ = sliding_throughput(t, np.full(40, 10), np.full(40, 10))
    gap = (grid > first[-1] + 1.0) & (grid < 10.0)
    assert gap.sum() > 5 and (rate[gap] == 0).all()
    assert rate.max() == pytest.approx(200.0, rel=0.06)


def test_window_is_at_least_a_second_and_empty_input_is_empty() -> None:
    grid, rate, _ = sliding_throughput(np.array([0.1]), np.array([32]), np.array([100]), window_s=0.001)
    assert rate.tolist() == [32.0]
    assert all(len(a) == 0 for a in sliding_throughput(np.zeros(0), np.zeros(0), np.zeros(0)))

"""Sweep rates, what counts as holding the target, and the knee."""

from __future__ import annotations

import pytest

from app.engine.errors import InputError
from app.serve.load_curve import CurvePoint, fractions, knee, sweep_rates


def point(offered: float, p99: float | None, sent: int = 1000, ok: int | None = None, errors=None,  # noqa: ANN001
          unanswered: int = 0) -> CurvePoint:
    errors = errors or {}
    ok = sent - sum(errors.values()) - unanswered if ok is None else ok
    return CurvePoint(offered, offered, None if p99 is None else p99 / 2, p99, sent, ok, errors, unanswered)


def test_sweep_rates_span_the_capacity_evenly():
    rates = sweep_rates(200.0, 0.25, 1.2, 6)
    assert rates[0] == 50.0 and rates[-1] == 240.0 and len(rates) == 6
    gaps = {round(b - a, 6) for a, b in zip(rates, rates[1:], strict=False)}
    assert gaps == {38.0}
    assert sweep_rates(200.0, 0.25, 1.2, 1) == [240.0]
    assert [round(f * 200, 2) for f in fractions(0.25, 1.2, 6)] == rates


def test_no_capacity_is_a_sentence():
    with pytest.raises(InputError, match="No request succeeded while measuring the server's capacity"):
        sweep_rates(0.0)
    with pytest.raises(InputError, match="0 < from"):
        sweep_rates(100.0, 1.5, 1.0, 3)


def test_a_point_holds_only_with_p99_under_the_target_and_almost_nothing_failed():
    assert point(100, 49.9).holds(50) and point(100, 50.0).holds(50)
    assert not point(100, 50.1).holds(50)
    assert point(100, 10, errors={"429": 10}).holds(50)  # 1 % may fail
    assert not point(100, 10, errors={"429": 11}).holds(50)  # shedding load with 429s is not holding it
    assert not point(100, 10, unanswered=20).holds(50)
    assert not point(100, None, ok=0, errors={"connect": 1000}).holds(50)


def test_the_knee_is_the_highest_rate_that_held():
    curve = [point(50, 8), point(100, 70), point(150, 12), point(200, 40, errors={"504": 100}), point(250, 900)]
    found = knee(curve, 50)
    assert found is not None and found.offered_per_s == 150  # a blip at 100 does not hide 150
    assert knee(curve, 1000).offered_per_s == 250  # 200 shed requests (10 %), 250 held p99 ≤ 1000 ms
    assert knee([point(50, 80)], 50) is None
    assert knee([], 50) is None

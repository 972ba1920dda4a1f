"""Latency against offered load: the rates a sweep tries, one point per rate, and the knee. Plain Python.

A rate sweep first measures what the server can do (its *capacity*: requests per second in a closed loop with
many connections), then offers fixed rates from a fraction of that to past it. Each rate gives one
:class:`CurvePoint`. The **knee** is the highest offered rate at which the server still *held*: p99 at or under
the user's target, and (almost) every request answered. Past the knee, queues grow and p99 leaves the target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..engine.errors import InputError

SWEEP_FROM, SWEEP_TO, SWEEP_STEPS = 0.25, 1.2, 6  # 25 % … 120 % of the measured capacity, in six rates
TARGET_P99_MS = 50.0
# A rate at which more than this share of requests failed (errors, 429s, timeouts, no answer) did not hold, however
# low the p99 of the answers that did come back: a server shedding load with 429s answers the rest quickly.
MAX_FAILED_SHARE = 0.01


def sweep_rates(capacity_per_s: float, start: float = SWEEP_FROM, stop: float = SWEEP_TO,
                steps: int = SWEEP_STEPS) -> list[float]:
    """``steps`` offered rates (requests/s), evenly spaced from ``start`` to ``stop`` × ``capacity_per_s``."""
    if not capacity_per_s > 0:
        raise InputError("No request succeeded while measuring the server's capacity, so there are no rates to try",
                         "Check that the server answers, then run the sweep again")
    if not 0 < start <= stop or steps < 1:
        raise InputError("The sweep needs 0 < from ≤ to and at least one step")
    if steps == 1:
        return [round(capacity_per_s * stop, 2)]
    return [round(capacity_per_s * (start + (stop - start) * i / (steps - 1)), 2) for i in range(steps)]


def fractions(start: float = SWEEP_FROM, stop: float = SWEEP_TO, steps: int = SWEEP_STEPS) -> list[float]:
    """The capacity fractions of :func:`sweep_rates` (for axis labels: 25 %, 44 %, …)."""
    if steps == 1:
        return [stop]
    return [start + (stop - start) * i / (steps - 1) for i in range(steps)]


@dataclass(frozen=True)
class CurvePoint:
    """What one load step measured (latency in ms over the answered requests; rates in requests/s)."""

    offered_per_s: float
    achieved_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    sent: int
    ok: int
    errors: Mapping[str, int] = field(default_factory=dict)
    unanswered: int = 0  # still in flight when the step ended (cancelled, or past the request timeout)

    @property
    def failed(self) -> int:
        return sum(self.errors.values()) + self.unanswered

    @property
    def rejected(self) -> int:
        """Requests the server turned away because its queue was full (429)."""
        return int(self.errors.get("429", 0))

    def holds(self, target_p99_ms: float) -> bool:
        """p99 at or under the target, and at most 1 % of the requests failed or went unanswered."""
        return (self.ok > 0 and self.p99_ms is not None and self.p99_ms <= target_p99_ms
                and self.failed <= MAX_FAILED_SHARE * max(self.sent, 1))

    @classmethod
    def from_report(cls, report) -> CurvePoint:  # noqa: ANN001 - app.serve.loadgen.LoadReport
        lat = report.latency_ms
        return cls(report.offered_per_s, report.ok_per_s, lat.get("p50"), lat.get("p99"), report.sent, report.ok,
                   dict(report.errors), report.unfinished)

    def as_dict(self) -> dict:
        return {"offered_per_s": self.offered_per_s, "achieved_per_s": self.achieved_per_s, "p50_ms": self.p50_ms,
                "p99_ms": self.p99_ms, "sent": self.sent, "ok": self.ok, "errors": dict(self.errors),
                "unanswered": self.unanswered}


def knee(points: Iterable[CurvePoint], target_p99_ms: float = TARGET_P99_MS) -> CurvePoint | None:
    """The point at the highest offered rate that held (p99 ≤ target, ≤ 1 % failed); None if none did."""
    held = [p for p in points if p.holds(target_p99_ms)]
    return max(held, key=lambda p: p.offered_per_s) if held else None

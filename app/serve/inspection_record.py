"""What a latency inspection measured, folded from its events: per target the timeline of seconds, one curve
point per load step, the knee, the comparison table, the recommended ``sieve serve`` settings, and the JSON export.

Plain Python, no Qt and no HTTP: the window applies each event on its GUI thread and draws from this record.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field

from .inspection import (
    Event,
    InspectionPlan,
    RunNote,
    ServerUp,
    SnapshotTaken,
    StepDone,
    StepStarted,
    Target,
    TargetDone,
    TargetStarted,
)
from .load_curve import CurvePoint, fractions, knee
from .load_report import LoadReport, Snapshot
from .local_server import ServerSettings

STAGE_NAMES = ("queue", "tokenization", "inference")  # the server's x-*-time headers, stacked in this order


@dataclass
class StepRecord:
    """One load step: its per-second snapshots as they arrive, then its report."""

    kind: str  # capacity | open | closed
    offered_per_s: float | None
    describe: str
    start_s: float  # seconds into the target's load when the step began (for the timeline)
    snapshots: list[Snapshot] = field(default_factory=list)
    report: LoadReport | None = None
    done: bool = False

    def point(self) -> CurvePoint | None:
        return CurvePoint.from_report(self.report) if self.report is not None and self.report.sent else None

    def stage_ms(self) -> dict[str, float]:
        """Mean server time per request in each stage (ms): from the report, or the seconds so far while it runs."""
        if self.report is not None:
            return {k: v["mean"] for k, v in self.report.stage_ms.items() if k in STAGE_NAMES and "mean" in v}
        out: dict[str, float] = {}
        weights = sum(s.ok_per_s for s in self.snapshots if s.stage_ms)
        for name in STAGE_NAMES:
            total = sum(s.stage_ms.get(name, 0.0) * s.ok_per_s for s in self.snapshots if s.stage_ms)
            if weights:
                out[name] = total / weights
        return out


@dataclass
class TargetRecord:
    target: Target
    started: bool = False
    done: bool = False
    url: str | None = None
    pid: int | None = None
    cold_start_s: float | None = None
    rss_mb: float | None = None  # after the load (at the start until then)
    peak_rss_mb: float | None = None
    error: str | None = None
    steps: list[StepRecord] = field(default_factory=list)

    def timeline(self) -> list[tuple[float, Snapshot]]:
        """(seconds into this target's load, snapshot) for every whole second of load, in order. A step's report
        ends with the answers that came back after its last second; that partial second stays out of the plots
        over time (its rates are not per second) but counts in the step's figures."""
        return [(step.start_s + s.second + 1, s) for step in self.steps for s in step.snapshots
                if step.report is None or s.second < step.report.plan.get("duration_s", float("inf"))]

    def curve(self) -> list[CurvePoint]:
        """One point per finished step at a fixed rate (a closed loop's point sits at the rate it sent)."""
        return sorted((p for step in self.steps if step.kind != "capacity" and (p := step.point()) is not None),
                      key=lambda p: p.offered_per_s)

    @property
    def capacity_per_s(self) -> float | None:
        for step in self.steps:
            if step.kind == "capacity" and step.report is not None:
                return step.report.ok_per_s
        return None

    def max_achieved(self) -> float | None:
        rates = [step.report.ok_per_s for step in self.steps if step.report is not None]
        return max(rates) if rates else None

    def failed(self) -> tuple[int, int]:
        """(requests that failed or went unanswered, of which 429s) over every step."""
        failed = rejected = 0
        for step in self.steps:
            if step.report is not None:
                failed += sum(step.report.errors.values()) + step.report.unfinished
                rejected += step.report.errors.get("429", 0)
            else:
                failed += sum(sum(s.errors.values()) for s in step.snapshots)
                rejected += sum(s.errors.get("429", 0) for s in step.snapshots)
        return failed, rejected


@dataclass(frozen=True)
class Recommendation:
    """The local server settings that held the target p99 at the highest rate."""

    target: str
    settings: ServerSettings
    rate_per_s: float
    p99_ms: float
    target_p99_ms: float

    def command_line(self) -> str:
        return self.settings.command_line()

    def sentence(self) -> str:
        return (f"{self.target} ({self.settings.describe()}) kept p99 at or under {self.target_p99_ms:g} ms up to "
                f"{self.rate_per_s:,.0f} requests/s (p99 {self.p99_ms:.1f} ms there)")


class InspectionRecord:
    """Everything one run measured; :meth:`apply` each event in order. ``version`` grows with every change."""

    def __init__(self, plan: InspectionPlan, model: str | None = None) -> None:
        self.plan = plan
        self.model = model
        self.targets = [TargetRecord(t) for t in plan.targets]
        self.notes: list[str] = []
        self.version = 0
        self.current: int | None = None  # the target being measured
        self.finished = False
        self.cancelled = False
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    # ------------------------------------------------------------------ events
    def apply(self, event: Event) -> None:
        self.version += 1
        if isinstance(event, RunNote):
            self.notes.append(event.text)
            return
        t = self.targets[event.target]
        if isinstance(event, TargetStarted):
            t.started, self.current = True, event.target
        elif isinstance(event, ServerUp):
            t.url, t.pid, t.cold_start_s, t.rss_mb = event.url, event.pid, event.cold_start_s, event.rss_mb
        elif isinstance(event, StepStarted):
            last = t.steps[-1] if t.steps else None
            start = last.start_s + len(last.snapshots) if last is not None else 0.0  # the partial second too
            t.steps.append(StepRecord(event.kind, event.offered_per_s, event.describe, start))
        elif isinstance(event, SnapshotTaken):
            t.steps[-1].snapshots.append(event.snapshot)
        elif isinstance(event, StepDone):
            step = t.steps[-1]
            step.done, step.report = True, event.report
            if event.report is not None:  # the report's snapshots include the last, partial second
                step.snapshots = list(event.report.snapshots)
        elif isinstance(event, TargetDone):
            t.done, t.error = True, event.error
            if event.rss_mb is not None:
                t.rss_mb, t.peak_rss_mb = event.rss_mb, event.peak_rss_mb

    def finish(self, cancelled: bool) -> None:
        self.finished, self.cancelled, self.current = True, cancelled, None
        self.version += 1

    # ------------------------------------------------------------------ what it shows
    @property
    def sweep(self) -> bool:
        return self.plan.mode == "sweep"

    def step_labels(self) -> list[str]:
        """The x labels of a sweep's steps: their share of the measured capacity, in %."""
        p = self.plan
        return [f"{f * 100:.0f}" for f in fractions(p.sweep_from, p.sweep_to, p.sweep_steps)]

    def short_labels(self) -> list[str]:
        """A short name per target for legends: what differs between the local settings, or the URL's address."""
        local = [t.target.server for t in self.targets if t.target.server is not None]
        fields = [("provider", "{}"), ("threads", "threads {}"), ("max_batch", "max batch {}"),
                  ("max_wait_ms", "max wait {:g} ms")]
        varying = [(f, fmt) for f, fmt in fields if len({getattr(s, f) for s in local}) > 1]
        out = []
        for t in self.targets:
            server = t.target.server
            if server is None:
                out.append(str(t.target.url).removeprefix("http://").removeprefix("https://").removesuffix("/predict"))
            elif varying:
                out.append(", ".join(fmt.format(getattr(server, f)) for f, fmt in varying))
            else:
                out.append(server.describe())
        return out

    def knee(self, i: int) -> CurvePoint | None:
        return knee(self.targets[i].curve(), self.plan.target_p99_ms) if self.sweep else None

    def errors(self) -> list[str]:
        return [f"{t.target.name}: {t.error}" for t in self.targets if t.error]

    def rows(self) -> list[dict]:
        """The comparison table, one row per target measured (values None where not known)."""
        out = []
        for i, t in enumerate(self.targets):
            if not t.started:
                continue
            curve = t.curve()
            at = self.knee(i) if self.sweep else (curve[-1] if curve else None)
            held = at is not None
            if self.sweep and at is None and curve:
                at = curve[0]  # nothing held: show the lowest rate tried
            failed, rejected = t.failed()
            out.append({
                "target": t.target.name, "server": t.target.describe(), "url": t.url,
                "rate_per_s": (at.offered_per_s if self.sweep else at.achieved_per_s) if at and held else None,
                "held": held, "p50_ms": at.p50_ms if at else None, "p99_ms": at.p99_ms if at else None,
                "at_offered_per_s": at.offered_per_s if at else None, "max_per_s": t.max_achieved(),
                "failed": failed, "rejected_429": rejected, "rss_mb": t.rss_mb, "peak_rss_mb": t.peak_rss_mb,
                "cold_start_s": t.cold_start_s, "error": t.error,
            })
        return out

    def recommendation(self) -> Recommendation | None:
        """Among the local servers of a sweep, the settings whose knee is at the highest rate (then lowest p99)."""
        if not self.sweep:
            return None
        best = None
        for i, t in enumerate(self.targets):
            point = self.knee(i)
            if t.target.server is None or point is None:
                continue
            key = (point.offered_per_s, -(point.p99_ms or 0.0))
            if best is None or key > best[0]:
                best = (key, Recommendation(t.target.name, t.target.server, point.offered_per_s, point.p99_ms or 0.0,
                                            self.plan.target_p99_ms))
        return best[1] if best else None

    def recommendation_text(self) -> str:
        rec = self.recommendation()
        if rec is not None:
            return rec.sentence()
        if not self.sweep:
            return "Run a rate sweep to get a recommendation."
        if not any(t.target.local and t.done for t in self.targets):
            return "Sweep a local server (one setting or several, e.g. max wait 0, 5) to get a recommendation."
        return (f"No local setting kept p99 at or under {self.plan.target_p99_ms:g} ms at the rates tried: start the "
                "sweep lower, or raise the target.")

    # ------------------------------------------------------------------ export
    def as_dict(self) -> dict:
        rec = self.recommendation()
        return {
            "started_at": self.started_at, "model": self.model, "finished": self.finished,
            "cancelled": self.cancelled, "plan": self.plan.as_dict(), "machine": machine(),
            "table": self.rows(), "notes": self.notes,
            "recommendation": None if rec is None else {"target": rec.target, "command": rec.command_line(),
                                                        "rate_per_s": rec.rate_per_s, "p99_ms": rec.p99_ms,
                                                        "sentence": rec.sentence()},
            "targets": [{
                "name": t.target.name, "server": t.target.describe(), "url": t.url, "local": t.target.local,
                "command": t.target.server.command_line() if t.target.server else None, "pid": t.pid,
                "cold_start_s": t.cold_start_s, "rss_mb": t.rss_mb, "peak_rss_mb": t.peak_rss_mb, "error": t.error,
                "capacity_per_s": t.capacity_per_s,
                "knee": (k.as_dict() if (k := self.knee(i)) is not None else None),
                "curve": [p.as_dict() for p in t.curve()],
                "steps": [{"kind": s.kind, "offered_per_s": s.offered_per_s, "describe": s.describe,
                           "start_s": s.start_s, "report": s.report.as_dict() if s.report is not None else None,
                           "snapshots": [vars(x) for x in s.snapshots] if s.report is None else None}
                          for s in t.steps],
            } for i, t in enumerate(self.targets)],
        }


def machine() -> dict:
    """What the figures were measured on, and how busy it was (load average) when they were written."""
    from ..engine.machine import cpu_name

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"platform": platform.platform(), "processor": cpu_name(), "cpu_count": os.cpu_count(),
            "load_average_1_5_15": list(load) if load else None}

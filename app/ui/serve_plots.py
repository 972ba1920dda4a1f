"""The Serve tab's pyqtgraph plots, drawn from an :class:`InspectionRecord` (this module imports pyqtgraph and numpy).

Items are created once per run and per target (:meth:`ServePlots.reset`), then ``setData`` redraws them: at most a
few times a second, since a load run reports once a second. Latency axes are logarithmic: a server past its knee
answers in seconds, and the milliseconds below the target must stay readable beside them.
"""

from __future__ import annotations

import math

import numpy as np

from ..serve.inspection_record import STAGE_NAMES, InspectionRecord
from .plots import load_pyqtgraph, plot_colours
from .serve_view import FAILED_COLOUR, REJECTED_COLOUR, STAGE_COLOURS, target_colour

TARGET_LINE_COLOUR = "#757575"
BAR_COLOURS = dict(zip(STAGE_NAMES, STAGE_COLOURS.values(), strict=True))  # queue, tokenization, inference


def milliseconds_axis(pg):  # noqa: ANN001, ANN201 - an AxisItem for a log axis
    """A log axis labelled 1, 2, 5, 10, 20, 50 … (pyqtgraph writes 4·10¹ at every minor tick)."""

    class MillisecondsAxis(pg.AxisItem):
        def logTickStrings(self, values, scale, spacing):  # noqa: ANN001, ANN202, N802
            out = []
            for v in values:
                ms = 10 ** float(v) * scale
                lead = f"{ms:.0e}"[0]
                out.append(f"{ms:,.0f}" if lead in "125" and ms >= 1 else f"{ms:g}" if lead in "125" else "")
            return out

    return MillisecondsAxis(orientation="left")


class ServePlots:
    def __init__(self, panel) -> None:  # noqa: ANN001 - the ServePanel whose cards receive the plots
        pg = self.pg = load_pyqtgraph()
        self.panel = panel
        self.latency = panel.latency_card.fill(lambda: pg.PlotWidget(axisItems={"left": milliseconds_axis(pg)}))
        self.latency.setLabel("left", "latency (ms)")
        self.latency.setLabel("bottom", "time (s)")
        self.latency.setLogMode(x=False, y=True)
        self.rates = panel.rate_card.fill(pg.PlotWidget)
        self.rates.setLabel("left", "requests/s")
        self.rates.setLabel("bottom", "time (s)")
        self.curve = panel.curve_card.fill(lambda: pg.PlotWidget(axisItems={"left": milliseconds_axis(pg)}))
        self.curve.setLabel("left", "latency (ms)")
        self.curve.setLabel("bottom", "offered load (requests/s)")
        self.curve.setLogMode(x=False, y=True)
        self.stages = panel.stages_card.fill(pg.PlotWidget)
        self.stages.setLabel("left", "ms per request")
        self.target_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(TARGET_LINE_COLOUR, width=1.5,
                                                                 style=pg.QtCore.Qt.PenStyle.DashLine),
                                           label="p99 target", labelOpts={"position": 0.02, "color": TARGET_LINE_COLOUR,
                                                                          "anchors": [(0, 1), (0, 1)]})
        self.target_line.setVisible(False)
        self.curve.addItem(self.target_line)
        for plot in (self.latency, self.rates, self.curve, self.stages):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.getViewBox().enableAutoRange(enable=False)
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)
        self.items: list[dict] = []
        self.clip_labels: list = []  # totals written over bars taller than the stage plot shows
        self._ranges: dict[tuple[int, str], tuple[float, float]] = {}

    def reset(self, record: InspectionRecord) -> None:
        """New items for each of the run's targets (the previous run's are removed)."""
        pg = self.pg
        self._ranges.clear()
        for items in self.items:
            for plot, item in items["all"]:
                plot.removeItem(item)
        self.items = []
        dash, dot = pg.QtCore.Qt.PenStyle.DashLine, pg.QtCore.Qt.PenStyle.DotLine
        outline = plot_colours(self.panel.palette())[1]  # the star's edge: the axes' colour, dark or light theme
        for i, _target in enumerate(record.targets):
            colour = target_colour(i)
            made: dict = {"all": []}

            def add(plot, item, key: str, made=made) -> None:  # noqa: ANN001
                plot.addItem(item)
                made[key] = item
                made["all"].append((plot, item))

            add(self.latency, pg.PlotDataItem(pen=pg.mkPen(colour, width=2), connect="finite"), "p99")
            add(self.latency, pg.PlotDataItem(pen=pg.mkPen(colour, width=1, style=dash), connect="finite"), "p50")
            add(self.rates, pg.PlotDataItem(pen=pg.mkPen(colour, width=2)), "achieved")
            add(self.rates, pg.PlotDataItem(pen=pg.mkPen(colour, width=1.5, style=dot)), "offered")
            add(self.rates, pg.PlotDataItem(pen=None, symbol="x", symbolSize=8, symbolPen=pg.mkPen(FAILED_COLOUR),
                                            symbolBrush=FAILED_COLOUR), "failed")
            add(self.rates, pg.PlotDataItem(pen=None, symbol="t", symbolSize=7, symbolPen=None,
                                            symbolBrush=REJECTED_COLOUR), "rejected")
            add(self.curve, pg.PlotDataItem(pen=pg.mkPen(colour, width=2.5), symbol="o", symbolSize=7,
                                            symbolBrush=colour, symbolPen=None), "curve_p99")
            add(self.curve, pg.PlotDataItem(pen=pg.mkPen(colour, width=1.5, style=dash), symbol="t", symbolSize=6,
                                            symbolBrush=colour, symbolPen=None), "curve_p50")
            add(self.curve, pg.PlotDataItem(pen=None, symbol="star", symbolSize=20, symbolBrush=colour,
                                            symbolPen=pg.mkPen(outline)), "knee")
            knee_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(colour, width=1, style=dot), label="",
                                        labelOpts={"position": 0.9 - 0.12 * (i % 4), "color": colour,
                                                   "anchors": [(0, 0.5), (0, 0.5)]})
            knee_line.setVisible(False)
            add(self.curve, knee_line, "knee_line")
            made["bars"] = {}
            for stage in STAGE_NAMES:
                bar = pg.BarGraphItem(x=[], height=[], width=0.5, brush=BAR_COLOURS[stage],
                                      pen=pg.mkPen(colour, width=1.5))
                add(self.stages, bar, f"bar_{stage}")
                made["bars"][stage] = bar
            self.items.append(made)

    PARTS = ("curve", "latency", "rates", "stages")  # drawn one per call: see ServePanel.redraw

    def draw(self, record: InspectionRecord, part: str | None = None) -> None:
        """Redraw one plot (``part``), or all four. One at a time keeps each frame short: on a busy 2-core machine
        painting a plot takes 10–30 ms, four in one frame stalled the window past 50 ms."""
        if len(self.items) != len(record.targets):
            self.reset(record)
        for name in (part,) if part else self.PARTS:
            getattr(self, f"_draw_{name}")(record)

    def _draw_curve(self, record: InspectionRecord) -> None:
        target = record.plan.target_p99_ms
        self.target_line.setValue(math.log10(target))
        self.target_line.label.setFormat(f"p99 target {target:g} ms")
        self.target_line.setVisible(True)
        xs, ys = [], [target]
        for i, t in enumerate(record.targets):
            items = self.items[i]
            curve = [p for p in t.curve() if p.p99_ms is not None]
            x = [p.offered_per_s for p in curve]
            p99 = [max(p.p99_ms, 1e-3) for p in curve]
            p50 = [max(p.p50_ms or 0, 1e-3) for p in curve]
            items["curve_p99"].setData(x, p99)
            items["curve_p50"].setData(x, p50)
            xs += x
            ys += p99 + p50
            knee = record.knee(i)
            if knee is not None:
                items["knee"].setData([knee.offered_per_s], [max(knee.p99_ms or 0, 1e-3)])
                items["knee_line"].setValue(knee.offered_per_s)
                items["knee_line"].label.setFormat(f"knee {t.target.name}: {knee.offered_per_s:,.0f}/s")
            else:
                items["knee"].setData([], [])
            items["knee_line"].setVisible(knee is not None)
        if xs:
            self._fit(self.curve, "x", min(xs), max(xs))
        self._fit(self.curve, "y", min(ys), max(ys), log=True)
        lo, hi = self._ranges.get((id(self.curve), "x"), (0.0, 1.0))
        for items in self.items:  # a knee in the right half gets its label on the left of its line, inside the plot
            label = items["knee_line"].label
            side = (1, 0.5) if items["knee_line"].value() > (lo + hi) / 2 else (0, 0.5)
            if label.anchors[0] != side:
                label.anchors = [side, side]
                label.updatePosition()

    def _timeline(self, t) -> tuple[np.ndarray, list]:  # noqa: ANN001 - TargetRecord
        line = t.timeline()
        return np.array([s for s, _ in line], dtype=float), [snap for _, snap in line]

    def _draw_latency(self, record: InspectionRecord) -> None:
        xs, ys = [0.0], [record.plan.target_p99_ms]
        for i, t in enumerate(record.targets):
            x, snaps = self._timeline(t)
            answered = np.array([s.ok_per_s > 0 for s in snaps], dtype=bool)
            p99 = np.where(answered, [s.p99_ms for s in snaps], np.nan) if len(snaps) else np.zeros(0)
            p50 = np.where(answered, [s.p50_ms for s in snaps], np.nan) if len(snaps) else np.zeros(0)
            self.items[i]["p99"].setData(x, np.maximum(p99, 1e-3))
            self.items[i]["p50"].setData(x, np.maximum(p50, 1e-3))
            xs += list(x)
            ys += [v for v in np.concatenate([p99, p50]) if np.isfinite(v) and v > 0]
        self._fit(self.latency, "x", 0.0, max(xs))
        self._fit(self.latency, "y", min(ys), max(ys), log=True)

    def _draw_rates(self, record: InspectionRecord) -> None:
        xs, ys = [0.0], [1.0]
        for i, t in enumerate(record.targets):
            items = self.items[i]
            x, snaps = self._timeline(t)
            answered = [s.ok_per_s for s in snaps]
            offered = [s.offered_per_s for s in snaps]
            items["achieved"].setData(x, answered)
            items["offered"].setData(x, offered)
            failed = np.array([sum(s.errors.values()) - s.errors.get("429", 0) for s in snaps], dtype=float)
            rejected = np.array([s.errors.get("429", 0) for s in snaps], dtype=float)
            items["failed"].setData(x[failed > 0], failed[failed > 0])
            items["rejected"].setData(x[rejected > 0], rejected[rejected > 0])
            xs += list(x)
            ys += answered + offered + list(failed) + list(rejected)
        self._fit(self.rates, "x", 0.0, max(xs))
        self._fit(self.rates, "y", 0.0, max(ys))

    def _fit(self, plot, axis: str, lo: float, hi: float, *, log: bool = False) -> None:  # noqa: ANN001
        """Set an axis range only when the data leaves it (or fills under 40 % of it): pyqtgraph's auto-range
        recomputes the bounds of every item at every paint."""
        if log:
            lo, hi = math.log10(max(lo, 1e-3)), math.log10(max(hi, 1e-3))
        key = (id(plot), axis)
        old = self._ranges.get(key)
        if old is not None:
            room = 0.04 * (old[1] - old[0])  # data touching an edge looks cut off: refit before it gets there
            inside = (lo == old[0] or old[0] + room <= lo) and hi <= old[1] - room
            if inside and (hi - lo) >= 0.4 * (old[1] - old[0]):
                return
        span = max(hi - lo, 0.5 if log else 1.0)
        below = 0.1 if log else 0.0 if lo == 0 else 0.05  # time and rate axes start at 0
        new = (lo - below * span, hi + (0.25 if log else 0.15) * span)
        self._ranges[key] = new
        (plot.setXRange if axis == "x" else plot.setYRange)(*new, padding=0)

    def _draw_stages(self, record: InspectionRecord) -> None:
        """Past the knee the queue grows to seconds and would flatten everything else: the y axis stops at three
        times the longest model time (tokenize + inference) or at the p99 target, and taller bars carry their
        total on top."""
        bars = [self._stages(record, i, self.items[i]["bars"]) for i in range(len(record.targets))]
        model = max((m for b in bars for m in b["model"]), default=0.0)
        totals = [(i, x, t) for i, b in enumerate(bars) for x, t in zip(b["x"], b["total"], strict=True)]
        top = max(record.plan.target_p99_ms, 3 * model)
        highest = max((t for _, _, t in totals), default=0.0)
        limit = min(top, highest) if highest > 0 else 1.0
        self.stages.setYRange(0, limit * 1.08, padding=0)
        xs = [x for _, x, _ in totals]
        if xs:
            self._fit(self.stages, "x", min(xs) - 0.5, max(xs) + 0.5)
        for label in self.clip_labels:
            self.stages.removeItem(label)
        self.clip_labels = []
        background, foreground = plot_colours(self.panel.palette())
        for i, x, total in totals:
            if total > limit * 1.08:
                # one row of totals per target (side by side they would overlap), on the plot's background
                text = f"{total:,.0f}" if total < 1000 else f"{total / 1000:,.1f} s"
                label = self.pg.TextItem(text, color=foreground, fill=background, anchor=(0.5, -1.1 * i))
                label.setPos(x, limit * 1.08)
                self.stages.addItem(label)
                self.clip_labels.append(label)

    def _stages(self, record: InspectionRecord, i: int, bars: dict) -> dict:
        """Sweeps: one stacked bar per rate (x = share of capacity); single runs: one per second."""
        t = record.targets[i]
        n = len(record.targets)
        width = 0.8 / n
        offset = (i - (n - 1) / 2) * width
        if record.sweep:
            steps = [s for s in t.steps if s.kind == "open"]
            xs = np.arange(1, len(steps) + 1, dtype=float)
            means = [s.stage_ms() for s in steps]
            self.stages.getAxis("bottom").setTicks([list(enumerate(record.step_labels(), start=1))])
            self.stages.setLabel("bottom", "offered load, % of capacity")
        else:
            line = t.timeline()
            xs = np.array([s for s, _ in line], dtype=float)
            means = [snap.stage_ms for _, snap in line]
            self.stages.getAxis("bottom").setTicks(None)
            self.stages.setLabel("bottom", "time (s)")
        base = np.zeros(len(xs))
        for stage in STAGE_NAMES:
            height = np.array([m.get(stage, 0.0) for m in means], dtype=float)
            bars[stage].setOpts(x=xs + offset, height=height, y0=base.copy(), width=width)
            base = base + height
        model = [m.get("tokenization", 0.0) + m.get("inference", 0.0) for m in means]
        return {"x": list(xs + offset), "total": list(base), "model": model}

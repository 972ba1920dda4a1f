"""The Serve tab's pyqtgraph plots, drawn from an :class:`InspectionRecord` (this module imports pyqtgraph and numpy).

Items are created once per run and per target (:meth:`ServePlots.reset`), then ``setData`` redraws them: at most a
few times a second, since a load run reports once a second. Latency axes are logarithmic: a server past its knee
answers in seconds, and the milliseconds below the target must stay readable beside them.
"""

from __future__ import annotations

import math

import numpy as np

from ..serve.inspection_record import STAGE_NAMES, InspectionRecord
from .plots import load_pyqtgraph
from .serve_view import FAILED_COLOUR, REJECTED_COLOUR, STAGE_COLOURS, target_colour

TARGET_LINE_COLOUR = "#757575"
BAR_COLOURS = dict(zip(STAGE_NAMES, STAGE_COLOURS.values(), strict=True))  # queue, tokenization, inference


class ServePlots:
    def __init__(self, panel) -> None:  # noqa: ANN001 - the ServePanel whose cards receive the plots
        pg = self.pg = load_pyqtgraph()
        self.panel = panel
        self.latency = panel.latency_card.fill(pg.PlotWidget)
        self.latency.setLabel("left", "latency (ms)")
        self.latency.setLabel("bottom", "time (s)")
        self.latency.setLogMode(x=False, y=True)
        self.rates = panel.rate_card.fill(pg.PlotWidget)
        self.rates.setLabel("left", "requests/s")
        self.rates.setLabel("bottom", "time (s)")
        self.curve = panel.curve_card.fill(pg.PlotWidget)
        self.curve.setLabel("left", "latency (ms)")
        self.curve.setLabel("bottom", "offered load (requests/s)")
        self.curve.setLogMode(x=False, y=True)
        self.stages = panel.stages_card.fill(pg.PlotWidget)
        self.stages.setLabel("left", "ms per request")
        self.target_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(TARGET_LINE_COLOUR, width=1.5,
                                                                 style=pg.QtCore.Qt.PenStyle.DashLine),
                                           label="p99 target", labelOpts={"position": 0.06, "color": TARGET_LINE_COLOUR})
        self.target_line.setVisible(False)
        self.curve.addItem(self.target_line)
        for plot in (self.latency, self.rates, self.curve, self.stages):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)
        self.items: list[dict] = []

    def reset(self, record: InspectionRecord) -> None:
        """New items for each of the run's targets (the previous run's are removed)."""
        pg = self.pg
        for items in self.items:
            for plot, item in items["all"]:
                plot.removeItem(item)
        self.items = []
        dash, dot = pg.QtCore.Qt.PenStyle.DashLine, pg.QtCore.Qt.PenStyle.DotLine
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
                                            symbolPen=pg.mkPen("#000000")), "knee")
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

    def draw(self, record: InspectionRecord) -> None:
        if len(self.items) != len(record.targets):
            self.reset(record)
        target = record.plan.target_p99_ms
        self.target_line.setValue(math.log10(target))
        self.target_line.label.setFormat(f"p99 target {target:g} ms")
        self.target_line.setVisible(True)
        for i, t in enumerate(record.targets):
            items = self.items[i]
            line = t.timeline()
            x = np.array([s for s, _ in line], dtype=float)
            answered = np.array([snap.ok_per_s > 0 for _, snap in line], dtype=bool)
            p99 = np.where(answered, [snap.p99_ms for _, snap in line], np.nan) if len(line) else np.zeros(0)
            p50 = np.where(answered, [snap.p50_ms for _, snap in line], np.nan) if len(line) else np.zeros(0)
            items["p99"].setData(x, np.maximum(p99, 1e-3))
            items["p50"].setData(x, np.maximum(p50, 1e-3))
            items["achieved"].setData(x, [snap.ok_per_s for _, snap in line])
            items["offered"].setData(x, [snap.offered_per_s for _, snap in line])
            failed = np.array([sum(snap.errors.values()) - snap.errors.get("429", 0) for _, snap in line], dtype=float)
            rejected = np.array([snap.errors.get("429", 0) for _, snap in line], dtype=float)
            items["failed"].setData(x[failed > 0], failed[failed > 0])
            items["rejected"].setData(x[rejected > 0], rejected[rejected > 0])

            curve = [p for p in t.curve() if p.p99_ms is not None]
            items["curve_p99"].setData([p.offered_per_s for p in curve], [max(p.p99_ms, 1e-3) for p in curve])
            items["curve_p50"].setData([p.offered_per_s for p in curve], [max(p.p50_ms or 0, 1e-3) for p in curve])
            knee = record.knee(i)
            if knee is not None:
                items["knee"].setData([knee.offered_per_s], [max(knee.p99_ms or 0, 1e-3)])
                items["knee_line"].setValue(knee.offered_per_s)
                items["knee_line"].label.setFormat(f"knee {t.target.name}: {knee.offered_per_s:,.0f}/s")
            else:
                items["knee"].setData([], [])
            items["knee_line"].setVisible(knee is not None)
            self._stages(record, i, items["bars"])

    def _stages(self, record: InspectionRecord, i: int, bars: dict) -> None:
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
            self.stages.setLabel("bottom", "offered load (share of the capacity measured first)")
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

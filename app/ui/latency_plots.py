"""The dashboard's pyqtgraph plots and how each is drawn from a snapshot of batch records.

Created by :meth:`LatencyDashboard.build` once the window has painted (this module imports pyqtgraph and numpy);
:class:`LatencyDashboard` decides when to draw what.
"""

from __future__ import annotations

import numpy as np

from ..engine.stats import STAGES, StatsRecorder, batch_latency_ms
from ..engine.throughput import sliding_throughput
from .dashboard import BATCH_BUCKETS, PCT_COLOURS, STAGE_COLOURS, STAGE_WINDOW, TEXTS_COLOUR, TOKENS_COLOUR
from .plots import load_pyqtgraph
from .text import plural


class StickyRange:
    """An axis range that moves only when the data leaves it (or shrinks to under 40% of it), then with headroom.

    pyqtgraph's auto-range recomputes the data bounds and re-lays out the axis ticks and labels on every paint; with
    the time axis growing every frame that was most of a frame's cost. Here the range jumps ahead by half its span
    and then stays put for many frames.
    """

    def __init__(self, view, axis: str, floor: float | None = None, min_span: float = 0.0) -> None:  # noqa: ANN001
        self.view, self.axis, self.floor, self.min_span = view, axis, floor, min_span
        self.lo = self.hi = None
        view.enableAutoRange(axis=axis, enable=False)

    def fit(self, lo: float, hi: float) -> None:
        if self.floor is not None:
            lo = self.floor
        if hi <= lo:
            hi = lo + 1.0
        span = hi - lo
        if span < self.min_span:  # a run's first seconds: one range for a while instead of a new one every frame
            hi, span = lo + self.min_span / 1.5, self.min_span / 1.5
        if (self.lo is not None and self.lo <= lo and hi <= self.hi
                and (self.floor is None or hi - self.lo >= 0.4 * (self.hi - self.lo))
                and (self.floor is not None or lo - self.lo <= 0.5 * (self.hi - self.lo))):
            return
        self.lo = lo if self.floor is not None else lo - 0.02 * span
        self.hi = hi + 0.5 * span
        if self.axis == "x":
            self.view.setXRange(self.lo, self.hi, padding=0)
        else:
            self.view.setYRange(self.lo, self.hi, padding=0)

    def reset(self) -> None:
        self.lo = self.hi = None



class LatencyPlots:
    """One PlotWidget per dashboard card, its items created once; ``setData`` redraws them."""

    def __init__(self, dash) -> None:  # noqa: ANN001 - the LatencyDashboard whose cards receive the plots
        pg = load_pyqtgraph()
        self.dash = dash
        self.latency = dash.latency_card.fill(pg.PlotWidget)
        self.latency.setLabel("left", "latency (ms)")
        self.latency.setLabel("bottom", "time (s)")
        self.scatters = []
        for _lo, _hi, name, colour in BATCH_BUCKETS:
            item = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(colour), name=name)
            self.latency.addItem(item)
            self.scatters.append(item)
        self.pct_lines = {}
        for name, colour in PCT_COLOURS.items():
            line = pg.InfiniteLine(angle=0, pen=pg.mkPen(colour, width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine))
            line.setVisible(False)
            self.latency.addItem(line)
            self.pct_lines[name] = line

        self.hist = dash.hist_card.fill(pg.PlotWidget)
        self.hist.setLabel("bottom", "batch latency (ms)")
        self.hist.setLabel("left", "batches")
        self.hist_curve = self.hist.plot(stepMode="center", fillLevel=0, brush=(66, 165, 245, 120), pen="#1e88e5")

        self.throughput = dash.throughput_card.fill(pg.PlotWidget)
        self.throughput.setLabel("bottom", "time (s)")
        self.throughput.setLabel("left", "texts/s")
        self.tps_curve = self.throughput.plot(pen=pg.mkPen(TEXTS_COLOUR, width=2))
        self.tokens_view = pg.ViewBox()
        self.throughput.showAxis("right")
        self.throughput.scene().addItem(self.tokens_view)
        self.throughput.getAxis("right").linkToView(self.tokens_view)
        self.throughput.getAxis("right").setLabel("tokens/s")
        self.tokens_view.setXLink(self.throughput)
        self.tokens_curve = pg.PlotCurveItem(pen=pg.mkPen(TOKENS_COLOUR, width=1.5))
        self.tokens_view.addItem(self.tokens_curve)
        self.throughput.getViewBox().sigResized.connect(
            lambda: self.tokens_view.setGeometry(self.throughput.getViewBox().sceneBoundingRect()))

        self.stages = dash.stages_card.fill(pg.PlotWidget)
        self.stages.setLabel("bottom", "batch")
        self.stages.setLabel("left", "time (ms)")
        self.stage_curves = []
        # Cumulative curves filled down to zero, the tallest (queue+encode+infer+post) underneath: the visible bands
        # are the stages. (FillBetweenItem would rebuild two paths per band per frame.)
        for z, colour in enumerate(STAGE_COLOURS):
            curve = self.stages.plot(pen=pg.mkPen(colour, width=1), fillLevel=0, brush=pg.mkBrush(colour))
            curve.setZValue(len(STAGES) - z)
            self.stage_curves.append(curve)

        self.padding = dash.padding_card.fill(pg.PlotWidget)
        self.padding.setLabel("bottom", "batch")
        self.padding.setLabel("left", "real ÷ padded")
        self.padding.setYRange(0, 1.05)
        self.padding_curve = self.padding.plot(pen=pg.mkPen("#8e24aa", width=1))

        for plot in (self.latency, self.hist, self.throughput, self.stages, self.padding):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            for axis in ("left", "bottom", "right"):  # "1000 ms" must not turn into "1 kms"
                plot.getAxis(axis).enableAutoSIPrefix(False)
        self.ranges = {
            "latency_x": StickyRange(self.latency.getViewBox(), "x", min_span=10.0),
            "latency_y": StickyRange(self.latency.getViewBox(), "y", floor=0.0),
            "hist_x": StickyRange(self.hist.getViewBox(), "x"),
            "hist_y": StickyRange(self.hist.getViewBox(), "y", floor=0.0),
            "tps_x": StickyRange(self.throughput.getViewBox(), "x", min_span=10.0),
            "tps_y": StickyRange(self.throughput.getViewBox(), "y", floor=0.0),
            "tokens_y": StickyRange(self.tokens_view, "y", floor=0.0),
            "stages_x": StickyRange(self.stages.getViewBox(), "x", min_span=50.0),
            "stages_y": StickyRange(self.stages.getViewBox(), "y", floor=0.0),
            "padding_x": StickyRange(self.padding.getViewBox(), "x", min_span=50.0),
        }

    def latency_ms(self, ok: np.ndarray) -> np.ndarray:
        return batch_latency_ms(ok) if len(ok) else np.zeros(0)

    def draw_latency(self, rec: StatsRecorder, records: np.ndarray, ok: np.ndarray, lat: np.ndarray) -> None:
        rows = ok["rows"]
        for item, (lo, hi, _name, _colour) in zip(self.scatters, BATCH_BUCKETS, strict=True):
            pick = (rows >= lo) & (rows <= hi)
            item.setData(x=ok["t"][pick], y=lat[pick])
        if len(ok):
            self.ranges["latency_x"].fit(float(ok["t"][0]), float(ok["t"][-1]))
            self.ranges["latency_y"].fit(0.0, float(lat.max()))
        summary = rec.summary()
        values = {"p50": summary.p50_ms, "p95": summary.p95_ms, "p99": summary.p99_ms}
        for name, value in values.items():
            self.pct_lines[name].setValue(value)
            self.pct_lines[name].setVisible(bool(len(ok)))
        failed = int(records["failed"].sum())
        self.dash.readout.setText(
            f"<b>p50</b> {summary.p50_ms:.1f} ms &nbsp; <b>p95</b> {summary.p95_ms:.1f} ms &nbsp; "
            f"<b>p99</b> {summary.p99_ms:.1f} ms &nbsp;|&nbsp; <b>{summary.texts_per_s:,.0f}</b> texts/s, "
            f"{summary.tokens_per_s:,.0f} tokens/s &nbsp;|&nbsp; mean batch {summary.mean_batch:.1f} &nbsp;|&nbsp; "
            f"padding efficiency {summary.padding_efficiency:.0%} &nbsp;|&nbsp; {plural(summary.batches, 'batch')}"
            + (f", <span style='color:#c62828'>{plural(failed, 'failed batch', 'failed batches')}</span>"
               if failed else "")
        )

    def histogram(self, ok: np.ndarray, lat: np.ndarray) -> None:
        if len(lat):
            counts, edges = np.histogram(lat, bins=min(40, max(5, len(lat) // 4)))
            self.hist_curve.setData(edges, counts)
            self.ranges["hist_x"].fit(float(edges[0]), float(edges[-1]))
            self.ranges["hist_y"].fit(0.0, float(counts.max()))
        else:
            self.hist_curve.setData([0, 1], [0])

    def stages_plot(self, ok: np.ndarray, lat: np.ndarray) -> None:
        recent = ok[-STAGE_WINDOW:]
        base = np.zeros(len(recent))
        x = np.arange(len(ok) - len(recent), len(ok))
        for curve, stage in zip(self.stage_curves, STAGES, strict=True):
            base = base + recent[stage]
            curve.setData(x, base)
        if len(recent):
            self.ranges["stages_x"].fit(float(x[0]), float(x[-1]))
            self.ranges["stages_y"].fit(0.0, float(base.max()))

    def padding_plot(self, ok: np.ndarray, lat: np.ndarray) -> None:
        x = np.arange(len(ok))
        padded = ok["rows"].astype(np.float64) * ok["padded_len"]
        eff = np.divide(ok["real_tokens"], padded, out=np.ones(len(ok)), where=padded > 0)
        self.padding_curve.setData(x, eff)
        if len(ok):
            self.ranges["padding_x"].fit(0.0, float(x[-1]))

    def throughput_plot(self, ok: np.ndarray, lat: np.ndarray | None = None) -> None:
        grid, tps, tokens_s = sliding_throughput(ok["t"], ok["rows"], ok["real_tokens"])
        self.tps_curve.setData(grid, tps)
        self.tokens_curve.setData(grid, tokens_s)
        if len(grid):
            self.ranges["tps_x"].fit(float(grid[0]), float(grid[-1]))
            self.ranges["tps_y"].fit(0.0, float(tps.max()))
            self.ranges["tokens_y"].fit(0.0, float(tokens_s.max()))

    def clear(self) -> None:
        for r in self.ranges.values():
            r.reset()
        for item in self.scatters:
            item.setData([], [])
        self.hist_curve.setData([0, 1], [0])
        self.tps_curve.setData([], [])
        self.tokens_curve.setData([], [])
        for curve in self.stage_curves:
            curve.setData([], [])
        self.padding_curve.setData([], [])
        for line in self.pct_lines.values():
            line.setVisible(False)
        self.dash.readout.setText("No batches yet. Run some texts, or type in the quick-classify box.")

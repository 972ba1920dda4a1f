"""Live latency dashboard: pyqtgraph plots redrawn on a timer from the stats recorder's ring buffer.

Nothing here runs per batch. A 15 Hz timer reads :meth:`StatsRecorder.snapshot` (a copy of at most the last
``WINDOW`` records) when its version changed, and redraws the latency plot and the readout; the four other plots
take turns, one per tick (so each follows at about 4 Hz and a frame paints two plots, not five):

* per-batch latency over time (dots coloured by batch size) with p50 / p95 / p99 lines,
* throughput (texts/s and tokens/s) over a sliding window of at least a second,
* a latency histogram,
* time per stage (queue / encode / infer / post) stacked per batch,
* padding efficiency (real ÷ padded tokens) per batch.

The plots are created by :meth:`build`, after the window has painted; until then each card shows a placeholder.
Titles and legends are Qt labels above the plots, so they never cover data. Plots hidden for lack of room are not
redrawn until they are shown again.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from ..engine.stats import STAGES, StatsRecorder, batch_latency_ms
from ..engine.throughput import sliding_throughput
from .plots import PlotCard, swatch
from .text import plural

WINDOW = 1000  # batches drawn in the time plots (the readouts use the whole ring buffer)
STAGE_WINDOW = 300  # batches drawn in the stacked stage plot
REFRESH_HZ = 15
STAGE_COLOURS = ("#9e9e9e", "#42a5f5", "#ef6c00", "#66bb6a")
PCT_COLOURS = {"p50": "#2e7d32", "p95": "#f9a825", "p99": "#c62828"}
TEXTS_COLOUR, TOKENS_COLOUR = "#1e88e5", "#ef6c00"
# Dots are coloured by batch size in four buckets: one scatter item (one brush) per bucket draws far faster than
# a brush per dot.
BATCH_BUCKETS = ((1, 1, "batch 1", "#5e35b1"), (2, 8, "2–8", "#1e88e5"), (9, 32, "9–32", "#43a047"),
                 (33, 1 << 30, "33+", "#fb8c00"))
WIDE_PX = 1400  # from this width all five plots fit in one row
ROW_PX = 190  # a plot row needs about this much height to stay readable


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


class LatencyDashboard(QWidget):
    """Plots and readouts over a :class:`StatsRecorder`; set one with :meth:`set_recorder`."""

    export_requested = Signal()
    save_requested = Signal(object)  # PlotCard

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.recorder: StatsRecorder | None = None
        self.built = False
        self._seen = -1
        self.redraws = 0
        self._panels = (self._throughput, self._histogram, self._stages, self._padding)  # drawn in turn
        self._panel_seen = [-1] * len(self._panels)
        self._next_panel = 0

        self.readout = QLabel("No batches yet.")
        self.readout.setObjectName("latencyReadout")
        self.readout.setWordWrap(True)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        reset = QPushButton("Reset")
        reset.setToolTip("Forget the recorded batches")
        reset.clicked.connect(self.reset)
        export = QPushButton("Export records…")
        export.setToolTip("Save every per-batch record as CSV (Ctrl+Shift+S)")
        export.clicked.connect(self.export_requested)
        top = QHBoxLayout()
        top.addWidget(self.readout, 1)
        top.addWidget(reset)
        top.addWidget(export)

        self.latency_card = PlotCard("Batch latency (ms) over time", "latencyPlot")
        self.throughput_card = PlotCard("Throughput", "throughputPlot")
        self.hist_card = PlotCard("Latency histogram", "histogramPlot")
        self.stages_card = PlotCard(f"Time per stage, last {STAGE_WINDOW} batches (ms, stacked)", "stagesPlot")
        self.padding_card = PlotCard("Padding efficiency per batch", "paddingPlot")
        self.cards = (self.latency_card, self.throughput_card, self.hist_card, self.stages_card, self.padding_card)
        for card in self.cards:
            card.save_requested.connect(self.save_requested)
        self.latency_card.set_legend("  ".join(swatch(c, name) for _lo, _hi, name, c in BATCH_BUCKETS))
        self.throughput_card.set_legend(f"{swatch(TEXTS_COLOUR, 'texts/s')}  {swatch(TOKENS_COLOUR, 'tokens/s')}"
                                        "  (1 s window)")
        self.stages_card.set_legend("  ".join(swatch(c, n.removesuffix('_ms')) for n, c in
                                              zip(STAGES, STAGE_COLOURS, strict=True)))
        self.hist_card.set_legend("")
        self.padding_card.set_legend("")
        self.grid = QGridLayout()
        self.grid.setSpacing(6)
        self._arrangement: tuple | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(self.grid, 1)
        self._arrange()

        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / REFRESH_HZ))
        self.timer.timeout.connect(self.refresh)

    # ------------------------------------------------------------------ layout
    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802
        super().resizeEvent(event)
        self._arrange()

    def _arrange(self) -> None:
        """One row of plots when the panel is short, two when it is tall; stage and padding plots need room."""
        w, h = self.width(), self.height() - 40
        wide, tall = w >= WIDE_PX, h >= 2 * ROW_PX + (120 if w >= WIDE_PX else 0)
        arrangement = (wide, tall)
        if arrangement == self._arrangement:
            return
        self._arrangement = arrangement
        for card in self.cards:
            self.grid.removeWidget(card)
        for c in range(6):
            self.grid.setColumnStretch(c, 0)
        if tall:  # latency wide with the histogram; throughput, stages, padding below
            places = {self.latency_card: (0, 0, 1, 2), self.hist_card: (0, 2, 1, 1),
                      self.throughput_card: (1, 0, 1, 1), self.stages_card: (1, 1, 1, 1),
                      self.padding_card: (1, 2, 1, 1)}
            columns = 3
        elif wide:
            places = {self.latency_card: (0, 0, 1, 2), self.throughput_card: (0, 2, 1, 1),
                      self.hist_card: (0, 3, 1, 1), self.stages_card: (0, 4, 1, 1), self.padding_card: (0, 5, 1, 1)}
            columns = 6
        else:
            places = {self.latency_card: (0, 0, 1, 2), self.throughput_card: (0, 2, 1, 1),
                      self.hist_card: (0, 3, 1, 1)}
            columns = 4
        for c in range(columns):
            self.grid.setColumnStretch(c, 1)
        for card in self.cards:
            if card in places:
                self.grid.addWidget(card, *places[card])
            card.setVisible(card in places)

    def hidden_plots(self) -> list[str]:
        return [c.name for c in self.cards if c.isHidden()]

    # ------------------------------------------------------------------ plots
    def build(self) -> None:
        """Create the pyqtgraph plots (imports pyqtgraph); call once the window has painted."""
        if self.built:
            return
        from .plots import load_pyqtgraph

        pg = load_pyqtgraph()
        self.latency = self.latency_card.fill(pg.PlotWidget)
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

        self.hist = self.hist_card.fill(pg.PlotWidget)
        self.hist.setLabel("bottom", "batch latency (ms)")
        self.hist.setLabel("left", "batches")
        self.hist_curve = self.hist.plot(stepMode="center", fillLevel=0, brush=(66, 165, 245, 120), pen="#1e88e5")

        self.throughput = self.throughput_card.fill(pg.PlotWidget)
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

        self.stages = self.stages_card.fill(pg.PlotWidget)
        self.stages.setLabel("bottom", "batch")
        self.stages.setLabel("left", "time (ms)")
        self.stage_curves = []
        # Cumulative curves filled down to zero, the tallest (queue+encode+infer+post) underneath: the visible bands
        # are the stages. (FillBetweenItem would rebuild two paths per band per frame.)
        for z, colour in enumerate(STAGE_COLOURS):
            curve = self.stages.plot(pen=pg.mkPen(colour, width=1), fillLevel=0, brush=pg.mkBrush(colour))
            curve.setZValue(len(STAGES) - z)
            self.stage_curves.append(curve)

        self.padding = self.padding_card.fill(pg.PlotWidget)
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
        self.built = True
        self._seen = -1
        self._panel_seen = [-1] * len(self._panels)
        self.timer.start()
        self.refresh(full=True)

    def set_recorder(self, recorder: StatsRecorder | None) -> None:
        self.recorder = recorder
        self._seen = -1
        self._panel_seen = [-1] * len(self._panels)
        self.refresh(full=True)

    def reset(self) -> None:
        if self.recorder is not None:
            self.recorder.reset()
        self.refresh(full=True)

    def refresh(self, full: bool = False) -> None:
        """Redraw what changed since the last call (cheap when nothing did).

        The latency scatter, its percentile lines and the readout follow every tick. The other plots take turns,
        one per tick, until each shows the latest records: a tick then paints two plots rather than five, which
        keeps each frame short on a machine whose cores are busy scoring. ``full`` redraws everything now
        (screenshots, tests).
        """
        rec = self.recorder
        version = rec.version if rec is not None else -2
        cards = (self.throughput_card, self.hist_card, self.stages_card, self.padding_card)
        stale = [i for i in range(len(self._panel_seen)) if self._panel_seen[i] != version and cards[i].isVisible()]
        if not self.built or (version == self._seen and not stale) or not self.isVisible():
            return  # hidden: redraw when shown again
        records = rec.snapshot(WINDOW) if rec is not None else None
        if records is None or not len(records):
            self._seen = version
            self._panel_seen = [version] * len(self._panel_seen)
            self._clear()
            return
        ok = records[~records["failed"]]
        lat = batch_latency_ms(ok) if len(ok) else np.zeros(0)
        if version != self._seen:
            self._seen = version
            self.redraws += 1
            self._draw_latency(rec, records, ok, lat)
        n = len(self._panel_seen)
        for i in [(self._next_panel + k) % n for k in range(n)]:
            if self._panel_seen[i] == version or not cards[i].isVisible():
                continue
            self._panels[i](ok, lat)
            self._panel_seen[i] = version
            self._next_panel = (i + 1) % n
            if not full:
                break

    def _draw_latency(self, rec: StatsRecorder, records: np.ndarray, ok: np.ndarray, lat: np.ndarray) -> None:
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
        self.latency_card.set_legend(
            "  ".join(swatch(c, name) for _lo, _hi, name, c in BATCH_BUCKETS) + "&nbsp;&nbsp;&nbsp;"
            + "  ".join(swatch(PCT_COLOURS[k], f"{k} {v:,.1f} ms", dashed=True) for k, v in values.items()))
        failed = int(records["failed"].sum())
        self.readout.setText(
            f"<b>p50</b> {summary.p50_ms:.1f} ms &nbsp; <b>p95</b> {summary.p95_ms:.1f} ms &nbsp; "
            f"<b>p99</b> {summary.p99_ms:.1f} ms &nbsp;|&nbsp; <b>{summary.texts_per_s:,.0f}</b> texts/s, "
            f"{summary.tokens_per_s:,.0f} tokens/s &nbsp;|&nbsp; mean batch {summary.mean_batch:.1f} &nbsp;|&nbsp; "
            f"padding efficiency {summary.padding_efficiency:.0%} &nbsp;|&nbsp; {plural(summary.batches, 'batch')}"
            + (f", <span style='color:#c62828'>{plural(failed, 'failed batch', 'failed batches')}</span>"
               if failed else "")
        )

    def _histogram(self, ok: np.ndarray, lat: np.ndarray) -> None:
        if len(lat):
            counts, edges = np.histogram(lat, bins=min(40, max(5, len(lat) // 4)))
            self.hist_curve.setData(edges, counts)
            self.ranges["hist_x"].fit(float(edges[0]), float(edges[-1]))
            self.ranges["hist_y"].fit(0.0, float(counts.max()))
        else:
            self.hist_curve.setData([0, 1], [0])

    def _stages(self, ok: np.ndarray, lat: np.ndarray) -> None:
        recent = ok[-STAGE_WINDOW:]
        base = np.zeros(len(recent))
        x = np.arange(len(ok) - len(recent), len(ok))
        for curve, stage in zip(self.stage_curves, STAGES, strict=True):
            base = base + recent[stage]
            curve.setData(x, base)
        if len(recent):
            self.ranges["stages_x"].fit(float(x[0]), float(x[-1]))
            self.ranges["stages_y"].fit(0.0, float(base.max()))

    def _padding(self, ok: np.ndarray, lat: np.ndarray) -> None:
        x = np.arange(len(ok))
        padded = ok["rows"].astype(np.float64) * ok["padded_len"]
        eff = np.divide(ok["real_tokens"], padded, out=np.ones(len(ok)), where=padded > 0)
        self.padding_curve.setData(x, eff)
        if len(ok):
            self.ranges["padding_x"].fit(0.0, float(x[-1]))

    def _throughput(self, ok: np.ndarray, lat: np.ndarray | None = None) -> None:
        grid, tps, tokens_s = sliding_throughput(ok["t"], ok["rows"], ok["real_tokens"])
        self.tps_curve.setData(grid, tps)
        self.tokens_curve.setData(grid, tokens_s)
        if len(grid):
            self.ranges["tps_x"].fit(float(grid[0]), float(grid[-1]))
            self.ranges["tps_y"].fit(0.0, float(tps.max()))
            self.ranges["tokens_y"].fit(0.0, float(tokens_s.max()))

    def _clear(self) -> None:
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
        self.readout.setText("No batches yet. Run some texts, or type in the quick-classify box.")

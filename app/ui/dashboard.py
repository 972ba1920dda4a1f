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

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from .plots import PlotCard, swatch

if TYPE_CHECKING:
    from ..engine.stats import StatsRecorder

WINDOW = 1000  # batches drawn in the time plots (the readouts use the whole ring buffer)
STAGE_WINDOW = 300  # batches drawn in the stacked stage plot
REFRESH_HZ = 15
STAGE_COLOURS = ("#9e9e9e", "#42a5f5", "#ef6c00", "#66bb6a")
STAGE_NAMES = ("queue", "encode", "infer", "post")  # app.engine.stats.STAGES, in that order
PCT_COLOURS = {"p50": "#2e7d32", "p95": "#f9a825", "p99": "#c62828"}
TEXTS_COLOUR, TOKENS_COLOUR = "#1e88e5", "#ef6c00"
# Dots are coloured by batch size in four buckets: one scatter item (one brush) per bucket draws far faster than
# a brush per dot.
BATCH_BUCKETS = ((1, 1, "batch 1", "#5e35b1"), (2, 8, "2–8", "#1e88e5"), (9, 32, "9–32", "#43a047"),
                 (33, 1 << 30, "33+", "#fb8c00"))
WIDE_PX = 1400  # from this width all five plots fit in one row
ROW_PX = 190  # a plot row needs about this much height to stay readable


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
        self._panels = ("throughput_plot", "histogram", "stages_plot", "padding_plot")  # drawn in turn
        self._panel_seen = [-1] * len(self._panels)
        self._next_panel = 0

        self.readout = QLabel("No batches yet.")
        self.readout.setObjectName("latencyReadout")
        self.readout.setWordWrap(True)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.readout.setFixedHeight(2 * self.readout.fontMetrics().lineSpacing() + 4)  # new text never moves a plot
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
        # Legends stay the same during a run (the percentile values are in the readout): a label whose text changes
        # 15 times a second would ask for a new layout of the whole panel every frame.
        self.latency_card.set_legend("  ".join(swatch(c, name) for _lo, _hi, name, c in BATCH_BUCKETS)
                                     + "&nbsp;&nbsp; " + "  ".join(swatch(c, k, dashed=True)
                                                                   for k, c in PCT_COLOURS.items()))
        self.throughput_card.set_legend(f"{swatch(TEXTS_COLOUR, 'texts/s')}  {swatch(TOKENS_COLOUR, 'tokens/s')}"
                                        "  (1 s window)")
        self.stages_card.set_legend("  ".join(swatch(c, n) for n, c in zip(STAGE_NAMES, STAGE_COLOURS, strict=True)))
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
        """Create the pyqtgraph plots (imports pyqtgraph and numpy); call once the window has painted."""
        if self.built:
            return
        from .latency_plots import LatencyPlots

        self.plots = LatencyPlots(self)
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
        plots = self.plots
        if records is None or not len(records):
            self._seen = version
            self._panel_seen = [version] * len(self._panel_seen)
            plots.clear()
            return
        ok = records[~records["failed"]]
        lat = plots.latency_ms(ok)
        if version != self._seen:
            self._seen = version
            self.redraws += 1
            plots.draw_latency(rec, records, ok, lat)
        n = len(self._panel_seen)
        for i in [(self._next_panel + k) % n for k in range(n)]:
            if self._panel_seen[i] == version or not cards[i].isVisible():
                continue
            getattr(plots, self._panels[i])(ok, lat)
            self._panel_seen[i] = version
            self._next_panel = (i + 1) % n
            if not full:
                break

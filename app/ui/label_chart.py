"""Rows per label as horizontal bars: label names on the left, whole-number ticks, "failed" and "not scored" named."""

from __future__ import annotations

import math

from .plots import PlotCard, plot_colours
from .widgets import NO_LABEL_COLOUR, label_colour

NO_LABEL_NAMES = ("failed", "not scored")


def integer_ticks(top: int, most: int = 6) -> list[int]:
    """0, step, 2·step, … past ``top`` with a 1-2-5 step ≥ 1, at most about ``most`` ticks."""
    top = max(int(top), 1)
    raw = top / max(most - 1, 1)
    base = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next((m * base for m in (1, 2, 5, 10) if m * base >= raw), 10 * base)
    step = max(1, int(step))
    return list(range(0, top + step, step))


class LabelChart(PlotCard):
    """Shows :meth:`ResultStore.counts` (rows per label, then failed / not scored)."""

    def __init__(self) -> None:
        super().__init__("Rows per label", "labelChart")
        self.counts: dict[str, int] = {}
        self.names: list[str] = []
        self.ticks: list[int] = []
        self._bars = None
        self._texts: list = []
        self._drawn_names: list[str] | None = None
        self._drawn_ticks: list[int] | None = None

    def build(self) -> None:
        from .plots import load_pyqtgraph

        pg = load_pyqtgraph()
        plot = self.fill(lambda: pg.PlotWidget())
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.getPlotItem().invertY(True)  # the first label on top
        plot.getAxis("bottom").setLabel("rows")
        self._draw()

    def show_counts(self, counts: dict[str, int]) -> None:
        if counts == self.counts:
            return
        self.counts = dict(counts)
        self._draw()

    def _draw(self) -> None:
        self.names = list(self.counts)
        values = [self.counts[n] for n in self.names]
        self.ticks = integer_ticks(max(values, default=1), most=4)
        if self.plot is None:
            return
        import numpy as np
        import pyqtgraph as pg

        plot = self.plot
        widths = np.asarray(values, dtype=float)
        if self._drawn_names != self.names:  # new labels: new items (during a run only the counts change)
            self._drawn_names = list(self.names)
            if self._bars is not None:
                plot.removeItem(self._bars)
                self._bars = None
            for item in self._texts:
                plot.removeItem(item)
            self._texts = []
            plot.getAxis("left").setTicks([[(i, n) for i, n in enumerate(self.names)]])
            if not self.names:  # (pyqtgraph cannot build an empty BarGraphItem)
                return
            labels = [n for n in self.names if n not in NO_LABEL_NAMES]
            brushes = [NO_LABEL_COLOUR if n in NO_LABEL_NAMES else label_colour(n, labels.index(n)) for n in self.names]
            self._bars = pg.BarGraphItem(x0=np.zeros(len(values)), y=np.arange(len(values)), height=0.7,
                                         width=widths, brushes=brushes, pens=[None] * len(values))
            plot.addItem(self._bars)
            for _ in values:
                text = pg.TextItem("")
                plot.addItem(text)
                self._texts.append(text)
            plot.setYRange(-0.6, len(values) - 0.4, padding=0)
        elif self._bars is not None:
            self._bars.setOpts(width=widths)
        if self._drawn_ticks != self.ticks:
            self._drawn_ticks = list(self.ticks)
            plot.getAxis("bottom").setTicks([[(t, f"{t:,}") for t in self.ticks], []])
            plot.setXRange(0, self.ticks[-1] * 1.05, padding=0)
        _, foreground = plot_colours(self.palette())
        right = self.ticks[-1] * 1.05
        for text, (i, v) in zip(self._texts, enumerate(values), strict=True):
            inside = v > 0.55 * right  # a long bar carries its count inside, so the number never runs off the plot
            text.setText(f"{v:,}", color="w" if inside else foreground)
            text.setAnchor((1.05, 0.5) if inside else (0, 0.5))
            text.setPos(v, i)

"""On-device latency sweep: batch sizes × sequence lengths × providers, as a table, a line plot and a heatmap."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..engine.errors import InputError
from .workers import sweep_point_row

if TYPE_CHECKING:
    from ..engine.sweep import SweepPlan, SweepPoint

HEADERS = ("Provider", "Batch", "Seq len", "p50 ms", "p95 ms", "texts/s", "tokens/s", "Note")
LINE_COLOURS = ("#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#ad1457")


def parse_ints(text: str, what: str) -> list[int]:
    try:
        values = [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise InputError(f"{what} must be whole numbers separated by commas, like 1, 8, 32") from None
    if not values or min(values) < 1:
        raise InputError(f"{what} must be at least one number ≥ 1")
    return sorted(set(values))


class SweepPanel(QWidget):
    run_requested = Signal(object)  # SweepPlan
    cancel_requested = Signal()
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[SweepPoint] = []
        self.batches = QLineEdit("1, 4, 16, 64")
        self.batches.setObjectName("sweepBatches")
        self.batches.setToolTip("Batch sizes to measure")
        self.lengths = QLineEdit("16, 64, 128")
        self.lengths.setObjectName("sweepLengths")
        self.lengths.setToolTip("Sequence lengths (tokens) to measure")
        self.cpu = QCheckBox("CPU")
        self.cpu.setChecked(True)
        self.cuda = QCheckBox("CUDA")
        self.repeats = QSpinBox()
        self.repeats.setRange(1, 1000)
        self.repeats.setValue(10)
        self.repeats.setToolTip("Timed runs per point (after 2 warm-up runs; at most 5 s per point)")
        self.run_button = QPushButton("Run sweep")
        self.run_button.setObjectName("sweepRun")
        self.run_button.clicked.connect(self._run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the sweep as CSV or JSON")
        self.export_button.clicked.connect(self.export_requested)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m points")
        bar = QHBoxLayout()
        for w in (QLabel("Batch sizes"), self.batches, QLabel("Seq lens"), self.lengths, self.cpu, self.cuda,
                  QLabel("Repeats"), self.repeats, self.run_button, self.cancel_button, self.progress,
                  self.export_button):
            bar.addWidget(w)

        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("sweepTable")
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.plot = pg.PlotWidget(title="Latency p50 (ms) vs batch size — one line per sequence length")
        self.plot.setLabel("bottom", "batch size")
        self.plot.setLogMode(x=True, y=False)
        self.plot.addLegend(offset=(5, 5))
        self.heat = pg.PlotWidget(title="Throughput (texts/s): sequence length × batch size")
        self.heat_image = pg.ImageItem()
        self.heat.addItem(self.heat_image)
        self.heat_bar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), interactive=False, width=12)
        self.heat_bar.setImageItem(self.heat_image, insert_in=self.heat.getPlotItem())
        self.heat_labels: list[pg.TextItem] = []
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(self.plot)
        plots.addWidget(self.heat)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(plots)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        self.message = QLabel("Measures the loaded model on synthetic batches of real text, after warm-up runs.")
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.message)

    def plan(self, threads: int = 0) -> SweepPlan:
        from ..engine.sweep import SweepPlan

        providers = [p for p, box in (("cpu", self.cpu), ("cuda", self.cuda)) if box.isChecked()]
        if not providers:
            raise InputError("Pick at least one provider (CPU or CUDA)")
        return SweepPlan(parse_ints(self.batches.text(), "Batch sizes"), parse_ints(self.lengths.text(),
                         "Sequence lengths"), providers, repeats=self.repeats.value(), threads=threads)

    def _run(self) -> None:
        self.run_requested.emit(None)  # the window builds the plan (it knows the threads) and reports errors

    def started(self, plan: SweepPlan) -> None:
        self.points = []
        self.table.setRowCount(0)
        self.progress.setMaximum(plan.points)
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._redraw()

    def add_point(self, point: SweepPoint) -> None:
        self.points.append(point)
        row = self.table.rowCount()
        self.table.insertRow(row)
        for c, value in enumerate(sweep_point_row(point)):
            item = QTableWidgetItem(value)
            if 0 < c < 7:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, c, item)
        self.progress.setValue(len(self.points))
        self._redraw()

    def finished(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _redraw(self) -> None:
        self.plot.clear()
        for item in self.heat_labels:
            self.heat.removeItem(item)
        self.heat_labels = []
        ok = [p for p in self.points if not p.error]
        if not ok:
            self.heat_image.clear()
            return
        series = sorted({(p.provider, p.seq_len) for p in ok})
        for i, (provider, length) in enumerate(series):
            pts = sorted((p for p in ok if p.provider == provider and p.seq_len == length), key=lambda p: p.batch_size)
            self.plot.plot([p.batch_size for p in pts], [p.p50_ms for p in pts],
                           pen=pg.mkPen(LINE_COLOURS[i % len(LINE_COLOURS)], width=2), symbol="o", symbolSize=6,
                           symbolBrush=LINE_COLOURS[i % len(LINE_COLOURS)], name=f"{provider} len {length}")
        provider = ok[0].provider
        mine = [p for p in ok if p.provider == provider]
        bs = sorted({p.batch_size for p in mine})
        ls = sorted({p.seq_len for p in mine})
        grid = np.full((len(bs), len(ls)), np.nan)
        for p in mine:
            grid[bs.index(p.batch_size), ls.index(p.seq_len)] = p.texts_per_s
        finite = grid[np.isfinite(grid)]
        self.heat_image.setImage(np.nan_to_num(grid, nan=0.0), autoLevels=False)
        hi = float(finite.max()) if len(finite) else 1.0
        self.heat_bar.setLevels((0.0, hi))
        self.heat.getAxis("bottom").setTicks([[(i + 0.5, str(b)) for i, b in enumerate(bs)]])
        self.heat.getAxis("left").setTicks([[(j + 0.5, str(n)) for j, n in enumerate(ls)]])
        self.heat.setLabel("bottom", f"batch size ({provider})")
        self.heat.setLabel("left", "sequence length")
        for i in range(len(bs)):
            for j in range(len(ls)):
                if np.isfinite(grid[i, j]):
                    label = pg.TextItem(f"{grid[i, j]:,.0f}", color="w", anchor=(0.5, 0.5))
                    label.setPos(i + 0.5, j + 0.5)
                    self.heat.addItem(label)
                    self.heat_labels.append(label)

"""On-device latency sweep: batch sizes × sequence lengths × providers, as a table, a line plot and a heatmap.

The table lists every planned point at once; a point's cells stay blank until it is measured, and the heatmap leaves
unmeasured cells empty (never 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
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
from .plots import PlotCard, swatch
from .widgets import ElidedLabel

if TYPE_CHECKING:
    from ..engine.card import ModelCard
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


def point_cells(p: SweepPoint) -> list[str]:
    if p.error:
        return [p.provider, str(p.batch_size), str(p.seq_len), "", "", "", "", p.error]
    return [p.provider, str(p.batch_size), str(p.seq_len), f"{p.p50_ms:.2f}", f"{p.p95_ms:.2f}",
            f"{p.texts_per_s:,.0f}", f"{p.tokens_per_s:,.0f}", ""]


def cuda_unusable_reason(card: ModelCard) -> str | None:
    """Why a CUDA sweep cannot run here, or None when it can."""
    if "CUDAExecutionProvider" not in card.providers_available:
        return "this ONNX Runtime has no CUDA provider (install onnxruntime-gpu on a machine with an NVIDIA GPU)"
    return card.cuda_fallback_reason


class SweepPanel(QWidget):
    run_requested = Signal()
    cancel_requested = Signal()
    export_requested = Signal()
    save_requested = Signal(object)  # PlotCard

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[SweepPoint] = []
        self.planned: list[tuple[str, int, int]] = []  # (provider, batch, length) in the order points arrive
        self.built = False
        self.batches = QLineEdit("1, 4, 16, 64")
        self.batches.setMinimumWidth(60)
        self.batches.setObjectName("sweepBatches")
        self.batches.setToolTip("Batch sizes to measure")
        self.lengths = QLineEdit("16, 64, 128")
        self.lengths.setMinimumWidth(60)
        self.lengths.setObjectName("sweepLengths")
        self.lengths.setToolTip("Sequence lengths (tokens per text) to measure")
        self.cpu = QCheckBox("CPU")
        self.cpu.setChecked(True)
        self.cuda = QCheckBox("CUDA")
        self.cuda.setObjectName("sweepCuda")
        self.cuda_reason = ElidedLabel("")
        self.cuda_reason.setObjectName("sweepCudaReason")
        self.repeats = QSpinBox()
        self.repeats.setRange(1, 1000)
        self.repeats.setValue(10)
        self.repeats.setToolTip("Timed runs per point (after 2 warm-up runs; at most 5 s per point)")
        self.run_button = QPushButton("Run sweep")
        self.run_button.setObjectName("sweepRun")
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the sweep as CSV or JSON")
        self.export_button.clicked.connect(self.export_requested)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m points")
        self.progress.setValue(0)
        what = QHBoxLayout()
        for w in (QLabel("Batch sizes"), self.batches, QLabel("Lengths"), self.lengths, QLabel("Repeats"),
                  self.repeats):
            what.addWidget(w)
        what.addWidget(self.cuda_reason, 1)
        how = QHBoxLayout()
        for w in (self.cpu, self.cuda, self.run_button, self.cancel_button):
            how.addWidget(w)
        how.addWidget(self.progress, 1)
        how.addWidget(self.export_button)

        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("sweepTable")
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(HEADERS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.line_card = PlotCard("Latency p50 (ms) vs batch size, one line per sequence length", "sweepLines")
        self.heat_card = PlotCard("Throughput (texts/s): batch size × sequence length", "sweepHeatmap")
        for card in (self.line_card, self.heat_card):
            card.save_requested.connect(self.save_requested)
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.line_card)
        plots.addWidget(self.heat_card)
        plots.setChildrenCollapsible(False)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("sweepSplit")
        split.addWidget(self.table)
        split.addWidget(plots)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setChildrenCollapsible(False)
        self.message = ElidedLabel("Measures the loaded model on synthetic batches of real text, after warm-up runs.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(what)
        layout.addLayout(how)
        layout.addWidget(split, 1)
        layout.addWidget(self.message)

    def build(self) -> None:
        """Create the plots (imports pyqtgraph); call once the window has painted."""
        if self.built:
            return
        from .plots import load_pyqtgraph

        pg = load_pyqtgraph()
        self.plot = self.line_card.fill(pg.PlotWidget)
        self.plot.setLabel("bottom", "batch size")
        self.plot.setLabel("left", "p50 (ms)")
        self.plot.setLogMode(x=True, y=False)
        self.heat = self.heat_card.fill(pg.PlotWidget)
        self.heat_image = pg.ImageItem()
        self.heat.addItem(self.heat_image)
        self.heat_bar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), interactive=False, width=12)
        self.heat_bar.setImageItem(self.heat_image, insert_in=self.heat.getPlotItem())
        self.heat_labels: list = []
        for plot in (self.plot, self.heat):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)
        self.built = True
        self._redraw()

    def set_cuda_usable(self, reason: str | None) -> None:
        """Disable the CUDA choice, with the reason beside it, when CUDA cannot run here."""
        self.cuda.setEnabled(reason is None)
        if reason is not None:
            self.cuda.setChecked(False)
        self.cuda.setToolTip(f"CUDA is not usable: {reason}" if reason else "Measure on the GPU too")
        self.cuda_reason.set_full_text(f"CUDA not usable: {reason}" if reason else "")

    def plan(self, threads: int = 0) -> SweepPlan:
        from ..engine.sweep import SweepPlan

        providers = [p for p, box in (("cpu", self.cpu), ("cuda", self.cuda)) if box.isChecked() and box.isEnabled()]
        if not providers:
            raise InputError("Pick at least one provider (CPU or CUDA)")
        return SweepPlan(parse_ints(self.batches.text(), "Batch sizes"), parse_ints(self.lengths.text(),
                         "Sequence lengths"), providers, repeats=self.repeats.value(), threads=threads)

    def started(self, plan: SweepPlan) -> None:
        self.points = []
        self.planned = [(p.upper(), b, n) for p in plan.providers for n in plan.seq_lens for b in plan.batch_sizes]
        self.table.setRowCount(len(self.planned))
        for row, (provider, batch, length) in enumerate(self.planned):
            for c, value in enumerate([provider, str(batch), str(length), "", "", "", "", "waiting"]):
                item = QTableWidgetItem(value)
                if 0 < c < 7:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 7:
                    item.setForeground(self.palette().placeholderText())
                self.table.setItem(row, c, item)
        self.progress.setMaximum(plan.points)
        self.progress.setFormat("%v / %m point" if plan.points == 1 else "%v / %m points")
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._redraw()

    def add_point(self, point: SweepPoint) -> None:
        row = len(self.points)
        self.points.append(point)
        if row >= self.table.rowCount():
            self.table.setRowCount(row + 1)
        for c, value in enumerate(point_cells(point)):
            item = QTableWidgetItem(value)
            if 0 < c < 7:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if c == 7 and value:
                item.setToolTip(value)
            self.table.setItem(row, c, item)
        self.progress.setValue(len(self.points))
        self._redraw()

    def finished(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        for row in range(len(self.points), self.table.rowCount()):
            item = self.table.item(row, 7)
            if item is not None:
                item.setText("not measured (cancelled)")

    def _redraw(self) -> None:
        if not self.built:
            return
        import numpy as np
        import pyqtgraph as pg

        self.plot.clear()
        for item in self.heat_labels:
            self.heat.removeItem(item)
        self.heat_labels = []
        ok = [p for p in self.points if not p.error]
        series = sorted({(p.provider, p.seq_len) for p in ok})
        legend = []
        for i, (provider, length) in enumerate(series):
            colour = LINE_COLOURS[i % len(LINE_COLOURS)]
            pts = sorted((p for p in ok if p.provider == provider and p.seq_len == length), key=lambda p: p.batch_size)
            self.plot.plot([p.batch_size for p in pts], [p.p50_ms for p in pts], pen=pg.mkPen(colour, width=2),
                           symbol="o", symbolSize=6, symbolBrush=colour)
            legend.append(swatch(colour, f"{provider} len {length}"))
        self.line_card.set_legend("  ".join(legend))
        if not self.planned:
            self.heat_image.clear()
            return
        provider = self.planned[0][0]
        bs = sorted({b for p, b, _n in self.planned if p == provider})
        ls = sorted({n for p, _b, n in self.planned if p == provider})
        grid = np.full((len(bs), len(ls)), np.nan)
        for p in ok:
            if p.provider.upper() == provider and p.batch_size in bs and p.seq_len in ls:
                grid[bs.index(p.batch_size), ls.index(p.seq_len)] = p.texts_per_s
        finite = grid[np.isfinite(grid)]
        hi = float(finite.max()) if len(finite) else 1.0
        self.heat_image.setImage(grid, autoLevels=False, levels=(0.0, hi))  # NaN (not measured yet) stays empty
        self.heat_bar.setLevels((0.0, hi))
        self.heat.getAxis("bottom").setTicks([[(i + 0.5, str(b)) for i, b in enumerate(bs)]])
        self.heat.getAxis("left").setTicks([[(j + 0.5, str(n)) for j, n in enumerate(ls)]])
        self.heat.setLabel("bottom", f"batch size ({provider})")
        self.heat.setLabel("left", "sequence length")
        for i in range(len(bs)):
            for j in range(len(ls)):
                if np.isfinite(grid[i, j]):
                    ink = "k" if grid[i, j] > 0.6 * hi else "w"  # viridis turns yellow at the top
                    label = pg.TextItem(f"{grid[i, j]:,.0f}", color=ink, anchor=(0.5, 0.5))
                    label.setPos(i + 0.5, j + 0.5)
                    self.heat.addItem(label)
                    self.heat_labels.append(label)

"""The Serve tab: latency of served models, live — a local ``sieve serve`` or any URL, under load.

Left: the form (``serve_form.py``: what to measure, Run / Cancel / Export, the local server's log). Right: four
plots (p50/p99 against offered load with the knee, latency per second, rates per second, the server's stage times)
and the comparison table with the recommended ``sieve serve`` command. Everything is drawn from the run's
:class:`~app.serve.inspection_record.InspectionRecord`; nothing here blocks or touches the network.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .plots import PlotCard, swatch
from .serve_form import ServeForm
from .widgets import ERROR_COLOUR

if TYPE_CHECKING:
    from ..serve.inspection_record import InspectionRecord

STAGE_COLOURS = {"queue": "#bdbdbd", "tokenize": "#26a69a", "inference": "#7e57c2"}  # not the targets' colours
FAILED_COLOUR, REJECTED_COLOUR = "#c62828", "#f9a825"
TARGET_COLOURS = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#ad1457")
HEADERS = ("", "Server", "req/s", "p50 ms", "p99 ms", "max req/s", "failed (429)", "RSS MB", "cold start s")
HEADER_TIPS = ("", "The server and its settings", "The highest offered rate whose p99 stayed at or under the target "
               "with at most 1% failed (a sweep), or the rate answered (a single run)",
               "Median latency at that rate", "99th percentile latency at that rate",
               "The most requests per second answered in any step (the capacity measured first, in a sweep)",
               "Requests that failed or went unanswered over the whole run (of which 429: queue full)",
               "The local server's resident memory after the load", "Launch → first 200 from /predict")
ONE_ROW_ASPECT = 2.6  # the plots sit in one row when their area is this much wider than tall, else two by two
ONE_ROW_MIN_PX = 640


def target_colour(i: int) -> str:
    return TARGET_COLOURS[i % len(TARGET_COLOURS)]


def _fmt(value: float | None, pattern: str = "{:,.1f}") -> str:
    return "—" if value is None else pattern.format(value)


class ServePanel(QWidget):
    """The form on the left (:class:`ServeForm`, ``self.form``); plots, table and recommendation on the right."""

    save_requested = Signal(object)  # PlotCard

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.built = False
        self.plots = None
        self.record: InspectionRecord | None = None
        self._drawn = -1
        self._redraw = QTimer(self)  # events arrive in bursts (a snapshot, a step's end): draw once per burst
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(50)
        self._redraw.timeout.connect(self.redraw)
        self._parts: list[str] = []  # plots still to redraw, one per tick of _part_timer
        self._part_timer = QTimer(self)
        self._part_timer.setInterval(40)
        self._part_timer.timeout.connect(self._draw_part)

        controls = self.form = ServeForm()
        self.curve_card = PlotCard("Latency vs load", "serveCurve")
        self.latency_card = PlotCard("Latency per second", "serveLatency")
        self.rate_card = PlotCard("Request rates", "serveRates")
        self.stages_card = PlotCard("Server stage times", "serveStages")
        self.cards = (self.curve_card, self.latency_card, self.rate_card, self.stages_card)
        for card in self.cards:
            card.save_requested.connect(self.save_requested)
            card.legend_lines(2)  # two targets' names and the line styles do not fit one line of a quarter width
        self.plot_grid = QGridLayout()
        self.plot_grid.setSpacing(6)
        self._wide: bool | None = None
        plots = self.plots_box = QWidget()
        plots.setLayout(self.plot_grid)
        plots.installEventFilter(self)  # re-arranged when it is resized (the window, or the splitter below it)
        self.plot_grid.setContentsMargins(0, 0, 0, 0)
        self._arrange()

        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("serveTable")
        self.table.setHorizontalHeaderLabels(HEADERS)
        for c, tip in enumerate(HEADER_TIPS):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.recommendation = QLabel("Run a rate sweep to see where latency leaves the target.")
        self.recommendation.setObjectName("serveRecommendation")
        self.recommendation.setWordWrap(True)
        self.recommendation.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.command = QLineEdit()
        self.command.setObjectName("serveCommand")
        self.command.setReadOnly(True)
        self.command.setPlaceholderText("the recommended sieve serve command appears here")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the sieve serve command")
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.command.text()))
        command_row = QHBoxLayout()
        command_row.addWidget(self.command, 1)
        command_row.addWidget(self.copy_button)
        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.setSpacing(3)
        table_layout.addWidget(self.table, 1)
        table_layout.addWidget(self.recommendation)
        table_layout.addLayout(command_row)
        # the header, two targets, the recommendation and the command, whatever the tab's height
        rows = self.table.horizontalHeader().sizeHint().height() + 2 * self.table.verticalHeader().defaultSectionSize()
        table_box.setMinimumHeight(rows + 2 * self.command.sizeHint().height() + 14)
        lower = table_box
        self.right = QSplitter(Qt.Orientation.Vertical)
        self.right.setObjectName("serveSplit")
        self.right.addWidget(plots)
        self.right.addWidget(lower)
        self.right.setStretchFactor(0, 3)
        self.right.setStretchFactor(1, 1)
        self.right.setChildrenCollapsible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(controls)
        layout.addWidget(self.right, 1)

    def run_started(self, record: InspectionRecord) -> None:
        self.record = record
        self._drawn = -1
        self.table.setRowCount(0)
        self.recommendation.setText("Measuring…")
        self.command.clear()
        if self.plots is not None:
            self.plots.reset(record)
        self._legends(record)
        self.redraw()

    def run_changed(self, _event=None) -> None:  # noqa: ANN001
        if not self._redraw.isActive():
            self._redraw.start()

    def run_finished(self, record: InspectionRecord) -> None:
        self.record = record
        self.redraw(full=True)

    def _legends(self, record: InspectionRecord) -> None:
        described = [f"{t.target.name}: {label}" for t, label in zip(record.targets, record.short_labels(), strict=True)]
        names = "  ".join(swatch(target_colour(i), html.escape(d)) for i, d in enumerate(described))
        letters = "  ".join(swatch(target_colour(i), t.target.name) for i, t in enumerate(record.targets))
        grey = self.palette().placeholderText().color().name()
        lines = f"<span style='color:{grey}'>━ p99 ╌ p50</span>"
        # what A, B … are: in the first plot's legend and the table; the other legends name them only
        self.curve_card.set_legend(f"{names} &nbsp;{lines} <span style='color:{grey}'>★ knee</span>")
        self.latency_card.set_legend(f"{letters} &nbsp;{lines}")
        self.rate_card.set_legend(f"{letters} &nbsp;<span style='color:{grey}'>━ answered ┈ offered</span> "
                                  f"{swatch(FAILED_COLOUR, 'failed')} {swatch(REJECTED_COLOUR, '429')}")
        for card in (self.latency_card, self.rate_card, self.stages_card):
            card.legend.setToolTip("\n".join(described))
        self.stages_card.set_legend("  ".join(swatch(c, n) for n, c in STAGE_COLOURS.items())
                                    + (f" &nbsp;<span style='color:{grey}'>(bars left to right: "
                                       f"{', '.join(t.target.name for t in record.targets)})</span>"
                                       if len(record.targets) > 1 else ""))

    # ------------------------------------------------------------------ drawing
    def showEvent(self, event) -> None:  # noqa: ANN001, N802
        super().showEvent(event)
        self.redraw()

    def eventFilter(self, obj, event) -> bool:  # noqa: ANN001, N802
        if obj is self.plots_box and event.type() == QEvent.Type.Resize:
            self._arrange()
        return super().eventFilter(obj, event)

    def _arrange(self) -> None:
        """One row or two by two, whichever leaves each plot closer to a 1.3:1 rectangle: on a short window (a
        laptop's, with the input and results above) four plots in a row are taller than two by two."""
        w, h = self.plots_box.width(), max(self.plots_box.height(), 1)
        wide = w >= ONE_ROW_MIN_PX and w / h >= ONE_ROW_ASPECT
        if wide == self._wide:
            return
        self._wide = wide
        for card in self.cards:
            self.plot_grid.removeWidget(card)
        for i, card in enumerate(self.cards):
            self.plot_grid.addWidget(card, *((0, i) if wide else divmod(i, 2)))
        for c in range(4):
            self.plot_grid.setColumnStretch(c, 1 if wide or c < 2 else 0)
        for r in range(2):
            self.plot_grid.setRowStretch(r, 1 if r == 0 or not wide else 0)

    def build(self) -> None:
        """Create the plots (imports pyqtgraph); call once the window has painted."""
        if self.built:
            return
        from .serve_plots import ServePlots

        self.plots = ServePlots(self)
        self.built = True
        if self.record is not None:
            self.plots.reset(self.record)
        self.redraw()

    def redraw(self, full: bool = False) -> None:
        """Status and table now; the plots one per 40 ms tick (painting all four in one frame took 60–70 ms on a
        busy 2-core machine), or all at once with ``full`` (the run's end, screenshots)."""
        record = self.record
        if record is None or not self.isVisible() or (record.version == self._drawn and not full):
            return  # hidden: drawn when shown again
        self._drawn = record.version
        self._status(record)
        self._table(record)
        if self.plots is None:
            return
        if full:
            self._parts = []
            self._part_timer.stop()
            self.plots.draw(record)
        else:
            self._parts = list(self.plots.PARTS)
            if not self._part_timer.isActive():
                self._draw_part()
                self._part_timer.start()

    def _draw_part(self) -> None:
        if not self._parts or self.record is None or self.plots is None:
            self._part_timer.stop()
            return
        self.plots.draw(self.record, self._parts.pop(0))

    def _status(self, record: InspectionRecord) -> None:
        errors = record.errors()
        current = record.targets[record.current] if record.current is not None else None
        if current is not None and current.steps:
            step = current.steps[-1]
            n = len([s for s in current.steps if s.kind == "open"]) if record.sweep else 0
            where = (f" — rate {n} of {record.plan.sweep_steps}" if record.sweep and step.kind == "open"
                     else " — measuring capacity" if step.kind == "capacity" else "")
            text = f"Measuring {current.target.name}{where}: {step.describe}"
        elif current is not None:
            text = f"Starting {current.target.name}: {current.target.describe()}…"
        elif record.finished:
            text = "Cancelled; what was measured is kept." if record.cancelled else "Finished."
        else:
            text = "Reading the texts…"
        shown = html.escape(text)
        if errors:
            shown += f"<br><span style='color:{ERROR_COLOUR}'>{html.escape(' '.join(errors))}</span>"
        self.form.state.setText(shown)
        self.form.state.setToolTip(text + ("\n" + "\n".join(errors) if errors else ""))

    def _table(self, record: InspectionRecord) -> None:
        rows = record.rows()
        labels = record.short_labels()
        header = f"req/s at p99 ≤ {record.plan.target_p99_ms:g} ms" if record.sweep else "req/s"
        self.table.horizontalHeaderItem(2).setText(header)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            i = next(k for k, t in enumerate(record.targets) if t.target.name == row["target"])
            failed = f"{row['failed']:,}" + (f" ({row['rejected_429']:,})" if row["rejected_429"] else "")
            rate = _fmt(row["rate_per_s"], "{:,.0f}")
            if record.sweep and row["rate_per_s"] is None and row["p99_ms"] is not None:
                rate = "none held"
            cells = [row["target"], labels[i] + (f" — {row['error']}" if row["error"] else ""), rate,
                     _fmt(row["p50_ms"]), _fmt(row["p99_ms"]), _fmt(row["max_per_s"], "{:,.0f}"), failed,
                     _fmt(row["rss_mb"], "{:,.0f}"), _fmt(row["cold_start_s"], "{:.2f}")]
            for c, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if c == 0:
                    item.setForeground(self._brush(target_colour(i)))
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                elif c > 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 1:
                    item.setToolTip(f"{row['server']}\n{row['url'] or ''}" + (f"\n{row['error']}" if row["error"]
                                                                              else ""))
                if c == 4 and row["at_offered_per_s"] is not None:
                    item.setToolTip(f"at {row['at_offered_per_s']:,.0f} requests/s offered")
                self.table.setItem(r, c, item)
        rec = record.recommendation()
        self.recommendation.setText(record.recommendation_text() if record.finished or rec is not None
                                    else "Measuring…")
        self.command.setText(rec.command_line() if rec is not None else "")

    @staticmethod
    def _brush(colour: str):  # noqa: ANN205
        from PySide6.QtGui import QBrush, QColor

        return QBrush(QColor(colour))

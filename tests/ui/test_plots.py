"""Plots that tell the truth: the throughput axis fits the real rate, a pause reads zero, a dark palette gives dark
plots, the label chart names its bars with whole-number ticks, the sweep leaves unmeasured cells blank."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QApplication

from app.engine.stats import StatsRecorder
from app.engine.sweep import SweepPlan, SweepPoint
from app.ui.dashboard import LatencyDashboard
from app.ui.label_chart import LabelChart, integer_ticks
from app.ui.sweep_view import SweepPanel


def recorder_with_clock() -> tuple[StatsRecorder, list[float]]:
    rec = StatsRecorder()
    clock = [0.0]
    rec.now = lambda: clock[0]  # the test says when each batch ends
    return rec, clock


def dashboard(qtbot, width: int = 1500, height: int = 600) -> LatencyDashboard:  # noqa: ANN001
    dash = LatencyDashboard()
    qtbot.addWidget(dash)
    dash.resize(width, height)
    dash.show()
    dash.build()
    dash.timer.stop()
    return dash


def test_throughput_axis_fits_the_real_rate_and_a_pause_reads_zero(qtbot) -> None:  # noqa: ANN001
    rec, clock = recorder_with_clock()
    for k in range(1, 41):  # 2 s at 320 texts/s (a batch of 16 every 50 ms) ...
        clock[0] = 0.05 * k
        rec.add(rows=16, padded_len=20, real_tokens=16 * 12, infer_ms=40.0)
    for k in range(1, 21):  # ... nothing for 8 s, then 1 s more
        clock[0] = 10.0 + 0.05 * k
        rec.add(rows=16, padded_len=20, real_tokens=16 * 12, infer_ms=40.0)
    dash = dashboard(qtbot)
    dash.set_recorder(rec)
    x, y = dash.plots.tps_curve.getData()
    assert y.max() == pytest.approx(320, rel=0.06)  # the first batch is not read as 16 rows in a millisecond
    gap = (x > 3.1) & (x < 10.0)
    assert gap.sum() > 10 and (y[gap] == 0).all()  # the pause is drawn at zero, not as a slope
    top = dash.plots.throughput.getViewBox().viewRange()[1][1]
    assert y.max() <= top <= 2 * y.max()  # the axis fits the data
    assert "20 batches" not in dash.readout.text() and "60 batches" in dash.readout.text()


def test_the_readout_says_1_batch(qtbot) -> None:  # noqa: ANN001
    rec, clock = recorder_with_clock()
    clock[0] = 0.1
    rec.add(rows=1, padded_len=5, real_tokens=5, infer_ms=3.0)
    dash = dashboard(qtbot)
    dash.set_recorder(rec)
    assert "1 batch" in dash.readout.text() and "1 batches" not in dash.readout.text()


def test_a_dark_palette_gives_dark_plots(qtbot) -> None:  # noqa: ANN001
    app = QApplication.instance()
    old = app.palette()
    dark = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, "#202124"), (QPalette.ColorRole.Base, "#17181a"),
                         (QPalette.ColorRole.Text, "#e8eaed"), (QPalette.ColorRole.WindowText, "#e8eaed")):
        dark.setColor(role, QColor(colour))
    app.setPalette(dark)
    try:
        dash = dashboard(qtbot)
        chart = LabelChart()
        qtbot.addWidget(chart)
        chart.build()
        for plot in (dash.plots.latency, dash.plots.throughput, dash.plots.hist, chart.plot):
            assert plot.backgroundBrush().color().lightness() < 60
            assert plot.getAxis("bottom").textPen().color().lightness() > 180
        image = dash.latency_card.grab().toImage()
        assert QColor(image.pixel(image.width() // 2, image.height() // 2)).lightness() < 80
    finally:
        app.setPalette(old)
    QApplication.processEvents()
    assert dash.plots.latency.backgroundBrush().color().lightness() > 200  # and back to light with the palette


def test_the_label_chart_names_its_bars_with_whole_number_ticks(qtbot) -> None:  # noqa: ANN001
    chart = LabelChart()
    qtbot.addWidget(chart)
    chart.resize(300, 240)
    chart.show()
    chart.build()
    chart.show_counts({"negative": 3, "neutral": 0, "positive": 1, "failed": 2, "not scored": 5})
    left = chart.plot.getAxis("left")._tickLevels[0]  # the ticks the axis was given
    bottom = chart.plot.getAxis("bottom")._tickLevels[0]
    assert [name for _, name in left] == ["negative", "neutral", "positive", "failed", "not scored"]
    values = [v for v, _ in bottom]
    assert values == [0, 2, 4, 6] and all(isinstance(v, int) for v in values)  # whole numbers, 0 to past the top
    assert chart.plot.getViewBox().viewRange()[0][1] >= 5  # the longest bar fits
    assert integer_ticks(169) == [0, 50, 100, 150, 200] and integer_ticks(1) == [0, 1]
    assert integer_ticks(3, most=6) == [0, 1, 2, 3]  # never a fractional step


def test_a_plot_saves_as_png(qtbot, tmp_path) -> None:  # noqa: ANN001
    dash = dashboard(qtbot)
    out = tmp_path / "latency.png"
    dash.latency_card.save_png(out)
    image = QImage(str(out))
    assert not image.isNull() and image.width() == dash.latency_card.width()
    assert [p.name for p in tmp_path.iterdir()] == ["latency.png"]  # no temporary file left behind


def test_the_sweep_leaves_unmeasured_cells_blank(qtbot) -> None:  # noqa: ANN001
    panel = SweepPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.build()
    plan = SweepPlan([1, 8], [16, 64], ["cpu"], repeats=1)
    panel.started(plan)
    assert panel.table.rowCount() == 4
    assert all(panel.table.item(r, c).text() == "" for r in range(4) for c in (3, 4, 5, 6))
    panel.add_point(SweepPoint("CPU", 1, 16, 3, 2.0, 2.5, 2.1))
    assert panel.table.item(0, 3).text() == "2.00" and panel.table.item(1, 3).text() == ""
    grid = panel.heat_image.image
    assert np.isfinite(grid[0, 0]) and np.isnan(grid).sum() == 3  # not measured yet: empty, not 0
    assert panel.progress.text() == "1 / 4 points"
    panel.finished()
    assert panel.table.item(3, 7).text() == "not measured (cancelled)"


def test_a_one_point_sweep_counts_one_point(qtbot) -> None:  # noqa: ANN001
    panel = SweepPanel()
    qtbot.addWidget(panel)
    panel.build()
    panel.started(SweepPlan([1], [16], ["cpu"], repeats=1))
    panel.add_point(SweepPoint("CPU", 1, 16, 3, 2.0, 2.5, 2.1))
    assert panel.progress.text() == "1 / 1 point"


def test_cuda_is_disabled_with_the_reason_when_it_cannot_run(qtbot) -> None:  # noqa: ANN001
    panel = SweepPanel()
    qtbot.addWidget(panel)
    panel.cuda.setChecked(True)
    panel.set_cuda_usable("libcublasLt.so.13 not found")
    assert not panel.cuda.isEnabled() and not panel.cuda.isChecked()
    assert "libcublasLt.so.13 not found" in panel.cuda_reason.full_text()
    assert panel.plan().providers == ["cpu"]
    panel.set_cuda_usable(None)
    assert panel.cuda.isEnabled() and panel.cuda_reason.full_text() == ""

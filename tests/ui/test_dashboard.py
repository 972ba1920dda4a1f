"""The dashboard redraws the latency plot every tick and the other plots in turn, and never leaves one stale."""

from __future__ import annotations

import numpy as np

from app.engine.stats import StatsRecorder
from app.ui.dashboard import LatencyDashboard


def fill(rec: StatsRecorder, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        rows = int(rng.integers(1, 40))
        rec.add(rows=rows, padded_len=int(rng.integers(8, 64)), real_tokens=rows * 6, encode_ms=1.0,
                infer_ms=float(rng.uniform(2, 30)), post_ms=0.1)


def drawn(dash: LatencyDashboard) -> dict[str, int]:
    return {
        "scatter": sum(len(item.points()) for item in dash.plots.scatters),
        "hist": 0 if dash.plots.hist_curve.yData is None else int(np.sum(dash.plots.hist_curve.yData)),
        # the throughput curve is on a time grid: count the records up to its last point
        "throughput": 0 if dash.plots.tps_curve.xData is None or not len(dash.plots.tps_curve.xData) else
        int((dash.recorder.snapshot()["t"] <= dash.plots.tps_curve.xData[-1]).sum()),
        "stages": 0 if dash.plots.stage_curves[0].xData is None else len(dash.plots.stage_curves[0].xData),
        "padding": 0 if dash.plots.padding_curve.xData is None else len(dash.plots.padding_curve.xData),
    }


def test_secondary_plots_take_turns_until_all_are_current(qtbot):  # noqa: ANN001
    dash = LatencyDashboard()
    qtbot.addWidget(dash)
    dash.resize(1500, 600)  # room for all five plots
    dash.show()
    dash.build()
    dash.timer.stop()  # the test drives the ticks
    rec = StatsRecorder()
    dash.set_recorder(rec)
    fill(rec, 50)
    dash.refresh()
    first = drawn(dash)
    assert first["scatter"] == 50  # the latency plot follows every tick
    assert sum(first[k] > 0 for k in ("hist", "throughput", "stages", "padding")) == 1  # one other plot per tick
    redraws = dash.redraws
    for _ in range(3):
        dash.refresh()  # no new records, but three plots are still behind: they catch up one per tick
    assert drawn(dash) == {"scatter": 50, "hist": 50, "throughput": 50, "stages": 50, "padding": 50}
    assert dash.redraws == redraws  # the latency plot was not redrawn for nothing
    dash.refresh()
    assert dash.redraws == redraws
    fill(rec, 10, seed=1)
    dash.refresh(full=True)
    assert drawn(dash) == {"scatter": 60, "hist": 60, "throughput": 60, "stages": 60, "padding": 60}
    dash.reset()
    assert drawn(dash)["scatter"] == 0 and drawn(dash)["padding"] == 0


def test_axis_ranges_move_only_when_the_data_leaves_them(qtbot):  # noqa: ANN001
    import pyqtgraph as pg

    from app.ui.latency_plots import StickyRange

    view = pg.ViewBox()
    x = StickyRange(view, "x", min_span=10.0)
    x.fit(0.0, 0.2)  # a run's first batch: one range for the first seconds
    first = (x.lo, x.hi)
    assert first[0] <= 0.0 and first[1] >= 10.0
    for t in (0.5, 2.0, 9.0):
        x.fit(0.0, t)
        assert (x.lo, x.hi) == first  # inside the range: nothing moves, no axis re-layout
    x.fit(0.0, 12.0)
    assert x.hi >= 12.0 * 1.4  # left the range: jumps ahead with headroom
    assert view.viewRange()[0][1] == x.hi
    y = StickyRange(view, "y", floor=0.0)
    y.fit(0.0, 100.0)
    top = y.hi
    y.fit(0.0, 30.0)
    assert y.hi < top  # a floored axis shrinks once the data uses under 40% of it

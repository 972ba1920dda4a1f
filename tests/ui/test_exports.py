"""Files the window writes: results, the evaluation report, the sweep, latency records and plot images all go
through the engine's atomic writer and come out as ordinary files (0644 under the usual umask, like the CLI's)."""

from __future__ import annotations

import os

from .conftest import load, run_and_wait
from .test_main_window import sentences


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_files_the_window_writes_have_normal_permissions(qtbot, window, tiny_bundle, tmp_path) -> None:  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    data = tmp_path / "in" / "gold.csv"
    data.parent.mkdir()
    data.write_text("text,label\n" + "".join(f"{t},positive\n" for t in sentences(20)), encoding="utf-8")
    window.add_inputs([str(data)], ask=False)
    run_and_wait(qtbot, window)
    c = window.controller
    assert c.write_report(tmp_path / "report.json")
    with qtbot.waitSignal(c.exported, timeout=10_000):
        window.write_results(tmp_path / "results.csv")
    assert c.write_stats(tmp_path / "latency.csv")
    window.build_plots()
    window.dashboard.latency_card.save_png(tmp_path / "latency.png")
    wanted = 0o666 & ~umask()
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir() if p.is_file() and p.suffix != ".ini"}
    assert modes == {"results.csv": wanted, "latency.csv": wanted, "latency.png": wanted, "report.json": wanted}

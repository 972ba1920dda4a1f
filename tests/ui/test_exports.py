"""Files the window writes: results, the evaluation report, the sweep, latency records and plot images all go
through the engine's atomic writer and come out as ordinary files (0644 under the usual umask, like the CLI's)."""

from __future__ import annotations

import os

import pytest

from .conftest import load, run_and_wait
from .test_main_window import sentences


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.xfail(strict=True, reason="app.engine.io.atomic_path creates its temporary file 0600; its fix (0644 "
                   "after umask) lands with the reliability branch: remove this mark then")
def test_files_the_window_writes_have_normal_permissions(qtbot, window, tiny_bundle, tmp_path) -> None:  # noqa: ANN001
    load(qtbot, window, tiny_bundle[0])
    window.input_panel.paste.setPlainText("\n".join(sentences(20)))
    run_and_wait(qtbot, window)
    c = window.controller
    with qtbot.waitSignal(c.exported, timeout=10_000):
        window.write_results(tmp_path / "results.csv")
    assert c.write_stats(tmp_path / "latency.csv")
    window.build_plots()
    window.dashboard.latency_card.save_png(tmp_path / "latency.png")
    wanted = 0o666 & ~umask()
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir() if p.suffix in (".csv", ".png")}
    assert modes == {"results.csv": wanted, "latency.csv": wanted, "latency.png": wanted}

"""Sieve's desktop app: a thin PySide6 + pyqtgraph layer over :mod:`app.engine`.

The GUI thread only draws; models load, texts score, sweeps and exports run in QThread workers (``workers.py``),
owned by one :class:`~app.ui.controller.RunController`. The window paints before pyqtgraph and ONNX Runtime are
imported: plots fill in just after, and the model loads on a worker.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)
SELFTEST_TIMEOUT_S = 240
# The workers' Python code (file reading, result chunks) shares the GIL with the GUI thread. With CPython's default
# 5 ms switch interval a busy worker can keep the GUI thread waiting several intervals in a row; 1 ms bounds each
# wait at the cost of more frequent (cheap) switches.
GUI_SWITCH_INTERVAL_S = 0.001


def process_started() -> float:
    """The ``time.perf_counter()`` reading when this process started (Linux: from /proc; elsewhere: now)."""
    now = time.perf_counter()
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return now - max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return now


def tune_process() -> None:
    """Process-wide settings for a responsive window (called once, before the window is built): a short GIL switch
    interval, and cyclic garbage collection on the GUI thread only (``collector.py``: a collection on a worker thread
    that frees a Qt object hangs the process)."""
    from .collector import collect_on_gui_thread

    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    collect_on_gui_thread()


def freeze_heap() -> None:
    """Take everything alive now (Qt, pyqtgraph, numpy, ONNX Runtime, the model) out of the cyclic collector's scans.

    It lives as long as the app; without this every full collection during a run walks it on whichever thread
    allocates (measured: a 70 ms gen-2 pause that froze the window mid-run). Called after each model load.
    """
    gc.freeze()


def open_window(model: str | None = None, settings=None, *, interactive: bool = True, provider: str = "auto",  # noqa: ANN001
                size: tuple[int, int] | None = None):  # noqa: ANN201 - MainWindow
    """Build, show and start the main window as ``sieve`` does (the benchmarks use this too)."""
    from .main_window import MainWindow

    tune_process()
    window = MainWindow(settings, interactive=interactive)
    window.controller.model_ready.connect(lambda _card: freeze_heap())
    if provider != "auto":
        window.model_panel.set_provider(provider)
        window.controller.set_options(window.model_panel.options())
    if size is not None:
        window.resize(*size)
    window.show()
    window.start_default(model)
    return window


def run_gui(model: str | None = None, selftest: str | None = None, provider: str = "auto",
            size: tuple[int, int] | None = None) -> int:
    """Open the main window (on ``model`` or the embedded default model) and run the event loop."""
    t_launch = process_started()
    if selftest and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from PySide6.QtCore import QCoreApplication, QSettings
        from PySide6.QtGui import QIcon
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:  # e.g. libxcb-cursor0 or libEGL missing on Linux
        from ..engine import SieveError

        raise SieveError(f"The desktop app cannot start: {exc}",
                         "On Debian/Ubuntu install libxcb-cursor0 and libegl1; the CLI (sieve score) works without") from exc

    QCoreApplication.setOrganizationName("Sieve")
    QCoreApplication.setApplicationName("Sieve")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from ..paths import resources_dir

    icon = resources_dir() / "icons" / "sieve.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    settings = None
    if selftest:  # the self-test never reads or writes the user's settings
        settings = QSettings(str(Path(selftest).with_suffix(".ini")), QSettings.Format.IniFormat)
        settings.clear()
    window = open_window(model, settings, interactive=not selftest, provider=provider, size=size)
    log.info("window shown %.0f ms after launch", (time.perf_counter() - t_launch) * 1000)
    if selftest:
        return _selftest(app, window, Path(selftest), t_launch)
    return app.exec()


def _selftest(app, window, out: Path, t_launch: float) -> int:  # noqa: ANN001
    """Load the model, score the bundled samples, save a screenshot and a JSON report, and say whether every row
    got a label."""
    from PySide6.QtCore import QTimer

    from ..paths import samples_dir

    result = {"code": 1, "message": "timed out"}
    times: dict[str, float] = {}
    controller = window.controller

    def loaded() -> None:
        if controller.clf is None:
            result["message"] = f"model did not load: {window.last_error}"
            app.quit()
            return
        times.setdefault("model_loaded_s", time.perf_counter() - t_launch)
        samples = sorted(p for p in samples_dir().iterdir() if p.suffix in (".txt", ".csv", ".jsonl"))
        if not samples or not window.add_inputs([str(p) for p in samples], ask=False):
            result["message"] = f"no samples could be imported from {samples_dir()}: {window.last_error}"
            app.quit()
            return
        window.input_panel.quick.setText("I absolutely love this, best day ever!")
        window.run()

    def answered(answer) -> None:  # noqa: ANN001
        if answer is not None and "first_prediction_s" not in times:
            times["first_prediction_s"] = time.perf_counter() - t_launch

    def finished(outcome) -> None:  # noqa: ANN001
        QTimer.singleShot(800, lambda: shoot(outcome))  # let the 15 Hz plots draw the last batches

    def shoot(outcome) -> None:  # noqa: ANN001
        window.build_plots()
        window.dashboard.refresh(full=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        store = controller.store
        unlabelled = int((store.label_idx < 0).sum())
        if len(store) and not unlabelled and not outcome.cancelled and window.last_error is None:
            result.update(code=0, message=f"{len(store)} rows labelled in {outcome.seconds:.1f} s; "
                                          f"counts {store.counts()}; screenshot {out}")
        else:
            result["message"] = (f"{unlabelled} of {len(store)} rows without a label; "
                                 f"last error: {window.last_error}")
        report = selftest_report(window, times, t_launch)
        out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        app.quit()

    controller.model_settled.connect(loaded)
    controller.quick_answer.connect(answered)
    controller.run_finished.connect(finished)
    QTimer.singleShot(SELFTEST_TIMEOUT_S * 1000, app.quit)
    app.exec()
    window.close()
    print(f"selftest {'passed' if result['code'] == 0 else 'FAILED'}: {result['message']}", flush=True)
    return int(result["code"])


def visible_columns(table) -> list[str]:  # noqa: ANN001 - QTableView
    """Names of the table's columns that lie wholly inside its viewport."""
    header = table.horizontalHeader()
    width = table.viewport().width()
    model = table.model()
    out = []
    for c in range(model.columnCount()):
        left = header.sectionViewportPosition(c)
        if not header.isSectionHidden(c) and left >= 0 and left + header.sectionSize(c) <= width:
            out.append(str(model.headerData(c, header.orientation())))
    return out


def selftest_report(window, times: dict[str, float], t_launch: float) -> dict:  # noqa: ANN001
    """What a person would see: the window's size, which result columns show, the messages, the progress text."""
    store = window.controller.store
    return {
        "window": {"width": window.width(), "height": window.height()},
        "results_columns_visible": visible_columns(window.results.table),
        "status_message": window.status.full_text(),
        "status_message_width_px": window.status.width(),
        "progress_text": window.input_panel.progress_text(),
        "notices": window.notices.texts(),
        "rows": len(store),
        "rows_labelled": int((store.label_idx >= 0).sum()),
        "first_paint_s": round(window.first_paint - t_launch, 3) if window.first_paint else None,
        "first_prediction_s": round(times["first_prediction_s"], 3) if "first_prediction_s" in times else None,
        "model_loaded_s": round(times["model_loaded_s"], 3) if "model_loaded_s" in times else None,
    }

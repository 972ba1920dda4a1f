"""Sieve's desktop app: a thin PySide6 + pyqtgraph layer over :mod:`app.engine`.

The GUI thread only draws; models load, texts score, sweeps and exports run in QThread workers (``workers.py``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)
SELFTEST_TIMEOUT_S = 240


def run_gui(model: str | None = None, selftest: str | None = None, provider: str = "auto") -> int:
    """Open the main window (on ``model`` or the embedded default model) and run the event loop."""
    t_launch = time.perf_counter()
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
    from .main_window import MainWindow

    icon = resources_dir() / "icons" / "sieve.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    settings = None
    if selftest:  # the self-test never reads or writes the user's settings
        settings = QSettings(str(Path(selftest).with_suffix(".ini")), QSettings.Format.IniFormat)
        settings.clear()
    window = MainWindow(settings, interactive=not selftest)
    if provider != "auto":
        window.model_panel.set_provider(provider)
    window.show()
    log.info("window shown %.0f ms after launch", (time.perf_counter() - t_launch) * 1000)
    window.start_default(model)
    if selftest:
        return _selftest(app, window, Path(selftest))
    return app.exec()


def _selftest(app, window, out: Path) -> int:  # noqa: ANN001
    """Load the model, score the bundled samples, save a screenshot, and say whether every row got a label."""
    from PySide6.QtCore import QTimer

    from ..paths import samples_dir

    result = {"code": 1, "message": "timed out"}

    def loaded() -> None:
        if window.clf is None:
            result["message"] = f"model did not load: {window.last_error}"
            app.quit()
            return
        samples = sorted(p for p in samples_dir().iterdir() if p.suffix in (".txt", ".csv", ".jsonl"))
        if not samples or not window.add_inputs([str(p) for p in samples], ask=False):
            result["message"] = f"no samples could be imported from {samples_dir()}: {window.last_error}"
            app.quit()
            return
        window.input_panel.quick.setText("I absolutely love this, best day ever!")
        window.run()

    def finished(outcome) -> None:  # noqa: ANN001
        QTimer.singleShot(800, lambda: shoot(outcome))  # let the 15 Hz plots draw the last batches

    def shoot(outcome) -> None:  # noqa: ANN001
        window.dashboard.refresh(full=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        store = window.store
        unlabelled = int((store.label_idx < 0).sum())
        if len(store) and not unlabelled and not outcome.cancelled and window.last_error is None:
            result.update(code=0, message=f"{len(store)} rows labelled in {outcome.seconds:.1f} s; "
                                          f"counts {store.counts()}; screenshot {out}")
        else:
            result["message"] = (f"{unlabelled} of {len(store)} rows without a label; "
                                 f"last error: {window.last_error}")
        app.quit()

    window.model_loaded.connect(loaded)
    window.run_finished.connect(finished)
    QTimer.singleShot(SELFTEST_TIMEOUT_S * 1000, app.quit)
    app.exec()
    window.close()
    print(f"selftest {'passed' if result['code'] == 0 else 'FAILED'}: {result['message']}", flush=True)
    return int(result["code"])

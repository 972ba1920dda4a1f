"""The window paints with its real layout before pyqtgraph, ONNX Runtime and numpy are imported (plots fill in
after)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys, tempfile
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.ui import open_window
seen = {}
class Spy(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "paint" not in seen:
            seen["paint"] = {m: m in sys.modules for m in ("pyqtgraph", "onnxruntime", "tokenizers", "numpy")}
            seen["results_table_shown"] = window.results.table.isVisible()
            seen["placeholders"] = sum(c.plot is None for c in window.dashboard.cards)
        return False
spy = Spy()
settings = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)
window = open_window(MODEL, settings, interactive=False, size=(1280, 800))
window.centralWidget().installEventFilter(spy)
def done():
    seen["later"] = {m: m in sys.modules for m in ("pyqtgraph", "onnxruntime")}
    seen["plots"] = sum(c.plot is not None for c in window.dashboard.cards)
    app.quit()
window.controller.model_settled.connect(lambda: QTimer.singleShot(200, done))
QTimer.singleShot(60000, app.quit)
app.exec()
window.close()
print("SEEN " + json.dumps(seen))
"""


def test_the_window_paints_before_pyqtgraph_and_onnxruntime_load(tiny_bundle) -> None:  # noqa: ANN001
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    code = PROBE.replace("MODEL", repr(str(tiny_bundle[0])))
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("SEEN ")), None)
    assert line is not None, proc.stdout + proc.stderr
    seen = json.loads(line[5:])
    # numpy too: its import is a fifth of the window's start-up; the results arrive after the first frame
    assert seen["paint"] == {"pyqtgraph": False, "onnxruntime": False, "tokenizers": False, "numpy": False}
    assert seen["results_table_shown"] and seen["placeholders"] == 5  # the real layout, plots still to come
    assert seen["later"] == {"pyqtgraph": True, "onnxruntime": True} and seen["plots"] == 5

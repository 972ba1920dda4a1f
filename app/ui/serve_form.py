"""The Serve tab's form: which server or servers to measure, how to load them, with which texts; Run, Cancel,
Export; the local server's state and log. It builds the run's :class:`~app.serve.inspection.InspectionPlan`
(``plan``) and remembers its values between sessions (``form_values``), and does nothing slow itself."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..engine.errors import InputError
from .widgets import ERROR_COLOUR, ElidedLabel

if TYPE_CHECKING:
    from ..serve.inspection import InspectionPlan
    from ..serve.local_server import ServerSettings
    from .serve_control import ServerStatus

MODES = (("Rate sweep", "sweep"), ("Fixed rate (open loop)", "rate"), ("Closed loop", "closed"))
TEXT_SOURCES = (("Sample tweets", "samples"), ("Pasted texts", "pasted"), ("A file…", "file"))
LOG_LINES = 2000
LIST_TIP = ("One value, or several separated by commas: every combination is measured in turn, drawn as its own "
            "curve, and the best is recommended.")


def parse_values(text: str, what: str, kind: type = int, minimum: float = 0) -> list:
    """``"0, 5"`` → ``[0, 5]`` (a setting to compare); a sentence if a value is not a number ≥ ``minimum``."""
    try:
        values = [kind(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise InputError(f"{what} must be numbers separated by commas, like 0, 5") from None
    if not values or min(values) < minimum:
        raise InputError(f"{what} must be at least one number ≥ {minimum:g}")
    return list(dict.fromkeys(values))


class ServeForm(QWidget):
    start_server_requested = Signal()
    stop_server_requested = Signal()
    run_requested = Signal()
    cancel_requested = Signal()
    export_requested = Signal()
    choose_file_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.texts_file: str | None = None
        self._build()
        self._mode_changed()
        self._kind_changed()
        self.set_running(False)

    def _build(self) -> None:
        # what runs, at the top so it is visible however short the tab is
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("serveRun")
        self.run_button.setToolTip("Send the load and measure (the servers answer in their own processes)")
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("serveCancel")
        self.cancel_button.setToolTip("Stop the load at once; what was measured is kept")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.export_button = QPushButton("Export JSON…")
        self.export_button.setToolTip("Save the run (plan, every second, every step, the table) as JSON")
        self.export_button.clicked.connect(self.export_requested)
        buttons = QHBoxLayout()
        for b in (self.run_button, self.cancel_button, self.export_button):
            buttons.addWidget(b)
        self.state = QLabel("Measures a served model under load.")
        self.state.setObjectName("serveState")
        self.state.setWordWrap(True)
        self.state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        # the server
        self.local = QRadioButton("Local sieve serve (loaded model)")
        self.local.setObjectName("serveLocal")
        self.local.setChecked(True)
        self.remote = QRadioButton("URL")
        self.remote.setObjectName("serveRemote")
        self.local.toggled.connect(self._kind_changed)
        self.provider = QComboBox()
        for text, value in (("auto", "auto"), ("CPU", "cpu"), ("CUDA", "cuda")):
            self.provider.addItem(text, value)
        self.threads = self._list_edit("0", "serveThreads", "ONNX Runtime threads (0 = one per core). " + LIST_TIP)
        self.max_batch = self._list_edit("32", "serveMaxBatch", "Texts per model call at most. " + LIST_TIP)
        self.max_wait = self._list_edit("0", "serveMaxWait", "Hold a batch that is not full this long, ms "
                                        "(0 = never). " + LIST_TIP)
        self.start_button = QPushButton("Start server")
        self.start_button.setObjectName("serveStart")
        self.start_button.setToolTip("Start sieve serve on the loaded model, on a free port (first value of each "
                                     "setting)")
        self.start_button.clicked.connect(self.start_server_requested)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("serveStop")
        self.stop_button.clicked.connect(self.stop_server_requested)
        self.log = QPlainTextEdit()
        self.log.setObjectName("serveLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setPlaceholderText("The local server's log")
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log.setFixedHeight(6 * self.log.fontMetrics().lineSpacing() + 10)
        self.server_state = QLabel("Not running.")
        self.server_state.setObjectName("serveServerState")
        self.server_state.setWordWrap(True)
        self.server_state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.url = QLineEdit("http://127.0.0.1:8000")
        self.url.setObjectName("serveUrl")
        self.url.setToolTip('Any server that takes POST /predict {"texts": [...]} and answers {"predictions": [...]}')
        self.api_key = self._key_edit("serveApiKey")
        self.local_box = QWidget()
        g = QGridLayout(self.local_box)
        g.setContentsMargins(0, 0, 0, 0)
        g.addWidget(QLabel("Provider"), 0, 0)
        g.addWidget(self.provider, 0, 1)
        g.addWidget(QLabel("Threads"), 0, 2)
        g.addWidget(self.threads, 0, 3)
        g.addWidget(QLabel("Max batch"), 1, 0)
        g.addWidget(self.max_batch, 1, 1)
        g.addWidget(QLabel("Max wait ms"), 1, 2)
        g.addWidget(self.max_wait, 1, 3)
        row = QHBoxLayout()
        row.addWidget(self.start_button)
        row.addWidget(self.stop_button)
        g.addLayout(row, 2, 0, 1, 4)
        g.addWidget(self.server_state, 3, 0, 1, 4)
        g.addWidget(self.log, 4, 0, 1, 4)
        self.remote_box = QWidget()
        g = QGridLayout(self.remote_box)
        g.setContentsMargins(0, 0, 0, 0)
        g.addWidget(QLabel("URL"), 0, 0)
        g.addWidget(self.url, 0, 1)
        g.addWidget(QLabel("API key"), 1, 0)
        g.addWidget(self.api_key, 1, 1)
        server = QGroupBox("Server")
        v = QVBoxLayout(server)
        kinds = QHBoxLayout()
        kinds.addWidget(self.local)
        kinds.addWidget(self.remote)
        v.addLayout(kinds)
        v.addWidget(self.local_box)
        v.addWidget(self.remote_box)

        # a second endpoint to compare
        self.compare = QCheckBox("Compare with a URL")
        self.compare.setObjectName("serveCompare")
        self.compare.setToolTip("Also measure another server (yours, another Sieve, another model) the same way; "
                                "both curves share the plots and the table")
        self.compare_url = QLineEdit()
        self.compare_url.setObjectName("serveCompareUrl")
        self.compare_url.setPlaceholderText("http://127.0.0.1:9000")
        self.compare_key = self._key_edit("serveCompareKey")
        self.compare.toggled.connect(self._kind_changed)
        compare = QGroupBox("Compare")
        g = QGridLayout(compare)
        g.addWidget(self.compare, 0, 0, 1, 2)
        g.addWidget(QLabel("URL"), 1, 0)
        g.addWidget(self.compare_url, 1, 1)
        g.addWidget(QLabel("API key"), 2, 0)
        g.addWidget(self.compare_key, 2, 1)

        # the load
        self.mode = QComboBox()
        self.mode.setObjectName("serveMode")
        for text, value in MODES:
            self.mode.addItem(text, value)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.target = self._spin(QDoubleSpinBox, "serveTarget", 0.1, 60000, 50, " ms",
                                 "The p99 latency the server must stay under: the knee is the highest rate that does")
        self.rate = self._spin(QDoubleSpinBox, "serveRate", 0.1, 100000, 50, " req/s", "Requests per second, sent "
                               "on schedule whatever the answers (latency counts from each one's intended send time)")
        self.connections = self._spin(QSpinBox, "serveConnections", 1, 1024, 8, "",
                                      "Connections, each sending its next request when its answer arrives")
        self.sweep_from = self._spin(QSpinBox, "serveSweepFrom", 1, 1000, 25, " %", "The first rate, as a share of "
                                     "the capacity measured first (a closed loop on 16 connections)")
        self.sweep_to = self._spin(QSpinBox, "serveSweepTo", 1, 1000, 120, " %", "The last rate, as a share of the "
                                   "measured capacity")
        self.sweep_steps = self._spin(QSpinBox, "serveSweepSteps", 1, 50, 6, "", "Rates between the first and the last")
        self.seconds = self._spin(QDoubleSpinBox, "serveSeconds", 0.5, 3600, 4, " s", "Seconds of load per rate "
                                  "(the run's length for a fixed rate or a closed loop)")
        self.per_request = self._spin(QSpinBox, "servePerRequest", 1, 256, 1, "", "Texts in each request")
        self.texts = QComboBox()
        self.texts.setObjectName("serveTexts")
        for text, value in TEXT_SOURCES:
            self.texts.addItem(text, value)
        self.texts.activated.connect(self._texts_chosen)
        self.texts_name = ElidedLabel("")
        load = QGroupBox("Load")
        g = QGridLayout(load)
        g.addWidget(QLabel("Mode"), 0, 0)
        g.addWidget(self.mode, 0, 1, 1, 3)
        self.sweep_row = [QLabel("From"), self.sweep_from, QLabel("to"), self.sweep_to]
        for c, w in enumerate(self.sweep_row):
            g.addWidget(w, 1, c)
        self.steps_row = [QLabel("Rates"), self.sweep_steps]
        g.addWidget(self.steps_row[0], 2, 0)
        g.addWidget(self.steps_row[1], 2, 1)
        self.rate_row = [QLabel("Rate"), self.rate]
        g.addWidget(self.rate_row[0], 2, 0)
        g.addWidget(self.rate_row[1], 2, 1)
        self.closed_row = [QLabel("Conns"), self.connections]
        g.addWidget(self.closed_row[0], 2, 0)
        g.addWidget(self.closed_row[1], 2, 1)
        g.addWidget(QLabel("Seconds"), 2, 2)
        g.addWidget(self.seconds, 2, 3)
        g.addWidget(QLabel("p99 target"), 3, 0)
        g.addWidget(self.target, 3, 1)
        g.addWidget(QLabel("Per req."), 3, 2)
        g.addWidget(self.per_request, 3, 3)
        g.addWidget(QLabel("Texts"), 4, 0)
        g.addWidget(self.texts, 4, 1, 1, 3)
        g.addWidget(self.texts_name, 5, 0, 1, 4)

        form = QWidget()
        v = QVBoxLayout(form)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(server)
        v.addWidget(compare)
        v.addWidget(load)
        v.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        box = self
        box.setObjectName("serveControls")
        box.setMinimumWidth(200)  # the window must still fit an 800-pixel screen
        box.setMaximumWidth(340)
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(3)
        v.addLayout(buttons)
        v.addWidget(self.state)
        v.addWidget(scroll, 1)

    def _list_edit(self, text: str, name: str, tip: str) -> QLineEdit:
        edit = QLineEdit(text)
        edit.setObjectName(name)
        edit.setToolTip(tip)
        edit.setMinimumWidth(50)
        return edit

    def _key_edit(self, name: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(name)
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setPlaceholderText("optional (sent as Authorization: Bearer …)")
        return edit

    def _spin(self, kind, name: str, lo: float, hi: float, value: float, suffix: str, tip: str):  # noqa: ANN001, ANN202
        spin = kind()
        spin.setObjectName(name)
        spin.setRange(lo, hi)
        spin.setValue(value)
        spin.setSuffix(suffix)
        spin.setToolTip(tip)
        if isinstance(spin, QDoubleSpinBox):
            spin.setDecimals(1)
        return spin

    def _kind_changed(self) -> None:
        self.local_box.setVisible(self.local.isChecked())
        self.remote_box.setVisible(not self.local.isChecked())
        self.compare_url.setEnabled(self.compare.isChecked())
        self.compare_key.setEnabled(self.compare.isChecked())

    def _mode_changed(self) -> None:
        mode = self.mode.currentData()
        for w in (*self.sweep_row, *self.steps_row):
            w.setVisible(mode == "sweep")
        for w in self.rate_row:
            w.setVisible(mode == "rate")
        for w in self.closed_row:
            w.setVisible(mode == "closed")

    def _texts_chosen(self) -> None:
        if self.texts.currentData() == "file":
            self.choose_file_requested.emit()
        self._show_texts()

    def set_texts_file(self, path: str | None) -> None:
        if path:
            self.texts_file = path
        elif self.texts_file is None:  # chooser cancelled and no file before: back to the samples
            self.texts.setCurrentIndex(0)
        self._show_texts()

    def _show_texts(self) -> None:
        source = self.texts.currentData()
        text = {"samples": "resources/samples/tweets.csv", "pasted": "the texts in the input box (one per line)",
                "file": self.texts_file or ""}[source]
        self.texts_name.set_full_text(text)

    # ------------------------------------------------------------------ remembered between sessions
    def form_values(self) -> dict:
        """The form as plain values (app.ui.settings.SERVE_FORM stores them; API keys are left out)."""
        return {"remote": self.remote.isChecked(), "url": self.url.text(), "compare": self.compare.isChecked(),
                "compare_url": self.compare_url.text(), "provider": self.provider.currentData(),
                "threads": self.threads.text(), "max_batch": self.max_batch.text(), "max_wait": self.max_wait.text(),
                "mode": self.mode.currentData(), "rate": self.rate.value(), "connections": self.connections.value(),
                "sweep_from": self.sweep_from.value(), "sweep_to": self.sweep_to.value(),
                "sweep_steps": self.sweep_steps.value(), "seconds": self.seconds.value(),
                "per_request": self.per_request.value(), "target_ms": self.target.value()}

    def set_form_values(self, values: dict) -> None:
        (self.remote if values.get("remote") else self.local).setChecked(True)
        self.compare.setChecked(bool(values.get("compare")))
        for edit, name in ((self.url, "url"), (self.compare_url, "compare_url"), (self.threads, "threads"),
                           (self.max_batch, "max_batch"), (self.max_wait, "max_wait")):
            if name in values:
                edit.setText(str(values[name]))
        for combo, name in ((self.provider, "provider"), (self.mode, "mode")):
            index = combo.findData(values.get(name))
            if index >= 0:
                combo.setCurrentIndex(index)
        for spin, name in ((self.rate, "rate"), (self.connections, "connections"), (self.sweep_from, "sweep_from"),
                           (self.sweep_to, "sweep_to"), (self.sweep_steps, "sweep_steps"), (self.seconds, "seconds"),
                           (self.per_request, "per_request"), (self.target, "target_ms")):
            if name in values:
                spin.setValue(values[name])
        self._kind_changed()
        self._mode_changed()

    # ------------------------------------------------------------------ what to measure
    def server_settings(self, model: str | None, *, first_only: bool = False) -> list[ServerSettings]:
        from ..serve.inspection import settings_grid

        if not model:
            raise InputError("No model is loaded yet", "Wait for it to load, or open one with Ctrl+O")
        threads = parse_values(self.threads.text(), "Threads", int, 0)
        batches = parse_values(self.max_batch.text(), "Max batch", int, 1)
        waits = parse_values(self.max_wait.text(), "Max wait", float, 0)
        grid = settings_grid(model, [self.provider.currentData()], threads, batches, waits)
        return grid[:1] if first_only else grid

    def plan(self, model: str | None) -> tuple[InspectionPlan, tuple]:
        """The run the form describes (its texts are read by the worker from the returned source)."""
        from ..serve.inspection import InspectionPlan, Target, endpoint, name_of

        targets: list[Target] = []
        if self.local.isChecked():
            grid = self.server_settings(model)
            if len(grid) > 8:
                raise InputError(f"That is {len(grid)} server settings to measure one after another",
                                 "Give at most 8 combinations")
            targets += [Target(name_of(i), server=s) for i, s in enumerate(grid)]
        else:
            targets.append(Target(name_of(0), url=endpoint(self.url.text()), api_key=self.api_key.text() or None))
        if self.compare.isChecked():
            targets.append(Target(name_of(len(targets)), url=endpoint(self.compare_url.text()),
                                  api_key=self.compare_key.text() or None))
        mode = self.mode.currentData()
        plan = InspectionPlan(
            tuple(targets), (), mode=mode, rate=self.rate.value(), concurrency=self.connections.value(),
            step_s=self.seconds.value(), per_request=self.per_request.value(),
            sweep_from=self.sweep_from.value() / 100, sweep_to=self.sweep_to.value() / 100,
            sweep_steps=self.sweep_steps.value(), target_p99_ms=self.target.value(),
            capacity_s=min(3.0, max(1.0, self.seconds.value())))
        source = self.texts.currentData()
        return plan, (source, self.texts_file if source == "file" else None)

    # ------------------------------------------------------------------ state shown
    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (self.start_button, self.stop_button, self.local, self.remote, self.mode):
            w.setEnabled(not running)

    def show_server(self, status: ServerStatus) -> None:
        text = html.escape(status.text())
        if status.state in ("failed", "exited"):
            text = f"<span style='color:{ERROR_COLOUR}'>{text}</span>"
        self.server_state.setText(text)
        self.server_state.setToolTip(status.text())
        busy = status.state in ("starting", "stopping")
        self.start_button.setText("Restart with these settings" if status.running else "Start server")
        self.start_button.setEnabled(not busy and self.run_button.isEnabled())
        self.stop_button.setEnabled(status.running and self.run_button.isEnabled())

    def append_log(self, line: str) -> None:
        self.log.appendPlainText(line)

"""Sieve's main window: layout, menus and wiring. State and work live in :class:`RunController`.

Model panel (left dock) · input and progress (top) · results with label counts and the selected row (middle, the
largest) · Latency, Sweep and Evaluation tabs (bottom) · status message, notices and the device (status bar).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QWidget,
)

from ..engine.errors import SieveError
from ..paths import default_model_dir
from . import settings as keys
from .controller import RunController, is_model_path
from .dashboard import LatencyDashboard
from .dialogs import ColumnDialog, error_dialog, show_about, show_shortcuts
from .evaluation_view import EvaluationPanel
from .file_dialogs import FileDialogs
from .input_panel import InputPanel
from .model_panel import ModelDock
from .plots import import_in_background
from .results_view import ResultsPanel
from .serve_view import ServePanel
from .settings import Settings, restore_window, save_window
from .status import ModelStatus, NoticesButton, StatusMessage
from .sweep_view import SweepPanel, cuda_unusable_reason

log = logging.getLogger(__name__)
DEFAULT_SIZE = (1400, 900)


class MainWindow(QMainWindow):
    painted = Signal()  # the first frame is on screen
    plotting_imported = Signal()  # pyqtgraph is loaded (emitted from the import thread)
    plots_built = Signal()

    def __init__(self, settings: QSettings | None = None, *, interactive: bool = True) -> None:
        super().__init__()
        self.settings = Settings(settings)
        self.interactive = interactive  # False in the self-test: errors are logged, not shown as dialogs
        self.controller = RunController(self)
        self.last_error: str | None = None
        self.dialog: QMessageBox | None = None
        self.first_paint: float | None = None  # time.perf_counter() of the first paint
        self.setWindowTitle("Sieve")
        self.setAcceptDrops(True)

        self.model_dock = ModelDock(self)
        self.model_panel = self.model_dock.panel
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.model_dock)

        self.input_panel = InputPanel(self.handle_paths)
        self.input_panel.setMinimumHeight(110)
        self.results = ResultsPanel()
        self.results.evaluate = self.controller.evaluation
        self.results.setMinimumHeight(180)
        self.dashboard = LatencyDashboard()
        self.sweep = SweepPanel()
        self.serve = ServePanel()
        self.evaluation = EvaluationPanel()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("bottomTabs")
        self.tabs.setMinimumHeight(150)
        self._tab_actions: list[QAction] = []
        self.add_bottom_tab(self.dashboard, "&Latency", "Ctrl+1")
        self.add_bottom_tab(self.sweep, "S&weep", "Ctrl+2")
        self.add_bottom_tab(self.serve, "Se&rve", "Ctrl+3")
        self.add_bottom_tab(self.evaluation, "E&valuation", "Ctrl+E")
        self.main_split = QSplitter(Qt.Orientation.Vertical)
        self.main_split.setObjectName("mainSplit")
        for i, (widget, stretch) in enumerate(((self.input_panel, 0), (self.results, 5), (self.tabs, 3))):
            self.main_split.addWidget(widget)
            self.main_split.setStretchFactor(i, stretch)
        self.main_split.setChildrenCollapsible(False)
        self.setCentralWidget(self.main_split)

        self.status = StatusMessage()
        self.notices = NoticesButton()
        self.model_status = ModelStatus()
        self.statusBar().addWidget(self.status, 1)
        self.statusBar().addPermanentWidget(self.notices)
        self.statusBar().addPermanentWidget(self.model_status)

        self.files = FileDialogs(self)
        self._build_menus()
        self._connect()
        self.fit_to_screen(first_start=not restore_window(self, self.settings))
        self.centralWidget().installEventFilter(self)
        self.plotting_imported.connect(self.build_plots, Qt.ConnectionType.QueuedConnection)

    # ------------------------------------------------------------------ construction
    def add_bottom_tab(self, widget: QWidget, title: str, shortcut: str) -> None:
        """A tab beside Latency and Sweep, with a View-menu shortcut (the Serve tab uses this too)."""
        self.tabs.addTab(widget, title)
        action = QAction(title.replace("&", ""), self)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda: (self.tabs.setCurrentWidget(widget), widget.setFocus()))
        self.addAction(action)
        self._tab_actions.append(action)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:  # noqa: ANN001
        action = menu.addAction(text)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        c, mb = self.controller, self.menuBar()
        m = mb.addMenu("&File")
        f = self.files
        self._action(m, "&Open model folder…", f.model_folder, QKeySequence.StandardKey.Open)
        self._action(m, "Open model .&onnx file…", f.model_file)
        self._action(m, "Load the &default model", lambda: self.load_model(str(default_model_dir())))
        m.addSeparator()
        self._action(m, "&Import texts…", f.texts, "Ctrl+I")
        self._action(m, "&Export results…", f.results, QKeySequence.StandardKey.Save)
        self._action(m, "Export evaluation &report…", f.report)
        self._action(m, "Export latency &records…", f.latency_records, "Ctrl+Shift+S")
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        m = mb.addMenu("&Run")
        self.act_run = self._action(m, "&Run", self.run)
        self.act_run.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self._action(m, "&Cancel", c.cancel, "Esc")
        self._action(m, "C&lear results", c.clear_results, "Ctrl+Shift+Del")
        m = mb.addMenu("Re&sults")
        r = self.results
        self._action(m, "Sort by &confidence, highest first", lambda: r.sort_by("confidence"), "Ctrl+Shift+C")
        self._action(m, "Sort by &input order", lambda: r.sort_by("row"))
        self._action(m, "&Show every row", r.show_every_row)
        self._action(m, "&Search", lambda: r.search.setFocus(), QKeySequence.StandardKey.Find)
        m = mb.addMenu("&View")
        self._action(m, "&Quick classify", lambda: self.input_panel.quick.setFocus(), "Ctrl+L")
        for action in self._tab_actions:
            m.addAction(action)
        m.addAction(self.model_dock.toggleViewAction())
        self._action(m, "&Reset latency records", self.dashboard.reset)
        m = mb.addMenu("&Help")
        self._action(m, "&Keyboard shortcuts", lambda: show_shortcuts(self), QKeySequence.StandardKey.HelpContents)
        self._action(m, "&About Sieve", lambda: show_about(self))

    def _connect(self) -> None:
        c, mp, ip, r, f = self.controller, self.model_panel, self.input_panel, self.results, self.files
        c.model_loading.connect(lambda path: (mp.show_loading(path), self.model_status.show_loading()))
        c.model_ready.connect(self._model_ready)
        c.model_failed.connect(lambda m: mp.show_failed(m, c.card))
        c.model_settled.connect(lambda: self.model_status.show_card(c.card))
        c.inputs_changed.connect(lambda: ip.show_files([i.describe() for i in c.inputs],
                                                       [str(i.source.path) for i in c.inputs]))
        c.results_reset.connect(lambda store: (r.set_store(store, c.gold), r.set_provenance(c.provenance)))
        c.run_started.connect(lambda _p: self.dashboard.set_recorder(c.clf.stats))
        c.rows_added.connect(r.rows_added)
        c.progress.connect(ip.show_progress)
        c.busy_changed.connect(self._busy)
        c.run_finished.connect(self._run_finished)
        c.quick_answer.connect(ip.show_quick)
        c.message.connect(self.status.show_message)
        c.notice.connect(self.notices.add)
        c.error.connect(self.show_error)
        c.sweep_started.connect(self.sweep.started)
        c.sweep_point.connect(self.sweep.add_point)
        c.sweep_finished.connect(self.sweep.finished)
        c.exported.connect(lambda path, _n: self.settings.set(keys.LAST_EXPORT_DIR, str(Path(path).parent)))
        mp.open_folder.connect(f.model_folder)
        mp.open_file.connect(f.model_file)
        mp.recent_chosen.connect(self.load_model)
        mp.reload_requested.connect(lambda: (c.set_options(mp.options()), c.reload_model()))
        mp.policy_changed.connect(lambda: c.set_options(mp.options()))
        mp.doctor_requested.connect(c.check_gpu_setup)
        c.doctor_report.connect(self.show_doctor_report)
        ip.run_requested.connect(self.run)
        ip.cancel_requested.connect(c.cancel)
        ip.import_requested.connect(f.texts)
        ip.clear_files_requested.connect(c.clear_inputs)
        ip.remove_file_requested.connect(c.remove_input)
        ip.quick_text.connect(c.quick_classify)
        r.export_requested.connect(f.results)
        r.evaluation_changed.connect(lambda ev: self.evaluation.show_evaluation(ev, r.gold_column))
        self.evaluation.cell_chosen.connect(self.show_cell)
        self.evaluation.export_requested.connect(f.report)
        self.dashboard.export_requested.connect(f.latency_records)
        self.sweep.run_requested.connect(self.run_sweep)
        self.sweep.cancel_requested.connect(c.cancel_sweep)
        self.sweep.export_requested.connect(f.sweep)
        for panel in (self.dashboard, self.sweep, self.serve, r.counts):
            panel.save_requested.connect(f.plot)
        sc, sv = c.serve, self.serve
        sc.server_changed.connect(sv.form.show_server)
        sc.server_log.connect(sv.form.append_log)
        sc.run_started.connect(sv.run_started)
        sc.run_changed.connect(sv.run_changed)
        sc.run_finished.connect(sv.run_finished)
        sc.busy_changed.connect(sv.form.set_running)
        sc.busy_changed.connect(lambda _busy: sv.form.show_server(sc.status))
        sc.message.connect(self.status.show_message)
        sc.error.connect(self.show_error)
        sv.form.start_server_requested.connect(self.start_server)
        sv.form.stop_server_requested.connect(sc.stop_server)
        sv.form.run_requested.connect(self.run_serve)
        sv.form.cancel_requested.connect(sc.cancel)
        sv.form.export_requested.connect(f.serve_run)
        sv.form.choose_file_requested.connect(f.serve_texts)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint and self.first_paint is None:
            self.first_paint = time.perf_counter()
            QTimer.singleShot(0, self._after_first_paint)  # once this frame is on screen
        return False

    def _after_first_paint(self) -> None:
        """The slow starts wait for the first frame: the model loads on a worker while pyqtgraph is imported on a
        thread of its own (the GUI thread stays free to answer), then the plots are built here."""
        self.painted.emit()
        import_in_background(self.plotting_imported)

    def build_plots(self) -> None:
        if self.dashboard.built:
            return
        self.dashboard.build()
        self.sweep.build()
        self.serve.build()
        self.results.counts.build()
        self.plots_built.emit()

    # ------------------------------------------------------------------ messages
    def show_doctor_report(self, report) -> None:  # noqa: ANN001 - engine.doctor.DoctorReport
        from .dialogs import DoctorDialog

        self.status.show_message(report.verdict)
        self.doctor_dialog = DoctorDialog(report, self)
        self.doctor_dialog.open()

    def show_error(self, title: str, message: str) -> None:
        """One sentence in the status bar and in a window-modal dialog (not in the self-test); work goes on."""
        self.last_error = message
        self.status.show_error(message)
        log.warning("%s: %s", title, message)
        if self.interactive:
            if self.dialog is not None:
                self.dialog.close()
            self.dialog = error_dialog(self, title, message)

    # ------------------------------------------------------------------ model
    def load_model(self, path: str) -> None:
        self.controller.set_options(self.model_panel.options())
        self.controller.load_model(path)

    def _model_ready(self, card) -> None:  # noqa: ANN001 - ModelCard
        c = self.controller
        self.model_panel.show_card(card)
        self.model_status.show_card(card)
        self.dashboard.set_recorder(c.clf.stats)
        self.sweep.set_cuda_usable(cuda_unusable_reason(card))
        self.setWindowTitle(f"Sieve — {card.name}")
        keep = Path(c.model_path).resolve() != default_model_dir().resolve()
        self.model_panel.set_recent(self.settings.add_recent_model(c.model_path, keep=keep))
        self.settings.set(keys.LAST_MODEL_DIR, str(Path(c.model_path).parent))
        if self.input_panel.quick.text():
            c.quick_classify(self.input_panel.quick.text())

    # ------------------------------------------------------------------ inputs and runs
    def handle_paths(self, paths: list[str]) -> None:
        """Dropped paths: a model folder or .onnx loads the model; text files and folders are imported."""
        models = [p for p in paths if is_model_path(Path(p))]
        data = [p for p in paths if p not in models]
        if models:
            self.load_model(models[0])
        if data:
            self.add_inputs(data, ask=False)

    def add_inputs(self, paths: list[str], *, ask: bool, column: str | None = None) -> int:
        """Import files; a table whose text column is unclear (or every table, with ``ask``) opens the chooser."""
        added = self.controller.open_inputs(paths, ask=ask, column=column,
                                            choose=self._choose_columns if self.interactive else None)
        if added:
            first = Path(self.controller.inputs[-added].source.path)
            self.settings.set(keys.LAST_INPUT_DIR, str(first.parent))
        return added

    def _choose_columns(self, path: Path, names, rows, text_guess, gold_guess):  # noqa: ANN001, ANN202
        dialog = ColumnDialog(path, names, rows, text_guess, gold_guess, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.choice, dialog.gold

    def run(self) -> None:
        self.last_error = None
        self.controller.set_options(self.model_panel.options())
        self.controller.run(self.input_panel.pasted_texts())

    def _busy(self, running: bool) -> None:
        self.input_panel.set_running(running)
        self.act_run.setEnabled(not running)

    def _run_finished(self, _outcome) -> None:  # noqa: ANN001
        self.results.run_finished()
        if self.controller.evaluation() is not None:  # a file with gold labels: show how the model did
            self.tabs.setCurrentWidget(self.evaluation)

    def show_cell(self, gold: int, predicted: int) -> None:
        self.results.show_cell(gold, predicted)
        self.evaluation.matrix.setCurrentCell(gold, predicted)
        self.status.show_message(f"Showing the {self.results.model.rowCount():,} rows with gold label "
                                 f"{self.controller.store.labels[gold]} predicted as "
                                 f"{self.controller.store.labels[predicted]}. Results ▸ Show every row undoes it.")

    def run_sweep(self) -> None:
        if self.controller.clf is None or self.controller.sweeping:
            return
        try:
            plan = self.sweep.plan(threads=self.model_panel.threads.value())
        except SieveError as exc:
            self.show_error("Cannot run the sweep", str(exc))
            return
        self.controller.run_sweep(plan)

    # ------------------------------------------------------------------ serving
    def start_server(self) -> None:
        try:
            settings = self.serve.form.server_settings(self.controller.model_path, first_only=True)[0]
        except SieveError as exc:
            self.show_error("Cannot start the server", str(exc))
            return
        self.controller.serve.start_server(settings)

    def run_serve(self) -> None:
        """A load run from the Serve tab (its texts are read on the worker)."""
        try:
            plan, source = self.serve.form.plan(self.controller.model_path)
        except SieveError as exc:
            self.show_error("Cannot run the load", str(exc))
            return
        if source[0] == "pasted":
            source = ("pasted", None, tuple(self.input_panel.pasted_texts()))
        self.controller.serve.run(plan, source)

    # ------------------------------------------------------------------ exports
    def write_results(self, path: Path, *, shown_only: bool = False) -> None:
        self.controller.write_results(path, self.results.model.view.copy() if shown_only else None)

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: ANN001, N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.handle_paths(paths)

    # ------------------------------------------------------------------ settings and lifetime
    def splitters(self) -> tuple[QSplitter, ...]:
        return (self.main_split, self.results.split)

    def fit_to_screen(self, first_start: bool) -> None:
        """Open at most as large as the screen's free area (at the default size on a first start)."""
        screen = self.screen().availableGeometry() if self.screen() else None
        w, h = DEFAULT_SIZE if first_start else (self.width(), self.height())
        if screen is not None:
            w, h = min(w, screen.width()), min(h, screen.height())
        self.resize(w, h)
        self.resizeDocks([self.model_dock], [min(280, max(230, w // 5))], Qt.Orientation.Horizontal)
        if first_start:
            self.main_split.setSizes([130, max(200, int((h - 130) * 0.55)), max(150, int((h - 130) * 0.45))])

    def save_settings(self) -> None:
        save_window(self, self.settings)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        self.controller.shutdown(timeout_ms)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

    def start_default(self, model: str | None = None) -> None:
        """Load ``model`` or the embedded default one, as soon as the window has painted."""
        path = model or str(default_model_dir())
        if self.first_paint is None:
            self.painted.connect(lambda: self.load_model(path), Qt.ConnectionType.SingleShotConnection)
        else:
            QTimer.singleShot(0, lambda: self.load_model(path))

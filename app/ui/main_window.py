"""Sieve's main window: layout, menus and wiring. State and work live in :class:`RunController`.

Model panel (left dock) · input and progress (top) · results with evaluation, label counts and the selected row
(middle, the largest) · latency and sweep tabs (bottom) · status message, notices and the device (status bar).
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QWidget,
)

from .. import __version__
from ..engine.errors import SieveError
from ..paths import default_model_dir
from . import settings as keys
from .controller import NO_EVALUATION, RunController, is_model_path
from .dashboard import LatencyDashboard
from .dialogs import SHORTCUTS, ColumnDialog
from .evaluation_view import EvaluationPanel
from .input_panel import InputPanel
from .model_panel import ModelPanel
from .results_view import ResultsPanel
from .settings import Settings
from .status import NoticesButton, StatusMessage
from .sweep_view import SweepPanel, cuda_unusable_reason

log = logging.getLogger(__name__)
DEFAULT_SIZE = (1400, 900)
RESULTS_FILTER = "CSV (*.csv);;TSV (*.tsv);;JSON Lines (*.jsonl)"


class MainWindow(QMainWindow):
    painted = Signal()  # the first frame is on screen
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

        self.model_panel = ModelPanel()
        scroll = QScrollArea()
        scroll.setObjectName("modelScroll")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.model_panel)
        scroll.setMinimumWidth(self.model_panel.minimumWidth() + scroll.verticalScrollBar().sizeHint().width() + 4)
        self.model_dock = QDockWidget("Model", self)
        self.model_dock.setObjectName("modelDock")
        self.model_dock.setWidget(scroll)
        self.model_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                    | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                                    | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.model_dock)

        self.input_panel = InputPanel(self.handle_paths)
        self.input_panel.setMinimumHeight(110)
        self.results = ResultsPanel()
        self.results.evaluate = self.controller.evaluation
        self.results.setMinimumHeight(180)
        self.dashboard = LatencyDashboard()
        self.sweep = SweepPanel()
        self.evaluation = EvaluationPanel()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("bottomTabs")
        self.tabs.setMinimumHeight(150)
        self._tab_actions: list[QAction] = []
        self.add_bottom_tab(self.dashboard, "&Latency", "Ctrl+1")
        self.add_bottom_tab(self.sweep, "S&weep", "Ctrl+2")
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
        self.status_model = QLabel("no model")
        self.status_provider = QLabel()
        self.status_device = QLabel()
        self.status_device.setObjectName("statusDevice")
        bar = self.statusBar()
        bar.addWidget(self.status, 1)
        for widget in (self.notices, self.status_model, self.status_provider, self.status_device):
            bar.addPermanentWidget(widget)

        self._build_menus()
        self._connect()
        self._restore_settings()
        self.centralWidget().installEventFilter(self)

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
        self._action(m, "&Open model folder…", self.choose_model_folder, QKeySequence.StandardKey.Open)
        self._action(m, "Open model .&onnx file…", self.choose_model_file)
        self._action(m, "Load the &default model", lambda: self.load_model(str(default_model_dir())))
        m.addSeparator()
        self._action(m, "&Import texts…", self.choose_inputs, "Ctrl+I")
        self._action(m, "&Export results…", lambda: self.export_results(False), QKeySequence.StandardKey.Save)
        self._action(m, "Export evaluation &report…", self.export_report)
        self._action(m, "Export latency &records…", self.export_stats, "Ctrl+Shift+S")
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        m = mb.addMenu("&Run")
        self.act_run = self._action(m, "&Run", self.run)
        self.act_run.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self._action(m, "&Cancel", c.cancel, "Esc")
        self._action(m, "C&lear results", c.clear_results, "Ctrl+Shift+Del")
        m = mb.addMenu("Re&sults")
        r = self.results
        self._action(m, "Sort by &confidence, highest first", lambda: self.sort_results("confidence"), "Ctrl+Shift+C")
        self._action(m, "Sort by &input order", lambda: self.sort_results("row"))
        self._action(m, "&Show every row", self.show_all_rows)
        self._action(m, "&Search", lambda: r.search.setFocus(), QKeySequence.StandardKey.Find)
        m = mb.addMenu("&View")
        self._action(m, "&Quick classify", lambda: self.input_panel.quick.setFocus(), "Ctrl+L")
        for action in self._tab_actions:
            m.addAction(action)
        m.addAction(self.model_dock.toggleViewAction())
        self._action(m, "&Reset latency records", self.dashboard.reset)
        m = mb.addMenu("&Help")
        self._action(m, "&Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self._action(m, "&About Sieve", self.show_about)

    def _connect(self) -> None:
        c, mp, ip, r = self.controller, self.model_panel, self.input_panel, self.results
        c.model_loading.connect(self._model_loading)
        c.model_ready.connect(self._model_ready)
        c.model_failed.connect(lambda m: mp.show_failed(m, c.card))
        c.model_settled.connect(self._model_settled)
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
        mp.open_folder.connect(self.choose_model_folder)
        mp.open_file.connect(self.choose_model_file)
        mp.recent_chosen.connect(self.load_model)
        mp.reload_requested.connect(lambda: (c.set_options(mp.options()), c.reload_model()))
        mp.policy_changed.connect(lambda: c.set_options(mp.options()))
        ip.run_requested.connect(self.run)
        ip.cancel_requested.connect(c.cancel)
        ip.import_requested.connect(self.choose_inputs)
        ip.clear_files_requested.connect(c.clear_inputs)
        ip.remove_file_requested.connect(c.remove_input)
        ip.quick_text.connect(c.quick_classify)
        r.export_requested.connect(self.export_results)
        r.evaluation_changed.connect(lambda ev: self.evaluation.show_evaluation(ev, r.gold_column))
        self.evaluation.cell_chosen.connect(self.show_cell)
        self.evaluation.export_requested.connect(self.export_report)
        self.dashboard.export_requested.connect(self.export_stats)
        self.sweep.run_requested.connect(self.run_sweep)
        self.sweep.cancel_requested.connect(c.cancel_sweep)
        self.sweep.export_requested.connect(self.export_sweep)
        for panel in (self.dashboard, self.sweep, r.counts):
            panel.save_requested.connect(self.save_plot)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint and self.first_paint is None:
            self.first_paint = time.perf_counter()
            QTimer.singleShot(0, self._after_first_paint)  # once this frame is on screen
        return False

    def _after_first_paint(self) -> None:
        """The slow starts wait for the first frame: the model loads on a worker, then pyqtgraph is imported."""
        self.painted.emit()
        self.build_plots()

    def build_plots(self) -> None:
        self.dashboard.build()
        self.sweep.build()
        self.results.counts.build()
        self.plots_built.emit()

    # ------------------------------------------------------------------ messages
    def show_error(self, title: str, message: str) -> None:
        """One sentence in the status bar and in a window-modal dialog (not in the self-test); work goes on."""
        self.last_error = message
        self.status.show_error(message)
        log.warning("%s: %s", title, message)
        if not self.interactive:
            return
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        self.dialog.setObjectName("errorDialog")
        self.dialog.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dialog.open()

    # ------------------------------------------------------------------ model
    def choose_model_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open model folder (model.onnx + tokenizer.json)",
                                                self.settings.folder(keys.LAST_MODEL_DIR))
        if path:
            self.load_model(path)

    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open the model's .onnx file", self.settings.folder(
            keys.LAST_MODEL_DIR), "ONNX models (*.onnx)")
        if path:
            self.load_model(path)

    def load_model(self, path: str) -> None:
        self.controller.set_options(self.model_panel.options())
        self.controller.load_model(path)

    def _model_loading(self, path: str) -> None:
        self.model_panel.show_loading(path)
        self.status_model.setText("loading model…")

    def _model_ready(self, card) -> None:  # noqa: ANN001 - ModelCard
        c = self.controller
        self.model_panel.show_card(card)
        self.status_model.setText(f"Model: {card.name}")
        self.status_provider.setText(f"Provider: {card.device}" + (" (CUDA unavailable)"
                                                                   if card.cuda_fallback_reason else ""))
        self.status_provider.setToolTip(card.cuda_fallback_reason or ", ".join(card.providers_in_use))
        from ..engine.machine import device_name  # cached by the loader thread: no nvidia-smi here

        self.status_device.setText(device_name(card.device))
        self.dashboard.set_recorder(c.clf.stats)
        self.sweep.set_cuda_usable(cuda_unusable_reason(card))
        self.setWindowTitle(f"Sieve — {card.name}")
        keep = Path(c.model_path).resolve() != default_model_dir().resolve()
        self.model_panel.set_recent(self.settings.add_recent_model(c.model_path, keep=keep))
        self.settings.set(keys.LAST_MODEL_DIR, str(Path(c.model_path).parent))
        if self.input_panel.quick.text():
            c.quick_classify(self.input_panel.quick.text())

    def _model_settled(self) -> None:
        self.status_model.setText(f"Model: {self.controller.card.name}" if self.controller.card else "no model")

    # ------------------------------------------------------------------ inputs and runs
    def choose_inputs(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Import texts", self.settings.folder(keys.LAST_INPUT_DIR),
                                                "Texts (*.txt *.csv *.tsv *.jsonl *.ndjson);;All files (*)")
        if paths:
            self.add_inputs(paths, ask=True)

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
        r = self.results
        r.refresh_counts(force=True)
        if self.controller.evaluation() is not None:  # a file with gold labels: show how the model did
            self.tabs.setCurrentWidget(self.evaluation)
        if r.model.sort_column not in (None, 0):
            r.model.sort(r.model.sort_column, r.model.sort_order)

    def sort_results(self, kind: str) -> None:
        column = self.results.model.column(kind)
        order = Qt.SortOrder.DescendingOrder if kind == "confidence" else Qt.SortOrder.AscendingOrder
        self.results.table.sortByColumn(column, order)
        self.results.table.setFocus()

    def show_cell(self, gold: int, predicted: int) -> None:
        self.results.show_cell(gold, predicted)
        self.status.show_message(f"Showing the {self.results.model.rowCount():,} rows with gold label "
                                 f"{self.controller.store.labels[gold]} predicted as "
                                 f"{self.controller.store.labels[predicted]}. Results ▸ Show every row undoes it.")

    def show_all_rows(self) -> None:
        r = self.results
        r.label_box.setCurrentIndex(0)
        r.search.clear()
        r.clear_cell()

    def run_sweep(self) -> None:
        if self.controller.clf is None or self.controller.sweeping:
            return
        try:
            plan = self.sweep.plan(threads=self.model_panel.threads.value())
        except SieveError as exc:
            self.show_error("Cannot run the sweep", str(exc))
            return
        self.controller.run_sweep(plan)

    # ------------------------------------------------------------------ exports
    def _ask_save(self, title: str, name: str, filters: str) -> Path | None:
        start = str(Path(self.settings.folder(keys.LAST_EXPORT_DIR)) / name)
        path, _ = QFileDialog.getSaveFileName(self, title, start, filters)
        return Path(path) if path else None

    def _saved(self, path: Path, ok: bool) -> None:
        if ok:
            self.settings.set(keys.LAST_EXPORT_DIR, str(path.parent))

    def export_results(self, shown_only: bool = False) -> None:
        if not len(self.controller.store):
            self.show_error("Nothing to export", "There are no results to export yet. Run some texts first.")
            return
        path = self._ask_save("Export results", "results.csv", RESULTS_FILTER)
        if path:
            self.write_results(path, shown_only=shown_only)

    def write_results(self, path: Path, *, shown_only: bool = False) -> None:
        self.controller.write_results(path, self.results.model.view.copy() if shown_only else None)

    def export_report(self) -> None:
        if self.controller.evaluation() is None:
            self.show_error("Nothing to export", NO_EVALUATION)
            return
        path = self._ask_save("Export evaluation report", "evaluation.json", "JSON (*.json);;CSV (*.csv)")
        if path:
            self._saved(path, self.controller.write_report(path))

    def export_stats(self) -> None:
        path = self._ask_save("Export latency records", "latency.csv", "CSV (*.csv)")
        if path:
            self._saved(path, self.controller.write_stats(path))

    def export_sweep(self) -> None:
        if not self.sweep.points:
            self.show_error("Nothing to export", "There is no sweep to export yet. Run one first.")
            return
        path = self._ask_save("Export sweep", "sweep.csv", "CSV (*.csv);;JSON (*.json)")
        if path:
            self._saved(path, self.controller.write_sweep(path, self.sweep.points))

    def save_plot(self, card) -> None:  # noqa: ANN001 - PlotCard
        path = self._ask_save("Save plot as PNG", f"{card.name}.png", "PNG images (*.png)")
        if not path:
            return
        path = path.with_suffix(".png")
        try:
            card.save_png(path)
        except (OSError, SieveError) as exc:
            self.show_error("Could not save the plot", f"Could not write {path}: {exc}")
            return
        self._saved(path, True)
        self.status.show_message(f"Saved the plot to {path}.")

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

    # ------------------------------------------------------------------ help
    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td><td>{html.escape(v)}</td></tr>"
                       for k, v in SHORTCUTS)
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{rows}</table>")

    def show_about(self) -> None:
        QMessageBox.about(self, "About Sieve",
                          f"<b>Sieve {__version__}</b><br>Text classification on ONNX Runtime.<br>"
                          "Load a model folder (model.onnx + tokenizer.json + config.json), score texts and files, "
                          "check them against gold labels, and watch latency live.")

    # ------------------------------------------------------------------ settings and lifetime
    def _restore_settings(self) -> None:
        s, mp = self.settings, self.model_panel
        from .controller import RunOptions

        mp.set_options(RunOptions(s.get(keys.PROVIDER), s.get(keys.THREADS), s.get(keys.MAX_BATCH),
                                  s.get(keys.MAX_TOKENS)))
        self.controller.set_options(mp.options())
        mp.set_recent(s.recent_models())
        geometry, state = s.get(keys.GEOMETRY), s.get(keys.WINDOW_STATE)
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        for split in (self.main_split, self.results.split):
            value = s.get(keys.splitter_key(split.objectName()))
            if isinstance(value, QByteArray | bytes):
                split.restoreState(value)
        self.tabs.setCurrentIndex(s.get(keys.BOTTOM_TAB))
        self.fit_to_screen(geometry is None)

    def fit_to_screen(self, default: bool) -> None:
        """Open at most as large as the screen's free area (at the default size on a first start)."""
        screen = self.screen().availableGeometry() if self.screen() else None
        w, h = DEFAULT_SIZE if default else (self.width(), self.height())
        if screen is not None:
            w, h = min(w, screen.width()), min(h, screen.height())
        self.resize(w, h)
        self.resizeDocks([self.model_dock], [min(280, max(230, w // 5))], Qt.Orientation.Horizontal)
        if default:
            self.main_split.setSizes([130, max(200, int((h - 130) * 0.55)), max(150, int((h - 130) * 0.45))])

    def save_settings(self) -> None:
        s, opts = self.settings, self.model_panel.options()
        for key, value in ((keys.PROVIDER, opts.provider), (keys.THREADS, opts.threads),
                           (keys.MAX_BATCH, opts.max_batch), (keys.MAX_TOKENS, opts.max_tokens),
                           (keys.GEOMETRY, self.saveGeometry()), (keys.WINDOW_STATE, self.saveState()),
                           (keys.BOTTOM_TAB, self.tabs.currentIndex())):
            s.set(key, value)
        for split in (self.main_split, self.results.split):
            s.set(keys.splitter_key(split.objectName()), split.saveState())
        s.sync()

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

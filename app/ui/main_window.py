"""Sieve's main window: model panel (left), input and results (top), latency dashboard and sweep (bottom)."""

from __future__ import annotations

import contextlib
import gc
import html
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
)

from .. import __version__
from ..engine.batching import BatchPolicy
from ..engine.errors import InputError, SieveError
from ..engine.io import READ_KINDS, TextSource, expand_inputs, open_source
from ..engine.results import ResultStore
from ..paths import default_model_dir
from .dashboard import LatencyDashboard
from .dialogs import SHORTCUTS, ColumnDialog, guess_column, peek_table
from .input_panel import InputPanel
from .model_panel import ModelPanel
from .results_view import ResultsPanel
from .workers import (
    ExportWorker,
    Job,
    ModelLoader,
    QuickBridge,
    RunOutcome,
    ScoringWorker,
    SweepWorker,
    describe,
    start,
)

if TYPE_CHECKING:
    from ..engine.pipeline import Classifier
    from ..engine.sweep import SweepPoint

log = logging.getLogger(__name__)
GUI_SWITCH_INTERVAL_S = 0.001
MAX_RECENT = 8
EXPORT_FILTER = "CSV (*.csv);;TSV (*.tsv);;JSON Lines (*.jsonl)"


def is_model_path(path: Path) -> bool:
    """A dropped path that is a model (an .onnx file, or a folder holding one) rather than texts."""
    if path.is_file():
        return path.suffix.lower() == ".onnx"
    return path.is_dir() and any(path.glob("*.onnx"))


class MainWindow(QMainWindow):
    model_loaded = Signal()  # for tests and the self-test
    run_finished = Signal(object)  # RunOutcome

    def __init__(self, settings: QSettings | None = None, *, interactive: bool = True) -> None:
        super().__init__()
        # The workers' Python code (file reading, result chunks) shares the GIL with this thread. With CPython's
        # default 5 ms switch interval a busy worker can keep the GUI thread waiting several intervals in a row;
        # 1 ms bounds each wait at the cost of more frequent (cheap) switches.
        sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
        self.settings = settings or QSettings()
        self.interactive = interactive  # False in the self-test: errors are logged, not shown as dialogs
        self.clf: Classifier | None = None
        self.model_path: str | None = None
        self.store = ResultStore(())
        self.last_error: str | None = None
        self.notices: list[str] = []
        self.batcher = None
        self.quick_number = 0
        self.bridge = QuickBridge()
        self.bridge.answered.connect(self._quick_answered)
        self._threads: set[QThread] = set()
        self._loader: ModelLoader | None = None
        self._runner: ScoringWorker | None = None
        self._sweeper: SweepWorker | None = None
        self._exporter: ExportWorker | None = None
        self._run_started = 0.0
        self._job_sources: dict[int, int] = {}
        self._pending_path: str | None = None
        self.dialog: QMessageBox | None = None

        self.setWindowTitle("Sieve")
        self.setAcceptDrops(True)
        self.model_panel = ModelPanel()
        dock = QDockWidget("Model", self)
        dock.setObjectName("modelDock")
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.model_panel)
        dock.setWidget(scroll)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

        self.input_panel = InputPanel(self.handle_paths)
        self.results = ResultsPanel()
        self.dashboard = LatencyDashboard()
        from .sweep_view import SweepPanel

        self.sweep = SweepPanel()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("bottomTabs")
        self.tabs.addTab(self.dashboard, "Latency")
        self.tabs.addTab(self.sweep, "Sweep")
        self.top_split = QSplitter(Qt.Orientation.Horizontal)
        self.top_split.setObjectName("topSplit")
        self.top_split.addWidget(self.input_panel)
        self.top_split.addWidget(self.results)
        self.top_split.setStretchFactor(0, 2)
        self.top_split.setStretchFactor(1, 5)
        self.main_split = QSplitter(Qt.Orientation.Vertical)
        self.main_split.setObjectName("mainSplit")
        self.main_split.addWidget(self.top_split)
        self.main_split.addWidget(self.tabs)
        self.main_split.setStretchFactor(0, 1)
        self.main_split.setStretchFactor(1, 1)
        self.setCentralWidget(self.main_split)

        self.status_model = QLabel("no model")
        self.status_provider = QLabel()
        self.status_device = QLabel()
        self.status_device.setObjectName("statusDevice")
        self.status_error = QLabel()
        self.status_error.setObjectName("statusError")
        self.status_error.setStyleSheet("color:#c62828")
        sb = self.statusBar()
        sb.addWidget(self.status_model)
        sb.addWidget(self.status_provider)
        sb.addWidget(self.status_device)
        sb.addPermanentWidget(self.status_error, 1)

        self._build_actions()
        self._connect()
        self._restore_settings()
        self._set_running(False)

    # ------------------------------------------------------------------ construction
    def _action(self, text: str, slot, shortcut=None, menu=None) -> QAction:  # noqa: ANN001
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        if menu is not None:
            menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.act_open = self._action("&Open model folder…", self.choose_model_folder, QKeySequence.StandardKey.Open,
                                     file_menu)
        self._action("Open model &files…", self.choose_model_files, None, file_menu)
        self._action("Load the &default model", lambda: self.load_model(str(default_model_dir())), None, file_menu)
        file_menu.addSeparator()
        self.act_import = self._action("&Import texts…", self.choose_inputs, "Ctrl+I", file_menu)
        self.act_export = self._action("&Export results…", lambda: self.export_results(False),
                                       QKeySequence.StandardKey.Save, file_menu)
        self._action("Export latency &records…", self.export_stats, "Ctrl+Shift+S", file_menu)
        file_menu.addSeparator()
        self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, file_menu)
        run_menu = mb.addMenu("&Run")
        self.act_run = self._action("&Run", self.run, None, run_menu)
        self.act_run.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.act_cancel = self._action("&Cancel", self.cancel, "Esc", run_menu)
        self._action("C&lear results", self.clear_results, "Ctrl+Shift+Del", run_menu)
        view_menu = mb.addMenu("&View")
        self._action("&Quick classify", lambda: self.input_panel.quick.setFocus(), "Ctrl+L", view_menu)
        self._action("&Search results", lambda: self.results.search.setFocus(), QKeySequence.StandardKey.Find,
                     view_menu)
        self._action("&Latency dashboard", lambda: self.tabs.setCurrentIndex(0), "Ctrl+1", view_menu)
        self._action("S&weep", lambda: self.tabs.setCurrentIndex(1), "Ctrl+2", view_menu)
        self._action("&Reset latency records", self.dashboard.reset, None, view_menu)
        help_menu = mb.addMenu("&Help")
        self._action("&Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents, help_menu)
        self._action("&About Sieve", self.show_about, None, help_menu)

    def _connect(self) -> None:
        mp = self.model_panel
        mp.open_folder.connect(self.choose_model_folder)
        mp.open_files.connect(self.choose_model_files)
        mp.recent_chosen.connect(self.load_model)
        mp.reload_requested.connect(self.reload_model)
        mp.policy_changed.connect(self.apply_policy)
        ip = self.input_panel
        ip.run_requested.connect(self.run)
        ip.cancel_requested.connect(self.cancel)
        ip.import_requested.connect(self.choose_inputs)
        ip.quick_text.connect(self.quick_classify)
        self.results.export_requested.connect(self.export_results)
        self.dashboard.export_requested.connect(self.export_stats)
        self.sweep.run_requested.connect(self.run_sweep)
        self.sweep.cancel_requested.connect(self.cancel_sweep)
        self.sweep.export_requested.connect(self.export_sweep)

    # ------------------------------------------------------------------ messages
    def show_error(self, message: str, title: str = "Sieve") -> None:
        """One sentence in a dialog (window-modal, non-blocking) and in the status bar; the app stays usable."""
        self.last_error = message
        self.status_error.setText(message if len(message) < 160 else message[:157] + "…")
        self.status_error.setToolTip(message)
        log.warning("%s: %s", title, message)
        if not self.interactive:
            return
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        self.dialog.setObjectName("errorDialog")
        self.dialog.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dialog.open()

    def notice(self, message: str) -> None:
        self.notices.append(message)
        self.statusBar().showMessage(message, 15000)
        log.info("%s", message)

    # ------------------------------------------------------------------ model
    def choose_model_folder(self) -> None:
        start_dir = self.settings.value("lastModelDir", str(Path.home()))
        path = QFileDialog.getExistingDirectory(self, "Open model folder (model.onnx + tokenizer.json)", start_dir)
        if path:
            self.load_model(path)

    def choose_model_files(self) -> None:
        start_dir = self.settings.value("lastModelDir", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open ONNX model", start_dir, "ONNX models (*.onnx)")
        if path:
            self.load_model(path)

    def load_model(self, path: str) -> None:
        """Load in the background; the current model keeps working until the new one is ready."""
        if self._loader is not None:
            self._pending_path = path  # load it when the current load ends
            return
        self.model_panel.show_loading(path)
        self.status_model.setText("loading model…")
        loader = ModelLoader(path, self.model_panel.provider_value, self.model_panel.threads.value(), self.policy())
        loader.loaded.connect(self._model_ready)
        loader.failed.connect(self._model_failed)
        loader.finished.connect(self._loader_done)
        self._loader = loader
        self._loading_path = path
        self._track(start(loader, "sieve-loader"))

    def reload_model(self) -> None:
        if self.model_path:
            self.load_model(self.model_path)

    def _model_ready(self, clf: Classifier) -> None:
        old = self.batcher
        self.clf = clf
        self.model_path = self._loading_path
        card = clf.card()
        self.model_panel.show_card(card)
        self.status_model.setText(f"Model: {card.name}")
        device = card.device
        reason = card.cuda_fallback_reason
        self.status_provider.setText(f"Provider: {device}" + (" (CUDA unavailable)" if reason else ""))
        self.status_provider.setToolTip(reason or ", ".join(card.providers_in_use))
        self.status_device.setText(self._device_name(device))
        self.dashboard.set_recorder(clf.stats)
        if tuple(clf.labels) != self.store.labels:
            self.store = ResultStore(clf.labels)
            self.results.set_store(self.store)
        self.batcher = clf.batcher(max_wait_ms=self.model_panel.max_wait.value())
        if old is not None:
            old.close(timeout=2)
        # Everything alive now (Qt, pyqtgraph, numpy, ONNX Runtime, the model) lives as long as the app: take it out
        # of the cyclic collector's scans, or every full collection during a run walks it on whichever thread
        # allocates (measured: a 70 ms gen-2 pause that froze the window mid-run).
        gc.freeze()
        self._remember_model(self.model_path)
        self.setWindowTitle(f"Sieve — {card.name}")
        if reason and self.model_panel.provider_value == "cuda":
            self.notice(f"CUDA was asked for but is not available, so the model runs on the CPU: {reason}")
        self.model_loaded.emit()
        if self.input_panel.quick.text():
            self.quick_classify(self.input_panel.quick.text())

    @staticmethod
    def _device_name(device: str) -> str:
        """The processor the model runs on, for the status bar (``device_name`` caches nvidia-smi's answer)."""
        from ..engine.machine import device_name

        return device_name(device)

    def _model_failed(self, message: str) -> None:
        self.model_panel.show_failed(message)
        if self.clf is not None:
            self.model_panel.show_card(self.clf.card())
            self.model_panel.state.setText(self.model_panel.state.text() + "<br><span style='color:#c62828'>"
                                           "The new model could not be loaded; this one is still in use.</span>")
        self.status_model.setText(f"Model: {self.clf.card().name}" if self.clf else "no model")
        self.show_error(message, "Could not load the model")
        self.model_loaded.emit()

    def _loader_done(self) -> None:
        self._loader = None
        if self._pending_path:
            path, self._pending_path = self._pending_path, None
            self.load_model(path)

    def _remember_model(self, path: str) -> None:
        recent = [p for p in self._recent() if p != path]
        if Path(path).resolve() != default_model_dir().resolve():
            recent.insert(0, path)
        recent = recent[:MAX_RECENT]
        self.settings.setValue("recentModels", recent)
        self.settings.setValue("lastModelDir", str(Path(path).parent))
        self.model_panel.set_recent(recent)

    def _recent(self) -> list[str]:
        value = self.settings.value("recentModels", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def policy(self) -> BatchPolicy:
        mp = self.model_panel
        return BatchPolicy(max_batch=mp.max_batch.value(), max_tokens=max(mp.max_tokens.value(), 2))

    def apply_policy(self) -> None:
        if self.clf is None:
            return
        self.clf.policy = self.policy()
        if self.batcher is not None and not self._running():
            old, self.batcher = self.batcher, self.clf.batcher(max_wait_ms=self.model_panel.max_wait.value())
            old.close(timeout=2)

    # ------------------------------------------------------------------ inputs
    def choose_inputs(self) -> None:
        start_dir = self.settings.value("lastInputDir", str(Path.home()))
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Import texts", start_dir, "Texts (*.txt *.csv *.tsv *.jsonl *.ndjson);;All files (*)")
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
        """Open files (and folders' files) for scoring; returns how many were added.

        ``ask`` shows the column chooser for every table; otherwise it appears only when no column named like
        ``text`` exists. ``column`` (a name) skips the chooser.
        """
        try:
            files, skipped = expand_inputs(paths)
        except SieveError as exc:
            self.show_error(str(exc), "Cannot import")
            return 0
        added, problems = 0, list(skipped)
        for path in files:
            try:
                source = self._open(path, ask, column)
            except SieveError as exc:
                problems.append(str(exc))
                continue
            if source is None:  # the user cancelled the column chooser
                continue
            self.input_panel.add_source(source)
            added += 1
        if files:
            self.settings.setValue("lastInputDir", str(files[0].parent))
        if problems:
            self.show_error("\n".join(problems[:10]) + (f"\n… and {len(problems) - 10} more" if len(problems) > 10
                                                        else ""), "Some files were not imported")
        return added

    def _open(self, path: Path, ask: bool, column: str | None = None) -> TextSource | None:
        if path.suffix.lower() not in READ_KINDS:
            raise InputError(f"{path.name}: Sieve does not read {path.suffix or 'extension-less'} files",
                             "Use .txt, .csv, .tsv or .jsonl")
        kind = READ_KINDS[path.suffix.lower()]
        if kind == "txt":
            return open_source(path)
        if column is not None:
            return open_source(path, field=column) if kind == "jsonl" else open_source(path, column=column)
        if not path.is_file():
            return open_source(path)  # raises the right sentence
        names, rows = peek_table(path)
        guess = guess_column(names) if names else None
        if names and (ask or guess is None) and len(names) > 1 and self.interactive:
            dialog = ColumnDialog(path, names, rows, self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            choice = dialog.choice
        else:
            choice = None
        if kind == "jsonl":
            return open_source(path, field=choice) if choice else open_source(path)
        return open_source(path, column=choice)

    # ------------------------------------------------------------------ runs
    def _running(self) -> bool:
        return self._runner is not None

    def run(self) -> None:
        if self._running():
            return
        if self.clf is None:
            self.show_error("No model is loaded yet. Wait for it to load, or open one with Ctrl+O.", "Cannot run")
            return
        sources = list(self.input_panel.sources)
        jobs = [Job(s.name, source=s) for s in sources] if sources else []
        if not jobs:
            texts = self.input_panel.pasted_texts()
            if not texts:
                self.show_error("There is nothing to score. Paste texts (one per line), or import or drop a file.",
                                "Cannot run")
                return
            jobs = [Job.pasted(texts)]
        self.store = ResultStore(self.clf.labels)
        self.results.set_store(self.store)
        self._job_sources = {}
        self.last_error = None
        self.status_error.setText("")
        self.clf.stats.reset()
        self.dashboard.set_recorder(self.clf.stats)
        runner = ScoringWorker(self.clf, jobs)
        runner.source_started.connect(self._source_started)
        runner.chunk.connect(self._chunk)
        runner.progress.connect(self._progress)
        runner.notice.connect(self.notice)
        runner.failed.connect(self._run_failed)
        runner.done.connect(self._run_done)
        self._runner = runner
        self._run_started = time.perf_counter()
        self._set_running(True)
        self._track(start(runner, "sieve-scoring"))

    def cancel(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            self.statusBar().showMessage("Cancelling after the current batch…", 5000)
        if self._sweeper is not None:
            self._sweeper.cancel()

    def _source_started(self, job: int, name: str) -> None:
        self._job_sources[job] = self.store.add_source(name)

    def _chunk(self, job: int, chunk) -> None:  # noqa: ANN001 - ScoredChunk
        rows = self.store.append(self._job_sources.get(job, 0), chunk.rows, chunk.probs, chunk.label_idx,
                                 chunk.truncated, chunk.errors)
        self.results.rows_added(rows)

    def _progress(self, done: int, total: int) -> None:
        elapsed = max(time.perf_counter() - self._run_started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 and total > done else None
        self.input_panel.show_progress(done, total, rate, eta)

    def _run_failed(self, message: str) -> None:
        self.show_error(message + f" Results so far ({len(self.store):,} rows) are kept and can be exported.",
                        "The run stopped")

    def _run_done(self, outcome: RunOutcome) -> None:
        self._runner = None
        self._set_running(False)
        self.results.refresh_counts(force=True)
        if self.results.model.sort_column not in (None, 0):
            self.results.model.sort(self.results.model.sort_column, self.results.model.sort_order)
        failed = int((self.store.label_idx < 0).sum())
        word = "Cancelled" if outcome.cancelled else "Done"
        self.statusBar().showMessage(
            f"{word}: {len(self.store):,} rows in {outcome.seconds:.1f} s" + (f", {failed:,} without a label"
                                                                             if failed else ""), 15000)
        self.run_finished.emit(outcome)

    def clear_results(self) -> None:
        if self._running():
            return
        self.store = ResultStore(self.clf.labels if self.clf else ())
        self.results.set_store(self.store)

    def _set_running(self, running: bool) -> None:
        self.input_panel.set_running(running)
        self.act_run.setEnabled(not running)

    # ------------------------------------------------------------------ quick classify
    def quick_classify(self, text: str) -> None:
        self.quick_number += 1
        if not text.strip() or self.batcher is None:
            self.input_panel.show_quick(None)
            return
        try:
            self.bridge.submit(self.batcher, self.quick_number, text)
        except Exception as exc:  # noqa: BLE001 - a closed batcher while switching models
            self.input_panel.show_quick(describe(exc))

    def _quick_answered(self, number: int, answer) -> None:  # noqa: ANN001
        if number == self.quick_number:
            self.input_panel.show_quick(answer)

    # ------------------------------------------------------------------ sweep
    def run_sweep(self, _plan=None) -> None:  # noqa: ANN001
        if self.clf is None or self._sweeper is not None:
            return
        try:
            plan = self.sweep.plan(threads=self.model_panel.threads.value())
        except SieveError as exc:
            self.show_error(str(exc), "Cannot run the sweep")
            return
        self.sweep.started(plan)
        worker = SweepWorker(self.clf, plan)
        worker.point.connect(self._sweep_point)
        worker.failed.connect(self._sweep_failed)
        worker.finished.connect(self._sweep_done)
        self._sweeper = worker
        self._track(start(worker, "sieve-sweep"))

    def _sweep_point(self, point: SweepPoint) -> None:
        self.sweep.add_point(point)

    def _sweep_failed(self, message: str) -> None:
        self.show_error(message, "The sweep stopped")

    def _sweep_done(self) -> None:
        self._sweeper = None
        self.sweep.finished()

    def cancel_sweep(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()

    def export_sweep(self) -> None:
        if not self.sweep.points:
            self.show_error("There is no sweep to export yet. Run one first.", "Nothing to export")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export sweep", self._export_dir("sweep.csv"),
                                              "CSV (*.csv);;JSON (*.json)")
        if path:
            self.write_sweep(Path(path))

    def write_sweep(self, path: Path) -> None:
        from ..engine.io import atomic_path
        from ..engine.sweep import machine_info

        rows = [p.as_dict() for p in self.sweep.points]
        try:
            with atomic_path(path) as tmp:
                if path.suffix.lower() == ".json":
                    tmp.write_text(json.dumps({"model": self.model_path, "machine": machine_info(), "points": rows},
                                              indent=2), encoding="utf-8")
                else:
                    import csv

                    with open(tmp, "w", newline="", encoding="utf-8") as fh:
                        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                        writer.writeheader()
                        writer.writerows(rows)
        except OSError as exc:
            self.show_error(f"Could not write {path}: {exc.strerror or exc}", "Export failed")
            return
        self.statusBar().showMessage(f"Wrote {len(rows)} sweep points to {path}", 10000)

    # ------------------------------------------------------------------ export
    def _export_dir(self, name: str) -> str:
        return str(Path(self.settings.value("lastExportDir", str(Path.home()))) / name)

    def export_results(self, shown_only: bool = False) -> None:
        if not len(self.store):
            self.show_error("There are no results to export yet. Run some texts first.", "Nothing to export")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export results", self._export_dir("results.csv"), EXPORT_FILTER)
        if path:
            self.write_results(Path(path), shown_only=shown_only)

    def write_results(self, path: Path, *, shown_only: bool = False) -> None:
        """Write results in the background (atomically); works during and after a run, cancelled or not."""
        if self._exporter is not None:
            self.show_error("An export is already running; wait for it to finish.", "Export busy")
            return
        if path.suffix.lower() not in (".csv", ".tsv", ".jsonl", ".ndjson"):
            path = path.with_suffix(".csv")
        self.settings.setValue("lastExportDir", str(path.parent))
        rows = self.results.model.view.copy() if shown_only else None
        worker = ExportWorker(self.store.freeze(), path, rows)
        worker.written.connect(self._exported)
        worker.failed.connect(self._export_failed)
        worker.finished.connect(self._export_done)
        self._exporter = worker
        self.statusBar().showMessage(f"Exporting to {path}…")
        self._track(start(worker, "sieve-export"))

    def _exported(self, path: str, rows: int) -> None:
        self.statusBar().showMessage(f"Wrote {rows:,} rows to {path}", 10000)

    def _export_failed(self, message: str) -> None:
        self.show_error(message, "Export failed")

    def _export_done(self) -> None:
        self._exporter = None

    def export_stats(self) -> None:
        if self.clf is None or not self.clf.stats.version:
            self.show_error("No batches have been recorded yet. Run some texts first.", "Nothing to export")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export latency records", self._export_dir("latency.csv"),
                                              "CSV (*.csv)")
        if path:
            try:
                n = self.clf.stats.write_csv(path)
            except OSError as exc:
                self.show_error(f"Could not write {path}: {exc.strerror or exc}", "Export failed")
                return
            self.statusBar().showMessage(f"Wrote {n:,} batch records to {path}", 10000)

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
                          "and watch latency live.")

    # ------------------------------------------------------------------ settings and lifetime
    def _restore_settings(self) -> None:
        s = self.settings
        mp = self.model_panel
        mp.set_provider(str(s.value("provider", "auto")))
        for box, key in ((mp.threads, "threads"), (mp.max_batch, "maxBatch"), (mp.max_tokens, "maxTokens")):
            value = s.value(key)
            if value is not None:
                box.setValue(int(value))
        if s.value("maxWait") is not None:
            mp.max_wait.setValue(float(s.value("maxWait")))
        mp.set_recent(self._recent())
        for key, widget in (("geometry", self), ("mainSplit", self.main_split), ("topSplit", self.top_split),
                            ("resultsSplit", self.results.split)):
            value = s.value(key)
            if isinstance(value, QByteArray | bytes):
                (widget.restoreGeometry if key == "geometry" else widget.restoreState)(value)
        state = s.value("windowState")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(state)
        self.tabs.setCurrentIndex(int(s.value("tab", 0)))
        if s.value("geometry") is None:
            self.resize(1400, 900)

    def save_settings(self) -> None:
        s = self.settings
        mp = self.model_panel
        s.setValue("provider", mp.provider_value)
        s.setValue("threads", mp.threads.value())
        s.setValue("maxBatch", mp.max_batch.value())
        s.setValue("maxTokens", mp.max_tokens.value())
        s.setValue("maxWait", mp.max_wait.value())
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("mainSplit", self.main_split.saveState())
        s.setValue("topSplit", self.top_split.saveState())
        s.setValue("resultsSplit", self.results.split.saveState())
        s.setValue("tab", self.tabs.currentIndex())
        s.sync()

    def _track(self, thread: QThread) -> None:
        self._threads.add(thread)
        thread.finished.connect(lambda t=thread: self._threads.discard(t))

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop every worker (each stops within one batch) and wait for their threads."""
        for worker in (self._runner, self._sweeper, self._exporter, self._loader):
            if worker is not None:
                worker.cancel()
        deadline = time.perf_counter() + timeout_ms / 1000
        for thread in list(self._threads):
            remaining = max(1, int((deadline - time.perf_counter()) * 1000))
            with contextlib.suppress(RuntimeError):  # already deleted
                thread.wait(remaining)
        if self.batcher is not None:
            self.batcher.close(timeout=2)
            self.batcher = None

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

    def start_default(self, model: str | None = None) -> None:
        """Called once the window is shown: load ``model`` or the embedded default one."""
        QTimer.singleShot(0, lambda: self.load_model(model or str(default_model_dir())))


def app_instance() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([])
    return app  # type: ignore[return-value]

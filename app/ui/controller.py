"""The one owner of models and runs in the desktop app. No widgets here: state, workers and signals.

:class:`RunController` holds the loaded classifier, the job list (imported files), the results of the last run with
the model that produced them, and every running worker. Panels call its methods and observe its signals; they never
touch an engine object a worker is using. Two rules keep runs honest: a model switch asked for during a run waits
until the run ends (so a run's rows all come from one model), and every run gets a fresh result store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal

from ..engine.errors import SieveError
from .serve_control import ServeController
from .text import duration, plural

if TYPE_CHECKING:  # the engine's data modules (numpy) and the workers load after the window has painted
    import numpy as np

    from ..engine.batching import BatchPolicy
    from ..engine.card import ModelCard
    from ..engine.evaluation import Evaluation, GoldLabels
    from ..engine.pipeline import Classifier
    from ..engine.results import ResultStore
    from ..engine.sweep import SweepPlan, SweepPoint
    from .inputs import ColumnChooser, InputFile
    from .workers import DoctorWorker, ExportWorker, ModelLoader, RunOutcome, ScoringWorker, SweepWorker

log = logging.getLogger(__name__)

NO_EVALUATION = ("There is no evaluation yet: import a file with a gold-label column (e.g. 'label' or 'gold', or pick "
                 "one when importing with Ctrl+I) and run it.")


def is_model_path(path: Path) -> bool:
    """A dropped path that is a model (an .onnx file, or a folder holding one) rather than texts."""
    if path.is_file():
        return path.suffix.lower() == ".onnx"
    return path.is_dir() and any(path.glob("*.onnx"))


@dataclass(frozen=True)
class Provenance:
    """Which model produced a run's results: shown above the table and written into exported reports."""

    model: str
    path: str
    sha256: str
    device: str
    providers: tuple[str, ...]
    quantization: str

    @classmethod
    def from_card(cls, card: ModelCard) -> Provenance:
        return cls(card.name, card.path, card.sha256, card.device, card.providers_in_use, card.quantization)

    def line(self) -> str:
        return f"{self.model} · sha256 {self.sha256[:12]} · {self.device} · weights {self.quantization}"

    def as_dict(self) -> dict:
        return {"model": self.model, "model_path": self.path, "model_sha256": self.sha256, "device": self.device,
                "providers": ", ".join(self.providers), "quantization": self.quantization}


@dataclass(frozen=True)
class Progress:
    """Where a run is: rows done of the expected total, the rate so far and the time left."""

    done: int
    total: int
    rate: float  # texts/s since the run began
    eta_s: float | None
    state: str = "running"  # running, done, cancelled, stopped

    def text(self) -> str:
        if self.state == "cancelled":
            return f"Cancelled at {self.done:,} of {self.total:,} rows"
        if self.state == "stopped":
            return f"Stopped at {self.done:,} of {self.total:,} rows"
        if self.state == "done":
            return f"Done: {plural(self.done, 'row')} · {self.rate:,.0f} texts/s"
        eta = f" · {duration(self.eta_s)} left" if self.eta_s is not None else ""
        return f"{self.done:,} / {self.total:,} rows · {self.rate:,.0f} texts/s{eta}"


@dataclass(frozen=True)
class RunOptions:
    """How to load and run models: provider and threads need a reload; batch limits apply between runs."""

    provider: str = "auto"
    threads: int = 0
    max_batch: int = 32
    max_tokens: int = 8192

    def policy(self, base: BatchPolicy | None = None) -> BatchPolicy:
        from ..engine.batching import BatchPolicy

        return replace(base or BatchPolicy(), max_batch=self.max_batch, max_tokens=max(self.max_tokens, 2))


class RunController(QObject):
    model_loading = Signal(str)  # path
    model_ready = Signal(object)  # ModelCard
    model_failed = Signal(str)  # sentence
    model_settled = Signal()  # a load ended, either way (tests and the self-test wait on it)
    inputs_changed = Signal()
    results_reset = Signal(object)  # ResultStore of the new run (or an empty one)
    run_started = Signal(object)  # Provenance
    rows_added = Signal(object)  # range of store rows
    progress = Signal(object)  # Progress
    run_finished = Signal(object)  # RunOutcome
    busy_changed = Signal(bool)  # a run started or ended
    quick_answer = Signal(object)  # Prediction, an error sentence, or None (cleared)
    message = Signal(str)  # a passing status message
    notice = Signal(str)  # a warning worth keeping in the notices list
    error = Signal(str, str)  # title, sentence
    sweep_started = Signal(object)  # SweepPlan
    sweep_point = Signal(object)  # SweepPoint
    sweep_finished = Signal()
    exported = Signal(str, int)  # path, rows (results exports)
    doctor_report = Signal(object)  # DoctorReport, asked for from the model panel

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.options = RunOptions()
        self.clf: Classifier | None = None
        self.card: ModelCard | None = None
        self.model_path: str | None = None
        self.inputs: list[InputFile] = []
        self._store: ResultStore | None = None
        self.gold: GoldLabels | None = None
        self.provenance: Provenance | None = None
        self.last_progress: Progress | None = None
        self.threads: set[QThread] = set()
        self.closed = False
        self._loader: ModelLoader | None = None
        self._loading_path: str | None = None
        self._queued_path: str | None = None
        self._runner: ScoringWorker | None = None
        self._sweeper: SweepWorker | None = None
        self._exporter: ExportWorker | None = None
        self._doctor: DoctorWorker | None = None
        self._job_sources: dict[int, int] = {}
        self._run_started = 0.0
        self._evaluation: tuple[tuple[int, int], Evaluation | None] | None = None
        self.batcher = None
        self._quick_number = 0
        self._bridge = None  # a QuickBridge, made with the first model
        self.serve = ServeController(self)  # the Serve tab: a local sieve serve and load runs against servers

    @property
    def store(self) -> ResultStore:
        """The results of the last run (an empty store before the first)."""
        if self._store is None:
            from ..engine.results import ResultStore

            self._store = ResultStore(())
        return self._store

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def loading(self) -> bool:
        return self._loader is not None

    @property
    def sweeping(self) -> bool:
        return self._sweeper is not None

    # ------------------------------------------------------------------ models
    def load_model(self, path: str) -> None:
        """Load in the background; the current model keeps working until the new one is ready.

        During a run the load waits for the run to end, so the run's rows all come from the model it started with.
        """
        if self.closed:  # (a load asked for while the window closes would outlive it)
            return
        if self.running:
            self._queued_path = path
            self.message.emit(f"{Path(path).name} will load when this run ends (Esc cancels the run); "
                              "a run's results always come from one model.")
            return
        if self._loader is not None:
            self._queued_path = path  # load it when the current load ends
            return
        from .workers import ModelLoader, start

        self.model_loading.emit(path)
        loader = ModelLoader(path, self.options.provider, self.options.threads, self.options.policy())
        loader.loaded.connect(self._model_loaded)
        loader.failed.connect(self._model_failed)
        loader.finished.connect(self._loader_done)
        self._loader, self._loading_path = loader, path
        self._track(start(loader, "sieve-loader"))

    def reload_model(self) -> None:
        """Provider or threads changed: the session must be rebuilt."""
        if self.model_path:
            self.load_model(self.model_path)

    def set_options(self, options: RunOptions) -> None:
        """New knobs. Batch limits reach the model now, or when the running run ends."""
        self.options = options
        if self.clf is not None and not self.running:
            self.clf.policy = options.policy(self.clf.policy)

    def _model_loaded(self, clf: Classifier) -> None:
        if self._bridge is None:
            from .workers import QuickBridge

            self._bridge = QuickBridge()
            self._bridge.answered.connect(self._quick_answered)
        old = self.batcher
        self.clf, self.card, self.model_path = clf, clf.card(), self._loading_path
        self.batcher = clf.batcher()
        if old is not None:
            old.close(timeout=2)
        for note in self.card.notes:
            self.notice.emit(f"{self.card.name}: {note}")
        if self.card.cuda_fallback_reason and self.options.provider == "cuda":
            self.notice.emit("CUDA was asked for but is not available, so the model runs on the CPU: "
                             + self.card.cuda_fallback_reason)
        self.message.emit(f"Loaded {self.card.name} ({self.card.device}).")
        self.model_ready.emit(self.card)

    def _model_failed(self, message: str) -> None:
        self.model_failed.emit(message)
        self.error.emit("Could not load the model", message + (
            " The model loaded before is still in use." if self.clf is not None else ""))

    def _loader_done(self) -> None:
        self._loader = None
        self.model_settled.emit()
        self._load_queued()

    def _load_queued(self) -> None:
        if self._queued_path and not self.running:
            path, self._queued_path = self._queued_path, None
            self.load_model(path)

    # ------------------------------------------------------------------ inputs
    def open_inputs(self, paths: Sequence[str | Path], *, ask: bool = False, column: str | None = None,
                    choose: ColumnChooser | None = None) -> int:
        """Open files (and folders' files) for scoring; return how many were added.

        A table whose text column cannot be guessed (or every table, with ``ask``) goes through ``choose``; without
        one it is refused with a sentence. ``column`` names the text column and skips the choice.
        """
        if self.running:
            self.error.emit("Cannot import now", "A run is going. Import more files when it ends, or cancel it (Esc).")
            return 0
        from ..engine.io import expand_inputs
        from .inputs import open_input

        labels = self.clf.labels if self.clf is not None and not self.clf.multi_label else ()
        try:
            files, skipped = expand_inputs(paths)
        except SieveError as exc:
            self.error.emit("Cannot import", str(exc))
            return 0
        added, problems = 0, list(skipped)
        for path in files:
            try:
                item = open_input(path, labels=labels, ask=ask, column=column, choose=choose)
            except SieveError as exc:
                problems.append(str(exc))
                continue
            if item is None:  # the user cancelled the chooser
                continue
            self.inputs.append(item)
            added += 1
        if added:
            self.inputs_changed.emit()
            self.message.emit(f"Imported {plural(added, 'file')}, {plural(sum(i.rows for i in self.inputs[-added:]), 'row')}"
                              " to score. Run with Ctrl+Enter.")
        if problems:
            more = f"\n… and {len(problems) - 10} more" if len(problems) > 10 else ""
            self.error.emit("Some files were not imported", "\n".join(problems[:10]) + more)
        return added

    def remove_input(self, index: int) -> None:
        if not self.running and 0 <= index < len(self.inputs):
            del self.inputs[index]
            self.inputs_changed.emit()

    def clear_inputs(self) -> None:
        if not self.running and self.inputs:
            self.inputs.clear()
            self.inputs_changed.emit()

    # ------------------------------------------------------------------ runs
    def run(self, pasted: list[str]) -> bool:
        """Score the imported files, or else the pasted texts, into a fresh result store."""
        if self.running:
            return False
        if self.clf is None:
            self.error.emit("Cannot run", "No model is loaded yet. Wait for it to load, or open one with Ctrl+O.")
            return False
        from ..engine.evaluation import GoldLabels
        from ..engine.results import ResultStore
        from .workers import Job, ScoringWorker, start

        jobs = [Job.file(i.source, i.gold if not self.clf.multi_label else None) for i in self.inputs]
        if not jobs:
            if not pasted:
                self.error.emit("Cannot run", "There is nothing to score. Paste texts (one per line), or import or "
                                "drop a file.")
                return False
            jobs = [Job.pasted(pasted)]
        gold_names = sorted({j.gold.name for j in jobs if j.gold is not None})
        self._store = ResultStore(self.clf.labels)
        self.gold = GoldLabels(self.clf.labels, ", ".join(gold_names)) if gold_names else None
        self.provenance = Provenance.from_card(self.clf.card())
        self._evaluation = None
        self._job_sources = {}
        self.clf.stats.reset()
        runner = ScoringWorker(self.clf, jobs)
        runner.source_started.connect(self._source_started)
        runner.chunk.connect(self._chunk)
        runner.progress.connect(self._progress)
        runner.notice.connect(self.notice)
        runner.done.connect(self._run_done)
        self._runner = runner
        self._run_started = time.perf_counter()
        self.results_reset.emit(self.store)
        self.run_started.emit(self.provenance)
        self.busy_changed.emit(True)
        total = sum(j.total for j in jobs)
        what = jobs[0].name if len(jobs) == 1 else plural(len(jobs), "file")
        self.message.emit(f"Scoring {what} ({plural(total, 'row')}) with {self.provenance.model} on "
                          f"{self.provenance.device}…")
        self._emit_progress(Progress(0, total, 0.0, None))
        self._track(start(runner, "sieve-scoring"))
        return True

    def cancel(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            self.message.emit("Cancelling after the current batch…")
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.serve.cancel()

    def clear_results(self) -> None:
        if self.running:
            self.error.emit("Cannot clear now", "A run is going; cancel it first (Esc).")
            return
        from ..engine.results import ResultStore

        self._store = ResultStore(self.clf.labels if self.clf else ())
        self.gold, self.provenance, self._evaluation = None, None, None
        self.results_reset.emit(self.store)

    def _source_started(self, job: int, name: str) -> None:
        self._job_sources[job] = self.store.add_source(name)

    def _chunk(self, job: int, chunk, gold) -> None:  # noqa: ANN001 - ScoredChunk, GoldChunk | None
        if self._runner is None:  # a late chunk of a run already ended: never into another run's store
            return
        rows = self.store.append(self._job_sources.get(job, 0), chunk.rows, chunk.probs, chunk.label_idx,
                                 chunk.truncated, chunk.errors)
        if self.gold is not None:
            if gold is None:  # a file without gold labels in a run with some
                from ..engine.evaluation import no_gold

                self.gold.extend(no_gold(len(rows)))
            else:
                self.gold.extend(gold.idx, gold.unknown_examples)
        self.rows_added.emit(rows)

    def _progress(self, done: int, total: int) -> None:
        if self._runner is None:
            return
        elapsed = max(time.perf_counter() - self._run_started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 and total > done else None
        self._emit_progress(Progress(done, total, rate, eta))

    def _emit_progress(self, progress: Progress) -> None:
        self.last_progress = progress
        self.progress.emit(progress)

    def _run_done(self, outcome: RunOutcome) -> None:
        self._runner = None
        stopped = outcome.error is not None
        if stopped:
            self.error.emit("The run stopped", outcome.error + f" Results so far ({plural(len(self.store), 'row')}) "
                            "are kept and can be exported.")
        labelled = int((self.store.label_idx >= 0).sum())
        last = self.last_progress
        total = max(outcome.total, len(self.store)) if (outcome.cancelled or stopped) else len(self.store)
        state = "cancelled" if outcome.cancelled else "stopped" if stopped else "done"
        rate = len(self.store) / outcome.seconds if outcome.seconds > 0 else 0.0
        done = labelled if outcome.cancelled else len(self.store)
        self._emit_progress(Progress(done, total, rate if state == "done" else (last.rate if last else 0.0), None,
                                     state))
        if state == "done":
            failed = len(self.store) - labelled
            self.message.emit(f"Done: {plural(len(self.store), 'row')} in {outcome.seconds:.1f} s"
                              + (f", {plural(failed, 'row')} without a label (see the Note column)" if failed else "")
                              + self._accuracy_sentence())
        elif state == "cancelled":
            self.message.emit(f"Cancelled at {labelled:,} of {total:,} rows; the rows that finished are kept.")
        ev = self.evaluation()
        if ev is not None and ev.unknown_gold:
            examples = ", ".join(repr(x) for x in self.gold.unknown_examples)
            self.notice.emit(f"{self.gold.column}: {ev.unknown_gold:,} of the gold values are not among the model's "
                             f"labels (e.g. {examples}); those rows are left out of the evaluation.")
        if self.clf is not None:
            self.clf.policy = self.options.policy(self.clf.policy)
        self.busy_changed.emit(False)
        self.run_finished.emit(outcome)
        self._load_queued()

    def _accuracy_sentence(self) -> str:
        ev = self.evaluation()
        if ev is None or not ev.compared:
            return ""
        return f"; accuracy {ev.accuracy:.1%} against {self.gold.column}"

    # ------------------------------------------------------------------ evaluation
    def evaluation(self) -> Evaluation | None:
        """Predictions of the current results against their gold labels (None without a gold column)."""
        if self.gold is None or not len(self.gold):
            return None
        from ..engine.evaluation import evaluate

        key = (self.store.version, self.gold.version)
        if self._evaluation is None or self._evaluation[0] != key:
            self._evaluation = (key, evaluate(self.gold.values, self.store.label_idx, self.store.labels))
        return self._evaluation[1]

    def cell_rows(self, gold: int, predicted: int) -> np.ndarray:
        """Store rows with gold label ``gold`` predicted as ``predicted``."""
        from ..engine.evaluation import cell_rows

        if self.gold is None:
            return cell_rows(self.store.label_idx[:0], self.store.label_idx[:0], gold, predicted)
        return cell_rows(self.gold.values, self.store.label_idx, gold, predicted)

    def write_report(self, path: Path) -> bool:
        ev = self.evaluation()
        if ev is None:
            self.error.emit("Nothing to export", NO_EVALUATION)
            return False
        about = {**(self.provenance.as_dict() if self.provenance else {}), "gold_column": self.gold.column,
                 "sources": ", ".join(self.store.sources)}
        try:
            ev.write(path, about=about)
        except (OSError, SieveError) as exc:
            self.error.emit("Export failed", f"Could not write {path}: {getattr(exc, 'strerror', None) or exc}")
            return False
        self.message.emit(f"Wrote the evaluation report to {path}.")
        return True

    # ------------------------------------------------------------------ quick classify
    def quick_classify(self, text: str) -> None:
        self._quick_number += 1
        if not text.strip() or self.batcher is None:
            self.quick_answer.emit(None)
            return
        try:
            self._bridge.submit(self.batcher, self._quick_number, text)
        except Exception as exc:  # noqa: BLE001 - a closed batcher while switching models
            from .workers import describe

            self.quick_answer.emit(describe(exc))

    def _quick_answered(self, number: int, answer) -> None:  # noqa: ANN001
        if number == self._quick_number:
            self.quick_answer.emit(answer)

    # ------------------------------------------------------------------ sweeps
    def run_sweep(self, plan: SweepPlan) -> None:
        if self.clf is None or self._sweeper is not None:
            return
        from .workers import SweepWorker, start

        worker = SweepWorker(self.clf, plan)
        worker.point.connect(self.sweep_point)
        worker.failed.connect(self._sweep_failed)
        worker.finished.connect(self._sweep_done)
        self._sweeper = worker
        self.sweep_started.emit(plan)
        self._track(start(worker, "sieve-sweep"))

    def cancel_sweep(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()

    def _sweep_failed(self, message: str) -> None:
        self.error.emit("The sweep stopped", message)

    def _sweep_done(self) -> None:
        self._sweeper = None
        self.sweep_finished.emit()

    def write_sweep(self, path: Path, points: Sequence[SweepPoint]) -> bool:
        import csv
        import json

        from ..engine.io import atomic_path
        from ..engine.sweep import machine_info

        rows = [p.as_dict() for p in points]
        try:
            with atomic_path(path) as tmp:
                if path.suffix.lower() == ".json":
                    tmp.write_text(json.dumps({"model": self.model_path, "machine": machine_info(), "points": rows},
                                              indent=2), encoding="utf-8")
                else:
                    with open(tmp, "w", newline="", encoding="utf-8") as fh:
                        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                        writer.writeheader()
                        writer.writerows(rows)
        except (OSError, SieveError) as exc:
            self.error.emit("Export failed", f"Could not write {path}: {getattr(exc, 'strerror', None) or exc}")
            return False
        self.message.emit(f"Wrote {plural(len(rows), 'sweep point')} to {path}.")
        return True

    # ------------------------------------------------------------------ exports
    def write_results(self, path: Path, rows: np.ndarray | None = None) -> bool:
        """Write results in the background (atomically); works during and after a run, cancelled or not."""
        if not len(self.store):
            self.error.emit("Nothing to export", "There are no results to export yet. Run some texts first.")
            return False
        if self._exporter is not None:
            self.error.emit("Export busy", "An export is already running; wait for it to finish.")
            return False
        if path.suffix.lower() not in (".csv", ".tsv", ".jsonl", ".ndjson"):
            path = path.with_suffix(".csv")
        from .workers import ExportWorker, start

        worker = ExportWorker(self.store.freeze(), path, rows)
        worker.written.connect(self._exported)
        worker.failed.connect(self._export_failed)
        worker.finished.connect(self._export_done)
        self._exporter = worker
        self.message.emit(f"Exporting to {path}…")
        self._track(start(worker, "sieve-export"))
        return True

    def _exported(self, path: str, rows: int) -> None:
        self.message.emit(f"Wrote {plural(rows, 'row')} to {path}.")
        self.exported.emit(path, rows)

    def _export_failed(self, message: str) -> None:
        self.error.emit("Export failed", message)

    def _export_done(self) -> None:
        self._exporter = None

    def write_stats(self, path: Path) -> bool:
        if self.clf is None or not self.clf.stats.version:
            self.error.emit("Nothing to export", "No batches have been recorded yet. Run some texts first.")
            return False
        try:
            n = self.clf.stats.write_csv(path)
        except (OSError, SieveError) as exc:
            self.error.emit("Export failed", f"Could not write {path}: {getattr(exc, 'strerror', None) or exc}")
            return False
        self.message.emit(f"Wrote {plural(n, 'batch record')} to {path}.")
        return True

    # ------------------------------------------------------------------ GPU setup report
    def check_gpu_setup(self) -> bool:
        """``sieve doctor`` in the background, on the loaded model (else the embedded one); ``doctor_report`` follows."""
        if self._doctor is not None:
            return False  # one report at a time; the one under way answers
        from .workers import DoctorWorker, start

        worker = DoctorWorker(self.card.path if self.card is not None else None)
        worker.reported.connect(self.doctor_report)
        worker.failed.connect(lambda sentence: self.error.emit("GPU setup report failed", sentence))
        worker.finished.connect(self._doctor_done)
        self._doctor = worker
        self.message.emit("Checking what a CUDA run needs on this machine…")
        self._track(start(worker, "sieve-doctor"))
        return True

    def _doctor_done(self) -> None:
        self._doctor = None

    # ------------------------------------------------------------------ lifetime
    def _track(self, thread: QThread) -> None:
        self.threads.add(thread)
        thread.finished.connect(lambda t=thread: self.threads.discard(t))

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop every worker (each stops within one batch) and wait for their threads."""
        import contextlib

        self.closed = True
        self._queued_path = None
        for worker in (self._runner, self._sweeper, self._exporter, self._loader, self._doctor):
            if worker is not None:
                worker.cancel()
        self.serve.shutdown()  # the load stops at once; the local server is stopped (SIGTERM, then SIGKILL)
        deadline = time.perf_counter() + timeout_ms / 1000
        for thread in list(self.threads):
            remaining = max(1, int((deadline - time.perf_counter()) * 1000))
            with contextlib.suppress(RuntimeError):  # already deleted
                thread.wait(remaining)
        if self.batcher is not None:
            self.batcher.close(timeout=2)
            self.batcher = None

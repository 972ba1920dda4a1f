"""Everything slow runs here, off the GUI thread: loading models, scoring, sweeps, exports, quick answers.

Each worker is a QObject moved to its own QThread (see :func:`start`). It emits small signals: a chunk of results,
progress counts, a notice, an error sentence, ``finished``. The GUI thread never tokenizes, runs ONNX Runtime or
reads a big file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ..engine.batching import BatchPolicy
from ..engine.errors import SieveError
from ..engine.evaluation import gold_values, match_labels, unknown_examples
from ..engine.io import TextSource, rows_from_texts
from ..engine.machine import device_name
from ..engine.results import FrozenResults

if TYPE_CHECKING:  # the inference stack (onnxruntime, tokenizers) loads with the first model, not with the window
    from ..engine.pipeline import Classifier
    from ..engine.sweep import SweepPlan, SweepPoint

log = logging.getLogger(__name__)
PROGRESS_INTERVAL_S = 0.05  # at most 20 progress signals a second
BACKGROUND_NICE = 10  # how much lower than the GUI thread the workers run (Linux: the nice value is per thread)


def background_priority() -> bool:
    """Lower the calling thread's CPU priority so the GUI thread wins the cores when both want them.

    On Linux the nice value belongs to the thread and is inherited by the threads it creates, so ONNX Runtime's
    intra-op pool (created when a model loads) and the tokenizer threads of a run share it. The GUI thread needs a
    few ms per frame; on a machine whose cores are all busy scoring, this is what keeps those ms on time. Throughput
    barely changes: the workers still get every cycle the GUI does not use. Elsewhere (or if refused) a no-op.
    """
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICE))
    except OSError:
        return False
    return True


def describe(exc: BaseException) -> str:
    """One sentence for a dialog: ours as written, anything else named and logged with its traceback."""
    if isinstance(exc, SieveError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Sieve ran out of memory. Score the file in parts, or from the command line with sieve score."
    log.error("unexpected error\n%s", "".join(traceback.format_exception(exc)))
    return f"Unexpected {type(exc).__name__}: {exc}. The details are in the log; please report it."


class _Worker(QObject):
    failed = Signal(str)
    finished = Signal()
    # Lower this worker's CPU priority (see background_priority). Not for workers that start processes: a child
    # inherits its starting thread's nice value, and a server or load generator measured at nice 10 would lose to
    # every other program on the machine.
    background = True

    def __init__(self) -> None:
        super().__init__()
        self.cancel_event = threading.Event()

    def cancel(self) -> None:  # called from the GUI thread; the worker checks the event between batches
        self.cancel_event.set()

    @Slot()
    def run(self) -> None:
        try:
            if self.background and os.environ.get("SIEVE_WORKER_PRIORITY") != "normal":
                background_priority()
            self.work()
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a sentence, never a dead thread
            self.failed.emit(describe(exc))
        finally:
            self.finished.emit()

    def work(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class _Reaper(QObject):
    """Lives on the GUI thread; lets go of a worker and its thread once the thread has really ended."""

    @Slot()
    def reap(self) -> None:
        thread = self.sender()
        if isinstance(thread, QThread):
            thread.wait()  # `finished` is emitted from the thread just before it ends: let it end first
            _live.pop(id(thread), None)


# Python owns every worker and QThread it creates. They are kept here until their thread has ended and are then
# released on the GUI thread, so neither is ever deleted while its thread still runs (no deleteLater: deleting a
# Python-owned QThread from its own `finished` signal, or twice, crashes the process).
_live: dict[int, tuple[QThread, _Worker]] = {}
_reaper: _Reaper | None = None


def start(worker: _Worker, name: str) -> QThread:
    """Move ``worker`` to a new thread and start it; both are released when the thread has ended."""
    global _reaper
    if _reaper is None:
        _reaper = _Reaper()
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    # Direct: quit() is thread-safe, and a queued call would never arrive while the GUI thread waits on the thread
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.finished.connect(_reaper.reap, Qt.ConnectionType.QueuedConnection)
    _live[id(thread)] = (thread, worker)
    thread.start()
    return thread


# ---------------------------------------------------------------------------------------------- model
class ModelLoader(_Worker):
    loaded = Signal(object)  # Classifier

    def __init__(self, path: str | Path, provider: str, threads: int, policy: BatchPolicy) -> None:
        super().__init__()
        self.path, self.provider, self.threads, self.policy = path, provider, threads, policy

    def work(self) -> None:
        from ..engine.pipeline import Classifier

        clf = Classifier.load(self.path, provider=self.provider, threads=self.threads, policy=self.policy)
        clf.predict(["warm-up"])  # the first run allocates; do it here, not on the user's first click
        clf.stats.summary()  # and numpy's percentile code imports lazily: not on the GUI thread's first redraw
        clf.stats.reset()
        clf.card()  # hashes the model file; cached for the GUI thread
        device_name(clf.session.providers.device)  # may run nvidia-smi; cached for the status bar
        self.loaded.emit(clf)


class DoctorWorker(_Worker):
    """``sieve doctor``'s report for the model panel's link: it loads libraries and runs a test session (about 1 s)."""

    reported = Signal(object)  # DoctorReport

    def __init__(self, model: str | Path | None) -> None:
        super().__init__()
        self.model = model

    def work(self) -> None:
        from ..engine.doctor import run_doctor

        self.reported.emit(run_doctor(self.model))


# ---------------------------------------------------------------------------------------------- scoring
@dataclass
class Job:
    """One input of a run: pasted lines or an opened file (with, optionally, the column holding gold labels)."""

    name: str
    texts: list[str] | None = None
    source: TextSource | None = None
    total: int = 0
    gold: GoldColumn | None = None

    @classmethod
    def pasted(cls, texts: list[str]) -> Job:
        return cls("pasted", texts=texts, total=len(texts))

    @classmethod
    def file(cls, source: TextSource, gold: GoldColumn | None = None) -> Job:
        """A file, with its row count estimated up front so progress can show a total and the time left."""
        return cls(source.name, source=source, total=source.estimate_rows(), gold=gold)

    def rows(self):  # noqa: ANN201 - iterator of SourceRow
        return iter(self.source) if self.source is not None else rows_from_texts(self.texts or [])


@dataclass(frozen=True)
class GoldColumn:
    """Where a file keeps its gold labels: ``key`` is a csv/tsv column index or a jsonl field name."""

    key: int | str
    name: str


@dataclass(frozen=True)
class GoldChunk:
    """Gold label indices for the rows of one :class:`ScoredChunk` (matched on the worker thread)."""

    idx: np.ndarray
    unknown_examples: tuple[str, ...] = ()


@dataclass
class RunOutcome:
    cancelled: bool = False
    rows: int = 0
    total: int = 0  # rows expected when the run began (an estimate for files)
    seconds: float = 0.0
    error: str | None = None  # why the run stopped early (a sentence), if it did
    notices: list[str] = field(default_factory=list)


class ScoringWorker(_Worker):
    """Streams every job through :meth:`Classifier.stream`; results go out a chunk at a time, in input order."""

    source_started = Signal(int, str)  # job index, name
    chunk = Signal(int, object, object)  # job index, ScoredChunk, GoldChunk or None
    progress = Signal(int, int)  # rows done, rows expected (estimate for files)
    notice = Signal(str)
    done = Signal(object)  # RunOutcome

    def __init__(self, clf: Classifier, jobs: list[Job], first_window: int = 64) -> None:
        super().__init__()
        self.clf, self.jobs, self.first_window = clf, jobs, first_window
        self.outcome = RunOutcome(total=sum(j.total for j in jobs))

    def work(self) -> None:
        total = self.outcome.total
        done = 0
        last = 0.0
        t0 = time.perf_counter()

        def on_batch(rows: int) -> None:
            nonlocal done, last
            done += rows
            now = time.perf_counter()
            if now - last >= PROGRESS_INTERVAL_S:
                last = now
                self.progress.emit(done, max(total, done))

        try:
            for k, job in enumerate(self.jobs):
                if self.cancel_event.is_set():
                    self.outcome.cancelled = True
                    break
                self.source_started.emit(k, job.name)
                for part in self.clf.stream(job.rows(), cancel=self.cancel_event, on_batch=on_batch,
                                            first_window=self.first_window):
                    self.chunk.emit(k, part, self._gold(job, part))
                    self.outcome.rows += len(part)
                    if not part.complete:
                        self.outcome.cancelled = True
                if job.source is not None:
                    for message in job.source.issues.messages(job.name):
                        self.notice.emit(message)
                if self.outcome.cancelled:
                    break
            for message in self.clf.notices:
                self.notice.emit(message)
            self.clf.notices.clear()
        except BaseException as exc:  # noqa: BLE001 - reported with the outcome, so it arrives before `done`
            self.outcome.error = describe(exc)
        finally:
            self.outcome.seconds = time.perf_counter() - t0
            # a finished run's total is what it really read (the file estimate can be an upper bound)
            if self.outcome.cancelled or self.outcome.error:
                self.progress.emit(done, max(total, done))
            else:
                self.progress.emit(self.outcome.rows, self.outcome.rows)
            self.done.emit(self.outcome)

    def _gold(self, job: Job, part) -> GoldChunk | None:  # noqa: ANN001 - ScoredChunk
        if job.gold is None:
            return None
        values = gold_values(part.rows, job.gold.key)
        idx = match_labels(values, self.clf.labels)
        return GoldChunk(idx, tuple(unknown_examples(values, idx)))


# ---------------------------------------------------------------------------------------------- sweeps
class SweepWorker(_Worker):
    point = Signal(object)  # SweepPoint

    def __init__(self, clf: Classifier, plan: SweepPlan) -> None:
        super().__init__()
        self.clf, self.plan = clf, plan

    def work(self) -> None:
        from ..engine.sweep import run_sweep

        run_sweep(self.clf.bundle, self.plan, on_point=self.point.emit, cancel=self.cancel_event)


# ---------------------------------------------------------------------------------------------- export
class ExportWorker(_Worker):
    progress = Signal(int, int)
    written = Signal(str, int)  # path, rows

    def __init__(self, frozen: FrozenResults, path: Path, rows=None) -> None:  # noqa: ANN001
        super().__init__()
        self.frozen, self.path, self.rows = frozen, path, rows

    def work(self) -> None:
        n = self.frozen.write(self.path, rows=self.rows, progress=self.progress.emit,
                              cancelled=self.cancel_event.is_set)
        self.written.emit(str(self.path), n)


# ---------------------------------------------------------------------------------------------- quick answers
class QuickBridge(QObject):
    """Carries micro-batcher answers (which arrive on its worker thread) back to the GUI thread as a signal."""

    answered = Signal(int, object)  # request number, Prediction or error sentence

    def submit(self, batcher, number: int, text: str) -> None:  # noqa: ANN001
        future = batcher.submit([text])

        def deliver(f) -> None:  # noqa: ANN001 - runs on the batcher thread; emit is thread-safe (queued)
            try:
                self.answered.emit(number, f.result()[0])
            except BaseException as exc:  # noqa: BLE001
                self.answered.emit(number, describe(exc))

        future.add_done_callback(deliver)


def sweep_point_row(p: SweepPoint) -> list[str]:
    if p.error:
        return [p.provider, str(p.batch_size), str(p.seq_len), "", "", "", "", p.error]
    return [p.provider, str(p.batch_size), str(p.seq_len), f"{p.p50_ms:.2f}", f"{p.p95_ms:.2f}",
            f"{p.texts_per_s:,.0f}", f"{p.tokens_per_s:,.0f}", ""]


Callback = Callable[..., None]


# ---------------------------------------------------------------------------------------------- serving
class BackgroundCall(_Worker):
    """Runs one blocking call off the GUI thread (starting or stopping a local server); ``done`` carries its result."""

    done = Signal(object)
    background = False  # it starts processes

    def __init__(self, call: Callable[[], object]) -> None:
        super().__init__()
        self.call = call

    def work(self) -> None:
        self.done.emit(self.call())


class InspectionWorker(_Worker):
    """Reads the texts to send, then runs a latency inspection of served models (``app.serve.inspection``).

    ``planned`` carries the plan with its texts; every event of the run follows through ``event``. The load itself
    runs in a child process per step (``load_in="process"``, the default) or on a thread here (``"thread"``).
    """

    planned = Signal(object)  # InspectionPlan
    event = Signal(object)  # an app.serve.inspection event
    background = False  # it starts servers and load generators

    def __init__(self, plan, texts_source: tuple, servers, load_in: str = "process") -> None:  # noqa: ANN001
        super().__init__()
        self.plan, self.texts_source, self.servers, self.load_in = plan, texts_source, servers, load_in
        self.inspection = None
        self._lock = threading.Lock()

    def cancel(self) -> None:
        super().cancel()
        with self._lock:
            inspection = self.inspection
        if inspection is not None:
            inspection.cancel()

    def work(self) -> None:
        from dataclasses import replace

        from ..serve.inspection import Inspection, ProcessLoad, ThreadLoad, texts_from

        plan = replace(self.plan, texts=texts_from(*self.texts_source))
        self.planned.emit(plan)
        with self._lock:
            load = ThreadLoad() if self.load_in == "thread" else ProcessLoad()
            self.inspection = Inspection(plan, self.event.emit, self.servers, load)
            if self.cancel_event.is_set():
                self.inspection.cancel()
        self.inspection.run()

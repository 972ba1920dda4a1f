"""The continuous micro-batcher: concurrent requests share model calls without waiting for each other.

Three stages on their own threads, joined by one lock (with a wake-up list for the tokenizer and one for runners):

- **callers** (:meth:`MicroBatcher.submit`) put a request on the intake and get a future back at once; when more
  than ``max_queue`` requests are waiting the request is refused (:class:`Overloaded`) instead of queued.
- **the tokenizer thread** takes everything on the intake, tokenizes it in one call (the tokenizer releases the
  GIL, so this overlaps inference) and moves it to the ready list.
- **the runner** (one thread per worker): whenever it is free it cuts the next batch from the ready list — in
  arrival order, up to ``max_batch`` texts and ``max_tokens`` padded tokens — and runs it. A lone request runs at
  once; requests that arrive while a batch runs are tokenized meanwhile and form the next batch. ``max_wait_ms``
  (off by default) makes the runner hold a batch that is not full until its oldest request has waited that long.

A request whose deadline passes before its batch is cut is dropped unrun (:class:`DeadlineExceeded`); a cancelled
future is dropped the same way. Every caller gets the outcome of its own texts, one way: its results, or an
exception caused by its own texts. When a batch fails and it held texts of several requests, none of them is
failed for it: each is run again alone, and only what fails alone is reported, to its own caller.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np

from .batching import BatchPolicy, plan_batches
from .errors import InputError, SieveError

log = logging.getLogger(__name__)
R = TypeVar("R")
E = TypeVar("E")


# ---------------------------------------------------------------------- what callers can get back
class BatcherClosed(SieveError):
    """The micro-batcher was closed (or is draining); no new requests are taken."""

    def __init__(self) -> None:
        super().__init__("The model is shutting down and takes no new requests", "Send the request again later")


class Overloaded(SieveError):
    """Too many requests are waiting; ``retry_after_s`` estimates when there will be room (whole seconds)."""

    def __init__(self, waiting: int, retry_after_s: int) -> None:
        super().__init__(f"{waiting} requests are already waiting for the model",
                         f"Retry in about {retry_after_s} s, or send fewer requests at once")
        self.retry_after_s = retry_after_s


class DeadlineExceeded(SieveError):
    """The request waited in the queue past its deadline and was dropped before it was computed."""

    def __init__(self, waited_ms: float) -> None:
        super().__init__(f"The request waited {waited_ms:.0f} ms in the queue, past its deadline, and was not run",
                         "Retry later, or send fewer requests at once")


class TextTooLong(InputError):
    """A text is longer than the model's maximum length and the caller asked not to truncate it."""


@dataclass
class StageTimes:
    """Where one request's time went, in ms: waiting (before and after tokenization), tokenizing, computing.

    ``inference_ms`` runs from the moment its batch was cut to the moment its last text had a result (padding, the
    model call and the probabilities). ``batch_texts`` is the size of the (last) batch its texts ran in.
    """

    queue_ms: float = 0.0
    tokenize_ms: float = 0.0
    inference_ms: float = 0.0
    batch_texts: int = 0


class RequestFuture(Future):
    """A :class:`concurrent.futures.Future` that also carries the request's :class:`StageTimes`."""

    def __init__(self) -> None:
        super().__init__()
        self.times = StageTimes()


@dataclass(frozen=True)
class BatchReport:
    """One model call as the batcher saw it (for metrics): texts, requests, tokens, time, outcome."""

    texts: int
    requests: int
    padded_len: int
    real_tokens: int
    inference_ms: float
    failed: bool

    @property
    def padded_tokens(self) -> int:
        return self.texts * self.padded_len


class LiveModel(Protocol[E, R]):
    """What the micro-batcher drives. ``E`` is a request's encoding, which has ``lengths`` and ``truncated``.

    ``encode`` runs on the tokenizer thread and returns one encoding per request (raising fails them all, and the
    batcher then tries each request alone). ``join`` concatenates encodings (rows in order) and ``run`` scores rows
    of a joined encoding on the runner thread: one outcome per row, a result or the exception that row met;
    raising fails every row of that call.
    """

    def encode(self, requests: list[list[str]]) -> list[E]: ...

    def join(self, parts: list[E]) -> E: ...

    def run(self, encoded: E, rows: np.ndarray, *, queue_ms: float, encode_ms: float) -> list[R | BaseException]: ...


# ---------------------------------------------------------------------- internals
class _Request:
    __slots__ = ("texts", "future", "submitted", "deadline", "truncate", "encoded", "encode_start", "encode_end",
                 "alone", "started")

    def __init__(self, texts: list[str], future: RequestFuture, deadline: float | None, truncate: bool) -> None:
        self.texts = texts
        self.future = future
        self.submitted = time.perf_counter()
        self.deadline = deadline
        self.truncate = truncate
        self.encoded: object = None
        self.encode_start = self.encode_end = self.submitted
        self.alone = False  # run it in a batch of its own (its last batch failed with other requests in it)
        self.started = False  # set_running_or_notify_cancel was called


class _Outcome:
    """Collects one request's per-text outcomes within a cut."""

    __slots__ = ("request", "results", "errors", "shared_failure", "left")

    def __init__(self, request: _Request) -> None:
        self.request = request
        self.results: list[object] = [None] * len(request.texts)
        self.errors: list[BaseException] = []
        self.shared_failure = False  # a text failed in a call that also held other requests' texts
        self.left = len(request.texts)


class MicroBatcher(Generic[R]):
    """Scores concurrent requests in shared batches, continuously; see the module docstring.

    ``max_batch`` texts and ``max_tokens`` padded tokens (texts × longest text) cap a batch; a single request
    larger than that still runs, split into several model calls. Within a batch, texts are sorted by length and
    split where padding would fall below ``min_fill`` (as :func:`plan_batches` does). ``max_queue`` caps the
    requests waiting (not yet running); ``None`` means no cap. ``workers`` runners cut and run batches side by side.
    ``on_batch`` is called on a runner thread after every model call with a :class:`BatchReport`.
    """

    def __init__(
        self,
        model: LiveModel,
        *,
        max_batch: int = 32,
        max_tokens: int = 8192,
        min_fill: float = 0.75,
        max_wait_ms: float = 0.0,
        max_queue: int | None = None,
        workers: int = 1,
        on_batch: Callable[[BatchReport], None] | None = None,
        name: str = "sieve-microbatcher",
    ) -> None:
        if max_wait_ms < 0 or workers < 1 or (max_queue is not None and max_queue < 1):
            raise InputError("The micro-batcher needs max wait ≥ 0 ms, at least one worker and a queue of 1 or more")
        self._model = model
        self.policy = BatchPolicy(max_batch=max_batch, max_tokens=max_tokens, window=1 << 30, min_fill=min_fill)
        self.max_batch, self.max_tokens = max_batch, max_tokens
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self._on_batch = on_batch
        # One lock, two wake-up lists: an arrival wakes only the tokenizer thread, a tokenized request only runners.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # runners wait here for ready requests
        self._arrivals = threading.Condition(self._lock)  # the tokenizer thread waits here
        self._intake: deque[_Request] = deque()
        self._ready: deque[_Request] = deque()
        self._encoding = 0  # requests the tokenizer thread holds right now
        self._running = 0  # batches being computed right now
        self._closed = False
        self._rate = _RecentRate()
        self._threads = [threading.Thread(target=self._tokenize_loop, name=f"{name}-tokenize", daemon=True)]
        self._threads += [threading.Thread(target=self._run_loop, name=f"{name}-run-{i}", daemon=True)
                          for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ callers
    def submit(self, texts: Sequence[str], *, timeout_s: float | None = None, truncate: bool = True) -> RequestFuture:
        """Queue ``texts``; the future resolves to one result per text, in order, or to this request's exception.

        ``timeout_s``: drop the request with :class:`DeadlineExceeded` if its batch has not started by then.
        ``truncate=False``: fail the request with :class:`TextTooLong` if a text is over the maximum length.
        Raises :class:`Overloaded` when ``max_queue`` requests are waiting and :class:`BatcherClosed` after
        :meth:`close`.
        """
        future = RequestFuture()
        texts = [texts] if isinstance(texts, str) else list(texts)  # one string is one text, not its characters
        if not texts:
            future.set_running_or_notify_cancel()
            future.set_result([])
            return future
        deadline = time.perf_counter() + timeout_s if timeout_s is not None else None
        request = _Request(texts, future, deadline, truncate)
        with self._cond:
            if self._closed:
                raise BatcherClosed()
            waiting = len(self._intake) + self._encoding + len(self._ready)
            if self.max_queue is not None and waiting >= self.max_queue:
                raise Overloaded(waiting, self._retry_after(waiting))
            self._intake.append(request)
            self._arrivals.notify()
        return future

    def predict(self, texts: Sequence[str], timeout: float | None = None) -> list[R]:
        """Submit and wait: one result per text, in order."""
        return self.submit(texts).result(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop taking requests, finish every one already taken, then stop the threads."""
        with self._lock:
            self._closed = True
            self._arrivals.notify_all()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def waiting(self) -> int:
        """Requests accepted but not yet running (queued or being tokenized)."""
        return len(self._intake) + self._encoding + len(self._ready)

    @property
    def prepared(self) -> int:
        """Requests tokenized and waiting for the model to be free."""
        return len(self._ready)

    @property
    def running(self) -> int:
        """Batches being computed right now."""
        return self._running

    @property
    def overloaded(self) -> bool:
        """True while new requests would be refused for lack of room."""
        return self.max_queue is not None and self.waiting >= self.max_queue

    def __enter__(self) -> MicroBatcher[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _retry_after(self, waiting: int) -> int:
        per_s = self._rate.requests_per_s()
        return max(1, min(60, math.ceil(waiting / per_s))) if per_s > 0 else 1

    # ------------------------------------------------------------------ tokenizer thread
    def _tokenize_loop(self) -> None:
        while True:
            with self._lock:
                while not self._intake and not self._closed:
                    self._arrivals.wait()
                if not self._intake:
                    return  # closed and nothing left to tokenize
                group = list(self._intake)
                self._intake.clear()
                self._encoding = len(group)
            try:
                ready = self._encode(group)
            except BaseException as exc:  # a bug, not a request's fault: no caller may wait forever for it
                log.exception("the micro-batcher's tokenizer stage failed")
                for request in group:
                    self._fail(request, exc)
                ready = []
            with self._cond:
                self._ready.extend(ready)
                self._encoding = 0
                self._cond.notify_all()

    def _encode(self, group: list[_Request]) -> list[_Request]:
        now = time.perf_counter()
        live = []
        for request in group:
            if request.future.cancelled():
                continue
            if request.deadline is not None and now > request.deadline:
                self._fail(request, DeadlineExceeded((now - request.submitted) * 1000.0))
                continue
            live.append(request)
        if not live:
            return []
        t0 = time.perf_counter()
        try:
            encodings = self._model.encode([r.texts for r in live])
        except Exception as exc:
            if len(live) == 1:
                self._fail(live[0], exc)
                return []
            return [r for request in live for r in self._encode([request])]  # each alone: only its own fault
        t1 = time.perf_counter()
        ready = []
        for request, encoded in zip(live, encodings, strict=True):
            request.encoded, request.encode_start, request.encode_end = encoded, t0, t1
            if not request.truncate and bool(np.any(encoded.truncated)):
                first = int(np.flatnonzero(encoded.truncated)[0])
                self._fail(request, TextTooLong(
                    f"Text {first + 1} is longer than the model's maximum length and truncation is off",
                    "Shorten it, or send truncate: true to have it cut"))
                continue
            ready.append(request)
        return ready

    # ------------------------------------------------------------------ runner threads
    def _run_loop(self) -> None:
        while True:
            expired: list[_Request] = []
            cut: list[_Request] | None = []
            with self._cond:
                while True:
                    if self._ready:
                        wait = self._hold_for()
                        if wait > 0:
                            self._cond.wait(wait)
                            continue
                        cut = self._cut(expired)
                        if cut or expired:
                            break
                    elif self._closed and not self._intake and not self._encoding:
                        self._cond.notify_all()  # let the other runners see it too
                        cut = None
                        break
                    else:
                        self._cond.wait()
                if cut:
                    self._running += 1
            for request in expired:  # outside the lock: a future's callbacks may call back into the batcher
                self._fail(request, DeadlineExceeded((time.perf_counter() - request.submitted) * 1000.0))
            if cut is None:
                return
            if not cut:
                continue
            try:
                self._run_cut(cut)
            except BaseException as exc:  # a bug: fail what is left of this cut rather than hang its callers
                log.exception("the micro-batcher's runner failed")
                for request in cut:
                    self._fail(request, exc)
            finally:
                with self._cond:
                    self._running -= 1

    def _hold_for(self) -> float:
        """Seconds to keep waiting for more requests before cutting (only with ``max_wait_ms``)."""
        if self.max_wait <= 0 or self._closed:
            return 0.0
        if sum(len(r.texts) for r in self._ready) >= self.max_batch or self._ready[0].alone:
            return 0.0
        return self._ready[0].submitted + self.max_wait - time.perf_counter()

    def _cut(self, expired: list[_Request]) -> list[_Request]:
        """Take the next batch off the ready list (called with the lock held): arrival order, within the limits.

        Requests found past their deadline are moved to ``expired`` (the caller fails them after the lock).
        """
        now = time.perf_counter()
        cut: list[_Request] = []
        texts = widest = 0
        while self._ready:
            request = self._ready[0]
            if not request.started:
                if request.deadline is not None and now > request.deadline:
                    expired.append(self._ready.popleft())
                    continue
                if request.future.cancelled():
                    self._ready.popleft()
                    continue
            if cut and (request.alone or cut[0].alone):
                break
            n = len(request.texts)
            longest = int(request.encoded.lengths.max())
            if cut and (texts + n > self.max_batch or (texts + n) * max(widest, longest) > self.max_tokens):
                break
            self._ready.popleft()
            if not request.started:
                request.started = True
                if not request.future.set_running_or_notify_cancel():
                    continue
                request.future.times.queue_ms = ((request.encode_start - request.submitted)
                                                 + (now - request.encode_end)) * 1000.0
                request.future.times.tokenize_ms = (request.encode_end - request.encode_start) * 1000.0
            cut.append(request)
            texts, widest = texts + n, max(widest, longest)
        return cut

    def _run_cut(self, cut: list[_Request]) -> None:
        t0 = time.perf_counter()
        encoded = self._model.join([r.encoded for r in cut]) if len(cut) > 1 else cut[0].encoded
        owner = np.repeat(np.arange(len(cut)), [len(r.texts) for r in cut])  # row → request in the cut
        first_row = np.concatenate([[0], np.cumsum([len(r.texts) for r in cut])])
        outcomes = [_Outcome(r) for r in cut]
        queue_ms = max(r.future.times.queue_ms for r in cut)
        encode_ms = max(r.future.times.tokenize_ms for r in cut)
        for rows in plan_batches(encoded.lengths, self.policy):
            t1 = time.perf_counter()
            try:
                results = self._model.run(encoded, rows, queue_ms=queue_ms, encode_ms=encode_ms)
            except Exception as exc:  # the whole call failed: every row in it met this exception
                results = [exc] * len(rows)
            t2 = time.perf_counter()
            involved = np.unique(owner[rows])
            failed = False
            for row, result in zip(rows.tolist(), results, strict=True):
                outcome = outcomes[owner[row]]
                if isinstance(result, BaseException):
                    failed = True
                    outcome.errors.append(result)
                    outcome.shared_failure |= len(involved) > 1
                else:
                    outcome.results[row - first_row[owner[row]]] = result
                outcome.left -= 1
            self._report(rows, encoded, len(involved), (t2 - t1) * 1000.0, failed)
            for i in involved.tolist():
                if outcomes[i].left == 0:
                    self._finish(outcomes[i], t0, len(rows))

    def _finish(self, outcome: _Outcome, cut_at: float, batch_texts: int) -> None:
        request = outcome.request
        times = request.future.times
        times.inference_ms += (time.perf_counter() - cut_at) * 1000.0
        times.batch_texts = batch_texts
        if not outcome.errors:
            self._rate.add()
            request.future.set_result(outcome.results)
        elif outcome.shared_failure and not request.alone:
            # A batch-mate may be the cause: run this request again by itself, first in line.
            log.info("a batch with %d texts of this request failed (%s); running the request alone",
                     len(request.texts), outcome.errors[0])
            request.alone = True
            with self._cond:
                self._ready.appendleft(request)
                self._cond.notify_all()
        else:
            request.future.set_exception(outcome.errors[0])

    def _fail(self, request: _Request, exc: BaseException) -> None:
        future = request.future
        if future.done():
            return
        if not request.started:
            request.started = True
            if not future.set_running_or_notify_cancel():
                return
        future.set_exception(exc)

    def _report(self, rows: np.ndarray, encoded: object, requests: int, infer_ms: float, failed: bool) -> None:
        if self._on_batch is None:
            return
        lengths = encoded.lengths[rows]
        report = BatchReport(len(rows), requests, int(lengths.max()), int(lengths.sum()), infer_ms, failed)
        try:
            self._on_batch(report)
        except Exception:  # a metrics hook must not fail requests
            log.exception("the micro-batcher's on_batch hook failed")


class _RecentRate:
    """Requests finished per second over the last few seconds (for Retry-After)."""

    def __init__(self, span_s: float = 5.0) -> None:
        self.span = span_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def add(self) -> None:
        now = time.perf_counter()
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > self.span:
                self._times.popleft()

    def requests_per_s(self) -> float:
        now = time.perf_counter()
        with self._lock:
            while self._times and now - self._times[0] > self.span:
                self._times.popleft()
            return len(self._times) / self.span

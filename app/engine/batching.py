"""Batching: an offline planner for lists and files, and a micro-batcher for live and concurrent requests."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from .errors import InputError

log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass(frozen=True)
class BatchPolicy:
    """Limits for cutting batches.

    ``max_batch``: rows per batch. ``max_tokens``: padded tokens per batch (rows × longest row), which bounds memory
    and keeps long texts in small batches. ``window``: rows sorted by length together; larger windows pad less but
    hold results back longer before they can be written in input order. ``min_fill``: a batch also closes when one
    more row would bring its padding efficiency (real ÷ padded tokens) below this fraction, so a handful of texts of
    very different lengths (a micro-batch) runs as two or three tight batches instead of one mostly-padding batch;
    0 turns this off.
    """

    max_batch: int = 32
    max_tokens: int = 8192
    window: int = 1024
    min_fill: float = 0.75

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_tokens", "window"):
            if getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', ' ')} must be at least 1 (got {getattr(self, name)})")
        if not 0.0 <= self.min_fill <= 1.0:
            raise InputError(f"min fill must be between 0 and 1 (got {self.min_fill})")


def plan_batches(lengths: np.ndarray, policy: BatchPolicy, *, sort: bool = True) -> list[np.ndarray]:
    """Cut row indices ``0..len(lengths)-1`` into batches.

    Within each window of ``policy.window`` rows, rows are taken longest first (so padding is small and ORT's
    memory arena grows once); a batch closes when it holds ``max_batch`` rows, when one more row would exceed
    ``max_tokens`` padded tokens, or when one more row would bring its padding efficiency below ``min_fill``. A row
    longer than the token budget gets a batch of its own. Every index appears in exactly one batch. With
    ``sort=False`` rows keep arrival order (the naive policy, for comparison).
    """
    lengths = np.asarray(lengths)
    batches: list[np.ndarray] = []
    for start in range(0, len(lengths), policy.window):
        window = lengths[start : start + policy.window]
        order = np.argsort(-window, kind="stable") if sort else np.arange(len(window))
        batches.extend(_cut(window, order, policy, offset=start))
    return batches


def _cut(lengths: np.ndarray, order: np.ndarray, policy: BatchPolicy, offset: int) -> list[np.ndarray]:
    cuts: list[np.ndarray] = []
    begin, widest, real = 0, 0, 0
    ordered = lengths[order].tolist()
    for i, n in enumerate(ordered):
        rows = i - begin
        new_widest = max(widest, n)
        padded = (rows + 1) * new_widest
        if rows and (rows + 1 > policy.max_batch or padded > policy.max_tokens
                     or real + n < policy.min_fill * padded):
            cuts.append(order[begin:i] + offset)
            begin, new_widest, real = i, n, 0
        widest = new_widest
        real += n
    if begin < len(ordered):
        cuts.append(order[begin:] + offset)
    return cuts


# ---------------------------------------------------------------------- micro-batcher
class BatcherClosed(RuntimeError):
    """The micro-batcher was closed; no new requests are taken."""


@dataclass
class _Request(Generic[R]):
    texts: Sequence[str]
    future: Future
    submitted: float


_STOP = object()


class MicroBatcher(Generic[R]):
    """Collects concurrent requests into one model call: up to ``max_batch`` texts or ``max_wait_ms``, then runs.

    ``run(texts, queue_ms)`` scores a list of texts and returns one result per text. Each caller's future gets its
    own slice. The wait is measured from the oldest request's arrival, so a backed-up queue is drained at once
    instead of waiting again. If a combined call fails, each request is retried alone so one bad request cannot
    fail its neighbours. ``workers`` threads collect and run batches side by side (a session pool in one session:
    on a CPU, two single-threaded runs beat one two-threaded run at small batches). ``close()`` stops taking
    requests, finishes every one already taken, and joins the threads.
    """

    def __init__(
        self,
        run: Callable[[list[str], float], Sequence[R]],
        *,
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        workers: int = 1,
        name: str = "sieve-microbatcher",
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0 or workers < 1:
            raise InputError("The micro-batcher needs max batch ≥ 1, max wait ≥ 0 ms and at least one worker")
        self._run = run
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ callers
    def submit(self, texts: Sequence[str]) -> Future:
        """Queue ``texts``; the returned future resolves to their results, in order."""
        future: Future = Future()
        if not texts:
            future.set_result([])
            return future
        with self._lock:
            if self._closed:
                raise BatcherClosed("the micro-batcher is closed")
            self._queue.put(_Request(list(texts), future, time.perf_counter()))
        return future

    def predict(self, texts: Sequence[str], timeout: float | None = None) -> list[R]:
        return self.submit(texts).result(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Finish every queued request, then stop the worker thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> MicroBatcher[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ worker
    def _next(self, held: deque, timeout: float | None) -> object:
        if held:
            return held.popleft()
        try:
            return self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _loop(self) -> None:
        held: deque[_Request] = deque()  # a request taken from the queue that did not fit the last batch
        stopping = False
        while not stopping or held:
            first = self._next(held, None)
            if first is _STOP:
                stopping = True
                continue
            assert isinstance(first, _Request)
            batch, count = [first], len(first.texts)
            deadline = first.submitted + self.max_wait
            while count < self.max_batch and not stopping:
                item = self._next(held, deadline - time.perf_counter())
                if item is None:
                    break
                if item is _STOP:
                    stopping = True  # this worker's stop signal; requests before it are already taken
                    break
                assert isinstance(item, _Request)
                if count + len(item.texts) > self.max_batch:
                    held.appendleft(item)  # runs first in this worker's next batch
                    break
                batch.append(item)
                count += len(item.texts)
            self._serve(batch)

    def _serve(self, batch: list[_Request]) -> None:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        texts = [t for r in live for t in r.texts]
        queue_ms = (time.perf_counter() - min(r.submitted for r in live)) * 1000.0
        try:
            results = self._run(texts, queue_ms)
        except Exception as exc:
            if len(live) == 1:
                live[0].future.set_exception(exc)
                return
            log.info("combined batch of %d requests failed (%s); retrying each alone", len(live), exc)
            for request in live:
                self._serve_alone(request)
            return
        at = 0
        for request in live:
            n = len(request.texts)
            request.future.set_result(list(results[at : at + n]))
            at += n

    def _serve_alone(self, request: _Request) -> None:
        try:
            request.future.set_result(list(self._run(list(request.texts), 0.0)))
        except Exception as exc:
            request.future.set_exception(exc)

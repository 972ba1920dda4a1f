"""A load generator for any server that speaks ``POST /predict {"texts": [...]}`` (``sieve loadgen``).

Two ways to send load:

- **open loop** (``rate``): request *k* is due at a fixed time (even gaps, or exponential gaps for Poisson
  arrivals) and leaves then whatever the earlier answers do. Its latency is measured from that *intended* time,
  so a server that stalls is charged for every request that should have left meanwhile (no coordinated omission).
- **closed loop** (``concurrency``): *C* connections, each sending its next request when the previous one is
  answered; latency from the actual send.

The core is one asyncio coroutine (:func:`run_load`) on aiohttp: one connection pool, a C-accelerated HTTP parser,
and thousands of requests in flight from one thread, so the client does not become the bottleneck on a small
machine. :class:`LoadRun` runs it on its own thread for a GUI: per-second :class:`Snapshot` objects arrive through
a callback, and :meth:`LoadRun.cancel` stops the load at once and keeps what was measured.
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict

import aiohttp
import numpy as np
import orjson

from .load_report import PERCENTILES, STAGES, LoadPlan, LoadReport, Snapshot, load_texts, predict_url

__all__ = ["LoadPlan", "LoadReport", "LoadRun", "Snapshot", "load_texts", "predict_url", "run_load",
           "run_load_blocking"]


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    if not len(values):
        return {}
    arr = np.asarray(values, dtype=np.float64)
    got = np.percentile(arr, PERCENTILES)
    out = {f"p{p:g}": float(v) for p, v in zip(PERCENTILES, got, strict=True)}
    out.update(min=float(arr.min()), max=float(arr.max()), mean=float(arr.mean()))
    return out


class _Recorder:
    """Outcomes by second of completion (for snapshots) and in total (for the report)."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.latencies: list[float] = []
        self.stages: dict[str, list[float]] = {name: [] for name in STAGES.values()}
        self.errors: dict[str, int] = {}
        self.sent = self.ok = self.in_flight = 0
        self.last_done = start
        self._second: dict = self._fresh()
        self._due_by_second: dict[int, int] = {}  # open loop: requests by the second of their intended send time

    @staticmethod
    def _fresh() -> dict:
        return {"latencies": [], "errors": {}, "stages": {}, "sent": 0}

    def due(self, offset_s: float) -> None:
        """A request fell due ``offset_s`` after the start. It is offered in the second its intended time lies in,
        whenever the sender got to it (a request due at 1.000 s belongs to second 1 even if the tick for second 0
        runs after it)."""
        second = int(offset_s)
        self._due_by_second[second] = self._due_by_second.get(second, 0) + 1

    def began(self) -> None:
        self.sent += 1
        self.in_flight += 1
        self._second["sent"] += 1

    def finished(self, latency_s: float, error: str | None, stages: dict[str, float]) -> None:
        self.in_flight -= 1
        self.last_done = time.perf_counter()
        if error is None:
            ms = latency_s * 1000.0
            self.ok += 1
            self.latencies.append(ms)
            self._second["latencies"].append(ms)
            for name, value in stages.items():
                self.stages[name].append(value)
                self._second["stages"].setdefault(name, []).append(value)
        else:
            self.errors[error] = self.errors.get(error, 0) + 1
            self._second["errors"][error] = self._second["errors"].get(error, 0) + 1

    def snapshot(self, second: int, open_loop: bool) -> Snapshot:
        s, self._second = self._second, self._fresh()
        lat = np.asarray(s["latencies"], dtype=np.float64)
        p50, p90, p99 = (float(v) for v in np.percentile(lat, [50, 90, 99])) if len(lat) else (0.0, 0.0, 0.0)
        offered = self._due_by_second.pop(second, 0) if open_loop else s["sent"]
        return Snapshot(second, float(offered), float(s["sent"]), float(len(lat)), p50, p90,
                        p99, float(lat.max()) if len(lat) else 0.0, dict(s["errors"]),
                        {k: float(np.mean(v)) for k, v in s["stages"].items() if v}, self.in_flight, self.ok,
                        sum(self.errors.values()))


# ---------------------------------------------------------------------- the run
async def run_load(plan: LoadPlan, *, on_snapshot: Callable[[Snapshot], None] | None = None,
                   stop: asyncio.Event | None = None) -> LoadReport:
    """Send ``plan``'s load and return what was measured. Setting ``stop`` ends the run at once."""
    stop = stop or asyncio.Event()
    bodies = plan.bodies()
    headers = {"content-type": "application/json"}
    if plan.api_key:
        headers["authorization"] = f"Bearer {plan.api_key}"
    limit = plan.concurrency if plan.concurrency else plan.max_connections
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=plan.timeout_s)
    start = time.perf_counter()
    end = start + plan.duration_s
    rec = _Recorder(start)
    snapshots: list[Snapshot] = []
    tasks: set[asyncio.Task] = set()

    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers,
                                     skip_auto_headers=("user-agent",)) as session:

        async def one(k: int, intended: float | None) -> None:
            rec.began()
            sent = time.perf_counter()
            error, stages = None, {}
            try:
                async with session.post(plan.url, data=bodies[k % len(bodies)]) as resp:
                    payload = await resp.read()
                    if resp.status != 200:
                        error = str(resp.status)
                    else:
                        stages = {name: float(resp.headers[h]) for h, name in STAGES.items() if h in resp.headers}
                        if _predictions(payload) != plan.per_request:
                            error = "bad-response"
            except asyncio.TimeoutError:
                error = "timeout"
            except aiohttp.ClientConnectorError:
                error = "connect"
            except aiohttp.ServerDisconnectedError:
                error = "disconnected"
            except aiohttp.ClientError as exc:
                error = type(exc).__name__
            except ValueError:
                error = "bad-header"
            rec.finished(time.perf_counter() - (intended if intended is not None else sent), error, stages)

        async def open_loop() -> None:
            rng = random.Random(plan.seed)
            due, k, offset = start, 0, 0.0
            while due < end and not stop.is_set():
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                rec.due(due - start)
                task = asyncio.create_task(one(k, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                k += 1
                offset = offset + rng.expovariate(plan.rate) if plan.poisson else k / plan.rate  # no drift from sums
                due = start + offset

        async def closed_worker(w: int) -> None:
            k = w
            while time.perf_counter() < end and not stop.is_set():
                await one(k, None)
                k += plan.concurrency

        async def ticker() -> None:
            second = 0
            while True:
                await asyncio.sleep(max(0.0, start + second + 1 - time.perf_counter()))
                snap = rec.snapshot(second, plan.open_loop)
                snapshots.append(snap)
                if on_snapshot is not None:
                    on_snapshot(snap)
                second += 1

        tick = asyncio.create_task(ticker())
        if plan.open_loop:
            senders = [asyncio.create_task(open_loop())]
        else:
            senders = [asyncio.create_task(closed_worker(w)) for w in range(plan.concurrency)]
        stopper = asyncio.create_task(stop.wait())
        pending = set(senders)
        while pending and not stop.is_set():
            _, pending = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stopper)
        if stop.is_set():  # cancel: stop sending and drop what is in flight, keep what was measured
            for task in [*senders, *tasks]:
                task.cancel()
            await asyncio.gather(*senders, *tasks, return_exceptions=True)
        elif tasks:  # let the last requests come back (each has its own timeout)
            await asyncio.wait(set(tasks), timeout=plan.timeout_s + 1.0)
        stopper.cancel()
        tick.cancel()
        unfinished = rec.in_flight
        for task in list(tasks):
            task.cancel()
    elapsed = max(min(time.perf_counter(), end) - start, rec.last_done - start, 1e-9)
    if rec._second["sent"] or rec._second["latencies"] or rec._second["errors"]:
        snapshots.append(rec.snapshot(len(snapshots), plan.open_loop))  # the last partial second
    sending = min(plan.duration_s, elapsed)
    return LoadReport(
        plan={k: v for k, v in asdict(plan).items() if k not in ("texts", "api_key")} | {"texts": len(plan.texts)},
        elapsed_s=elapsed, sent=rec.sent, ok=rec.ok, errors=dict(rec.errors),
        offered_per_s=(plan.rate if plan.open_loop else rec.sent / sending),
        sent_per_s=rec.sent / sending, ok_per_s=rec.ok / elapsed, texts_per_s=rec.ok * plan.per_request / elapsed,
        latency_ms=_percentiles(rec.latencies),
        stage_ms={k: _percentiles(v) for k, v in rec.stages.items() if v},
        cancelled=stop.is_set(), unfinished=unfinished, snapshots=snapshots)


def _predictions(payload: bytes) -> int:
    try:
        data = orjson.loads(payload)
        return len(data["predictions"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return -1


# ---------------------------------------------------------------------- on a thread (for a window)
class LoadRun:
    """Runs :func:`run_load` on its own thread with its own event loop.

    ``on_snapshot`` is called on that thread once a second (a GUI should hand the snapshot to its own thread, e.g.
    with a queued signal). :meth:`cancel` stops the load at once; :meth:`wait` returns the report (or raises what
    the run raised).
    """

    def __init__(self, plan: LoadPlan, on_snapshot: Callable[[Snapshot], None] | None = None) -> None:
        self.plan = plan
        self._on_snapshot = on_snapshot
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._ended = threading.Event()
        self._report: LoadReport | None = None
        self._error: BaseException | None = None
        self._cancel_requested = False
        self._thread = threading.Thread(target=self._main, name="sieve-loadgen", daemon=True)

    def start(self) -> LoadRun:
        self._thread.start()
        self._started.wait()
        return self

    def cancel(self) -> None:
        """Stop sending now; requests in flight are dropped, everything measured so far is kept."""
        self._cancel_requested = True
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def wait(self, timeout: float | None = None) -> LoadReport | None:
        """The report once the run ended (``None`` if it has not within ``timeout`` seconds).

        Waits on an event, not on ``Thread.join``: a Ctrl+C that interrupts ``join`` (Python 3.11) can mark the
        thread as ended while it still runs, and the report would then never arrive.
        """
        if not self._ended.wait(timeout):
            return None
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._report

    @property
    def running(self) -> bool:
        return not self._ended.is_set()

    def _main(self) -> None:
        async def main() -> LoadReport:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            if self._cancel_requested:
                self._stop.set()
            self._started.set()
            return await run_load(self.plan, on_snapshot=self._on_snapshot, stop=self._stop)

        try:
            self._report = _run_fast(main())
        except BaseException as exc:  # noqa: BLE001 - handed to wait()
            self._error = exc
        finally:
            self._started.set()
            self._ended.set()


def _run_fast(coro):  # noqa: ANN001, ANN202
    """Run ``coro`` on uvloop where it is installed (less client CPU per request), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        uvloop = None
    if uvloop is None or sys.version_info < (3, 11):
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def run_load_blocking(plan: LoadPlan, on_snapshot: Callable[[Snapshot], None] | None = None) -> LoadReport:
    """Run ``plan`` on a thread and wait; Ctrl+C cancels it and still returns what was measured."""
    run = LoadRun(plan, on_snapshot).start()
    try:
        while True:
            report = run.wait(0.2)
            if report is not None:
                return report
    except KeyboardInterrupt:
        run.cancel()
        report = run.wait(10.0)
        if report is None:
            raise
        return report

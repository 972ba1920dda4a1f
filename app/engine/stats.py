"""Per-batch timing records, rolling percentiles, throughput and padding efficiency.

Producers (the scoring loop, the micro-batcher) call :meth:`StatsRecorder.add`; views (plots, the CLI summary)
read :meth:`StatsRecorder.snapshot` and :meth:`StatsRecorder.summary` whenever they like. All times are in
milliseconds except ``t``, seconds since the recorder started.
"""

from __future__ import annotations

import csv
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .wording import count

RECORD_DTYPE = np.dtype(
    [
        ("t", "f8"),  # seconds since the recorder started, at the end of the batch
        ("rows", "i4"),
        ("padded_len", "i4"),
        ("real_tokens", "i8"),
        ("queue_ms", "f4"),
        ("encode_ms", "f4"),
        ("infer_ms", "f4"),
        ("post_ms", "f4"),
        ("failed", "?"),
    ]
)
STAGES = ("queue_ms", "encode_ms", "infer_ms", "post_ms")


def batch_latency_ms(records: np.ndarray) -> np.ndarray:
    """Time a batch's rows spent from queueing to results: queue + encode + infer + postprocess (ms)."""
    return records["queue_ms"] + records["encode_ms"] + records["infer_ms"] + records["post_ms"]


@dataclass(frozen=True)
class Summary:
    batches: int
    rows: int
    failed_rows: int
    real_tokens: int
    padded_tokens: int
    elapsed_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_batch: float
    stage_ms: dict[str, float]  # mean per batch

    @property
    def texts_per_s(self) -> float:
        return self.rows / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.real_tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def padding_efficiency(self) -> float:
        """Real tokens ÷ padded tokens (1.0 means no padding was computed)."""
        return self.real_tokens / self.padded_tokens if self.padded_tokens else 1.0

    def lines(self) -> list[str]:
        if not self.batches:
            return ["no batches ran"]
        stages = "  ".join(f"{k.removesuffix('_ms')} {v:.2f}" for k, v in self.stage_ms.items())
        return [
            f"{count(self.rows, 'text')} in {count(self.batches, 'batch', 'batches')} "
            f"(mean {self.mean_batch:.1f} rows) in {self.elapsed_s:.2f} s"
            + (f", {self.failed_rows:,} failed" if self.failed_rows else ""),
            f"throughput {self.texts_per_s:,.1f} texts/s, {self.tokens_per_s:,.0f} tokens/s; "
            f"padding efficiency {self.padding_efficiency:.1%}",
            f"batch latency p50 {self.p50_ms:.2f} ms  p95 {self.p95_ms:.2f} ms  p99 {self.p99_ms:.2f} ms",
            f"mean ms per batch by stage: {stages}",
        ]

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(
            texts_per_s=self.texts_per_s, tokens_per_s=self.tokens_per_s, padding_efficiency=self.padding_efficiency
        )
        return data


class StatsRecorder:
    """Thread-safe ring buffer of batch records plus running totals.

    Percentiles are over the last ``capacity`` batches; totals cover everything since the last :meth:`reset`.
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._buf = np.zeros(capacity, dtype=RECORD_DTYPE)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._count = 0
            self._start = time.perf_counter()
            self._first_t: float | None = None
            self._last_t = 0.0
            self._rows = self._failed = self._real = self._padded = 0
            self._version = 0

    @property
    def version(self) -> int:
        """Changes whenever a record is added or the recorder is reset; views skip redraws when it has not."""
        return self._version

    def now(self) -> float:
        return time.perf_counter() - self._start

    def add(
        self,
        *,
        rows: int,
        padded_len: int,
        real_tokens: int,
        queue_ms: float = 0.0,
        encode_ms: float = 0.0,
        infer_ms: float = 0.0,
        post_ms: float = 0.0,
        failed: bool = False,
        started: float | None = None,
    ) -> None:
        """Record one batch. ``started`` (seconds, :meth:`now` clock) marks when its work began."""
        with self._lock:
            t = self.now()
            if self._first_t is None:
                self._first_t = started if started is not None else t - (encode_ms + infer_ms + post_ms) / 1000.0
            self._buf[self._count % self.capacity] = (
                t, rows, padded_len, real_tokens, queue_ms, encode_ms, infer_ms, post_ms, failed
            )
            self._count += 1
            self._last_t = t
            self._rows += rows
            self._failed += rows if failed else 0
            self._real += real_tokens
            self._padded += rows * padded_len
            self._version += 1

    def snapshot(self, last: int | None = None) -> np.ndarray:
        """A copy of the most recent records (oldest first), at most ``last`` of them."""
        with self._lock:
            n = min(self._count, self.capacity)
            if last is not None:
                n = min(n, last)
            end = self._count % self.capacity
            idx = (np.arange(end - n, end)) % self.capacity
            return self._buf[idx].copy()

    def summary(self) -> Summary:
        records = self.snapshot()
        with self._lock:
            batches, rows, failed = self._count, self._rows, self._failed
            real, padded = self._real, self._padded
            elapsed = (self._last_t - self._first_t) if self._first_t is not None else 0.0
        ok = records[~records["failed"]]
        if len(ok):
            p50, p95, p99 = (float(x) for x in np.percentile(batch_latency_ms(ok), [50, 95, 99]))
            stages = {k: float(ok[k].mean()) for k in STAGES}
            mean_batch = float(ok["rows"].mean())
        else:
            p50 = p95 = p99 = mean_batch = 0.0
            stages = dict.fromkeys(STAGES, 0.0)
        return Summary(batches, rows, failed, real, padded, elapsed, p50, p95, p99, mean_batch, stages)

    def write_csv(self, path: str | Path) -> int:
        """Write the buffered records as CSV (atomically); return the number of rows written."""
        from .io import atomic_path  # local import: io depends on nothing here, keep the graph one-way

        records = self.snapshot()
        with atomic_path(Path(path)) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow([*RECORD_DTYPE.names, "latency_ms"])
            for rec, lat in zip(records.tolist(), batch_latency_ms(records).tolist(), strict=True):
                writer.writerow([*rec, lat])
        return len(records)

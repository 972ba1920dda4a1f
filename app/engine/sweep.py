"""On-device latency sweeps: batch size × sequence length × execution provider.

Each point runs the model on a synthetic batch built from real text (a paragraph tokenized and tiled to the
requested length, no padding), after warm-up runs, and reports latency percentiles and throughput.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import onnxruntime as ort

from .bundle import ModelBundle
from .encoding import TextEncoder
from .errors import InputError
from .machine import cpu_name
from .session import ModelSession, SessionConfig

SAMPLE_TEXT = (
    "The new update made the app noticeably faster, although the settings page still crashes now and then. "
    "Support answered within a day and was friendly, but the fix they suggested did not help at all. "
    "Overall I am fairly happy with it and would recommend it to a friend who needs something simple."
)


@dataclass(frozen=True)
class SweepPoint:
    provider: str
    batch_size: int
    seq_len: int
    runs: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    error: str | None = None

    @property
    def texts_per_s(self) -> float:
        return self.batch_size / (self.mean_ms / 1000.0) if self.mean_ms > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.texts_per_s * self.seq_len

    @property
    def ms_per_text(self) -> float:
        return self.mean_ms / self.batch_size if self.batch_size else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "texts_per_s": self.texts_per_s, "tokens_per_s": self.tokens_per_s,
                "ms_per_text": self.ms_per_text}


@dataclass(frozen=True)
class SweepPlan:
    batch_sizes: Sequence[int] = (1, 8, 32)
    seq_lens: Sequence[int] = (16, 64, 128)
    providers: Sequence[str] = ("cpu",)
    warmup: int = 2
    repeats: int = 10
    max_seconds_per_point: float = 5.0
    threads: int = 0

    def __post_init__(self) -> None:
        if not self.batch_sizes or not self.seq_lens or min(self.batch_sizes) < 1 or min(self.seq_lens) < 2:
            raise InputError("A sweep needs batch sizes ≥ 1 and sequence lengths ≥ 2")
        if self.repeats < 1 or self.warmup < 0:
            raise InputError("A sweep needs at least one timed run per point")

    @property
    def points(self) -> int:
        return len(self.batch_sizes) * len(self.seq_lens) * len(self.providers)


def synthetic_ids(encoder: TextEncoder, seq_len: int) -> np.ndarray:
    """Token ids of real text, tiled to exactly ``seq_len`` tokens (first and last special tokens kept)."""
    ids = encoder.tokenizer.encode(SAMPLE_TEXT, add_special_tokens=True).ids
    if len(ids) < 3:
        return np.resize(np.asarray(ids, dtype=np.int64), seq_len)
    head, body, tail = ids[:1], ids[1:-1], ids[-1:]
    middle = np.resize(np.asarray(body, dtype=np.int64), max(0, seq_len - 2))
    return np.concatenate([head, middle, tail]).astype(np.int64)[:seq_len]


def run_sweep(
    bundle: ModelBundle,
    plan: SweepPlan,
    *,
    on_point: Callable[[SweepPoint], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[SweepPoint]:
    """Measure every point of ``plan``; a provider that cannot start yields points carrying the reason."""
    results: list[SweepPoint] = []
    for provider in plan.providers:
        session = ModelSession.load(bundle, SessionConfig(provider=provider, intra_op_threads=plan.threads))
        encoder = TextEncoder.from_file(bundle.tokenizer_path, model_max_length=session.fixed_length)
        name = session.providers.device
        for seq_len in plan.seq_lens:
            base = synthetic_ids(encoder, seq_len)
            for batch in plan.batch_sizes:
                if cancel is not None and cancel.is_set():
                    return results
                if provider in ("cuda", "tensorrt") and session.providers.device != "CUDA":
                    point = SweepPoint("CUDA", batch, seq_len, 0, 0, 0, 0,
                                       error=session.providers.fallback_reason or "CUDA is not available")
                elif seq_len > encoder.max_length:
                    point = SweepPoint(name, batch, seq_len, 0, 0, 0, 0,
                                       error=f"longer than the model's maximum of {encoder.max_length} tokens")
                else:
                    point = _measure(session, base, batch, plan, name)
                results.append(point)
                if on_point is not None:
                    on_point(point)
    return results


def _measure(session: ModelSession, ids: np.ndarray, batch: int, plan: SweepPlan, name: str) -> SweepPoint:
    full = np.tile(ids, (batch, 1))
    arrays = {"input_ids": full, "attention_mask": np.ones_like(full), "token_type_ids": np.zeros_like(full)}
    feeds = {s.name: arrays[s.name].astype(s.dtype, copy=False) for s in session.inputs}
    try:
        for _ in range(plan.warmup):
            session.run(feeds)
        times = []
        deadline = time.perf_counter() + plan.max_seconds_per_point
        while len(times) < plan.repeats and (len(times) < 3 or time.perf_counter() < deadline):
            t0 = time.perf_counter()
            session.run(feeds)
            times.append((time.perf_counter() - t0) * 1000.0)
    except Exception as exc:  # e.g. out of memory at a large batch: report it on this point, go on
        return SweepPoint(name, batch, len(ids), 0, 0, 0, 0, error=str(exc).splitlines()[0][:200])
    t = np.asarray(times)
    p50, p95 = np.percentile(t, [50, 95])
    return SweepPoint(name, batch, len(ids), len(t), float(p50), float(p95), float(t.mean()))


def machine_info() -> dict:
    """What the figures were measured on."""
    import tokenizers

    return {
        "platform": platform.platform(),
        "processor": cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "onnxruntime_device": ort.get_device(),
        "tokenizers": tokenizers.__version__,
        "numpy": np.__version__,
    }


def format_table(points: Sequence[SweepPoint]) -> list[str]:
    """The sweep as aligned text lines."""
    head = f"{'provider':<8} {'batch':>5} {'seq':>5} {'p50 ms':>9} {'p95 ms':>9} {'ms/text':>8} {'texts/s':>9} {'tokens/s':>10}"
    lines = [head, "-" * len(head)]
    for p in points:
        if p.error:
            lines.append(f"{p.provider:<8} {p.batch_size:>5} {p.seq_len:>5}  {p.error}")
        else:
            lines.append(
                f"{p.provider:<8} {p.batch_size:>5} {p.seq_len:>5} {p.p50_ms:>9.2f} {p.p95_ms:>9.2f} "
                f"{p.ms_per_text:>8.2f} {p.texts_per_s:>9.1f} {p.tokens_per_s:>10.0f}"
            )
    return lines

"""The default model's contenders side by side through Sieve's engine: accuracy, batch invariance, CPU speed.

Every figure comes from :class:`app.engine.Classifier` on the CPU provider, the way a user's run scores texts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.engine import BatchPolicy, Classifier

LABELS = ["negative", "neutral", "positive"]


def load(folder: Path, threads: int) -> Classifier:
    return Classifier.load(folder, provider="cpu", threads=threads)


def with_batches(clf: Classifier, size: int) -> Classifier:
    """The same session, cutting batches of exactly ``size`` consecutive texts, each padded to its longest."""
    return Classifier(clf.session, clf.encoder, BatchPolicy(max_batch=size, window=size, min_fill=0.0))


def metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    p, r, f, n = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2], zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro")), 4),
        "per_class": {LABELS[i]: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                                  "f1": round(float(f[i]), 4), "support": int(n[i])} for i in range(3)},
        "confusion": confusion_matrix(y_true, y_pred, labels=[0, 1, 2]).tolist(),
    }


def accuracy(clf: Classifier, texts: list[str], labels: list[int]) -> tuple[dict, np.ndarray]:
    """Metrics over ``texts`` scored the way ``sieve score`` does (the planner's length-sorted batches), and probs."""
    probs = clf.score(texts).probs
    return metrics(labels, probs.argmax(1).tolist()), probs


def alone(clf: Classifier, texts: list[str]) -> np.ndarray:
    """Each text scored on its own (a batch of one, no padding)."""
    return np.concatenate([clf.score([t]).probs for t in texts])


def _differences(reference: np.ndarray, probs: np.ndarray) -> dict:
    return {"label_flips": int((reference.argmax(1) != probs.argmax(1)).sum()),
            "max_abs_prob_diff": float(np.abs(reference - probs).max())}


def batch_invariance(clf: Classifier, texts: list[str], seed: int, reference: np.ndarray | None = None) -> dict:
    """How far a text's scores move with its batch-mates, against the same text scored alone.

    Three ways of batching: consecutive batches of 32 (each padded to its longest text); the texts shuffled and
    cut into batches of random sizes 2-32 (other neighbours, other padding); Sieve's own planner (length-sorted
    batches, what ``sieve score`` runs). ``reference`` is the alone-scores when already computed.
    """
    single = alone(clf, texts) if reference is None else reference
    in_32 = with_batches(clf, 32).score(texts).probs
    rng = random.Random(seed)
    order = list(range(len(texts)))
    rng.shuffle(order)
    mixed = np.zeros_like(single)
    start = 0
    while start < len(order):
        part = order[start : start + rng.randint(2, 32)]
        mixed[part] = with_batches(clf, len(part)).score([texts[i] for i in part]).probs
        start += len(part)
    planner = clf.score(texts).probs
    return {"texts": len(texts), "batches_of_32": _differences(single, in_32),
            "mixed_batches": _differences(single, mixed), "planner": _differences(single, planner)}


def invariant(report: dict, tolerance: float = 1e-3) -> bool:
    ways = [v for v in report.values() if isinstance(v, dict)]
    return all(w["label_flips"] == 0 and w["max_abs_prob_diff"] <= tolerance for w in ways)


def speed(clfs: dict[str, Classifier], texts: list[str], single: list[str], rounds: int) -> dict:
    """Throughput over ``texts`` (the planner's batches) and batch-1 latency over ``single``, interleaved.

    Each round runs every model once, in an order that rotates from round to round, so drift on a shared
    machine lands on all of them. Reported: the median round and the best round (other processes only ever add
    time, so on a busy machine the best round is the closest to what the model costs) for throughput, and the
    p50 of every single-text call of every round next to the lowest per-round p50 for latency.
    """
    names = list(clfs)
    for clf in clfs.values():  # warm-up: first runs allocate and pack weights
        clf.score(texts[:64])
        clf.score(single[:5])
    runs: dict[str, list[float]] = {n: [] for n in names}
    lat: dict[str, list[list[float]]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            clf = clfs[name]
            t0 = time.perf_counter()
            clf.score(texts)
            runs[name].append(len(texts) / (time.perf_counter() - t0))
            calls = []
            for text in single:
                t = time.perf_counter()
                clf.score([text])
                calls.append((time.perf_counter() - t) * 1000.0)
            lat[name].append(calls)
    out = {}
    for n in names:
        pooled = [ms for calls in lat[n] for ms in calls]
        out[n] = {"texts_per_s_batched": round(float(np.median(runs[n])), 1),
                  "texts_per_s_best_round": round(float(max(runs[n])), 1),
                  "texts_per_s_runs": [round(v, 1) for v in runs[n]],
                  "batch1_p50_ms": round(float(np.percentile(pooled, 50)), 2),
                  "batch1_p50_best_round_ms": round(float(min(np.percentile(c, 50) for c in lat[n])), 2),
                  "batch1_p95_ms": round(float(np.percentile(pooled, 95)), 2)}
    return out


def ratios(speed_figures: dict, name: str, base: str) -> dict:
    """``name`` relative to ``base``: throughput (higher is faster) and batch-1 p50 (lower is faster)."""
    a, b = speed_figures[name], speed_figures[base]
    return {"throughput_median": round(a["texts_per_s_batched"] / b["texts_per_s_batched"], 3),
            "throughput_best": round(a["texts_per_s_best_round"] / b["texts_per_s_best_round"], 3),
            "batch1_p50": round(a["batch1_p50_ms"] / b["batch1_p50_ms"], 3),
            "batch1_p50_best": round(a["batch1_p50_best_round_ms"] / b["batch1_p50_best_round_ms"], 3)}

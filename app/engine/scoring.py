"""From logits to probabilities and labels: softmax for single-label models, sigmoid for multi-label ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

NOT_SCORED = -1  # the run stopped (cancel) before this row's batch
FAILED = -2  # this row's batch failed, or the row could not be read; see its error


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for any finite logits (the row maximum is subtracted first)."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function, written with tanh so large |x| neither overflows nor loses precision."""
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """``[batch, labels]`` float32 probabilities from logits (copied; the input is left alone)."""
    logits = np.array(logits, dtype=np.float32, copy=True)
    return sigmoid(logits) if multi_label else softmax(logits)


@dataclass(frozen=True)
class Prediction:
    """One text's result. ``label`` is ``None`` when the text could not be scored (``error`` says why)."""

    text: str | None
    label: str | None
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    truncated: bool = False
    error: str | None = None

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        return sorted(self.scores.items(), key=lambda kv: kv[1], reverse=True)[:k]


def predictions(
    texts: Sequence[str | None],
    labels: Sequence[str],
    probs: np.ndarray,
    label_idx: np.ndarray,
    truncated: np.ndarray,
    errors: Sequence[str | None],
) -> list[Prediction]:
    """Package result arrays as :class:`Prediction` objects (for small lists; big runs keep the arrays)."""
    out = []
    rows = probs.tolist()
    for i, text in enumerate(texts):
        li = int(label_idx[i])
        if li >= 0:
            scores = dict(zip(labels, rows[i], strict=True))
            out.append(Prediction(text, labels[li], rows[i][li], scores, bool(truncated[i])))
        else:
            out.append(Prediction(text, None, 0.0, {}, False, errors[i] or "not scored"))
    return out

"""From logits to probabilities and labels: softmax for single-label models, sigmoid for multi-label ones.

A single-label model with one logit per text (the usual binary export) is a binary classifier: its two
probabilities are ``1 - sigmoid(x)`` and ``sigmoid(x)``.
"""

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
    """``[batch, labels]`` float32 probabilities from finite logits (copied; the input is left alone).

    ``[batch, 1]`` logits of a single-label model give ``[batch, 2]``: the first label's probability, then the
    second's (the one the logit speaks for).
    """
    logits = np.array(logits, dtype=np.float32, copy=True)
    if multi_label:
        return sigmoid(logits)
    if logits.shape[1] == 1:  # sigmoid(-x) rather than 1 - sigmoid(x): no cancellation for large x
        return np.concatenate([sigmoid(-logits), sigmoid(logits)], axis=1)
    return softmax(logits)


def non_finite_message(logits: np.ndarray) -> str:
    """Why a row whose logits are not all finite has no label."""
    what = "NaN" if np.isnan(logits).any() else "infinite"
    return f"The model returned {what} scores for this text, so it has no label; the model or its export is broken for such input"


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

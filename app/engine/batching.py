"""Batching policy and the offline planner for lists and files (the live micro-batcher is in ``microbatcher``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError


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



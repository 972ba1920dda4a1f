"""Compare two classifiers on the same texts: two exports of one model (fp32 / fp16 / int8), or one model on two
providers. Label agreement, how far the probabilities move, which texts change label, and the speed of each, so a
user can trust a smaller or faster variant before switching to it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .errors import InputError
from .pipeline import Classifier, ScoredChunk
from .scoring import FAILED, NOT_SCORED


@dataclass(frozen=True)
class Side:
    """One contender: which model on which provider, and how fast it scored the texts."""

    title: str  # "A" or "B"
    model: str
    quantization: str
    provider: str  # the provider that really ran it
    seconds: float  # median over the timed runs
    texts_per_s: float


@dataclass(frozen=True)
class Flip:
    """A text whose label differs between A and B, with each side's probability for the label it chose."""

    row: int
    text: str
    label_a: str
    label_b: str
    prob_a: float
    prob_b: float
    max_abs_diff: float


@dataclass(frozen=True)
class Comparison:
    a: Side
    b: Side
    labels: tuple[str, ...]
    texts: int  # texts both sides scored
    failed: int  # texts either side could not score (left out of the figures)
    agreement: float  # share of texts with the same label
    max_abs_diff: float  # largest |Δprob| over every text and label
    mean_abs_diff: float  # mean over texts of each text's largest |Δprob|
    flips: tuple[Flip, ...]  # every text whose label differs, largest |Δprob| first

    @property
    def speedup(self) -> float:
        """B's throughput over A's."""
        return self.b.texts_per_s / self.a.texts_per_s if self.a.texts_per_s else 0.0

    def lines(self, show: int = 10) -> list[str]:
        """The comparison as text lines (``sieve compare``), with up to ``show`` flipped texts."""
        out = []
        for s in (self.a, self.b):
            out.append(f"{s.title}: {s.model} ({s.quantization}) on {s.provider}: {s.texts_per_s:,.0f} texts/s "
                       f"({s.seconds:.2f} s)")
        out.append(f"texts compared: {self.texts:,}" + (f" ({self.failed} failed on a side, left out)"
                                                         if self.failed else ""))
        out.append(f"same label: {self.agreement:.2%} ({self.texts - len(self.flips):,} of {self.texts:,}); "
                   f"{len(self.flips)} flipped")
        out.append(f"|Δprob|: max {self.max_abs_diff:.4f}, mean of each text's largest {self.mean_abs_diff:.4f}")
        out.append(f"speed: B runs at {self.speedup:.2f}× A's throughput")
        if self.flips and show:
            out.append(f"flipped texts (largest |Δprob| first{', first ' + str(show) if len(self.flips) > show else ''}):")
            for f in self.flips[:show]:
                text = f.text if len(f.text) <= 80 else f.text[:77] + "..."
                out.append(f"  row {f.row + 1}: A {f.label_a} {f.prob_a:.2f} -> B {f.label_b} {f.prob_b:.2f}  "
                           f"{text!r}")
        return out

    def as_dict(self) -> dict:
        out = asdict(self)
        out["labels"] = list(self.labels)
        out["speedup"] = self.speedup
        out["flips"] = [asdict(f) for f in self.flips]
        return out


def compare(a: Classifier, b: Classifier, texts: Sequence[str], *, repeats: int = 1,
            names: tuple[str, str] = ("A", "B")) -> Comparison:
    """Score ``texts`` with ``a`` and ``b`` and compare. Each side is warmed up on a few texts first, then timed
    ``repeats`` times, alternating, so drift on a busy machine hits both alike; the speed is the median."""
    texts = list(texts)
    if not texts:
        raise InputError("There are no texts to compare on", "Give --texts a file with at least one text")
    if a.multi_label != b.multi_label:
        raise InputError("One model is multi-label and the other is not, so their scores do not compare",
                         "Compare two exports of the same classifier")
    if set(a.labels) != set(b.labels):
        raise InputError(f"The models name different labels (A: {', '.join(a.labels)}; B: {', '.join(b.labels)})",
                         "Compare two exports of the same classifier")
    order = [list(b.labels).index(name) for name in a.labels]  # B's columns in A's label order

    for clf in (a, b):
        clf.score(texts[:32])
    runs: dict[str, list[float]] = {"a": [], "b": []}
    chunks: dict[str, ScoredChunk] = {}
    for _ in range(max(1, repeats)):
        for key, clf in (("a", a), ("b", b)):
            t0 = time.perf_counter()
            chunk = clf.score(texts)
            runs[key].append(time.perf_counter() - t0)
            chunks.setdefault(key, chunk)

    ca, cb = chunks["a"], chunks["b"]
    pa, pb = ca.probs, cb.probs[:, order]
    inverse = np.argsort(order)  # B's label index -> A's label index
    lb = np.where(cb.label_idx >= 0, inverse[np.clip(cb.label_idx, 0, None)], cb.label_idx)
    ok = (ca.label_idx >= 0) & (lb >= 0)
    bad = ((ca.label_idx == FAILED) | (ca.label_idx == NOT_SCORED) | (lb == FAILED) | (lb == NOT_SCORED))
    diff = np.abs(pa[ok] - pb[ok])
    per_text = diff.max(axis=1) if diff.size else np.zeros(0, dtype=np.float32)
    rows = np.flatnonzero(ok)
    flipped = rows[ca.label_idx[ok] != lb[ok]]
    by_row = dict(zip(rows.tolist(), per_text.tolist(), strict=True))
    flips = sorted(
        (Flip(int(r), texts[r], a.labels[ca.label_idx[r]], a.labels[lb[r]], float(pa[r, ca.label_idx[r]]),
              float(pb[r, lb[r]]), by_row[int(r)]) for r in flipped),
        key=lambda f: -f.max_abs_diff,
    )
    n = int(ok.sum())

    def side(key: str, title: str, clf: Classifier) -> Side:
        seconds = statistics.median(runs[key])
        card = clf.card()
        return Side(title, card.name if card.path.endswith("model.onnx") else card.path, card.quantization,
                    card.providers_in_use[0] if card.providers_in_use else "?", seconds,
                    len(texts) / seconds if seconds else 0.0)

    return Comparison(
        a=side("a", names[0], a), b=side("b", names[1], b), labels=tuple(a.labels), texts=n, failed=int(bad.sum()),
        agreement=float(len(rows) - len(flipped)) / n if n else 0.0,
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        mean_abs_diff=float(per_text.mean()) if per_text.size else 0.0,
        flips=tuple(flips),
    )

"""Results of a run kept as growing numpy arrays, so a view over a million rows stays cheap.

:class:`ResultStore` is filled chunk by chunk (from :meth:`Classifier.stream`) on one thread and read by views on
the same thread; :meth:`ResultStore.freeze` hands an immutable copy to an exporter running elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import ResultWriter, SourceRow
from .scoring import FAILED, NOT_SCORED

EXPORT_COLUMNS = ("source", "line", "text")


@dataclass(frozen=True)
class FrozenResults:
    """An immutable view of the first ``n`` rows of a store (safe to export from another thread)."""

    labels: tuple[str, ...]
    sources: tuple[str, ...]
    texts: list[str]
    source_idx: np.ndarray
    lines: np.ndarray
    probs: np.ndarray
    label_idx: np.ndarray
    truncated: np.ndarray
    errors: dict[int, str]

    def __len__(self) -> int:
        return len(self.texts)

    def write(self, path: str | Path, *, rows: np.ndarray | None = None, chunk: int = 20_000,
              progress: Callable[[int, int], None] | None = None, cancelled: Callable[[], bool] | None = None) -> int:
        """Write rows (all, or the indices in ``rows``) to CSV/TSV/JSONL atomically; return how many."""
        order = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        with ResultWriter(path, self.labels, EXPORT_COLUMNS, source_kind="csv") as writer:
            for start in range(0, len(order), chunk):
                if cancelled is not None and cancelled():
                    raise InterruptedError("export cancelled")
                part = order[start : start + chunk]
                recs = [
                    SourceRow(int(self.lines[i]), self.texts[i],
                              [self.sources[self.source_idx[i]], int(self.lines[i]), self.texts[i]])
                    for i in part.tolist()
                ]
                errs = [self.errors.get(i) for i in part.tolist()]
                writer.write(recs, self.probs[part], self.label_idx[part], self.truncated[part], errs)
                if progress is not None:
                    progress(min(start + chunk, len(order)), len(order))
        return len(order)


class ResultStore:
    """Scored rows in input order: text, source, line, label index, probabilities, truncation, error."""

    def __init__(self, labels: Sequence[str], capacity: int = 4096) -> None:
        self.labels = tuple(labels)
        self.sources: list[str] = []
        self.texts: list[str] = []
        self.errors: dict[int, str] = {}
        self._n = 0
        k = max(1, len(self.labels))
        self._probs = np.zeros((capacity, k), dtype=np.float32)
        self._label = np.full(capacity, NOT_SCORED, dtype=np.int32)
        self._conf = np.zeros(capacity, dtype=np.float32)
        self._trunc = np.zeros(capacity, dtype=bool)
        self._source = np.zeros(capacity, dtype=np.int32)
        self._line = np.zeros(capacity, dtype=np.int64)
        self.version = 0

    def __len__(self) -> int:
        return self._n

    # ------------------------------------------------------------------ filling
    def add_source(self, name: str) -> int:
        self.sources.append(name)
        return len(self.sources) - 1

    def append(self, source: int, rows: Sequence[SourceRow], probs: np.ndarray, label_idx: np.ndarray,
               truncated: np.ndarray, errors: Sequence[str | None]) -> range:
        """Append a chunk (e.g. a :class:`~app.engine.pipeline.ScoredChunk`'s arrays); return the new row range."""
        m = len(rows)
        self._reserve(self._n + m)
        a, b = self._n, self._n + m
        self._probs[a:b] = probs
        self._label[a:b] = label_idx
        self._conf[a:b] = np.where(label_idx >= 0, probs.max(axis=1) if m else 0.0, 0.0)
        self._trunc[a:b] = truncated
        self._source[a:b] = source
        self._line[a:b] = [r.line for r in rows]
        self.texts.extend(r.text if r.text is not None else "" for r in rows)
        for i, err in enumerate(errors):
            if err:
                self.errors[a + i] = err
        self._n = b
        self.version += 1
        return range(a, b)

    def clear(self) -> None:
        self.__init__(self.labels)  # type: ignore[misc]

    def _reserve(self, n: int) -> None:
        cap = len(self._label)
        if n <= cap:
            return
        new = max(n, cap * 2)
        for name in ("_probs", "_label", "_conf", "_trunc", "_source", "_line"):
            old = getattr(self, name)
            grown = np.zeros((new, *old.shape[1:]), dtype=old.dtype)
            if name == "_label":
                grown.fill(NOT_SCORED)
            grown[:cap] = old
            setattr(self, name, grown)

    # ------------------------------------------------------------------ reading
    @property
    def label_idx(self) -> np.ndarray:
        return self._label[: self._n]

    @property
    def confidence(self) -> np.ndarray:
        return self._conf[: self._n]

    @property
    def probs(self) -> np.ndarray:
        return self._probs[: self._n]

    @property
    def truncated(self) -> np.ndarray:
        return self._trunc[: self._n]

    def source_of(self, i: int) -> str:
        return self.sources[self._source[i]] if self.sources else ""

    def line_of(self, i: int) -> int:
        return int(self._line[i])

    def label_of(self, i: int) -> str | None:
        li = int(self._label[i])
        return self.labels[li] if li >= 0 else None

    def status_of(self, i: int) -> str:
        li = int(self._label[i])
        if li >= 0:
            return "ok"
        return "failed" if li == FAILED else "not scored"

    def counts(self) -> dict[str, int]:
        """Rows per label, plus ``failed`` and ``not scored`` when there are any."""
        idx = self.label_idx
        ok = idx[idx >= 0]
        out = {name: int(c) for name, c in zip(self.labels, np.bincount(ok, minlength=len(self.labels)), strict=True)}
        failed, skipped = int((idx == FAILED).sum()), int((idx == NOT_SCORED).sum())
        if failed:
            out["failed"] = failed
        if skipped:
            out["not scored"] = skipped
        return out

    def select(self, label: int | str | None = None, search: str = "", *, case: bool = False,
               base: np.ndarray | None = None) -> np.ndarray:
        """Row indices (among ``base``, default all) matching a label and containing ``search``.

        ``label`` is a label index, ``"failed"`` (failed or not scored), or None for every label.
        """
        idx = np.arange(self._n) if base is None else np.asarray(base, dtype=np.int64)
        if label is not None:
            codes = self._label[idx]
            idx = idx[codes < 0] if label == "failed" else idx[codes == int(label)]
        if search:
            needle = search if case else search.lower()
            texts = self.texts
            if case:
                idx = np.fromiter((i for i in idx.tolist() if needle in texts[i]), dtype=np.int64)
            else:
                idx = np.fromiter((i for i in idx.tolist() if needle in texts[i].lower()), dtype=np.int64)
        return idx

    def sort_keys(self, column: str) -> np.ndarray | list:
        """A key per row for sorting by ``column``: ``row``, ``text``, ``label``, ``confidence`` or ``score:N``."""
        if column == "row":
            return np.arange(self._n)
        if column == "text":
            return self.texts[: self._n]
        if column == "label":
            return self.label_idx
        if column == "confidence":
            return self.confidence
        if column.startswith("score:"):
            return self.probs[:, int(column.split(":", 1)[1])]
        raise KeyError(column)

    def freeze(self) -> FrozenResults:
        n = self._n
        return FrozenResults(self.labels, tuple(self.sources), self.texts[:n], self._source[:n].copy(),
                             self._line[:n].copy(), self._probs[:n].copy(), self._label[:n].copy(),
                             self._trunc[:n].copy(), dict(self.errors))

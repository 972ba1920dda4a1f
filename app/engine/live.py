"""The micro-batcher's model side for a :class:`~app.engine.pipeline.Classifier`.

Tokenizes groups of requests in one call (on the micro-batcher's tokenizer thread) and scores batches of their
rows (on its runner thread), one outcome per text: a :class:`ScoredText`, or the exception that text met. The
same session, encoder and stats recorder serve files and live requests, so the window's plots and the server's
``/metrics`` see every batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .encoding import EncodedTexts, join_encoded, pad_batch, split_encoded
from .errors import InferenceError, InputError, ModelError
from .scoring import Prediction, non_finite_message, probabilities

if TYPE_CHECKING:
    from .pipeline import Classifier


@dataclass(frozen=True)
class ScoredText(Prediction):
    """A :class:`Prediction` that also keeps the model's raw scores (logits) in label order: one per label, or the
    single logit of a one-logit binary head (it speaks for the second label)."""

    logits: tuple[float, ...] = ()


@dataclass(frozen=True)
class EncodedRequest:
    """Texts with their encoding (``lengths`` and ``truncated`` are what the micro-batcher reads)."""

    texts: list[str]
    encoded: EncodedTexts

    @property
    def lengths(self) -> np.ndarray:
        return self.encoded.lengths

    @property
    def truncated(self) -> np.ndarray:
        return self.encoded.truncated


class LiveScorer:
    """Implements the micro-batcher's ``LiveModel`` protocol (encode, join, run) for a classifier."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    def encode(self, requests: list[list[str]]) -> list[EncodedRequest]:
        """Tokenize several requests' texts in one call; one encoding per request."""
        for texts in requests:
            for i, text in enumerate(texts):
                if not isinstance(text, str):
                    raise InputError(f"Text {i + 1} is not text (got {type(text).__name__})", "Send strings only")
        clf = self.classifier
        encoded = clf.encoder.encode([t for texts in requests for t in texts], with_type_ids=clf._type_ids)
        pieces = split_encoded(encoded, [len(texts) for texts in requests])
        return [EncodedRequest(texts, piece) for texts, piece in zip(requests, pieces, strict=True)]

    def join(self, parts: list[EncodedRequest]) -> EncodedRequest:
        return EncodedRequest([t for p in parts for t in p.texts], join_encoded([p.encoded for p in parts]))

    def run(self, request: EncodedRequest, rows: np.ndarray, *, queue_ms: float = 0.0,
            encode_ms: float = 0.0) -> list[ScoredText | BaseException]:
        """Score ``rows`` of ``request`` as one padded batch; raises when the model call itself fails."""
        clf = self.classifier
        encoded = request.encoded
        session = clf.session
        started = clf.stats.now()
        t0 = time.perf_counter()
        feeds, padded = pad_batch(encoded, rows, session.inputs, pad_id=clf.encoder.pad_id,
                                  fixed_length=session.fixed_length, fixed_batch=session.fixed_batch)
        real = int(encoded.lengths[rows].sum())
        t1 = time.perf_counter()
        record = dict(rows=len(rows), padded_len=padded, real_tokens=real, queue_ms=queue_ms,
                      encode_ms=encode_ms + (t1 - t0) * 1000.0, started=started)
        try:
            logits = clf._infer(feeds, len(rows))
        except ModelError:
            raise
        except Exception as exc:
            clf.stats.add(**record, infer_ms=(time.perf_counter() - t1) * 1000.0, failed=True)
            raise exc if isinstance(exc, InferenceError) else InferenceError(f"{type(exc).__name__}: {exc}") from exc
        t2 = time.perf_counter()
        finite = np.isfinite(logits).all(axis=1)
        probs = probabilities(logits[finite], clf.multi_label)  # NaN or inf rows get no probabilities at all
        labels = clf.labels
        out: list[ScoredText | BaseException] = []
        k = 0
        for i in range(len(rows)):
            if not finite[i]:
                out.append(InferenceError(non_finite_message(logits[i])))
                continue
            p = probs[k].tolist()
            k += 1
            best = max(range(len(p)), key=p.__getitem__)
            out.append(ScoredText(request.texts[rows[i]], labels[best], p[best], dict(zip(labels, p, strict=True)),
                                  bool(encoded.truncated[rows[i]]), None, tuple(logits[i].tolist())))
        clf.stats.add(**record, infer_ms=(t2 - t1) * 1000.0, post_ms=(time.perf_counter() - t2) * 1000.0,
                      failed=not finite.all())
        return out

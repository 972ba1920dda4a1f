"""The served model and its state: loading → ready → draining → closed (or failed), plus what the server promised.

Loading runs on its own thread so the HTTP server answers ``/health`` (and 503 on ``/ready``) from the start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.errors import SieveError
from ..engine.microbatcher import BatchReport, MicroBatcher
from ..paths import default_model_dir

log = logging.getLogger(__name__)
MiB = 1024 * 1024
# Padded tokens per model call when --max-tokens is not given. On a CPU the compute per text hardly falls with the
# batch (the default model on one core: 12.3 ms per 128-token text alone, 10.3 in eights, 14.4 in 32s; section 3 of
# docs/PERFORMANCE.md), so a big call only makes every text in it wait for the slowest: closed-loop callers then
# all get their answers at once and the core idles until they send again, and ONNX Runtime's arena grows with the
# call (section 9). Short calls let answers stream out. A GPU gains from big batches.
LIVE_TOKENS = {"CPU": 256, "CUDA": 8192}


@dataclass(frozen=True)
class ServeOptions:
    """Everything ``sieve serve`` can be told (units in the names; ``None`` = no limit where allowed)."""

    model: str | None = None
    provider: str = "auto"
    threads: int = 0
    max_batch: int = 32
    max_tokens: int | None = None  # None: LIVE_TOKENS for the device the model runs on
    max_wait_ms: float = 0.0
    max_queue: int = 512
    timeout_s: float = 30.0
    max_texts: int = 256
    max_body_bytes: int = 4 * MiB
    api_key: str | None = None
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    host: str = "127.0.0.1"
    port: int = 8000

    def limits(self, max_tokens: int | None = None) -> dict:
        return {"max_batch_texts": self.max_batch, "max_batch_tokens": max_tokens or self.max_tokens,
                "max_wait_ms": self.max_wait_ms, "max_queue_requests": self.max_queue, "timeout_s": self.timeout_s,
                "max_texts_per_request": self.max_texts, "max_body_bytes": self.max_body_bytes}


class ModelHost:
    """Holds the classifier and its micro-batcher for the server, and counts requests taken and answered."""

    def __init__(self, options: ServeOptions, on_batch: Callable[[BatchReport], None] | None = None) -> None:
        self.options = options
        self.status = "loading"  # loading | ready | draining | closed | failed
        self.error: str | None = None
        self.classifier = None
        self.batcher: MicroBatcher | None = None
        self.card: dict = {}
        self.load_seconds: float | None = None
        self.max_tokens: int | None = options.max_tokens
        self.accepted = 0  # /predict requests read in full and handed to the model
        self.answered = 0  # of those, answered (any status)
        self._on_batch = on_batch
        self._lock = threading.Lock()
        self.loaded = threading.Event()

    @property
    def model_path(self) -> Path:
        return Path(self.options.model) if self.options.model else default_model_dir()

    def load(self) -> None:
        """Load the model and start the batcher (blocking; the server calls it on a thread)."""
        t0 = time.perf_counter()
        try:
            from ..engine import Classifier

            clf = Classifier.load(self.model_path, provider=self.options.provider, threads=self.options.threads)
            clf.predict(["warm-up"])  # the first ORT run allocates its arena; no caller should pay for it
            clf.stats.reset()
            self.max_tokens = self.options.max_tokens or LIVE_TOKENS.get(clf.session.providers.device, LIVE_TOKENS["CPU"])
            batcher = clf.batcher(max_batch=self.options.max_batch, max_tokens=self.max_tokens,
                                  max_wait_ms=self.options.max_wait_ms, max_queue=self.options.max_queue,
                                  on_batch=self._on_batch)
        except SieveError as exc:
            self._failed(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - reported as the server's one sentence, traceback in the log
            log.exception("loading the model failed")
            self._failed(f"Loading the model failed: {type(exc).__name__}: {exc}")
            return
        with self._lock:
            self.classifier, self.batcher = clf, batcher
            self.card = clf.card().as_dict()  # the model card, JSON-ready, for /info
            self.load_seconds = time.perf_counter() - t0
            if self.status == "loading":
                self.status = "ready"
            else:  # asked to stop while loading
                batcher.close()
        self.loaded.set()

    def _failed(self, message: str) -> None:
        with self._lock:
            self.status, self.error = "failed", message
        self.loaded.set()

    def drain(self) -> None:
        """Stop calling the server ready; requests already taken are still answered."""
        with self._lock:
            if self.status in ("loading", "ready"):
                self.status = "draining"

    def close(self) -> None:
        """Finish every request the batcher holds, then stop it."""
        with self._lock:
            batcher = self.batcher
            if self.status != "failed":
                self.status = "closed"
        if batcher is not None:
            batcher.close()

    def count(self, *, accepted: int = 0, answered: int = 0) -> None:
        with self._lock:
            self.accepted += accepted
            self.answered += answered

"""The scoring pipeline: rows → encode → plan batches → run → probabilities, in input order.

``Classifier`` is the engine's front door::

    from app.engine import Classifier
    clf = Classifier.load("resources/models/default")
    clf.predict(["I love it", "I hate it"])

For files, :meth:`Classifier.stream` reads and tokenizes the next window on a helper thread while ONNX Runtime
runs the current one (both release the GIL), and yields :class:`ScoredChunk` objects in input order.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import numpy as np

from .batching import BatchPolicy, plan_batches
from .bundle import ModelBundle
from .card import DYNAMIC_QUANT_NOTE, FP16_ON_CPU_NOTE, ModelCard, file_sha256, single_logit_note
from .encoding import EncodedTexts, TextEncoder, pad_batch
from .errors import InferenceError, ModelError, SieveError
from .io import SourceRow, rows_from_texts
from .microbatcher import BatchReport, MicroBatcher
from .scoring import FAILED, NOT_SCORED, Prediction, non_finite_message, predictions, probabilities
from .session import INT8_ON_GPU_NOTE, ModelSession, SessionConfig
from .stats import StatsRecorder

log = logging.getLogger(__name__)
_END = object()
# Stop a run whose first batches all fail: the model or tokenizer is wrong, not one batch.
FAIL_FAST_BATCHES = 3


@dataclass
class ScoredChunk:
    """Results for consecutive input rows ``start .. start + len(rows) - 1``.

    ``label_idx`` holds a label index, :data:`NOT_SCORED` (run cancelled first) or :data:`FAILED` (see ``errors``).
    ``complete`` is false only for the last chunk of a cancelled run.
    """

    start: int
    rows: list[SourceRow]
    probs: np.ndarray
    label_idx: np.ndarray
    tokens: np.ndarray
    truncated: np.ndarray
    errors: list[str | None]
    complete: bool = True

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def confidence(self) -> np.ndarray:
        return self.probs.max(axis=1) if self.probs.size else np.zeros(len(self.rows), dtype=np.float32)

    @property
    def done(self) -> np.ndarray:
        return self.label_idx != NOT_SCORED

    def prefix_done(self) -> int:
        """How many leading rows have a final result (scored or failed)."""
        pending = np.flatnonzero(self.label_idx == NOT_SCORED)
        return int(pending[0]) if len(pending) else len(self.rows)


@dataclass
class _Prepared:
    rows: np.ndarray  # indices into the window's encoded texts
    feeds: dict[str, np.ndarray]
    padded_len: int
    real_tokens: int
    encode_ms: float
    queue_ms: float


@dataclass
class _Window:
    start: int
    rows: list[SourceRow]
    valid: np.ndarray  # window positions of rows that have text
    encoded: EncodedTexts
    batches: list[_Prepared] = field(default_factory=list)


@dataclass(frozen=True)
class WarmUp:
    """What :meth:`Classifier.warm_up` ran: how many batch shapes, how long it took, and any failure."""

    shapes: int
    seconds: float
    error: str | None = None


def warmup_shapes(policy: BatchPolicy, max_length: int, *, fixed_batch: int | None = None,
                  fixed_length: int | None = None, step: int = 16) -> list[tuple[int, int]]:
    """The ``(batch, sequence)`` shapes a warm-up runs: the planner's largest batch at every ``step``-th length up
    to ``max_length`` (largest first, so the device memory arena grows once), then one row at each length.

    The planner pads each batch to its longest row, so real batches fall between these shapes; on CUDA the first
    run of a new shape loads kernels and grows the arena, which is what warming a grid of them pays for up front.
    """
    if fixed_length:
        lengths = [fixed_length]
    else:
        lengths = sorted({*range(step, max_length + 1, step), min(step, max_length), max_length}, reverse=True)
    shapes = [(fixed_batch or max(1, min(policy.max_batch, policy.max_tokens // n)), n) for n in lengths]
    if not fixed_batch:
        shapes += [(1, n) for n in lengths if (1, n) not in shapes]
    return shapes


class _ProducerFailed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Classifier:
    """A loaded text classifier: bundle + ONNX Runtime session + tokenizer + batching policy + stats."""

    def __init__(self, session: ModelSession, encoder: TextEncoder, policy: BatchPolicy | None = None) -> None:
        self.session = session
        self.encoder = encoder
        self.policy = policy or BatchPolicy()
        self._card: ModelCard | None = None
        self.stats = StatsRecorder()
        self.notices: list[str] = []  # things the user should hear about once (e.g. a switch to the CPU)
        self.warmup: WarmUp | None = None
        self._switch_lock = threading.Lock()
        self._type_ids = any(s.name == "token_type_ids" for s in session.inputs)

    @classmethod
    def load(
        cls,
        path: str | Path | ModelBundle,
        *,
        provider: str = "auto",
        threads: int = 0,
        graph_optimization: str = "all",
        max_length: int | None = None,
        policy: BatchPolicy | None = None,
        io_binding: str = "auto",
        warmup: str = "auto",
    ) -> Classifier:
        """Load a model folder (or ``.onnx`` file with its siblings). Raises :class:`ModelError` with a sentence.

        ``io_binding`` (auto/on/off): bind inputs and outputs, by default on a GPU only. ``warmup`` (auto/on/off):
        run the batch shapes the planner will emit once before returning, by default on a GPU only (there the first
        run of each new shape is slow; on a CPU it is not, and warming costs start-up time).
        """
        if warmup not in ("auto", "on", "off"):
            raise ModelError(f"Unknown warm-up setting {warmup!r}", "Use auto, on or off")
        bundle = path if isinstance(path, ModelBundle) else ModelBundle.from_path(path)
        limit = (policy or BatchPolicy()).max_batch, max_length or 512  # TensorRT's profile
        session = ModelSession.load(bundle, SessionConfig(provider, threads, graph_optimization, io_binding, limit))
        positions = session.max_positions
        if positions and max_length and max_length > positions:
            raise ModelError(
                f"--max-length {max_length} is longer than {bundle.name} reads: its position table holds "
                f"{positions} tokens",
                f"Lower --max-length to {positions} or less",
            )
        limits = [n for n in (session.fixed_length, positions) if n]
        encoder = TextEncoder.from_file(
            bundle.tokenizer_path, max_length=max_length, model_max_length=min(limits) if limits else None
        )
        rows = session.facts.embedding_rows
        if rows and encoder.vocab_size > rows:  # on CUDA such ids would silently read zeros, not fail
            raise ModelError(
                f"{bundle.tokenizer_path.name} has {encoder.vocab_size} tokens but the model's embedding table has "
                f"{rows} rows: the tokenizer's vocabulary is larger than the model's embedding table, so "
                "tokenizer.json does not belong to this model",
                "Use the tokenizer.json that was saved with this model",
            )
        clf = cls(session, encoder, policy)
        if warmup == "on" or (warmup == "auto" and session.providers.device == "CUDA"):
            clf.warm_up()
        return clf

    # ------------------------------------------------------------------ facts
    @property
    def labels(self) -> tuple[str, ...]:
        return self.session.labels

    @property
    def bundle(self) -> ModelBundle:
        return self.session.bundle

    @property
    def multi_label(self) -> bool:
        return self.bundle.multi_label

    @property
    def policy(self) -> BatchPolicy:
        """How batches are cut. Setting it clamps ``max_batch`` to a fixed-batch model's size; the rest is kept."""
        return self._policy

    @policy.setter
    def policy(self, policy: BatchPolicy) -> None:
        fixed = self.session.fixed_batch
        if fixed and policy.max_batch > fixed:
            policy = replace(policy, max_batch=fixed)
        self._policy = policy

    def card(self) -> ModelCard:
        """What the model is and how it runs, for ``sieve info``, the model panel and the server's ``/info``.

        The first call hashes the model file (about 0.1 s per 50 MB): call it off any GUI thread.
        """
        s = self.session
        if self._card is not None and self._card.providers_in_use == tuple(s.providers.active):
            return self._card
        io = s.describe_io()
        notes = []
        if s.facts.dynamic_quantization:
            notes.append(DYNAMIC_QUANT_NOTE)
            if s.providers.device == "CUDA":
                notes.append(INT8_ON_GPU_NOTE)
        elif s.facts.quantization == "fp16" and s.providers.device == "CPU":
            notes.append(FP16_ON_CPU_NOTE)
        if s.head == "binary":
            notes.append(single_logit_note(*self.labels))
        positions = s.max_positions
        if positions and self.encoder.requested_length > self.encoder.max_length == positions:
            notes.append(f"The model's position table holds {positions} tokens, fewer than the "
                         f"{self.encoder.requested_length} the tokenizer's setting (or Sieve's default) asks for, so "
                         f"Sieve truncates texts at {positions} tokens")
        if s.providers.tensorrt_reason:
            notes.append(f"TensorRT not used: {s.providers.tensorrt_reason}")
        if self.warmup is not None and self.warmup.error:
            notes.append(f"Warm-up stopped: {self.warmup.error}")
        self._card = ModelCard(
            name=self.bundle.name,
            path=str(self.bundle.model_path),
            size_bytes=self.bundle.size_bytes,
            sha256=file_sha256(self.bundle.model_path),
            labels=tuple(self.labels),
            problem_type=self.bundle.problem_type,
            inputs=tuple((n, t, tuple(shape)) for n, t, shape in io["inputs"]),
            outputs=tuple((n, t, tuple(shape)) for n, t, shape in io["outputs"]),
            logits_output=s.logits_name,
            opset=s.opset,
            ir_version=s.facts.ir_version,
            producer=s.facts.producer,
            quantization=s.facts.quantization,
            batch_invariant=not s.facts.dynamic_quantization,
            max_length=self.encoder.max_length,
            vocab_size=self.encoder.vocab_size,
            providers_available=tuple(s.providers.available),
            providers_in_use=tuple(s.providers.active),
            device=s.providers.device,
            cuda_fallback_reason=s.providers.fallback_reason,
            threads=s.config.intra_op_threads,
            notes=tuple(notes),
            io_binding=s.io_binding,
            warmup_shapes=self.warmup.shapes if self.warmup else 0,
            warmup_ms=self.warmup.seconds * 1000.0 if self.warmup else None,
        )
        return self._card

    def warm_up(self, shapes: Sequence[tuple[int, int]] | None = None) -> WarmUp:
        """Run each ``(batch, sequence)`` shape once on a real-text batch (default: :func:`warmup_shapes` for this
        policy and tokenizer), so a run's first batches of each length do not pay for kernel loading and memory
        growth. A failure (say, out of memory at the largest shape) stops the warm-up, is kept in the card's notes
        and does not fail the model."""
        from .sweep import synthetic_ids

        s = self.session
        if shapes is None:
            shapes = warmup_shapes(self.policy, self.encoder.max_length, fixed_batch=s.fixed_batch,
                                   fixed_length=s.fixed_length)
        t0 = time.perf_counter()
        error = None
        done = 0
        for batch, length in shapes:
            ids = np.tile(synthetic_ids(self.encoder, length), (batch, 1))
            arrays = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
            try:
                s.run({spec.name: arrays[spec.name].astype(spec.dtype, copy=False) for spec in s.inputs})
            except SieveError as exc:
                error = f"{exc} (at batch {batch} × {length} tokens)"
                log.warning("warm-up stopped: %s", error)
                break
            done += 1
        self.warmup = WarmUp(done, time.perf_counter() - t0, error)
        self._card = None
        log.info("warm-up: %d shapes in %.0f ms", done, self.warmup.seconds * 1000.0)
        return self.warmup

    # ------------------------------------------------------------------ small lists
    def predict(self, texts: Sequence[str] | str) -> list[Prediction]:
        """Score a list of texts synchronously; one :class:`Prediction` per text, in order.

        A single string is one text (``predict("hello")`` returns a list of one prediction).
        """
        chunk = self.score(texts)
        return predictions([r.text for r in chunk.rows], self.labels, chunk.probs, chunk.label_idx,
                           chunk.truncated, chunk.errors)

    def score(self, texts: Sequence[str] | str, *, queue_ms: float = 0.0) -> ScoredChunk:
        """Score texts on the calling thread and return result arrays in input order (a string is one text)."""
        rows = list(rows_from_texts(texts))
        window = self._encode_window(0, rows, queue_ms=queue_ms)
        return self._run_window(window, None, None, [0, 0])

    def batcher(self, *, max_batch: int | None = None, max_tokens: int | None = None, max_wait_ms: float = 0.0,
                max_queue: int | None = None, workers: int = 1,
                on_batch: Callable[[BatchReport], None] | None = None) -> MicroBatcher[Prediction]:
        """A continuous :class:`MicroBatcher` for concurrent callers (the caller closes it).

        A lone request runs at once; requests arriving while a batch runs form the next one. Limits default to
        this classifier's policy. Results are :class:`~app.engine.live.ScoredText` (a :class:`Prediction` that
        also keeps the logits). On a CPU, ``workers=cores`` with a model loaded with ``threads=1`` can serve
        small batches faster than one runner with all cores.
        """
        from .live import LiveScorer

        max_batch = max_batch or self.policy.max_batch
        if self.session.fixed_batch:
            max_batch = min(max_batch, self.session.fixed_batch)
        return MicroBatcher(LiveScorer(self), max_batch=max_batch, max_tokens=max_tokens or self.policy.max_tokens,
                            min_fill=self.policy.min_fill, max_wait_ms=max_wait_ms, max_queue=max_queue,
                            workers=workers, on_batch=on_batch)

    # ------------------------------------------------------------------ streams
    def stream(
        self,
        rows: Iterable[SourceRow],
        *,
        cancel: threading.Event | None = None,
        on_batch: Callable[[int], None] | None = None,
        first_window: int | None = None,
    ) -> Iterator[ScoredChunk]:
        """Score ``rows`` and yield :class:`ScoredChunk` objects in input order, one per window.

        Reading and tokenizing happen on a helper thread, one window ahead. ``cancel`` is checked before every batch;
        when it is set the partial window is yielded (``complete=False``) and the stream ends. ``on_batch(rows)`` is
        called after each batch. ``first_window`` makes the first window smaller so first results come sooner.
        """
        cancel = cancel or threading.Event()
        stop = threading.Event()
        ready: queue.Queue = queue.Queue(maxsize=2)
        producer = threading.Thread(
            target=self._produce, args=(iter(rows), ready, stop, first_window), name="sieve-encoder", daemon=True
        )
        producer.start()
        outcomes = [0, 0]
        try:
            while True:
                item = ready.get()
                if item is _END:
                    return
                if isinstance(item, _ProducerFailed):
                    raise item.exc
                chunk = self._run_window(item, cancel, on_batch, outcomes)
                yield chunk
                if not chunk.complete:
                    return
        finally:
            stop.set()
            while producer.is_alive():  # unblock a producer waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    ready.get(timeout=0.05)
            producer.join()

    def _produce(self, rows: Iterator[SourceRow], ready: queue.Queue, stop: threading.Event,
                 first_window: int | None) -> None:
        def put(item: object) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            start, size = 0, min(first_window or self.policy.window, self.policy.window)
            while not stop.is_set():
                chunk = list(islice(rows, size))
                if not chunk:
                    break
                if not put(self._encode_window(start, chunk)):
                    return
                start += len(chunk)
                size = self.policy.window
            put(_END)
        except BaseException as exc:  # delivered to the consumer, which re-raises it on its own thread
            put(_ProducerFailed(exc))

    # ------------------------------------------------------------------ the two stages
    def _encode_window(self, start: int, rows: list[SourceRow], *, queue_ms: float = 0.0) -> _Window:
        t0 = time.perf_counter()
        valid = np.fromiter((i for i, r in enumerate(rows) if r.text is not None), dtype=np.int64)
        encoded = self.encoder.encode([rows[i].text for i in valid], with_type_ids=self._type_ids)
        encode_ms = (time.perf_counter() - t0) * 1000.0
        window = _Window(start, rows, valid, encoded)
        total = max(1, len(valid))
        s = self.session
        for batch in plan_batches(encoded.lengths, self.policy):
            t1 = time.perf_counter()
            feeds, padded = pad_batch(encoded, batch, s.inputs, pad_id=self.encoder.pad_id,
                                      fixed_length=s.fixed_length, fixed_batch=s.fixed_batch)
            t2 = time.perf_counter()
            window.batches.append(_Prepared(
                batch, feeds, padded, int(encoded.lengths[batch].sum()),
                encode_ms * len(batch) / total + (t2 - t1) * 1000.0, queue_ms,
            ))
        return window

    def _run_window(self, window: _Window, cancel: threading.Event | None,
                    on_batch: Callable[[int], None] | None, outcomes: list[int]) -> ScoredChunk:
        """Run a window's batches; ``outcomes`` counts [succeeded, failed] batches across the whole run."""
        n, k = len(window.rows), max(1, len(self.labels))
        probs = np.zeros((n, k), dtype=np.float32)
        label_idx = np.full(n, NOT_SCORED, dtype=np.int32)
        tokens = np.zeros(n, dtype=np.int32)
        truncated = np.zeros(n, dtype=bool)
        errors: list[str | None] = [r.error for r in window.rows]
        for i, row in enumerate(window.rows):
            if row.text is None:
                label_idx[i] = FAILED
        tokens[window.valid] = window.encoded.lengths
        truncated[window.valid] = window.encoded.truncated
        complete = True
        for prepared in window.batches:
            if cancel is not None and cancel.is_set():
                complete = False
                break
            positions = window.valid[prepared.rows]
            ok = self._run_batch(prepared, positions, probs, label_idx, errors)
            outcomes[0 if ok else 1] += 1
            if not ok and outcomes[0] == 0 and outcomes[1] >= FAIL_FAST_BATCHES:
                raise SieveError(errors[int(positions[0])] or "every batch failed",
                                 f"Stopped after the first {outcomes[1]} batches all failed")
            if on_batch is not None:
                on_batch(len(positions))
        return ScoredChunk(window.start, window.rows, probs, label_idx, tokens, truncated, errors, complete)

    def _run_batch(self, prepared: _Prepared, positions: np.ndarray, probs: np.ndarray,
                   label_idx: np.ndarray, errors: list[str | None]) -> bool:
        """Run one prepared batch into the window's arrays; on failure mark its rows and return False."""
        started = self.stats.now()
        t0 = time.perf_counter()
        try:
            logits = self._infer(prepared.feeds, len(positions))
        except ModelError:
            raise
        except Exception as exc:  # one batch failing must not lose the others
            self.stats.add(rows=len(positions), padded_len=prepared.padded_len, real_tokens=prepared.real_tokens,
                           queue_ms=prepared.queue_ms, encode_ms=prepared.encode_ms,
                           infer_ms=(time.perf_counter() - t0) * 1000.0, failed=True, started=started)
            message = str(exc) if isinstance(exc, SieveError) else f"{type(exc).__name__}: {exc}"
            log.info("batch of %d rows failed: %s", len(positions), message)  # the rows' error says it to the user
            label_idx[positions] = FAILED
            for p in positions.tolist():
                errors[p] = message
            return False
        t1 = time.perf_counter()
        finite = np.isfinite(logits).all(axis=1)
        p = probabilities(logits[finite], self.multi_label)
        probs[positions[finite]] = p
        label_idx[positions[finite]] = p.argmax(axis=1)
        for row, pos in zip(np.flatnonzero(~finite).tolist(), positions[~finite].tolist(), strict=True):
            label_idx[pos] = FAILED  # NaN or inf: no probability can be trusted, nor a label drawn from it
            errors[pos] = non_finite_message(logits[row])
        t2 = time.perf_counter()
        self.stats.add(rows=len(positions), padded_len=prepared.padded_len, real_tokens=prepared.real_tokens,
                       queue_ms=prepared.queue_ms, encode_ms=prepared.encode_ms, infer_ms=(t1 - t0) * 1000.0,
                       post_ms=(t2 - t1) * 1000.0, started=started)
        return bool(finite.any())

    # ------------------------------------------------------------------ out-of-memory recovery
    def _infer(self, feeds: dict[str, np.ndarray], rows: int) -> np.ndarray:
        """Run a batch; when the device runs out of memory, halve the batch, and past one row move to the CPU."""
        try:
            return self.session.run(feeds)[:rows]
        except InferenceError as exc:
            if not exc.out_of_memory:
                raise
            if rows > 1 and not self.session.fixed_batch:
                half = rows // 2
                log.warning("out of memory on %d rows; retrying as %d + %d", rows, half, rows - half)
                top = {k: v[:half] for k, v in feeds.items()}
                bottom = {k: v[half:rows] for k, v in feeds.items()}
                return np.concatenate([self._infer(top, half), self._infer(bottom, rows - half)])
            if self.session.providers.device != "CUDA":
                raise
            self._fall_back_to_cpu(str(exc))
            return self.session.run(feeds)[:rows]

    def _fall_back_to_cpu(self, reason: str) -> None:
        with self._switch_lock:
            if self.session.providers.device != "CUDA":
                return
            config = replace(self.session.config, provider="cpu")
            self.session = ModelSession.load(self.bundle, config)
            notice = f"The GPU ran out of memory even on a single text ({reason}); Sieve switched this model to the CPU"
            log.warning(notice)
            self.notices.append(notice)

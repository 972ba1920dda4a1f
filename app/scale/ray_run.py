"""``sieve score --ray``: blocks of rows read and scored on Ray Data, results written by the driver in input order.

What runs where:

- **Driver** (the ``sieve`` process): reads each input once with Sieve's reader to find where every block starts
  (:func:`app.scale.blocks.plan_blocks`), builds the dataset, then streams the results back in input order and writes
  them with the same writer, resume record and progress bar as a local run, reading the input a second time for the
  rows' own fields. It holds one or two blocks of results at a time, whatever the file's length.
- **Read tasks** (:class:`SieveBlocks`): seek to a block's first line and read it with the same reader, so a
  quoted multi-line CSV field, an undecodable byte or a bad JSON line reads exactly as it does locally.
- **Scoring actors** (:class:`ScoreBlocks`, a pool of ``--actors``): each loads the model once, checks that it got
  the device the run asked for, and scores one whole block per call with :meth:`Classifier.stream`.

A block travels as one dataset row, so Ray can neither split nor merge it: each block is scored with exactly the
windows, hence the batches, a local run uses for those rows. Its rows travel as JSON with every non-ASCII character
escaped (a Python string of any content comes back equal, which Arrow's UTF-8 strings cannot promise), results as
raw arrays; nothing is pickled by Sieve.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from itertools import islice
from typing import Any

import numpy as np
import pyarrow as pa
import ray
import ray.data
from ray.data import ActorPoolStrategy, Datasource, ReadTask, TaskPoolStrategy
from ray.data.block import BlockMetadata

from ..engine.batching import BatchPolicy
from ..engine.errors import SieveError
from ..engine.io import SourceRow, TextSource
from ..engine.pipeline import Classifier, ScoredChunk
from ..engine.stats import RECORD_DTYPE
from .blocks import Block, BlockPlan, plan_blocks
from .identity import model_digest

log = logging.getLogger(__name__)
WAIT_FOR_ACTORS_S = 600  # a pool that cannot start (too few CPUs/GPUs) fails after this long instead of waiting on


# ---------------------------------------------------------------------- reading
class SieveBlocks(Datasource):
    """Blocks of Sieve inputs as a Ray dataset: one row per block (``input``, ``first_row``, ``line``, ``rows``,
    and ``problem``, a sentence when the block could not be read)."""

    def __init__(self, plans: list[tuple[int, TextSource, BlockPlan]]) -> None:
        super().__init__()
        self.plans = plans

    def get_name(self) -> str:
        return "SieveBlocks"

    def estimate_inmemory_data_size(self) -> int:
        return sum(source.path.stat().st_size for _, source, _ in self.plans)

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[ReadTask]:
        count = sum(len(plan.blocks) for _, _, plan in self.plans)
        per_task = max(1, math.ceil(count / max(1, parallelism)))
        tasks = []
        for input_index, source, plan in self.plans:
            size = source.path.stat().st_size
            for i in range(0, len(plan.blocks), per_task):
                run = plan.blocks[i:i + per_task]
                rows = sum(b.rows for b in run)
                meta = BlockMetadata(num_rows=len(run), size_bytes=max(1, size * rows // max(1, plan.total_rows)),
                                     exec_stats=None, input_files=[str(source.path)])
                tasks.append(ReadTask(partial(_read_blocks, input_index, source, run), meta))
        return tasks


def _read_blocks(input_index: int, source: TextSource, run: tuple[Block, ...]) -> Iterator[pa.Table]:
    """Read consecutive blocks in one pass of the file's reader, one table (of one row) per block.

    A block that cannot be read here carries a sentence instead of rows, for the actor to hand to the driver.
    """
    block = run[0]
    try:
        rows = source.rows_from(block.offset, block.line)
        for block in run:  # the block being read is the one a problem below names
            part = list(islice(rows, block.rows))
            if len(part) != block.rows or part[0].line != block.line:
                raise SieveError(f"{source.name} changed while it was being scored (block {block.index} no longer "
                                 f"starts on line {block.line})", "Score it again once it no longer changes")
            yield _block_row(input_index, block, _pack([[r.line, r.text, r.error] for r in part]), b"")
    except (OSError, SieveError) as exc:
        if isinstance(exc, SieveError):
            problem = (exc.message, exc.hint)
        else:
            problem = (f"{source.path} cannot be read on {_node()} ({exc.strerror or exc})",
                       "Put the inputs at the same path on every node (a shared folder)")
        yield _block_row(input_index, block, b"", _pack(problem))


def _block_row(input_index: int, block: Block, rows: bytes, problem: bytes) -> pa.Table:
    return pa.table({"input": [input_index], "first_row": [block.first_row], "line": [block.line],
                     "rows": pa.array([rows], type=pa.large_binary()),
                     "problem": pa.array([problem], type=pa.binary())})


def _node() -> str:
    return ray.util.get_node_ip_address() if ray.is_initialized() else "this machine"


def _pack(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")


# ---------------------------------------------------------------------- scoring
class ScoreBlocks:
    """A scoring actor: one :class:`Classifier` per actor (ONNX Runtime sessions cannot be sent between processes).

    Problems the user can fix (the device is not the one asked for, the model differs from the driver's, a model
    that fails every batch) come back as data, a sentence in the block's result, so the driver can stop the run with
    that sentence; Ray would bury an exception in a traceback.
    """

    def __init__(self, model: str, provider: str, device: str, threads: int, max_length: int | None,
                 policy: BatchPolicy, digest: str, options: dict) -> None:
        started = time.perf_counter()
        self.problem: tuple[str, str | None] | None = None
        self.load_s = 0.0
        self.ready_at = 0.0
        self.node = _node()
        try:
            self.clf = Classifier.load(model, provider=provider, threads=threads, max_length=max_length,
                                       policy=policy, **options)
        except SieveError as exc:
            self.problem = (f"A scoring actor on {self.node} could not load the model: {exc.message}", exc.hint)
            return
        got = self.clf.session.providers
        if got.device != device:
            why = f" ({got.fallback_reason})" if got.fallback_reason else ""
            self.problem = (f"A scoring actor on {self.node} got {got.device}, not the {device} the run asked "
                            f"for{why}",
                            "Make CUDA work on every GPU node (sieve info --provider cuda there says why not), "
                            "or score with --provider cpu")
        elif model_digest(self.clf.bundle) != digest:
            self.problem = (f"The model at {model} on {self.node} is not the same as the driver's (its files differ)",
                            "Put the same model files at that path on every node")
        self.load_s = time.perf_counter() - started
        self.ready_at = time.time()  # wall clock: the driver compares it with its own (NTP-close on a cluster)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [self._score(payload, problem) for payload, problem in zip(batch["rows"], batch["problem"],
                                                                                 strict=True)]
        columns = {name: np.array([r[name] for r in results], dtype=object) for name in RESULT_COLUMNS}
        return {"input": batch["input"], "first_row": batch["first_row"], **columns}

    def _score(self, payload: bytes, problem: bytes) -> dict[str, bytes]:
        if problem:  # the block could not be read
            return _result(problem=tuple(json.loads(problem)))
        if self.problem is not None:
            return _result(problem=self.problem)
        rows = [SourceRow(line, text, None, error) for line, text, error in json.loads(payload)]
        clf = self.clf
        clf.stats.reset()
        notices = len(clf.notices)
        try:
            chunks = list(clf.stream(rows))
        except SieveError as exc:
            return _result(problem=(exc.message, exc.hint))

        def joined(name: str, dtype: type) -> bytes:
            parts = [np.asarray(getattr(c, name), dtype=dtype) for c in chunks]
            return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0, dtype)).tobytes()

        return _result(
            lines=np.fromiter((r.line for r in rows), dtype=np.int64, count=len(rows)).tobytes(),
            probs=joined("probs", np.float32), label_idx=joined("label_idx", np.int32),
            tokens=joined("tokens", np.int32), truncated=joined("truncated", np.bool_),
            errors=_pack([e for c in chunks for e in c.errors]),
            stats=np.ascontiguousarray(clf.stats.snapshot(), dtype=RECORD_DTYPE).tobytes(),
            meta=_pack({"notices": clf.notices[notices:], "load_s": self.load_s, "ready_at": self.ready_at}),
        )


RESULT_COLUMNS = ("problem", "lines", "probs", "label_idx", "tokens", "truncated", "errors", "stats", "meta")


def _result(*, problem: tuple[str, str | None] | None = None, **columns: bytes) -> dict[str, bytes]:
    out = dict.fromkeys(RESULT_COLUMNS, b"")
    out.update(columns, problem=_pack(problem) if problem else b"")
    return out


def _unpack_result(row: dict[str, Any], labels: int) -> dict[str, Any]:
    """A block's result as arrays again (the inverse of :meth:`ScoreBlocks._score`)."""
    if row["problem"]:
        return {"problem": tuple(json.loads(row["problem"]))}
    lines = np.frombuffer(row["lines"], dtype=np.int64)
    meta = json.loads(row["meta"])
    return {
        "lines": lines,
        "probs": np.frombuffer(row["probs"], dtype=np.float32).reshape(len(lines), max(1, labels)),
        "label_idx": np.frombuffer(row["label_idx"], dtype=np.int32),
        "tokens": np.frombuffer(row["tokens"], dtype=np.int32),
        "truncated": np.frombuffer(row["truncated"], dtype=np.bool_),
        "errors": json.loads(row["errors"]),
        "stats": np.frombuffer(row["stats"], dtype=RECORD_DTYPE),
        "notices": meta["notices"],
        "load_s": meta["load_s"],
        "ready_at": meta["ready_at"],
    }


# ---------------------------------------------------------------------- the driver
class RayScoring:
    """Scores the planned targets on Ray, one dataset for all of them; :meth:`score` gives one target's results."""

    def __init__(self, clf: Classifier, targets: list, *, model: str, provider: str, device: str, actors: int,
                 threads: int, max_length: int | None, options: dict, say: Callable[[str], None]) -> None:
        self.clf = clf
        self.targets = targets  # sieve score's planned outputs, scored in this order
        self.model = model
        self.provider = provider  # what each actor asks ONNX Runtime for (cpu, cuda or tensorrt)
        self.device = device  # what each actor must then run on (CPU or CUDA)
        self.options = options  # io_binding and warmup, as the local run would load the model
        self.actors = actors
        self.threads = threads
        self.max_length = max_length
        self.say = say
        self.totals: dict[int, int] = {}
        self._results: Iterator[tuple[int, int, dict]] | None = None
        self._pending: tuple[int, int, dict] | None = None
        # Start-up, from the first block's result: when the dataset started, its actor was ready (the model loaded,
        # device checked), and the block's results reached the driver.
        self.ready_s: float | None = None
        self.load_s: float | None = None
        self.first_results_s: float | None = None

    def close(self) -> None:
        if self._results is not None:
            self._results.close()  # stops the dataset's execution when a run ends early
            self._results = None

    # ------------------------------------------------------------------ one target
    def score(self, target: Any, rows: Iterator[SourceRow], done: int,
              on_batch: Callable[[int], None]) -> Iterator[ScoredChunk]:
        index = next(i for i, t in enumerate(self.targets) if t is target)
        if self._results is None:
            self._start(index, done)
        window = self.clf.policy.window
        expected = done
        while expected < self.totals[index]:
            input_index, first_row, result = self._next()
            if input_index != index:
                raise RuntimeError(f"Ray returned block {first_row} of input {input_index} while input {index} "
                                   f"still lacked rows from {expected}")
            self._account(result)
            n = len(result["lines"])
            if first_row + n <= done:  # a later input resumed: its first rows are in the partial output already
                continue
            begin = max(0, done - first_row)
            if first_row + begin != expected:
                raise RuntimeError(f"Ray returned rows from {first_row + begin} of {target.source.name} where "
                                   f"row {expected} was due")
            for a in range(begin, n, window):
                b = min(n, a + window)
                mine = list(islice(rows, b - a))
                lines = result["lines"][a:b]
                if len(mine) != b - a or any(r.line != ln for r, ln in zip(mine, lines.tolist(), strict=False)):
                    raise SieveError(f"{target.source.name} changed while it was being scored",
                                     "Score it again once it no longer changes")
                chunk = ScoredChunk(first_row + a, mine, result["probs"][a:b], result["label_idx"][a:b],
                                    result["tokens"][a:b], result["truncated"][a:b], result["errors"][a:b])
                yield chunk
                on_batch(b - a)
            expected = first_row + n
        if next(rows, None) is not None:
            raise SieveError(f"{target.source.name} grew while it was being scored",
                             "Score it again once it no longer changes")

    def _account(self, result: dict) -> None:
        """Stop on a block's problem; keep its batch records and notices as a local run keeps them."""
        if "problem" in result:
            message, hint = result["problem"]
            raise SieveError(message, hint)
        for rec in result["stats"]:
            self.clf.stats.add(rows=int(rec["rows"]), padded_len=int(rec["padded_len"]),
                               real_tokens=int(rec["real_tokens"]), queue_ms=float(rec["queue_ms"]),
                               encode_ms=float(rec["encode_ms"]), infer_ms=float(rec["infer_ms"]),
                               post_ms=float(rec["post_ms"]), failed=bool(rec["failed"]), started=self._t0)
        for notice in result["notices"]:
            if notice not in self.clf.notices:
                self.clf.notices.append(notice)

    def _next(self) -> tuple[int, int, dict]:
        assert self._results is not None
        try:
            item = next(self._results)
        except StopIteration:
            raise RuntimeError("Ray's results ended before every block came back") from None
        except ray.exceptions.RayError as exc:
            raise RuntimeError(f"a Ray worker failed: {_last_line(exc)}") from exc
        if self.first_results_s is None:
            self.first_results_s = time.perf_counter() - self._started
            if "ready_at" in item[2]:
                self.ready_s = max(0.0, float(item[2]["ready_at"]) - self._started_wall)
                self.load_s = float(item[2]["load_s"])
        return item

    # ------------------------------------------------------------------ the dataset
    def _start(self, first: int, done: int) -> None:
        from .blocks import block_rows

        size = block_rows(self.clf.policy.window)
        plans = []
        for i in range(first, len(self.targets)):
            # Read tasks may run in another folder or on another node: they get the input's absolute path.
            source = dataclasses.replace(self.targets[i].source, path=self.targets[i].source.path.resolve())
            plan = plan_blocks(source, size, done if i == first else 0)
            self.totals[i] = plan.total_rows
            plans.append((i, source, plan))
        blocks = sum(len(p.blocks) for _, _, p in plans)
        self.say(f"scoring {blocks} block{'s' if blocks != 1 else ''} of up to {size} rows on {self.actors} "
                 f"Ray actor{'s' if self.actors != 1 else ''} ({self.device})")
        ds = ray.data.read_datasource(SieveBlocks(plans), num_cpus=0, compute=TaskPoolStrategy(size=self.actors + 1))
        ds = ds.map_batches(
            ScoreBlocks,
            fn_constructor_kwargs={"model": self.model, "provider": self.provider, "device": self.device,
                                   "threads": self.threads, "max_length": self.max_length,
                                   "policy": self.clf.policy, "digest": model_digest(self.clf.bundle),
                                   "options": self.options},
            batch_size=1,
            batch_format="numpy",
            compute=ActorPoolStrategy(size=self.actors),
            num_cpus=self.threads,
            num_gpus=1 if self.device == "CUDA" else None,
        )
        self._started, self._started_wall = time.perf_counter(), time.time()
        self._t0 = self.clf.stats.now()  # the summary's clock starts here: throughput includes actor start-up
        self._results = _stream(ds, len(self.clf.labels))


def _stream(ds: ray.data.Dataset, labels: int) -> Iterator[tuple[int, int, dict]]:
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
        for i in range(len(batch["input"])):
            row = {name: batch[name][i] for name in RESULT_COLUMNS}
            yield int(batch["input"][i]), int(batch["first_row"][i]), _unpack_result(row, labels)


def _last_line(exc: BaseException) -> str:
    """The root cause's line out of a Ray error's text (which carries the remote traceback)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(("^", "File "))]
    return lines[-1] if lines else type(exc).__name__


def configure_data_context(debug: bool) -> None:
    """Results in input order, Sieve's progress bar instead of Ray's, and a bounded wait for actors."""
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = debug
    ctx.wait_for_min_actors_s = WAIT_FOR_ACTORS_S
    if not debug:
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)
        # Ray Data's hints about unused concurrency when a file has fewer blocks than there are actors.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.data\.")


def cluster_resources() -> dict[str, float]:
    return dict(ray.cluster_resources())


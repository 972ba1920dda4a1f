"""``sieve score --ray`` and ``--shard I/N``, and ``sieve merge``: the command-line side of :mod:`app.scale`.

Both are scorers plugged into ``sieve score``'s own run (:class:`app.cli.score.LocalScorer`): the same planning,
locks, reader, writer, resume record and messages, with the rows scored on Ray, or only every N-th block of them.
So whatever a local run writes, they write. Ray is imported only here, only for ``--ray``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import Classifier, InputError, SieveError, SourceRow
from ..engine.outputs import OutputLock, Target
from ..engine.pipeline import ScoredChunk
from ..scale.blocks import block_rows, shard_rows
from ..scale.identity import file_digest, model_digest
from ..scale.parts import (
    check_group,
    check_output,
    finish_part,
    group_parts,
    merge_group,
    merged_path,
    part_path,
    read_part,
)
from .score import LocalScorer, _say, score_files

LOCAL = "local"  # what --ray alone means: start a Ray on this machine for this run
RAY_HINT = "install with pip install -e '.[ray]'"
PROBE_S = 5.0  # how long an address gets to answer before the run gives up on it


def score_scaled(args: argparse.Namespace, load: Callable[..., Classifier],
                 policy: Callable[[argparse.Namespace], object]) -> int:
    """``sieve score`` with ``--ray`` or ``--shard``."""
    if args.ray is not None and args.shard is not None:
        raise InputError("--ray and --shard do not go together",
                         "Use --ray on a Ray cluster, or --shard I/N under another scheduler")
    if args.shard is not None:
        if args.resume:
            raise InputError("--shard runs are not resumed", "Run the shard again: its part appears only when complete")
        clf = load(args, max_length=args.max_length, policy=policy(args))
        return score_files(args, clf, ShardScorer(clf, args))
    return score_on_ray(args, load, policy)


def _refuse_streams(targets: list[Target], what: str, *, stdout: bool = False) -> None:
    for target in targets:
        if target.source.stream is not None:
            raise InputError(f"{what} reads its inputs more than once, so it needs files, not standard input",
                             "Save the texts to a file and score that")
        if target.path is None and not stdout:
            raise InputError(f"{what} does not write to standard output", "Give -o the output's name, or a folder")


# ---------------------------------------------------------------------- Ray
def score_on_ray(args: argparse.Namespace, load: Callable[..., Classifier],
                 policy: Callable[[argparse.Namespace], object]) -> int:
    if args.ray == LOCAL:
        # A Ray started for this run listens on 127.0.0.1 only (Ray has to know before it is imported).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        from ..scale import ray_run
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("ray", "pyarrow", "pandas"):
            raise
        raise InputError("--ray needs Ray, which is not installed here", RAY_HINT) from None
    # The driver only plans, reads and writes; its copy of the model gives the labels and the resume record.
    driver = argparse.Namespace(**{**vars(args), "provider": "cpu", "threads": 1})
    clf = load(driver, max_length=args.max_length, policy=policy(args))
    scorer = RayScorer(clf, args, ray_run)
    try:
        code = score_files(args, clf, scorer)
        run = scorer.run
        if run is not None and run.ready_s is not None:
            _say(args, f"actor start-up: ready {run.ready_s:.1f} s after the dataset started ({run.load_s:.1f} s of "
                       f"it loading the model); first results after {run.first_results_s:.1f} s")
        return code
    finally:
        scorer.close()


class RayScorer(LocalScorer):
    """Scores on Ray Data (:mod:`app.scale.ray_run`); joins or starts Ray once the outputs are planned."""

    def __init__(self, clf: Classifier, args: argparse.Namespace, ray_run) -> None:  # noqa: ANN001 - a module
        super().__init__(clf)
        self.args = args
        self.ray_run = ray_run
        self.session = RaySession(args.ray, debug=args.debug)
        self.run = None
        self._device = "CPU"

    @property
    def device(self) -> str:
        return self._device  # the actors', which each actor checks; the driver's own copy runs on the CPU

    def prepare(self, targets: list[Target]) -> list[Target]:
        _refuse_streams(targets, "--ray", stdout=True)
        args, ray_run = self.args, self.ray_run
        self.session.connect()
        ray_run.configure_data_context(args.debug)
        resources = ray_run.cluster_resources()
        self._device = choose_device(args.provider, resources)
        provider = args.provider if args.provider != "auto" else self._device.lower()
        threads = args.threads or 1
        actors = choose_actors(args.actors, self._device, threads, resources, fixed=self.session.fixed)
        _say(args, f"Ray at {self.session.where}: {_describe(resources)}")
        self.run = ray_run.RayScoring(self.clf, targets, model=str(self.clf.bundle.model_path.resolve()),
                                      provider=provider, device=self._device, actors=actors, threads=threads,
                                      max_length=args.max_length, say=lambda m: _say(args, m),
                                      options={"io_binding": args.io_binding, "warmup": args.warmup})
        return targets

    def stream(self, target: Target, rows: Iterator[SourceRow], done: int,
               on_batch: Callable[[int], None]) -> Iterator[ScoredChunk]:
        return self.run.score(target, rows, done, on_batch)

    def close(self) -> None:
        if self.run is not None:
            self.run.close()
        self.session.close()


def choose_device(provider: str, resources: dict[str, float]) -> str:
    """The device every actor must get: ``auto`` is CUDA when the cluster has GPUs, else CPU; TensorRT runs on CUDA."""
    if provider == "cpu":
        return "CPU"
    if provider in ("cuda", "tensorrt"):
        return "CUDA"
    return "CUDA" if resources.get("GPU", 0) >= 1 else "CPU"


def choose_actors(requested: int | None, device: str, threads: int, resources: dict[str, float], *,
                  fixed: bool) -> int:
    """``--actors``, or one per GPU (CUDA) or per ``threads`` CPUs; refused when a fixed cluster cannot hold them."""
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
    if device == "CUDA":
        if requested is None and gpus < 1:
            raise InputError("The Ray cluster has no GPUs for --provider cuda",
                             "Use --provider cpu, or give --actors N to wait for GPU nodes to join")
        actors, need, have, what = requested or gpus, requested or gpus, gpus, "GPUs"
    else:
        actors = requested or max(1, cpus // threads)
        need, have, what = actors * threads, cpus, "CPUs"
    if fixed and need > have:
        raise InputError(f"{actors} scoring actor{'s' if actors != 1 else ''} need {need} {what} but this Ray has "
                         f"{have}", "Give fewer --actors (or fewer --threads each)")
    return actors


def _describe(resources: dict[str, float]) -> str:
    nodes = sum(1 for k in resources if k.startswith("node:") and not k.startswith("node:__internal"))
    gpus = int(resources.get("GPU", 0))
    return (f"{nodes} node{'s' if nodes != 1 else ''}, {int(resources.get('CPU', 0))} CPUs"
            + (f", {gpus} GPUs" if gpus else ""))


class RaySession:
    """Joins (or starts) the Ray the run uses, with a bounded wait, and leaves it as it found it."""

    def __init__(self, address: str, *, debug: bool = False) -> None:
        self.address = address
        self.debug = debug
        self.fixed = address == LOCAL  # a Ray on this machine has the CPUs and GPUs it has; a cluster may grow
        self.joined = False  # whether this run joined (or started) Ray, so must leave (or stop) it
        self.where = "this machine" if address == LOCAL else address

    def connect(self) -> None:
        import ray

        if self.address not in (LOCAL, "auto"):
            probe(self.address)
        elif self.address == "auto" and os.environ.get("RAY_ADDRESS"):
            probe(os.environ["RAY_ADDRESS"])
        if ray.is_initialized():  # a program that embeds Sieve (or a test) already joined one: use it
            self.where = "the Ray this process already joined"
            return
        quiet = {"logging_level": logging.DEBUG if self.debug else logging.ERROR, "log_to_driver": self.debug}
        if self.address == LOCAL:
            started = time.perf_counter()
            ray.init(address="local", include_dashboard=False, **quiet)
            self.joined = True
            self.where = f"this machine (started in {time.perf_counter() - started:.1f} s)"
            return
        try:
            ray.init(address=self.address, **quiet)
        except ConnectionError as exc:
            raise InputError(f"No Ray cluster to join at {self.address} ({_first_line(exc)})",
                             "Start one (ray start --head), give its address, or use --ray alone for a local Ray"
                             ) from None
        except (RuntimeError, ValueError) as exc:  # e.g. a version mismatch, or ray:// without Ray Client
            raise InputError(f"Could not join the Ray cluster at {self.address}: {_first_line(exc)}",
                             "Use the same Ray and Python versions as the cluster") from None
        self.joined = True

    def close(self) -> None:
        if self.joined:
            import ray

            ray.shutdown()  # leaves a joined cluster running; stops a Ray this run started
            self.joined = False


def probe(address: str, timeout: float = PROBE_S) -> None:
    """Refuse, within ``timeout`` seconds, an address nothing answers on (Ray itself would retry for minutes)."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise InputError(f"{address!r} is not a Ray address",
                         "Give HOST:PORT of the head node (its GCS port, 6379 unless changed), or auto")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = "it did not answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc)).lower()
        raise InputError(f"Cannot reach a Ray cluster at {address}: {reason} (waited up to {timeout:.0f} s)",
                         "Check the address and that the cluster is running (ray status on its head node)") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------------- shards
@dataclass
class _Part:
    """What a shard learns about its part while ``sieve score`` writes it."""

    output: Path  # the unsharded run's output
    identity: dict
    counted: list[int] = field(default_factory=lambda: [0])  # rows in the whole input, once it is read
    blocks: list[list[int]] = field(default_factory=list)  # [block index, rows, bytes]
    header: int | None = None  # bytes before the first row
    rows: int = 0  # rows written so far, in ``size`` bytes
    size: int = 0
    start: int = 0  # where the block being written began
    rows_before: int = 0  # rows written before it


class ShardScorer(LocalScorer):
    """Scores every N-th block of each input into a part (see :mod:`app.scale.parts`) instead of the output."""

    def __init__(self, clf: Classifier, args: argparse.Namespace) -> None:
        super().__init__(clf)
        self.args = args
        self.shard, self.shards = args.shard
        self.size = block_rows(clf.policy.window)
        self.parts: dict[Path, _Part] = {}

    def prepare(self, targets: list[Target]) -> list[Target]:
        _refuse_streams(targets, "--shard")
        clf, digest = self.clf, model_digest(self.clf.bundle)
        aimed = []
        for target in targets:
            src, out = target.source, part_path(target.path, self.shard, self.shards)
            identity = {
                "input": {"name": src.path.name, "bytes": src.path.stat().st_size, "digest": file_digest(src.path)},
                "model": {"name": clf.bundle.name, "digest": digest},
                "labels": list(clf.labels),
                "reading": {"kind": src.kind, "column": src.column_index,
                            "field": src.field if src.kind == "jsonl" else None, "encoding": src.encoding,
                            "errors": src.errors},
                "scoring": {"max_length": clf.encoder.max_length, "batch_size": clf.policy.max_batch,
                            "max_tokens": clf.policy.max_tokens, "window": clf.policy.window,
                            "device": self.device},
                "format": target.kind,
            }
            self.parts[out] = _Part(target.path, identity)
            aimed.append(Target(src, out, target.kind))
        return aimed

    def stream(self, target: Target, rows: Iterator[SourceRow], done: int,
               on_batch: Callable[[int], None]) -> Iterator[ScoredChunk]:
        part = self.parts[target.path]
        return self.clf.stream(shard_rows(rows, self.size, self.shard, self.shards, part.counted), on_batch=on_batch)

    def written(self, target: Target, rows: int, size: int) -> None:
        part = self.parts[target.path]
        if part.header is None:  # the first call: the header alone
            part.header = part.start = size
        part.rows, part.size = rows, size
        if rows - part.rows_before > self.size:
            raise RuntimeError(f"a window crossed the end of block {self._next_block(part)}")
        if rows - part.rows_before == self.size:
            self._close_block(part)

    def finished(self, target: Target) -> None:
        part = self.parts[target.path]
        if part.rows > part.rows_before:  # the input's last block, shorter than the others
            self._close_block(part)
        finish_part(target.path, shard=self.shard, shards=self.shards, block_rows=self.size,
                    input_rows=part.counted[0], header_bytes=part.header or 0, blocks=part.blocks,
                    output=part.output, input_path=target.source.path, identity=part.identity)
        blocks = len(part.blocks)
        _say(self.args, f"{target.path.name} is shard {self.shard} of {self.shards}: {part.rows} of the input's "
                        f"{part.counted[0]} rows, in {blocks} block{'s' if blocks != 1 else ''}")

    def _next_block(self, part: _Part) -> int:
        return self.shard - 1 + len(part.blocks) * self.shards

    def _close_block(self, part: _Part) -> None:
        part.blocks.append([self._next_block(part), part.rows - part.rows_before, part.size - part.start])
        part.start, part.rows_before = part.size, part.rows


# ---------------------------------------------------------------------- merge
def cmd_merge(args: argparse.Namespace) -> int:
    parts = [read_part(Path(p).expanduser()) for p in args.parts]
    seen: dict[Path, str] = {}
    for part in parts:
        key = part.path.resolve()
        if key in seen:
            raise InputError(f"{seen[key]} is given twice", "Give each part once")
        seen[key] = str(part.path)
    groups = group_parts(parts)
    plans = []
    for group in groups.values():
        check_group(group)
        out = merged_path(group, args.output, len(groups))
        check_output(out, group)
        plans.append((group, out))
    outs = [out.resolve() for _, out in plans]
    if len(set(outs)) != len(outs):
        raise SieveError("Two outputs would be written to one file", "Give -o a folder")
    for group, out in plans:
        with OutputLock(out):
            rows = merge_group(group, out)
        _say(args, f"wrote {out} ({rows} rows from {len(group)} parts)")
    return 0


"""``sieve score --ray`` and ``--shard I/N``, and ``sieve merge``: the command-line side of :mod:`app.scale`.

Both paths reuse ``sieve score``'s own planning (which inputs, which outputs), reader and writer, so they write what a
local run writes. Ray is imported only here, only for ``--ray``.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from ..engine import FAILED, Classifier, InputError, ResultWriter, SieveError
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
from .score import _say, plan_targets, score_files

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
        return score_shard(args, load(args, max_length=args.max_length, policy=policy(args)))
    return score_on_ray(args, load, policy)


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
    session = RaySession(args.ray, debug=args.debug)
    scoring: list = []

    def scorer(targets: list):  # noqa: ANN202 - called once the inputs are checked, before anything is written
        session.connect()
        ray_run.configure_data_context(args.debug)
        resources = ray_run.cluster_resources()
        device = choose_device(args.provider, resources)
        threads = args.threads or 1
        actors = choose_actors(args.actors, device, threads, resources, fixed=session.fixed)
        _say(args, f"Ray at {session.where}: {_describe(resources)}")
        run = ray_run.RayScoring(clf, model=str(clf.bundle.model_path.resolve()), device=device, actors=actors,
                                 threads=threads, max_length=args.max_length, say=lambda m: _say(args, m))
        scoring.append(run)
        return run.scorer(targets)

    try:
        code = score_files(args, clf, scorer=scorer)
        if scoring and scoring[0].startup_s is not None:
            run = scoring[0]
            _say(args, f"actor start-up: first results {run.startup_s:.1f} s after the dataset started "
                       f"(of which {run.model_load_s:.1f} s loading the model in the actor)")
        return code
    finally:
        for run in scoring:
            run.close()
        session.close()


def choose_device(provider: str, resources: dict[str, float]) -> str:
    """The device every actor must get: ``auto`` is CUDA when the cluster has GPUs, else CPU."""
    if provider == "cpu":
        return "CPU"
    if provider == "cuda":
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
        import logging

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
def score_shard(args: argparse.Namespace, clf: Classifier) -> int:
    """Score every N-th block of each input into a part file (see :mod:`app.scale.parts`)."""
    shard, shards = args.shard
    if args.resume:
        raise InputError("--shard runs are not resumed", "Run the shard again: its part appears only when complete")
    if args.output == "-":
        raise InputError("A shard writes a part file, not standard output", "Give -o the output's name, or a folder")
    targets = plan_targets(args)
    size = block_rows(clf.policy.window)
    digest = model_digest(clf.bundle)
    failed = 0
    for target in targets:
        src, out = target.source, part_path(target.path, shard, shards)
        identity = {
            "input": {"name": src.path.name, "bytes": src.path.stat().st_size, "digest": file_digest(src.path)},
            "model": {"name": clf.bundle.name, "digest": digest},
            "labels": list(clf.labels),
            "reading": {"kind": src.kind, "column": src.column_index, "field": src.field if src.kind == "jsonl" else None,
                        "encoding": src.encoding, "errors": src.errors},
            "scoring": {"max_length": clf.encoder.max_length, "batch_size": clf.policy.max_batch,
                        "max_tokens": clf.policy.max_tokens, "window": clf.policy.window,
                        "device": clf.session.providers.device},
            "format": target.kind,
        }
        counted = [0]
        blocks: list[list[int]] = []
        rows = shard_rows(iter(src), size, shard, shards, counted)
        bar = tqdm(total=src.estimate_rows() // shards, unit=" texts", desc=f"{src.name} {shard}/{shards}",
                   file=sys.stderr, disable=True if args.quiet else None, dynamic_ncols=True, leave=False)
        writer = ResultWriter(out, clf.labels, src.columns, source_kind=src.kind, kind=target.kind)
        try:
            with writer:
                header = start = writer.flush()
                in_block, index = 0, shard - 1
                for chunk in clf.stream(rows, on_batch=bar.update):
                    writer.write(chunk.rows, chunk.probs, chunk.label_idx, chunk.truncated, chunk.errors)
                    failed += int((chunk.label_idx == FAILED).sum())
                    in_block += len(chunk)
                    if in_block > size:
                        raise RuntimeError(f"a window crossed block {index}'s end")
                    if in_block == size:
                        end = writer.flush()
                        blocks.append([index, in_block, end - start])
                        start, in_block, index = end, 0, index + shards
                if in_block:
                    end = writer.flush()
                    blocks.append([index, in_block, end - start])
        finally:
            bar.close()
        finish_part(out, shard=shard, shards=shards, block_rows=size, input_rows=counted[0], header_bytes=header,
                    blocks=blocks, output=target.path, input_path=src.path, identity=identity)
        for message in src.issues.messages(src.name):
            print(f"sieve: {message}", file=sys.stderr)
        rows_done = sum(b[1] for b in blocks)
        _say(args, f"wrote {out} (shard {shard} of {shards}: {rows_done} of {counted[0]} rows, {len(blocks)} "
                   f"block{'s' if len(blocks) != 1 else ''} of up to {size})")
    for notice in clf.notices:
        print(f"sieve: {notice}", file=sys.stderr)
    if not args.quiet:
        for line in clf.stats.summary().lines():
            print(f"sieve: {line}", file=sys.stderr)
    if failed:
        print(f"sieve: {failed} rows could not be scored; their error column says why", file=sys.stderr)
    return 0


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
        rows = merge_group(group, out)
        _say(args, f"wrote {out} ({rows} rows from {len(group)} parts)")
    return 0

"""7. Scale-out: one file through ``sieve score`` locally, with ``--ray`` on a local Ray, and as ``--shard`` parts.

    python benchmarks/scale_out.py [--quick] [--rows 20000] [--actors 1,2] [--shards 2] [--repeats 3] [--model DIR]

Every contender is a fresh ``sieve score`` process on the same CSV, run one after another and repeated in turn, so
drift hits them alike; every output must equal the local one byte for byte. Reported: wall time per contender and its
ratio to the local path (as a user runs it, and at one ONNX Runtime thread, as one actor runs), Ray's start-up and the actors' start-up (from the run's own report), and the driver's own
costs per row (the index pass, the second read, the writing), which cap what any number of actors can deliver through
one driver. Needs the ray extra (``pip install -e '.[ray]'``) for the Ray contenders; without it they are skipped.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import numpy as np
from common import REPO, median, save, short_texts, table

# What a --ray run reports about its start-up (seconds): the column each gets in the table.
STARTUP = {"ray_start_s": "Ray start s", "actor_ready_s": "actor ready s", "model_load_s": "of it model load s",
           "first_results_s": "first results s"}


def write_csv(path: Path, n: int) -> None:
    base = short_texts(5000)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text"])
        w.writerows([i, base[i % len(base)]] for i in range(n))


def sieve(*args: object) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "app", *map(str, args)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return seconds, proc.stderr


def driver_costs(path: Path) -> dict:
    """Per-row costs the driver pays whatever the cluster: index pass, second read, writing (µs per row)."""
    sys.path.insert(0, str(REPO))
    from app.engine import ResultWriter, open_source
    from app.scale.blocks import plan_blocks

    source = open_source(path)
    t0 = time.perf_counter()
    plan = plan_blocks(source, 4096)
    index = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = list(source)
    read = time.perf_counter() - t0
    n = len(rows)
    rng = np.random.default_rng(0)
    probs = rng.random((n, 3), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with ResultWriter(Path(tmp) / "o.csv", ["negative", "neutral", "positive"], source.columns,
                          source_kind="csv") as w:
            for a in range(0, n, 1024):
                w.write(rows[a:a + 1024], probs[a:a + 1024], probs[a:a + 1024].argmax(1), np.zeros(min(1024, n - a), bool),
                        [None] * min(1024, n - a))
        write = time.perf_counter() - t0
    us = {"index_pass": index / n * 1e6, "second_read": read / n * 1e6, "write": write / n * 1e6}
    us["driver_ceiling_rows_per_s"] = 1e6 / (us["index_pass"] + us["second_read"] + us["write"])
    us["blocks"] = len(plan.blocks)
    return us


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, help="rows in the file (default 20000; quick 2000)")
    p.add_argument("--actors", default="1,2", help="actor counts to run with --ray (default 1,2)")
    p.add_argument("--shards", type=int, default=2, help="shards for the --shard contender, run one after another")
    p.add_argument("--repeats", type=int, help="runs of each contender (default 3; quick 1)")
    args = p.parse_args()
    common.setup(args)
    rows = args.rows or (2000 if args.quick else 20000)
    repeats = args.repeats or (1 if args.quick else 3)
    try:
        import ray  # noqa: F401
        actors = [int(a) for a in args.actors.split(",") if a]
    except ImportError:
        print("ray is not installed: the --ray contenders are skipped (pip install -e '.[ray]')", file=sys.stderr)
        actors = []
    model_args = ["--model", args.model, "--provider", args.provider]
    model_args += ["--threads", str(args.threads)] if args.threads else []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / "corpus.csv"
        write_csv(data, rows)
        # "local" is sieve score as a user runs it (ONNX Runtime's own thread count); "local, 1 thread" runs as one
        # Ray actor does (--threads 1), so the difference to "ray, 1 actor" is what Ray itself adds.
        contenders: dict[str, list] = {"local": [], "local, 1 thread": []}
        contenders.update({f"ray, {a} actor{'s' if a > 1 else ''}": [] for a in actors})
        contenders[f"{args.shards} shards + merge"] = []
        startup: dict[str, list] = {name: [] for name in contenders if name.startswith("ray")}
        reference = folder / "local.csv"
        for _ in range(repeats):
            seconds, _err = sieve("score", data, "-o", reference, *model_args, "--quiet")
            contenders["local"].append(seconds)
            one = folder / "local1.csv"
            seconds, _err = sieve("score", data, "-o", one, *model_args, "--threads", "1", "--quiet")
            assert one.read_bytes() == reference.read_bytes(), "local, 1 thread: output differs from the local run"
            contenders["local, 1 thread"].append(seconds)
            for a in actors:
                name = f"ray, {a} actor{'s' if a > 1 else ''}"
                out = folder / f"ray{a}.csv"
                # Not --quiet: the run reports Ray's and the actors' start-up on stderr.
                seconds, err = sieve("score", data, "-o", out, *model_args, "--ray", "--actors", a)
                assert out.read_bytes() == reference.read_bytes(), f"{name}: output differs from the local run"
                contenders[name].append(seconds)
                ray_s = re.search(r"started in ([\d.]+) s", err)
                actor = re.search(r"ready ([\d.]+) s after the dataset started \(([\d.]+) s of it loading the model\); "
                                  r"first results after ([\d.]+) s", err)
                startup[name].append({"ray_start_s": float(ray_s.group(1)) if ray_s else None,
                                      "actor_ready_s": float(actor.group(1)) if actor else None,
                                      "model_load_s": float(actor.group(2)) if actor else None,
                                      "first_results_s": float(actor.group(3)) if actor else None})
            t0 = time.perf_counter()
            merged = folder / "sharded.csv"
            for i in range(1, args.shards + 1):
                sieve("score", data, "-o", merged, *model_args, "--quiet", "--shard", f"{i}/{args.shards}")
            sieve("merge", *(folder / f"sharded.csv.part-{i}-of-{args.shards}" for i in range(1, args.shards + 1)),
                  "-o", merged)
            assert merged.read_bytes() == reference.read_bytes(), "shards + merge: output differs from the local run"
            contenders[f"{args.shards} shards + merge"].append(time.perf_counter() - t0)
        costs = driver_costs(data)
    local = median(contenders["local"])
    results = []
    for name, times in contenders.items():
        s = startup.get(name) or []
        results.append({
            "contender": name, "seconds": times, "median_s": median(times), "ratio_to_local": median(times) / local,
            "texts_per_s": rows / median(times),
            **{key: median([x[key] for x in s if x[key] is not None]) if s and any(x[key] is not None for x in s)
               else None for key in STARTUP},
        })
    print(table(["contender", "median s", "× local", "texts/s", *STARTUP.values()],
                [[r["contender"], r["median_s"], r["ratio_to_local"], r["texts_per_s"],
                  *(r[key] if r[key] is not None else "–" for key in STARTUP)] for r in results]))
    print()
    print(table(["driver cost per row", "µs"],
                [["index pass (finding block starts)", costs["index_pass"]],
                 ["second read (the rows' own fields)", costs["second_read"]],
                 ["writing the output", costs["write"]],
                 ["ceiling through one driver, rows/s", costs["driver_ceiling_rows_per_s"]]]))
    save("scale_out", {"rows": rows, "repeats": repeats, "model": args.model, "threads": args.threads,
                       "provider": args.provider, "results": results, "driver_us_per_row": costs}, args.json)


if __name__ == "__main__":
    main()

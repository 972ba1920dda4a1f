"""6. Scale: a large file through ``sieve score`` in a child process, with its peak RSS, at two file sizes.

    python benchmarks/scale.py [--quick] [--rows 100000,1000000] [--model DIR]

``sieve score`` streams: it reads, tokenizes, scores and writes one window at a time, so its peak memory should
not depend on the file's length. Each size runs in a fresh process; peak RSS comes from ``wait4``'s rusage.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
from common import REPO, save, short_texts, table


def run(path: Path, out: Path, model: str, threads: int) -> dict:
    cmd = [sys.executable, "-m", "app", "score", str(path), "-o", str(out), "--model", model, "--quiet"]
    if threads:
        cmd += ["--threads", str(threads)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"sieve score failed:\n{err[-2000:]}")
    with out.open(newline="", encoding="utf-8") as fh:
        rows_out = sum(1 for _ in csv.reader(fh)) - 1
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "rows_out": rows_out}


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--rows", help="file sizes (default 100000,1000000; quick 2000,20000)")
    args = p.parse_args()
    common.setup(args)
    sizes = [int(x) for x in (args.rows or ("2000,20000" if args.quick else "100000,1000000")).split(",")]
    base = short_texts(5000)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"rows{n}.csv"
            with path.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["id", "text"])
                w.writerows([i, base[i % len(base)]] for i in range(n))
            r = run(path, Path(tmp) / f"out{n}.csv", args.model, args.threads)
            r.update(rows=n, file_mb=path.stat().st_size / 1e6, texts_per_s=n / r["seconds"])
            assert r["rows_out"] == n, f"{r['rows_out']} output rows for {n} input rows"
            results.append(r)
            print(f"{n:,} rows: {r['seconds']:.1f} s, {r['texts_per_s']:,.0f} texts/s, peak RSS {r['peak_rss_mb']:.0f} MB",
                  flush=True)
    print()
    print(table(["rows", "file MB", "seconds", "texts/s", "peak RSS MB", "output rows"],
                [[f"{r['rows']:,}", r["file_mb"], r["seconds"], r["texts_per_s"], r["peak_rss_mb"], r["rows_out"]]
                 for r in results]))
    save("scale", {"model": args.model, "threads": args.threads, "results": results}, args.json)


if __name__ == "__main__":
    main()

"""Run every benchmark one after another (``--quick``: each in under a minute) and print their tables.

    python benchmarks/run_all.py [--quick] [--model DIR] [--skip peer,desktop]

Each benchmark also writes its figures to ``benchmarks/results/NAME.json``; docs/PERFORMANCE.md quotes them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("engine_overhead", "padding", "microbatcher", "serve", "peer", "desktop", "dashboard", "scale", "long_line",
         "whole_process", "scale_out", "quantization")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--model", help="model folder (default: the embedded model)")
    p.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    args = p.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    failed = []
    for name in ORDER:
        if name in skip:
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py")] + (["--quick"] if args.quick else [])
        cmd += ["--model", args.model] if args.model else []
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        if subprocess.run(cmd).returncode != 0:
            failed.append(name)
        print(f"({name}: {time.perf_counter() - t0:.0f} s)", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Memory for one very long line: the tokenizer handed every character (Sieve before the character cap) vs handed at
most 64 characters per token of the maximum length (Sieve now), side by side on the same file.

    python benchmarks/long_line.py [--quick] [--model DIR] [--mb 20]

Each contender runs in a fresh process that loads the model, then scores a file holding one line of ``--mb`` MB of
ordinary text (the samples joined) plus a few short lines; it reports its peak resident memory (ru_maxrss) before
and after scoring. The extra memory is what scoring the line cost.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
from common import sample_texts, save, table

CONTENDERS = {"every character (before)": False, "capped at 64 chars/token (now)": True}


def child(model: str, path: str, capped: bool) -> None:
    from app.engine import Classifier, encoding, open_source

    if not capped:
        encoding.CHARS_PER_TOKEN = 10**12  # no cap: what Sieve did before
    clf = Classifier.load(model, provider="cpu")
    clf.predict(["warm-up"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    rows = sum(len(chunk) for chunk in clf.stream(open_source(path)))
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_before_mb": before * scale / 2**20,
                      "peak_after_mb": after * scale / 2**20}))


def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--mb", type=float, help="size of the long line in MB (default 20, --quick 2)")
    p.add_argument("--child", nargs=2, metavar=("FILE", "CAPPED"), help=argparse_hidden())
    args = p.parse_args()
    if args.child:
        child(args.model, args.child[0], args.child[1] == "1")
        return
    mb = args.mb or (2.0 if args.quick else 20.0)
    base = " ".join(sample_texts())
    line = (base * (int(mb * 2**20) // max(1, len(base)) + 1))[: int(mb * 2**20)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "long_line.txt"
        work.write_text("a short line\n" + line.replace("\n", " ") + "\nanother short line\n", encoding="utf-8")
        for name, capped in CONTENDERS.items():
            done = subprocess.run([sys.executable, __file__, "--model", args.model, "--child", str(work),
                                   "1" if capped else "0"], capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                raise SystemExit(f"{name} failed: {done.stderr[-2000:]}")
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [[name, f"{r['peak_before_mb']:.0f}", f"{r['peak_after_mb']:.0f}",
             f"{r['peak_after_mb'] - r['peak_before_mb']:.0f}", r["seconds"]] for name, r in results.items()]
    print(f"one line of {mb:g} MB (+2 short lines), model {Path(args.model).name}")
    print(table(["tokenizer handed", "peak MB after load", "peak MB after scoring", "extra MB", "seconds"], rows))
    extra = [r["peak_after_mb"] - r["peak_before_mb"] for r in results.values()]
    if extra[1] > 0:
        print(f"\nextra memory ratio (before / now): {extra[0] / extra[1]:.0f}x")
    save("long_line", {"line_mb": mb, "model": args.model, "results": results}, args.json)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()

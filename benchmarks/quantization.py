"""Quantization of the default model: fp32 vs dynamic int8 vs static int8, side by side through Sieve's engine.

    python benchmarks/quantization.py [--quick] [--threads 2] [--models NAME=DIR,NAME=DIR,...]

Contenders (default): the fp32 export and the dynamic int8 model that ``packaging/default_model/build.py`` leaves
in ``.work/default_model/`` (not in the repository; run the build, or ``--reuse-checkpoint``, first), and the
shipped static int8 model. Missing folders are skipped with a note. For each: batched throughput over short texts
(Sieve's planner) and batch-1 latency, interleaved over rounds whose order rotates; and batch invariance (each text
alone vs in batches of 32 vs shuffled batches of 2-32 vs the planner: label flips and max |Δprob|).
"""

from __future__ import annotations

import sys
from pathlib import Path

import common
from common import REPO, save, short_texts, table

sys.path.insert(0, str(REPO / "packaging" / "default_model"))
import compare  # noqa: E402

WORK = REPO / ".work" / "default_model"
DEFAULT_MODELS = f"fp32={WORK / 'fp32'},dynamic int8={WORK / 'dynamic_int8'},static int8 (shipped)={{model}}"


def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--models", default=DEFAULT_MODELS, help="contenders as NAME=DIR pairs, comma-separated "
                   "({model} stands for --model)")
    p.add_argument("--rounds", type=int, default=0, help="interleaved rounds (default 2 quick, 5 full)")
    args = p.parse_args()
    common.setup(args)
    threads = args.threads or 2
    rounds = args.rounds or (2 if args.quick else 7)
    n, n_single, n_invariance = (500, 50, 100) if args.quick else (3720, 300, 1000)
    folders = {}
    for pair in args.models.format(model=args.model).split(","):
        name, _, folder = pair.partition("=")
        if not (Path(folder) / "model.onnx").is_file():
            print(f"skipped {name}: no model.onnx in {folder} (run packaging/default_model/build.py first)")
            continue
        folders[name] = folder
    if not folders:
        raise SystemExit("no contender found")
    clfs = {name: compare.load(Path(folder), threads) for name, folder in folders.items()}
    texts = short_texts(n)
    speed = compare.speed(clfs, texts, texts[:n_single], rounds)
    invariance = {name: compare.batch_invariance(clf, texts[:n_invariance], seed=13) for name, clf in clfs.items()}
    base = next((k for k in clfs if k.startswith("dynamic")), next(iter(clfs)))
    rows = []
    for name in clfs:
        s, inv, r = speed[name], invariance[name], compare.ratios(speed, name, base)
        ways = [inv[k] for k in ("batches_of_32", "mixed_batches", "planner")]
        rows.append([
            name, f"{s['texts_per_s_batched']:,.1f} ({s['texts_per_s_best_round']:,.1f})",
            f"{r['throughput_median']:.3f} ({r['throughput_best']:.3f})",
            f"{s['batch1_p50_ms']:.2f} ({s['batch1_p50_best_round_ms']:.2f})",
            f"{r['batch1_p50']:.3f} ({r['batch1_p50_best']:.3f})",
            max(w["label_flips"] for w in ways), f"{max(w['max_abs_prob_diff'] for w in ways):.1e}",
        ])
    print(f"{n} short texts batched, {n_single} one at a time, {rounds} interleaved rounds, {threads} threads, "
          f"CPU; batch invariance over {n_invariance} texts. Median round (best round in brackets): other "
          "processes only add time, so on a busy machine the best round is the closer measure.\n")
    print(table(["model", "texts/s batched", f"vs {base}", "batch-1 p50 ms", f"vs {base}",
                 "label flips vs alone", "max |Δprob| vs alone"], rows))
    save("quantization", {"texts": n, "single_texts": n_single, "rounds": rounds, "threads": threads,
                          "models": folders, "speed": speed, "batch_invariance": invariance, "baseline": base},
         args.json)


if __name__ == "__main__":
    main()

"""1. Engine overhead: Sieve's run stage vs a plain InferenceSession.run loop on the same padded batches, and vs
the same loop through an IO binding (what a careful GPU loop does); then end to end (read + tokenize + run,
overlapped) vs tokenize alone and infer alone.

    python benchmarks/engine_overhead.py [--quick] [--model DIR] [--threads N] [--provider cuda] [--io-binding on|off]
"""

from __future__ import annotations

import common
from common import interleaved, median, save, short_texts, table

from app.engine import BatchPolicy, Classifier, rows_from_texts


def main() -> None:
    args = common.parser(__doc__).parse_args()
    common.setup(args)
    n = 1024 if args.quick else 4096
    repeats = 3 if args.quick else 5
    policy = BatchPolicy(max_batch=32, max_tokens=8192, window=1024)
    clf = Classifier.load(args.model, provider=args.provider, threads=args.threads, policy=policy,
                          io_binding=args.io_binding)
    texts = short_texts(n)
    rows = list(rows_from_texts(texts))

    # The same windows, encoded and padded once, feed both contenders.
    windows = [clf._encode_window(i, rows[i: i + policy.window]) for i in range(0, n, policy.window)]
    batches = [b.feeds for w in windows for b in w.batches]
    ort_session = clf.session.session
    out_name = [clf.session.logits_name]

    device = "cuda" if clf.session.providers.device == "CUDA" else "cpu"

    def plain_loop() -> None:
        for feeds in batches:
            ort_session.run(out_name, feeds)

    def bound_loop() -> None:
        for feeds in batches:
            binding = ort_session.io_binding()
            for name, array in feeds.items():
                binding.bind_cpu_input(name, array)
            binding.bind_output(out_name[0], device)
            ort_session.run_with_iobinding(binding)
            binding.copy_outputs_to_cpu()

    def sieve_run_stage() -> None:
        for w in windows:
            clf._run_window(w, None, None, [0, 0])

    def encode_only() -> None:
        for i in range(0, n, policy.window):
            clf._encode_window(i, rows[i: i + policy.window])

    def sieve_end_to_end() -> None:
        for _ in clf.stream(rows_from_texts(texts)):
            pass

    plain_loop()  # warm-up: ORT allocates its arena on the first runs
    t = interleaved({"plain": plain_loop, "bound": bound_loop, "sieve": sieve_run_stage, "encode": encode_only,
                     "e2e": sieve_end_to_end}, repeats)
    plain, bound, sieve, encode, e2e = (median(t[k]) for k in ("plain", "bound", "sieve", "encode", "e2e"))
    infer = plain
    rows_out = [
        ["plain InferenceSession.run loop", f"{plain:.3f}", f"{n / plain:,.0f}", "1.00"],
        ["plain loop through an IO binding", f"{bound:.3f}", f"{n / bound:,.0f}", f"{plain / bound:.3f}"],
        ["Sieve run stage (run + softmax + stats)", f"{sieve:.3f}", f"{n / sieve:,.0f}", f"{plain / sieve:.3f}"],
        ["tokenize + pad only", f"{encode:.3f}", f"{n / encode:,.0f}", ""],
        ["Sieve end to end (stream, overlapped)", f"{e2e:.3f}", f"{n / e2e:,.0f}", f"{plain / e2e:.3f}"],
    ]
    print(f"{n} short texts, {len(batches)} batches, median of {repeats} interleaved runs, "
          f"threads={args.threads or 'ORT default'}, {clf.session.providers.describe()}, "
          f"Sieve IO binding {'on' if clf.session.io_binding else 'off'}\n")
    print(table(["what", "seconds", "texts/s", "throughput vs plain loop"], rows_out))
    print(f"\nSieve run stage / plain loop throughput: {plain / sieve:.3f} (target >= 0.95); "
          f"/ IO-bound loop: {bound / sieve:.3f} (target >= 0.95 on a GPU)")
    print(f"end to end / max(encode, infer): {e2e / max(encode, infer):.3f} (target <= 1.10); "
          f"end to end / (encode + infer): {e2e / (encode + infer):.3f}")
    save("engine_overhead", {
        "texts": n, "batches": len(batches), "repeats": repeats, "threads": args.threads, "model": args.model,
        "seconds": {k: median(v) for k, v in t.items()}, "all_seconds": t,
        "run_stage_ratio": plain / sieve, "run_stage_vs_bound_loop": bound / sieve,
        "provider": clf.session.providers.describe(), "io_binding": clf.session.io_binding,
        "e2e_over_max": e2e / max(encode, infer),
        "e2e_over_sum": e2e / (encode + infer),
    }, args.json)


if __name__ == "__main__":
    main()

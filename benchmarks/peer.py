"""4. Peer: HuggingFace ``pipeline("text-classification")`` on PyTorch vs Sieve, same checkpoint, same texts, same
thread count. Needs the ``export`` extra and the fine-tuned checkpoint that ``packaging/default_model/build.py``
leaves in ``.work/default_model/`` (``checkpoint/`` for PyTorch, ``fp32/`` for its plain ONNX export).

    python benchmarks/peer.py [--quick] [--threads N] [--checkpoint DIR]
"""

from __future__ import annotations

import common
from common import REPO, interleaved, median, save, short_texts, table

from app.engine import Classifier

WORK = REPO / ".work" / "default_model"


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=str(WORK / "checkpoint"), help="HuggingFace checkpoint folder")
    p.add_argument("--fp32", default=str(WORK / "fp32"), help="the same checkpoint exported to ONNX fp32")
    args = p.parse_args()
    common.setup(args)
    try:
        import torch
        from transformers import pipeline
    except ImportError:
        raise SystemExit("needs the export extra: pip install -e '.[export]'") from None
    threads = args.threads or 2
    torch.set_num_threads(threads)
    n = 512 if args.quick else 4000
    repeats = 2 if args.quick else 3
    texts = short_texts(n)
    hf = pipeline("text-classification", model=args.checkpoint, tokenizer=args.checkpoint, device=-1,
                  truncation=True, max_length=128)
    sieve_fp32 = Classifier.load(args.fp32, provider="cpu", threads=threads)
    sieve_int8 = Classifier.load(args.model, provider="cpu", threads=threads)
    for warm in (lambda: hf(texts[:32], batch_size=32), lambda: sieve_fp32.score(texts[:32]),
                 lambda: sieve_int8.score(texts[:32])):
        warm()
    agree = sum(a["label"] == b.label for a, b in zip(hf(texts[:500], batch_size=32), sieve_fp32.predict(texts[:500]),
                                                        strict=True)) / 500
    runs = {
        "HF pipeline, PyTorch fp32, batch_size=32": lambda: hf(texts, batch_size=32),
        "Sieve, ONNX fp32 (same weights)": lambda: sieve_fp32.score(texts),
        "Sieve, ONNX int8 (the shipped default model)": lambda: sieve_int8.score(texts),
    }
    times = interleaved(runs, repeats)
    base = median(times["HF pipeline, PyTorch fp32, batch_size=32"])
    rows = [[name, n / median(t), base / median(t)] for name, t in times.items()]
    print(f"{n} tweets, {threads} threads each, median of {repeats} interleaved runs; "
          f"HF and Sieve fp32 agree on {agree:.1%} of the first 500 labels\n")
    print(table(["runner", "texts/s", "vs HF pipeline"], rows))
    save("peer", {"texts": n, "threads": threads, "repeats": repeats, "label_agreement_fp32": agree,
                  "torch": torch.__version__, "seconds": times,
                  "ratios": {name: base / median(t) for name, t in times.items()}}, args.json)


if __name__ == "__main__":
    main()

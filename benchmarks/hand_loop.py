"""The careful hand-written loop that ``sieve score`` is measured against (benchmarks/whole_process.py).

What someone fluent in ONNX Runtime would write for one CSV file: read every row, tokenize all texts in one
``encode_batch``, sort all of them by length, cut batches of 32 padded to their longest text, run, softmax, and write
the input's columns plus label, confidence, one score per label, truncated and error, in input order (the same
columns ``sieve score`` writes). No streaming, no windows, no checks: the whole file is held in memory.

    python benchmarks/hand_loop.py MODEL_DIR IN.csv OUT.csv [--threads N] [--batch 32] [--column text]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path)
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--column", default="text")
    args = p.parse_args()

    tok = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    tok.no_padding()
    if tok.truncation is None:
        tok.enable_truncation(512)
    pad_id = tok.token_to_id("[PAD]") or 0
    config = json.loads((args.model / "config.json").read_text(encoding="utf-8"))
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(args.model / "model.onnx"), options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}

    with open(args.src, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    col = header.index(args.column)
    encodings = tok.encode_batch([row[col] for row in rows])
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    truncated = [bool(e.overflowing) for e in encodings]
    order = np.argsort(-lengths, kind="stable")
    probs = np.empty((len(rows), len(labels)), dtype=np.float32)
    for start in range(0, len(order), args.batch):
        idx = order[start: start + args.batch]
        width = int(lengths[idx].max())
        ids = np.full((len(idx), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for j, i in enumerate(idx):
            n = lengths[i]
            ids[j, :n] = encodings[i].ids
            mask[j, :n] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (logits,) = session.run(["logits"], feeds)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs[idx] = e / e.sum(axis=1, keepdims=True)

    best = probs.argmax(axis=1)
    with open(args.dst, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*header, "label", "confidence", *labels, "truncated", "error"])
        writer.writerows([*row, labels[b], f"{p[b]:.6g}", *(f"{x:.6g}" for x in p), "true" if t else "false", ""]
                         for row, p, b, t in zip(rows, probs.tolist(), best.tolist(), truncated, strict=True))


if __name__ == "__main__":
    main()

"""Which static int8 quantization the default model ships with, and the alternatives that were measured against it.

The search runs on the **validation** split (the test split only scores the final choice); the calibration texts
come from the **training** split. Every variant is written with :func:`app.quantize.quantize_static_int8`, scored
through Sieve's engine, checked for batch invariance, and timed side by side with the dynamic int8 model.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import compare

from app.quantize import StaticInt8, quantize_static_int8

#: Interleaved rounds of the variants' speed comparison.
SEARCH_ROUNDS = 5

#: The shipped configuration (see MODEL_CARD.md, "Quantization", for the measurements behind it).
CHOSEN = "minmax, per-channel"

VARIANTS: dict[str, StaticInt8] = {
    "minmax, per-channel": StaticInt8(),
    "per-tensor weights": StaticInt8(per_channel=False),
    "percentile 99.999": StaticInt8(calibration="percentile", percentile=99.999),
    "percentile 99.99": StaticInt8(calibration="percentile", percentile=99.99),
    "entropy": StaticInt8(calibration="entropy"),
    "symmetric activations": StaticInt8(symmetric_activations=True),
    "reduce_range (7-bit weights)": StaticInt8(reduce_range=True),
    "attention MatMuls too": StaticInt8(attention=True),
    "float pooler and classifier (Gemm)": StaticInt8(gemm=False),
    "no float bypass (residual via int8)": StaticInt8(float_bypass=False),
    "Q/K/V projections not packed": StaticInt8(pack_projections=False),
    "QOperator format": StaticInt8(qdq=False),
    "float embeddings": StaticInt8(embeddings=False),
}


def calibration_sample(train_texts: list[str], n: int, seed: int) -> list[str]:
    """``n`` training texts drawn with a fixed seed (never validation or test texts)."""
    return random.Random(seed).sample(train_texts, min(n, len(train_texts)))


def write_bundle(fp32_dir: Path, out: Path, feeds: list[dict], options: StaticInt8) -> dict:
    """A loadable bundle: the quantized model next to the fp32 export's tokenizer.json and config.json."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "config.json"):
        shutil.copyfile(fp32_dir / name, out / name)
    report = quantize_static_int8(fp32_dir / "model.onnx", out / "model.onnx", feeds, options)
    return {"options": options.describe(), "size_mb": round(report.size_bytes / 1e6, 1),
            "quantized_matmuls": report.quantized_matmuls, "quantize_seconds": round(report.seconds, 1),
            "quantize_linear_nodes": report.op_counts.get("QuantizeLinear", 0),
            "dequantize_linear_nodes": report.op_counts.get("DequantizeLinear", 0)}


def explore(fp32_dir: Path, dynamic_dir: Path, work: Path, feeds: list[dict], val: tuple[list[str], list[int]],
            threads: int, seed: int, log, rounds: int = SEARCH_ROUNDS) -> dict:  # noqa: ANN001
    """Every variant on the validation split: macro-F1, size, batch invariance, and speed next to dynamic int8."""
    texts, labels = val
    results: dict[str, dict] = {}
    clfs = {"fp32": compare.load(fp32_dir, threads), "dynamic int8": compare.load(dynamic_dir, threads)}
    for name in ("fp32", "dynamic int8"):
        m, _ = compare.accuracy(clfs[name], texts, labels)
        results[name] = {"val_macro_f1": m["macro_f1"], "val_accuracy": m["accuracy"]}
    for i, (name, options) in enumerate(VARIANTS.items()):
        folder = work / f"variant_{i:02d}"
        log(f"variant {name!r}: {options.describe()}")
        try:
            row = write_bundle(fp32_dir, folder, feeds, options)
        except Exception as exc:  # a knob ORT cannot apply to this graph is a finding, not a failed build
            results[name] = {"options": options.describe(), "error": f"{type(exc).__name__}: {exc}"[:300]}
            log(f"  failed: {results[name]['error']}")
            continue
        clf = compare.load(folder, threads)
        m, _ = compare.accuracy(clf, texts, labels)
        inv = compare.batch_invariance(clf, texts[:300], seed)
        row.update(val_macro_f1=m["macro_f1"], val_accuracy=m["accuracy"], invariance_300=inv,
                   batch_invariant=compare.invariant(inv))
        results[name] = row
        clfs[name] = clf
        log(f"  validation macro-F1 {m['macro_f1']}, {row['size_mb']} MB, batch-invariant {row['batch_invariant']}")
    log(f"speed of every variant, interleaved with dynamic int8 ({rounds} rounds)")
    timed = compare.speed(clfs, texts[:1000], texts[:100], rounds)
    for name, s in timed.items():
        results[name]["speed"] = s
        results[name]["vs_dynamic"] = compare.ratios(timed, name, "dynamic int8")
    return results

#: Why :data:`CHOSEN` (written into the model card under the variants table).
WHY = "(filled in from the measurements)"

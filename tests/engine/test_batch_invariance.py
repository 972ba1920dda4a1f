"""A text's scores do not depend on the other texts in its batch (ARCHITECTURE.md, "Contracts worth keeping").

int8 *dynamic* quantization breaks this: ``DynamicQuantizeLinear`` takes each activation's scale from the whole
batch tensor. The default model is quantized statically (``app/quantize.py``), whose scales are fixed at build time.
"""

from __future__ import annotations

import csv
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from builders import make_bundle

from app.engine import BatchPolicy, Classifier

TOLERANCE = 1e-3  # probability; labels must not change at all


def in_batches_of(clf: Classifier, size: int) -> Classifier:
    """The same session, cutting batches of exactly ``size`` consecutive texts, each padded to its longest."""
    return Classifier(clf.session, clf.encoder, BatchPolicy(max_batch=size, window=size, min_fill=0.0))


def assert_same_scores(name: str, got: np.ndarray, alone: np.ndarray, texts: list[str]) -> None:
    flips = np.flatnonzero(got.argmax(1) != alone.argmax(1))
    diff = np.abs(got - alone).max(axis=1)
    worst = int(diff.argmax())
    assert not len(flips), f"{name}: {len(flips)} of {len(texts)} labels differ from the text scored alone, " \
                           f"e.g. {texts[flips[0]]!r}: {got[flips[0]]} vs {alone[flips[0]]}"
    assert diff[worst] <= TOLERANCE, f"{name}: probabilities move by {diff[worst]:.2e} on {texts[worst]!r}"


@pytest.mark.slow
def test_default_model_scores_a_text_the_same_alone_in_batches_and_through_the_micro_batcher(default_model: Path):
    with (default_model.parents[1] / "samples" / "tweets.csv").open(encoding="utf-8", newline="") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    clf = Classifier.load(default_model, provider="cpu")
    alone = np.concatenate([clf.score([t]).probs for t in texts])

    assert_same_scores("batches of 32", in_batches_of(clf, 32).score(texts).probs, alone, texts)

    clf.stats.reset()
    with clf.batcher(max_wait_ms=20) as batcher, ThreadPoolExecutor(8) as callers:
        served = list(callers.map(lambda t: batcher.predict([t], timeout=120)[0], texts))
    records = clf.stats.snapshot()
    shared = records[records["rows"] > 1]
    assert len(shared), "the concurrent callers never shared a batch, so this checked nothing"
    assert (shared["rows"] * shared["padded_len"] > shared["real_tokens"]).any(), "no batch mixed text lengths"
    probs = np.array([[p.scores[label] for label in clf.labels] for p in served], dtype=np.float32)
    assert_same_scores("micro-batcher", probs, alone, texts)
    card = clf.card()  # and Sieve tells the user so: no batch-dependence note
    assert card.quantization == "int8 (static)" and card.batch_invariant and not card.notes


def test_default_model_is_statically_quantized_with_a_float_residual_stream(default_model: Path) -> None:
    onnx = pytest.importorskip("onnx")
    graph = onnx.load(str(default_model / "model.onnx"), load_external_data=False).graph
    ops = [n.op_type for n in graph.node]
    assert "DynamicQuantizeLinear" not in ops, "the default model is dynamically quantized"
    assert ops.count("QuantizeLinear") >= 24  # 4 per transformer layer: Q/K/V, attention output, FFN in, FFN out
    producer = {out: n for n in graph.node for out in n.output}

    def int8_copy(name: str) -> bool:  # the output of QuantizeLinear -> DequantizeLinear: an activation rounded to int8
        dq = producer.get(name)
        return dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] in producer \
            and producer[dq.input[0]].op_type == "QuantizeLinear"

    readers = {n.op_type for n in graph.node if any(int8_copy(i) for i in n.input)}
    assert readers == {"MatMul"}, f"int8 round trips are read by {readers - {'MatMul'}} too"


# ------------------------------------------------------------------------------------ engine level, tiny models
CALIBRATION = ["i love this great movie", "awful terrible day", "the weather today", "not good", "so happy",
               "i hate this boring movie so much", "it was okay", "the best day ever and so happy", "bad", "fine"]
TARGET = "i love this great movie so much it was wonderful and the best day ever"
MATES = ["awful", "hate", "terrible", "worst", "sad angry"]  # one word each: a wider activation range than TARGET's


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("onnx")
    from app.export import quantize_int8
    from app.quantize import StaticInt8, calibration_feeds, quantize_static_int8

    root = tmp_path_factory.mktemp("quant")
    fp32, _, _ = make_bundle(root / "fp32", hidden=32, seed=3)
    out = {"fp32": fp32}
    for name in ("dynamic", "static"):
        shutil.copytree(fp32, root / name)
        out[name] = root / name
    quantize_int8(fp32 / "model.onnx", out["dynamic"] / "model.onnx")
    feeds = calibration_feeds(fp32 / "model.onnx", fp32 / "tokenizer.json", CALIBRATION + MATES + [TARGET])
    report = quantize_static_int8(fp32 / "model.onnx", out["static"] / "model.onnx", feeds, StaticInt8())
    assert report.quantized_matmuls == 1 and report.op_counts.get("QuantizeLinear") == 1
    assert "DynamicQuantizeLinear" not in report.op_counts
    return out


def target_scores(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """TARGET's probabilities alone, and in one padded batch with MATES."""
    clf = Classifier.load(folder, provider="cpu")
    together = in_batches_of(clf, 1 + len(MATES)).score([TARGET, *MATES])
    return clf.score([TARGET]).probs[0], together.probs[0]


def test_dynamic_int8_scores_move_with_batch_mates(quantized: dict[str, Path]) -> None:
    alone, together = target_scores(quantized["dynamic"])
    assert np.abs(alone - together).max() > 1e-4  # the defect static quantization removes
    card = Classifier.load(quantized["dynamic"], provider="cpu").card()
    assert card.quantization == "int8 (dynamic)" and not card.batch_invariant


def test_static_int8_scores_do_not_move_with_batch_mates(quantized: dict[str, Path]) -> None:
    alone, together = target_scores(quantized["static"])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
    card = Classifier.load(quantized["static"], provider="cpu").card()
    assert card.quantization == "int8 (static)" and card.batch_invariant and not card.notes
    fp32_alone, _ = target_scores(quantized["fp32"])
    assert np.abs(alone - fp32_alone).max() < 0.05  # and it is still the same model, give or take int8 rounding


def test_calibration_feeds_are_one_unpadded_text_each(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from app.quantize import calibration_feeds

    folder, _, _ = make_bundle(tmp_path / "m", inputs=("input_ids", "attention_mask", "token_type_ids"))
    feeds = calibration_feeds(folder / "model.onnx", folder / "tokenizer.json", ["so happy", "a b c d e f"])
    assert [f["input_ids"].shape for f in feeds] == [(1, 4), (1, 8)]
    assert all(set(f) == {"input_ids", "attention_mask", "token_type_ids"} for f in feeds)
    assert all(f["attention_mask"].all() for f in feeds)


def test_static_quantization_packs_shared_projections_and_leaves_other_readers_float(tmp_path: Path) -> None:
    """Three projections of one tensor become one int8 MatMul; the tensor's other reader still gets exact floats."""
    onnx = pytest.importorskip("onnx")
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from app.quantize import StaticInt8, quantize_static_int8

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(8,)).astype(np.float32), "shift")]
    nodes = [helper.make_node("Add", ["x", "shift"], ["h"], name="shift")]
    for p in "qkv":
        inits += [numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), f"W{p}"),
                  numpy_helper.from_array(rng.normal(size=(4,)).astype(np.float32), f"b{p}")]
        nodes += [helper.make_node("MatMul", ["h", f"W{p}"], [f"{p}0"], name=f"mm_{p}"),
                  helper.make_node("Add", [f"b{p}", f"{p}0"], [p], name=f"bias_{p}")]  # bias first, as torch writes
    nodes += [helper.make_node("Concat", ["q", "k", "v"], ["y"], name="concat", axis=-1),
              helper.make_node("Relu", ["h"], ["r"], name="relu")]
    graph = helper.make_graph(nodes, "projections", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 12]),
                               helper.make_tensor_value_info("r", TensorProto.FLOAT, ["n", 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, str(tmp_path / "fp32.onnx"))
    calibration = [{"x": rng.normal(size=(1, 8)).astype(np.float32)} for _ in range(50)]
    report = quantize_static_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", calibration, StaticInt8())

    assert report.quantized_matmuls == 1 and report.op_counts["MatMul"] == 1 and report.op_counts["Split"] == 1
    quantized = onnx.load(str(tmp_path / "int8.onnx")).graph
    producer = {out: n.op_type for n in quantized.node for out in n.output}
    relu = next(n for n in quantized.node if n.op_type == "Relu")
    assert producer[relu.input[0]] == "Add"  # the float tensor, not its int8 round trip
    x = rng.normal(size=(16, 8)).astype(np.float32)
    want = ort.InferenceSession(str(tmp_path / "fp32.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    got = ort.InferenceSession(str(tmp_path / "int8.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], atol=0.1)  # int8 rounding, not another function
    assert not np.array_equal(got[0], want[0])  # and the projections really run in int8

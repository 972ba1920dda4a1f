"""Static (calibrated) int8 quantization of an exported text classifier: scores that do not depend on batch-mates.

ONNX Runtime offers two int8 schemes. **Dynamic** quantization (``quantize_dynamic``, what ``sieve export
--quantize int8`` writes) computes each activation's scale at run time, with ``DynamicQuantizeLinear``, from the
minimum and maximum of the *whole batch* tensor: a text's scores then move with the other texts in its batch (and
with the padding they bring). **Static** quantization fixes every activation's scale at build time from
calibration texts, so the int8 arithmetic a text goes through is the same whatever runs next to it. That is the
scheme here, built with ``onnxruntime.quantization.quantize_static`` and these choices of Sieve's own:

- only the MatMuls and Gemms whose weights are constant (the Q/K/V, attention-output, feed-forward, pooler and
  classifier projections) get int8 inputs by default; the activation × activation MatMuls of attention can be
  included (``attention``);
- **float bypass**: ONNX Runtime's QDQ pass hands every reader of a quantized tensor the int8 round trip
  (``QuantizeLinear`` → ``DequantizeLinear``), so the residual stream after each LayerNorm would be rounded to
  int8 too. Only the quantized MatMuls need it; every other reader is given the float tensor back. This keeps
  the residual stream in float, as dynamic quantization does, and saves the extra ``DequantizeLinear`` work;
- the embedding tables are stored as int8 and gathered rows are dequantized (weight-only, no activation scale at
  all), which takes the file from ~60 MB to ~23 MB without touching batch invariance;
- fewer kernels, the same arithmetic: the Q, K and V projections of one input are packed into one MatMul
  (``pack_projections``), and biases are written as the second operand of their ``Add``, the order in which ONNX
  Runtime folds them into ``SkipLayerNormalization``. Dynamic quantization gets its bias adds folded into
  ``DynamicQuantizeMatMul`` at load time; without these two rewrites the static model runs about two dozen more
  small kernels per run (MiniLM: 24), which shows at batch size 1.

Calibration runs each text **alone** (batch of one, no padding), so the ranges are those of real tokens.
``onnxruntime.quantization`` needs the ``onnx`` package; both are imported only when a function here is called.
"""

from __future__ import annotations

import collections
import contextlib
import io
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .engine.encoding import TextEncoder
from .export import EXPORT_IR_VERSION

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class StaticInt8:
    """The knobs of static int8 quantization (see the module docstring for what each one does)."""

    calibration: str = "minmax"  # how activation ranges are taken from the calibration texts
    percentile: float = 99.999  # for calibration="percentile"
    per_channel: bool = True  # one weight scale per output column instead of one per matrix
    symmetric_activations: bool = False  # activation ranges symmetric around 0 (zero point 128)
    reduce_range: bool = False  # 7-bit weights (avoids int16 saturation on x86 CPUs without VNNI)
    attention: bool = False  # also quantize the activation x activation MatMuls (Q·Kᵀ, softmax·V)
    gemm: bool = True  # also the Gemm layers with constant weights (a BERT's pooler and classifier head)
    float_bypass: bool = True  # only quantized MatMuls read the int8 round trip; the residual stream stays float
    pack_projections: bool = True  # Q, K and V projections of one input as one MatMul (fewer, larger kernels)
    embeddings: bool = True  # int8 embedding tables, dequantized after the gather (weight-only)
    qdq: bool = True  # QDQ format (QuantizeLinear/DequantizeLinear around float ops) rather than QOperator

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATION_METHODS:
            raise ValueError(f"calibration must be one of {', '.join(CALIBRATION_METHODS)}, not {self.calibration!r}")

    def describe(self) -> str:
        default = StaticInt8()
        changed = [f"{k}={v}" for k, v in asdict(self).items() if v != getattr(default, k)]
        return ", ".join(changed) or "defaults"


@dataclass
class StaticInt8Report:
    """What :func:`quantize_static_int8` wrote."""

    options: StaticInt8
    calibration_texts: int
    size_bytes: int
    quantized_matmuls: int
    op_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def calibration_feeds(model_path: Path, tokenizer_path: Path, texts: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """One feed per text, each text alone (no padding), for the inputs ``model_path`` declares."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    names = [i.name for i in graph.input if i.name not in inits]
    unknown = [n for n in names if n not in TEXT_INPUTS]
    if unknown:
        raise ValueError(f"cannot build calibration feeds for input(s) {unknown}; expected {TEXT_INPUTS}")
    encoder = TextEncoder.from_file(tokenizer_path)
    encoded = encoder.encode(list(texts), with_type_ids="token_type_ids" in names)
    feeds = []
    for i in range(len(encoded)):
        start, n = int(encoded.offsets[i]), int(encoded.lengths[i])
        ids = encoded.ids[start : start + n][None, :].astype(np.int64)
        arrays = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if encoded.type_ids is not None:
            arrays["token_type_ids"] = encoded.type_ids[start : start + n][None, :].astype(np.int64)
        feeds.append({name: arrays[name] for name in names})
    return feeds


def quantize_static_int8(
    src: str | Path,
    dst: str | Path,
    feeds: Iterable[dict[str, np.ndarray]],
    options: StaticInt8 | None = None,
) -> StaticInt8Report:
    """Quantize the float model ``src`` to ``dst`` with static int8 scales calibrated on ``feeds``.

    ``feeds`` are model inputs, one text per feed (see :func:`calibration_feeds`). The result is checked: it must
    hold no ``DynamicQuantizeLinear`` (the batch-dependent operator) and pass ``onnx.checker``.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    opts = options or StaticInt8()
    t0 = time.perf_counter()
    src, dst = Path(src), Path(dst)
    items = list(feeds)
    if not items:
        raise ValueError("static quantization needs at least one calibration text")

    class _Reader(CalibrationDataReader):
        """The calibration feeds, served in ranges: texts have different lengths, and the histogram calibrators
        (percentile, entropy) stack one range's tensors into one array, so each range is one text."""

        def __init__(self) -> None:
            self.set_range(0, len(items))

        def __len__(self) -> int:
            return len(items)

        def set_range(self, start_index: int, end_index: int) -> None:
            self._it = iter(items[start_index:end_index])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    with tempfile.TemporaryDirectory(prefix="sieve-quant-") as tmp:
        rewritten, prepared = Path(tmp) / "rewritten.onnx", Path(tmp) / "prepared.onnx"
        model = onnx.load(str(src))
        for i, node in enumerate(model.graph.node):  # the quantizer selects nodes by name; some graphs have none
            node.name = node.name or f"{node.op_type}_{i}"
        _bias_second(model)
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        if opts.pack_projections and opset >= 13:  # Split takes its sizes as an input from opset 13
            _pack_projections(model)
        onnx.save(model, str(rewritten))
        # ORT's recommended preparation (its optimiser and ONNX shape inference); its symbolic shape inference
        # does not complete on torch's BERT export and is not needed for MatMul-only quantization.
        quant_pre_process(str(rewritten), str(prepared), skip_symbolic_shape=True)
        model = onnx.load(str(prepared))
        graph = model.graph
        inits = {i.name for i in graph.initializer}
        op_types = ["MatMul", "Gemm"] if opts.gemm else ["MatMul"]
        matmuls = [n.name for n in graph.node if n.op_type in op_types
                   and (n.input[1] in inits or (opts.attention and n.op_type == "MatMul"))]
        extra = {
            "OpTypesToExcludeOutputQuantization": op_types,  # outputs go on in float (bias, residual, softmax)
            "ActivationSymmetric": opts.symmetric_activations,
            "CalibPercentile": opts.percentile,
            "MatMulConstBOnly": not opts.attention,  # honoured by the QOperator format; QDQ uses the node list
            "CalibStridedMinMax": 1,  # one text per calibration pass (any method, despite the name): see _Reader
        }
        quantized = Path(tmp) / "static.onnx"
        with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print on every pass
            quantize_static(
                str(prepared), str(quantized), _Reader(),
                quant_format=QuantFormat.QDQ if opts.qdq else QuantFormat.QOperator,
                op_types_to_quantize=op_types, nodes_to_quantize=matmuls,
                per_channel=opts.per_channel, reduce_range=opts.reduce_range,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method={"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                                  "entropy": CalibrationMethod.Entropy}[opts.calibration],
                extra_options=extra,
            )
        model = onnx.load(str(quantized))
        if opts.float_bypass and opts.qdq:
            _float_bypass(model, set(matmuls))
        if opts.embeddings:
            onnx.save(model, str(quantized))
            # Weight-only: the table is stored int8 and each gathered row is dequantized with the table's own fixed
            # scale. quantize_dynamic restricted to Gather adds no DynamicQuantizeLinear (checked below).
            quantize_dynamic(str(quantized), str(quantized), op_types_to_quantize=["Gather"],
                             weight_type=QuantType.QInt8)
            model = onnx.load(str(quantized))
    ops = collections.Counter(n.op_type for n in model.graph.node)
    if ops.get("DynamicQuantizeLinear"):
        raise RuntimeError("static quantization produced DynamicQuantizeLinear nodes; the result would vary by batch")
    model.ir_version = min(model.ir_version, EXPORT_IR_VERSION)
    onnx.checker.check_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return StaticInt8Report(
        options=opts, calibration_texts=len(items), size_bytes=dst.stat().st_size,
        quantized_matmuls=len(matmuls), op_counts=dict(ops.most_common()), seconds=time.perf_counter() - t0,
    )


def _float_bypass(model, quantized_nodes: set[str]) -> int:  # noqa: ANN001 - onnx.ModelProto
    """Give every reader of a quantize → dequantize round trip other than ``quantized_nodes`` the float tensor.

    Returns how many inputs were rewired; the round trips nobody reads any more are removed.
    """
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    inits = {i.name for i in graph.initializer}
    moved = 0
    for node in graph.node:
        if node.name in quantized_nodes:
            continue
        for k, name in enumerate(node.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] in inits:
                continue
            q = producer.get(dq.input[0])
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[k] = q.input[0]
                moved += 1
    while True:  # drop DequantizeLinear, then QuantizeLinear, nodes whose outputs nobody reads
        read = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node
                if n.op_type in ("DequantizeLinear", "QuantizeLinear") and not any(o in read for o in n.output)]
        if not dead:
            return moved
        for n in dead:
            graph.node.remove(n)


def _bias_second(model) -> int:  # noqa: ANN001 - onnx.ModelProto
    """Write ``Add(bias, x)`` as ``Add(x, bias)`` (same sum): ONNX Runtime folds a bias into the following
    SkipLayerNormalization only in that order, and the torch export writes the other."""
    consts = {i.name for i in model.graph.initializer if len(i.dims) == 1}
    swapped = 0
    for node in model.graph.node:
        if node.op_type == "Add" and len(node.input) == 2 and node.input[0] in consts and node.input[1] not in consts:
            node.input[0], node.input[1] = node.input[1], node.input[0]
            swapped += 1
    return swapped


def _pack_projections(model) -> int:  # noqa: ANN001 - onnx.ModelProto
    """Fuse MatMuls that read the same tensor, each with constant weights and a bias ``Add`` (an attention layer's
    Q, K and V projections), into one MatMul, one bias ``Add`` and a ``Split``: the same products, in fewer and
    larger kernels (one GEMM, one activation quantization, one bias add per layer instead of three).

    Returns how many groups were packed.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    readers: dict[str, list] = collections.defaultdict(list)
    for node in graph.node:
        for name in node.input:
            readers[name].append(node)
    groups: dict[str, list] = collections.defaultdict(list)
    for node in graph.node:
        w = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if w is None or len(w.dims) != 2 or len(readers[node.output[0]]) != 1:
            continue
        add = readers[node.output[0]][0]
        bias = [i for i in add.input if i != node.output[0]]
        if add.op_type == "Add" and len(bias) == 1 and bias[0] in weights and len(weights[bias[0]].dims) == 1:
            groups[node.input[0]].append((node, add, bias[0]))
    packed = 0
    for source, members in groups.items():
        if len(members) < 2 or len({tuple(weights[m.input[1]].dims[:1]) for m, _, _ in members}) != 1:
            continue
        mats = [numpy_helper.to_array(weights[m.input[1]]) for m, _, _ in members]
        biases = [numpy_helper.to_array(weights[b]) for _, _, b in members]
        name = f"{members[0][0].name}_packed"
        graph.initializer.extend([
            numpy_helper.from_array(np.concatenate(mats, axis=1), f"{name}.weight"),
            numpy_helper.from_array(np.concatenate(biases), f"{name}.bias"),
            numpy_helper.from_array(np.array([m.shape[1] for m in mats], dtype=np.int64), f"{name}.sizes"),
        ])
        at = list(graph.node).index(members[0][0])
        for matmul, add, _ in members:
            graph.node.remove(matmul)
            graph.node.remove(add)
        for k, node in enumerate([
            helper.make_node("MatMul", [source, f"{name}.weight"], [f"{name}_out"], name=name),
            helper.make_node("Add", [f"{name}_out", f"{name}.bias"], [f"{name}_biased"], name=f"{name}_bias"),
            helper.make_node("Split", [f"{name}_biased", f"{name}.sizes"], [a.output[0] for _, a, _ in members],
                             name=f"{name}_split", axis=-1),
        ]):
            graph.node.insert(at + k, node)
        packed += 1
    used = {i for n in graph.node for i in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    return packed

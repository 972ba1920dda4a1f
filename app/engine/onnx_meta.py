"""Read an ONNX file's header facts (IR version, opsets, producer, external data, embedding and position table
sizes) without running it.

ONNX files are protocol buffers. This walks the wire format directly, skipping weight bytes, so it is cheap on a
large model and needs no ``onnx`` package at run time. Only the few ``ModelProto`` fields Sieve reports are read.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModelError

# Field numbers from onnx.proto (stable since IR version 3).
_MODEL_IR_VERSION, _MODEL_OPSET, _MODEL_PRODUCER, _MODEL_PRODUCER_VERSION, _MODEL_GRAPH = 1, 8, 2, 3, 7
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT = 1, 5, 11
_VALUE_INFO_NAME = 1
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP_TYPE, _NODE_ATTRIBUTE, _NODE_DOMAIN = 1, 2, 4, 5, 7
_ATTR_NAME, _ATTR_INT = 1, 3
_TENSOR_DIMS, _TENSOR_DATA_TYPE, _TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 1, 2, 8, 13, 14
_FLOAT16, _BFLOAT16 = 10, 16  # TensorProto.DataType
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2
_EXTERNAL = 1


@dataclass(frozen=True)
class OnnxFacts:
    ir_version: int | None = None
    opsets: dict[str, int] = field(default_factory=dict)
    producer: str = ""
    node_domains: frozenset[str] = frozenset()
    external_data: tuple[tuple[str, str], ...] = ()  # (tensor name, location relative to the model)
    # Rows of the token-embedding table (a Gather of an initializer by ``input_ids``); None when not found.
    embedding_rows: int | None = None
    op_types: frozenset[str] = frozenset()  # every node's op_type, main graph only
    half_initializers: int = 0  # float16/bfloat16 weight tensors
    # Rows of the position-embedding table (a Gather of an initializer named like ``position_embeddings``, or the
    # position input of a fused EmbedLayerNormalization): the most tokens the model reads; None when not found.
    position_rows: int | None = None
    input_names: tuple[str, ...] = ()  # the main graph's inputs (with initializers, in files older than IR 4)

    @property
    def opset(self) -> int | None:
        return self.opsets.get("") or self.opsets.get("ai.onnx")

    @property
    def dynamic_quantization(self) -> bool:
        """Activations are quantized with a scale computed per run, so a text's scores depend on its batch-mates."""
        return bool(self.op_types & _DYNAMIC_QUANT_OPS)

    @property
    def quantization(self) -> str:
        """How the weights are stored, in words: ``fp32``, ``fp16``, ``int8 (dynamic)`` or ``int8 (static)``."""
        if self.dynamic_quantization:
            return "int8 (dynamic)"
        if self.op_types & _STATIC_QUANT_OPS:
            return "int8 (static)"
        if self.op_types & _WEIGHT_ONLY_OPS:
            return "weight-only int"
        return "fp16" if self.half_initializers else "fp32"


# DynamicQuantizeLinear computes an activation scale per run; DynamicQuantizeMatMul (ORT's fused form) too.
_DYNAMIC_QUANT_OPS = frozenset({"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM"})
_STATIC_QUANT_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearMatMul", "QLinearConv", "QLinearAdd",
                               "QGemm", "QAttention"})
_WEIGHT_ONLY_OPS = frozenset({"MatMulNBits", "GatherBlockQuantized"})


class _Malformed(Exception):
    pass


def _varint(buf: memoryview | bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Malformed
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview | bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field number, wire type, value or payload start, payload end)`` for one message."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value, pos
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise _Malformed
            yield number, wire, pos, pos + length
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise _Malformed
        if pos > end:
            raise _Malformed


def _text(buf: memoryview | bytes, start: int, end: int) -> str:
    return bytes(buf[start:end]).decode("utf-8", errors="replace")


def read_facts(path: str | Path) -> OnnxFacts:
    """Parse the header facts of ``path``; raise :class:`ModelError` if it is not an ONNX protobuf."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise ModelError(f"{path.name} is empty (0 bytes)", "Export the model again, or copy the complete file")
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        buf = memoryview(mm)
        try:
            return _parse_model(buf, size)
        except _Malformed:
            raise ModelError(
                f"{path.name} is not a readable ONNX model (the file is damaged, truncated, or not ONNX at all)",
                "Export the model again, or copy the complete file",
            ) from None
        finally:
            buf.release()


def _parse_model(buf: memoryview, size: int) -> OnnxFacts:
    ir_version = None
    opsets: dict[str, int] = {}
    producer = ""
    domains: set[str] = set()
    op_types: set[str] = set()
    half = [0]
    graph_inputs: list[str] = []
    external: list[tuple[str, str]] = []
    graph = _Tables()
    saw_graph = False
    for number, wire, a, b in _fields(buf, 0, size):
        if number == _MODEL_IR_VERSION and wire == 0:
            ir_version = a
        elif number == _MODEL_OPSET and wire == 2:
            domain, version = "", 0
            for n, w, x, y in _fields(buf, a, b):
                if n == _OPSET_DOMAIN and w == 2:
                    domain = _text(buf, x, y)
                elif n == _OPSET_VERSION and w == 0:
                    version = x
            opsets[domain] = version
        elif number == _MODEL_PRODUCER and wire == 2:
            producer = _text(buf, a, b)
        elif number == _MODEL_PRODUCER_VERSION and wire == 2 and producer:
            producer = f"{producer} {_text(buf, a, b)}"
        elif number == _MODEL_GRAPH and wire == 2:
            saw_graph = True
            _scan_graph(buf, a, b, domains, external, graph, op_types, half, graph_inputs)
    if ir_version is None or not saw_graph:
        raise _Malformed
    return OnnxFacts(ir_version, opsets, producer, frozenset(domains), tuple(external), graph.rows(graph.embeddings),
                     frozenset(op_types), half[0], graph.rows(graph.positions), tuple(graph_inputs))


class _Tables:
    """Embedding tables seen while scanning a graph: which tensors are looked up, and initializers' first sizes."""

    def __init__(self) -> None:
        self.embeddings: list[str] = []  # tensors a Gather indexes with input_ids
        self.positions: list[str] = []  # position tables
        self.first_dims: dict[str, int] = {}  # 2-D initializer name -> its first dimension
        self.dequantized: dict[str, str] = {}  # DequantizeLinear output -> its quantized input (static int8)

    def source(self, name: str) -> str:
        for _ in range(4):
            name = self.dequantized.get(name, name)
        return name

    def rows(self, tensors: list[str]) -> int | None:
        rows = [self.first_dims[t] for t in map(self.source, tensors) if self.first_dims.get(t)]
        return min(rows) if rows else None


def _scan_graph(buf: memoryview, start: int, end: int, domains: set[str], external: list[tuple[str, str]],
                graph: _Tables, op_types: set[str], half: list[int], graph_inputs: list[str]) -> None:
    for number, wire, a, b in _fields(buf, start, end):
        if wire != 2:
            continue
        if number == _GRAPH_INPUT:
            graph_inputs.extend(_text(buf, x, y) for n, w, x, y in _fields(buf, a, b)
                                if n == _VALUE_INFO_NAME and w == 2)
        elif number == _GRAPH_NODE:
            op_type, inputs, outputs, axis = "", [], [], 0
            for n, w, x, y in _fields(buf, a, b):
                if n == _NODE_DOMAIN and w == 2:
                    domains.add(_text(buf, x, y))
                elif n == _NODE_OP_TYPE and w == 2:
                    op_type = _text(buf, x, y)
                elif n == _NODE_INPUT and w == 2:
                    inputs.append(_text(buf, x, y))
                elif n == _NODE_OUTPUT and w == 2:
                    outputs.append(_text(buf, x, y))
                elif n == _NODE_ATTRIBUTE and w == 2:
                    attr = {k: (kx, ky) for k, kw, kx, ky in _fields(buf, x, y) if kw in (0, 2)}
                    if _ATTR_NAME in attr and _text(buf, *attr[_ATTR_NAME]) == "axis":
                        axis = attr.get(_ATTR_INT, (0, 0))[0]
            op_types.add(op_type)
            if op_type == "Gather" and axis == 0 and len(inputs) == 2:
                if inputs[1] == "input_ids":
                    graph.embeddings.append(inputs[0])
                elif "position" in inputs[0].lower():
                    graph.positions.append(inputs[0])
            elif op_type == "DequantizeLinear" and inputs and outputs:
                graph.dequantized[outputs[0]] = inputs[0]
                if "position" in inputs[0].lower():  # a QDQ graph gathers from the dequantized table's output
                    graph.positions.append(outputs[0])
            elif op_type == "EmbedLayerNormalization" and len(inputs) > 3:  # ORT's fused BERT embeddings
                graph.embeddings.append(inputs[2])
                graph.positions.append(inputs[3])
        elif number == _GRAPH_INITIALIZER:
            name, location, is_external, dims = "", "", False, []
            for n, w, x, y in _fields(buf, a, b):
                if n == _TENSOR_DIMS and w == 0:
                    dims.append(x)
                elif n == _TENSOR_DIMS and w == 2:
                    pos = x
                    while pos < y:
                        dim, pos = _varint(buf, pos, y)
                        dims.append(dim)
                elif n == _TENSOR_DATA_TYPE and w == 0 and x in (_FLOAT16, _BFLOAT16):
                    half[0] += 1
                elif n == _TENSOR_NAME and w == 2:
                    name = _text(buf, x, y)
                elif n == _TENSOR_DATA_LOCATION and w == 0:
                    is_external = x == _EXTERNAL
                elif n == _TENSOR_EXTERNAL_DATA and w == 2:
                    key = value = ""
                    for k, kw, kx, ky in _fields(buf, x, y):
                        if k == _ENTRY_KEY and kw == 2:
                            key = _text(buf, kx, ky)
                        elif k == _ENTRY_VALUE and kw == 2:
                            value = _text(buf, kx, ky)
                    if key == "location":
                        location = value
            if is_external or location:
                external.append((name, location))
            if len(dims) == 2:  # a lookup table is [rows, width]; a [1, 512] id buffer is not one
                graph.first_dims[name] = dims[0]


def check_external_data(model_path: Path, facts: OnnxFacts) -> None:
    """Refuse external-data locations that point outside the model's folder (absolute, ``..``, or links out)."""
    root = model_path.parent.resolve()
    for tensor, location in facts.external_data:
        target = (root / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(root):
            raise ModelError(
                f"{model_path.name} asks to read weights for {tensor!r} from {location!r}, outside the model's folder",
                "Sieve only reads external data stored next to the model; re-export with the data file beside it",
            )

"""Build small real ONNX text classifiers and real ``tokenizers`` tokenizers for the tests.

The classifier is a bag-of-embeddings model: ``logits = mean(E[ids] (+ T[type_ids]) (+ P[position]) over real
tokens) @ W + b``.
Its output does not depend on padding, and :func:`reference_logits` computes the same thing in numpy, so tests can
check Sieve's results against an independent calculation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
WORDS = ["i", "love", "this", "great", "movie", "so", "much", "it", "was", "wonderful", "and", "happy", "the", "best", "day", "ever", "hate", "awful", "terrible", "bad", "boring", "worst", "sad", "angry", "not", "good", "fine", "okay", "neutral", "table", "chair", "weather", "today", "a", "an", "of", "to", "in", "is", "was", "on", "for", "with", "that", "at", "by", "from"]
ORT_IR_VERSION = 10  # onnx 1.23 writes IR 14 by default; onnxruntime 1.31 reads up to 11


def make_tokenizer(
    path: Path,
    words: Sequence[str] = WORDS,
    *,
    max_length: int | None = None,
    fixed_padding: int | None = None,
) -> Tokenizer:
    """A lower-casing word-level tokenizer with ``[CLS] text [SEP]``, saved to ``path`` (tokenizer.json)."""
    vocab = {tok: i for i, tok in enumerate([*SPECIALS, *dict.fromkeys(words)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    if max_length:
        tok.enable_truncation(max_length)
    if fixed_padding:
        tok.enable_padding(length=fixed_padding, pad_id=0, pad_token="[PAD]")
    tok.save(str(path))
    return tok


@dataclass
class Weights:
    embed: np.ndarray  # [vocab, hidden]
    types: np.ndarray | None  # [2, hidden]
    proj: np.ndarray  # [hidden, labels]
    bias: np.ndarray  # [labels]
    pad_id: int = 0
    positions: np.ndarray | None = None  # [max positions, hidden]


def make_classifier(
    path: Path,
    vocab_size: int,
    *,
    num_labels: int = 3,
    hidden: int = 8,
    inputs: Sequence[str] = ("input_ids", "attention_mask"),
    int32: bool = False,
    fixed_length: int | None = None,
    fixed_batch: int | None = None,
    output_name: str = "logits",
    output_width: int | None = None,
    seed: int = 0,
    ir_version: int = ORT_IR_VERSION,
    positions: int | None = None,
    position_table: str = "bert.embeddings.position_embeddings.weight",
) -> Weights:
    """Write a bag-of-embeddings classifier to ``path``; return its weights for :func:`reference_logits`.

    ``positions`` adds a position-embedding table of that many rows (named ``position_table``), looked up with
    ``Range(0, sequence_length)`` as BERT exports do: longer batches fail inside onnxruntime.
    """
    rng = np.random.default_rng(seed)
    width = output_width or num_labels
    w = Weights(
        embed=rng.normal(size=(vocab_size, hidden)).astype(np.float32),
        types=rng.normal(size=(2, hidden)).astype(np.float32) if "token_type_ids" in inputs else None,
        proj=rng.normal(size=(hidden, width)).astype(np.float32),
        bias=rng.normal(size=(width,)).astype(np.float32),
    )
    itype = TensorProto.INT32 if int32 else TensorProto.INT64
    shape = [fixed_batch or "batch_size", fixed_length or "sequence_length"]
    graph_inputs = [helper.make_tensor_value_info(name, itype, shape) for name in inputs]
    inits = [
        numpy_helper.from_array(w.embed, "E"),
        numpy_helper.from_array(w.proj, "W"),
        numpy_helper.from_array(w.bias, "b"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(np.array(w.pad_id, dtype=np.int32 if int32 else np.int64), "pad"),
    ]
    nodes = [helper.make_node("Gather", ["E", "input_ids"], ["emb0"], axis=0)]
    emb = "emb0"
    if positions:
        w.positions = rng.normal(size=(positions, hidden)).astype(np.float32)
        inits += [numpy_helper.from_array(w.positions, position_table),
                  numpy_helper.from_array(np.array(1, dtype=np.int64), "dim1"),
                  numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
                  numpy_helper.from_array(np.array(1, dtype=np.int64), "step")]
        nodes += [
            helper.make_node("Shape", ["input_ids"], ["ids_shape"]),
            helper.make_node("Gather", ["ids_shape", "dim1"], ["seq_len"], axis=0),
            helper.make_node("Range", ["zero", "seq_len", "step"], ["position_ids"]),
            helper.make_node("Gather", [position_table, "position_ids"], ["pemb"], axis=0),
            helper.make_node("Add", [emb, "pemb"], ["emb_pos"]),
        ]
        emb = "emb_pos"
    if w.types is not None:
        inits.append(numpy_helper.from_array(w.types, "T"))
        nodes += [
            helper.make_node("Gather", ["T", "token_type_ids"], ["temb"], axis=0),
            helper.make_node("Add", [emb, "temb"], ["emb1"]),
        ]
        emb = "emb1"
    if "attention_mask" in inputs:
        nodes.append(helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT))
    else:  # no mask input: real tokens are the ones that are not padding
        nodes += [
            helper.make_node("Equal", ["input_ids", "pad"], ["is_pad"]),
            helper.make_node("Not", ["is_pad"], ["is_real"]),
            helper.make_node("Cast", ["is_real"], ["maskf"], to=TensorProto.FLOAT),
        ]
    nodes += [
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
        helper.make_node("Mul", [emb, "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count0"], keepdims=0),
        helper.make_node("Max", ["count0", "one"], ["count"]),
        helper.make_node("Div", ["summed", "count"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "W"], ["proj"]),
        helper.make_node("Add", ["proj", "b"], [output_name]),
    ]
    out = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [shape[0], width])
    graph = helper.make_graph(nodes, "tiny_classifier", graph_inputs, [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="sieve-tests")
    model.ir_version = ir_version
    if ir_version <= onnx.IR_VERSION:
        onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return w


def reference_logits(w: Weights, ids: Sequence[Sequence[int]], type_ids: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """The classifier's logits for unpadded token id lists, computed in numpy (float64)."""
    rows = []
    for i, seq in enumerate(ids):
        e = w.embed[np.asarray(seq)].astype(np.float64)
        if w.positions is not None:
            e = e + w.positions[: len(seq)]
        if w.types is not None:
            t = np.asarray(type_ids[i]) if type_ids is not None else np.zeros(len(seq), dtype=np.int64)
            e = e + w.types[t]
        rows.append(e.mean(axis=0) @ w.proj + w.bias)
    return np.array(rows)


def make_embedding_model(path: Path, vocab_size: int, *, rank: int = 3, hidden: int = 384) -> None:
    """A model whose output is a hidden state (``[batch, seq, hidden]`` or pooled ``[batch, hidden]``)."""
    rng = np.random.default_rng(1)
    embed = numpy_helper.from_array(rng.normal(size=(vocab_size, hidden)).astype(np.float32), "E")
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])
    nodes = [helper.make_node("Gather", ["E", "input_ids"], ["hidden" if rank == 3 else "h3"], axis=0)]
    inits = [embed]
    if rank == 2:
        inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"))
        nodes.append(helper.make_node("ReduceMean", ["h3", "axis1"], ["sentence_embedding"], keepdims=0))
        out = helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])
    else:
        out = helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", hidden])
    graph = helper.make_graph(nodes, "embedder", [ids, mask], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = ORT_IR_VERSION
    onnx.save(model, str(path))


def make_bundle(
    root: Path,
    *,
    labels: Sequence[str] | None = ("negative", "neutral", "positive"),
    problem_type: str | None = None,
    tokenizer_kwargs: dict | None = None,
    **model_kwargs,
) -> tuple[Path, Weights, Tokenizer]:
    """A complete model folder: model.onnx + tokenizer.json (+ config.json when ``labels``)."""
    root.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(root / "tokenizer.json", **(tokenizer_kwargs or {}))
    num_labels = len(labels) if labels else model_kwargs.pop("num_labels", 3)
    weights = make_classifier(root / "model.onnx", tok.get_vocab_size(), num_labels=num_labels, **model_kwargs)
    if labels:
        config = {"id2label": {str(i): lab for i, lab in enumerate(labels)}}
        if problem_type:
            config["problem_type"] = problem_type
        (root / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return root, weights, tok


def token_ids(tok: Tokenizer, texts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
    """Reference tokenization: a fresh tokenizer with no padding, optional truncation."""
    fresh = Tokenizer.from_str(tok.to_str())
    fresh.no_padding()
    if max_length:
        fresh.enable_truncation(max_length)
    return [e.ids for e in fresh.encode_batch(list(texts))]


def _append_side_branch(path: Path, output_name: str, nodes: list, inits: list) -> None:
    """Rewire ``output_name`` = old output + ``side`` (a [batch, 1] or scalar tensor the new nodes compute)."""
    model = onnx.load(str(path))
    graph = model.graph
    for node in graph.node:
        for i, out in enumerate(node.output):
            if out == output_name:
                node.output[i] = "logits_before_side"
    graph.node.extend([*nodes, helper.make_node("Add", ["logits_before_side", "side"], [output_name])])
    graph.initializer.extend(inits)
    onnx.save(model, str(path))


def make_poisoned_bundle(root: Path, poison: str = "poison", **kwargs) -> tuple[Path, Weights, Tokenizer]:
    """A classifier that fails (ORT: index out of bounds) on any batch holding the word ``poison``.

    Other texts score exactly as :func:`reference_logits` says: the side branch adds 0 for them.
    """
    root.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(root / "tokenizer.json", [*WORDS, poison])
    vocab = tok.get_vocab_size()
    weights = make_classifier(root / "model.onnx", vocab, **kwargs)
    (root / "config.json").write_text(json.dumps({"id2label": {"0": "negative", "1": "neutral", "2": "positive"}}))
    nodes = [  # a table one row short of the vocabulary, indexed by a copy of input_ids: the last word is out of range
        helper.make_node("Add", ["input_ids", "zero_i"], ["ids_copy"]),
        helper.make_node("Gather", ["short_table", "ids_copy"], ["looked_up"], axis=0),
        helper.make_node("ReduceSum", ["looked_up", "axis1_side"], ["summed_side"], keepdims=0),  # [batch, 1]
        helper.make_node("Mul", ["summed_side", "zero_f"], ["side"]),
    ]
    inits = [numpy_helper.from_array(np.ones((vocab - 1, 1), dtype=np.float32), "short_table"),
             numpy_helper.from_array(np.array(0, dtype=np.int64), "zero_i"),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1_side"),
             numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero_f")]
    _append_side_branch(root / "model.onnx", "logits", nodes, inits)
    return root, weights, tok


def make_slow_bundle(root: Path, slow: str = "slow", rounds: int = 2000, **kwargs) -> tuple[Path, Weights, Tokenizer]:
    """A classifier that spends ``rounds`` matrix products (a few ms each) per ``slow`` word in its batch.

    Slow on purpose, through an ONNX ``Loop`` whose trip count comes from the input (so nothing is folded away);
    texts without the word run at full speed and every text scores as :func:`reference_logits` says.
    """
    root.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(root / "tokenizer.json", [*WORDS, slow])
    weights = make_classifier(root / "model.onnx", tok.get_vocab_size(), **kwargs)
    (root / "config.json").write_text(json.dumps({"id2label": {"0": "negative", "1": "neutral", "2": "positive"}}))
    rng = np.random.default_rng(3)
    body = helper.make_graph(
        [helper.make_node("MatMul", ["v_in", "spin_w"], ["v_mm"]),
         helper.make_node("Tanh", ["v_mm"], ["v_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "spin",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [128, 256])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [128, 256])],
    )
    nodes = [
        helper.make_node("Equal", ["input_ids", "slow_id"], ["is_slow"]),
        helper.make_node("Cast", ["is_slow"], ["slow_count_each"], to=TensorProto.INT64),
        helper.make_node("ReduceSum", ["slow_count_each"], ["slow_count"], keepdims=0),
        helper.make_node("Mul", ["slow_count", "rounds"], ["trips"]),
        helper.make_node("Loop", ["trips", "true", "spin_v0"], ["spun"], body=body),
        helper.make_node("ReduceSum", ["spun"], ["spun_sum"], keepdims=0),
        helper.make_node("Mul", ["spun_sum", "zero_f"], ["side"]),
    ]
    inits = [numpy_helper.from_array(np.array(tok.token_to_id(slow), dtype=np.int64), "slow_id"),
             numpy_helper.from_array(np.array(rounds, dtype=np.int64), "rounds"),
             numpy_helper.from_array(np.array(True), "true"),
             numpy_helper.from_array(rng.normal(size=(128, 256)).astype(np.float32), "spin_v0"),
             numpy_helper.from_array((rng.normal(size=(256, 256)) / 16).astype(np.float32), "spin_w"),
             numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero_f")]
    _append_side_branch(root / "model.onnx", "logits", nodes, inits)
    return root, weights, tok

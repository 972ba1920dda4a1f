"""The model card: a frozen value with the file hash, the weights' quantization and notes for the user."""

import hashlib
import json
import shutil

import pytest
from builders import make_bundle

from app.engine import BatchPolicy, Classifier, ModelCard
from app.engine.card import DYNAMIC_QUANT_NOTE
from app.engine.onnx_meta import read_facts


def test_card_is_frozen_and_hashes_the_model_file(shared_bundle):
    root, _, _ = shared_bundle
    card = Classifier.load(root).card()
    assert isinstance(card, ModelCard)
    assert card.sha256 == hashlib.sha256((root / "model.onnx").read_bytes()).hexdigest()
    assert card.quantization == "fp32" and card.batch_invariant and card.notes == ()
    with pytest.raises(AttributeError):
        card.name = "other"  # type: ignore[misc]
    data = json.loads(json.dumps(card.as_dict()))
    assert data["labels"] == list(card.labels) and data["inputs"][0][0] == "input_ids"


def test_dynamic_quantization_is_detected_and_said(tmp_path, shared_bundle):
    quantization = pytest.importorskip("onnxruntime.quantization")
    root, _, _ = shared_bundle
    folder = tmp_path / "dyn"
    shutil.copytree(root, folder)
    quantization.quantize_dynamic(root / "model.onnx", folder / "model.onnx",
                                  weight_type=quantization.QuantType.QInt8, op_types_to_quantize=["MatMul"])
    facts = read_facts(folder / "model.onnx")
    assert "DynamicQuantizeLinear" in facts.op_types and facts.dynamic_quantization
    card = Classifier.load(folder).card()
    assert card.quantization == "int8 (dynamic)" and not card.batch_invariant
    assert DYNAMIC_QUANT_NOTE in card.notes


def test_default_model_card_names_its_weights(default_model):
    facts = read_facts(default_model / "model.onnx")
    assert facts.quantization.startswith("int8")


def test_policy_is_clamped_to_a_fixed_batch_and_keeps_min_fill(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", fixed_length=10, fixed_batch=4)
    clf = Classifier.load(root, policy=BatchPolicy(max_batch=32, min_fill=0.0))
    assert clf.policy == BatchPolicy(max_batch=4, min_fill=0.0)
    clf.policy = BatchPolicy(max_batch=16, max_tokens=500, window=8, min_fill=0.5)  # later changes are clamped too
    assert clf.policy == BatchPolicy(max_batch=4, max_tokens=500, window=8, min_fill=0.5)

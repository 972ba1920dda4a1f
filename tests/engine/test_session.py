import sys

import numpy as np
import onnxruntime as ort
import pytest
from builders import make_bundle, make_classifier, make_tokenizer

from app.engine import ModelBundle, ModelError, ModelSession, SessionConfig
from app.engine.session import cuda_unavailable_reason


def load(root, **kw):
    return ModelSession.load(ModelBundle.from_path(root), SessionConfig(**kw))


@pytest.mark.parametrize("int32", [False, True])
@pytest.mark.parametrize(
    "inputs",
    [("input_ids",), ("input_ids", "attention_mask"), ("input_ids", "attention_mask", "token_type_ids")],
)
def test_inputs_are_introspected(tmp_path, inputs, int32):
    root, _, _ = make_bundle(tmp_path / "m", inputs=inputs, int32=int32)
    s = load(root, provider="cpu")
    assert s.input_names == inputs
    assert {spec.dtype for spec in s.inputs} == {np.int32 if int32 else np.int64}
    assert s.logits_name == "logits" and s.logits_width == 3
    assert s.labels == ("negative", "neutral", "positive")
    assert s.opset == 17 and s.facts.ir_version == 10


@pytest.mark.parametrize("int32", [False, True])
def test_embedding_table_size_is_read_from_the_graph(tmp_path, int32):
    root, _, tok = make_bundle(tmp_path / "m", int32=int32)
    assert load(root).facts.embedding_rows == tok.get_vocab_size()  # what Classifier.load checks tokenizers against


def test_unnamed_single_2d_output_is_taken_as_logits(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", output_name="scores")
    assert load(root).logits_name == "scores"


def test_labels_default_to_label_n(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", labels=None, num_labels=4)
    assert load(root).labels == ("LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3")


def test_unknown_input_is_named(tmp_path):
    make_tokenizer(tmp_path / "tokenizer.json")
    make_classifier(tmp_path / "model.onnx", 60, inputs=("input_ids", "pixel_values"))
    with pytest.raises(ModelError, match="'pixel_values'"):
        load(tmp_path)


def test_provider_report_is_honest():
    s_reason = cuda_unavailable_reason()
    if "CUDAExecutionProvider" in ort.get_available_providers() and s_reason is None:
        pytest.skip("a usable GPU is present; the fallback path cannot be observed here")
    assert s_reason  # a sentence, probed from the machine rather than read from ORT's log


def test_cpu_choice_and_fallback_reason(shared_bundle):
    root, _, _ = shared_bundle
    cpu = load(root, provider="cpu")
    assert cpu.providers.active == ("CPUExecutionProvider",)
    assert cpu.providers.fallback_reason is None
    auto = load(root, provider="auto")
    if auto.providers.device == "CPU":
        assert auto.providers.fallback_reason == cuda_unavailable_reason()
        assert "CUDA not used" in auto.providers.describe()


def test_asking_for_cuda_without_it_falls_back_quietly(shared_bundle, capfd):
    if cuda_unavailable_reason() is None:
        pytest.skip("CUDA works here")
    root, _, _ = shared_bundle
    s = load(root, provider="cuda")
    assert s.providers.device == "CPU" and s.providers.fallback_reason
    captured = capfd.readouterr()
    assert "onnxruntime" not in captured.err and "Failed to load" not in captured.out + captured.err


def test_bad_settings_are_refused():
    with pytest.raises(ModelError, match="Unknown provider"):
        SessionConfig(provider="tpu")
    with pytest.raises(ModelError, match="optimisation level"):
        SessionConfig(graph_optimization="max")


def test_a_cpu_only_bundle_says_so_instead_of_asking_for_pip_packages(monkeypatch, tmp_path):
    from app.engine import session as session_module

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime has no CUDA provider at all (the first reason applies)")
    fake = tmp_path / "onnxruntime" / "__init__.py"  # a frozen bundle whose capi/ lacks the CUDA provider library
    fake.parent.mkdir()
    monkeypatch.setattr(ort, "__file__", str(fake))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    cuda_unavailable_reason.cache_clear()
    try:
        reason = session_module.cuda_unavailable_reason()
    finally:
        monkeypatch.undo()
        cuda_unavailable_reason.cache_clear()
    assert reason is not None and "built CPU-only" in reason and "SIEVE_BUNDLE_GPU=1" in reason

import json

import numpy as np
import onnxruntime as ort
import pytest
from builders import make_bundle, make_classifier, make_embedding_model, make_tokenizer

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


def test_unnamed_single_2d_output_is_taken_as_logits(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", output_name="scores")
    assert load(root).logits_name == "scores"


def test_labels_default_to_label_n(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", labels=None, num_labels=4)
    assert load(root).labels == ("LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3")


def test_label_count_must_match_logits_width(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m")
    (root / "config.json").write_text(json.dumps({"id2label": {"0": "a", "1": "b"}}))
    with pytest.raises(ModelError, match="gives 3 scores per text but .* names 2 labels"):
        load(root)


@pytest.mark.parametrize(("rank", "match"), [(3, "embedding model"), (2, "sentence-embedding")])
def test_embedding_models_are_refused(tmp_path, rank, match):
    make_tokenizer(tmp_path / "tokenizer.json")
    make_embedding_model(tmp_path / "model.onnx", 60, rank=rank)
    with pytest.raises(ModelError, match=match) as err:
        load(tmp_path)
    assert "input_ids" in str(err.value)  # the message names the model's real inputs/outputs


def test_unknown_input_is_named(tmp_path):
    make_tokenizer(tmp_path / "tokenizer.json")
    make_classifier(tmp_path / "model.onnx", 60, inputs=("input_ids", "pixel_values"))
    with pytest.raises(ModelError, match="'pixel_values'"):
        load(tmp_path)


def test_no_input_ids_is_not_a_text_model(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", 3])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["logits"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, str(tmp_path / "model.onnx"))
    make_tokenizer(tmp_path / "tokenizer.json")
    with pytest.raises(ModelError, match="'x' that Sieve cannot fill"):
        load(tmp_path)


def test_not_onnx_and_truncated_files(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m")
    data = (root / "model.onnx").read_bytes()
    (root / "model.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="damaged, truncated, or not ONNX"):
        load(root)
    (root / "model.onnx").write_text("this is a text file\n" * 20)
    with pytest.raises(ModelError, match="damaged, truncated, or not ONNX"):
        load(root)


def test_too_new_ir_version_says_which_versions_and_how_to_fix(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", ir_version=99)
    with pytest.raises(ModelError) as err:
        load(root)
    text = str(err.value)
    assert "IR version 99" in text and ort.__version__ in text and "ir_version" in text


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

"""The GPU run path, exercised on the CPU: IO binding, provider options, TensorRT's fallback, warm-up, card notes.

No GPU is needed: IO binding runs on the CPU provider too, the provider options are checked where ONNX Runtime
receives them, and the CUDA/TensorRT availability probes are set to the states a GPU machine would be in.
"""

import numpy as np
import onnxruntime as ort
import pytest
from builders import make_bundle, reference_logits, token_ids

from app.engine import BatchPolicy, Classifier, InferenceError, ModelBundle, ModelSession, SessionConfig
from app.engine import session as session_module
from app.engine.card import FP16_ON_CPU_NOTE
from app.engine.onnx_meta import read_facts
from app.engine.pipeline import warmup_shapes
from app.engine.session import CUDA_PROVIDER_OPTIONS, INT8_ON_GPU_NOTE, ProviderReport

TEXTS = ["i love this great movie", "awful", "the weather today is fine and the table is a table", "not good", "so"]


def softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


class RecordingSession(ort.InferenceSession):
    """A real InferenceSession that records the providers it was asked for and which run path each call took."""

    asked: list = []

    def __init__(self, path, options=None, providers=None, **kw):
        RecordingSession.asked.append(providers)
        super().__init__(path, options, providers=providers, **kw)
        self.calls = {"run": 0, "run_with_iobinding": 0}

    def run(self, *args, **kw):
        self.calls["run"] += 1
        return super().run(*args, **kw)

    def run_with_iobinding(self, *args, **kw):
        self.calls["run_with_iobinding"] += 1
        return super().run_with_iobinding(*args, **kw)


@pytest.fixture
def recording(monkeypatch):
    RecordingSession.asked = []
    monkeypatch.setattr(session_module.ort, "InferenceSession", RecordingSession)
    return RecordingSession


@pytest.mark.parametrize("inputs", [("input_ids", "attention_mask"), ("input_ids", "attention_mask", "token_type_ids")])
def test_io_binding_runs_bound_and_scores_like_plain_runs(tmp_path, recording, inputs):
    root, weights, tok = make_bundle(tmp_path / "m", inputs=inputs, int32=len(inputs) == 3)
    bound = Classifier.load(root, io_binding="on", policy=BatchPolicy(max_batch=2))
    plain = Classifier.load(root, io_binding="off", policy=BatchPolicy(max_batch=2))
    assert bound.session.io_binding and not plain.session.io_binding
    got = bound.score(TEXTS).probs
    assert bound.session.session.calls == {"run": 0, "run_with_iobinding": 3}  # 5 texts in batches of 2
    assert plain.score(TEXTS).probs.tolist() == got.tolist()
    assert plain.session.session.calls["run_with_iobinding"] == 0
    np.testing.assert_allclose(got, softmax(reference_logits(weights, token_ids(tok, TEXTS))), atol=1e-5)
    assert bound.card().io_binding and not plain.card().io_binding


def test_io_binding_is_off_by_default_on_the_cpu(shared_bundle):
    root, _, _ = shared_bundle
    assert not Classifier.load(root, provider="cpu").session.io_binding


def test_io_binding_run_errors_still_become_sentences(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", fixed_length=8)
    s = ModelSession.load(ModelBundle.from_path(root), SessionConfig(provider="cpu", io_binding="on"))
    ids = np.ones((2, 5), dtype=np.int64)
    with pytest.raises(InferenceError, match=r"batch of shape \[2, 5\]"):
        s.run({"input_ids": ids, "attention_mask": ids})


def test_cuda_is_asked_for_with_sieves_options_and_falls_back_with_a_reason(shared_bundle, recording, monkeypatch):
    """As on a machine whose probes pass but whose CUDA provider then fails to start (here: no CUDA at all)."""
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime build has no CUDA provider to ask for")
    monkeypatch.setattr(session_module, "cuda_unavailable_reason", lambda: None)
    root, _, _ = shared_bundle
    s = ModelSession.load(ModelBundle.from_path(root), SessionConfig(provider="cuda"))
    assert recording.asked == [[("CUDAExecutionProvider", CUDA_PROVIDER_OPTIONS), ("CPUExecutionProvider", {})]]
    assert CUDA_PROVIDER_OPTIONS == {"arena_extend_strategy": "kSameAsRequested", "cudnn_conv_algo_search": "HEURISTIC",
                                     "do_copy_in_default_stream": "1"}
    if s.providers.device == "CPU":  # no usable GPU here: the session still loads, and says why
        assert s.providers.fallback_reason == "ONNX Runtime could not start the CUDA provider for this model"
        assert not s.io_binding  # auto binds on GPU runs only


def test_cpu_and_auto_without_cuda_ask_for_the_cpu_alone(shared_bundle, recording, monkeypatch):
    monkeypatch.setattr(session_module, "cuda_unavailable_reason", lambda: "no driver")
    root, _, _ = shared_bundle
    for provider in ("cpu", "auto"):
        ModelSession.load(ModelBundle.from_path(root), SessionConfig(provider=provider))
    assert recording.asked == [[("CPUExecutionProvider", {})]] * 2


def test_tensorrt_is_asked_for_only_when_its_libraries_load(shared_bundle, recording, monkeypatch, tmp_path):
    root, _, _ = shared_bundle
    bundle = ModelBundle.from_path(root)
    monkeypatch.setattr(session_module, "cuda_unavailable_reason", lambda: None)
    monkeypatch.setattr(session_module, "tensorrt_unavailable_reason", lambda: "libnvinfer.so.10 not found")
    s = ModelSession.load(bundle, SessionConfig(provider="tensorrt"))
    assert [name for name, _ in recording.asked[-1]] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert s.providers.tensorrt_reason == "libnvinfer.so.10 not found"

    monkeypatch.setattr(session_module, "tensorrt_unavailable_reason", lambda: None)
    monkeypatch.setenv("SIEVE_CACHE", str(tmp_path / "cache"))
    config = SessionConfig(provider="tensorrt", max_shape=(16, 128))
    options = session_module.provider_options("TensorrtExecutionProvider", config, read_facts(bundle.model_path))
    assert options["trt_profile_min_shapes"] == "input_ids:1x1,attention_mask:1x1"
    assert options["trt_profile_max_shapes"] == "input_ids:16x128,attention_mask:16x128"
    assert options["trt_engine_cache_enable"] == "1" and options["trt_fp16_enable"] == "0"
    assert options["trt_engine_cache_path"] == str(tmp_path / "cache" / "tensorrt")
    ModelSession.load(bundle, config)  # ORT is asked for TensorRT first; without its libraries it runs on the CPU
    assert [name for name, _ in recording.asked[-1]] == ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                                         "CPUExecutionProvider"]

    monkeypatch.setattr(session_module, "cuda_unavailable_reason", lambda: "no driver")
    s = ModelSession.load(bundle, SessionConfig(provider="auto"))
    assert [name for name, _ in recording.asked[-1]] == ["CPUExecutionProvider"]  # auto never picks TensorRT


def test_tensorrt_probe_names_what_is_missing_here():
    session_module.tensorrt_unavailable_reason.cache_clear()
    reason = session_module.tensorrt_unavailable_reason()
    if reason is None:
        pytest.skip("TensorRT works here")
    assert "TensorRT" in reason or "not found" in reason or "not installed" in reason


def test_graph_inputs_are_read_from_the_file(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", inputs=("input_ids", "attention_mask", "token_type_ids"))
    assert read_facts(root / "model.onnx").input_names == ("input_ids", "attention_mask", "token_type_ids")


# ---------------------------------------------------------------------- warm-up
def test_warmup_shapes_run_largest_first_within_the_token_budget():
    policy = BatchPolicy(max_batch=32, max_tokens=2048)
    shapes = warmup_shapes(policy, 128)
    assert shapes[0] == (16, 128)  # 2048 tokens / 128
    full = [s for s in shapes if s[0] > 1]
    assert [n for _, n in full] == sorted({n for _, n in full}, reverse=True)
    assert all(b * n <= policy.max_tokens for b, n in full)
    assert {n for _, n in shapes} == {16, 32, 48, 64, 80, 96, 112, 128}
    assert (1, 128) in shapes and (1, 16) in shapes and len(shapes) == len(set(shapes))
    assert warmup_shapes(policy, 40) == [(32, 40), (32, 32), (32, 16), (1, 40), (1, 32), (1, 16)]
    assert warmup_shapes(policy, 128, fixed_batch=4, fixed_length=64) == [(4, 64)]


def test_warmup_runs_at_load_when_asked_and_is_shown_on_the_card(shared_bundle):
    root, _, _ = shared_bundle
    clf = Classifier.load(root, provider="cpu", warmup="on", policy=BatchPolicy(max_batch=8, max_tokens=512))
    expected = warmup_shapes(clf.policy, clf.encoder.max_length)
    assert clf.warmup.shapes == len(expected) and clf.warmup.error is None
    card = clf.card()
    assert card.warmup_shapes == len(expected) and card.warmup_ms > 0
    cold = Classifier.load(root, provider="cpu")
    assert cold.warmup is None and cold.card().warmup_ms is None  # auto: only on a GPU
    assert clf.score(TEXTS).probs.tolist() == cold.score(TEXTS).probs.tolist()


def test_a_failing_warmup_is_noted_and_the_model_still_scores(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", fixed_length=16)
    clf = Classifier.load(root)
    result = clf.warm_up([(2, 16), (2, 9), (1, 16)])  # 9 tokens do not fit a model fixed at 16
    assert result.shapes == 1 and "at batch 2 × 9 tokens" in result.error
    assert any(n.startswith("Warm-up stopped") for n in clf.card().notes)
    assert (clf.score(TEXTS).label_idx >= 0).all()


def test_unknown_gpu_settings_are_refused(shared_bundle):
    from app.engine import ModelError

    with pytest.raises(ModelError, match="IO binding"):
        SessionConfig(io_binding="sometimes")
    with pytest.raises(ModelError, match="warm-up"):
        Classifier.load(shared_bundle[0], warmup="twice")


# ---------------------------------------------------------------------- precision notes
def test_dynamic_int8_on_a_gpu_session_says_it_runs_poorly_there(tmp_path, shared_bundle):
    quantization = pytest.importorskip("onnxruntime.quantization")
    import shutil

    root, _, _ = shared_bundle
    folder = tmp_path / "dyn"
    shutil.copytree(root, folder)
    quantization.quantize_dynamic(root / "model.onnx", folder / "model.onnx",
                                  weight_type=quantization.QuantType.QInt8, op_types_to_quantize=["MatMul"])
    clf = Classifier.load(folder, provider="cpu")
    assert INT8_ON_GPU_NOTE not in clf.card().notes  # fine on a CPU
    p = clf.session.providers  # as a CUDA session reports itself
    clf.session.providers = ProviderReport(("CUDAExecutionProvider", "CPUExecutionProvider"),
                                           ("CUDAExecutionProvider", "CPUExecutionProvider"), p.available)
    assert INT8_ON_GPU_NOTE in clf.card().notes and clf.card().device == "CUDA"


def test_an_fp16_model_runs_on_the_cpu_with_a_note(tmp_path):
    float16 = pytest.importorskip("onnxruntime.transformers.float16")
    import onnx

    root, weights, tok = make_bundle(tmp_path / "m")
    model = float16.convert_float_to_float16(onnx.load(str(root / "model.onnx")), keep_io_types=True)
    model.ir_version = 10
    onnx.save(model, str(root / "model.onnx"))
    clf = Classifier.load(root, provider="cpu")
    card = clf.card()
    assert card.quantization == "fp16" and FP16_ON_CPU_NOTE in card.notes
    want = softmax(reference_logits(weights, token_ids(tok, TEXTS)))
    np.testing.assert_allclose(clf.score(TEXTS).probs, want, atol=5e-3)  # fp16 weights: 3 significant digits

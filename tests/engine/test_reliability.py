"""Bad models and bad data end in one sentence or a correct result; faults stay inside their batch.

The catalogue of bad models and files (external data outside the folder, custom operators, ...) is in
tests/reliability/catalogue.py, checked through the engine and the CLI by tests/reliability/test_catalogue.py.
"""

import numpy as np
import onnx
from builders import make_bundle, make_classifier, make_tokenizer

from app.engine import BatchPolicy, Classifier, InferenceError, open_source
from app.engine.io import rows_from_texts
from app.engine.session import ModelSession


def test_external_data_inside_the_folder_loads(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m")
    model = onnx.load(str(root / "model.onnx"))
    onnx.save_model(model, str(root / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.data", size_threshold=1024)
    assert (root / "weights.data").exists()
    assert Classifier.load(root).predict(["i love this"])[0].label


def test_megabyte_single_line_is_truncated_and_flagged(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", tokenizer_kwargs={"max_length": 32})
    path = tmp_path / "huge.csv"
    huge = ("great movie " * 90_000)[:1_000_000]
    path.write_text(f"text\nshort one\n\"{huge}\"\n", encoding="utf-8")
    (chunk,) = Classifier.load(root).stream(open_source(path))
    assert chunk.truncated.tolist() == [False, True]
    assert chunk.tokens.tolist()[1] == 32 and (chunk.label_idx >= 0).all()


class FlakyMemory:
    """Wraps a session's run: batches above ``limit`` rows fail the way ORT reports an allocation failure."""

    def __init__(self, session, limit):
        self.session, self.limit, self.sizes = session, limit, []

    def __call__(self, feeds):
        rows = len(feeds["input_ids"])
        self.sizes.append(rows)
        if rows > self.limit:
            raise InferenceError("Out of memory on a batch", out_of_memory=True)
        return ModelSession.run(self.session, feeds)


def test_out_of_memory_retries_with_smaller_batches(shared_bundle, monkeypatch):
    root, _, _ = shared_bundle
    clf = Classifier.load(root, policy=BatchPolicy(max_batch=16))
    texts = [f"i love this movie {'great ' * (i % 7)}" for i in range(40)]
    expected = clf.score(texts).probs
    flaky = FlakyMemory(clf.session, limit=3)
    monkeypatch.setattr(clf.session, "run", flaky)
    chunk = clf.score(texts)
    assert (chunk.label_idx >= 0).all()
    np.testing.assert_allclose(chunk.probs, expected, atol=1e-6)
    assert max(s for s in flaky.sizes if s <= 3) <= 3 and 16 in flaky.sizes


def test_out_of_memory_on_one_row_moves_cuda_work_to_the_cpu(shared_bundle, monkeypatch):
    root, _, _ = shared_bundle
    clf = Classifier.load(root, policy=BatchPolicy(max_batch=4), provider="cpu")
    expected = clf.score(["i love this", "awful"]).probs
    gpu = clf.session
    monkeypatch.setattr(type(gpu.providers), "device", property(lambda self: "CUDA"))
    monkeypatch.setattr(gpu, "run", FlakyMemory(gpu, limit=0))
    chunk = clf.score(["i love this", "awful"])
    monkeypatch.undo()
    assert clf.session is not gpu and clf.session.providers.active == ("CPUExecutionProvider",)
    np.testing.assert_allclose(chunk.probs, expected, atol=1e-6)
    assert any("switched this model to the CPU" in n for n in clf.notices)


def test_empty_and_whitespace_texts_get_a_defined_result(shared_bundle):
    root, _, _ = shared_bundle
    preds = Classifier.load(root).predict(["", "   ", "\t\n"])
    assert all(p.label is not None and p.error is None for p in preds)
    assert preds[0].scores == preds[1].scores  # both are just [CLS] [SEP]


def test_non_text_items_fail_alone(shared_bundle):
    root, _, _ = shared_bundle
    chunk = Classifier.load(root).score(["good", None, 42, "bad"])  # type: ignore[list-item]
    assert chunk.label_idx.tolist()[1:3] == [-2, -2] and "not text" in chunk.errors[2]
    assert (chunk.label_idx[[0, 3]] >= 0).all()


def test_fixed_length_model_truncates_longer_texts(tmp_path):
    make_tokenizer(tmp_path / "tokenizer.json", max_length=64)
    make_classifier(tmp_path / "model.onnx", 60, fixed_length=8)
    chunk = Classifier.load(tmp_path).score(["i love this great movie so much it was wonderful", "bad"])
    assert chunk.truncated.tolist() == [True, False] and chunk.tokens.tolist() == [8, 3]


def test_rows_from_texts_numbers_items():
    rows = list(rows_from_texts(["a", "b"]))
    assert [r.line for r in rows] == [1, 2]

"""How logits become labels for the heads people export: one logit per text (binary), and logits that are not
finite (issue 11, items 6 and 7)."""

import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest
from builders import make_bundle, reference_logits, token_ids
from onnx import numpy_helper

from app.engine import Classifier

TEXTS = ["i love this great movie", "awful terrible day", "the weather today", "boring", "so happy", "not good"]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize(("config_labels", "expected"), [
    (None, ("LABEL_0", "LABEL_1")),  # no config.json
    (("LABEL_0",), ("LABEL_0", "LABEL_1")),  # what transformers writes for num_labels=1
    (("negative", "positive"), ("negative", "positive")),
    (("ham", "spam"), ("ham", "spam")),
])
def test_a_single_logit_model_is_a_binary_classifier(tmp_path, config_labels, expected):
    if config_labels is None:
        root, w, tok = make_bundle(tmp_path / "m", labels=None, num_labels=1)
    else:
        root, w, tok = make_bundle(tmp_path / "m", labels=config_labels, output_width=1)
    clf = Classifier.load(root)
    assert clf.labels == expected
    preds = clf.predict(TEXTS)
    p = sigmoid(reference_logits(w, token_ids(tok, TEXTS))[:, 0])  # P(second label)
    np.testing.assert_allclose([x.scores[expected[1]] for x in preds], p, rtol=1e-5)
    np.testing.assert_allclose([x.scores[expected[0]] for x in preds], 1 - p, rtol=1e-5)
    assert [x.label for x in preds] == [expected[int(v > 0.5)] for v in p]
    np.testing.assert_allclose([x.confidence for x in preds], np.maximum(p, 1 - p), rtol=1e-5)
    card = clf.card()
    assert card.labels == expected
    assert any("binary classifier" in note and repr(expected[1]) in note for note in card.notes)


def test_a_single_logit_multi_label_model_stays_one_independent_label(tmp_path):
    root, w, tok = make_bundle(tmp_path / "m", labels=("toxic",), problem_type="multi_label_classification",
                               output_width=1)
    clf = Classifier.load(root)
    assert clf.labels == ("toxic",)
    p = sigmoid(reference_logits(w, token_ids(tok, TEXTS))[:, 0])
    np.testing.assert_allclose([x.scores["toxic"] for x in clf.predict(TEXTS)], p, rtol=1e-5)
    assert not any("binary" in note for note in clf.card().notes)


def poisoned_bundle(tmp_path):
    """A model whose logits are NaN for texts with 'awful' and infinite for texts with 'terrible'."""
    root, w, tok = make_bundle(tmp_path / "m")
    model = onnx.load(str(root / "model.onnx"))
    table = next(t for t in model.graph.initializer if t.name == "E")
    embed = numpy_helper.to_array(table).copy()
    embed[tok.token_to_id("awful")] = np.nan
    embed[tok.token_to_id("terrible")] = np.inf
    table.CopyFrom(numpy_helper.from_array(embed, "E"))
    onnx.save(model, str(root / "model.onnx"))
    return root, w, tok


def test_rows_with_non_finite_logits_are_failed_with_a_sentence_and_no_warning(tmp_path):
    root, w, tok = poisoned_bundle(tmp_path)
    clf = Classifier.load(root)
    texts = ["i love this", "awful day", "terrible", "great movie", "the weather today"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value encountered" would raise here
        preds = clf.predict(texts)
    assert [x.label is None for x in preds] == [False, True, True, False, False]
    assert "returned NaN scores for this text" in preds[1].error
    assert "scores for this text, so it has no label" in preds[2].error
    good = [0, 3, 4]
    logits = reference_logits(w, token_ids(tok, [texts[i] for i in good]))
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose([[preds[i].scores[k] for k in clf.labels] for i in good], expected, rtol=1e-5)
    assert all(np.isfinite(preds[i].confidence) for i in good)


def test_the_cli_marks_non_finite_rows_failed_without_numpy_warnings(tmp_path):
    root, _, _ = poisoned_bundle(tmp_path)
    (tmp_path / "in.txt").write_text("i love this\nawful day\ngreat movie\n")
    result = subprocess.run([sys.executable, "-m", "app", "score", str(tmp_path / "in.txt"), "-o",
                             str(tmp_path / "out.csv"), "--model", str(root), "-q"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "invalid value" not in result.stderr
    assert "1 row could not be scored" in result.stderr
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[2].startswith("awful day,,,") and "returned NaN scores" in lines[2]
    assert "nan" not in (lines[1] + lines[3]).lower()


def test_a_single_logit_model_with_a_symbolic_width_is_binary_too(tmp_path):
    """Exports that name every dimension leave the logits width to be found by running the model once."""
    root, w, tok = make_bundle(tmp_path / "m", labels=("negative", "positive"), output_width=1)
    model = onnx.load(str(root / "model.onnx"))
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "num_labels"
    onnx.save(model, str(root / "model.onnx"))
    clf = Classifier.load(root)
    assert clf.session.logits_width == 1 and clf.labels == ("negative", "positive")
    p = sigmoid(reference_logits(w, token_ids(tok, TEXTS))[:, 0])
    np.testing.assert_allclose([x.scores["positive"] for x in clf.predict(TEXTS)], p, rtol=1e-5)

import json

import pytest
from builders import make_classifier, make_tokenizer

from app.engine import ModelBundle, ModelError


def test_labels_come_from_config_in_index_order(tiny_bundle):
    root, _, _ = tiny_bundle
    (root / "config.json").write_text(json.dumps({"id2label": {"2": "c", "0": "a", "1": "b"}}))
    assert ModelBundle.from_path(root).labels == ("a", "b", "c")


def test_labels_txt_is_used_without_config(tmp_path):
    make_tokenizer(tmp_path / "tokenizer.json")
    make_classifier(tmp_path / "model.onnx", 60)
    (tmp_path / "labels.txt").write_text("spam\nham\n\n")
    bundle = ModelBundle.from_path(tmp_path)
    assert bundle.labels == ("spam", "ham")
    assert bundle.config_path is None


def test_onnx_file_path_finds_its_siblings(tiny_bundle):
    root, _, _ = tiny_bundle
    bundle = ModelBundle.from_path(root / "model.onnx")
    assert bundle.root == root and bundle.tokenizer_path == root / "tokenizer.json"


def test_single_onnx_with_another_name_is_found(tiny_bundle):
    root, _, _ = tiny_bundle
    (root / "model.onnx").rename(root / "classifier.onnx")
    assert ModelBundle.from_path(root).model_path.name == "classifier.onnx"


def test_several_onnx_files_without_model_onnx_is_an_error(tiny_bundle):
    root, _, _ = tiny_bundle
    (root / "model.onnx").rename(root / "a.onnx")
    (root / "b.onnx").write_bytes((root / "a.onnx").read_bytes())
    with pytest.raises(ModelError, match="several ONNX files"):
        ModelBundle.from_path(root)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ("{not json", "not valid JSON"),
        ('["a", "b"]', "does not hold a JSON object"),
        ('{"id2label": {"0": "a", "2": "c"}}', "not 0..1"),
        ('{"id2label": {"x": "a"}}', "not a number"),
        ('{"problem_type": "regression", "id2label": {"0": "a"}}', "not a classification task"),
    ],
)
def test_bad_config_names_the_problem(tiny_bundle, config, match):
    root, _, _ = tiny_bundle
    (root / "config.json").write_text(config)
    with pytest.raises(ModelError, match=match):
        ModelBundle.from_path(root)


def test_missing_pieces(tmp_path):
    with pytest.raises(ModelError, match="No model at"):
        ModelBundle.from_path(tmp_path / "nope")
    with pytest.raises(ModelError, match=r"No \.onnx file"):
        ModelBundle.from_path(tmp_path)
    make_classifier(tmp_path / "model.onnx", 60)
    with pytest.raises(ModelError, match="No tokenizer.json"):
        ModelBundle.from_path(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelError, match="not an ONNX model file"):
        ModelBundle.from_path(tmp_path / "notes.txt")


def test_multi_label_problem_type(tiny_bundle):
    root, _, _ = tiny_bundle
    (root / "config.json").write_text(
        json.dumps({"id2label": {"0": "a", "1": "b", "2": "c"}, "problem_type": "multi_label_classification"})
    )
    assert ModelBundle.from_path(root).multi_label

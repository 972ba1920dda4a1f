"""``sieve compare``: agreement, |Δprob| and flips between two real classifiers, checked against numpy."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from builders import make_bundle, reference_logits, token_ids

from app.cli import main
from app.engine import Classifier, InputError
from app.engine.compare import compare

WORDS = ["i", "love", "this", "great", "movie", "awful", "terrible", "bad", "boring", "the", "best", "day", "table"]


def texts(n=120, seed=3):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 9))) for _ in range(n)]


def softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two classifiers with the same labels and different weights (seeds 0 and 1)."""
    root = tmp_path_factory.mktemp("pair")
    a = make_bundle(root / "a", seed=0)
    b = make_bundle(root / "b", seed=1)
    return a, b


def test_agreement_diffs_and_flips_match_a_numpy_reference(pair):
    (ra, wa, tok), (rb, wb, _) = pair
    sample = texts()
    result = compare(Classifier.load(ra), Classifier.load(rb), sample, repeats=2)
    ids = token_ids(tok, sample)
    pa, pb = softmax(reference_logits(wa, ids)), softmax(reference_logits(wb, ids))
    flipped = np.flatnonzero(pa.argmax(1) != pb.argmax(1))
    assert 0 < len(flipped) < len(sample)  # the two seeds disagree on some texts, not all
    assert sorted(f.row for f in result.flips) == flipped.tolist()
    assert result.agreement == pytest.approx(1 - len(flipped) / len(sample))
    assert result.max_abs_diff == pytest.approx(np.abs(pa - pb).max(), abs=1e-5)
    assert result.mean_abs_diff == pytest.approx(np.abs(pa - pb).max(1).mean(), abs=1e-5)
    deltas = [f.max_abs_diff for f in result.flips]
    assert deltas == sorted(deltas, reverse=True)
    first = result.flips[0]
    assert first.text == sample[first.row] and first.label_a != first.label_b
    assert first.prob_a == pytest.approx(pa[first.row].max(), abs=1e-5)
    assert result.texts == len(sample) and result.failed == 0
    assert result.a.texts_per_s > 0 and result.b.texts_per_s > 0 and result.speedup > 0
    lines = "\n".join(result.lines(show=3))
    assert "same label" in lines and "|Δprob|" in lines and lines.count("  row ") == 3
    assert json.loads(json.dumps(result.as_dict()))["flips"][0]["row"] == first.row


def test_one_model_against_itself_agrees_exactly(pair):
    (ra, _, _), _ = pair
    result = compare(Classifier.load(ra, provider="cpu"), Classifier.load(ra, provider="cpu"), texts(40))
    assert result.agreement == 1.0 and result.max_abs_diff == 0.0 and result.flips == ()


def test_labels_in_another_order_are_matched_by_name(tmp_path):
    ra, wa, _ = make_bundle(tmp_path / "a", seed=0)
    rb, _, _ = make_bundle(tmp_path / "b", labels=("positive", "negative", "neutral"), seed=0)
    model = onnx.load(str(rb / "model.onnx"))  # permute the head so B is A with its columns reordered
    inits = {t.name: t for t in model.graph.initializer}
    perm = [2, 0, 1]
    for name, array in (("W", wa.proj[:, perm]), ("b", wa.bias[perm])):
        inits[name].CopyFrom(onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
    onnx.save(model, str(rb / "model.onnx"))
    result = compare(Classifier.load(ra), Classifier.load(rb), texts(60))
    assert result.agreement == 1.0 and result.max_abs_diff < 1e-6


def test_different_label_sets_are_refused_in_one_sentence(tmp_path, pair):
    (ra, _, _), _ = pair
    rb, _, _ = make_bundle(tmp_path / "other", labels=("spam", "ham", "eggs"))
    with pytest.raises(InputError, match="name different labels"):
        compare(Classifier.load(ra), Classifier.load(rb), texts(5))


def test_sieve_compare_two_models_from_a_file(pair, tmp_path, capsys):
    (ra, _, _), (rb, _, _) = pair
    path = tmp_path / "t.txt"
    path.write_text("\n".join(texts(50)) + "\n", encoding="utf-8")
    out = tmp_path / "cmp.json"
    assert main(["compare", str(ra), str(rb), "--texts", str(path), "--json", str(out), "--show", "2"]) == 0
    printed = capsys.readouterr().out
    assert "texts compared: 50" in printed and "flipped" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["texts"] == 50 and len(data["flips"]) == round((1 - data["agreement"]) * 50)


def test_sieve_compare_on_the_samples_by_default(pair, capsys):
    (ra, _, _), _ = pair
    assert main(["compare", str(ra), "--providers", "cpu,cpu", "--limit", "30"]) == 0
    assert "texts compared: 30" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    ([], "two sides"),
    (["--providers", "cpu,cuda,cpu"], "--providers takes one or two"),
    (["--providers", "gpu,cpu"], "--providers takes one or two"),
])
def test_sieve_compare_needs_two_sides(pair, capsys, args, message):
    (ra, _, _), _ = pair
    assert main(["compare", str(ra), *args]) == 2
    assert message in capsys.readouterr().err


def test_asking_for_cuda_where_it_cannot_run_points_to_the_doctor(pair):
    from app.engine.session import cuda_unavailable_reason

    if cuda_unavailable_reason() is None:
        pytest.skip("CUDA works here")
    (ra, _, _), _ = pair
    proc = subprocess.run([sys.executable, "-m", "app", "compare", str(ra), "--providers", "cpu,cuda"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "sieve doctor" in proc.stderr and "Traceback" not in proc.stderr
    assert "B was to run on CUDA" in proc.stderr

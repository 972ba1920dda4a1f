import threading

import numpy as np
import pytest
from builders import WORDS, make_bundle, make_tokenizer, reference_logits, token_ids
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine import (
    FAILED,
    NOT_SCORED,
    BatchPolicy,
    Classifier,
    InputError,
    ModelBundle,
    ModelSession,
    SessionConfig,
    SieveError,
    open_source,
)
from app.engine.encoding import TextEncoder
from app.engine.io import rows_from_texts
from app.engine.scoring import sigmoid, softmax


def random_texts(n, seed=0, max_words=40):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(0, max_words))) for _ in range(n)]


def expected_probs(weights, tok, texts, max_length=None, multi=False):
    logits = reference_logits(weights, token_ids(tok, texts, max_length)).astype(np.float32)
    return sigmoid(logits) if multi else softmax(logits)


@pytest.mark.parametrize(
    "model_kwargs",
    [{}, {"int32": True}, {"inputs": ("input_ids", "attention_mask", "token_type_ids")}, {"inputs": ("input_ids",)}],
)
def test_stream_matches_reference_in_input_order(tmp_path, model_kwargs):
    root, weights, tok = make_bundle(tmp_path / "m", **model_kwargs)
    clf = Classifier.load(root, policy=BatchPolicy(max_batch=7, max_tokens=120, window=50))
    texts = random_texts(333)
    chunks = list(clf.stream(rows_from_texts(texts)))
    assert [c.start for c in chunks] == list(range(0, 333, 50))
    probs = np.concatenate([c.probs for c in chunks])
    assert [r.text for c in chunks for r in c.rows] == texts  # every row exactly once, in order
    np.testing.assert_allclose(probs, expected_probs(weights, tok, texts), atol=2e-6)
    labels = np.concatenate([c.label_idx for c in chunks])
    assert (labels == probs.argmax(axis=1)).all()
    s = clf.stats.summary()
    assert s.rows == 333 and s.batches >= 333 // 7 and 0 < s.padding_efficiency <= 1


@pytest.fixture(scope="module")
def module_classifier(shared_bundle):
    root, weights, tok = shared_bundle
    return Classifier.load(root, provider="cpu"), weights, tok


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(st.one_of(st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join), st.none()), max_size=150),
    policy=st.builds(BatchPolicy, st.integers(1, 48), st.integers(1, 1024), st.integers(1, 80)),
    first_window=st.one_of(st.none(), st.integers(1, 80)),
)
def test_every_row_comes_out_once_in_order_whatever_the_batching(module_classifier, items, policy, first_window):
    clf, weights, tok = module_classifier
    clf.policy = policy
    chunks = list(clf.stream(rows_from_texts(items), first_window=first_window))
    assert [c.start for c in chunks] == np.cumsum([0] + [len(c) for c in chunks])[:-1].tolist()
    assert [r.text for c in chunks for r in c.rows] == items  # every row exactly once, in input order
    label_idx = np.concatenate([c.label_idx for c in chunks]) if chunks else np.zeros(0)
    readable = [i for i, t in enumerate(items) if t is not None]
    assert np.flatnonzero(label_idx == FAILED).tolist() == [i for i, t in enumerate(items) if t is None]
    if readable:  # and each row's scores are its own, not a neighbour's
        probs = np.concatenate([c.probs for c in chunks])[readable]
        np.testing.assert_allclose(probs, expected_probs(weights, tok, [items[i] for i in readable]), atol=2e-6)


def test_result_does_not_depend_on_batch_neighbours(shared_bundle):
    root, _, _ = shared_bundle
    clf = Classifier.load(root)
    texts = random_texts(64, seed=5)
    alone = np.array([clf.predict([t])[0].confidence for t in texts])
    together = np.array([p.confidence for p in clf.predict(texts)])
    np.testing.assert_allclose(alone, together, atol=1e-6)


def test_a_single_string_is_one_text(shared_bundle):
    clf = Classifier.load(shared_bundle[0])
    (one,) = clf.predict("i love this")  # not five predictions for "h", "e", "l", "l", "o"
    assert one.text == "i love this" and one.scores == clf.predict(["i love this"])[0].scores
    assert len(clf.score("awful")) == 1


def test_predict_labels_come_from_config(shared_bundle):
    root, weights, tok = shared_bundle
    preds = Classifier.load(root).predict(["i love this movie", "awful"])
    ref = expected_probs(weights, tok, ["i love this movie", "awful"])
    assert [p.label for p in preds] == [("negative", "neutral", "positive")[i] for i in ref.argmax(axis=1)]
    assert preds[0].scores.keys() == {"negative", "neutral", "positive"}


def test_multi_label_uses_sigmoid(tmp_path):
    root, weights, tok = make_bundle(tmp_path / "m", labels=("a", "b", "c"), problem_type="multi_label_classification")
    got = Classifier.load(root).score(["great movie", "bad"]).probs
    np.testing.assert_allclose(got, expected_probs(weights, tok, ["great movie", "bad"], multi=True), atol=2e-6)


def test_truncation_and_empty_texts(tmp_path):
    root, weights, tok = make_bundle(tmp_path / "m", tokenizer_kwargs={"max_length": 6, "fixed_padding": 64})
    texts = ["", "   ", "i love this great movie so much", "bad"]
    chunk = Classifier.load(root).score(texts)
    assert chunk.truncated.tolist() == [False, False, True, False]
    assert chunk.tokens.tolist() == [2, 2, 6, 3]
    np.testing.assert_allclose(chunk.probs, expected_probs(weights, tok, texts, max_length=6), atol=2e-6)


def test_fixed_shape_models_are_padded_to_their_shape(tmp_path):
    root, weights, tok = make_bundle(tmp_path / "m", fixed_length=10, fixed_batch=4)
    clf = Classifier.load(root, policy=BatchPolicy(max_batch=32))
    assert clf.encoder.max_length == 10 and clf.policy.max_batch == 4
    texts = random_texts(11, seed=2)
    np.testing.assert_allclose(clf.score(texts).probs, expected_probs(weights, tok, texts, max_length=10), atol=2e-6)


def test_unreadable_rows_pass_through_as_failed(tmp_path, shared_bundle):
    root, _, _ = shared_bundle
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "good"}\n{bad json\n{"text": "fine"}\n')
    (chunk,) = Classifier.load(root).stream(open_source(path))
    assert chunk.label_idx[1] == FAILED and "not valid JSON" in chunk.errors[1]
    assert (chunk.label_idx[[0, 2]] >= 0).all()


def test_cancel_keeps_finished_batches(shared_bundle):
    root, _, _ = shared_bundle
    clf = Classifier.load(root, policy=BatchPolicy(max_batch=4, window=100))
    cancel = threading.Event()
    seen = []

    def on_batch(rows):
        seen.append(rows)
        if sum(seen) >= 30:
            cancel.set()

    chunks = list(clf.stream(rows_from_texts(random_texts(1000)), cancel=cancel, on_batch=on_batch))
    last = chunks[-1]
    assert not last.complete and all(c.complete for c in chunks[:-1])
    scored = sum(int((c.label_idx >= 0).sum()) for c in chunks)
    assert scored == sum(seen) and 30 <= scored < 1000
    assert (last.label_idx == NOT_SCORED).any()


def load_unchecked(root, policy):
    """Load past ``Classifier.load``'s tokenizer/embedding-size check, as for a model whose table it cannot see."""
    session = ModelSession.load(ModelBundle.from_path(root), SessionConfig(provider="cpu"))
    return Classifier(session, TextEncoder.from_file(root / "tokenizer.json"), policy)


def test_a_failing_batch_marks_only_its_rows(tmp_path):
    # The tokenizer knows words the model's embedding table has no row for: only texts using them fail.
    root, _, _ = make_bundle(tmp_path / "m")
    make_tokenizer(root / "tokenizer.json", [*WORDS, "zebra"])
    clf = load_unchecked(root, BatchPolicy(max_batch=4, window=64))
    texts = random_texts(40, seed=9, max_words=6)
    texts[17] = "zebra zebra zebra zebra zebra zebra zebra zebra"  # longest: sorted into the first batch
    chunk = clf.score(texts)
    failed = np.flatnonzero(chunk.label_idx == FAILED)
    assert 17 in failed and len(failed) <= 4
    assert "tokenizer" in chunk.errors[17] and "does not belong to this model" in chunk.errors[17]
    assert (chunk.label_idx[np.setdiff1d(np.arange(40), failed)] >= 0).all()


def test_every_batch_failing_stops_the_run(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m")
    make_tokenizer(root / "tokenizer.json", [*WORDS, "zebra"])
    clf = load_unchecked(root, BatchPolicy(max_batch=2))
    batches = []
    with pytest.raises(SieveError, match="does not belong to this model"):
        list(clf.stream(rows_from_texts([f"zebra {w}" for w in WORDS]), on_batch=batches.append))
    assert len(batches) == 2  # the third failure in a row, with no success, ends the run


def test_reader_errors_surface_after_earlier_results(tmp_path, shared_bundle):
    root, _, _ = shared_bundle
    path = tmp_path / "in.txt"
    path.write_bytes(b"good\n" * 30 + b"caf\xe9\n")
    clf = Classifier.load(root, policy=BatchPolicy(window=10))
    got = []
    with pytest.raises(InputError, match="line 31"):
        for chunk in clf.stream(open_source(path, errors="strict")):
            got.append(chunk)
    assert sum(len(c) for c in got) == 30


def test_micro_batcher_gives_the_same_answers_as_predict(shared_bundle):
    root, _, _ = shared_bundle
    clf = Classifier.load(root)
    texts = random_texts(50, seed=4)
    expected = [p.label for p in clf.predict(texts)]
    with clf.batcher(max_batch=8, max_wait_ms=5) as mb:
        futures = [mb.submit([t]) for t in texts]
        got = [f.result(10)[0].label for f in futures]
    assert got == expected
    assert clf.stats.snapshot()["queue_ms"].max() > 0


def test_card_describes_the_model(shared_bundle):
    root, _, _ = shared_bundle
    card = Classifier.load(root).card()
    assert card.labels == ("negative", "neutral", "positive")
    assert [i[0] for i in card.inputs] == ["input_ids", "attention_mask"]
    assert card.logits_output == "logits" and card.opset == 17
    assert card.providers_in_use and card.device in ("CPU", "CUDA")


def test_a_python_string_with_a_lone_surrogate_is_scored(shared_bundle):
    root, _, _ = shared_bundle
    (result,) = Classifier.load(root).predict(["i love \ud800 this"])
    assert result.label is not None and result.text == "i love \ufffd this"

"""The continuous micro-batcher: who shares a batch, what each caller gets back, and the limits.

Scheduling tests drive the batcher with :class:`GatedModel` (a real tokenizer, a model call that echoes texts and
can be held shut), so "requests that arrive while a batch runs form the next one" is checked without timing.
Scoring tests use small real ONNX models (tests/builders.py), including one that fails on one word.
"""

import threading
import time

import numpy as np
import pytest
from builders import WORDS, make_poisoned_bundle

from app.engine import Classifier, InferenceError, InputError, MicroBatcher
from app.engine.encoding import TextEncoder, join_encoded, split_encoded
from app.engine.live import EncodedRequest, ScoredText
from app.engine.microbatcher import BatcherClosed, DeadlineExceeded, Overloaded, TextTooLong


class GatedModel:
    """The micro-batcher's model protocol over a real tokenizer: ``run`` echoes ``(text, call number)`` per row.

    ``hold()`` makes the next model call wait until ``release()``; ``entered`` is set once that call has begun. A
    text equal to ``poison`` makes its whole call fail, as a model error on a batch would.
    """

    def __init__(self, encoder: TextEncoder, poison: str | None = None) -> None:
        self.encoder, self.poison = encoder, poison
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def hold(self) -> None:
        self.gate.clear()
        self.entered.clear()

    def release(self) -> None:
        self.gate.set()

    def encode(self, requests):
        pieces = split_encoded(self.encoder.encode([t for r in requests for t in r]), [len(r) for r in requests])
        return [EncodedRequest(r, p) for r, p in zip(requests, pieces, strict=True)]

    def join(self, parts):
        return EncodedRequest([t for p in parts for t in p.texts], join_encoded([p.encoded for p in parts]))

    def run(self, request, rows, **_):
        self.entered.set()
        assert self.gate.wait(30), "the test never released the gate"
        texts = [request.texts[i] for i in rows.tolist()]
        with self.lock:
            self.calls.append(texts)
            n = len(self.calls)
        if self.poison in texts:
            raise InferenceError(f"cannot score a batch holding {self.poison!r}")
        return [(t, n) for t in texts]


@pytest.fixture
def encoder(shared_bundle):
    return TextEncoder.from_file(shared_bundle[0] / "tokenizer.json")


def assert_same(got, expected, atol=1e-6):
    """Same texts, labels, flags and (within ``atol``) scores as :meth:`Classifier.predict` gave."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert (g.text, g.label, g.truncated, g.error) == (e.text, e.label, e.truncated, e.error)
        assert g.scores.keys() == e.scores.keys()
        np.testing.assert_allclose(list(g.scores.values()), list(e.scores.values()), atol=atol)


def mixed_texts(n, seed=0, max_words=40):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(0, max_words))) for _ in range(n)]


# ---------------------------------------------------------------------- scheduling
def test_requests_arriving_while_a_batch_runs_form_the_next_batch(encoder):
    model = GatedModel(encoder)
    with MicroBatcher(model, max_batch=32) as mb:
        model.hold()
        first = mb.submit(["i love this"])
        assert model.entered.wait(10)  # a lone request went straight to the model
        later = [mb.submit([f"the best day {w}"]) for w in ("ever", "so", "much")]
        while mb.prepared < 3:  # tokenized while the first batch is still running
            time.sleep(0.001)
        model.release()
        assert first.result(10) == [("i love this", 1)]
        assert [f.result(10)[0][1] for f in later] == [2, 2, 2]  # all three in the next model call
    assert [len(c) for c in model.calls] == [1, 3]


def test_next_batch_is_cut_by_max_batch_and_token_budget_in_arrival_order(encoder):
    model = GatedModel(encoder)
    with MicroBatcher(model, max_batch=4, max_tokens=1000, min_fill=0.0) as mb:
        model.hold()
        mb.submit(["first"])
        assert model.entered.wait(10)
        futures = [mb.submit([f"t{i}", f"u{i}"]) for i in range(5)]  # 10 texts: batches of 4, 4, 2
        while mb.prepared < 5:
            time.sleep(0.001)
        model.release()
        calls = [f.result(10)[0][1] for f in futures]
    assert calls == [2, 2, 3, 3, 4]
    tight = GatedModel(encoder)
    with MicroBatcher(tight, max_batch=32, max_tokens=12, min_fill=0.0) as mb:  # 3 tokens each: 4 per batch
        tight.hold()
        mb.submit(["first"])
        assert tight.entered.wait(10)
        futures = [mb.submit([w]) for w in WORDS[:6]]
        while mb.prepared < 6:
            time.sleep(0.001)
        tight.release()
        assert [f.result(10)[0][1] for f in futures] == [2, 2, 2, 2, 3, 3]


def test_max_wait_holds_a_batch_that_is_not_full(encoder):
    model = GatedModel(encoder)
    with MicroBatcher(model, max_batch=3, max_wait_ms=600_000) as mb:
        a, b = mb.submit(["a"]), mb.submit(["b"])
        assert not a.done() and not model.calls  # waiting for a third text, for up to ten minutes
        c = mb.submit(["c"])  # the batch is full: it runs now
        assert [f.result(10) for f in (a, b, c)] == [[("a", 1)], [("b", 1)], [("c", 1)]]


def test_a_request_larger_than_max_batch_runs_in_several_calls(shared_bundle):
    clf = Classifier.load(shared_bundle[0])
    texts = mixed_texts(100, seed=3)
    with clf.batcher(max_batch=8) as mb:
        got = mb.predict(texts, timeout=30)
    assert_same(got, clf.predict(texts))


def test_empty_request_resolves_at_once_and_a_string_is_one_text(encoder):
    with MicroBatcher(GatedModel(encoder)) as mb:
        assert mb.predict([], timeout=1) == []
        assert mb.predict("i love this", timeout=10) == [("i love this", 1)]


def test_close_finishes_queued_requests_then_refuses_new_ones(encoder):
    model = GatedModel(encoder)
    mb = MicroBatcher(model, max_batch=2)
    model.hold()
    futures = [mb.submit([f"t{i}"]) for i in range(9)]
    closer = threading.Thread(target=mb.close)
    closer.start()
    model.release()
    closer.join(30)
    assert all(f.done() for f in futures)
    assert [f.result()[0][0] for f in futures] == [f"t{i}" for i in range(9)]
    with pytest.raises(BatcherClosed):
        mb.submit(["late"])


@pytest.mark.parametrize("workers", [2, 4])
def test_several_workers_lose_nothing(shared_bundle, workers):
    clf = Classifier.load(shared_bundle[0], threads=1)
    texts = mixed_texts(80, seed=workers)
    futures = {}
    with clf.batcher(max_batch=4, workers=workers) as mb:
        def client(i):
            for j in range(10):
                futures[(i, j)] = mb.submit([texts[i * 10 + j]])

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    expected = clf.predict(texts)
    assert sorted(futures) == [(i, j) for i in range(8) for j in range(10)]
    for (i, j), future in futures.items():
        assert_same(future.result(0), [expected[i * 10 + j]])


# ---------------------------------------------------------------------- each caller gets its own answer
def test_concurrent_callers_each_get_their_own_results_equal_to_predict(shared_bundle):
    clf = Classifier.load(shared_bundle[0])
    texts = mixed_texts(400, seed=1)
    expected = clf.predict(texts)
    results: dict[int, list] = {}
    reports = []
    with clf.batcher(max_batch=16, on_batch=reports.append) as mb:
        def client(i):
            mine = list(range(i * 10, i * 10 + 10))
            got = []
            for k in range(0, 10, 2 + i % 3):
                got += mb.predict([texts[j] for j in mine[k:k + 2 + i % 3]], timeout=30)
            results[i] = got

        threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for i, got in results.items():
        assert_same(got, expected[i * 10:i * 10 + 10])
        assert all(isinstance(p, ScoredText) and p.error is None for p in got)
    assert sum(r.texts for r in reports) == 400 and max(r.texts for r in reports) <= 16


def test_a_batch_mates_failure_never_fails_another_caller(tmp_path):
    """Issue 11 item 10: a valid request came back with another request's ONNX Runtime error."""
    root, _, _ = make_poisoned_bundle(tmp_path / "m")
    clf = Classifier.load(root)
    texts = ["bad", "sad", "awful", "i love", "so good", "the best day ever and so happy",
             "it was not good it was terrible and boring and the worst", "i love this movie so much it was wonderful",
             "fine", "okay", "neutral table", "chair", "the weather today is fine and okay"]
    expected = {t: clf.predict([t])[0] for t in texts}
    with clf.batcher(max_wait_ms=500) as mb:  # everything submitted below shares one cut
        futures = [(t, mb.submit([t])) for t in texts[:6]] + [("poison", mb.submit(["poison"]))]
        futures += [(t, mb.submit([t])) for t in texts[6:]]
        for text, future in futures:
            if text == "poison":
                with pytest.raises(InferenceError):
                    future.result(30)
            else:
                assert_same(future.result(30), [expected[text]])


def test_a_request_with_its_own_bad_text_fails_whole_and_the_same_way_every_time(tmp_path):
    root, _, _ = make_poisoned_bundle(tmp_path / "m")
    clf = Classifier.load(root)
    with clf.batcher() as mb:
        for attempt in range(3):
            with pytest.raises(InferenceError):
                mb.predict(["i love this", "poison"], timeout=30)
            crowd = [mb.submit([w]) for w in WORDS[:5]]
            with pytest.raises(InferenceError):
                mb.predict(["poison"], timeout=30)
            assert [f.result(30)[0].label for f in crowd] == [p.label for p in clf.predict(WORDS[:5])], attempt


def test_shared_failure_is_retried_alone_with_a_gated_model(encoder):
    model = GatedModel(encoder, poison="poison")
    with MicroBatcher(model, max_batch=32, min_fill=0.0) as mb:
        model.hold()
        mb.submit(["first"])
        assert model.entered.wait(10)
        good, bad, other = mb.submit(["a", "b"]), mb.submit(["poison"]), mb.submit(["c"])
        while mb.prepared < 3:
            time.sleep(0.001)
        model.release()
        assert [t for t, _ in good.result(10)] == ["a", "b"]
        assert [t for t, _ in other.result(10)] == ["c"]
        with pytest.raises(InferenceError, match="poison"):
            bad.result(10)
    assert model.calls[1] == ["a", "b", "poison", "c"]  # together once, then each alone
    assert sorted(map(tuple, model.calls[2:])) == [("a", "b"), ("c",), ("poison",)]


# ---------------------------------------------------------------------- limits
def test_a_full_queue_refuses_with_overloaded(encoder):
    model = GatedModel(encoder)
    with MicroBatcher(model, max_queue=2) as mb:
        model.hold()
        running = mb.submit(["first"])
        assert model.entered.wait(10)
        queued = [mb.submit(["b"]), mb.submit(["c"])]
        assert mb.overloaded
        with pytest.raises(Overloaded) as refused:
            mb.submit(["d"])
        assert refused.value.retry_after_s >= 1 and "waiting" in str(refused.value)
        model.release()
        assert running.result(10) and all(f.result(10) for f in queued)
        assert not mb.overloaded
        assert mb.predict(["e"], timeout=10)


def test_a_request_past_its_deadline_is_dropped_unrun(encoder):
    model = GatedModel(encoder)
    with MicroBatcher(model) as mb:
        model.hold()
        mb.submit(["first"])
        assert model.entered.wait(10)
        late = mb.submit(["never run"], timeout_s=0.01)
        time.sleep(0.05)  # let its deadline pass while the first batch still runs
        model.release()
        with pytest.raises(DeadlineExceeded):
            late.result(10)
    assert ["never run"] not in model.calls


def test_a_cancelled_request_is_not_run(encoder):
    model = GatedModel(encoder)
    with MicroBatcher(model) as mb:
        model.hold()
        mb.submit(["first"])
        assert model.entered.wait(10)
        gone = mb.submit(["cancelled"])
        assert gone.cancel()
        model.release()
        assert mb.predict(["after"], timeout=10)
    assert all("cancelled" not in c for c in model.calls)


def test_truncate_false_refuses_a_text_over_the_maximum_length(tmp_path):
    from builders import make_bundle

    root, _, _ = make_bundle(tmp_path / "m", tokenizer_kwargs={"max_length": 6})
    clf = Classifier.load(root)
    long = "i love this great movie so much"
    with clf.batcher() as mb:
        with pytest.raises(TextTooLong, match="maximum length"):
            mb.submit(["short", long], truncate=False).result(10)
        (got,) = mb.predict([long], timeout=10)
        assert got.truncated
        assert_same([got], clf.predict([long]))
        with pytest.raises(InputError, match="not text"):
            mb.predict([42], timeout=10)


def test_stage_times_and_raw_scores_come_with_each_result(shared_bundle):
    from builders import reference_logits, token_ids

    root, weights, tok = shared_bundle
    clf = Classifier.load(root)
    with clf.batcher() as mb:
        future = mb.submit(["i love this movie", "awful"])
        got = future.result(10)
    times = future.times
    assert times.inference_ms > 0 and times.tokenize_ms >= 0 and times.queue_ms >= 0 and times.batch_texts >= 1
    ref = reference_logits(weights, token_ids(tok, ["i love this movie", "awful"]))
    np.testing.assert_allclose([p.logits for p in got], ref, atol=1e-5)

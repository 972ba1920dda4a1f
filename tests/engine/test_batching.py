import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine import BatchPolicy, InputError, MicroBatcher, plan_batches
from app.engine.batching import BatcherClosed

lengths_st = st.lists(st.integers(1, 300), min_size=0, max_size=400)
policy_st = st.builds(BatchPolicy, st.integers(1, 64), st.integers(1, 4096), st.integers(1, 128),
                      st.floats(0.0, 1.0))


@settings(max_examples=200, deadline=None)
@given(lengths_st, policy_st, st.booleans())
def test_plan_covers_every_row_once_within_limits(lengths, policy, sort):
    lengths = np.array(lengths, dtype=np.int32)
    batches = plan_batches(lengths, policy, sort=sort)
    seen = np.concatenate(batches) if batches else np.array([], dtype=int)
    assert sorted(seen.tolist()) == list(range(len(lengths)))  # every row exactly once
    for b in batches:
        assert 1 <= len(b) <= policy.max_batch
        if len(b) > 1:
            assert len(b) * lengths[b].max() <= policy.max_tokens
            assert lengths[b].sum() >= policy.min_fill * len(b) * lengths[b].max() - 1e-9  # padding floor kept
        assert b.min() // policy.window == b.max() // policy.window  # never mixes windows
    if not sort:
        assert seen.tolist() == list(range(len(lengths)))


def test_sorted_plan_pads_less_than_arrival_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(4, 128, size=2000)
    policy = BatchPolicy(max_batch=32, max_tokens=100_000, window=512, min_fill=0.0)

    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    assert padded(plan_batches(lengths, policy)) < 0.75 * padded(plan_batches(lengths, policy, sort=False))


def test_long_rows_get_small_batches():
    lengths = np.array([500, 10, 10, 10, 10])
    batches = plan_batches(lengths, BatchPolicy(max_batch=8, max_tokens=256, window=64))
    assert [b.tolist() for b in batches] == [[0], [1, 2, 3, 4]]


def test_min_fill_splits_a_ragged_micro_batch_into_tight_batches():
    lengths = np.array([60, 10, 45, 27, 35, 15, 30, 22])  # eight requests of very different lengths
    one = plan_batches(lengths, BatchPolicy(max_batch=32, min_fill=0.0))
    tight = plan_batches(lengths, BatchPolicy(max_batch=32, min_fill=0.75))
    assert len(one) == 1
    assert [lengths[b].tolist() for b in tight] == [[60, 45, 35], [30, 27, 22, 15], [10]]

    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    assert padded(tight) < 0.7 * padded(one)


def test_policy_rejects_nonsense():
    with pytest.raises(InputError):
        BatchPolicy(max_batch=0)
    with pytest.raises(InputError, match="min fill"):
        BatchPolicy(min_fill=1.5)


# ---------------------------------------------------------------------- micro-batcher
class Recorder:
    """A run function that records the batches it sees and echoes texts with their batch number."""

    def __init__(self, delay=0.0, fail_on=None):
        self.calls: list[list[str]] = []
        self.delay = delay
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, texts, queue_ms):
        if self.fail_on and self.fail_on in texts:
            with self.lock:
                self.calls.append(list(texts))
            raise ValueError(f"cannot score {self.fail_on!r}")
        time.sleep(self.delay)
        with self.lock:
            self.calls.append(list(texts))
            n = len(self.calls)
        return [(t, n) for t in texts]


def test_concurrent_callers_each_get_their_own_results():
    run = Recorder(delay=0.002)
    with MicroBatcher(run, max_batch=8, max_wait_ms=20) as mb:
        results = {}

        def client(i):
            texts = [f"c{i}-{j}" for j in range(i % 3 + 1)]
            results[i] = (texts, mb.predict(texts, timeout=10))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for texts, got in results.values():
        assert [t for t, _ in got] == texts
    flat = [t for call in run.calls for t in call]
    assert sorted(flat) == sorted(t for texts, _ in results.values() for t in texts)  # nothing lost or doubled
    assert max(len(c) for c in run.calls) <= 8
    assert len(run.calls) < 40  # requests really were combined


def test_a_lone_request_waits_at_most_max_wait():
    run = Recorder()
    with MicroBatcher(run, max_batch=64, max_wait_ms=1) as mb:
        assert mb.predict(["a"], timeout=5) == [("a", 1)]


def test_close_finishes_queued_requests_then_refuses_new_ones():
    run = Recorder(delay=0.01)
    mb = MicroBatcher(run, max_batch=2, max_wait_ms=50)
    futures = [mb.submit([f"t{i}"]) for i in range(9)]
    mb.close()
    assert all(f.done() for f in futures)
    assert sorted(r[0][0] for r in (f.result() for f in futures)) == sorted(f"t{i}" for i in range(9))
    with pytest.raises(BatcherClosed):
        mb.submit(["late"])


def test_one_bad_request_does_not_fail_its_neighbours():
    run = Recorder(fail_on="poison")
    with MicroBatcher(run, max_batch=16, max_wait_ms=50) as mb:
        good = mb.submit(["a", "b"])
        bad = mb.submit(["poison"])
        other = mb.submit(["c"])
        assert [t for t, _ in good.result(5)] == ["a", "b"]
        assert [t for t, _ in other.result(5)] == ["c"]
        with pytest.raises(ValueError, match="poison"):
            bad.result(5)


def test_request_larger_than_max_batch_still_runs():
    run = Recorder()
    with MicroBatcher(run, max_batch=4, max_wait_ms=1) as mb:
        assert len(mb.predict([str(i) for i in range(10)], timeout=5)) == 10


def test_empty_request_resolves_at_once():
    with MicroBatcher(Recorder(), max_batch=4) as mb:
        assert mb.predict([], timeout=1) == []


@pytest.mark.parametrize("workers", [2, 4])
def test_several_workers_lose_nothing_and_close_cleanly(workers):
    run = Recorder(delay=0.003)
    mb = MicroBatcher(run, max_batch=4, max_wait_ms=2, workers=workers)
    futures = {}

    def client(i):
        for j in range(10):
            futures[(i, j)] = mb.submit([f"{i}-{j}"])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mb.close()
    assert all(f.done() for f in futures.values())
    assert {k: f.result()[0][0] for k, f in futures.items()} == {(i, j): f"{i}-{j}" for i in range(8) for j in range(10)}
    assert sorted(t for call in run.calls for t in call) == sorted(f"{i}-{j}" for i in range(8) for j in range(10))

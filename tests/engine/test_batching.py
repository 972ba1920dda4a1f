import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine import BatchPolicy, InputError, plan_batches

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

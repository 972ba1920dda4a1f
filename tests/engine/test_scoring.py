import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from app.engine.scoring import probabilities, sigmoid, softmax

finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, width=32)


@given(arrays(np.float32, st.tuples(st.integers(1, 8), st.integers(1, 6)), elements=finite))
def test_softmax_rows_sum_to_one_and_keep_the_argmax(logits):
    p = softmax(logits.copy())
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(p[np.arange(len(p)), logits.argmax(axis=1)] == p.max(axis=1))


def test_softmax_matches_the_textbook_formula_where_that_is_safe():
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]], dtype=np.float32)
    expected = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax(x.copy()), expected, rtol=1e-6)


def test_softmax_survives_huge_logits():
    p = softmax(np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32))
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0]], atol=1e-7)


def test_sigmoid_is_stable_and_correct():
    x = np.array([[-1000.0, -5.0, 0.0, 5.0, 1000.0]], dtype=np.float32)
    s = sigmoid(x)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s[0, 1:4], 1 / (1 + np.exp(-x[0, 1:4])), rtol=1e-6)
    assert s[0, 0] == 0.0 and s[0, 4] == 1.0


def test_probabilities_picks_by_problem_type_and_leaves_input_alone():
    logits = np.array([[2.0, -2.0]], dtype=np.float32)
    assert np.isclose(probabilities(logits, False).sum(), 1.0)
    multi = probabilities(logits, True)
    np.testing.assert_allclose(multi, [[1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(2.0))]], rtol=1e-6)
    assert logits.tolist() == [[2.0, -2.0]]

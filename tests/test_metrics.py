"""fnn's metrics against scikit-learn's (float64, tight tolerances), and unstandardize."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fnn

metrics = pytest.importorskip("sklearn.metrics")

RTOL = 1e-12


def regression(seed: int, n: int, k: int):
    rng = np.random.default_rng(seed)
    y_true = rng.normal(size=(n, k))
    y_pred = y_true + rng.normal(scale=0.5, size=(n, k))
    weights = rng.uniform(0.0, 2.0, size=n)
    if k == 1:
        return y_true[:, 0], y_pred[:, 0], weights
    return y_true, y_pred, weights


@settings(max_examples=30)
@given(st.integers(0, 10**6), st.integers(1, 40), st.integers(1, 3), st.booleans())
def test_regression_metrics_match_scikit_learn(seed, n, k, weighted):
    y_true, y_pred, weights = regression(seed, n, k)
    w = weights if weighted and weights.sum() > 0 else None
    for name in ("mean_squared_error", "mean_absolute_error", "r2_score"):
        if name == "r2_score" and n < 2:
            continue  # scikit-learn warns and returns NaN for one sample; fnn gives 0 or 1
        ours, theirs = getattr(fnn, name), getattr(metrics, name)
        for multioutput in ("uniform_average", "raw_values"):
            expected = theirs(y_true, y_pred, sample_weight=w, multioutput=multioutput)
            got = ours(y_true, y_pred, sample_weight=w, multioutput=multioutput)
            np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-14)
        assert isinstance(ours(y_true, y_pred, sample_weight=w), float)


def test_r2_of_a_constant_target_follows_scikit_learn():
    y_true = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 4.0]])
    for y_pred in (y_true, y_true + [[0.5, 0.0], [0.0, 0.1], [0.0, 0.0]]):
        expected = metrics.r2_score(y_true, y_pred, multioutput="raw_values")
        np.testing.assert_array_equal(fnn.r2_score(y_true, y_pred, multioutput="raw_values"),
                                      expected)  # fmt: skip


def test_r2_score_of_a_trained_float32_regressor():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -1.0, 0.5], np.float32)).astype(np.float32)
    net = fnn.mlp([3, 8, 1], output="identity")
    result = fnn.fit(net, fnn.init(net, key=0, dtype=np.float32), fnn.adam(0.05), X, y,
                     epochs=50)  # fmt: skip
    y_hat = fnn.predict(net, result.params, X)
    assert y_hat.dtype == np.float32
    assert fnn.r2_score(y, y_hat) == pytest.approx(metrics.r2_score(y, y_hat), rel=1e-6)


@settings(max_examples=30)
@given(st.integers(0, 10**6), st.integers(1, 40), st.integers(2, 4), st.booleans())
def test_log_loss_matches_scikit_learn(seed, n, k, weighted):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(n, k))
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    labels = rng.integers(0, k, size=n)
    w = rng.uniform(0.1, 2.0, size=n) if weighted else None
    expected = metrics.log_loss(labels, proba, sample_weight=w, labels=np.arange(k))
    assert fnn.log_loss(labels, proba, sample_weight=w) == pytest.approx(expected, rel=RTOL)
    binary = labels % 2
    positive = proba[:, 0]
    expected = metrics.log_loss(binary, positive, sample_weight=w, labels=[0, 1])
    assert fnn.log_loss(binary, positive, sample_weight=w) == pytest.approx(expected, rel=RTOL)
    assert fnn.log_loss(binary, positive[:, None]) == fnn.log_loss(binary, positive)


def test_log_loss_clips_certain_mistakes_as_scikit_learn():
    proba = np.array([[1.0, 0.0], [0.0, 1.0]])
    for dtype in (np.float64, np.float32):
        expected = metrics.log_loss([1, 1], proba.astype(dtype), labels=[0, 1])
        assert fnn.log_loss([1, 1], proba.astype(dtype)) == pytest.approx(expected, rel=1e-6)


def test_log_loss_of_a_classifier_is_fnn_loss():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    y = rng.integers(0, 3, size=30)
    net = fnn.mlp([2, 5, 3], output="softmax")
    params = fnn.init(net, key=2)
    proba = fnn.predict_proba(net, params, X)
    assert fnn.log_loss(y, proba) == pytest.approx(fnn.loss(net, params, X, y), rel=1e-12)


@pytest.mark.filterwarnings("ignore:A single label")
@settings(max_examples=30)
@given(st.integers(0, 10**6), st.integers(1, 50), st.integers(1, 5), st.booleans(),
       st.sampled_from([None, "true", "pred", "all"]))  # fmt: skip
def test_confusion_matrix_matches_scikit_learn(seed, n, k, weighted, normalize):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, k, size=n), rng.integers(0, k, size=n)
    w = rng.uniform(0.1, 2.0, size=n) if weighted else None
    classes = np.arange(max(y_true.max(), y_pred.max()) + 1)
    expected = metrics.confusion_matrix(y_true, y_pred, labels=classes, sample_weight=w,
                                        normalize=normalize)  # fmt: skip
    got = fnn.confusion_matrix(y_true, y_pred, sample_weight=w, normalize=normalize)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)
    assert not got.flags.writeable
    assert (got.dtype == np.int64) == (w is None and normalize is None)
    others = rng.permutation(classes[classes != y_true[0]])[: classes.size // 2]
    subset = np.append(others, y_true[0])  # scikit-learn wants one label of y_true in it
    np.testing.assert_allclose(
        fnn.confusion_matrix(y_true, y_pred, labels=subset, sample_weight=w),
        metrics.confusion_matrix(y_true, y_pred, labels=subset, sample_weight=w),
        rtol=RTOL,
    )


def test_metrics_leave_their_inputs_alone():
    y_true, y_pred, weights = regression(0, 10, 2)
    copies = [a.copy() for a in (y_true, y_pred, weights)]
    for name in ("mean_squared_error", "mean_absolute_error", "r2_score"):
        getattr(fnn, name)(y_true, y_pred, sample_weight=weights)
    for before, after in zip(copies, (y_true, y_pred, weights)):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unstandardize_inverts_standardize(dtype):
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(20, 3)) * [1.0, 100.0, 0.01] + [5.0, -3.0, 0.0]).astype(dtype)
    scaler = fnn.standardizer(X)
    back = fnn.unstandardize(scaler, fnn.standardize(scaler, X))
    assert back.dtype == dtype and not back.flags.writeable
    np.testing.assert_allclose(back, X, rtol=10 * np.finfo(dtype).eps, atol=1e-5)
    expected = fnn.standardize(scaler, X) * scaler.scale + scaler.mean  # the formula, by hand
    np.testing.assert_array_equal(back, expected)


def test_unstandardize_takes_single_output_predictions():
    y = np.array([[10.0], [20.0], [30.0]])
    scaler = fnn.standardizer(y)
    z = fnn.standardize(scaler, y)[:, 0]  # (n,) as fnn.predict returns for one output
    back = fnn.unstandardize(scaler, z)
    assert back.shape == (3,)
    np.testing.assert_allclose(back, y[:, 0], rtol=1e-15)

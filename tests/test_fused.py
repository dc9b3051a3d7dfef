"""``fit`` against the composable loop it promises to be, bit for bit::

    for epoch in range(epochs):
        for rows in fnn.minibatches(fnn.fold_in(key, epoch), n, batch_size):
            params, state = fnn.opt_step(opt, params, fnn.grad(net, params, X[rows], y[rows], l2), state)

Both run the same compiled engine on the same batches, so the parameters and optimizer state
are equal bit for bit: every optimizer, with and without gradient clipping, full batch and
mini-batches with a partial last batch, float64 and float32, with an L2 penalty and a schedule,
small nets (loops) and one wide enough for BLAS.
"""

import numpy as np
import pytest

import fnn
from fnn.engine import blas_thread_setters
from fnn.registry import LOSSES, OPTIMIZERS

#: One config per registered optimizer (the registry is the single source of names).
CONFIGS = {
    "sgd": fnn.sgd(0.1),
    "momentum": fnn.momentum(0.1, beta=0.8),
    "rmsprop": fnn.rmsprop(0.01, beta=0.9),
    "adam": fnn.adam(0.01),
    "adamw": fnn.adamw(0.01, weight_decay=0.05),
}

#: (sizes, hidden, output, n_rows, loss): small nets (loops), one wide enough for BLAS.
NETS = {
    "bce-tanh": ([3, 5, 4, 1], "tanh", "sigmoid", 23, None),
    "ce-relu": ([4, 6, 3], "relu", "softmax", 23, None),
    "mse-sigmoid": ([2, 4, 2], "sigmoid", "identity", 23, None),
    "mse-sigmoid-output": ([2, 4, 2], "tanh", "sigmoid", 23, "mse"),  # non-canonical pairs:
    "mse-softmax-output": ([3, 5, 3], "relu", "softmax", 23, "mse"),  # the chain rule
    "ce-wide": ([6, 40, 30, 3], "relu", "softmax", 120, None),
    "huber-tanh-output": ([2, 4, 2], "relu", "tanh", 23, "huber"),
    "mae": ([2, 4, 2], "tanh", "identity", 23, "mae"),
    "poisson": ([2, 4, 2], "tanh", "identity", 23, "poisson"),
    "quantile-sigmoid-output": ([2, 4, 2], "tanh", "sigmoid", 23, "quantile"),
}

#: The epoch losses: fit sums batch losses, the loop sums value * rows; equal to rounding.
TOLERANCE = {np.float64: dict(rtol=1e-12, atol=0), np.float32: dict(rtol=1e-6, atol=0)}


def test_every_optimizer_is_covered():
    assert set(CONFIGS) == set(OPTIMIZERS)


def make_problem(name, dtype, seed=0):
    sizes, hidden, output, n, loss = NETS[name]
    net = fnn.mlp(sizes, hidden=hidden, output=output, loss=loss)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    if loss is not None:  # every explicit loss above is a regression
        y = rng.uniform(0, 1, (n, sizes[-1])).astype(dtype)
    elif output == "sigmoid":
        y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    elif output == "softmax":
        y = np.argmax(X[:, : sizes[-1]] + 0.3 * rng.standard_normal((n, sizes[-1])), axis=1)
    else:
        y = np.tanh(X @ rng.standard_normal((sizes[0], sizes[-1]))).astype(dtype)
    params = fnn.init(net, key=seed, dtype=dtype)
    return net, params, X, y


def composable(net, params, opt, X, y, epochs, batch_size, key, l2):
    """The loop ``fit`` must reproduce; returns params, state and each epoch's mean loss."""
    state = fnn.opt_init(opt, params)
    n = X.shape[0]
    losses = []
    for epoch in range(epochs):
        total = 0.0
        for rows in fnn.minibatches(fnn.fold_in(key, epoch), n, batch_size):
            value, grads = fnn.value_and_grad(net, params, X[rows], y[rows], l2=l2)
            total += value * len(rows)
            params, state = fnn.opt_step(opt, params, grads, state)
        losses.append(total / n)
    return params, state, np.array(losses)


def assert_params_equal(actual, expected, dtype):
    for got, want in zip(actual.layers, expected.layers):
        for a, b in zip(got, want):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [None, 5])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fit_equals_the_composable_loop(name, batch_size, dtype):
    net, params, X, y = make_problem("bce-tanh", dtype)
    opt, l2, key, epochs = CONFIGS[name], 0.3, 7, 3
    result = fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=batch_size, key=key, l2=l2)
    want, state, losses = composable(net, params, opt, X, y, epochs, batch_size, key, l2)
    assert_params_equal(result.params, want, dtype)
    assert result.opt_state.step == state.step == epochs * (1 if batch_size is None else 5)
    for got_slot, want_slot in zip(result.opt_state.slots, state.slots):
        assert_params_equal(got_slot, want_slot, dtype)
    np.testing.assert_allclose(result.history.loss, losses, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [None, 5])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fit_equals_the_composable_loop_with_gradient_clipping(name, batch_size, dtype):
    net, params, X, y = make_problem("bce-tanh", dtype)
    opt, l2, key, epochs = CONFIGS[name]._replace(clip_norm=0.05), 0.3, 7, 3
    result = fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=batch_size, key=key, l2=l2)
    want, state, _ = composable(net, params, opt, X, y, epochs, batch_size, key, l2)
    assert_params_equal(result.params, want, dtype)
    for got_slot, want_slot in zip(result.opt_state.slots, state.slots):
        assert_params_equal(got_slot, want_slot, dtype)
    unclipped = fnn.fit(net, params, CONFIGS[name], X, y, epochs=epochs, batch_size=batch_size,
                        key=key, l2=l2)  # fmt: skip
    assert not np.array_equal(unclipped.params.layers[0].W, result.params.layers[0].W)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [None, 16])
@pytest.mark.parametrize("problem", sorted(NETS))
def test_fit_equals_the_composable_loop_for_every_loss(problem, batch_size, dtype):
    net, params, X, y = make_problem(problem, dtype, seed=1)
    opt, l2, key, epochs = fnn.adam(0.02), 0.1, 3, 2
    result = fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=batch_size, key=key, l2=l2)
    want, _, losses = composable(net, params, opt, X, y, epochs, batch_size, key, l2)
    assert_params_equal(result.params, want, dtype)
    np.testing.assert_allclose(result.history.loss, losses, **TOLERANCE[dtype])
    if LOSSES[net.loss].labels != "targets":
        # Accuracy of the epoch as trained: batch by batch, before each update.
        assert result.history.accuracy.shape == (epochs,)
        assert np.all((0 <= result.history.accuracy) & (result.history.accuracy <= 1))


def test_schedule_and_validation_match_the_composable_loop():
    net, params, X, y = make_problem("ce-relu", np.float64, seed=2)
    opt = fnn.momentum(fnn.exponential_decay(0.2, 0.5, decay_steps=3), beta=0.7)
    X_val, y_val = X[:7] + 0.1, y[:7]
    result = fnn.fit(
        net, params, opt, X, y, epochs=4, batch_size=6, key=11, l2=0.05, validation=(X_val, y_val)
    )
    want, _, losses = composable(net, params, opt, X, y, 4, 6, 11, 0.05)
    assert_params_equal(result.params, want, np.float64)
    np.testing.assert_allclose(result.history.loss, losses, rtol=1e-12)
    assert result.history.val_loss[-1] == fnn.loss(net, want, X_val, y_val, l2=0.05)
    assert result.history.val_accuracy[-1] == fnn.accuracy(net, want, X_val, y_val)


def test_fit_keeps_float32_and_runs_blas_with_one_thread():
    net, params, X, y = make_problem("ce-wide", np.float32, seed=4)
    setters = blas_thread_setters()  # empty where OpenBLAS is not found
    for setter in setters:
        setter(2)
    result = fnn.fit(net, params, fnn.adam(0.01), X, y, epochs=2, batch_size=50)
    assert [setter(1) for setter in setters] == [1] * len(setters)
    assert all(part.dtype == np.float32 for layer in result.params.layers for part in layer)
    assert all(slot.layers[0].W.dtype == np.float32 for slot in result.opt_state.slots)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("problem", ["huber", "ce"])
def test_weights_dropout_and_clipping_together_match_the_composable_loop(problem, dtype):
    """Mask and weights are independent: the loop passes each batch's weights and the
    update's dropout key, fit draws the same masks and weighs the same rows."""
    rng = np.random.default_rng(5)
    n, key, epochs, batch_size, l2 = 23, 4, 3, 5, 0.2
    X = rng.standard_normal((n, 3)).astype(dtype)
    if problem == "huber":
        net = fnn.mlp([3, 6, 5, 2], hidden="tanh", output="identity", loss="huber", delta=0.5,
                      dropout=[0.3, 0.2])  # fmt: skip
        y = rng.standard_normal((n, 2)).astype(dtype)
        class_weight, w = None, rng.uniform(0, 2, n)
        w[:4] = 0.0  # rows that count for nothing
    else:
        net = fnn.mlp([3, 6, 3], hidden="relu", output="softmax", dropout=0.4)
        y = rng.integers(0, 3, n)
        class_weight, w = {0: 3.0, 2: 0.5}, rng.integers(0, 3, n).astype(float)
    per_row = w if class_weight is None else w * np.array([3.0, 1.0, 0.5])[y]
    params = fnn.init(net, key=2, dtype=dtype)
    opt = fnn.adam(0.02, clip_norm=0.1)
    result = fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=batch_size, key=key,
                     l2=l2, sample_weight=w, class_weight=class_weight)  # fmt: skip
    state, mine, losses = fnn.opt_init(opt, params), params, []
    for epoch in range(epochs):
        total = 0.0
        for rows in fnn.minibatches(fnn.fold_in(key, epoch), n, batch_size):
            dropout_key = fnn.fold_in(fnn.fold_in(key, 2**64 - 1), state.step)
            value, grads = fnn.value_and_grad(net, mine, X[rows], y[rows], l2,
                                              per_row[rows], dropout_key=dropout_key)  # fmt: skip
            total += value * per_row[rows].astype(dtype).sum(dtype=np.float64)
            mine, state = fnn.opt_step(opt, mine, grads, state)
        losses.append(total / per_row.astype(dtype).sum(dtype=np.float64))
    assert_params_equal(result.params, mine, dtype)
    for got_slot, want_slot in zip(result.opt_state.slots, state.slots):
        assert_params_equal(got_slot, want_slot, dtype)
    np.testing.assert_allclose(result.history.loss, losses, **TOLERANCE[dtype])
    unweighted = fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=batch_size, key=key,
                         l2=l2)  # fmt: skip
    assert not np.array_equal(unweighted.params.layers[0].W, result.params.layers[0].W)

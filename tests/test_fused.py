"""The fused ``fit`` (one compiled kernel per stretch of epochs) against the composable loop.

The composable loop is what DESIGN §3 promises ``fit`` to be::

    for epoch in range(epochs):
        for rows in fnn.minibatches(fnn.fold_in(key, epoch), n, batch_size):
            params, state = fnn.opt_step(opt, params, fnn.grad(net, params, X[rows], y[rows], l2), state)

Every optimizer, full batch and mini-batches with a partial last batch, float64 (to rounding)
and float32 (dtype kept), with an L2 penalty. The fast paths inside the kernels (small matrix
products as loops, BLAS for larger ones, fused bias + activation) are checked against NumPy.
"""

import numpy as np
import pytest

import fnn
from fnn import kernels
from fnn.optim import OPTIMIZERS

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
}

TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-3, atol=2e-4)}


def test_every_optimizer_is_covered():
    assert set(CONFIGS) == set(OPTIMIZERS)


def make_problem(name, dtype, seed=0):
    sizes, hidden, output, n, loss = NETS[name]
    net = fnn.mlp(sizes, hidden=hidden, output=output, loss=loss)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    if loss == "mse":
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


def assert_params_close(actual, expected, dtype):
    for got, want in zip(actual.layers, expected.layers):
        for a, b in zip(got, want):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [None, 5])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fit_equals_the_composable_loop(name, batch_size, dtype):
    net, params, X, y = make_problem("bce-tanh", dtype)
    opt, l2, key, epochs = CONFIGS[name], 0.3, 7, 3
    result = fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=batch_size, key=key, l2=l2)
    want, state, losses = composable(net, params, opt, X, y, epochs, batch_size, key, l2)
    assert_params_close(result.params, want, dtype)
    assert result.opt_state.step == state.step == epochs * (1 if batch_size is None else 5)
    for got_slot, want_slot in zip(result.opt_state.slots, state.slots):
        assert_params_close(got_slot, want_slot, dtype)
    np.testing.assert_allclose(result.history.loss, losses, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [None, 16])
@pytest.mark.parametrize("problem", sorted(NETS))
def test_fit_equals_the_composable_loop_for_every_loss(problem, batch_size, dtype):
    net, params, X, y = make_problem(problem, dtype, seed=1)
    opt, l2, key, epochs = fnn.adam(0.02), 0.1, 3, 2
    result = fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=batch_size, key=key, l2=l2)
    want, _, losses = composable(net, params, opt, X, y, epochs, batch_size, key, l2)
    assert_params_close(result.params, want, dtype)
    np.testing.assert_allclose(result.history.loss, losses, **TOLERANCE[dtype])
    if net.loss != "mse":
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
    assert_params_close(result.params, want, np.float64)
    np.testing.assert_allclose(result.history.loss, losses, rtol=1e-10)
    np.testing.assert_allclose(
        result.history.val_loss[-1], fnn.loss(net, want, X_val, y_val, l2=0.05), rtol=1e-10
    )
    np.testing.assert_allclose(
        result.history.val_accuracy[-1], fnn.accuracy(net, want, X_val, y_val), rtol=1e-12
    )


# -- fast paths inside the kernels against plain NumPy ------------------------------------------


def ordered(array, order):
    """The same values as a C-ordered array, or as the transpose of a C-ordered array."""
    return np.ascontiguousarray(array) if order == "C" else np.ascontiguousarray(array.T).T


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order_b", ["C", "F"])
@pytest.mark.parametrize("order_a", ["C", "F"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 3, 5), (64, 5, 2), (16, 24, 24), (40, 50, 30)])
def test_matmul_fast_paths_match_numpy(shape, order_a, order_b, dtype):
    m, k, n = shape
    rng = np.random.default_rng(m * k * n)
    A = ordered(rng.standard_normal((m, k)).astype(dtype), order_a)
    B = ordered(rng.standard_normal((k, n)).astype(dtype), order_b)
    out = np.full((m, n), np.nan, dtype)
    kernels._matmul_into(A, B, out)
    np.testing.assert_allclose(out, A.astype(np.float64) @ B, **TOLERANCE[dtype])


#: (m, k, n) for W of shape (k, n) over m rows: loops (small or skinny) and BLAS.
PRODUCT_SHAPES = [
    (1, 1, 1),
    (7, 3, 5),
    (64, 2, 5),
    (64, 5, 2),
    (900, 2, 25),
    (16, 24, 24),
    (40, 50, 30),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", PRODUCT_SHAPES)
def test_feature_major_products_match_numpy(shape, dtype):
    m, k, n = shape
    rng = np.random.default_rng(m + 10 * k + 100 * n)
    W = rng.standard_normal((k, n)).astype(dtype)
    AT = rng.standard_normal((k, m)).astype(dtype)
    DT = rng.standard_normal((n, m)).astype(dtype)
    wide = {np.float64: np.float64, np.float32: np.float64}[dtype]
    cases = [
        (kernels.FORWARD, W, AT, (n, m), W.T.astype(wide) @ AT),
        (kernels.WEIGHT_GRAD, AT, DT, (k, n), AT.astype(wide) @ DT.T),
        (kernels.BACKPROP, W, DT, (k, m), W.astype(wide) @ DT),
    ]
    for kind, P, Q, out_shape, want in cases:
        out = np.full(out_shape, np.nan, dtype)
        kernels._product_t_into(kind, P, Q, out)
        np.testing.assert_allclose(out, want, **TOLERANCE[dtype])


def test_feature_major_gather_transposes_the_chosen_rows():
    X = np.arange(40 * 3, dtype=np.float64).reshape(40, 3)
    rows = np.random.default_rng(0).permutation(40)[:37]
    XT = np.empty((3, 37))
    kernels._gather_t_into(X, rows, XT)
    np.testing.assert_array_equal(XT, X[rows].T)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["identity", "relu", "sigmoid", "tanh", "softmax"])
def test_feature_major_activations_match_the_row_major_kernels(name, dtype):
    code = fnn.model.ACTIVATIONS[name]
    rng = np.random.default_rng(code)
    Z = (3 * rng.standard_normal((9, 4))).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    ZT, AT = np.ascontiguousarray(Z.T), np.empty((4, 9), dtype)
    kernels._bias_activate_t_into(ZT, b, code, AT)
    A = kernels.activation(Z + b, code)
    assert AT.dtype == dtype
    np.testing.assert_allclose(ZT.T, Z + b, **TOLERANCE[dtype])
    np.testing.assert_allclose(AT.T, A, **TOLERANCE[dtype])
    dA = rng.standard_normal((9, 4)).astype(dtype)
    DT = np.ascontiguousarray(dA.T)
    kernels._activation_grad_t_into(DT, ZT, AT, code)
    np.testing.assert_allclose(
        DT.T, kernels.activation_grad(dA, Z + b, A, code), **TOLERANCE[dtype]
    )


def test_fit_keeps_float32_and_restores_the_blas_thread_count():
    net, params, X, y = make_problem("ce-wide", np.float32, seed=4)
    setters = fnn.train._blas_thread_setters()  # empty where OpenBLAS is not found
    before = [setter(2) for setter in setters]
    try:
        result = fnn.fit(net, params, fnn.adam(0.01), X, y, epochs=2, batch_size=50)
        assert [setter(2) for setter in setters] == [2] * len(setters)
    finally:
        for setter, count in zip(setters, before):
            setter(count)
    assert all(part.dtype == np.float32 for layer in result.params.layers for part in layer)
    assert all(slot.layers[0].W.dtype == np.float32 for slot in result.opt_state.slots)

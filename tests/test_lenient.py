"""Lenient inputs: lists, integers, Fortran-ordered, strided and read-only arrays, (n,) or (n, 1)
labels, integer or one-hot classes all give bit-identical results to C-ordered float arrays,
and never make a Numba kernel compile a second signature."""

from __future__ import annotations

import numpy as np
import pytest

import fnn
from fnn import kernels

NET = fnn.mlp([3, 4, 1])
NET_CE = fnn.mlp([3, 4, 3], output="softmax")
NET_MSE = fnn.mlp([3, 4, 1], output="identity")
P = fnn.init(NET, key=0)
P_CE = fnn.init(NET_CE, key=1)
P_MSE = fnn.init(NET_MSE, key=2)
rng = np.random.default_rng(7)
X_INT = rng.integers(-3, 4, (6, 3))
X = X_INT.astype(np.float64)
Y = np.array([0, 1, 1, 0, 1, 0])
Y_CE = np.array([0, 2, 1, 2, 0, 1])
Y_MSE = rng.normal(size=6)


def read_only(array):
    array = np.array(array)
    array.setflags(write=False)
    return array


def strided(array):
    """The same values as a non-contiguous view (every other row of a bigger array)."""
    bigger = np.zeros((2 * array.shape[0],) + array.shape[1:], array.dtype)
    bigger[::2] = array
    return bigger[::2]


VARIANTS_X = {
    "list": X.tolist(),
    "int": X_INT,
    "int32": X_INT.astype(np.int32),
    "float16": X.astype(np.float16),
    "fortran": np.asfortranarray(X),
    "strided": strided(X),
    "read-only": read_only(X),
    "big-endian": X.astype(">f8"),
}


def flat(params):
    return np.concatenate([part.ravel() for layer in params.layers for part in layer])


def same_params(a, b):
    return all(
        u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes()
        for la, lb in zip(a.layers, b.layers)
        for u, v in zip(la, lb)
    )


@pytest.mark.parametrize("variant", VARIANTS_X)
def test_X_variants_give_identical_results(variant):
    X_ = VARIANTS_X[variant]
    assert same_params(fnn.grad(NET, P, X_, Y), fnn.grad(NET, P, X, Y))
    assert fnn.loss(NET, P, X_, Y) == fnn.loss(NET, P, X, Y)
    assert np.array_equal(fnn.predict_proba(NET, P, X_), fnn.predict_proba(NET, P, X))
    assert fnn.accuracy(NET, P, X_, Y) == fnn.accuracy(NET, P, X, Y)


@pytest.mark.parametrize("variant", ["list", "fortran", "strided", "read-only"])
def test_fit_accepts_lenient_inputs_identically(variant):
    X_ = VARIANTS_X[variant]
    y_ = Y.tolist() if variant == "list" else read_only(Y) if variant == "read-only" else Y
    args = dict(epochs=3, batch_size=4, key=5)
    a = fnn.fit(NET, P, fnn.adam(0.01), X_, y_, validation=(X_, y_), **args)
    b = fnn.fit(NET, P, fnn.adam(0.01), X, Y, validation=(X, Y), **args)
    assert same_params(a.params, b.params)
    assert np.array_equal(a.history.val_loss, b.history.val_loss)


@pytest.mark.parametrize(
    "y_variant",
    [
        Y,
        Y.reshape(-1, 1),
        Y.astype(float),
        Y.astype(np.uint8),
        Y.tolist(),
        read_only(Y),
        strided(Y),
    ],
    ids=["int (n,)", "(n, 1)", "float", "uint8", "list", "read-only", "strided"],
)
def test_bce_label_shapes_and_dtypes_agree(y_variant):
    assert same_params(fnn.grad(NET, P, X, y_variant), fnn.grad(NET, P, X, Y))


@pytest.mark.parametrize(
    "y_variant",
    [Y_CE.reshape(-1, 1), Y_CE.astype(float), np.eye(3)[Y_CE], np.eye(3, dtype=int)[Y_CE],
     Y_CE.tolist(), np.asfortranarray(np.eye(3)[Y_CE]), Y_CE.astype(np.int8)],
    ids=["(n, 1)", "float", "one-hot", "one-hot int", "list", "one-hot fortran", "int8"],
)  # fmt: skip
def test_ce_integer_and_one_hot_labels_agree(y_variant):
    assert same_params(fnn.grad(NET_CE, P_CE, X, y_variant), fnn.grad(NET_CE, P_CE, X, Y_CE))
    assert fnn.loss(NET_CE, P_CE, X, y_variant) == fnn.loss(NET_CE, P_CE, X, Y_CE)
    assert fnn.accuracy(NET_CE, P_CE, X, y_variant) == fnn.accuracy(NET_CE, P_CE, X, Y_CE)


def test_mse_targets_n_and_n1_agree():
    a = fnn.value_and_grad(NET_MSE, P_MSE, X, Y_MSE)
    b = fnn.value_and_grad(NET_MSE, P_MSE, X, Y_MSE.reshape(-1, 1))
    assert a[0] == b[0] and same_params(a[1], b[1])


def test_float32_params_keep_float32_whatever_X_is():
    p32 = fnn.init(NET, key=0, dtype=np.float32)
    g = fnn.grad(NET, p32, X_INT, Y)
    assert all(part.dtype == np.float32 for layer in g.layers for part in layer)
    assert same_params(g, fnn.grad(NET, p32, X.astype(np.float32), Y))


def test_scalars_may_be_numpy_scalars():
    a = fnn.grad(NET, P, X, Y, l2=np.float32(0.5))
    assert same_params(a, fnn.grad(NET, P, X, Y, l2=0.5))
    assert same_params(fnn.init(NET, key=np.int64(3)), fnn.init(NET, key=3))
    opt = fnn.adam(np.float32(0.01), b1=np.float64(0.9))
    state = fnn.opt_init(opt, P)
    state_np = state._replace(step=np.int32(0))
    g = fnn.grad(NET, P, X, Y)
    assert same_params(fnn.opt_step(opt, P, g, state_np)[0], fnn.opt_step(opt, P, g, state)[0])


def test_backward_accepts_its_own_cache_from_lenient_X():
    out, cache = fnn.forward(NET, P, VARIANTS_X["fortran"])
    assert same_params(fnn.backward(NET, P, cache, Y), fnn.grad(NET, P, X, Y))


def _signature_counts():
    return {
        name: len(getattr(kernels, name).signatures)
        for name in dir(kernels)
        if hasattr(getattr(kernels, name), "signatures")
    }


def test_lenient_inputs_compile_no_new_kernel_signatures():
    opt = fnn.momentum(0.1)
    # Baseline: C-ordered float64 arrays through every public path.
    fnn.fit(NET, P, opt, X, Y, epochs=1, batch_size=4, validation=(X, Y))
    fnn.fit(NET_CE, P_CE, opt, X, Y_CE, epochs=1)
    fnn.fit(NET_MSE, P_MSE, opt, X, Y_MSE, epochs=1, l2=0.1)
    for net, p, y in ((NET, P, Y), (NET_CE, P_CE, Y_CE), (NET_MSE, P_MSE, Y_MSE)):
        g = fnn.grad(net, p, X, y, l2=0.1)
        fnn.loss(net, p, X, y, l2=0.1)
        fnn.opt_step(opt, p, g, fnn.opt_init(opt, p))
        fnn.backward(net, p, fnn.forward(net, p, X)[1], y)
    fnn.accuracy(NET, P, X, Y)
    fnn.minibatches(0, 6, 4)
    before = _signature_counts()
    assert before, "no Numba dispatchers found in fnn.kernels"
    state = fnn.opt_init(opt, P)
    for X_ in VARIANTS_X.values():
        for y_ in (Y.tolist(), read_only(Y), strided(Y), Y.reshape(-1, 1), Y.astype(np.int8)):
            fnn.fit(NET, P, opt, X_, y_, epochs=1, batch_size=4, validation=(X_, y_))
            g = fnn.grad(NET, P, X_, y_, l2=np.float32(0.1))
            fnn.loss(NET, P, X_, y_, l2=1)
            fnn.accuracy(NET, P, X_, y_)
            fnn.backward(NET, P, fnn.forward(NET, P, X_)[1], y_)
            fnn.opt_step(opt, P, g, state._replace(step=np.int32(1)))
        fnn.grad(NET_CE, P_CE, X_, np.eye(3)[Y_CE].T.copy().T)
        fnn.fit(NET_CE, P_CE, opt, X_, Y_CE.astype(float), epochs=1)
        fnn.fit(NET_MSE, P_MSE, opt, X_, read_only(Y_MSE), epochs=1, l2=np.float64(0.1))
    after = _signature_counts()
    grown = {name: (before[name], after[name]) for name in before if after[name] != before[name]}
    assert not grown, f"kernels compiled new signatures: {grown}"

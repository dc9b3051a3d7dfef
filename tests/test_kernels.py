"""Every kernel against the slow NumPy reference of the same maths (float64, tight tolerances)."""

import numpy as np
import pytest
import reference

import fnn
from fnn import kernels
from fnn.flat import layout_of, pack
from fnn.model import ACTIVATIONS, _codes

NAMES = list(ACTIVATIONS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activation_matches_reference(name, dtype, rng):
    Z = rng.normal(0, 3, (7, 4)).astype(dtype)
    A = kernels.activation(Z, ACTIVATIONS[name])
    assert A.dtype == dtype
    tol = 1e-13 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(
        A, reference.activation(name, Z.astype(np.float64)), rtol=tol, atol=tol
    )


@pytest.mark.parametrize("name", NAMES)
def test_activation_grad_matches_reference(name, rng):
    Z = rng.normal(0, 2, (6, 3))
    dA = rng.normal(size=Z.shape)
    A = kernels.activation(Z, ACTIVATIONS[name])
    dZ = kernels.activation_grad(dA, Z, A, ACTIVATIONS[name])
    np.testing.assert_allclose(dZ, reference.activation_grad(name, dA, Z), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_activations_stay_finite_at_extreme_logits(name):
    Z = np.array([[-1000.0, 1000.0, 0.0], [1000.0, 1000.0, -1000.0]])
    A = kernels.activation(Z, ACTIVATIONS[name])
    assert np.isfinite(A).all()


def test_kernels_leave_their_arguments_untouched(rng):
    Z = rng.normal(size=(5, 3))
    before = Z.copy()
    kernels.activation(Z, ACTIVATIONS["softmax"])
    kernels.activation_grad(Z, Z, Z, ACTIVATIONS["relu"])
    np.testing.assert_array_equal(Z, before)


# Shapes on both sides of SMALL_MATMUL, so that the loop path and the BLAS path are both checked.
SHAPES = [((3, 4, 2), 5), ((2, 25, 50, 1), 40), ((6, 64, 32, 3), 300)]


def _net_and_data(sizes, m, output, loss, rng, hidden="tanh"):
    net = fnn.mlp(list(sizes), hidden=hidden, output=output, loss=loss)
    params = fnn.init(net, key=int(rng.integers(1000)), scheme="glorot")
    X = rng.normal(size=(m, sizes[0]))
    k = sizes[-1]
    if loss == "ce":
        Y = reference.one_hot(rng.integers(0, k, m), k)
    elif loss == "bce":
        Y = rng.integers(0, 2, (m, k)).astype(float)
    else:
        Y = rng.normal(size=(m, k))
    return net, params, X, Y


@pytest.mark.parametrize("sizes,m", SHAPES)
@pytest.mark.parametrize("hidden", ["relu", "sigmoid", "tanh", "identity"])
def test_forward_pass_matches_reference(sizes, m, hidden, rng):
    net, params, X, _ = _net_and_data(sizes, m, "sigmoid", "bce", rng, hidden)
    zbuf, abuf = kernels.forward_pass(
        X, pack(params, np.float64), layout_of(net.sizes), _codes(net)
    )
    As, Zs = reference.forward(net, params, X)
    np.testing.assert_allclose(
        zbuf, np.concatenate([Z.ravel() for Z in Zs]), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        abuf, np.concatenate([A.ravel() for A in As[1:]]), rtol=1e-12, atol=1e-12
    )


PAIRS = [("sigmoid", "bce"), ("softmax", "ce"), ("identity", "mse"), ("sigmoid", "mse"),
         ("softmax", "mse"), ("tanh", "mse"), ("relu", "mse")]  # fmt: skip


@pytest.mark.parametrize("sizes,m", SHAPES)
@pytest.mark.parametrize("output,loss", PAIRS)
def test_backward_pass_matches_reference(sizes, m, output, loss, rng):
    if output == "softmax" and sizes[-1] < 2:
        sizes = (*sizes[:-1], 2)
    net, params, X, Y = _net_and_data(sizes, m, output, loss, rng)
    theta, layout, codes = pack(params, np.float64), layout_of(net.sizes), _codes(net)
    zbuf, abuf = kernels.forward_pass(X, theta, layout, codes)
    data_loss, grads = kernels.backward_pass(
        X, Y, theta, layout, codes, fnn.LOSSES[loss].code, 0.3, zbuf, abuf
    )
    expected = reference.grad(net, params, X, Y, l2=0.3)
    np.testing.assert_allclose(grads, np.concatenate([np.r_[W.ravel(), b] for W, b in expected]),
                               rtol=1e-10, atol=1e-13)  # fmt: skip
    penalty = 0.3 / (2 * m) * sum(np.sum(layer.W**2) for layer in params.layers)
    np.testing.assert_allclose(
        data_loss / m + penalty, reference.loss(net, params, X, Y, 0.3), rtol=1e-12
    )


@pytest.mark.parametrize("output,loss", [("sigmoid", "bce"), ("softmax", "ce")])
def test_loss_and_grad_finite_for_logits_of_1000(output, loss):
    net = fnn.mlp([1, 2], hidden="relu", output=output, loss=loss)
    params = fnn.Params((fnn.Layer(np.array([[1000.0, -1000.0]]), np.zeros(2)),))
    X = np.array([[1.0], [-1.0]])
    y = np.array([[0, 1], [1, 0]]) if loss == "bce" else np.array([1, 0])
    value, grads = fnn.value_and_grad(net, params, X, y)
    assert np.isfinite(value) and value > 900  # confidently wrong: about 1000 per sample
    assert all(np.isfinite(part).all() for layer in grads.layers for part in layer)


def test_permutation_is_a_deterministic_permutation():
    first = kernels.permutation(np.uint64(7), 1000)
    np.testing.assert_array_equal(np.sort(first), np.arange(1000))
    np.testing.assert_array_equal(first, kernels.permutation(np.uint64(7), 1000))
    assert not np.array_equal(first, kernels.permutation(np.uint64(8), 1000))


def test_permutation_is_roughly_uniform():
    # Position of element 0 over many seeds: each of 5 slots about 1/5 of the time.
    hits = np.zeros(5)
    for seed in range(2000):
        hits[np.argmax(kernels.permutation(np.uint64(seed), 5) == 0)] += 1
    assert np.all(np.abs(hits / 2000 - 0.2) < 0.04)

"""Gradients against central finite differences, and a hand-written backprop."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fnn
from fnn.testing import batches, check_grads, nets, params


@given(st.data())
def test_grads_match_finite_differences(data):
    net = data.draw(nets())
    theta = data.draw(params(net))
    X, y = data.draw(batches(net))
    l2 = data.draw(st.sampled_from([0.0, 0.1, 1.5]))
    _, cache = fnn.forward(net, theta, X)
    # relu and leaky_relu have a kink at 0, and so has elu's slope (e^z left of 0, 1 right of
    # it: a central difference across 0 is off by about eps / 4; Hypothesis found z exactly 0,
    # from a relu layer's zeros and a zero bias): keep finite differences away from it
    for Z, name in zip(cache.preactivations, net.activations):
        if name in ("relu", "leaky_relu", "elu"):
            assume(np.abs(Z).min() > 1e-4)
    if net.loss in ("mae", "quantile"):  # |r| and the pinball loss have a kink at r = 0
        Y = np.asarray(y, dtype=float).reshape(cache.activations[-1].shape)
        assume(np.abs(cache.activations[-1] - Y).min() > 1e-4)
    # A central difference of a loss of size L carries about L * 1e-16 / eps of rounding
    # (5e-5 for a poisson loss of 1e6 that Hypothesis found): atol grows with L.
    size = abs(fnn.loss(net, theta, X, y, l2))
    check_grads(net, theta, X, y, l2=l2, eps=1e-6, rtol=1e-6, atol=1e-8 * (1.0 + size))


def test_check_grads_names_the_worst_entry(monkeypatch):
    net = fnn.mlp([2, 3, 1], hidden="tanh")
    theta = fnn.init(net, key=0)
    X, y = np.ones((4, 2)), np.array([0, 1, 1, 0])
    check_grads(net, theta, X, y)  # passes

    # A loss with an extra 0.3 * b[0] term: fnn.grad's gradient is now off in that entry only.
    def shifted_loss(net, params, X, y, l2=0.0):
        return fnn.loss(net, params, X, y, l2) + 0.3 * float(params.layers[1].b[0])

    monkeypatch.setattr(fnn.testing, "loss", shifted_loss)
    with pytest.raises(AssertionError, match=r"layers\[1\]\.b\[0\]"):
        check_grads(net, theta, X, y)


def test_check_grads_fails_on_a_nan_numerical_gradient(monkeypatch):
    net = fnn.mlp([2, 3, 1], hidden="tanh")
    monkeypatch.setattr(fnn.testing, "loss", lambda *args, **kwargs: float("nan"))
    with pytest.raises(AssertionError, match=r"numerical .*nan"):
        check_grads(net, fnn.init(net, key=0), np.ones((4, 2)), np.array([0, 1, 1, 0]))


def test_backward_from_cache_equals_grad(rng):
    net = fnn.mlp([3, 5, 2], hidden="tanh", output="softmax")
    theta = fnn.init(net, key=4)
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)
    _, cache = fnn.forward(net, theta, X)
    from_cache = fnn.backward(net, theta, cache, y, l2=0.2)
    direct = fnn.grad(net, theta, X, y, l2=0.2)
    for a, b in zip(from_cache.layers, direct.layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)


def test_value_and_grad_agree_with_loss_and_grad(rng):
    net = fnn.mlp([2, 4, 1], hidden="sigmoid", output="identity")
    theta = fnn.init(net, key=1)
    X, y = rng.normal(size=(5, 2)), rng.normal(size=5)
    value, grads = fnn.value_and_grad(net, theta, X, y, l2=0.5)
    assert value == pytest.approx(
        fnn.loss(net, theta, X, y, l2=0.5), rel=1e-13
    )  # fastmath: same sum, two kernels
    np.testing.assert_array_equal(grads.layers[0].W, fnn.grad(net, theta, X, y, 0.5).layers[0].W)


def test_hand_written_backprop_for_the_2_3_1_sigmoid_network():
    """Sizes [2, 3, 1], sigmoid everywhere, quadratic cost, one sample x = 10 randn."""

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    def sigmoid_prime(z):
        return sigmoid(z) * (1 - sigmoid(z))

    seed_rng = np.random.RandomState(0)  # the seed's column layout: w is (n_out, n_in)
    biases = [seed_rng.randn(y, 1) for y in (3, 1)]
    weights = [seed_rng.randn(y, x) for x, y in ((2, 3), (3, 1))]
    x = 10 * np.random.RandomState(1).randn(2, 1)
    y = np.array([1])

    # The seed's backprop, transcribed.
    activation, activations, zs = x, [x], []
    for b, w in zip(biases, weights):
        z = w @ activation + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    nabla_b, nabla_w = [None, delta], [None, delta @ activations[-2].T]
    delta = (weights[-1].T @ delta) * sigmoid_prime(zs[-2])
    nabla_b[0], nabla_w[0] = delta, delta @ activations[0].T

    # fnn: rows are samples, W is (n_in, n_out); the quadratic cost is mse with a sigmoid output.
    net = fnn.mlp([2, 3, 1], hidden="sigmoid", output="sigmoid", loss="mse")
    params = fnn.Params(tuple(fnn.Layer(w.T.copy(), b.ravel()) for w, b in zip(weights, biases)))
    grads = fnn.grad(net, params, x.T, y)
    for layer, nw, nb in zip(grads.layers, nabla_w, nabla_b):
        np.testing.assert_allclose(layer.W, nw.T, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.b, nb.ravel(), rtol=1e-12, atol=1e-15)

"""The activations beyond the seeds against PyTorch (values and autograd derivatives) and
against 50-digit mpmath, float64 at tight tolerances, from 0 to |z| = 1e300; float32 kept.

The engine computes the activations in the forward pass and their derivatives in the
backward one. To read ``f'(z)`` alone, a one-layer net with ``W = I``, ``b = 0`` and the
activation on its output gets ``X = z`` (one row) and mse targets ``y = a - s`` (``a = f(z)``,
``s = max(1, |a|)``, so that ``a - y`` is ``s`` to rounding): then ``dL/db = f'(z) (a - y)``.
"""

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import find, settings
from torch.nn import functional

import fnn

NEW = ["leaky_relu", "elu", "gelu", "silu", "softplus"]

#: z from 0 to 1e300 both ways: the kinks, the transition regions, where exp(z) underflows
#: or would overflow, and beyond.
LARGE = np.array([20.5, 30, 38, 40, 45, 60, 100, 700, 710, 745, 800, 1e4, 1e8, 1e30, 1e300])
Z = np.concatenate(
    [
        np.linspace(-12, 12, 241),
        [0.0, 1e-300, -1e-300, 1e-12, -1e-12, 1e-8, -1e-8, 1e-3, -1e-3],
        LARGE,
        -LARGE,
    ]
)


def fnn_value_and_derivative(name, z, dtype=np.float64):
    """``(f(z), f'(z))`` from fnn's forward and backward passes (see the module docstring)."""
    n = z.size
    net = fnn.Net((n, n), (name,), "mse")
    params = fnn.Params((fnn.Layer(np.eye(n, dtype=dtype), np.zeros(n, dtype)),))
    X = z[None, :].astype(dtype)
    a = fnn.predict_proba(net, params, X)[0]
    y = a - np.maximum(1, np.abs(a))
    with np.errstate(over="ignore"):  # the loss of a = 1e300 overflows; its gradient does not
        _, grads = fnn.value_and_grad(net, params, X, y[None, :])
    return a, grads.layers[0].b / (a - y)


def torch_value_and_derivative(name, z):
    t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    f = {
        "leaky_relu": lambda t: functional.leaky_relu(t, 0.01),
        "elu": lambda t: functional.elu(t, 1.0),
        "gelu": lambda t: functional.gelu(t, approximate="none"),
        "silu": functional.silu,
        # PyTorch returns z itself above the threshold: at its default 20 that is 2e-9 off
        # log(1 + e^z); at 40 it is z's rounding of it.
        "softplus": lambda t: functional.softplus(t, 1.0, 40.0),
    }[name]
    value = f(t)
    value.sum().backward()
    return value.detach().numpy(), t.grad.numpy()


def exact(name, z):
    """``(f(z), f'(z))`` to 50 digits, rounded to float64."""
    mpmath.mp.dps = 50
    z = mpmath.mpf(float(z))
    if name == "leaky_relu":
        value, slope = (z, 1) if z > 0 else (z / 100, mpmath.mpf(1) / 100)
    elif name == "elu":
        value, slope = (z, 1) if z > 0 else (mpmath.expm1(z), mpmath.exp(z))
    elif name == "gelu":
        if abs(z) > 100:  # Phi(z) is 0 or 1 and z phi(z) is 0, in float64
            value, slope = (z, 1) if z > 0 else (0, 0)
        else:
            cdf = mpmath.erfc(-z / mpmath.sqrt(2)) / 2
            value, slope = z * cdf, cdf + z * mpmath.npdf(z)
    else:
        sigmoid = mpmath.mpf(1) / (1 + mpmath.exp(-z))
        if name == "silu":
            value, slope = z * sigmoid, sigmoid * (1 + z * (1 - sigmoid))
        else:
            value, slope = mpmath.log1p(mpmath.exp(z)), sigmoid
    return float(value), float(slope)


@pytest.mark.parametrize("name", NEW)
def test_values_and_derivatives_match_pytorch_autograd(name):
    a, da = fnn_value_and_derivative(name, Z)
    want_a, want_da = torch_value_and_derivative(name, Z)
    assert np.isfinite(a).all() and np.isfinite(da).all()
    # gelu: PyTorch's 1 + erf(z / sqrt 2) cancels for z << 0, leaving an absolute error only;
    # silu: PyTorch's z / (1 + exp(-z)) underflows to 0 a little before the exact value does
    atol = 1e-15 if name == "gelu" else 1e-300
    np.testing.assert_allclose(a, want_a, rtol=1e-14, atol=atol)
    np.testing.assert_allclose(da, want_da, rtol=1e-14, atol=atol)


@pytest.mark.parametrize("name", NEW)
def test_values_and_derivatives_are_exact_to_rounding_at_every_scale(name):
    a, da = fnn_value_and_derivative(name, Z)
    want = np.array([exact(name, z) for z in Z])
    # rtol: a few roundings; for gelu, times erfc's conditioning 2 x**2 at x = z / sqrt 2
    # (z / sqrt 2 is itself rounded). atol: the derivatives of gelu and silu cross 0
    # (cancelling there); subnormals.
    # (beyond |z| = 40, gelu is z or 0 exactly)
    rtol = 4e-15 * np.maximum(1, np.clip(Z, -40, 40) ** 2 if name == "gelu" else 1)
    for got, expected, atol in ((a, want[:, 0], 1e-300), (da, want[:, 1], 4e-16)):
        off = np.abs(got - expected) > atol + rtol * np.abs(expected)
        assert not off.any(), f"z {Z[off]}: got {got[off]}, want {expected[off]}"


@pytest.mark.parametrize("name", NEW)
def test_float32_values_and_derivatives_stay_float32_and_exact(name):
    z = Z[np.abs(Z) < 1e30]  # float32's range
    a, da = fnn_value_and_derivative(name, z, np.float32)
    assert a.dtype == da.dtype == np.float32
    want = np.array([exact(name, value) for value in z.astype(np.float32)])
    # rtol: float32 rounding, times the conditioning of exp(-z**2 / 2) and erfc at |z| ~ 12
    np.testing.assert_allclose(a, want[:, 0], rtol=1e-5, atol=1e-37)
    np.testing.assert_allclose(da, want[:, 1], rtol=1e-5, atol=1e-7)


def test_one_activation_per_hidden_layer_reaches_every_path(rng):
    net = fnn.mlp([3, 6, 5, 4, 2], hidden=["gelu", "leaky_relu", "softplus"], output="identity")
    assert net.activations == ("gelu", "leaky_relu", "softplus", "identity")
    params = fnn.init(net, key=3)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    module = fnn.to_torch(net, params)
    assert [type(layer).__name__ for layer in module][1::2] == ["GELU", "LeakyReLU", "Softplus"]
    with torch.no_grad():
        np.testing.assert_allclose(
            fnn.predict(net, params, X), module(torch.from_numpy(X)).numpy(), rtol=1e-13
        )
    fnn.testing.check_grads(net, params, X, y, l2=0.1)
    result = fnn.fit(net, params, fnn.adam(0.01), X, y, epochs=30, batch_size=8)
    assert result.history.loss[-1] < result.history.loss[0]


@pytest.mark.parametrize("name", NEW)
def test_the_strategies_of_fnn_testing_draw_every_new_activation(name):
    once = settings(database=None, max_examples=5000)
    hidden = find(fnn.testing.nets(), lambda net: name in net.activations[:-1], settings=once)
    output = find(fnn.testing.nets(), lambda net: net.activations[-1] == name, settings=once)
    assert hidden.activations[0] == name
    assert output.loss in ("mse", "huber", "mae", "quantile")  # the losses that take any output

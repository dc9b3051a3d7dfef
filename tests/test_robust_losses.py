"""huber, mae and poisson against PyTorch's losses and autograd (float64, tight tolerances).

fnn's losses sum over the output units and average over the ``m`` rows, so ``fnn.loss`` is
PyTorch's ``reduction="sum"`` divided by ``m`` (equivalently ``reduction="mean"`` times the
number of output units). The L2 penalty ``(l2 / 2m) sum ||W||**2`` is added to the torch loss
before autograd, so the gradients checked include it.
"""

import json

import numpy as np
import pytest
import torch

import fnn
from tests import reference

TORCH_ACTIVATIONS = {"identity": lambda z: z, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                     "relu": torch.relu}  # fmt: skip


def torch_loss(net, reduction):
    if net.loss == "huber":
        return torch.nn.HuberLoss(reduction=reduction, delta=reference.delta(net))
    if net.loss == "mae":
        return torch.nn.L1Loss(reduction=reduction)
    return torch.nn.PoissonNLLLoss(log_input=True, full=False, reduction=reduction)


def problem(loss, output, delta, m, k, seed):
    rng = np.random.default_rng(seed)
    net = fnn.mlp([3, 6, k], hidden="tanh", output=output, loss=loss, delta=delta)
    params = fnn.init(net, key=seed)
    X = rng.normal(size=(m, 3))
    if loss == "poisson":
        y = rng.poisson(2.0, (m, k)).astype(float)
    else:  # spread wide enough that huber uses both of its parts
        y = rng.normal(scale=2.0, size=(m, k))
    return net, params, X, y


def torch_value_and_grad(net, params, X, y, l2, reduction="sum"):
    Ws = [torch.tensor(layer.W, requires_grad=True) for layer in params.layers]
    bs = [torch.tensor(layer.b, requires_grad=True) for layer in params.layers]
    a = torch.tensor(X)
    for W, b, name in zip(Ws, bs, net.activations):
        a = TORCH_ACTIVATIONS[name](a @ W + b)
    m = X.shape[0]
    data = torch_loss(net, reduction)(a, torch.tensor(y))
    value = data / m + l2 / (2 * m) * sum((W**2).sum() for W in Ws)
    value.backward()
    return value.item(), [(W.grad.numpy(), b.grad.numpy()) for W, b in zip(Ws, bs)], data.item()


CASES = [
    ("huber", "identity", 1.0),
    ("huber", "identity", 0.3),
    ("huber", "tanh", 2.5),  # a non-canonical output: the chain rule through tanh
    ("mae", "identity", 1.0),
    ("mae", "sigmoid", 1.0),
    ("poisson", "identity", 1.0),
]


@pytest.mark.parametrize("loss,output,delta", CASES)
@pytest.mark.parametrize("m,k", [(9, 2), (40, 1)])
def test_loss_and_grad_match_torch(loss, output, delta, m, k):
    net, params, X, y = problem(loss, output, delta, m, k, seed=m + k)
    value, grads = fnn.value_and_grad(net, params, X, y, l2=0.2)
    want, want_grads, _ = torch_value_and_grad(net, params, X, y, 0.2)
    np.testing.assert_allclose(value, want, rtol=1e-13)
    np.testing.assert_allclose(fnn.loss(net, params, X, y, l2=0.2), want, rtol=1e-13)
    for layer, (W, b) in zip(grads.layers, want_grads):
        np.testing.assert_allclose(layer.W, W, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.b, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss,output,delta", CASES)
def test_the_reduction_is_torch_mean_times_the_output_units(loss, output, delta):
    net, params, X, y = problem(loss, output, delta, 11, 3, seed=5)
    _, _, mean = torch_value_and_grad(net, params, X, y, 0.0, reduction="mean")
    np.testing.assert_allclose(fnn.loss(net, params, X, y), 3 * mean, rtol=1e-13)


def test_huber_uses_both_parts_in_these_tests():
    net, params, X, y = problem("huber", "identity", 0.3, 40, 1, seed=41)
    r = np.abs(fnn.predict_proba(net, params, X) - y.reshape(-1, 1))
    assert (r <= 0.3).any() and (r > 0.3).any()


def test_huber_is_mse_below_delta_and_mae_like_beyond():
    params = fnn.Params((fnn.Layer(np.ones((1, 1)), np.zeros(1)),))  # y_hat = x
    huber = fnn.mlp([1, 1], output="identity", loss="huber", delta=2.0)
    mse = fnn.mlp([1, 1], output="identity", loss="mse")
    X, y = np.array([[0.5], [-1.0]]), np.zeros(2)
    assert fnn.loss(huber, params, X, y) == fnn.loss(mse, params, X, y)
    far = np.array([[10.0]])  # 2 (10 - 1) = 18
    assert fnn.loss(huber, params, far, [0.0]) == 18.0
    assert fnn.grad(huber, params, far, [0.0]).layers[0].b[0] == 2.0


def test_mae_gradient_at_zero_residual_is_zero_as_in_torch():
    params = fnn.Params((fnn.Layer(np.ones((1, 1)), np.zeros(1)),))
    net = fnn.mlp([1, 1], output="identity", loss="mae")
    grads = fnn.grad(net, params, [[1.0], [2.0], [-3.0]], [1.0, 0.0, 0.0])
    assert grads.layers[0].b[0] == 0.0  # (0 + 1 - 1) / 3


@pytest.mark.parametrize("loss", ["huber", "mae", "poisson"])
def test_float32_is_preserved_and_fit_lowers_the_loss(loss):
    net, params, X, y = problem(loss, "identity", 1.0, 60, 2, seed=3)
    params32 = fnn.init(net, key=3, dtype=np.float32)
    value, grads = fnn.value_and_grad(net, params32, X, y)
    assert all(part.dtype == np.float32 for layer in grads.layers for part in layer)
    np.testing.assert_allclose(value, fnn.loss(net, params, X, y), rtol=1e-5)
    result = fnn.fit(net, params32, fnn.adam(0.02), X, y, epochs=30, batch_size=16)
    assert result.params.layers[0].W.dtype == np.float32
    assert result.history.loss[-1] < result.history.loss[0]
    assert result.history.accuracy.shape == (0,)  # regression: no accuracy


def test_delta_lives_in_the_net_and_survives_save_and_load(tmp_path):
    net = fnn.mlp([2, 3, 1], output="identity", loss="huber", delta=0.25)
    assert net.loss_params == (0.25,) and hash(net) != hash(net._replace(loss_params=()))
    assert net == fnn.mlp([2, 3, 1], output="identity", loss="huber", loss_params={"delta": 0.25})
    assert fnn.mlp([2, 1], output="identity", loss="huber", delta=1.0).loss_params == ()
    assert fnn.mlp([2, 1], output="identity", loss="mae") == fnn.Net((2, 1), ("identity",), "mae")
    params = fnn.init(net, key=0)
    path = tmp_path / "huber.npz"
    fnn.save(path, net, params)
    loaded, _ = fnn.load(path)
    assert loaded == net and loaded.loss_params == (0.25,)


def test_files_with_delta_in_their_metadata_load_and_the_new_ones_write_it_the_same_way(tmp_path):
    # The metadata of a huber net with delta 0.25, as fnn wrote it when Net held the field
    # `delta` itself (a "delta" key beside "loss", written only when not 1.0)
    old = {"format": "fnn", "version": 1, "sizes": [2, 3, 1], "activations": ["relu", "identity"],
           "loss": "huber", "delta": 0.25, "dtype": "float64"}  # fmt: skip
    net = fnn.mlp([2, 3, 1], output="identity", loss="huber", delta=0.25)
    params = fnn.init(net, key=0)
    path = tmp_path / "old.npz"
    arrays = {f"{kind}{i}": getattr(layer, kind) for i, layer in enumerate(params.layers)
              for kind in ("W", "b")}  # fmt: skip
    np.savez(path, fnn_meta=np.array(json.dumps(old)), **arrays)
    loaded, loaded_params = fnn.load(path)
    assert loaded == net and loaded.loss_params == (0.25,)
    assert all(np.array_equal(a.W, b.W) for a, b in zip(loaded_params.layers, params.layers))
    fnn.save(path, net, params)
    with np.load(path) as archive:
        assert json.loads(str(archive["fnn_meta"])) == old


def test_delta_and_dropout_together_print_save_and_load(tmp_path):
    net = fnn.mlp([2, 3, 1], output="identity", loss="huber", dropout=0.1, delta=0.25)
    assert repr(net) == (
        "Net(sizes=(2, 3, 1), activations=('relu', 'identity'), loss='huber', dropout=(0.1,), "
        "loss_params=(0.25,))"
    )
    assert "loss_params" not in repr(net._replace(loss_params=()))  # defaults print as before
    path = tmp_path / "both.npz"
    fnn.save(path, net, fnn.init(net, key=0))
    assert fnn.load(path)[0] == net
    plain = net._replace(dropout=(), loss_params=())
    fnn.save(path, plain, fnn.init(plain, key=0))
    with np.load(path) as archive:  # a net with the defaults writes the archive as before
        assert "delta" not in str(archive["fnn_meta"]) and "dropout" not in str(archive["fnn_meta"])
    assert fnn.load(path)[0] == plain


def test_identity_still_picks_mse_and_poisson_only_takes_identity():
    assert fnn.mlp([2, 1], output="identity").loss == "mse"
    with pytest.raises(ValueError, match="loss 'poisson' needs an output activation"):
        fnn.mlp([2, 1], output="relu", loss="poisson")


def test_no_loss_parameter_is_named_like_a_key_of_the_archive_metadata(tmp_path):
    """fnn.save writes each loss parameter under its own name beside the other keys."""
    net = fnn.mlp([2, 3, 1], output="identity", loss="huber", dropout=0.1)  # default delta
    params = fnn.init(net, key=0)
    scaler = fnn.standardizer(np.arange(8.0).reshape(4, 2))
    path = tmp_path / "all.npz"
    fnn.save(path, net, params, fnn.opt_init(fnn.adam(), params), scaler,
             fnn.standardizer(np.arange(4.0).reshape(4, 1)))  # fmt: skip
    with np.load(path) as archive:
        keys = set(json.loads(str(archive["fnn_meta"]))) | {"plateau"}  # plateau: with a watcher
    assert {"sizes", "loss", "dropout", "optimizer", "step", "x_scaler", "y_scaler"} <= keys
    names = {name for entry in fnn.LOSSES.values() for name in entry.parameters}
    assert "delta" in names and not names & keys

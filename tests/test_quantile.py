"""The quantile (pinball) loss: against the slow reference and scikit-learn, its gradients, a
fit that lands on the quantiles, its level q in the Net and the archive, and its errors."""

import json

import numpy as np
import pytest
import reference
from hypothesis import find
from sklearn.metrics import mean_pinball_loss

import fnn
from fnn import testing

#: (q as given to fnn.mlp, q of each of the 3 output units)
LEVELS = [(0.1, [0.1] * 3), (0.9, [0.9] * 3), ([0.1, 0.5, 0.9], [0.1, 0.5, 0.9])]


def quantile_net(q, sizes=(2, 5, 3), output="identity"):
    return fnn.mlp(list(sizes), hidden="tanh", output=output, loss="quantile", loss_params={"q": q})


def problem(q, rows=40, sizes=(2, 5, 3), output="identity", seed=0):
    rng = np.random.default_rng(seed)
    net = quantile_net(q, sizes, output)
    X = rng.normal(size=(rows, sizes[0]))
    Y = rng.normal(size=(rows, sizes[-1]))
    return net, fnn.init(net, key=seed), X, Y


@pytest.mark.parametrize("q, per_unit", LEVELS)
def test_loss_is_the_reference_and_scikit_learns_mean_pinball_loss(q, per_unit):
    net, params, X, Y = problem(q)
    value = fnn.loss(net, params, X, Y)
    np.testing.assert_allclose(value, reference.loss(net, params, X, Y), rtol=1e-12)
    P = fnn.predict_proba(net, params, X)
    # fnn sums over the output units what scikit-learn averages over them
    per_output = [mean_pinball_loss(Y[:, j], P[:, j], alpha=a) for j, a in enumerate(per_unit)]
    np.testing.assert_allclose(value, sum(per_output), rtol=1e-12)
    if len(set(per_unit)) == 1:  # one level: scikit-learn's multioutput mean times 3
        both = mean_pinball_loss(Y, P, alpha=per_unit[0], multioutput="raw_values")
        np.testing.assert_allclose(value, both.sum(), rtol=1e-12)


def test_weighted_loss_is_scikit_learns_weighted_mean():
    net, params, X, Y = problem([0.2, 0.6, 0.7], seed=1)
    w = np.random.default_rng(2).uniform(0.0, 3.0, len(X))
    P = fnn.predict_proba(net, params, X)
    raw = [
        mean_pinball_loss(Y[:, j], P[:, j], sample_weight=w, alpha=a)
        for j, a in enumerate([0.2, 0.6, 0.7])
    ]
    np.testing.assert_allclose(fnn.loss(net, params, X, Y, sample_weight=w), sum(raw), rtol=1e-12)


@pytest.mark.parametrize("output", ["identity", "tanh", "softplus"])
@pytest.mark.parametrize("q, per_unit", LEVELS)
def test_gradients_are_the_references_backward_pass(q, per_unit, output):
    net, params, X, Y = problem(q, output=output, seed=3)
    value, grads = fnn.value_and_grad(net, params, X, Y, l2=0.2)
    np.testing.assert_allclose(value, reference.loss(net, params, X, Y, 0.2), rtol=1e-12)
    for (gW, gb), (W, b) in zip(grads.layers, reference.grad(net, params, X, Y, l2=0.2)):
        np.testing.assert_allclose(gW, W, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(gb, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9, [0.1, 0.5, 0.9], [0.75, 0.25, 0.3]])
def test_check_grads_passes(q):
    net, params, X, Y = problem(q, rows=12, seed=4)
    r = fnn.predict_proba(net, params, X) - Y
    assert np.abs(r).min() > 1e-4  # finite differences stay off the kink at r = 0
    testing.check_grads(net, params, X, Y, l2=0.1)


def test_slope_is_one_minus_q_above_minus_q_below_and_zero_at_the_target():
    # one identity unit with W = 0 and b = 1 predicts 1 for every row: r = 1 - y
    net = quantile_net([0.2, 0.7], sizes=(1, 2))
    params = fnn.Params((fnn.Layer(np.zeros((1, 2)), np.ones(2)),))
    X = np.zeros((3, 1))
    Y = np.array([[0.0, 3.0], [1.0, 1.0], [2.0, -1.0]])  # r: (1, -2), (0, 0), (-1, 2)
    value, grads = fnn.value_and_grad(net, params, X, Y)
    # unit 0 (q = 0.2): 0.8 * 1 + 0 + 0.2 * 1; unit 1 (q = 0.7): 0.7 * 2 + 0 + 0.3 * 2
    assert value == pytest.approx((1.0 + 2.0) / 3, rel=1e-14)
    np.testing.assert_allclose(grads.layers[0].b, [(0.8 - 0.2) / 3, (-0.7 + 0.3) / 3], rtol=1e-14)


def test_float32_keeps_its_dtype_and_matches_float64():
    net, params, X, Y = problem([0.1, 0.5, 0.9], seed=5)
    params32 = fnn.init(net, key=5, dtype=np.float32)
    value, grads = fnn.value_and_grad(net, params32, X, Y)
    assert all(part.dtype == np.float32 for layer in grads.layers for part in layer)
    np.testing.assert_allclose(value, fnn.loss(net, params, X, Y), rtol=1e-5)


def noisy_sine(rows, rng):
    """y = sin(x) + noise whose spread grows with |x|: its quantiles are not parallel."""
    X = rng.uniform(-2.0, 2.0, (rows, 1))
    return X, np.sin(X[:, 0]) + (0.2 + 0.3 * np.abs(X[:, 0])) * rng.normal(size=rows)


def test_fits_put_the_share_q_of_targets_below_the_predictions():
    rng = np.random.default_rng(6)
    X, y = noisy_sine(2000, rng)
    X_new, y_new = noisy_sine(2000, rng)
    epochs, batch = 60, 64
    opt = fnn.adam(fnn.cosine_decay(0.02, epochs * -(-len(X) // batch)))  # ends at rate 0
    # three levels in one net (one q per output), then one level alone
    net = quantile_net([0.1, 0.5, 0.9], sizes=(1, 16, 3))
    Y = np.repeat(y[:, None], 3, axis=1)
    result = fnn.fit(net, fnn.init(net, key=0), opt, X, Y, epochs=epochs, batch_size=batch)
    below = np.mean(y[:, None] < fnn.predict(net, result.params, X), axis=0)
    np.testing.assert_allclose(below, [0.1, 0.5, 0.9], atol=0.02)
    # on new rows from the same distribution, within sampling noise (sd 0.011 at 0.5)
    below_new = np.mean(y_new[:, None] < fnn.predict(net, result.params, X_new), axis=0)
    np.testing.assert_allclose(below_new, [0.1, 0.5, 0.9], atol=0.035)
    single = quantile_net(0.9, sizes=(1, 16, 1))
    result = fnn.fit(single, fnn.init(single, key=1), opt, X, y, epochs=epochs, batch_size=batch)
    assert abs(np.mean(y < fnn.predict(single, result.params, X)) - 0.9) < 0.02


def test_q_lives_in_the_net_one_value_or_one_per_output():
    assert quantile_net(0.9).loss_params == (0.9,)
    assert quantile_net([0.1, 0.5, 0.9]).loss_params == ((0.1, 0.5, 0.9),)
    assert quantile_net(np.array([0.1, 0.5, 0.9])) == quantile_net((0.1, 0.5, 0.9))
    # equal levels are one level, and the default none: equal nets compare equal
    assert quantile_net([0.3, 0.3, 0.3]) == quantile_net([0.3]) == quantile_net(0.3)
    plain = fnn.mlp([2, 5, 3], hidden="tanh", output="identity", loss="quantile")
    assert quantile_net([0.5] * 3) == quantile_net(0.5) == plain and plain.loss_params == ()
    hand_made = fnn.Net((2, 5, 3), ("tanh", "identity"), "quantile", loss_params=((0.1, 0.5, 0.9),))
    net, params, X, Y = problem([0.1, 0.5, 0.9])
    assert hand_made == net and fnn.loss(hand_made, params, X, Y) == fnn.loss(net, params, X, Y)
    with pytest.raises(TypeError, match=r"net.loss_params\[0\] \(q\) must be a float or a tuple"):
        fnn.loss(hand_made._replace(loss_params=([0.1, 0.5, 0.9],)), params, X, Y)  # unhashable
    assert repr(net).endswith("loss='quantile', loss_params=((0.1, 0.5, 0.9),))")


def test_any_output_activation_and_no_accuracy():
    for output in fnn.ACTIVATIONS:
        units = max(3, fnn.ACTIVATIONS[output].min_units)
        assert quantile_net(0.3, sizes=(2, units), output=output).loss == "quantile"
    net, params, X, Y = problem(0.3)
    result = fnn.fit(net, params, fnn.sgd(0.01), X, Y, epochs=2, batch_size=8)
    assert result.history.accuracy.shape == (0,)


@pytest.mark.parametrize("q", [0.25, [0.1, 0.5, 0.9]])
def test_save_and_load_keep_q_under_its_name(q, tmp_path):
    net, params, X, Y = problem(q)
    path = tmp_path / "quantile.npz"
    fnn.save(path, net, params)
    with np.load(path) as archive:
        assert json.loads(str(archive["fnn_meta"]))["q"] == q
    loaded, loaded_params = fnn.load(path)
    assert loaded == net
    assert fnn.loss(loaded, loaded_params, X, Y) == fnn.loss(net, params, X, Y)
    default = quantile_net(0.5)
    fnn.save(path, default, fnn.init(default, key=0))
    with np.load(path) as archive:  # the default level is not written
        assert "q" not in json.loads(str(archive["fnn_meta"]))
    assert fnn.load(path)[0] == default


@pytest.mark.parametrize(
    "q, error, message",
    [
        (0.0, ValueError, r"loss_params\['q'\] must be in \(0.0, 1.0\), got 0.0"),
        (1.0, ValueError, r"loss_params\['q'\] must be in \(0.0, 1.0\), got 1.0"),
        (-0.2, ValueError, r"must be in \(0.0, 1.0\), got -0.2"),
        (float("nan"), ValueError, r"loss_params\['q'\] must be finite, got nan"),
        ([0.1, 1.5, 0.9], ValueError, r"loss_params\['q'\]\[1\] must be in \(0.0, 1.0\), got 1.5"),
        ([0.1, 0.9], ValueError, r"sequence of 1 or 3 numbers \(one per output unit\), got \[0.1"),
        ([], ValueError, r"sequence of 1 or 3 numbers"),
        (np.full((3, 1), 0.5), ValueError, r"got array of shape \(3, 1\)"),
        ("0.5", TypeError, r"loss_params\['q'\] must be a real number, got '0.5'"),
    ],
)
def test_bad_levels_are_refused_with_a_message_naming_them(q, error, message):
    with pytest.raises(error, match=message):
        quantile_net(q)


def test_q_for_another_loss_or_a_vector_for_a_scalar_parameter_is_refused():
    with pytest.raises(ValueError, match=r"loss_params\['q'\] is not a parameter of loss 'mae'"):
        fnn.mlp([2, 1], output="identity", loss="mae", loss_params={"q": 0.5})
    with pytest.raises(ValueError, match=r"loss_params\['q'\] is not a parameter of loss 'huber'"):
        fnn.mlp([2, 1], output="identity", loss="huber", loss_params={"q": 0.5})
    with pytest.raises(TypeError, match=r"loss_params\['delta'\] must be a real number"):
        fnn.mlp([2, 2], output="identity", loss="huber", loss_params={"delta": [1.0, 2.0]})
    wrong = fnn.Net((2, 3), ("identity",), "quantile", loss_params=((0.1, 0.9),))
    with pytest.raises(ValueError, match=r"net.loss_params\[0\] \(q\) must be a number or a seq"):
        fnn.loss(wrong, fnn.init(quantile_net(0.1, sizes=(2, 3)), key=0), np.ones((2, 2)),
                 np.ones((2, 3)))  # fmt: skip


def test_the_strategies_draw_one_level_and_one_level_per_output():
    nets = testing.nets(losses=["quantile"])
    per_output = find(nets, lambda net: net.loss_params and type(net.loss_params[0]) is tuple)
    assert len(per_output.loss_params[0]) == per_output.sizes[-1] >= 2
    one = find(nets, lambda net: net.loss_params and type(net.loss_params[0]) is float)
    assert 0.0 < one.loss_params[0] < 1.0

"""Network specs, initialisation, forward, predict: shapes, dtypes, purity and determinism."""

import pickle

import numpy as np
import pytest
import reference

import fnn

SEED_003 = [
    {"input_dim": 2, "output_dim": 25, "activation": "relu"},
    {"input_dim": 25, "output_dim": 50, "activation": "relu"},
    {"input_dim": 50, "output_dim": 50, "activation": "relu"},
    {"input_dim": 50, "output_dim": 25, "activation": "relu"},
    {"input_dim": 25, "output_dim": 1, "activation": "sigmoid"},
]


def test_mlp_is_a_hashable_printable_spec():
    net = fnn.mlp([2, 25, 50, 50, 25, 1])
    assert net == fnn.Net((2, 25, 50, 50, 25, 1), ("relu",) * 4 + ("sigmoid",), "bce")
    assert hash(net) == hash(fnn.mlp((2, 25, 50, 50, 25, 1)))
    assert repr(net).startswith("Net(sizes=(2, 25, 50, 50, 25, 1)")
    assert pickle.loads(pickle.dumps(net)) == net


def test_from_architecture_reads_a_list_of_layer_dicts():
    assert fnn.from_architecture(SEED_003) == fnn.mlp([2, 25, 50, 50, 25, 1])


@pytest.mark.parametrize("output,loss", [("sigmoid", "bce"), ("softmax", "ce"), ("identity", "mse"),
                                         ("tanh", "mse"), ("relu", "mse")])  # fmt: skip
def test_canonical_losses(output, loss):
    assert fnn.mlp([3, 4, 2], output=output).loss == loss


def test_any_output_pairs_with_mse():
    assert fnn.mlp([2, 3, 1], hidden="sigmoid", output="sigmoid", loss="mse").loss == "mse"


def test_init_schemes_have_their_distributions():
    net = fnn.mlp([400, 300, 1], hidden="relu")
    for scheme, std in [("normal", 1.0), ("scaled", 0.1), ("he", np.sqrt(2 / 400))]:
        W = fnn.init(net, key=0, scheme=scheme).layers[0].W
        assert abs(W.std() / std - 1) < 0.02 and abs(W.mean()) < 0.02 * std
    limit = np.sqrt(6 / 700)
    W = fnn.init(net, key=0, scheme="glorot").layers[0].W
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.99 * limit
    assert fnn.init(net, scheme="scaled").layers[0].b.std() > 0.05
    assert not fnn.init(net, scheme="he").layers[0].b.any()


#: The documented bound of each scheme that draws W and b from one uniform, given (n_in, n_out).
UNIFORM_BOUNDS = {
    "fan_in_uniform": lambda n_in, n_out: 1 / np.sqrt(n_in),
    "glorot_with_biases": lambda n_in, n_out: np.sqrt(6 / (n_in + n_out)),
}


@pytest.mark.parametrize("scheme", UNIFORM_BOUNDS)
def test_uniform_schemes_draw_w_then_b_from_their_documented_uniform(scheme):
    """The same numbers as NumPy's generator seeded with the key, layer by layer, W then b."""
    net = fnn.mlp([50, 40, 30, 3], output="softmax")
    params = fnn.init(net, key=5, scheme=scheme)
    rng = np.random.default_rng(5)
    for layer, n_in, n_out in zip(params.layers, net.sizes, net.sizes[1:]):
        bound = UNIFORM_BOUNDS[scheme](n_in, n_out)
        np.testing.assert_array_equal(layer.W, rng.uniform(-bound, bound, (n_in, n_out)))
        np.testing.assert_array_equal(layer.b, rng.uniform(-bound, bound, n_out))
        assert layer.b.all()  # the biases are drawn, not zero


def test_default_scheme_is_fan_in_uniform_for_every_activation():
    for hidden in ("relu", "tanh", "sigmoid"):
        net = fnn.mlp([50, 40, 1], hidden=hidden)
        for default, chosen in zip(fnn.init(net, key=3).layers,
                                   fnn.init(net, key=3, scheme="fan_in_uniform").layers):  # fmt: skip
            np.testing.assert_array_equal(default.W, chosen.W)
            np.testing.assert_array_equal(default.b, chosen.b)
            assert default.b.all()  # the biases are drawn, not zero


def test_same_key_bit_identical_params_and_other_keys_differ():
    net = fnn.mlp([3, 5, 2], output="softmax")
    a, b, c = fnn.init(net, key=7), fnn.init(net, key=7), fnn.init(net, key=8)
    for la, lb in zip(a.layers, b.layers):
        assert la.W.tobytes() == lb.W.tobytes() and la.b.tobytes() == lb.b.tobytes()
    assert a.layers[0].W.tobytes() != c.layers[0].W.tobytes()
    seq = fnn.init(net, key=np.random.SeedSequence(7))
    np.testing.assert_array_equal(seq.layers[0].W, a.layers[0].W)


def test_params_are_read_only_and_shaped():
    net = fnn.mlp([3, 5, 2], output="softmax")
    params = fnn.init(net)
    assert [layer.W.shape for layer in params.layers] == [(3, 5), (5, 2)]
    assert [layer.b.shape for layer in params.layers] == [(5,), (2,)]
    for layer in params.layers:
        assert not layer.W.flags.writeable and not layer.b.flags.writeable
        with pytest.raises(ValueError):
            layer.W[0, 0] = 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_reference_and_keeps_dtype(dtype, rng):
    net = fnn.mlp([3, 6, 4, 3], hidden="tanh", output="softmax")
    params = fnn.init(net, key=1, dtype=dtype)
    X = rng.normal(size=(5, 3)).astype(dtype)
    out, cache = fnn.forward(net, params, X)
    assert out.dtype == dtype and out.shape == (5, 3)
    assert all(a.dtype == dtype for a in cache.activations + cache.preactivations)
    expected, _ = reference.forward(net, params, X.astype(np.float64))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, expected[-1], rtol=tol, atol=tol)


def test_forward_outputs_read_only_and_inputs_untouched(rng):
    net = fnn.mlp([2, 3, 1])
    params = fnn.init(net)
    X = rng.normal(size=(4, 2))
    before = X.copy()
    out, cache = fnn.forward(net, params, X)
    np.testing.assert_array_equal(X, before)
    assert X.flags.writeable  # the caller's array keeps its flags
    for array in (out, *cache.activations, *cache.preactivations):
        assert not array.flags.writeable


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_stays_float32_through_grad_and_step(dtype, rng):
    net = fnn.mlp([2, 4, 1])
    params = fnn.init(net, dtype=dtype)
    X, y = rng.normal(size=(6, 2)).astype(dtype), rng.integers(0, 2, 6)
    grads = fnn.grad(net, params, X, y)
    opt = fnn.adam(0.01)
    new, state = fnn.opt_step(opt, params, grads, fnn.opt_init(opt, params))
    for tree in (grads, new, *state.slots):
        assert all(part.dtype == dtype for layer in tree.layers for part in layer)
    assert fnn.predict_proba(net, new, X).dtype == dtype


def test_float64_data_with_float32_params_works_in_float32(rng):
    net = fnn.mlp([2, 4, 1])
    params = fnn.init(net, dtype=np.float32)
    out, _ = fnn.forward(net, params, rng.normal(size=(3, 2)))
    assert out.dtype == np.float32


def test_predict_and_predict_proba(rng):
    X = rng.normal(size=(8, 3))
    binary = fnn.mlp([3, 4, 1])
    p = fnn.init(binary, key=2)
    proba = fnn.predict_proba(binary, p, X)
    np.testing.assert_array_equal(fnn.predict(binary, p, X), (proba[:, 0] > 0.5).astype(int))
    multi = fnn.mlp([3, 4, 5], output="softmax")
    q = fnn.init(multi, key=2)
    np.testing.assert_array_equal(
        fnn.predict(multi, q, X), fnn.predict_proba(multi, q, X).argmax(1)
    )
    np.testing.assert_allclose(fnn.predict_proba(multi, q, X).sum(axis=1), 1.0)
    regression = fnn.mlp([3, 4, 2], output="identity")
    r = fnn.init(regression, key=2)
    assert fnn.predict(regression, r, X).shape == (8, 2)
    assert fnn.predict(
        fnn.mlp([3, 1], output="identity"), fnn.init(fnn.mlp([3, 1], output="identity")), X
    ).shape == (8,)


def test_predict_and_accuracy_use_one_rule_even_when_float32_rounds_to_one_half():
    net = fnn.mlp([1, 1])  # sigmoid(1e-8) is exactly 0.5 in float32, but the logit is > 0
    params = fnn.Params((fnn.Layer(np.zeros((1, 1), np.float32), np.full(1, 1e-8, np.float32)),))
    X = np.zeros((3, 1), np.float32)
    labels = fnn.predict(net, params, X)
    np.testing.assert_array_equal(labels, [1, 1, 1])
    assert fnn.accuracy(net, params, X, labels) == 1.0


def test_the_cache_does_not_share_memory_with_the_callers_X(rng):
    net = fnn.mlp([2, 3, 1])
    X = rng.normal(size=(4, 2))
    _, cache = fnn.forward(net, fnn.init(net), X)
    kept = cache.activations[0].copy()
    X[0, 0] = 99.0
    np.testing.assert_array_equal(cache.activations[0], kept)

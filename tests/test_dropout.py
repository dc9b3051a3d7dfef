"""Dropout: the engine against a slow NumPy transcription given the same masks (recomputed
from the hash the docs describe), keys as the only source of masks, and what never drops."""

import json

import numpy as np
import pytest
import reference

import fnn

NET = fnn.mlp([3, 16, 12, 2], hidden=["tanh", "relu"], output="softmax", dropout=[0.3, 0.5])


def problem(net, m, rng):
    X = rng.normal(size=(m, net.sizes[0]))
    if net.loss == "ce":
        y = rng.integers(0, net.sizes[-1], m)
        return X, y, reference.one_hot(y, net.sizes[-1])
    if net.loss == "bce":
        y = rng.integers(0, 2, (m, net.sizes[-1])).astype(float)
        return X, y, y
    y = rng.normal(size=(m, net.sizes[-1]))
    return X, y, y


@pytest.mark.parametrize(
    "net",
    [
        NET,
        fnn.mlp([4, 9, 7, 5, 1], hidden=["sigmoid", "gelu", "elu"], dropout=[0.2, 0.0, 0.6]),
        fnn.mlp([2, 40, 30, 3], hidden="silu", output="identity", dropout=0.25),  # above BLAS
    ],
    ids=["ce", "bce", "mse"],
)
@pytest.mark.parametrize("m", [1, 7, 90])
def test_grad_matches_the_reference_given_the_same_masks(net, m, rng):
    params = fnn.init(net, key=5)
    X, y, Y = problem(net, m, rng)
    masks = reference.dropout_masks(net, fnn.data.seed_of(11), m)
    value, grads = fnn.value_and_grad(net, params, X, y, l2=0.2, dropout_key=11)
    for (gW, gb), (W, b) in zip(grads.layers, reference.grad(net, params, X, Y, 0.2, masks)):
        np.testing.assert_allclose(gW, W, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(gb, b, rtol=1e-10, atol=1e-13)
    want = reference.loss(net, params, X, Y, 0.2, masks)
    np.testing.assert_allclose(value, want, rtol=1e-12)
    np.testing.assert_allclose(fnn.loss(net, params, X, y, 0.2, dropout_key=11), want, rtol=1e-12)
    out, _ = fnn.forward(net, params, X, dropout_key=11)
    np.testing.assert_allclose(out, reference.forward(net, params, X, masks)[0][-1], rtol=1e-12)


def test_masks_drop_at_the_rate_and_scale_the_kept_units():
    net = fnn.mlp([1, 500, 1], dropout=0.3)
    masks = reference.dropout_masks(net, 123, 200)[0]
    assert set(np.unique(masks)) == {0.0, 1 / 0.7}
    assert abs((masks == 0).mean() - 0.3) < 0.01  # 100,000 draws: 3 standard deviations
    # The engine uses these very masks: with W = 1, b = 0, the hidden layer's relu(x) = x = 1.
    params = fnn.Params(
        (fnn.Layer(np.ones((1, 500)), np.zeros(500)), fnn.Layer(np.eye(500)[:, :1], np.zeros(1)))
    )
    _, cache = fnn.forward(net, params, np.ones((200, 1)), dropout_key=123)
    np.testing.assert_array_equal(cache.preactivations[1][:, 0], masks[:, 0])


def test_without_a_key_nothing_drops_and_predict_never_drops(rng):
    params = fnn.init(NET, key=1)
    X, y, _ = problem(NET, 20, rng)
    plain = NET._replace(dropout=())
    assert fnn.loss(NET, params, X, y) == fnn.loss(plain, params, X, y)
    for a, b in zip(fnn.grad(NET, params, X, y).layers, fnn.grad(plain, params, X, y).layers):
        np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(fnn.forward(NET, params, X)[0], fnn.forward(plain, params, X)[0])
    np.testing.assert_array_equal(
        fnn.predict_proba(NET, params, X), fnn.predict_proba(plain, params, X)
    )
    np.testing.assert_array_equal(fnn.predict(NET, params, X), fnn.predict(plain, params, X))


def test_same_key_same_bits_other_key_other_masks(rng):
    params = fnn.init(NET, key=1)
    X, y, _ = problem(NET, 30, rng)
    first = fnn.grad(NET, params, X, y, dropout_key=4)
    again = fnn.grad(NET, params, X, y, dropout_key=4)
    other = fnn.grad(NET, params, X, y, dropout_key=5)
    assert first.layers[0].W.tobytes() == again.layers[0].W.tobytes()
    assert not np.array_equal(first.layers[0].W, other.layers[0].W)
    fits = [
        fnn.fit(NET, params, fnn.adam(0.01), X, y, epochs=3, batch_size=8, key=key).params
        for key in (2, 2, 3)
    ]
    assert fits[0].layers[1].W.tobytes() == fits[1].layers[1].W.tobytes()
    assert not np.array_equal(fits[0].layers[1].W, fits[2].layers[1].W)


@pytest.mark.parametrize("batch_size", [None, 8])
def test_k_plus_k_epochs_equal_2k_epochs_bit_for_bit(batch_size, rng, tmp_path):
    params = fnn.init(NET, key=1)
    X, y, _ = problem(NET, 30, rng)
    opt = fnn.adam(0.01)
    whole = fnn.fit(NET, params, opt, X, y, epochs=6, batch_size=batch_size, key=9)
    half = fnn.fit(NET, params, opt, X, y, epochs=3, batch_size=batch_size, key=9)
    fnn.save(tmp_path / "half.npz", NET, half.params, opt_state=half.opt_state)
    net, loaded = fnn.load(tmp_path / "half.npz")
    assert net == NET
    rest = fnn.fit(net, loaded, opt, X, y, epochs=3, batch_size=batch_size, key=9,
                   opt_state=fnn.load_state(tmp_path / "half.npz"))  # fmt: skip
    for a, b in zip(whole.params.layers, rest.params.layers):
        assert a.W.tobytes() == b.W.tobytes() and a.b.tobytes() == b.b.tobytes()
    np.testing.assert_array_equal(whole.history.loss[3:], rest.history.loss)


def test_a_hand_written_loop_reproduces_fit_with_dropout(rng):
    params = fnn.init(NET, key=1)
    X, y, _ = problem(NET, 30, rng)
    opt = fnn.sgd(0.1)
    state = fnn.opt_init(opt, params)
    mine = params
    for epoch in range(2):
        for batch in fnn.minibatches(fnn.fold_in(7, epoch), len(X), 8):
            key = fnn.fold_in(fnn.fold_in(7, 2**64 - 1), state.step)
            grads = fnn.grad(NET, mine, X[batch], y[batch], dropout_key=key)
            mine, state = fnn.opt_step(opt, mine, grads, state)
    result = fnn.fit(NET, params, opt, X, y, epochs=2, batch_size=8, key=7)
    for a, b in zip(result.params.layers, mine.layers):
        assert a.W.tobytes() == b.W.tobytes() and a.b.tobytes() == b.b.tobytes()


def test_float32_stays_float32(rng):
    params = fnn.init(NET, key=1, dtype=np.float32)
    X, y, Y = problem(NET, 25, rng)
    masks = reference.dropout_masks(NET, 3, 25)
    grads = fnn.grad(NET, params, X, y, dropout_key=3)
    params64 = fnn.init(NET, key=1, dtype=np.float32)
    params64 = fnn.Params(
        tuple(fnn.Layer(W.astype(float), b.astype(float)) for W, b in params64.layers)
    )
    for (gW, gb), (W, b) in zip(grads.layers, reference.grad(NET, params64, X, Y, 0.0, masks)):
        assert gW.dtype == gb.dtype == np.float32
        np.testing.assert_allclose(gW, W, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(gb, b, rtol=1e-4, atol=1e-6)
    result = fnn.fit(NET, params, fnn.adam(0.01), X, y, epochs=2, batch_size=8)
    assert result.params.layers[0].W.dtype == np.float32
    mean, std = fnn.predict_mc(NET, result.params, X, key=0, samples=4)
    assert mean.dtype == std.dtype == np.float32


def test_predict_mc_is_the_mean_and_spread_of_keyed_forward_passes(rng):
    params = fnn.init(NET, key=1)
    X, _, _ = problem(NET, 12, rng)
    mean, std = fnn.predict_mc(NET, params, X, key=8, samples=5)
    passes = np.array(
        [fnn.forward(NET, params, X, dropout_key=fnn.fold_in(8, s))[0] for s in range(5)]
    )
    np.testing.assert_allclose(mean, passes.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(std, passes.std(axis=0), rtol=1e-10, atol=1e-15)
    assert not mean.flags.writeable and not std.flags.writeable and (std > 0).any()
    plain = NET._replace(dropout=())
    mean, std = fnn.predict_mc(plain, params, X, key=8, samples=3)
    np.testing.assert_allclose(mean, fnn.predict_proba(plain, params, X), rtol=1e-15)
    assert not std.any()


def test_dropout_is_saved_and_loaded(tmp_path):
    fnn.save(tmp_path / "net.npz", NET, fnn.init(NET, key=0))
    assert fnn.load(tmp_path / "net.npz")[0] == NET
    plain = NET._replace(dropout=())
    fnn.save(tmp_path / "plain.npz", plain, fnn.init(plain, key=0))
    assert fnn.load(tmp_path / "plain.npz")[0] == plain


@pytest.mark.parametrize("bad", ["abc", [2.0], [0.1, 0.2], {"a": 1}, [[0.1]]])
def test_bad_dropout_in_an_archive_is_a_one_line_error(bad, tmp_path):
    net = fnn.mlp([2, 3, 1], dropout=0.5)
    fnn.save(tmp_path / "net.npz", net, fnn.init(net))
    arrays = dict(np.load(tmp_path / "net.npz"))
    meta = json.loads(str(arrays["fnn_meta"]))
    meta["dropout"] = bad
    arrays["fnn_meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"not a valid fnn archive: dropout") as info:
        fnn.load(tmp_path / "bad.npz")
    assert "\n" not in str(info.value)


def test_exports_compute_the_network_without_dropout(rng, tmp_path):
    import onnxruntime
    import torch

    params = fnn.init(NET, key=2)
    X = rng.normal(size=(10, 3))
    want = fnn.predict_proba(NET, params, X)
    fnn.to_onnx(NET, params, tmp_path / "net.onnx")
    session = onnxruntime.InferenceSession(
        tmp_path / "net.onnx", providers=["CPUExecutionProvider"]
    )
    np.testing.assert_allclose(session.run(["proba"], {"X": X})[0], want, rtol=1e-12)
    module = fnn.to_torch(NET, params)
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(X)).numpy(), want, rtol=1e-12)
    assert fnn.from_torch(module)[0] == NET._replace(dropout=())


def test_keyed_masks_follow_the_rows_of_x_across_evaluation_chunks(rng):
    net = fnn.mlp([2, 500, 498, 1], dropout=0.3)  # 523 rows per chunk: 1200 rows take 3
    assert fnn.engine.chunk_rows(net.sizes) < 600
    params = fnn.init(net, key=0)
    X, y, _ = problem(net, 1200, rng)
    chunked = fnn.loss(net, params, X, y, dropout_key=5)
    one_batch = fnn.value_and_grad(net, params, X, y, dropout_key=5)[0]
    np.testing.assert_allclose(chunked, one_batch, rtol=1e-13)
    assert chunked != fnn.loss(net, params, X, y)

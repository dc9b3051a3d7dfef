"""Sample and class weights: an integer weight is that many copies of the row, weights of 1
change no bit, mini-batches are weighted means, class weights follow scikit-learn and
PyTorch's weighted cross-entropy (float64, tight tolerances), float32 stays float32."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight

import fnn
from fnn import testing


def flat(params):
    return np.concatenate([part.ravel() for layer in params.layers for part in layer])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_an_integer_weight_equals_repeating_the_row(data):
    net = data.draw(testing.nets())
    params = data.draw(testing.params(net))
    X, y = data.draw(testing.batches(net))
    w = np.array(data.draw(st.lists(st.integers(0, 3), min_size=len(X), max_size=len(X))))
    if w.sum() == 0:
        w[0] = 1
    l2 = data.draw(st.sampled_from([0.0, 0.7]))
    repeated_X, repeated_y = np.repeat(X, w, axis=0), np.repeat(y, w, axis=0)
    value, grads = fnn.value_and_grad(net, params, X, y, l2=l2, sample_weight=w)
    want, want_grads = fnn.value_and_grad(net, params, repeated_X, repeated_y, l2=l2)
    np.testing.assert_allclose(value, want, rtol=1e-12)
    np.testing.assert_allclose(fnn.loss(net, params, X, y, l2, w), want, rtol=1e-12)
    np.testing.assert_allclose(flat(grads), flat(want_grads), rtol=1e-10, atol=1e-14)


def classification(n=40, seed=0):
    rng = np.random.default_rng(seed)
    net = fnn.mlp([3, 6, 3], hidden="tanh", output="softmax")
    X = rng.normal(size=(n, 3))
    y = np.where(rng.uniform(size=n) < 0.7, 0, rng.integers(1, 3, n))  # imbalanced
    return net, fnn.init(net, key=seed), X, y


def test_full_batch_fit_with_integer_weights_equals_fit_on_repeated_rows():
    net, params, X, y = classification()
    w = np.random.default_rng(1).integers(0, 4, len(X))
    weighted = fnn.fit(net, params, fnn.adam(0.05), X, y, epochs=20, l2=0.1, sample_weight=w)
    repeated = fnn.fit(net, params, fnn.adam(0.05), np.repeat(X, w, 0), np.repeat(y, w), epochs=20,
                       l2=0.1)  # fmt: skip
    np.testing.assert_allclose(flat(weighted.params), flat(repeated.params), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.history.loss, repeated.history.loss, rtol=1e-11)
    np.testing.assert_allclose(weighted.history.accuracy, repeated.history.accuracy, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weights_of_one_change_no_bit(dtype):
    net, _, X, y = classification(23)
    params = fnn.init(net, key=2, dtype=dtype)
    ones = np.ones(len(X))
    plain = fnn.fit(net, params, fnn.adam(0.05), X, y, epochs=3, batch_size=5, l2=0.2,
                    validation=(X[:7], y[:7]))  # fmt: skip
    weighted = fnn.fit(net, params, fnn.adam(0.05), X, y, epochs=3, batch_size=5, l2=0.2,
                       validation=(X[:7], y[:7], ones[:7]), sample_weight=ones)  # fmt: skip
    assert flat(plain.params).tobytes() == flat(weighted.params).tobytes()
    for a, b in zip(plain.history[:4], weighted.history[:4]):
        assert a.tobytes() == b.tobytes()


def test_mini_batches_are_weighted_means_as_the_composable_loop_computes_them():
    net, params, X, y = classification(23, seed=3)
    w = np.random.default_rng(3).uniform(0, 2, len(X))
    w[:14] = 0.0  # some batches draw only zeros
    opt, key, batch = fnn.momentum(0.3), 5, 4
    result = fnn.fit(net, params, opt, X, y, epochs=3, batch_size=batch, key=key, l2=0.1,
                     sample_weight=w)  # fmt: skip
    state, total, empty_batches = fnn.opt_init(opt, params), [], 0
    for epoch in range(3):
        weighted_sum = 0.0
        for rows in fnn.minibatches(fnn.fold_in(key, epoch), len(X), batch):
            value, grads = fnn.value_and_grad(net, params, X[rows], y[rows], 0.1, w[rows])
            weighted_sum += value * w[rows].sum()
            empty_batches += w[rows].sum() == 0
            params, state = fnn.opt_step(opt, params, grads, state)
        total.append(weighted_sum / w.sum())
    assert empty_batches > 0
    assert flat(result.params).tobytes() == flat(params).tobytes()
    np.testing.assert_allclose(result.history.loss, total, rtol=1e-12)


def test_a_batch_of_weight_zero_contributes_nothing():
    net, params, X, y = classification(8)
    w = np.zeros(8)
    w[3] = 2.0
    sgd = fnn.sgd(0.1)
    # One row per batch: seven batches of weight 0 (no loss, no penalty, no gradient) and one
    # that is row 3 alone (weight 2: its penalty is l2 / (2 * 2) ||W||**2).
    result = fnn.fit(net, params, sgd, X, y, epochs=1, batch_size=1, l2=0.5, sample_weight=w)
    one = fnn.grad(net, params, X[3:4], y[3:4], l2=0.5, sample_weight=[2.0])
    want = fnn.opt_step(sgd, params, one, fnn.opt_init(sgd, params))[0]
    np.testing.assert_allclose(flat(result.params), flat(want), rtol=1e-12, atol=1e-15)
    value, grads = fnn.value_and_grad(net, params, X[:2], y[:2], l2=0.5, sample_weight=[0, 0.0])
    assert value == 0.0 and not flat(grads).any()


def test_weighted_validation_is_the_weighted_loss_and_accuracy():
    net, params, X, y = classification(30, seed=4)
    w_val = np.random.default_rng(4).uniform(0, 3, 10)
    result = fnn.fit(net, params, fnn.adam(0.05), X[:20], y[:20], epochs=2, l2=0.3,
                     validation=(X[20:], y[20:], w_val))  # fmt: skip
    last = result.params
    assert result.history.val_loss[-1] == fnn.loss(net, last, X[20:], y[20:], 0.3, w_val)
    right = fnn.predict(net, last, X[20:]) == y[20:]
    np.testing.assert_allclose(result.history.val_accuracy[-1], w_val[right].sum() / w_val.sum(),
                               rtol=1e-12)  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balanced_class_weights_follow_scikit_learn(seed):
    from fnn.weights import class_weights

    net, _, _, y = classification(50, seed)
    y = y.copy()
    y[y == 2] = 1  # a class absent from y: balanced over the classes present, as sklearn
    want = compute_class_weight("balanced", classes=np.unique(y), y=y)
    got = class_weights("balanced", net, np.eye(3)[y])
    np.testing.assert_allclose(got, want[np.searchsorted(np.unique(y), y)], rtol=1e-15)
    binary = fnn.mlp([3, 1])
    np.testing.assert_allclose(
        class_weights("balanced", binary, (y > 0).reshape(-1, 1).astype(float)),
        compute_class_weight("balanced", classes=np.array([0, 1]), y=(y > 0))[(y > 0) * 1],
        rtol=1e-15,
    )


def test_class_weights_are_torch_weighted_cross_entropy():
    net, params, X, y = classification(40, seed=5)
    table = {0: 0.5, 1: 2.0, 2: 3.5}
    lr = 0.1
    result = fnn.fit(net, params, fnn.sgd(lr), X, y, epochs=1, l2=0.0, class_weight=table)
    Ws = [torch.tensor(layer.W, requires_grad=True) for layer in params.layers]
    bs = [torch.tensor(layer.b, requires_grad=True) for layer in params.layers]
    z = torch.tanh(torch.tensor(X) @ Ws[0] + bs[0]) @ Ws[1] + bs[1]
    weight = torch.tensor([table[c] for c in range(3)], dtype=torch.float64)
    loss = torch.nn.CrossEntropyLoss(weight=weight)(z, torch.tensor(y))  # sum w l / sum w
    loss.backward()
    np.testing.assert_allclose(result.history.loss[0], loss.item(), rtol=1e-13)
    for layer, W, b in zip(result.params.layers, Ws, bs):
        np.testing.assert_allclose(layer.W, (W - lr * W.grad).detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(layer.b, (b - lr * b.grad).detach().numpy(), rtol=1e-12)


def test_class_and_sample_weights_multiply_and_missing_classes_weigh_one():
    net, params, X, y = classification(30, seed=6)
    w = np.random.default_rng(6).uniform(0.5, 2, 30)
    both = fnn.fit(net, params, fnn.sgd(0.1), X, y, epochs=2, sample_weight=w,
                   class_weight={2: 4.0})  # fmt: skip
    product = w * np.where(y == 2, 4.0, 1.0)
    alone = fnn.fit(net, params, fnn.sgd(0.1), X, y, epochs=2, sample_weight=product)
    assert flat(both.params).tobytes() == flat(alone.params).tobytes()


@pytest.mark.parametrize("loss", ["bce", "mse", "huber", "poisson"])
def test_float32_stays_float32_with_weights(loss):
    rng = np.random.default_rng(7)
    output = "sigmoid" if loss == "bce" else "identity"
    net = fnn.mlp([3, 4, 1], output=output, loss=loss)
    X = rng.normal(size=(20, 3))
    y = rng.integers(0, 2, 20)
    params = fnn.init(net, key=7, dtype=np.float32)
    w = rng.uniform(0, 2, 20)
    value, grads = fnn.value_and_grad(net, params, X, y, sample_weight=w)
    assert all(part.dtype == np.float32 for layer in grads.layers for part in layer)
    np.testing.assert_allclose(value, fnn.loss(net, fnn.init(net, key=7), X, y, 0.0, w), rtol=1e-5)
    result = fnn.fit(net, params, fnn.adam(0.01), X, y, epochs=2, batch_size=8, sample_weight=w)
    assert result.params.layers[0].W.dtype == np.float32


def test_the_callers_weights_are_not_changed():
    net, params, X, y = classification(12)
    w = np.linspace(0.0, 2.0, 12)
    w.setflags(write=False)
    before = w.copy()
    fnn.fit(net, params, fnn.adam(), X, y, epochs=1, batch_size=5, sample_weight=w,
            class_weight="balanced")  # fmt: skip
    fnn.grad(net, params, X, y, sample_weight=w)
    assert np.array_equal(w, before) and not w.flags.writeable

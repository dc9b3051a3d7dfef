"""fit: history, validation, early stopping, callbacks, resuming, determinism, errors; helpers."""

import numpy as np
import pytest

import fnn


@pytest.fixture(scope="module")
def moons():
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, np.pi, 120)
    upper = rng.integers(0, 2, 120)
    X = np.c_[np.cos(angle) + upper * 1.0, np.sin(angle) * np.where(upper, -1, 1) + upper * 0.5]
    return X + rng.normal(0, 0.1, X.shape), upper


NET = fnn.mlp([2, 8, 1], hidden="tanh")


def _same(a, b):
    return all(
        x.W.tobytes() == y.W.tobytes() and x.b.tobytes() == y.b.tobytes()
        for x, y in zip(a.layers, b.layers)
    )


def test_fit_learns_and_records_history(moons):
    X, y = moons
    result = fnn.fit(NET, fnn.init(NET, key=0), fnn.adam(0.05), X, y, epochs=60, batch_size=16,
                     validation=(X[:30], y[:30]))  # fmt: skip
    history = result.history
    columns = (history.loss, history.accuracy, history.val_loss, history.val_accuracy)
    assert [len(column) for column in columns] == [60, 60, 60, 60]
    assert history.stopped_epoch is None and history.params_epoch == 59
    assert history.loss[-1] < history.loss[0] / 2
    assert history.accuracy[-1] > 0.9 and history.val_accuracy[-1] > 0.9
    assert all(not column.flags.writeable for column in columns)
    assert result.opt_state.step == 60 * 8  # ceil(120 / 16) = 8 updates per epoch
    # val_loss is the loss of the params after the epoch
    assert history.val_loss[-1] == pytest.approx(
        fnn.loss(NET, result.params, X[:30], y[:30]), rel=1e-9
    )


def test_full_batch_history_is_the_loss_before_each_update(moons):
    X, y = moons
    params = fnn.init(NET, key=1)
    result = fnn.fit(NET, params, fnn.sgd(0.1), X, y, epochs=3, l2=0.01)
    assert result.history.loss[0] == pytest.approx(fnn.loss(NET, params, X, y, l2=0.01), rel=1e-12)
    assert result.history.accuracy[0] == pytest.approx(fnn.accuracy(NET, params, X, y))
    assert len(result.history.val_loss) == 0


def test_regression_history_has_no_accuracy(rng):
    net = fnn.mlp([3, 4, 2], hidden="tanh", output="identity")
    X = rng.normal(size=(20, 3))
    history = fnn.fit(net, fnn.init(net), fnn.sgd(0.1), X, X[:, :2], epochs=5,
                      validation=(X, X[:, :2])).history  # fmt: skip
    assert len(history.loss) == 5 and len(history.val_loss) == 5
    assert len(history.accuracy) == 0 and len(history.val_accuracy) == 0


def test_same_key_same_result_other_key_differs(moons):
    X, y = moons
    params = fnn.init(NET, key=0)
    runs = [
        fnn.fit(NET, params, fnn.adam(0.01), X, y, epochs=5, batch_size=32, key=k)
        for k in (3, 3, 4)
    ]
    assert _same(runs[0].params, runs[1].params)
    assert not _same(runs[0].params, runs[2].params)


@pytest.mark.parametrize("opt", [fnn.adam(0.01), fnn.momentum(fnn.step_decay(0.1, 0.5, 7))])
@pytest.mark.parametrize("batch_size", [None, 25])
def test_resume_is_bit_exact(moons, opt, batch_size):
    X, y = moons
    params = fnn.init(NET, key=0)
    whole = fnn.fit(NET, params, opt, X, y, epochs=8, batch_size=batch_size, key=5)
    first = fnn.fit(NET, params, opt, X, y, epochs=4, batch_size=batch_size, key=5)
    second = fnn.fit(NET, first.params, opt, X, y, epochs=4, batch_size=batch_size, key=5,
                     opt_state=first.opt_state)  # fmt: skip
    assert _same(whole.params, second.params)
    assert whole.opt_state.step == second.opt_state.step
    np.testing.assert_array_equal(whole.history.loss[4:], second.history.loss)


def test_early_stopping_stops_and_restores_the_best(moons):
    X, y = moons
    # A learning rate that overshoots after a few epochs: the loss turns up, training stops.
    opt = fnn.sgd(5.0)
    result = fnn.fit(NET, fnn.init(NET, key=0), opt, X, y, epochs=200,
                     early_stopping=fnn.early_stopping(patience=3))  # fmt: skip
    losses = result.history.loss
    best = int(np.argmin(losses))
    assert 0 < best and len(losses) == best + 1 + 3
    # As in Keras, the params kept are those at the end of the best epoch.
    kept = fnn.fit(NET, fnn.init(NET, key=0), opt, X, y, epochs=best + 1).params
    assert _same(result.params, kept)
    unrestored = fnn.fit(NET, fnn.init(NET, key=0), opt, X, y, epochs=200,
                         early_stopping=fnn.early_stopping(patience=3, restore_best=False))  # fmt: skip
    assert _same(
        unrestored.params, fnn.fit(NET, fnn.init(NET, key=0), opt, X, y, epochs=len(losses)).params
    )


def test_early_stopping_returns_the_params_and_optimizer_state_of_the_best_epoch(moons):
    """A pair from one epoch (Adam's moments, the step, the plateau's cut): resuming from it
    continues from the best epoch, bit for bit."""
    X, y = moons
    opt, data = fnn.adam(0.5), (X[20:], y[20:])
    options = dict(batch_size=16, key=1, validation=(X[:20], y[:20]),
                   reduce_on_plateau=fnn.reduce_on_plateau(factor=0.5, patience=1))  # fmt: skip
    result = fnn.fit(NET, fnn.init(NET, key=0), opt, *data, epochs=300,
                     early_stopping=fnn.early_stopping(patience=5), **options)  # fmt: skip
    best = result.history.params_epoch
    assert 0 < best < len(result.history.loss) - 1
    until_best = fnn.fit(NET, fnn.init(NET, key=0), opt, *data, epochs=best + 1, **options)
    assert _same(result.params, until_best.params)
    assert result.opt_state.step == until_best.opt_state.step
    assert result.opt_state.plateau == until_best.opt_state.plateau
    assert result.opt_state.plateau.scale < 1.0  # a cut was restored, not just the default
    assert all(_same(a, b) for a, b in zip(result.opt_state.slots, until_best.opt_state.slots))
    resumed = fnn.fit(NET, result.params, opt, *data, epochs=3, opt_state=result.opt_state,
                      **options)  # fmt: skip
    straight = fnn.fit(NET, fnn.init(NET, key=0), opt, *data, epochs=best + 4, **options)
    assert _same(resumed.params, straight.params)


@pytest.mark.parametrize("monitor, mode, min_delta, restore_best", [
    ("val_loss", None, 0.0, True), ("loss", "min", 1e-3, False),
    ("val_accuracy", "max", 0.0, True), ("accuracy", None, 0.02, True),
])  # fmt: skip
@pytest.mark.parametrize("epochs_per_call, plateau", [(None, None), (3, None), (None, 2)])
def test_early_stopping_in_the_engine_is_the_watch_after_each_epoch(
    moons, monkeypatch, monitor, mode, min_delta, restore_best, epochs_per_call, plateau
):
    """Early stopping runs inside the engine, epochs at a time (with a plateau watch, as many
    as cannot cut the rate); with a callback, in Python after each epoch: the same decisions,
    the same bits."""
    X, y = moons
    if epochs_per_call is not None:  # the watch's record carried from call to call
        monkeypatch.setattr(fnn.train, "MAX_UPDATES_PER_CALL", epochs_per_call * 4)
    stop = fnn.early_stopping(patience=4, monitor=monitor, mode=mode, min_delta=min_delta,
                              restore_best=restore_best)  # fmt: skip
    cut = None if plateau is None else fnn.reduce_on_plateau(factor=0.7, patience=plateau)
    options = dict(epochs=150, batch_size=25, key=2, validation=(X[:20], y[:20]),
                   early_stopping=stop, reduce_on_plateau=cut)  # fmt: skip
    in_engine = fnn.fit(NET, fnn.init(NET, key=0), fnn.adam(0.3), X[20:], y[20:], **options)
    after_each = fnn.fit(NET, fnn.init(NET, key=0), fnn.adam(0.3), X[20:], y[20:],
                         callback=lambda epoch, params, history: None, **options)  # fmt: skip
    assert in_engine.history.stopped_epoch is not None  # patience ran out: a stop to compare
    assert _same(in_engine.params, after_each.params)
    assert in_engine.opt_state.step == after_each.opt_state.step
    assert in_engine.opt_state.plateau == after_each.opt_state.plateau
    assert all(_same(a, b) for a, b in zip(in_engine.opt_state.slots, after_each.opt_state.slots))
    for field in ("loss", "accuracy", "val_loss", "val_accuracy", "stopped_epoch",
                  "params_epoch"):  # fmt: skip
        np.testing.assert_array_equal(getattr(in_engine.history, field),
                                      getattr(after_each.history, field))  # fmt: skip


def test_early_stopping_watches_validation_loss(moons):
    X, y = moons
    calls = []
    fnn.fit(NET, fnn.init(NET, key=0), fnn.adam(0.05), X, y, epochs=100,
            validation=(X[:10], 1 - y[:10]),  # flipped labels: validation only gets worse
            early_stopping=fnn.early_stopping(patience=2, restore_best=False),
            callback=lambda epoch, params, history: calls.append(epoch))  # fmt: skip
    assert len(calls) < 100


def test_callback_sees_params_and_history_and_can_stop(moons):
    X, y = moons
    seen = []

    def callback(epoch, params, history):
        seen.append((epoch, len(history.loss), params.layers[0].W.copy()))
        return epoch == 4

    result = fnn.fit(NET, fnn.init(NET, key=0), fnn.adam(0.01), X, y, epochs=50, callback=callback)
    assert [(e, n) for e, n, _ in seen] == [(e, e + 1) for e in range(5)]
    np.testing.assert_array_equal(seen[-1][2], result.params.layers[0].W)
    assert len(result.history.loss) == 5


def test_hooks_do_not_change_the_result(moons):
    X, y = moons
    params = fnn.init(NET, key=0)
    plain = fnn.fit(NET, params, fnn.adam(0.01), X, y, epochs=6, batch_size=50)
    hooked = fnn.fit(NET, params, fnn.adam(0.01), X, y, epochs=6, batch_size=50,
                     callback=lambda *args: False)  # fmt: skip
    assert _same(plain.params, hooked.params)


def test_non_finite_loss_raises_naming_the_epoch_and_changes_nothing(moons):
    X, y = moons
    X, y = X * 1e3, y.copy()
    net = fnn.mlp([2, 8, 1], hidden="relu")
    params = fnn.init(net, key=0)
    state = fnn.opt_init(fnn.sgd(1e6), params)
    before = X.copy(), y.copy(), [layer.W.copy() for layer in params.layers]
    with pytest.raises(FloatingPointError, match=r"epoch \d+"):
        fnn.fit(net, params, fnn.sgd(1e6), X, y, epochs=50, opt_state=state)
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(y, before[1])
    for layer, W in zip(params.layers, before[2]):
        np.testing.assert_array_equal(layer.W, W)
    assert state.step == 0


def test_non_finite_params_after_the_last_update_raise():
    # The epoch's loss is measured before its update; an update to inf must still be caught.
    net = fnn.mlp([1, 1], output="identity")
    params = fnn.Params((fnn.Layer(np.ones((1, 1)), np.zeros(1)),))
    with pytest.raises(FloatingPointError, match="epoch 0"):
        fnn.fit(net, params, fnn.sgd(1e308), [[1.0], [2.0]], [5.0, 9.0], epochs=1)


def test_fit_leaves_inputs_untouched(moons):
    X, y = moons
    X, y = X.copy(), y.copy()
    copies = X.copy(), y.copy()
    params = fnn.init(NET, key=0)
    state = fnn.opt_init(fnn.adam(), params)
    fnn.fit(NET, params, fnn.adam(), X, y, epochs=3, batch_size=7, opt_state=state)
    np.testing.assert_array_equal(X, copies[0])
    np.testing.assert_array_equal(y, copies[1])
    assert state.step == 0 and _same(params, fnn.init(NET, key=0))


def test_minibatches_cover_every_row_once_with_a_partial_last_batch():
    batches = fnn.minibatches(3, 10, 4)
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(10))
    assert [b.tolist() for b in fnn.minibatches(3, 10, 4)] == [b.tolist() for b in batches]
    assert fnn.minibatches(3, 10, None)[0].tolist() == list(range(10))
    assert fnn.fold_in(3, 1) != fnn.fold_in(3, 2) and fnn.fold_in(3, 1) == fnn.fold_in(3, 1)


def test_standardizer_handles_constant_columns(rng):
    X = np.c_[rng.normal(5, 3, 50), np.full(50, 7.0)]
    scaler = fnn.standardizer(X)
    Z = fnn.standardize(scaler, X)
    np.testing.assert_allclose(Z[:, 0].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, 0].std(), 1)
    np.testing.assert_array_equal(Z[:, 1], 0)
    assert (
        fnn.standardize(fnn.standardizer(X.astype(np.float32)), X.astype(np.float32)).dtype
        == np.float32
    )


def test_accuracy_for_labels_and_one_hot(rng):
    net = fnn.mlp([3, 4, 3], output="softmax")
    params = fnn.init(net, key=0)
    X = rng.normal(size=(30, 3))
    labels = fnn.predict(net, params, X)
    assert fnn.accuracy(net, params, X, labels) == 1.0
    assert fnn.accuracy(net, params, X, np.eye(3)[labels]) == 1.0
    assert fnn.accuracy(net, params, X, (labels + 1) % 3) == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_accuracy_takes_the_first_of_tied_logits_as_argmax(rng, dtype):
    net = fnn.mlp([3, 4], output="softmax")
    W = rng.normal(size=(3, 4))
    W[:, 2] = W[:, 0]  # units 0 and 2 tie on every row
    b = np.array([0.1, -0.2, 0.1, 0.3])
    params = fnn.Params((fnn.Layer(W.astype(dtype), b.astype(dtype)),))
    X = rng.normal(size=(70, 3)).astype(dtype)  # 70 rows: more than one vector of rows
    logits = X @ params.layers[0].W + params.layers[0].b
    assert np.array_equal(logits[:, 0], logits[:, 2])
    chosen = np.argmax(logits, axis=1)  # the first of the largest
    assert (chosen == 0).any() and not (chosen == 2).any()
    for labels in (chosen, np.where(chosen == 0, 2, chosen), rng.integers(0, 4, size=70)):
        assert fnn.accuracy(net, params, X, labels) == np.mean(labels == chosen)

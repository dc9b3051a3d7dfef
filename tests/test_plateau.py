"""fit(..., reduce_on_plateau=...) against torch's ReduceLROnPlateau driven by the same losses,
a hand loop with torch's rates, and bit-for-bit resumption after a cut."""

from __future__ import annotations

import numpy as np
import pytest

import fnn

torch = pytest.importorskip("torch")

rng = np.random.default_rng(0)
X = rng.normal(size=(80, 3))
Y = (X[:, 0] + 0.5 * X[:, 1] ** 2 + rng.normal(scale=0.7, size=80) > 0.3).astype(int)
X_VAL, Y_VAL = X[60:], Y[60:]
X, Y = X[:60], Y[:60]
NET = fnn.mlp([3, 8, 1])
EPOCHS = 60


def bits(params):
    return b"".join(part.tobytes() for layer in params.layers for part in layer)


def torch_rates(losses, lr, **config) -> list[float]:
    """The rate torch's ReduceLROnPlateau sets after each of ``losses``."""
    parameter = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.SGD([parameter], lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", threshold_mode="abs", factor=config["factor"],
        patience=config["patience"], threshold=config["min_delta"], min_lr=config["min_lr"],
        cooldown=config["cooldown"], eps=config["eps"],
    )  # fmt: skip
    rates = []
    for value in losses:
        scheduler.step(float(value))
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


CONFIGS = [
    dict(factor=0.5, patience=2, min_delta=1e-3, min_lr=0.0, cooldown=0, eps=1e-8),
    dict(factor=0.3, patience=1, min_delta=0.0, min_lr=0.02, cooldown=2, eps=1e-8),
    dict(factor=0.7, patience=0, min_delta=5e-3, min_lr=0.0, cooldown=1, eps=1e-3),
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("validation", [True, False], ids=["val_loss", "loss"])
def test_cuts_match_torch_and_the_training_matches_a_hand_loop(config, validation):
    lr = 0.8
    opt = fnn.momentum(lr, beta=0.5)
    params = fnn.init(NET, key=1)
    val = (X_VAL, Y_VAL) if validation else None
    watcher = fnn.reduce_on_plateau(**config)
    whole = fnn.fit(NET, params, opt, X, Y, epochs=EPOCHS, batch_size=16, key=2, validation=val,
                    reduce_on_plateau=watcher)  # fmt: skip
    watched = whole.history.val_loss if validation else whole.history.loss
    expected = torch_rates(watched, lr, **config)
    assert len(set(expected)) >= 3, "the test needs at least two cuts"

    # One epoch per call: the same bits, and the rate after every epoch.
    state, current, rates = None, params, []
    for _ in range(EPOCHS):
        step = fnn.fit(NET, current, opt, X, Y, epochs=1, batch_size=16, key=2, validation=val,
                       opt_state=state, reduce_on_plateau=watcher)  # fmt: skip
        current, state = step.params, step.opt_state
        rates.append(lr * state.plateau.scale)
    assert bits(current) == bits(whole.params)
    assert state.plateau == whole.opt_state.plateau
    np.testing.assert_allclose(rates, expected, rtol=1e-14, atol=0)

    # The slow way: plain fit epochs at torch's rates, the optimizer state carried along.
    state, slow = None, params
    for epoch in range(EPOCHS):
        rate = lr if epoch == 0 else expected[epoch - 1]
        step = fnn.fit(NET, slow, fnn.momentum(rate, beta=0.5), X, Y, epochs=1, batch_size=16,
                       key=2, opt_state=state)  # fmt: skip
        slow, state = step.params, step.opt_state
    for ours, reference in zip(whole.params.layers, slow.layers):
        np.testing.assert_allclose(ours.W, reference.W, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(ours.b, reference.b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_resuming_after_a_cut_is_bit_exact_also_from_disk(tmp_path, dtype):
    opt = fnn.adam(0.05)
    params = fnn.init(NET, key=3, dtype=dtype)
    watcher = fnn.reduce_on_plateau(factor=0.5, patience=1, min_delta=1e-3, cooldown=1)
    kwargs = dict(batch_size=20, key=4, validation=(X_VAL, Y_VAL), reduce_on_plateau=watcher)
    whole = fnn.fit(NET, params, opt, X, Y, epochs=2 * EPOCHS, **kwargs)
    first = fnn.fit(NET, params, opt, X, Y, epochs=EPOCHS, **kwargs)
    assert first.opt_state.plateau.scale < 1.0, "the test needs a cut in the first half"
    path = tmp_path / "checkpoint.npz"
    fnn.save(path, NET, first.params, opt_state=first.opt_state)
    loaded = fnn.load_state(path)
    assert (loaded.step, loaded.plateau) == (first.opt_state.step, first.opt_state.plateau)
    second = fnn.fit(NET, fnn.load(path)[1], opt, X, Y, epochs=EPOCHS,
                     opt_state=fnn.load_state(path), **kwargs)  # fmt: skip
    assert whole.opt_state.plateau.scale < first.opt_state.plateau.scale  # a cut in each half
    assert second.params.layers[0].W.dtype == dtype
    assert bits(second.params) == bits(whole.params)
    assert second.opt_state.plateau == whole.opt_state.plateau
    np.testing.assert_array_equal(
        np.concatenate([first.history.val_loss, second.history.val_loss]), whole.history.val_loss
    )


def test_opt_step_applies_the_cut_and_fit_without_a_watcher_keeps_it():
    opt = fnn.sgd(0.5)
    result = fnn.fit(NET, fnn.init(NET, key=0), opt, X, Y, epochs=40,
                     reduce_on_plateau=fnn.reduce_on_plateau(patience=0, min_delta=1.0))  # fmt: skip
    state = result.opt_state
    scale = state.plateau.scale
    assert scale < 1.0
    grads = fnn.grad(NET, result.params, X, Y)
    ours = fnn.opt_step(opt, result.params, grads, state)
    by_hand = fnn.opt_step(fnn.sgd(0.5 * scale), result.params, grads, state._replace(plateau=None))
    assert bits(ours[0]) == bits(by_hand[0]) and ours[1].plateau == state.plateau
    later = fnn.fit(NET, result.params, opt, X, Y, epochs=3, opt_state=state)
    same = fnn.fit(NET, result.params, fnn.sgd(0.5 * scale), X, Y, epochs=3,
                   opt_state=state._replace(plateau=None))  # fmt: skip
    assert bits(later.params) == bits(same.params) and later.opt_state.plateau == state.plateau


def test_no_watcher_leaves_the_state_without_one():
    result = fnn.fit(NET, fnn.init(NET), fnn.sgd(0.1), X, Y, epochs=2)
    assert result.opt_state.plateau is None


def test_a_fresh_watcher_round_trips_through_an_archive(tmp_path):
    params = fnn.init(NET)
    state = fnn.opt_init(fnn.sgd(0.1), params)._replace(plateau=fnn.Plateau())  # best = inf
    path = tmp_path / "fresh.npz"
    fnn.save(path, NET, params, opt_state=state)
    assert fnn.load_state(path).plateau == fnn.Plateau(1.0, float("inf"), 0, 0)

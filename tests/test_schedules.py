"""Warm-up and one-cycle schedules against PyTorch and optax, through fit and a hand loop."""

from __future__ import annotations

import numpy as np
import pytest

import fnn

torch = pytest.importorskip("torch")


def torch_one_cycle(total_steps, **kwargs) -> np.ndarray:
    """The rate PyTorch's OneCycleLR gives each of ``total_steps`` updates."""
    parameter = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, total_steps=total_steps, cycle_momentum=False, **kwargs
    )
    rates = []
    for _ in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(rates)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(max_lr=0.1),
        dict(max_lr=0.3, pct_start=0.1, div_factor=10.0, final_div_factor=100.0),
        dict(max_lr=0.05, anneal_strategy="linear", pct_start=0.45),
        dict(max_lr=0.2, three_phase=True, pct_start=0.2),
        dict(max_lr=0.2, three_phase=True, anneal_strategy="linear"),
    ],
)
@pytest.mark.parametrize("total_steps", [7, 100, 1001])
def test_one_cycle_is_pytorchs_one_cycle_lr(kwargs, total_steps):
    ours = dict(kwargs)
    ours["max_learning_rate"] = ours.pop("max_lr")
    if "anneal_strategy" in ours:
        ours["anneal"] = ours.pop("anneal_strategy")
    if total_steps * kwargs.get("pct_start", 0.3) <= 1:  # the ramp ends before update 1
        with pytest.raises(ValueError, match="pct_start must leave every phase"):
            fnn.one_cycle(total_steps=total_steps, **ours)
        return
    expected = torch_one_cycle(total_steps, **kwargs)
    schedule = fnn.one_cycle(total_steps=total_steps, **ours)
    np.testing.assert_allclose(schedule(np.arange(total_steps)), expected, rtol=1e-13, atol=0)
    assert [float(schedule(t)) for t in (0, total_steps - 1)] == [expected[0], expected[-1]]
    assert float(schedule(total_steps + 50)) == expected[-1]  # held at the end


def test_one_cycle_refuses_phases_without_updates():
    with pytest.raises(ValueError, match="pct_start"):
        fnn.one_cycle(0.1, total_steps=3, pct_start=0.3)  # ramp ends at step -0.1


def test_warmup_matches_optax_warmup_cosine_decay():
    optax = pytest.importorskip("optax")
    reference = optax.warmup_cosine_decay_schedule(
        init_value=0.01, peak_value=0.1, warmup_steps=20, decay_steps=120, end_value=0.0
    )
    schedule = fnn.warmup(fnn.cosine_decay(0.1, decay_steps=100), steps=20, start=0.01)
    steps = np.arange(200)
    expected = np.array([float(reference(int(t))) for t in steps])  # float32 in JAX
    np.testing.assert_allclose(schedule(steps), expected, rtol=2e-6, atol=1e-8)


@pytest.mark.parametrize(
    "schedule",
    [0.2, fnn.step_decay(0.2, drop=0.5, every=7), fnn.one_cycle(0.2, total_steps=30)],
    ids=["constant", "step", "one-cycle"],
)
def test_warmup_is_a_ramp_then_the_schedule_shifted(schedule):
    steps, start = 5, 0.02
    warm = fnn.warmup(schedule, steps, start=start)
    base = schedule if callable(schedule) else (lambda t: schedule)
    peak = float(base(0))
    for t in range(40):  # the formula, one step at a time
        expected = start + (peak - start) * t / steps if t < steps else float(base(t - steps))
        assert float(warm(t)) == pytest.approx(expected, rel=1e-15, abs=1e-18)
    np.testing.assert_array_equal(warm(np.arange(40)), [float(warm(t)) for t in range(40)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_with_warmup_and_one_cycle_equals_a_hand_loop(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    net = fnn.mlp([3, 6, 1])
    params = fnn.init(net, key=0, dtype=dtype)
    schedule = fnn.warmup(fnn.one_cycle(0.3, total_steps=40), steps=10)
    opt = fnn.momentum(schedule)
    result = fnn.fit(net, params, opt, X, y, epochs=10, batch_size=8, key=3)
    state = fnn.opt_init(opt, params)
    for epoch in range(10):
        for batch in fnn.minibatches(fnn.fold_in(3, epoch), len(X), 8):
            grads = fnn.grad(net, params, X[batch], y[batch])
            params, state = fnn.opt_step(opt, params, grads, state)
    for ours, theirs in zip(params.layers, result.params.layers):
        assert ours.W.dtype == dtype
        assert ours.W.tobytes() == theirs.W.tobytes() and ours.b.tobytes() == theirs.b.tobytes()

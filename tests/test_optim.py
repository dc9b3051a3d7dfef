"""Optimizer steps against NumPy transcriptions of the update rules, schedules, and convergence."""

import math
import pickle

import numpy as np
import pytest

import fnn


def _params(vector):
    """A Params holding a vector as W (n-1, 1) and b (1,)."""
    vector = np.asarray(vector, dtype=np.float64)
    return fnn.Params((fnn.Layer(vector[:-1].reshape(-1, 1), vector[-1:]),))


def _vector(params):
    layer = params.layers[0]
    return np.concatenate([layer.W.ravel(), layer.b])


def _reference_steps(name, opt, theta, gradients):
    """The update rules (fnn.optim's docstring), one NumPy line each."""
    theta = theta.copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(gradients, start=1):
        lr = opt.learning_rate(t - 1) if callable(opt.learning_rate) else opt.learning_rate
        if name == "sgd":
            theta = theta - lr * g
        elif name == "momentum":
            m = opt.beta * m + (1 - opt.beta) * g
            theta = theta - lr * m
        elif name == "rmsprop":
            v = opt.beta * v + (1 - opt.beta) * g**2
            theta = theta - lr * g / (np.sqrt(v) + opt.eps)
        else:
            m = opt.b1 * m + (1 - opt.b1) * g
            v = opt.b2 * v + (1 - opt.b2) * g**2
            m_hat, v_hat = m / (1 - opt.b1**t), v / (1 - opt.b2**t)
            decay = lr * opt.weight_decay * theta if name == "adamw" else 0.0
            theta = theta - decay - lr * m_hat / (np.sqrt(v_hat) + opt.eps)
    return theta


OPTIMIZERS = {
    "sgd": fnn.sgd(0.1),
    "momentum": fnn.momentum(0.1, beta=0.8),
    "rmsprop": fnn.rmsprop(0.01, beta=0.7, eps=1e-6),
    "adam": fnn.adam(0.01, b1=0.8, b2=0.95, eps=1e-6),
    "adamw": fnn.adamw(0.01, b1=0.8, b2=0.95, eps=1e-6, weight_decay=0.1),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("scheduled", [False, True])
def test_steps_match_the_formulas(name, scheduled, rng):
    opt = OPTIMIZERS[name]
    if scheduled:
        opt = opt._replace(learning_rate=fnn.exponential_decay(opt.learning_rate, 0.5, 2))
    theta = rng.normal(size=5)
    gradients = [rng.normal(size=5) for _ in range(6)]
    params = _params(theta)
    state = fnn.opt_init(opt, params)
    for g in gradients:
        params, state = fnn.opt_step(opt, params, _params(g), state)
    assert state.step == 6 and state.optimizer == name
    np.testing.assert_allclose(_vector(params), _reference_steps(name, opt, theta, gradients),
                               rtol=1e-12, atol=1e-15)  # fmt: skip


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_opt_step_is_pure(name, rng):
    opt = OPTIMIZERS[name]
    params, grads = _params(rng.normal(size=3)), _params(rng.normal(size=3))
    state = fnn.opt_init(opt, params)
    new_params, new_state = fnn.opt_step(opt, params, grads, state)
    new_params, new_state = fnn.opt_step(opt, new_params, grads, new_state)
    assert state.step == 0 and all(
        not layer.W.any() for slot in state.slots for layer in slot.layers
    )
    for tree in (new_params, *new_state.slots):
        assert not tree.layers[0].W.flags.writeable


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["momentum", "rmsprop", "adam", "adamw"])
def test_moments_below_the_smallest_normal_number_become_zero(name, dtype):
    """A parameter whose gradient stays 0 (a dead unit's): its moments decay from just above
    the dtype's smallest normal number to exactly 0, never through the (slow) subnormal
    numbers, and every parameter moves as the formulas say."""
    opt = OPTIMIZERS[name]._replace(learning_rate=1e-30)  # the parameters barely move
    tiny = np.finfo(dtype).tiny
    params = fnn.Params((fnn.Layer(np.array([[0.5], [-2.0]], dtype), np.array([1.0], dtype)),))
    zero = fnn.Params((fnn.Layer(np.zeros((2, 1), dtype), np.zeros(1, dtype)),))
    state = fnn.opt_init(opt, params)
    start = fnn.Params((fnn.Layer(np.full((2, 1), 4 * tiny, dtype), np.full(1, 4 * tiny, dtype)),))
    state = state._replace(slots=tuple(start for _ in state.slots))  # moments: >= 0 for v, s
    seen = []
    for _ in range(200):
        params, state = fnn.opt_step(opt, params, zero, state)
        seen += [layer.W.ravel()[0] for slot in state.slots for layer in slot.layers]
        seen += [layer.b[0] for slot in state.slots for layer in slot.layers]
    seen = np.array(seen, dtype)
    assert not np.any((seen != 0) & (np.abs(seen) < tiny))  # never subnormal
    assert all(not layer.W.any() and not layer.b.any() for slot in state.slots
               for layer in slot.layers)  # fmt: skip
    expected = 1.0 - 200 * 1e-30 * 0.1 if name == "adamw" else 1.0  # adamw's decay: below a bit
    assert params.layers[0].b[0] == dtype(expected) and params.layers[0].W[1, 0] == -2.0


def _quadratic_gradient(x):
    return np.array([2 * (x[0] - 3), 20 * (x[1] + 1)])  # minimum at (3, -1)


def _rosenbrock_gradient(x):
    return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])


CONVERGENCE = [
    # optimizer, gradient, start, optimum, steps
    (fnn.sgd(0.04), _quadratic_gradient, (0.0, 0.0), (3, -1), 500),
    (fnn.momentum(0.04, 0.9), _quadratic_gradient, (0.0, 0.0), (3, -1), 500),
    (fnn.rmsprop(fnn.exponential_decay(0.05, 0.1, 500)), _quadratic_gradient, (0.0, 0.0), (3, -1), 2000),
    (fnn.adam(0.1), _quadratic_gradient, (0.0, 0.0), (3, -1), 1000),
    (fnn.adamw(0.1, weight_decay=0.0), _quadratic_gradient, (0.0, 0.0), (3, -1), 1000),
    (fnn.sgd(0.001), _rosenbrock_gradient, (-1.0, 1.0), (1, 1), 40000),
    (fnn.momentum(0.002, 0.9), _rosenbrock_gradient, (-1.0, 1.0), (1, 1), 20000),
    (fnn.rmsprop(fnn.exponential_decay(0.01, 0.1, 5000)), _rosenbrock_gradient, (-1.0, 1.0), (1, 1), 20000),
    (fnn.adam(0.02), _rosenbrock_gradient, (-1.0, 1.0), (1, 1), 10000),
]  # fmt: skip


@pytest.mark.parametrize("opt,gradient,start,optimum,steps", CONVERGENCE)
def test_optimizers_converge(opt, gradient, start, optimum, steps):
    params = _params(start)
    state = fnn.opt_init(opt, params)
    for _ in range(steps):
        params, state = fnn.opt_step(opt, params, _params(gradient(_vector(params))), state)
    np.testing.assert_allclose(_vector(params), optimum, atol=2e-2)


SCHEDULES = [
    (fnn.step_decay(0.5, drop=0.1, every=3), lambda t: 0.5 * 0.9 ** (t // 3)),
    (fnn.inverse_time_decay(0.5, rate=2.0, decay_steps=4), lambda t: 0.5 / (1 + 2.0 * (t // 4))),
    (fnn.exponential_decay(0.5, rate=0.3, decay_steps=5), lambda t: 0.5 * 0.3 ** (t / 5)),
    (fnn.exponential_decay(0.5, 0.3, 5, staircase=True), lambda t: 0.5 * 0.3 ** (t // 5)),
    (fnn.cosine_decay(0.5, decay_steps=10, alpha=0.1),
     lambda t: 0.5 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 10) / 10)) + 0.1)),
]  # fmt: skip


@pytest.mark.parametrize("schedule,closed_form", SCHEDULES)
def test_schedules_match_closed_forms(schedule, closed_form):
    for t in range(25):
        assert schedule(t) == pytest.approx(closed_form(t), rel=1e-14)
    np.testing.assert_allclose(
        schedule(np.arange(25)), [closed_form(t) for t in range(25)], rtol=1e-14
    )
    assert schedule(0) == pytest.approx(0.5)  # the first update uses the initial rate
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    assert repr(schedule).startswith(type(schedule).__name__ + "(learning_rate=0.5")


def test_a_schedule_may_decay_to_zero():
    # cosine_decay with alpha=0 reaches 0 at decay_steps and stays there (as optax's does).
    opt = fnn.sgd(fnn.cosine_decay(0.1, decay_steps=3))
    params, grads = _params([1.0, 2.0]), _params([1.0, 1.0])
    state = fnn.opt_init(opt, params)
    for _ in range(6):
        params, state = fnn.opt_step(opt, params, grads, state)
    np.testing.assert_allclose(_vector(params), np.array([1.0, 2.0]) - 0.1 * (1 + 0.75 + 0.25))


def test_a_plain_function_works_as_a_schedule(rng):
    opt = fnn.sgd(lambda step: 0.1 / (step + 1))
    params, grads = _params([1.0, 2.0]), _params([1.0, 1.0])
    state = fnn.opt_init(opt, params)
    for _ in range(3):
        params, state = fnn.opt_step(opt, params, grads, state)
    np.testing.assert_allclose(_vector(params), np.array([1.0, 2.0]) - (0.1 + 0.05 + 0.1 / 3))


def test_optimizer_configs_print_readably():
    assert repr(fnn.adam()) == (
        "Adam(learning_rate=0.001, b1=0.9, b2=0.999, eps=1e-08, clip_norm=None)"
    )
    assert fnn.OPTIMIZERS.keys() == {"sgd", "momentum", "rmsprop", "adam", "adamw"}

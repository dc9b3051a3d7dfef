"""Optimizers and learning-rate schedules: configs, opt_init, opt_step.

An optimizer is a NamedTuple of hyperparameters; its state is an :class:`fnn.OptState`
holding the step count ``t`` (updates already applied) and Params-shaped moments. The update
rules (``g`` the gradient, ``lr`` the learning rate of the update, ``t = 1, 2, ...``):

* sgd: ``p <- p - lr g``
* momentum: ``v <- beta v + (1 - beta) g;  p <- p - lr v``
* rmsprop: ``s <- beta s + (1 - beta) g**2;  p <- p - lr g / (sqrt(s) + eps)``
  (PyTorch ``RMSprop(alpha=beta)``)
* adam: ``m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g**2;
  p <- p - lr m_hat / (sqrt(v_hat) + eps)``, ``m_hat = m / (1 - b1**t)``,
  ``v_hat = v / (1 - b2**t)`` (Kingma & Ba Algorithm 1, PyTorch ``Adam``, ``optax.adam``).
  Seed 004 puts eps inside the root, ``sqrt(v_hat + eps)``; fnn follows the paper.
* adamw: adam plus decoupled decay ``p <- p - lr weight_decay p`` (PyTorch ``AdamW``).

``learning_rate`` is a float or a schedule: a callable of the number of updates already
applied (0 for the first update), as in optax.

Gradient clipping: every config takes ``clip_norm`` (None: no clipping). Before each update
the gradient ``g`` (every W and b, with l2's term ``(l2/m) W`` when ``l2`` is on) is scaled
by ``min(1, clip_norm / (||g|| + 1e-6))``, ``||g||`` its global L2 norm over all parameters:
``torch.nn.utils.clip_grad_norm_``'s formula, eps included (``optax.clip_by_global_norm``
has no eps: it scales by ``clip_norm / ||g||`` when ``||g|| > clip_norm``). The clipped
gradient feeds the moments; adamw's decoupled decay is not clipped (as in PyTorch, where an
optimizer's ``weight_decay`` is also added after clipping).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fnn import checks, engine
from fnn.flat import pack, pack_slots, unpack, unpack_slots
from fnn.registry import MAX_HYPERPARAMETERS, OPTIMIZER_OF_CONFIG, OPTIMIZERS
from fnn.types import (
    SGD,
    Adam,
    AdamW,
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    Momentum,
    Net,
    OneCycle,
    OptState,
    Params,
    RMSProp,
    StepDecay,
    Warmup,
)

LearningRate = float | Callable[[int], float]

#: Schedule types; each is a NamedTuple callable on ints and on arrays of steps.
SCHEDULES = (StepDecay, InverseTimeDecay, ExponentialDecay, CosineDecay, Warmup, OneCycle)


# -- constructors --------------------------------------------------------------------------


def _learning_rate(value) -> LearningRate:
    if isinstance(value, SCHEDULES):
        _SCHEDULE_CONSTRUCTORS[type(value)](*value)  # fields in range, even if built by hand
        return value
    if callable(value):
        return value
    return checks.real("learning_rate", value, low=0.0, open_low=True)


def _config(config: type, learning_rate, *values, clip_norm=None):
    """The one validator of an optimizer config: ``config(learning_rate, *values, clip_norm)``
    with every hyperparameter in the range its registry entry gives."""
    hyperparameters = OPTIMIZERS[OPTIMIZER_OF_CONFIG[config]].hyperparameters
    checked = [
        checks.real(name, value, low=bounds.low, high=bounds.high, open_high=bounds.open_high)
        for (name, bounds), value in zip(hyperparameters.items(), values)
    ]
    if clip_norm is not None:
        clip_norm = checks.real("clip_norm", clip_norm, low=0.0, open_low=True)
    return config(_learning_rate(learning_rate), *checked, clip_norm)


def sgd(learning_rate: LearningRate, clip_norm: float | None = None) -> SGD:
    """Plain gradient descent ``p <- p - lr g``.

    Parameters
    ----------
    learning_rate : float > 0 or callable
        A constant, or a schedule: a function of the number of updates already applied
        (0 for the first) returning the rate, e.g. :func:`step_decay`.
    clip_norm : float > 0 or None
        Scale each gradient down to this global L2 norm before the update (see the module
        docstring); None: no clipping.

    Returns
    -------
    SGD
        A config for :func:`opt_init`, :func:`opt_step` and ``fit``; no state slots.
    """
    return _config(SGD, learning_rate, clip_norm=clip_norm)


def momentum(
    learning_rate: LearningRate, beta: float = 0.9, clip_norm: float | None = None
) -> Momentum:
    """Momentum: ``v <- beta v + (1 - beta) g;  p <- p - lr v``; v starts at 0.

    This is the exponential-average form. PyTorch's ``SGD(lr, momentum=beta)`` accumulates
    ``v <- beta v + g`` instead and takes the same steps as ``momentum(lr / (1 - beta), beta)``.

    Parameters
    ----------
    learning_rate : float > 0 or callable
        A constant, or a schedule: a function of the number of updates already applied
        (0 for the first) returning the rate, e.g. :func:`step_decay`.
    beta : float in [0, 1)
        Decay of the velocity ``v``.
    clip_norm : float > 0 or None
        Scale each gradient down to this global L2 norm before the update (see the module
        docstring); None: no clipping.

    Returns
    -------
    Momentum
        A config; its state holds one slot, ``v``.
    """
    return _config(Momentum, learning_rate, beta, clip_norm=clip_norm)


def rmsprop(
    learning_rate: LearningRate,
    beta: float = 0.9,
    eps: float = 1e-8,
    clip_norm: float | None = None,
) -> RMSProp:
    """RMSProp: ``s <- beta s + (1 - beta) g**2;  p <- p - lr g / (sqrt(s) + eps)``.

    The same as PyTorch ``RMSprop(alpha=beta, eps=eps)``; s starts at 0.

    Parameters
    ----------
    learning_rate : float > 0 or callable
        A constant, or a schedule: a function of the number of updates already applied
        (0 for the first) returning the rate, e.g. :func:`step_decay`.
    beta : float in [0, 1)
        Decay of the mean square ``s``.
    eps : float >= 0
        Added to ``sqrt(s)``.
    clip_norm : float > 0 or None
        Scale each gradient down to this global L2 norm before the update (see the module
        docstring); None: no clipping.

    Returns
    -------
    RMSProp
        A config; its state holds one slot, ``s``.
    """
    return _config(RMSProp, learning_rate, beta, eps, clip_norm=clip_norm)


def adam(
    learning_rate: LearningRate = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    clip_norm: float | None = None,
) -> Adam:
    """Adam with bias correction; eps outside the root (as PyTorch and optax).

    ``m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g**2;
    p <- p - lr (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)`` with ``t = 1, 2, ...``
    (Kingma & Ba, Algorithm 1; PyTorch ``Adam``, ``optax.adam``). Seed 004 writes
    ``sqrt(v_hat + eps)`` instead.

    Parameters
    ----------
    learning_rate : float > 0 or callable
        A constant, or a schedule: a function of the number of updates already applied
        (0 for the first) returning the rate, e.g. :func:`step_decay`.
    b1, b2 : float in [0, 1)
        Decay of the first moment ``m`` and of the second moment ``v``.
    eps : float >= 0
        Added to ``sqrt(v_hat)``.
    clip_norm : float > 0 or None
        Scale each gradient down to this global L2 norm before the update (see the module
        docstring); None: no clipping.

    Returns
    -------
    Adam
        A config; its state holds two slots, ``(m, v)``.

    Examples
    --------
    >>> import fnn
    >>> fnn.adam(0.0007)
    Adam(learning_rate=0.0007, b1=0.9, b2=0.999, eps=1e-08, clip_norm=None)
    """
    return _config(Adam, learning_rate, b1, b2, eps, clip_norm=clip_norm)


def adamw(
    learning_rate: LearningRate = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    clip_norm: float | None = None,
) -> AdamW:
    """Adam plus decoupled weight decay ``p <- p - lr weight_decay p`` (PyTorch ``AdamW``).

    Unlike ``fit(..., l2=...)``, the decay does not pass through the moments, and it applies
    to the biases too (as in PyTorch).

    Parameters
    ----------
    learning_rate, b1, b2, eps, clip_norm
        As in :func:`adam`.
    weight_decay : float >= 0
        ``lambda`` of the decay.

    Returns
    -------
    AdamW
        A config; its state holds two slots, ``(m, v)``.
    """
    return _config(AdamW, learning_rate, b1, b2, eps, weight_decay, clip_norm=clip_norm)


def step_decay(learning_rate: float, drop: float, every: int) -> StepDecay:
    """``lr(t) = learning_rate * (1 - drop) ** floor(t / every)`` (step decay).

    Seed 000 cuts the rate after update ``every`` has run, so its first cut lands one update
    later than this formula's (fnn counts updates from 0, as optax does).

    Parameters
    ----------
    learning_rate : float > 0
        The rate of the first ``every`` updates.
    drop : float in [0, 1)
        Fraction cut off every ``every`` updates (e.g. 0.1).
    every : int >= 1

    Returns
    -------
    StepDecay
        A callable of the update count ``t`` (an int or an array of them), for any
        optimizer's ``learning_rate``.

    Examples
    --------
    >>> import fnn
    >>> schedule = fnn.step_decay(0.1, drop=0.5, every=10)
    >>> [float(schedule(t)) for t in (0, 9, 10, 25)]
    [0.1, 0.1, 0.05, 0.025]
    """
    return StepDecay(
        checks.real("learning_rate", learning_rate, low=0.0, open_low=True),
        checks.real("drop", drop, low=0.0, high=1.0, open_high=True),
        checks.integer("every", every, 1, checks.MAX_STEPS),
    )


def inverse_time_decay(learning_rate: float, rate: float, decay_steps: int) -> InverseTimeDecay:
    """``lr(t) = learning_rate / (1 + rate * floor(t / decay_steps))``.

    Parameters
    ----------
    learning_rate : float > 0
    rate : float >= 0
    decay_steps : int >= 1
        Updates per decay step; batches per epoch gives a per-epoch decay.

    Returns
    -------
    InverseTimeDecay
        A callable of the update count ``t``.

    Examples
    --------
    >>> import fnn
    >>> schedule = fnn.inverse_time_decay(0.1, rate=1.0, decay_steps=5)
    >>> [float(schedule(t)) for t in (0, 5, 10)]
    [0.1, 0.05, 0.03333333333333333]
    """
    return InverseTimeDecay(
        checks.real("learning_rate", learning_rate, low=0.0, open_low=True),
        checks.real("rate", rate, low=0.0),
        checks.integer("decay_steps", decay_steps, 1, checks.MAX_STEPS),
    )


def exponential_decay(
    learning_rate: float, rate: float, decay_steps: int, staircase: bool = False
) -> ExponentialDecay:
    """``lr(t) = learning_rate * rate ** (t / decay_steps)`` (floored exponent if staircase).

    Parameters
    ----------
    learning_rate : float > 0
    rate : float > 0
        Factor per ``decay_steps`` updates (e.g. 0.95 per epoch).
    decay_steps : int >= 1
    staircase : bool
        Use ``floor(t / decay_steps)``: a constant rate within each stretch.

    Returns
    -------
    ExponentialDecay
        A callable of the update count ``t``.

    Examples
    --------
    >>> import fnn
    >>> schedule = fnn.exponential_decay(0.1, rate=0.5, decay_steps=10)
    >>> [round(float(schedule(t)), 6) for t in (0, 5, 10)]
    [0.1, 0.070711, 0.05]
    """
    return ExponentialDecay(
        checks.real("learning_rate", learning_rate, low=0.0, open_low=True),
        checks.real("rate", rate, low=0.0, open_low=True),
        checks.integer("decay_steps", decay_steps, 1, checks.MAX_STEPS),
        checks.flag("staircase", staircase),
    )


def cosine_decay(learning_rate: float, decay_steps: int, alpha: float = 0.0) -> CosineDecay:
    """``lr(t) = learning_rate * ((1 - alpha) (1 + cos(pi min(t, T) / T)) / 2 + alpha)``.

    ``T = decay_steps``; after ``T`` updates the rate stays at ``alpha * learning_rate``
    (``optax.cosine_decay_schedule``).

    Parameters
    ----------
    learning_rate : float > 0
    decay_steps : int >= 1
    alpha : float in [0, 1]
        Final rate as a fraction of ``learning_rate``.

    Returns
    -------
    CosineDecay
        A callable of the update count ``t``.

    Examples
    --------
    >>> import fnn
    >>> schedule = fnn.cosine_decay(0.1, decay_steps=100)
    >>> [round(float(schedule(t)), 6) for t in (0, 50, 100, 200)]
    [0.1, 0.05, 0.0, 0.0]
    """
    return CosineDecay(
        checks.real("learning_rate", learning_rate, low=0.0, open_low=True),
        checks.integer("decay_steps", decay_steps, 1, checks.MAX_STEPS),
        checks.real("alpha", alpha, low=0.0, high=1.0),
    )


def warmup(schedule, steps: int, start: float = 0.0) -> Warmup:
    """Linear warm-up in front of any schedule (or constant rate).

    ``lr(t) = start + (peak - start) t / steps`` for ``t < steps``, where ``peak =
    schedule(0)``; then ``lr(t) = schedule(t - steps)``: the schedule starts when the warm-up
    ends, as with optax's ``join_schedules`` (``optax.warmup_cosine_decay_schedule`` is
    ``warmup(cosine_decay(peak, decay_steps - steps), steps)``).

    Parameters
    ----------
    schedule : float > 0 or an fnn schedule
        What follows the warm-up: a constant rate, :func:`cosine_decay`, :func:`step_decay`...
    steps : int >= 1
        Updates of the ramp.
    start : float >= 0
        Rate of the first update (0: the first update changes nothing, as in optax).

    Returns
    -------
    Warmup
        A callable of the update count ``t``, for any optimizer's ``learning_rate``.

    Examples
    --------
    >>> import fnn
    >>> schedule = fnn.warmup(fnn.cosine_decay(0.1, decay_steps=10), steps=4)
    >>> [round(float(schedule(t)), 4) for t in (0, 2, 4, 9, 14)]
    [0.0, 0.05, 0.1, 0.05, 0.0]
    """
    if isinstance(schedule, SCHEDULES):
        _SCHEDULE_CONSTRUCTORS[type(schedule)](*schedule)
    elif callable(schedule):
        raise TypeError(
            "schedule must be a float or an fnn schedule (fnn.cosine_decay, ...), got "
            f"{checks.describe(schedule)}; a plain function cannot be evaluated on arrays of steps"
        )
    else:
        schedule = checks.real("schedule", schedule, low=0.0, open_low=True)
    return Warmup(
        schedule,
        checks.integer("steps", steps, 1, checks.MAX_STEPS),
        checks.real("start", start, low=0.0),
    )


def one_cycle(
    max_learning_rate: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> OneCycle:
    """The one-cycle learning rate of PyTorch's ``OneCycleLR``, value for value.

    With ``initial = max_learning_rate / div_factor`` and ``low = initial /
    final_div_factor``: the rate anneals from ``initial`` up to ``max_learning_rate`` until
    update ``pct_start * total_steps - 1``, then down to ``low`` at update ``total_steps - 1``
    (``three_phase``: back down to ``initial`` by ``2 pct_start total_steps - 2``, then to
    ``low``). ``anneal="cos"`` interpolates ``end + (start - end) (1 + cos(pi pct)) / 2``,
    ``"linear"`` linearly. Only the rate cycles (PyTorch also cycles momentum by default);
    after ``total_steps`` updates it stays at ``low`` (PyTorch raises).

    Parameters
    ----------
    max_learning_rate : float > 0
    total_steps : int >= 2
        Updates of the cycle: ``epochs * batches_per_epoch`` for a whole ``fit``.
    pct_start : float in (0, 1)
        Fraction of the updates spent going up; each phase must last at least one update.
    anneal : {"cos", "linear"}
    div_factor, final_div_factor : float > 0
    three_phase : bool

    Returns
    -------
    OneCycle
        A callable of the update count ``t``.

    Examples
    --------
    >>> import fnn
    >>> schedule = fnn.one_cycle(0.1, total_steps=10, pct_start=0.5)
    >>> [round(float(schedule(t)), 5) for t in (0, 4, 9)]
    [0.004, 0.1, 0.0]
    """
    cycle = OneCycle(
        checks.real("max_learning_rate", max_learning_rate, low=0.0, open_low=True),
        checks.integer("total_steps", total_steps, 2, checks.MAX_STEPS),
        checks.real("pct_start", pct_start, low=0.0, high=1.0, open_low=True, open_high=True),
        checks.one_of("anneal", anneal, ("cos", "linear")),
        checks.real("div_factor", div_factor, low=0.0, open_low=True),
        checks.real("final_div_factor", final_div_factor, low=0.0, open_low=True),
        checks.flag("three_phase", three_phase),
    )
    begin = 0.0
    for end, *_ in cycle.phases():
        if not end > begin:
            raise ValueError(
                f"pct_start must leave every phase at least one update; pct_start={pct_start} "
                f"with total_steps={total_steps} gives a phase from step {begin} to {end}"
            )
        begin = end
    return cycle


_SCHEDULE_CONSTRUCTORS = {
    StepDecay: step_decay,
    InverseTimeDecay: inverse_time_decay,
    ExponentialDecay: exponential_decay,
    CosineDecay: cosine_decay,
    Warmup: warmup,
    OneCycle: one_cycle,
}


# -- using an optimizer ---------------------------------------------------------------------


def optimizer_name(opt) -> str:
    """Registry name of an optimizer config; TypeError for anything else."""
    name = OPTIMIZER_OF_CONFIG.get(type(opt))
    if name is None:
        raise TypeError(
            f"opt must be an optimizer config from one of fnn.{', fnn.'.join(OPTIMIZERS)}, "
            f"got {checks.describe(opt)}"
        )
    # a hand-built config gets the constructor's range checks
    _config(type(opt), *opt[:-1], clip_norm=opt.clip_norm)
    return name


def hyperparameters(opt) -> np.ndarray:
    """The config's hyperparameters as the kernels read them: its fields between the learning
    rate and ``clip_norm``, zero-padded, then ``clip_norm`` (0.0 for None) last."""
    fields = np.zeros(MAX_HYPERPARAMETERS + 1)
    fields[: len(opt) - 2] = opt[1:-1]
    fields[-1] = 0.0 if opt.clip_norm is None else opt.clip_norm
    return fields


def learning_rates(opt, first_step: int, count: int, scale: float = 1.0) -> np.ndarray:
    """Learning rates of updates ``first_step .. first_step + count - 1`` (float64 array),
    times ``scale`` (a reduce-on-plateau watcher's, see :class:`fnn.types.Plateau`)."""
    rates = _scheduled_rates(opt, first_step, count)
    return rates if scale == 1.0 else rates * scale


def _scheduled_rates(opt, first_step: int, count: int) -> np.ndarray:
    rate = opt.learning_rate
    if not callable(rate):
        return np.full(count, float(rate))
    steps = np.arange(first_step, first_step + count)
    if isinstance(rate, SCHEDULES):
        rates = np.asarray(rate(steps), dtype=np.float64).reshape(count)
    else:
        values = [checks.real(f"learning_rate({step})", rate(int(step))) for step in steps]
        rates = np.array(values, dtype=np.float64).reshape(count)
    # A schedule may decay to 0 (cosine_decay with alpha=0 ends there, as in optax).
    if count and not (np.isfinite(rates).all() and (rates >= 0).all()):
        bad = rates[~(np.isfinite(rates) & (rates >= 0))][0]
        raise ValueError(f"learning_rate schedule must return finite values >= 0, got {bad}")
    return rates


def opt_init(opt, params: Params) -> OptState:
    """Initial state of ``opt`` for ``params``: step 0 and zero moments.

    Parameters
    ----------
    opt : SGD, Momentum, RMSProp, Adam or AdamW
        A config from :func:`sgd`, :func:`adam`, ...
    params : Params
        Only shapes and dtype are read.

    Returns
    -------
    OptState
        ``optimizer`` (the registry name), ``step = 0`` and ``slots``: one zero Params per
        running statistic of the optimizer (none for sgd, ``v`` for momentum, ``s`` for
        rmsprop, ``(m, v)`` for adam and adamw), in the dtype of ``params``.

    Examples
    --------
    >>> import fnn
    >>> net = fnn.mlp([2, 3, 1])
    >>> state = fnn.opt_init(fnn.adam(), fnn.init(net))
    >>> state.optimizer, state.step, len(state.slots)
    ('adam', 0, 2)
    """
    name = optimizer_name(opt)
    sizes = checks.sizes_of(params)
    dtype = checks.params_of(sizes, params)  # native byte order
    n_params = sum(layer.W.size + layer.b.size for layer in params.layers)
    slots = np.zeros((OPTIMIZERS[name].n_slots, n_params), dtype)
    return OptState(name, 0, unpack_slots(slots, sizes))


def opt_step(opt, params: Params, grads: Params, state: OptState) -> tuple[Params, OptState]:
    """Apply one update; return new ``(params, state)`` and leave the arguments untouched.

    The update rule of each optimizer is in the module docstring; ``t = state.step + 1`` and
    the learning rate is ``opt.learning_rate`` or, for a schedule, ``schedule(state.step)``,
    times ``state.plateau.scale`` when ``fit(..., reduce_on_plateau=...)`` cut the rate.

    Parameters
    ----------
    opt : SGD, Momentum, RMSProp, Adam or AdamW
    params : Params
    grads : Params
        Same shapes and dtype as ``params``, e.g. from :func:`fnn.grad`.
    state : OptState
        From :func:`opt_init` or the previous ``opt_step``, for the same optimizer.

    Returns
    -------
    params : Params
        The updated parameters (new read-only arrays).
    state : OptState
        ``step`` one higher and the updated slots.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 1])
    >>> params = fnn.init(net, key=0)
    >>> opt = fnn.sgd(0.1)
    >>> g = fnn.grad(net, params, np.ones((2, 2)), [0, 1])
    >>> new_params, state = fnn.opt_step(opt, params, g, fnn.opt_init(opt, params))
    >>> state.step
    1
    """
    name = optimizer_name(opt)
    sizes = checks.sizes_of(params)
    dtype = checks.params_of(sizes, params)  # native byte order
    checks.params_of(sizes, grads, "grads", dtype)
    entry = OPTIMIZERS[name]
    state = checks.opt_state_of("state", state, name, entry.n_slots, sizes, dtype)
    theta = pack(params, dtype)
    shape = Net(sizes, ("identity",) * (len(sizes) - 1), "mse")  # an update reads sizes only
    scale = 1.0 if state.plateau is None else state.plateau.scale  # cut by fit's watcher
    run = engine.run(
        shape, theta, grads=pack(grads, dtype), slots=pack_slots(state.slots, theta.size, dtype),
        opt_code=entry.code, hyper=hyperparameters(opt), step=state.step,
        lrs=learning_rates(opt, state.step, 1, scale), purpose="opt_step",
    )  # fmt: skip
    slots = unpack_slots(run.slots, sizes)
    return unpack(run.theta, sizes), OptState(name, state.step + 1, slots, state.plateau)

"""Learning-rate schedules: callables of the update count, their checked constructors, and
the rates of a run of updates.

A schedule is a NamedTuple whose ``__call__`` maps the number of updates already applied
(``t = 0`` for the first update, as in optax) to a learning rate; it takes an int or an array
of them. Any optimizer's ``learning_rate`` takes a schedule, a constant or a plain function
of ``t``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from fnn import checks

LearningRate = float | Callable[[int], float]


class StepDecay(NamedTuple):
    """``lr(t) = learning_rate * (1 - drop) ** floor(t / every)``."""

    learning_rate: float
    drop: float
    every: int

    def __call__(self, step):
        return self.learning_rate * (1.0 - self.drop) ** np.floor_divide(step, self.every)


class InverseTimeDecay(NamedTuple):
    """``lr(t) = learning_rate / (1 + rate * floor(t / decay_steps))``."""

    learning_rate: float
    rate: float
    decay_steps: int

    def __call__(self, step):
        return self.learning_rate / (1.0 + self.rate * np.floor_divide(step, self.decay_steps))


class ExponentialDecay(NamedTuple):
    """``lr(t) = learning_rate * rate ** (t / decay_steps)``, exponent floored if ``staircase``."""

    learning_rate: float
    rate: float
    decay_steps: int
    staircase: bool = False

    def __call__(self, step):
        exponent = np.asarray(step, dtype=np.float64) / self.decay_steps
        if self.staircase:
            exponent = np.floor(exponent)
        return self.learning_rate * self.rate**exponent


class CosineDecay(NamedTuple):
    """``lr(t) = learning_rate * ((1 - alpha) (1 + cos(pi min(t, T) / T)) / 2 + alpha)`` (optax)."""

    learning_rate: float
    decay_steps: int
    alpha: float = 0.0

    def __call__(self, step):
        progress = np.minimum(step, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1.0 + np.cos(np.pi * progress))
        return self.learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)


class Warmup(NamedTuple):
    """``lr(t) = start + (peak - start) t / steps`` for ``t < steps``, then ``schedule(t - steps)``.

    ``peak = schedule(0)`` (or the constant ``schedule``), so the ramp ends where the schedule
    starts, and the schedule runs unchanged after the warm-up (optax's ``join_schedules``).
    """

    schedule: Any
    steps: int
    start: float = 0.0

    def __call__(self, step):
        step = np.asarray(step)
        base = self.schedule
        peak = float(base(0)) if callable(base) else float(base)
        ramp = self.start + (peak - self.start) * (step / self.steps)
        after = np.maximum(step - self.steps, 0)
        decayed = base(after) if callable(base) else np.full(np.shape(step), peak)
        return np.where(step < self.steps, ramp, decayed)


class OneCycle(NamedTuple):
    """The one-cycle policy of PyTorch's ``OneCycleLR`` (Smith & Topin): up from
    ``max_learning_rate / div_factor`` to ``max_learning_rate`` over ``pct_start`` of
    ``total_steps``, then down to ``initial / final_div_factor``; held there after
    ``total_steps``."""

    max_learning_rate: float
    total_steps: int
    pct_start: float = 0.3
    anneal: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def phases(self) -> tuple[tuple[float, float, float], ...]:
        """``(end_step, start_lr, end_lr)`` of each phase, as PyTorch computes them."""
        initial = self.max_learning_rate / self.div_factor
        low = initial / self.final_div_factor
        top = self.max_learning_rate
        up = float(self.pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        if self.three_phase:
            down = float(2 * self.pct_start * self.total_steps) - 2
            return ((up, initial, top), (down, top, initial), (last, initial, low))
        return ((up, initial, top), (last, top, low))

    def __call__(self, step):
        step = np.minimum(np.asarray(step, dtype=np.float64), self.total_steps - 1)
        rates = np.zeros(np.shape(step))
        done = np.zeros(np.shape(step), bool)
        begin = 0.0
        phases = self.phases()
        for index, (end, first, final) in enumerate(phases):
            here = ~done & ((step <= end) | (index == len(phases) - 1))
            pct = (step - begin) / (end - begin)
            if self.anneal == "cos":
                value = final + (first - final) / 2.0 * (np.cos(np.pi * pct) + 1)
            else:
                value = (final - first) * pct + first
            rates = np.where(here, value, rates)
            done |= here
            begin = end
        return rates


#: Schedule types; each is a NamedTuple callable on ints and on arrays of steps.
SCHEDULES = (StepDecay, InverseTimeDecay, ExponentialDecay, CosineDecay, Warmup, OneCycle)


# -- constructors --------------------------------------------------------------------------


def step_decay(learning_rate: float, drop: float, every: int) -> StepDecay:
    """``lr(t) = learning_rate * (1 - drop) ** floor(t / every)`` (step decay).

    Code that cuts the rate after update ``every`` has run makes its first cut one update
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
        _rechecked(schedule)
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


_CONSTRUCTORS = {
    StepDecay: step_decay,
    InverseTimeDecay: inverse_time_decay,
    ExponentialDecay: exponential_decay,
    CosineDecay: cosine_decay,
    Warmup: warmup,
    OneCycle: one_cycle,
}


def _rechecked(schedule):
    """A schedule, perhaps built by hand, with its fields checked by its constructor."""
    return _CONSTRUCTORS[type(schedule)](*schedule)


# -- using a schedule ----------------------------------------------------------------------


def checked(learning_rate) -> LearningRate:
    """An optimizer's ``learning_rate`` checked: a float > 0, an fnn schedule whose fields are
    in range (even if built by hand), or any other callable (checked when called)."""
    if isinstance(learning_rate, SCHEDULES):
        _rechecked(learning_rate)
        return learning_rate
    if callable(learning_rate):
        return learning_rate
    return checks.real("learning_rate", learning_rate, low=0.0, open_low=True)


def rates(learning_rate: LearningRate, first_step: int, count: int) -> np.ndarray:
    """Learning rates of updates ``first_step .. first_step + count - 1`` (float64 array):
    ``count`` copies of a constant, or the schedule at each step; ValueError when a value
    is not finite or is negative."""
    if not callable(learning_rate):
        return np.full(count, float(learning_rate))
    steps = np.arange(first_step, first_step + count)
    if isinstance(learning_rate, SCHEDULES):
        values = np.asarray(learning_rate(steps), dtype=np.float64).reshape(count)
    else:
        by_step = [checks.real(f"learning_rate({t})", learning_rate(int(t))) for t in steps]
        values = np.array(by_step, dtype=np.float64).reshape(count)
    # A schedule may decay to 0 (cosine_decay with alpha=0 ends there, as in optax).
    if count and not (np.isfinite(values).all() and (values >= 0).all()):
        bad = values[~(np.isfinite(values) & (values >= 0))][0]
        raise ValueError(f"learning_rate schedule must return finite values >= 0, got {bad}")
    return values

"""Optimizers: configs, opt_init, opt_step.

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
  Some write eps inside the root, ``sqrt(v_hat + eps)``; fnn follows the paper.
* adamw: adam plus decoupled decay ``p <- p - lr weight_decay p`` (PyTorch ``AdamW``).

A moment (``v``, ``s``, ``m``, ``v``) whose magnitude falls below the dtype's smallest normal
number (``np.finfo(dtype).tiny``) is set to 0. A parameter whose gradient stays 0, as a dead
relu unit's does, has moments that decay geometrically through the subnormal numbers, where
each operation costs tens of times more on x86 CPUs (a float32 relu network with dead units
trained 1.5 x faster without them); such a moment moves its parameter by less than the
parameter's last bit.

``learning_rate`` is a float or a schedule: a callable of the number of updates already
applied (0 for the first update), as in optax; :mod:`fnn.schedules` holds fnn's own.

Gradient clipping: every config takes ``clip_norm`` (None: no clipping). Before each update
the gradient ``g`` (every W and b, with l2's term ``(l2/m) W`` when ``l2`` is on) is scaled
by ``min(1, clip_norm / (||g|| + 1e-6))``, ``||g||`` its global L2 norm over all parameters:
``torch.nn.utils.clip_grad_norm_``'s formula, eps included (``optax.clip_by_global_norm``
has no eps: it scales by ``clip_norm / ||g||`` when ``||g|| > clip_norm``). The clipped
gradient feeds the moments; adamw's decoupled decay is not clipped (as in PyTorch, where an
optimizer's ``weight_decay`` is also added after clipping).
"""

from __future__ import annotations

import numpy as np

from fnn import checks, engine, schedules
from fnn.flat import pack, pack_slots, unpack, unpack_slots
from fnn.registry import MAX_HYPERPARAMETERS, OPTIMIZER_OF_CONFIG, OPTIMIZERS
from fnn.schedules import LearningRate
from fnn.types import SGD, Adam, AdamW, Momentum, OptState, Params, RMSProp

# -- constructors --------------------------------------------------------------------------


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
    return config(schedules.checked(learning_rate), *checked, clip_norm)


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
    (Kingma & Ba, Algorithm 1; PyTorch ``Adam``, ``optax.adam``). Some write
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
    rates = schedules.rates(opt.learning_rate, first_step, count)
    return rates if scale == 1.0 else rates * scale


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
        From :func:`opt_init` or the previous ``opt_step``, for the same optimizer (and, when
        ``state.config`` holds the config it was saved with, the same hyperparameters).

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
    checks.same_optimizer("state", state, opt)
    theta = pack(params, dtype)
    scale = 1.0 if state.plateau is None else state.plateau.scale  # cut by fit's watcher
    theta, slots = engine.update(
        theta, pack(grads, dtype), pack_slots(state.slots, theta.size, dtype), entry.code,
        hyperparameters(opt), learning_rates(opt, state.step, 1, scale)[0], state.step, "opt_step",
    )  # fmt: skip
    return unpack(theta, sizes), OptState(name, state.step + 1, unpack_slots(slots, sizes),
                                          state.plateau, state.config)  # fmt: skip

"""Full-batch L-BFGS for ``fit``: SciPy's ``L-BFGS-B`` driven by fnn's engine.

SciPy owns the quasi-Newton memory and the line search; every function evaluation is one
engine call (forward, loss, backward over all rows: the same compiled kernel as ``fit`` and
``value_and_grad``) on the flat parameter vector, which also gives the training accuracy and,
with validation data, the validation loss and accuracy of the same point. An "epoch" of the
history is one L-BFGS iteration: one accepted step, after one or more evaluations.
"""

from __future__ import annotations

import numpy as np

from fnn import checks, engine
from fnn.epochs import FUNCTION_ROW, NO_BEST, ending, history_of, stop_requested, watch_best
from fnn.flat import pack, unpack
from fnn.types import LBFGS, FitResult, Net, OptState, Params

#: Registry-style name of the method, in its OptState.
NAME = "lbfgs"


def lbfgs(
    memory: int = 10,
    gtol: float = 1e-4,
    ftol: float = 2.220446049250313e-09,
    max_evaluations: int = 15000,
) -> LBFGS:
    """Full-batch L-BFGS for ``fit(net, params, fnn.lbfgs(), X, y, epochs=200)``.

    ``fit`` hands the objective of every other optimizer, the mean loss over all rows plus
    ``(l2 / 2m) sum ||W||**2`` (weighted, m the total weight, with ``fit``'s ``sample_weight``
    or ``class_weight``), and its gradient from fnn's engine to
    ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``. The defaults are scikit-learn's
    ``MLPClassifier(solver="lbfgs")`` settings (SciPy's ``maxcor=10``, ``gtol=tol=1e-4``,
    ``maxfun=max_fun=15000``); ``fit``'s ``epochs`` is the iteration budget (``max_iter``).

    An epoch of ``fit``'s history is one iteration: ``loss``/``accuracy`` (and ``val_loss``,
    ``val_accuracy``) are those of the parameters after it. Training ends early when SciPy
    converges (``history.stopped_epoch`` says when), when ``max_evaluations`` is spent, or by
    early stopping or the callback. float32 parameters are evaluated in float32 (SciPy steps
    in float64). ``batch_size`` must be None and ``reduce_on_plateau`` unset; ``key`` is
    unused (nothing is random). Resuming with ``opt_state`` continues the iteration count but
    not SciPy's memory, so ``k + k`` iterations are not ``2k``.

    By hand, the same loop is ``scipy.optimize.minimize(f, x0, jac=True,
    method="L-BFGS-B")`` with ``f`` unpacking ``x`` into Params and returning
    ``fnn.value_and_grad``'s value and flattened gradient.

    Parameters
    ----------
    memory : int >= 1
        Corrections kept (SciPy's ``maxcor``).
    gtol : float >= 0
        Stop when the largest projected gradient component is at most this.
    ftol : float >= 0
        Stop when the relative decrease of the objective is at most this.
    max_evaluations : int >= 1
        Budget of function evaluations (SciPy's ``maxfun``).

    Returns
    -------
    LBFGS
        A config for ``fit``'s ``opt``.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> net = fnn.mlp([2, 4, 1])
    >>> result = fnn.fit(net, fnn.init(net, key=0), fnn.lbfgs(), X, [0, 1, 1, 0], epochs=100)
    >>> fnn.predict(net, result.params, X).tolist()
    [0, 1, 1, 0]
    """
    return LBFGS(
        checks.integer("memory", memory, 1, 10_000),
        checks.real("gtol", gtol, low=0.0),
        checks.real("ftol", ftol, low=0.0),
        checks.integer("max_evaluations", max_evaluations, 1, checks.MAX_STEPS),
    )


def fit_lbfgs(
    net: Net,
    params: Params,
    opt: LBFGS,
    X: np.ndarray,
    Y: np.ndarray,
    epochs: int,
    l2: float,
    X_val: np.ndarray,
    Y_val: np.ndarray,
    state: OptState,
    early_stopping,
    callback,
    show,
    weights=None,
    weights_val=None,
    threads: int = 1,
    adapt: bool = False,
    early_row: int | None = None,
    function=None,
) -> FitResult:
    """``fit`` with :func:`lbfgs`: arguments already checked by ``fit`` (``state``: the
    checked ``opt_state``, or a new one; ``weights``,
    ``weights_val``: the sample weights of the rows of X and X_val, None for all 1;
    ``threads``, ``adapt``: of each objective's batch, as for :func:`fnn.engine.call`;
    ``early_row``: the row of the records that early stopping watches, see
    :func:`fnn.epochs.watching`; ``function``: None, or ``function(params=..., epoch=...)``
    gives the monitored function's value after an iteration)."""
    from scipy.optimize import minimize  # here: ``import fnn`` stays fast

    dtype = X.dtype
    has_val = X_val.shape[0] > 0
    theta = pack(params, dtype)
    last: dict = {}

    def objective(x: np.ndarray):
        point = x.astype(dtype)  # a new writable array: the engine never writes into it
        run = engine.call(
            net, point, X=X, Y=Y, X_eval=X_val if has_val else None,
            Y_eval=Y_val if has_val else None, l2=l2, weights=weights, weights_eval=weights_val,
            threads=threads, adapt=adapt, purpose="fit",
        )  # fmt: skip
        if not np.isfinite(run.value):
            raise FloatingPointError(
                f"loss is not finite at iteration {len(records)} of this fit call "
                f"(loss {run.value}); check the data or raise l2"
            )
        last["x"], last["point"] = x.copy(), point
        last["records"] = np.append(run.records[:, 0], 0.0)  # with a place for the monitor
        return float(run.value), run.grads.astype(np.float64, copy=False)  # a new array

    records: list[np.ndarray] = []
    best = [NO_BEST]
    stopped = [False]

    def after_iteration(intermediate_result) -> None:
        x = intermediate_result.x
        if not np.array_equal(last.get("x"), x):  # the accepted point was not the last tried
            objective(x)
        records.append(last["records"].copy())
        epoch = len(records) - 1
        point = unpack(last["point"], net.sizes)
        if function is not None:
            records[-1][FUNCTION_ROW] = function(params=point, epoch=epoch)
        if show is not None:
            show(len(records), _table(records)[:4])
        if early_stopping is not None:
            watched = records[-1][early_row]
            best[0], stopped[0] = watch_best(early_stopping, best[0], watched, epoch, last["point"])
        if callback is not None:
            history = history_of(net, _table(records), has_val, monitored=function is not None)
            stopped[0] = stop_requested(callback, epoch, point, history) or stopped[0]
        if stopped[0]:
            raise StopIteration  # SciPy ends the minimisation at this iterate

    final = theta
    if epochs > 0:
        options = {"maxiter": epochs, "maxfun": opt.max_evaluations, "maxcor": opt.memory,
                   "gtol": opt.gtol, "ftol": opt.ftol}  # fmt: skip
        for setter in engine.blas_thread_setters():  # SciPy's updates are BLAS calls too:
            setter(1)  # one thread, as in the engine's calls
        try:
            result = minimize(objective, theta.astype(np.float64), jac=True, method="L-BFGS-B",
                              callback=after_iteration, options=options)  # fmt: skip
        except KeyboardInterrupt as interrupt:  # Ctrl-C: the iterations finished before it
            vars(interrupt).pop("partial", None)  # a stopped evaluation, not an iteration
            interrupt.history = history_of(net, _table(records), has_val,
                                           monitored=function is not None)  # fmt: skip
            raise
        final = result.x.astype(dtype) if records else theta
    done = len(records)
    table = _table(records)
    params_epoch = done - 1 if done else None
    if early_stopping is not None and early_stopping.restore_best and best[0].epoch >= 0:
        final, params_epoch = best[0].point, best[0].epoch
    stopped_epoch = done - 1 if 0 < done < epochs else None
    if show is not None:
        show(None, None, ending(stopped_epoch, params_epoch, epochs))
    history = history_of(net, table, has_val, stopped_epoch, params_epoch, function is not None)
    iterations = done if params_epoch is None else params_epoch + 1  # those of the params
    new_state = OptState(NAME, state.step + iterations, (), None, state.config)
    return FitResult(unpack(final, net.sizes), new_state, history)


def _table(records: list[np.ndarray]) -> np.ndarray:
    """The (5, iterations) history table of the per-iteration ``records``."""
    return np.array(records, dtype=np.float64).T.reshape(5, len(records))

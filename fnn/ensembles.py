"""Ensembles: many members of one network trained in one call (on the same rows, or on rows of
their own: bagging), and their averaged predictions.

Member ``k`` of :func:`fit_many` is the same bits as the single ``fit`` call it stands for,
whatever the number of threads and whichever member finished first. Members of a small
network train side by side in one compiled kernel (:func:`fnn.kernels.train_members`: member k
in SIMD lane k, every value computed by the engine's operations in the engine's order), a few
such kernels at once on threads; anything that kernel does not do runs ``fit`` once per member
on threads of this process (the kernels release the GIL and ``fit`` pins BLAS to one thread
per call).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from fnn import checks, side_by_side
from fnn import progress as progress_display
from fnn.epochs import validation_data, watching
from fnn.folds import row_indices
from fnn.model import predict_proba
from fnn.threads import default_threads, map_on_threads
from fnn.train import fit, fit_arguments
from fnn.types import (
    EarlyStopping,
    FitResult,
    History,
    Net,
    OptState,
    Params,
    ReduceOnPlateau,
)
from fnn.weights import fit_weights

T = TypeVar("T")
# The progress display of fit_many counts members: it shows none of fit's metric rows.
_NO_METRICS = np.zeros((4, 0))


def fit_many(
    net: Net,
    params: Sequence[Params],
    opt,
    X,
    y,
    epochs: int = 100,
    batch_size: int | None = None,
    keys: Sequence | None = None,
    l2: float | Sequence[float] = 0.0,
    validation: tuple | None = None,
    opt_states: Sequence[OptState] | None = None,
    early_stopping: EarlyStopping | None = None,
    reduce_on_plateau: ReduceOnPlateau | None = None,
    threads: int | None = None,
    sample_weight=None,
    class_weight=None,
    callback: Callable[[int, int, Params, History], bool | None] | None = None,
    progress: bool = False,
    rows: Sequence | None = None,
) -> tuple[FitResult, ...]:
    """Train K members of one network on the same data, or on rows of it, at once.

    Member ``k`` is exactly ::

        fnn.fit(net, params[k], opt[k], X, y, epochs=epochs, batch_size=batch_size,
                key=keys[k], l2=l2[k], validation=validation, opt_state=opt_states[k],
                early_stopping=early_stopping, reduce_on_plateau=reduce_on_plateau,
                sample_weight=sample_weight, class_weight=class_weight,
                callback=lambda epoch, params, history: callback(k, epoch, params, history))

    (``opt``, ``l2`` given once stand for every member; with ``rows``, ``X[rows[k]]``,
    ``y[rows[k]]`` and ``sample_weight[rows[k]]`` in place of ``X``, ``y`` and
    ``sample_weight``), bit for bit, whatever ``threads`` and with or without ``callback``
    and ``progress``; each member trains, validates and stops early on its own.

    How: the members of a small network train side by side in one compiled kernel, each in
    its own SIMD lane, in groups of up to 32 members, the groups spread over ``threads``
    threads (docs/scaling.md has the figures). That kernel runs where it can: every product
    of a batch small enough for the engine's plain loops (rows x inputs x units < 8192, or a
    layer of at most 2 units), the loss bce or mse without softmax or ce with it, one kind
    of optimizer shared by the members, without ``clip_norm``, one step count and, with
    ``rows``, one row count, and nothing beyond validation, early stopping and the plateau
    watch (which run inside the kernel: :mod:`fnn.side_by_side`) between epochs or weighing
    the rows (no dropout, validation weights, monitored function, sample weights or class
    weights, callback or progress display). And where it is faster than one ``fit`` per
    member: while every product of a batch is at most 2048 multiply-adds
    (:func:`fnn.side_by_side.pays`). Otherwise each member is one
    ``fit`` call, the members on ``threads`` threads of this process.

    Parameters
    ----------
    net : Net
    params : sequence of K Params
        Each member's starting parameters, e.g. ``[fnn.init(net, key=k) for k in range(K)]``.
    opt : optimizer config, or a sequence of K of them
        One config for every member, or one per member (e.g. ``[fnn.adam(lr) for lr in
        rates]`` for a learning rate per member; optimizers may differ between members).
    X : array_like, shape (n_samples, sizes[0])
    y : array_like
        As in :func:`fnn.fit`; shared by every member.
    epochs, batch_size, validation, early_stopping, reduce_on_plateau, sample_weight, class_weight
        As in :func:`fnn.fit`, the same for every member (early stopping and the plateau
        rule watch each member's own monitored value; a monitored function runs on the
        member's worker thread, as ``callback`` does).
    keys : sequence of K keys, or None
        Each member's shuffle key (int or SeedSequence); None means ``range(K)``.
    rows : sequence of K arrays of row indices, or None
        The rows of X that member k trains on, in that order (repeats allowed): a bootstrap
        sample each for bagging (``rng.integers(0, len(X), (K, len(X)))``), or a fold's
        training rows each. Members side by side need the same number of rows each. None:
        every member trains on every row.
    l2 : float, or a sequence of K floats
        Weight decay of every member, or of each.
    opt_states : sequence of K OptState, or None
        Resume each member from an earlier call's ``results[k].opt_state``.
    threads : int or None
        Threads training members at once (side by side: groups of members at once);
        default :func:`fnn.threads.default_threads` (the cores this process may use, capped
        by ``NUMBA_NUM_THREADS`` and ``OMP_NUM_THREADS``). With one member at a time, each
        member's ``fit`` may run the shards of its large batches on threads
        (``fit(threads=None)``); with more, each uses one.
    callback : callable or None
        ``callback(member, epoch, params, history) -> bool or None`` after every epoch of
        every member: ``fit``'s callback with the member's index first. True stops that
        member only (its ``history.stopped_epoch`` says when); anything but a bool or None is
        a TypeError. It runs on the member's worker thread, so with ``threads > 1`` calls for
        different members come at the same time and in no fixed order: guard shared state
        with a lock (appending to a list or setting a dict entry needs none). An exception
        it raises stops the call as a failing member does (below), unchanged but for a note
        naming the member and epoch.
    progress : bool
        Show how many members have finished, with the time spent and left, live on stderr:
        a tqdm bar when tqdm is installed (``pip install 'fnn[progress]'``), else a plain
        line. Drawn from the calling thread only, never by the workers; results are
        bit-identical with and without it.

    Returns
    -------
    tuple of K FitResult
        Member ``k``'s ``params``, ``opt_state`` and ``history``, as ``fit`` returns them.

    Raises
    ------
    ValueError, TypeError
        Before any training, for a bad argument; a member's bad value is named with its index
        (``member 3: ...``).
    FloatingPointError
        When a member's loss stops being finite (named as above).
    Exception
        Whatever ``callback`` raised, with the note ``fit_many member k, epoch e: raised by
        callback`` (Python >= 3.11 prints it under the traceback). When members fail, the
        members not started are cancelled and, once the running ones have finished, the
        failure of the lowest member index is raised.
    KeyboardInterrupt
        On Ctrl-C. Members side by side stop within a batch. Members trained one ``fit``
        each: once the members already training on worker threads have finished (only the
        main thread sees Ctrl-C, so their fits run to the end), members not started being
        cancelled; with ``threads=1`` or one member the fits run in the calling thread, and
        the running member stops within a batch, as ``fit`` does (the exception then carries
        its ``history``).

    Examples
    --------
    >>> import fnn, numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> y = np.array([0, 1, 1, 1])
    >>> net = fnn.mlp([2, 4, 1])
    >>> members = [fnn.init(net, key=k) for k in range(3)]
    >>> results = fnn.fit_many(net, members, [fnn.adam(r) for r in (0.01, 0.03, 0.1)], X, y)
    >>> single = fnn.fit(net, members[2], fnn.adam(0.1), X, y, key=2)
    >>> bool(np.array_equal(results[2].params.layers[0].W, single.params.layers[0].W))
    True
    """
    params = _members("params", params)
    count = len(params)
    opts = _per_member("opt", opt, count, one=_is_record(opt))
    keys = range(count) if keys is None else _per_member("keys", keys, count)
    l2s = _per_member("l2", l2, count, one=isinstance(l2, numbers.Real))
    states = [None] * count if opt_states is None else _per_member("opt_states", opt_states, count)
    threads = _threads(threads)
    # The arguments every member shares are checked (and X converted) once, here, so that an
    # error in them is not blamed on a member.
    checks.network(net)
    dtype = checks.params_of(net.sizes, params[0], "params[0]")
    epochs = checks.integer("epochs", epochs, 0, checks.MAX_STEPS)
    if batch_size is not None:
        checks.integer("batch_size", batch_size, 1)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    Y = checks.targets("y", y, net, X.shape[0], dtype)
    fit_weights(net, Y, sample_weight, class_weight, dtype)
    member_rows = None if rows is None else _member_rows(rows, count, X.shape[0])

    def data(k: int) -> tuple:  # member k's X, y and sample_weight, as its fit takes them
        if member_rows is None:
            return X, y, sample_weight
        chosen = member_rows[k]
        weights = None if sample_weight is None else np.asarray(sample_weight)[chosen]
        return X[chosen], np.asarray(y)[chosen], weights

    if validation is not None:  # X_val converted once, for every member's fit
        validation = (validation_data(net, validation, dtype)[0], *validation[1:])
    if early_stopping is not None:
        early_stopping = checks.early_stopping_of("early_stopping", early_stopping)
    if reduce_on_plateau is not None:
        reduce_on_plateau = checks.reduce_on_plateau_of("reduce_on_plateau", reduce_on_plateau)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {checks.describe(callback)}")
    progress = checks.flag("progress", progress)

    # Members side by side get one thread each for their batches' shards (members times
    # threads stay within the cores); members one after another, fit's choice.
    member_threads = None if min(threads, count) == 1 else 1

    def member(k: int, epochs: int) -> FitResult:
        X_k, y_k, weights_k = data(k)
        return _named(k, lambda: fit(
            net, params[k], opts[k], X_k, y_k, epochs=epochs, batch_size=batch_size,
            key=keys[k], l2=l2s[k], validation=validation, opt_state=states[k],
            early_stopping=early_stopping, reduce_on_plateau=reduce_on_plateau,
            sample_weight=weights_k, class_weight=class_weight,
            callback=None if callback is None else _member_callback(callback, k),
            threads=member_threads,
        ))  # fmt: skip

    def check(k: int) -> None:  # fit's own checks of member k's values, without training
        X_k, y_k, weights_k = data(k)
        fit_arguments(net, params[k], opts[k], X_k, y_k, epochs, batch_size, keys[k], l2s[k],
                      validation, states[k], early_stopping, callback, False, reduce_on_plateau,
                      weights_k, class_weight, member_threads)  # fmt: skip

    for k in range(count):
        _named(k, lambda k=k: check(k))

    n = X.shape[0]
    row_counts = {n} if member_rows is None else {len(chosen) for chosen in member_rows}
    X_val, Y_val, weights_val = validation_data(net, validation, dtype)
    monitors_function = any(
        config is not None and callable(config.monitor)
        for config in (early_stopping, reduce_on_plateau)
    )
    n_train = next(iter(row_counts))
    if (
        len(row_counts) == 1
        and side_by_side.eligible(net, opts, states, n_train, batch_size, sample_weight,
                                  class_weight, weights_val, callback, progress,
                                  monitors_function)
        and side_by_side.pays(net, n_train, batch_size)
    ):  # fmt: skip
        n_val = X_val.shape[0]
        train_rows = (np.arange(n)[:, None].repeat(count, axis=1) if member_rows is None
                      else np.stack(member_rows, axis=1))  # fmt: skip
        members = side_by_side.Members(
            params, opts, states, keys, l2s, train_rows,
            eval_rows=np.arange(n, n + n_val)[None, :].repeat(count, axis=0),
        )  # fmt: skip
        results = side_by_side.train(
            net, np.concatenate([X, X_val]), np.concatenate([Y, Y_val]), members, epochs=epochs,
            batch_size=batch_size, early_stopping=early_stopping,
            reduce_on_plateau=reduce_on_plateau,
            watch=watching(net, n_val > 0, early_stopping, reduce_on_plateau), threads=threads,
            purpose="fit_many",
        )  # fmt: skip
        side_by_side.raise_for(results, lambda k: member(k, epochs))
        return tuple(results)

    def train(k: int) -> FitResult:
        return member(k, epochs)

    if not progress:
        return tuple(map_on_threads(train, count, threads, "fnn-member"))
    show = progress_display.printer(count, (False,) * 4, desc="fit_many", unit="members")
    finished = []

    def one_more(k: int) -> None:  # on the calling thread, as each member finishes
        finished.append(k)
        show(len(finished), _NO_METRICS)

    try:
        return tuple(map_on_threads(train, count, threads, "fnn-member", on_done=one_more))
    finally:
        show(None, None)  # ends the display, also when a member failed


def ensemble_proba(
    net: Net, members: Sequence[Params], X, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over the members of :func:`fnn.predict_proba`.

    Parameters
    ----------
    net : Net
    members : sequence of K Params
        E.g. ``[result.params for result in fnn.fit_many(...)]``.
    X : array_like, shape (n_samples, sizes[0])
    threads : int or None
        Members evaluated at once, as in :func:`fit_many`.

    Returns
    -------
    mean, std : ndarray, shape (n_samples, sizes[-1])
        ``mean = (1/K) sum_k p_k`` and ``std = sqrt((1/K) sum_k (p_k - mean)**2)`` of the
        members' outputs ``p_k`` (the population standard deviation: 0 for one member).

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 3, 1])
    >>> members = [fnn.init(net, key=k) for k in range(4)]
    >>> mean, std = fnn.ensemble_proba(net, members, np.ones((5, 2)))
    >>> mean.shape, std.shape, bool((std >= 0).all())
    ((5, 1), (5, 1), True)
    """
    members = _members("members", members)
    threads = _threads(threads)
    checks.network(net)
    dtype = checks.params_of(net.sizes, members[0], "members[0]")
    X = checks.inputs("X", X, net.sizes[0], dtype)
    outputs = map_on_threads(
        lambda k: _named(k, lambda: predict_proba(net, members[k], X)),
        len(members), threads, "fnn-member",
    )  # fmt: skip
    stacked = np.stack(outputs)
    return stacked.mean(axis=0), stacked.std(axis=0)


def _named(k: int, call: Callable[[], T]) -> T:
    """``call()``, its ValueError, TypeError or FloatingPointError prefixed by ``member k``
    (a callback's error, which carries a note naming the member, passes unchanged)."""
    try:
        return call()
    except (ValueError, TypeError, FloatingPointError) as error:
        noted = hasattr(error, "__notes__")  # a callback's, already naming the member
        if type(error) not in (ValueError, TypeError, FloatingPointError) or noted:
            raise
        raise type(error)(f"member {k}: {error}") from None


def _member_callback(callback: Callable, k: int) -> Callable[[int, Params, History], bool]:
    """Member ``k``'s ``fit`` callback: the user's ``callback(k, epoch, params, history)``,
    whose exceptions get a note naming the member and the epoch."""

    def member_callback(epoch: int, params: Params, history: History):
        try:
            return callback(k, epoch, params, history)
        except Exception as error:
            checks.add_note(error, f"fit_many member {k}, epoch {epoch}: raised by callback")
            raise

    return member_callback


def _member_rows(rows, count: int, n_samples: int) -> list[np.ndarray]:
    """fit_many's ``rows``, checked: one non-empty array of row indices per member."""
    if isinstance(rows, (str, bytes)) or not isinstance(rows, (Sequence, np.ndarray)):
        raise TypeError(
            f"rows must be a sequence of {count} arrays of row indices, one per member, "
            f"got {checks.describe(rows)}"
        )
    if len(rows) != count:
        raise ValueError(f"rows must hold one array of row indices per member ({count}), "
                         f"got {len(rows)}")  # fmt: skip
    return [row_indices(f"rows[{k}]", chosen, n_samples) for k, chosen in enumerate(rows)]


def _members(name: str, values) -> list:
    """A non-empty sequence of Params as a list (a single Params is refused by name)."""
    if isinstance(values, Params):
        raise TypeError(f"{name} must be a sequence of Params (one per member), got one Params")
    if not isinstance(values, Sequence) or isinstance(values, (str, bytes)):
        raise TypeError(
            f"{name} must be a sequence of Params (one per member), got {checks.describe(values)}"
        )
    if not values:
        raise ValueError(f"{name} must hold at least one member, got an empty sequence")
    return list(values)


def _per_member(name: str, value, count: int, one: bool | None = None) -> list:
    """``value`` for each of ``count`` members: repeated when it is ``one`` value, else a
    sequence of ``count`` values (``one=None``: a single value is not allowed)."""
    if one:
        return [value] * count
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)) or _is_record(value):
        raise TypeError(
            f"{name} must be {'' if one is None else 'one value or '}a sequence of one per "
            f"member ({count}), got {checks.describe(value)}"
        )
    if len(value) != count:
        raise ValueError(
            f"{name} must have one entry per member ({count}), got {len(value)} entries"
        )
    return list(value)


def _is_record(value) -> bool:
    """A NamedTuple (an OptState, a config): one value, not a sequence of members' values."""
    return hasattr(value, "_fields")


def _threads(threads) -> int:
    return default_threads() if threads is None else checks.integer("threads", threads, 1)

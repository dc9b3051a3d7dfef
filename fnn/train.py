"""Training: ``fit`` (validate, pack, run the engine epoch by epoch, unpack).

What runs between the epochs (early stopping, the plateau watch, the callback, the History)
is :mod:`fnn.epochs`; full-batch L-BFGS is :mod:`fnn.lbfgs`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np

from fnn import checks, engine, kernels
from fnn import progress as progress_display
from fnn.data import seed_of
from fnn.epochs import (
    FUNCTION_ROW,
    NO_BEST,
    Best,
    Watching,
    attach_history,
    ending,
    epochs_before_a_cut,
    history_of,
    monitored,
    sign_of,
    stop_requested,
    validation_data,
    watch_best,
    watch_plateau,
    watching,
)
from fnn.flat import pack, pack_slots, unpack, unpack_slots
from fnn.lbfgs import NAME as LBFGS_NAME
from fnn.lbfgs import fit_lbfgs, lbfgs
from fnn.optim import hyperparameters, learning_rates, opt_init, optimizer_name
from fnn.registry import LOSSES, OPTIMIZERS
from fnn.types import (
    LBFGS,
    EarlyStopping,
    FitResult,
    History,
    Net,
    OptState,
    Params,
    Plateau,
    ReduceOnPlateau,
)
from fnn.weights import fit_weights

# Longest stretch of updates one kernel call runs (bounds the learning-rate array).
MAX_UPDATES_PER_CALL = 1_000_000
# With threads to adapt (``fit(threads=None)`` on sharded batches), each engine call runs at
# most this many updates (and at least an epoch), so that the thread count follows the load.
ADAPT_UPDATES = 1000
# Epochs of history allocated at first; the records grow (doubling) with the epochs run, so a
# huge ``epochs`` that stops early costs only what it ran.
FIRST_RECORDS = 1024


# -- fit ------------------------------------------------------------------------------------------


def fit(
    net: Net,
    params: Params,
    opt,
    X,
    y,
    epochs: int = 100,
    batch_size: int | None = None,
    key=0,
    l2: float = 0.0,
    validation: tuple | None = None,
    opt_state: OptState | None = None,
    early_stopping: EarlyStopping | None = None,
    callback: Callable[[int, Params, History], bool] | None = None,
    progress: bool = False,
    reduce_on_plateau: ReduceOnPlateau | None = None,
    sample_weight=None,
    class_weight=None,
    threads: int | None = None,
) -> FitResult:
    """Train with mini-batches, whole epochs at a time inside one compiled kernel.

    Parameters
    ----------
    net, params, opt
        The network, its starting parameters and an optimizer config (``fnn.adam(...)``), or
        :func:`fnn.lbfgs` for full-batch L-BFGS (an epoch is then one iteration).
    X : array_like, shape (n_samples, sizes[0])
    y : array_like
        Labels or targets as :func:`fnn.loss` takes them.
    epochs : int
        Passes over the data.
    batch_size : int or None
        Rows per update; None means the full batch. Each epoch is shuffled with
        ``fold_in(key, epoch)`` (see :func:`fnn.minibatches`); the last partial batch is used.
    key : int or SeedSequence
        Fixes every shuffle, and every dropout mask of a net with dropout: same key, same
        result, bit for bit. Update ``t`` (counted from the first ``fit``, resumes included)
        drops with the masks of ``dropout_key = fold_in(fold_in(key, 2**64 - 1), t)`` (see
        :func:`fnn.value_and_grad`), so resuming continues the same masks. The validation
        pass never drops; the history's loss and accuracy are those of the batches as
        trained, masks included.
    l2 : float
        Weight decay ``(l2 / 2m) sum ||W||**2`` added to every batch loss.
    validation : (X_val, y_val), (X_val, y_val, w_val) or None
        Evaluated after every epoch into ``history.val_loss``/``val_accuracy``; ``w_val``
        weighs the validation rows as ``sample_weight`` does the training rows
        (``class_weight`` does not apply to them).
    opt_state : OptState or None
        Resume from an earlier ``fit``'s ``result.opt_state``. Epochs continue counting from
        ``opt_state.step // batches_per_epoch``, so ``2k`` epochs in one call and ``k + k``
        in two give bit-identical parameters. A state loaded from an archive saved with its
        optimizer (``fnn.save(..., opt=...)``) holds that config in ``opt_state.config``,
        and ``opt`` must equal it (ValueError naming both otherwise).
    early_stopping : EarlyStopping or None
        From :func:`fnn.early_stopping`: stop when its monitor (``val_loss`` with validation,
        else the training loss, or the History field or function it names) stops improving.
    callback : callable or None
        ``callback(epoch, params, history) -> bool or None`` after every epoch; True stops
        training (anything but a bool or None is a TypeError).
    progress : bool
        Show the epoch, loss and accuracy (and validation metrics) live on stderr, redrawn at
        most 5 times a second: a tqdm bar when tqdm is installed (``pip install
        'fnn[progress]'``), else a plain line. Results are bit-identical with and without it.
    reduce_on_plateau : ReduceOnPlateau or None
        From :func:`fnn.reduce_on_plateau`: cut the learning rate when its monitor (as early
        stopping's) stops improving. Its state travels in ``opt_state.plateau``, so resuming
        continues the watch bit for bit.
    sample_weight : array_like, shape (n_samples,), optional
        Weights >= 0 of the rows (not all 0). Each batch's loss, gradient, accuracy and L2
        penalty are normalised by the batch's total weight instead of its row count (see
        :mod:`fnn.weights`); the history reports weighted means. None: every row weighs 1.
        Dropout masks do not depend on the weights.
    class_weight : "balanced", dict or None
        Weights of the classes of a classifier (ce, or bce with one output unit), multiplied
        into ``sample_weight``: ``"balanced"`` gives class c the weight
        ``n_samples / (n_classes * count(c))`` (scikit-learn's formula, over the classes
        present); a dict ``{class: weight}`` leaves the classes it omits at 1.
    threads : int or None
        Threads for each training batch, which shares them in one of two ways fixed by the
        batch and the network alone, so the result is the same bits for every thread count
        (and the same as ``fnn.grad`` of that batch). In a network with a layer of at least
        1,024 units or inputs, each layer's products run in equal parts of at most 256 units
        (forward) or inputs (backward), one BLAS call each (a narrower layer's in parts of the
        batch's rows), its elementwise passes in parts of 64 units, and the update in parts
        of 65,536 parameters.
        Else a batch is cut into 2, 4, 8 or 16 equal shards, as many as hold 2**19
        multiply-adds of forward pass (rows times parameters) and 64 rows each, when it holds
        two; their gradients are computed side by side and summed in shard order, in the
        update's parts. None: one
        thread for a batch with neither (every batch of a small network, where threads cannot
        pay), else one per part of the widest layer or per shard, at most the cores this
        process may use, ``NUMBA_NUM_THREADS`` and ``OMP_NUM_THREADS``, and fewer while other
        threads keep cores busy (asked again every 1000 updates or epoch). A number: that many
        (at most one per part or shard and those caps), busy or not. While another ``fit`` in
        this process runs on threads, this one runs in its own thread.

    Returns
    -------
    FitResult
        ``params``, ``opt_state`` and ``history`` (per-epoch ``loss`` and ``accuracy``,
        averaged over the epoch's batches as they were trained, ``val_loss``,
        ``val_accuracy`` after the epoch, and ``monitor``, the values of a monitored
        function). Accuracy arrays are empty for every mse network, a sigmoid output with
        the mse loss included.

    Raises
    ------
    FloatingPointError
        When an epoch's loss, or its validation loss, is not finite; the arguments are left
        unchanged.
    KeyboardInterrupt
        On Ctrl-C, within about a batch (see docs/guarantees.md, "Ctrl-C"); its
        ``history`` attribute is the History of the epochs finished before it, the
        arguments are left unchanged.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> y = np.array([0, 1, 1, 1])  # logical or
    >>> net = fnn.mlp([2, 4, 1])
    >>> result = fnn.fit(net, fnn.init(net, key=0), fnn.adam(0.05), X, y, epochs=200)
    >>> len(result.history.loss), float(result.history.accuracy[-1])
    (200, 1.0)
    >>> fnn.predict(net, result.params, X)
    array([0, 1, 1, 1])
    """
    (X, Y, weights, X_val, Y_val, weights_val, opt, state, epochs, batch, l2, seed, threads,
     adapt, early_stopping, callback, progress, reduce_on_plateau, watch) = fit_arguments(
        net, params, opt, X, y, epochs, batch_size, key, l2, validation, opt_state,
        early_stopping, callback, progress, reduce_on_plateau, sample_weight, class_weight,
        threads,
    )  # fmt: skip
    function = watch.function
    if function is not None:  # the monitored function gets the validation data as given
        function = partial(monitored, function, net, X_val=validation[0], y_val=validation[1])
    if isinstance(opt, LBFGS):
        has_val = X_val.shape[0] > 0
        show = _printer(net, epochs, has_val) if progress else None
        return fit_lbfgs(net, params, opt, X, Y, epochs, l2, X_val, Y_val, state, early_stopping,
                         callback, show, weights, weights_val, threads, adapt, watch.early_row,
                         function)  # fmt: skip
    dtype, n, name = X.dtype, X.shape[0], state.optimizer
    entry = OPTIMIZERS[name]
    plateau = state.plateau
    if reduce_on_plateau is not None and plateau is None:
        plateau = Plateau()

    theta = pack(params, dtype)
    slots = pack_slots(state.slots, theta.size, dtype)
    hyper = hyperparameters(opt)
    batches_per_epoch = -(-n // batch)
    first_epoch = state.step // batches_per_epoch
    step = state.step
    # Per epoch: loss, accuracy, val_loss, val_accuracy, the monitored function's value.
    records = np.zeros((5, min(epochs, FIRST_RECORDS)))
    has_val = X_val.shape[0] > 0
    best = NO_BEST
    # Early stopping runs inside the engine, epochs at a time (as far as the plateau watch
    # lets a call run); with a callback or a monitored function, in Python after each epoch.
    per_epoch = callback is not None or function is not None
    in_engine = early_stopping is not None and not per_epoch
    kept = _kept_by_engine(early_stopping, watch.early_row, theta, slots) if in_engine else None
    plateau_at_best = plateau  # the plateau watch after the engine's best epoch
    show = _printer(net, epochs, has_val) if progress else None
    epochs_per_call = 1  # when something must run between epochs
    done = 0
    stopped = False
    while done < epochs:
        count = min(epochs - done, max(1, MAX_UPDATES_PER_CALL // batches_per_epoch))
        if adapt and threads > 1:
            count = min(count, max(1, ADAPT_UPDATES // batches_per_epoch))
        if per_epoch:
            count = 1
        elif show is not None:
            count = min(count, epochs_per_call)
        if reduce_on_plateau is not None:
            count = min(count, epochs_before_a_cut(reduce_on_plateau, plateau))
        scale = 1.0 if plateau is None else plateau.scale
        started = time.perf_counter()
        if kept is not None:
            kept[0][4] = done  # the rule's first epoch of this call
        try:
            run = engine.call(
                net, theta, X=X, Y=Y, X_eval=X_val, Y_eval=Y_val if has_val else None, slots=slots,
                opt_code=entry.code, hyper=hyper, step=step, l2=l2, seed=seed,
                lrs=learning_rates(opt, step, count * batches_per_epoch, scale),
                dropout=kernels.PER_UPDATE, first_epoch=first_epoch + done, epochs=count,
                batch=batch, weights=weights, weights_eval=weights_val, threads=threads,
                adapt=adapt, watch=kept, purpose="fit",
                on_compile=None if show is None else _compiling(show),
            )  # fmt: skip
        except KeyboardInterrupt as interrupt:
            attach_history(interrupt, net, records[:, :done], has_val, function is not None)
            raise
        theta, slots, finished = run.theta, run.slots, run.done
        if done + count > records.shape[1]:
            records = _grown(records, min(epochs, max(2 * records.shape[1], done + count)))
        records[:4, done : done + finished] = run.records[:, :finished]
        step += finished * batches_per_epoch
        if kept is not None:
            kept = (kept[0], *run.watched)
            # The engine returns after the epoch whose wait runs out (patience >= 1; a loss
            # that is not finite stops it within its epoch, before the watch).
            waited = kept[1][1]
            stopped = waited >= early_stopping.patience
        if finished < count and not stopped:
            raise FloatingPointError(
                f"loss is not finite at epoch {done + finished} of this fit call "
                f"(loss {run.records[0, finished]}); lower the learning rate or check the data"
            )
        if has_val and not np.isfinite(run.records[2, :finished]).all():
            bad = int(np.argmin(np.isfinite(run.records[2, :finished])))
            raise FloatingPointError(
                f"val_loss is not finite at epoch {done + bad} of this fit call "
                f"(val_loss {run.records[2, bad]}); check the validation data"
            )
        if not np.isfinite(theta).all():  # the losses come before each update: check the last
            raise FloatingPointError(
                f"parameters are not finite after epoch {done + finished - 1} of this fit call; "
                "lower the learning rate or check the data"
            )
        if callback is not None or function is not None:
            current = unpack(theta, net.sizes)  # the params after the epoch
        if function is not None:  # one epoch per engine call
            records[FUNCTION_ROW, done] = function(params=current, epoch=done)
        if reduce_on_plateau is not None:
            for epoch in range(done, done + finished):
                after = step - (done + finished - 1 - epoch) * batches_per_epoch  # next update
                watched = records[watch.plateau_row, epoch]
                plateau = watch_plateau(reduce_on_plateau, plateau, watched,
                                        lambda at=after: learning_rates(opt, at, 1)[0])  # fmt: skip
                if kept is not None and epoch == kept[1][2]:  # the engine's best epoch
                    plateau_at_best = plateau
        done += finished
        if show is not None:
            show(done, records[:4, :done])
            epochs_per_call = progress_display.next_chunk(
                epochs_per_call, time.perf_counter() - started
            )
        if early_stopping is not None and kept is None:
            watched = records[watch.early_row, done - 1]
            at_end = (theta, slots, step, plateau)  # the training state after this epoch
            best, stopped = watch_best(early_stopping, best, watched, done - 1, at_end)
        if callback is not None:
            history = history_of(net, records[:, :done], has_val, monitored=function is not None)
            answer = stop_requested(callback, done - 1, current, history)
            stopped = answer or stopped
        if stopped:
            break
    params_epoch = done - 1 if done else None
    if kept is not None:  # the engine's record, as watch_best's Best
        _, (score, waited, best_epoch), best_theta, best_slots = kept
        step_at_best = state.step + (int(best_epoch) + 1) * batches_per_epoch
        at_best = (best_theta, best_slots, step_at_best, plateau_at_best)
        best = Best(float(score), at_best, int(best_epoch), int(waited))
    if early_stopping is not None and early_stopping.restore_best and best.epoch >= 0:
        (theta, slots, step, plateau), params_epoch = best.point, best.epoch
    stopped_epoch = done - 1 if stopped and done < epochs else None
    if show is not None:
        show(None, None, ending(stopped_epoch, params_epoch, epochs))
    history = history_of(net, records[:, :done], has_val, stopped_epoch, params_epoch,
                         function is not None)  # fmt: skip
    new_state = OptState(name, step, unpack_slots(slots, net.sizes), plateau, state.config)
    return FitResult(unpack(theta, net.sizes), new_state, history)


def _kept_by_engine(config: EarlyStopping, row: int, theta: np.ndarray, slots: np.ndarray) -> tuple:
    """The engine's early-stopping ``watch`` at the start of a fit (see
    :func:`fnn.kernels.train_and_evaluate`): the rule (``row``: of the records watched), no
    best epoch yet, and buffers for the best epoch's parameters and slots when they are
    restored at the end (else empty)."""
    rule = np.array([config.patience, config.min_delta, sign_of(config.mode), row, 0.0])
    keep = config.restore_best
    return (rule, np.array([np.inf, 0.0, -1.0]), np.zeros_like(theta if keep else theta[:0]),
            np.zeros_like(slots if keep else slots[:0, :0]))  # fmt: skip


class FitArguments(NamedTuple):
    """:func:`fit`'s arguments, checked and converted (see :func:`fit_arguments`)."""

    X: np.ndarray  # (n, sizes[0]), of the parameters' dtype
    Y: np.ndarray  # (n, sizes[-1]): labels or targets in the engine's form
    weights: np.ndarray | None  # (n,) of the training rows, or None for all 1
    X_val: np.ndarray  # (n_val, sizes[0]); n_val = 0 without validation
    Y_val: np.ndarray  # (n_val, sizes[-1])
    weights_val: np.ndarray | None  # (n_val,), or None
    opt: object  # an optimizer config or LBFGS
    state: OptState  # the checked opt_state, or the optimizer's initial one
    epochs: int
    batch: int  # rows per training batch (at most n)
    l2: float
    seed: int  # of the key
    threads: int  # of each training batch's shards (engine.batch_threads)
    adapt: bool  # whether the thread count follows the load (threads=None)
    early_stopping: EarlyStopping | None
    callback: Callable | None
    progress: bool
    reduce_on_plateau: ReduceOnPlateau | None
    watch: Watching  # the records' rows the watchers read, the monitored function


def fit_arguments(
    net, params, opt, X, y, epochs, batch_size, key, l2, validation, opt_state, early_stopping,
    callback, progress, reduce_on_plateau, sample_weight, class_weight, threads,
) -> FitArguments:  # fmt: skip
    """Every check of :func:`fit`'s arguments (the same names, in ``fit``'s order), without
    training: ValueError or TypeError naming the bad argument, else the arguments as ``fit``
    uses them. ``fnn.fit_many`` checks each member with it."""
    checks.network(net)
    dtype = checks.params_of(net.sizes, params)
    full_batch = isinstance(opt, LBFGS)
    if not full_batch:
        name = optimizer_name(opt)
        entry = OPTIMIZERS[name]
    epochs = checks.integer("epochs", epochs, 0, checks.MAX_STEPS)
    l2 = checks.real("l2", l2, low=0.0)
    seed = seed_of(key)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    Y = checks.targets("y", y, net, X.shape[0], dtype)
    n = X.shape[0]
    batch = n if batch_size is None else min(checks.integer("batch_size", batch_size, 1), n)
    adapt = threads is None  # a number forces that many threads; None backs off under load
    threads = engine.batch_threads(net, batch, threads)
    weights = fit_weights(net, Y, sample_weight, class_weight, dtype)
    X_val, Y_val, weights_val = validation_data(net, validation, dtype)
    if early_stopping is not None:
        early_stopping = checks.early_stopping_of("early_stopping", early_stopping)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {checks.describe(callback)}")
    progress = checks.flag("progress", progress)
    if reduce_on_plateau is not None:
        reduce_on_plateau = checks.reduce_on_plateau_of("reduce_on_plateau", reduce_on_plateau)
    if full_batch:
        _full_batch_refusals(net, n, batch, reduce_on_plateau)
        opt = lbfgs(*opt)  # a hand-built config gets the constructor's checks
        state = OptState(LBFGS_NAME, 0, ()) if opt_state is None else opt_state
        state = checks.opt_state_of("opt_state", state, LBFGS_NAME, 0, net.sizes, dtype)
        checks.same_optimizer("opt_state", state, opt)
    else:
        state = opt_init(opt, params) if opt_state is None else opt_state
        state = checks.opt_state_of("opt_state", state, name, entry.n_slots, net.sizes, dtype)
        checks.same_optimizer("opt_state", state, opt)
        batches_per_epoch = -(-n // batch)
        if epochs > (checks.MAX_STEPS - state.step) // batches_per_epoch:
            raise ValueError(
                f"epochs must be <= {(checks.MAX_STEPS - state.step) // batches_per_epoch} "
                f"(the update count, an int64, must stay <= {checks.MAX_STEPS}), got {epochs}"
            )
    watch = watching(net, X_val.shape[0] > 0, early_stopping, reduce_on_plateau)
    return FitArguments(
        X, Y, weights, X_val, Y_val, weights_val, opt, state, epochs, batch, l2, seed, threads,
        adapt, early_stopping, callback, progress, reduce_on_plateau, watch,
    )  # fmt: skip


def _full_batch_refusals(net: Net, n: int, batch: int, reduce_on_plateau) -> None:
    """What ``fit`` refuses with :func:`fnn.lbfgs`: batches, a plateau watch, dropout."""
    if batch < n:
        raise ValueError(
            f"batch_size must be None (or >= {n} rows) with fnn.lbfgs, a full-batch "
            f"method, got {batch}"
        )
    if reduce_on_plateau is not None:
        raise ValueError(
            "reduce_on_plateau must be None with fnn.lbfgs, which has no learning rate"
        )
    if any(net.dropout):
        raise ValueError(
            f"net.dropout must be all zero with fnn.lbfgs, whose line search needs one "
            f"deterministic objective, got {net.dropout}"
        )


def _printer(net: Net, epochs: int, has_val: bool):
    """The live progress display of ``fit(progress=True)``: loss, and accuracy for a
    classifier, of training and (with validation) of the validation rows."""
    classifier = LOSSES[net.loss].labels != "targets"
    return progress_display.printer(epochs, (True, classifier, has_val, has_val and classifier))


def _grown(records: np.ndarray, columns: int) -> np.ndarray:
    """``records`` copied into a zero array of ``columns`` epochs."""
    grown = np.zeros((records.shape[0], columns))
    grown[:, : records.shape[1]] = records
    return grown


def _compiling(show):
    """The progress display's hook for a first-use compilation: say so before epoch 1."""
    return lambda: show(0, None, "compiling kernels (first use)")

"""Training: ``fit`` (validate, pack, run the engine epoch by epoch, unpack) and early stopping."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from fnn import checks, engine
from fnn import progress as progress_display
from fnn.data import seed_of
from fnn.flat import frozen, pack, pack_slots, unpack, unpack_slots
from fnn.optim import hyperparameters, learning_rates, opt_init, optimizer_name
from fnn.registry import LOSSES, OPTIMIZERS
from fnn.types import EarlyStopping, FitResult, History, Net, OptState, Params

# Longest stretch of updates one kernel call runs (bounds the learning-rate array).
MAX_UPDATES_PER_CALL = 1_000_000
# Epochs of history allocated at first; the records grow (doubling) with the epochs run, so a
# huge ``epochs`` that stops early costs only what it ran.
FIRST_RECORDS = 1024


def early_stopping(
    patience: int = 10, min_delta: float = 0.0, restore_best: bool = True
) -> EarlyStopping:
    """Stop ``fit`` after ``patience`` epochs without the watched loss falling by ``min_delta``.

    The watched loss is ``val_loss`` when ``fit`` has validation data, else the training loss.
    An epoch improves when its watched loss is below ``best - min_delta``.

    Parameters
    ----------
    patience : int, >= 1
        Epochs without improvement before training stops.
    min_delta : float, >= 0
        Smallest decrease that counts as an improvement.
    restore_best : bool
        Return the parameters of the best epoch rather than the last one (the history and
        optimizer state still run to the last epoch).

    Returns
    -------
    EarlyStopping
        A config for ``fit(..., early_stopping=...)``.

    Examples
    --------
    >>> import fnn
    >>> fnn.early_stopping(patience=20)
    EarlyStopping(patience=20, min_delta=0.0, restore_best=True)
    """
    return checks.early_stopping_of(None, EarlyStopping(patience, min_delta, restore_best))


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
) -> FitResult:
    """Train with mini-batches, whole epochs at a time inside one compiled kernel.

    Parameters
    ----------
    net, params, opt
        The network, its starting parameters and an optimizer config (``fnn.adam(...)``).
    X : array_like, shape (n_samples, sizes[0])
    y : array_like
        Labels or targets as :func:`fnn.loss` takes them.
    epochs : int
        Passes over the data.
    batch_size : int or None
        Rows per update; None means the full batch. Each epoch is shuffled with
        ``fold_in(key, epoch)`` (see :func:`fnn.minibatches`); the last partial batch is used.
    key : int or SeedSequence
        Fixes every shuffle: same key, same result, bit for bit.
    l2 : float
        Weight decay ``(l2 / 2m) sum ||W||**2`` added to every batch loss.
    validation : (X_val, y_val) or None
        Evaluated after every epoch into ``history.val_loss``/``val_accuracy``.
    opt_state : OptState or None
        Resume from an earlier ``fit``'s ``result.opt_state``. Epochs continue counting from
        ``opt_state.step // batches_per_epoch``, so ``2k`` epochs in one call and ``k + k``
        in two give bit-identical parameters.
    early_stopping : EarlyStopping or None
        From :func:`fnn.early_stopping`.
    callback : callable or None
        ``callback(epoch, params, history) -> bool or None`` after every epoch; True stops
        training (anything but a bool or None is a TypeError).
    progress : bool
        Show the epoch, loss and accuracy (and validation metrics) live on stderr, redrawn at
        most 5 times a second: a tqdm bar when tqdm is installed (``pip install
        'fnn[progress]'``), else a plain line. Results are bit-identical with and without it.

    Returns
    -------
    FitResult
        ``params``, ``opt_state`` and ``history`` (per-epoch ``loss`` and ``accuracy``,
        averaged over the epoch's batches as they were trained, and ``val_loss``,
        ``val_accuracy`` after the epoch). Accuracy arrays are empty for every mse network,
        a sigmoid output with the mse loss (seed 001) included.

    Raises
    ------
    FloatingPointError
        When an epoch's loss, or its validation loss, is not finite; the arguments are left
        unchanged.
    KeyboardInterrupt
        On Ctrl-C, within about a batch (see the README's "Errors and guarantees"); its
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
    checks.network(net)
    dtype = checks.params_of(net.sizes, params)
    name = optimizer_name(opt)
    entry = OPTIMIZERS[name]
    epochs = checks.integer("epochs", epochs, 0, checks.MAX_STEPS)
    l2 = checks.real("l2", l2, low=0.0)
    seed = seed_of(key)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    Y = checks.targets("y", y, net, X.shape[0], dtype)
    n = X.shape[0]
    batch = n if batch_size is None else min(checks.integer("batch_size", batch_size, 1), n)
    X_val, Y_val = _validation_data(net, validation, dtype)
    if early_stopping is not None:
        early_stopping = checks.early_stopping_of("early_stopping", early_stopping)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {checks.describe(callback)}")
    progress = checks.flag("progress", progress)
    state = opt_init(opt, params) if opt_state is None else opt_state
    state = checks.opt_state_of("opt_state", state, name, entry.n_slots, net.sizes, dtype)

    theta = pack(params, dtype)
    slots = pack_slots(state.slots, theta.size, dtype)
    hyper = hyperparameters(opt)
    batches_per_epoch = -(-n // batch)
    if epochs > (checks.MAX_STEPS - state.step) // batches_per_epoch:
        raise ValueError(
            f"epochs must be <= {(checks.MAX_STEPS - state.step) // batches_per_epoch} "
            f"(the update count, an int64, must stay <= {checks.MAX_STEPS}), got {epochs}"
        )
    first_epoch = state.step // batches_per_epoch
    step = state.step
    records = np.zeros((4, min(epochs, FIRST_RECORDS)))  # loss, acc, val_loss, val_acc / epoch
    has_val = X_val.shape[0] > 0
    best_value, best_theta, best_epoch, waited = np.inf, theta, -1, 0
    per_epoch = early_stopping is not None or callback is not None
    classifier = LOSSES[net.loss].labels != "targets"
    shown = (True, classifier, has_val, has_val and classifier)  # loss, acc, val_loss, val_acc
    show = progress_display.printer(epochs, shown) if progress else None
    epochs_per_call = 1  # when something must run between epochs
    done = 0
    stopped = False
    while done < epochs:
        count = min(epochs - done, max(1, MAX_UPDATES_PER_CALL // batches_per_epoch))
        if per_epoch:
            count = 1
        elif show is not None:
            count = min(count, epochs_per_call)
        started = time.perf_counter()
        try:
            run = engine.run(
                net, theta, X=X, Y=Y, X_eval=X_val, Y_eval=Y_val if has_val else None, slots=slots,
                opt_code=entry.code, hyper=hyper, step=step, l2=l2, seed=seed,
                lrs=learning_rates(opt, step, count * batches_per_epoch),
                first_epoch=first_epoch + done, epochs=count, batch=batch, purpose="fit",
                on_compile=None if show is None else _compiling(show),
            )  # fmt: skip
        except KeyboardInterrupt as interrupt:
            _attach_history(interrupt, net, records[:, :done], has_val)
            raise
        theta, slots, finished = run.theta, run.slots, run.done
        if done + count > records.shape[1]:
            records = _grown(records, min(epochs, max(2 * records.shape[1], done + count)))
        records[:, done : done + finished] = run.records[:, :finished]
        step += finished * batches_per_epoch
        if finished < count:
            raise FloatingPointError(
                f"loss is not finite at epoch {done + finished} of this fit call "
                f"(loss {run.records[0, finished]}); lower the learning rate or check the data"
            )
        if has_val and not np.isfinite(run.records[2, :count]).all():
            bad = int(np.argmin(np.isfinite(run.records[2, :count])))
            raise FloatingPointError(
                f"val_loss is not finite at epoch {done + bad} of this fit call "
                f"(val_loss {run.records[2, bad]}); check the validation data"
            )
        if not np.isfinite(theta).all():  # the losses come before each update: check the last
            raise FloatingPointError(
                f"parameters are not finite after epoch {done + count - 1} of this fit call; "
                "lower the learning rate or check the data"
            )
        done += count
        if show is not None:
            show(done, records[:, :done])
            epochs_per_call = progress_display.next_chunk(
                epochs_per_call, time.perf_counter() - started
            )
        if early_stopping is not None:
            watched = records[2 if has_val else 0, done - 1]
            if watched < best_value - early_stopping.min_delta:
                best_value, best_theta, best_epoch, waited = watched, theta, done - 1, 0
            else:
                waited += 1
                stopped = waited >= early_stopping.patience
        if callback is not None:
            history = _history(net, records[:, :done], has_val)
            answer = callback(done - 1, unpack(theta, net.sizes), history)
            if answer is not None and not isinstance(answer, (bool, np.bool_)):
                raise TypeError(
                    f"callback must return a bool (True stops training) or None, got "
                    f"{checks.describe(answer)}"
                )
            stopped = bool(answer) or stopped
        if stopped:
            break
    params_epoch = done - 1 if done else None
    if early_stopping is not None and early_stopping.restore_best and best_epoch >= 0:
        theta, params_epoch = best_theta, best_epoch
    stopped_epoch = done - 1 if stopped and done < epochs else None
    if show is not None:
        show(None, None, _ending(stopped_epoch, params_epoch, epochs))
    history = _history(net, records[:, :done], has_val, stopped_epoch, params_epoch)
    new_state = OptState(name, step, unpack_slots(slots, net.sizes))
    return FitResult(unpack(theta, net.sizes), new_state, history)


def _attach_history(interrupt: KeyboardInterrupt, net: Net, records, has_val: bool) -> None:
    """Give ``interrupt`` a ``history``: the epochs finished before Ctrl-C (see ``fit``)."""
    stopped = vars(interrupt).pop("partial", None)  # the engine's stopped call, if any
    if stopped is not None:
        records = np.concatenate([records, stopped.records[:, : stopped.done]], axis=1)
    interrupt.history = _history(net, records, has_val)


def _grown(records: np.ndarray, columns: int) -> np.ndarray:
    """``records`` copied into a zero array of ``columns`` epochs."""
    grown = np.zeros((records.shape[0], columns))
    grown[:, : records.shape[1]] = records
    return grown


def _compiling(show):
    """The progress display's hook for a first-use compilation: say so before epoch 1."""
    return lambda: show(0, None, "compiling kernels (first use)")


def _ending(stopped_epoch: int | None, params_epoch: int | None, epochs: int) -> str:
    """The progress display's last words: how training ended, which parameters came back."""
    if stopped_epoch is None:
        return ""
    text = f"stopped early after epoch {stopped_epoch + 1}/{epochs}"
    if params_epoch is not None and params_epoch != stopped_epoch:
        text += f"; returned the parameters of epoch {params_epoch + 1} (best)"
    return text


def _validation_data(net: Net, validation, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(X_val, Y_val)``; empty arrays when there is no validation data."""
    if validation is None:
        return np.zeros((0, net.sizes[0]), dtype), np.zeros((0, net.sizes[-1]), dtype)
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise TypeError(
            f"validation must be a pair (X_val, y_val), got {checks.describe(validation)}"
        )
    X_val = checks.inputs("validation[0]", validation[0], net.sizes[0], dtype)
    return X_val, checks.targets("validation[1]", validation[1], net, X_val.shape[0], dtype)


def _history(
    net: Net,
    records: np.ndarray,
    has_val: bool,
    stopped_epoch: int | None = None,
    params_epoch: int | None = None,
) -> History:
    """A History of copies of the first epochs' records (later epochs never alter it)."""
    empty = np.zeros(0)
    loss, acc, val_loss, val_acc = (row.copy() for row in records)
    if LOSSES[net.loss].labels == "targets":
        acc = val_acc = empty
    if not has_val:
        val_loss = val_acc = empty
    columns = (frozen(np.array(column)) for column in (loss, acc, val_loss, val_acc))
    return History(*columns, stopped_epoch, params_epoch)

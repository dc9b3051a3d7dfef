"""Between epochs: early stopping, the plateau watch, the callback and the History.

What every training loop (``fit``, its L-BFGS path, ``fit_many``'s members, Ray Tune's
trials) does between two epochs, kept apart from the loops so that each reads the same
rules: the checked validation data, the early-stopping record, reduce-on-plateau's watcher,
the user's callback, and the History of the epochs run. None of it calls the engine. The
kernels' early stopping follows the same rule where no Python runs between epochs (``fit``
without a callback or a monitored function, ``fit_many``'s members):
``fnn.kernels._watch_best``, tested against :func:`watch_best`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from fnn import checks
from fnn.flat import frozen
from fnn.registry import LOSSES
from fnn.types import EarlyStopping, History, Net, Params, Plateau, ReduceOnPlateau
from fnn.weights import sample_weights


def early_stopping(
    patience: int = 10,
    min_delta: float = 0.0,
    restore_best: bool = True,
    monitor: str | Callable | None = None,
    mode: str | None = None,
) -> EarlyStopping:
    """Stop ``fit`` after ``patience`` epochs without the monitored value improving by
    ``min_delta``.

    An epoch improves when its value is below ``best - min_delta`` (mode ``"min"``) or above
    ``best + min_delta`` (mode ``"max"``), ``best`` the best value of the earlier epochs of
    this ``fit`` call.

    Parameters
    ----------
    patience : int, >= 1
        Epochs without improvement before training stops.
    min_delta : float, >= 0
        Smallest change that counts as an improvement.
    restore_best : bool
        Return the parameters and the optimizer state at the end of the best epoch rather
        than the last one, as a pair: resuming from them continues from the best epoch. The
        history still runs to the last epoch.
    monitor : None, str or callable
        What to watch after each epoch:

        * None: ``"val_loss"`` when ``fit`` has validation data, else ``"loss"``;
        * a History field: ``"loss"``, ``"accuracy"`` (the epoch's training batches as they
          were trained), ``"val_loss"`` or ``"val_accuracy"`` (the validation rows after the
          epoch). ``"val_*"`` needs ``fit(..., validation=...)`` and the accuracies a
          classifier's loss (bce, ce): else ``fit`` raises a ValueError;
        * a function ``monitor(net, params, X_val, y_val) -> float``, called after each
          epoch with the network, the parameters at the end of the epoch (read-only, as the
          callback gets them) and ``X_val``, ``y_val`` of ``fit``'s ``validation`` exactly as
          given (without ``w_val``); it needs validation data. Its values are recorded in
          ``history.monitor``; anything but a finite real number (a float, an int or a 0-d
          array) stops ``fit`` with a TypeError (not a number) or a ValueError (not finite).
          E.g. ``lambda net, params, X, y: fnn.r2_score(y, fnn.predict(net, params, X))``
          with ``mode="max"``.
    mode : "min", "max" or None
        Whether lower or higher values are better. None: ``"max"`` for ``"accuracy"`` and
        ``"val_accuracy"``, ``"min"`` for the losses and for ``monitor=None``; a function
        needs it given (ValueError otherwise).

    Returns
    -------
    EarlyStopping
        A config for ``fit(..., early_stopping=...)``, with ``mode`` resolved.

    Examples
    --------
    >>> import fnn
    >>> fnn.early_stopping(patience=20)
    EarlyStopping(patience=20, min_delta=0.0, restore_best=True, monitor=None, mode='min')
    >>> fnn.early_stopping(monitor="val_accuracy").mode
    'max'
    """
    config = EarlyStopping(patience, min_delta, restore_best, monitor, mode)
    return checks.early_stopping_of(None, config)


def reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    min_delta: float = 0.0,
    min_lr: float = 0.0,
    cooldown: int = 0,
    eps: float = 1e-8,
    monitor: str | Callable | None = None,
    mode: str | None = None,
) -> ReduceOnPlateau:
    """Cut the learning rate when the monitored value stops improving (PyTorch's semantics).

    The monitored value is ``val_loss`` when ``fit`` has validation data, else the training
    loss, unless ``monitor`` says otherwise (as in :func:`early_stopping`). After each epoch,
    as ``torch.optim.lr_scheduler.ReduceLROnPlateau(mode=mode, threshold_mode="abs",
    threshold=min_delta)`` does: the epoch improves when its value is below ``best -
    min_delta`` (mode ``"max"``: above ``best + min_delta``), and then ``best`` is that value;
    after more than ``patience`` epochs in a row without improvement (PyTorch counts so; Keras
    cuts after ``patience``) the rate of the next update ``lr`` becomes ``max(lr * factor,
    min_lr)``, unless that changes it by ``eps`` or less, and ``cooldown`` epochs follow in
    which bad epochs are not counted.

    The cut is a ``scale`` on every rate of the optimizer's schedule, kept with the best
    score and the counters in ``result.opt_state.plateau``: ``fit(..., opt_state=...)``
    continues the watch bit for bit (``2k`` epochs in one call equal ``k + k`` in two), and
    :func:`fnn.opt_step` applies the same scale. By hand, watch the loss yourself and build
    the optimizer anew with the lower rate, ``opt._replace(learning_rate=lr * factor)``.

    Parameters
    ----------
    factor : float in (0, 1)
        Multiplies the rate at each cut.
    patience : int >= 0
        Epochs without improvement that are tolerated; the next one cuts.
    min_delta : float >= 0
        Smallest change of the monitored value that counts as an improvement.
    min_lr : float >= 0
        The cut never takes the rate below this (a schedule may, later).
    cooldown : int >= 0
        Epochs after a cut during which no bad epoch is counted.
    eps : float >= 0
        A cut that changes the rate by ``eps`` or less is skipped.
    monitor : None, str or callable
        None, a History field's name or a function ``(net, params, X_val, y_val) -> float``,
        exactly as in :func:`early_stopping`. When both watch a function it must be the same
        one (the history records one).
    mode : "min", "max" or None
        As in :func:`early_stopping`.

    Returns
    -------
    ReduceOnPlateau
        A config for ``fit(..., reduce_on_plateau=...)``, with ``mode`` resolved.

    Examples
    --------
    >>> import fnn
    >>> fnn.reduce_on_plateau(factor=0.5, patience=5)
    ReduceOnPlateau(factor=0.5, patience=5, min_delta=0.0, min_lr=0.0, cooldown=0, eps=1e-08,
                    monitor=None, mode='min')
    """
    config = ReduceOnPlateau(factor, patience, min_delta, min_lr, cooldown, eps, monitor, mode)
    return checks.reduce_on_plateau_of(None, config)


def validation_data(net: Net, validation, dtype) -> tuple[np.ndarray, np.ndarray, object]:
    """``fit``'s ``validation`` argument, checked.

    Parameters
    ----------
    net : Net
    validation : (X_val, y_val), (X_val, y_val, w_val) or None
    dtype : float32 or float64
        Of the parameters: the rows are converted to it.

    Returns
    -------
    X_val : ndarray, shape (n_val, sizes[0])
    Y_val : ndarray, shape (n_val, sizes[-1])
        The labels or targets in the engine's form (as ``checks.targets`` gives them).
    weights : ndarray, shape (n_val,), or None
        The rows' weights; None when every row weighs 1. Without validation data, ``n_val``
        is 0 and ``weights`` None.
    """
    if validation is None:
        return np.zeros((0, net.sizes[0]), dtype), np.zeros((0, net.sizes[-1]), dtype), None
    if not isinstance(validation, (tuple, list)) or len(validation) not in (2, 3):
        raise TypeError(
            "validation must be a pair (X_val, y_val) or a triple (X_val, y_val, w_val), got "
            f"{checks.describe(validation)}"
        )
    X_val = checks.inputs("validation[0]", validation[0], net.sizes[0], dtype)
    n_val = X_val.shape[0]
    Y_val = checks.targets("validation[1]", validation[1], net, n_val, dtype)
    given = validation[2] if len(validation) == 3 else None
    return X_val, Y_val, sample_weights("validation[2]", given, n_val, dtype)


# -- what the watchers monitor ------------------------------------------------------------------

#: The row of a training loop's records (shape ``(5, epochs)``) holding each History field a
#: watcher may monitor by name; row 4 holds a monitored function's values.
RECORD_ROWS = {"loss": 0, "accuracy": 1, "val_loss": 2, "val_accuracy": 3}
FUNCTION_ROW = 4


class Watching(NamedTuple):
    """What the watchers of one ``fit`` read after each epoch (see :func:`watching`).

    Attributes
    ----------
    early_row, plateau_row : int or None
        The records' row that early stopping, reduce-on-plateau watches (None: no watcher).
    function : callable or None
        The monitored function, whose value goes into row :data:`FUNCTION_ROW`; None when
        no watcher monitors a function.
    """

    early_row: int | None
    plateau_row: int | None
    function: Callable | None


def watching(
    net: Net,
    has_val: bool,
    early_stopping: EarlyStopping | None,
    reduce_on_plateau: ReduceOnPlateau | None,
) -> Watching:
    """The rows that ``fit``'s checked watchers read; ValueError, naming the watcher, for a
    monitor this ``fit`` cannot give: ``"val_*"`` or a function without validation data, an
    accuracy for a loss without one, two different functions."""
    rows = []
    functions = []
    for name, config in (("early_stopping", early_stopping),
                         ("reduce_on_plateau", reduce_on_plateau)):  # fmt: skip
        if config is None:
            rows.append(None)
            continue
        monitor = config.monitor
        if monitor is None:
            rows.append(RECORD_ROWS["val_loss" if has_val else "loss"])
            continue
        if callable(monitor):
            if not has_val:
                raise ValueError(
                    f"{name}.monitor is a function of the validation data, but fit has no "
                    "validation: pass validation=(X_val, y_val)"
                )
            functions.append(monitor)
            rows.append(FUNCTION_ROW)
            continue
        if monitor.startswith("val_") and not has_val:
            raise ValueError(
                f"{name}.monitor={monitor!r} needs validation data: pass "
                f"validation=(X_val, y_val), or monitor {monitor[4:]!r}"
            )
        if monitor.endswith("accuracy") and LOSSES[net.loss].labels == "targets":
            raise ValueError(
                f"{name}.monitor={monitor!r}, but the {net.loss!r} loss has no accuracy: "
                "monitor 'loss', 'val_loss' or a function"
            )
        rows.append(RECORD_ROWS[monitor])
    if len(functions) == 2 and functions[0] is not functions[1]:
        raise ValueError(
            "early_stopping.monitor and reduce_on_plateau.monitor must be the same function "
            "when both are functions (history.monitor records one), got "
            f"{checks.describe(functions[0])} and {checks.describe(functions[1])}"
        )
    return Watching(*rows, functions[0] if functions else None)


def monitored(function: Callable, net: Net, params: Params, X_val, y_val, epoch: int) -> float:
    """``function(net, params, X_val, y_val)`` after ``epoch`` (of this fit call), checked:
    TypeError when it is not a real number (a float, an int, a 0-d array of reals),
    ValueError when it is not finite."""
    value = function(net, params, X_val, y_val)
    scalar = isinstance(value, numbers.Real) or (
        isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf"
    )
    if isinstance(value, (bool, np.bool_)) or not scalar:
        raise TypeError(
            f"monitor must return a real number, got {checks.describe(value)} after epoch "
            f"{epoch} of this fit call"
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(
            f"monitor must return a finite number, got {value} after epoch {epoch} of this fit call"
        )
    return value


def score(mode: str, value: float) -> float:
    """What the watchers minimise: the monitored value, or minus it in mode ``"max"``."""
    return value if mode == "min" else -value


def sign_of(mode: str) -> float:
    """The factor of a watcher's :func:`score` (1.0 or -1.0), as the kernels' watches take it."""
    return 1.0 if mode == "min" else -1.0


# -- early stopping ------------------------------------------------------------------------------


class Best(NamedTuple):
    """Early stopping's record after an epoch.

    Attributes
    ----------
    value : float
        The best score so far (:func:`score`: the monitored value, negated in mode
        ``"max"``; ``inf`` before the first epoch).
    point : object
        What the training loop keeps of the best epoch (``fit``: its whole training state
        ``(theta, slots, step, plateau)``; L-BFGS: its parameter vector), None before it.
    epoch : int
        The best epoch, counted from 0 in this call (-1 before the first).
    waited : int
        Epochs since the best one.
    """

    value: float
    point: object
    epoch: int
    waited: int


#: The record before the first epoch.
NO_BEST = Best(np.inf, None, -1, 0)


def watch_best(
    config: EarlyStopping, best: Best, watched: float, epoch: int, point
) -> tuple[Best, bool]:
    """Early stopping after an epoch whose monitored value is ``watched``.

    The epoch improves when its score (``watched``, negated in mode ``"max"``) is below
    ``best.value - config.min_delta``: it becomes the best, with ``point``. Otherwise one
    more epoch has waited, and training stops once ``config.patience`` have.

    Parameters
    ----------
    config : EarlyStopping
        Checked (``mode`` resolved).
    best : Best
        The record before this epoch (:data:`NO_BEST` before the first).
    watched : float
        This epoch's monitored value.
    epoch : int
        This epoch, counted from 0 in this call.
    point : object
        What to keep of this epoch should it be the best (kept as is, not copied).

    Returns
    -------
    best : Best
        The record after this epoch.
    stop : bool
        Whether training stops here.
    """
    value = score(config.mode, watched)
    if value < best.value - config.min_delta:
        return Best(value, point, epoch, 0), False
    waited = best.waited + 1
    return best._replace(waited=waited), waited >= config.patience


# -- reduce on plateau ---------------------------------------------------------------------------


def epochs_before_a_cut(config: ReduceOnPlateau, plateau: Plateau) -> int:
    """Epochs that certainly run before the watcher can cut the rate, at least 1.

    A cut needs more than ``config.patience`` bad epochs, counted once the cooldown is over,
    so ``patience + 1 - bad_epochs + cooldown_left`` epochs can run in one engine call at the
    current rate.
    """
    return max(1, config.patience + 1 - plateau.bad_epochs + plateau.cooldown_left)


def watch_plateau(
    config: ReduceOnPlateau, plateau: Plateau, value: float, next_rate: Callable[[], float]
) -> Plateau:
    """The plateau watcher after an epoch whose monitored value is ``value``.

    Parameters
    ----------
    config : ReduceOnPlateau
        Checked (``mode`` resolved).
    plateau : Plateau
        The watcher before this epoch: ``scale`` of the rates, ``best`` score, ``bad_epochs``,
        ``cooldown_left``.
    value : float
        This epoch's monitored value; its score (:func:`score`) is compared with ``best``.
    next_rate : callable
        ``next_rate()`` is the unscaled learning rate ``r`` of the next update; called only
        when a cut is due.

    Returns
    -------
    Plateau
        The watcher after this epoch. A cut takes the rate ``r * scale`` to
        ``max(r * scale * factor, min_lr)`` (skipped when that changes it by ``eps`` or less)
        and starts ``cooldown`` epochs in which bad epochs are not counted.
    """
    scale, best, bad, cooldown = plateau
    value = score(config.mode, value)
    if value < best - config.min_delta:
        best, bad = float(value), 0
    else:
        bad += 1
    if cooldown > 0:
        cooldown, bad = cooldown - 1, 0
    if bad > config.patience:
        base = next_rate()
        rate = base * scale
        cut = max(rate * config.factor, config.min_lr)
        if rate - cut > config.eps:
            scale = scale * config.factor if cut > config.min_lr else config.min_lr / base
        cooldown, bad = config.cooldown, 0
    return Plateau(scale, best, bad, cooldown)


# -- callback and history ------------------------------------------------------------------------


def stop_requested(
    callback: Callable[[int, Params, History], bool | None],
    epoch: int,
    params: Params,
    history: History,
) -> bool:
    """Call the user's ``callback(epoch, params, history)``; True when it asks to stop.

    Raises
    ------
    TypeError
        When the callback returns anything but a bool or None.
    """
    answer = callback(epoch, params, history)
    if answer is not None and not isinstance(answer, (bool, np.bool_)):
        raise TypeError(
            f"callback must return a bool (True stops training) or None, got "
            f"{checks.describe(answer)}"
        )
    return bool(answer)


def history_of(
    net: Net,
    records: np.ndarray,
    has_val: bool,
    stopped_epoch: int | None = None,
    params_epoch: int | None = None,
    monitored: bool = False,
) -> History:
    """The History of the epochs run.

    Parameters
    ----------
    net : Net
        Its loss says whether there are accuracies (none for mse, huber, ...).
    records : ndarray, shape (4, epochs) or (5, epochs)
        Per epoch: loss, accuracy, val_loss, val_accuracy and (row :data:`FUNCTION_ROW`) a
        monitored function's value (copied: later writes into ``records`` never alter the
        History).
    has_val : bool
        Whether there were validation rows (else the val_ fields are empty).
    stopped_epoch, params_epoch : int or None
        As :class:`fnn.History` holds them.
    monitored : bool
        Whether a function was monitored (else ``monitor`` is empty).

    Returns
    -------
    History
        Read-only float64 arrays, empty for the rows that do not apply.
    """
    empty = np.zeros(0)
    loss, acc, val_loss, val_acc = (row.copy() for row in records[:4])
    if LOSSES[net.loss].labels == "targets":
        acc = val_acc = empty
    if not has_val:
        val_loss = val_acc = empty
    monitor = records[FUNCTION_ROW].copy() if monitored else empty
    loss, acc, val_loss, val_acc, monitor = (
        frozen(np.array(column)) for column in (loss, acc, val_loss, val_acc, monitor)
    )
    return History(loss, acc, val_loss, val_acc, stopped_epoch, params_epoch, monitor)


def attach_history(
    interrupt: KeyboardInterrupt, net: Net, records, has_val: bool, monitored: bool = False
) -> None:
    """Give a Ctrl-C's ``interrupt`` a ``history``: the epochs finished before it.

    ``records`` (shape ``(5, epochs)``) are the epochs of the engine calls that returned; the
    engine's call that Ctrl-C stopped, if any, rides on the interrupt as ``partial`` (an
    EngineRun) and adds its ``done`` finished epochs (whose monitored function, if any, never
    ran: NaN).
    """
    stopped = vars(interrupt).pop("partial", None)
    if stopped is not None:
        finished = stopped.records[:, : stopped.done]
        unmonitored = np.full((records.shape[0] - finished.shape[0], stopped.done), np.nan)
        records = np.concatenate([records, np.concatenate([finished, unmonitored])], axis=1)
    interrupt.history = history_of(net, records, has_val, monitored=monitored)


def ending(stopped_epoch: int | None, params_epoch: int | None, epochs: int) -> str:
    """The progress display's last words: how training ended, which parameters came back
    (empty when training ran every epoch)."""
    if stopped_epoch is None:
        return ""
    text = f"stopped early after epoch {stopped_epoch + 1}/{epochs}"
    if params_epoch is not None and params_epoch != stopped_epoch:
        text += f"; returned the parameters of epoch {params_epoch + 1} (best)"
    return text

"""Training: keys and mini-batches, standardisation, accuracy, early stopping and fit."""

from __future__ import annotations

import ctypes
import importlib
import sys
import time
from collections.abc import Callable

import numpy as np

from fnn import checks, kernels
from fnn.compile_notice import announce
from fnn.flat import frozen, layout_of, pack, pack_slots, unpack, unpack_slots
from fnn.losses import LOSSES, output_totals
from fnn.model import _codes
from fnn.optim import OPTIMIZERS, hyperparameters, learning_rates, opt_init, optimizer_name
from fnn.types import EarlyStopping, FitResult, History, Net, OptState, Params, Scaler

# Longest stretch of updates one kernel call runs (bounds the learning-rate array).
MAX_UPDATES_PER_CALL = 1_000_000


# -- keys and batches ------------------------------------------------------------------------------


def seed_of(key) -> np.uint64:
    """The 64-bit seed of a key: a non-negative int below 2**64, or a SeedSequence.

    An int is its own seed; a SeedSequence gives its first generated 64-bit word. So for
    shuffles ``key=5`` and ``key=SeedSequence(5)`` differ (``init`` maps both to the same
    generator); each is deterministic.
    """
    if isinstance(key, np.random.SeedSequence):
        return key.generate_state(1, np.uint64)[0]
    key = checks.integer("key", key, minimum=0)
    if key >= 2**64:
        raise ValueError(f"key must be below 2**64, got {key}")
    return np.uint64(key)


def fold_in(key, data: int) -> int:
    """A new key from ``key`` and an integer, as ``jax.random.fold_in``.

    ``fit`` shuffles epoch ``e`` with ``minibatches(fold_in(key, e), n, batch_size)``, where
    ``e`` counts epochs since the optimizer state was created.

    Parameters
    ----------
    key : int or numpy.random.SeedSequence
        A non-negative int below ``2**64``, or a SeedSequence.
    data : int
        A non-negative integer (an epoch, a step, a worker index).

    Returns
    -------
    int
        A 64-bit key; the same ``(key, data)`` always gives the same key.

    Examples
    --------
    >>> import fnn
    >>> fnn.fold_in(0, 3) == fnn.fold_in(0, 3) != fnn.fold_in(0, 4)
    True
    """
    data = checks.integer("data", data, minimum=0)
    return int(kernels.fold_in(seed_of(key), np.uint64(data % 2**64)))


def minibatches(key, n_samples: int, batch_size: int | None) -> list[np.ndarray]:
    """Index arrays of one epoch: a permutation of ``range(n_samples)`` cut into batches.

    The last batch keeps the remainder (it is not dropped). ``batch_size=None`` or one at least
    ``n_samples`` gives the single full batch in natural order (its gradient does not depend
    on the order).

    Parameters
    ----------
    key : int or numpy.random.SeedSequence
        Fixes the permutation.
    n_samples : int
    batch_size : int or None

    Returns
    -------
    list of ndarray
        Read-only int64 index arrays of length ``batch_size`` (the last one possibly
        shorter), together a permutation of ``range(n_samples)``.

    Examples
    --------
    >>> import fnn
    >>> [len(batch) for batch in fnn.minibatches(0, 10, 4)]
    [4, 4, 2]
    """
    n_samples = checks.integer("n_samples", n_samples, minimum=1)
    if batch_size is None or checks.integer("batch_size", batch_size, minimum=1) >= n_samples:
        return [frozen(np.arange(n_samples))]
    perm = frozen(kernels.permutation(seed_of(key), n_samples))
    return [perm[start : start + batch_size] for start in range(0, n_samples, batch_size)]


# -- data helpers ---------------------------------------------------------------------------------


def standardizer(X) -> Scaler:
    """Per-feature mean and standard deviation of X (constant features get scale 1).

    Fit it on the training rows only, then apply :func:`standardize` to every split.

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)

    Returns
    -------
    Scaler
        ``mean`` and ``scale`` (the population standard deviation, ``ddof=0``), each of shape
        (n_features,), in X's float dtype (float64 for integer X).

    Examples
    --------
    >>> import fnn, numpy as np
    >>> scaler = fnn.standardizer(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> scaler.mean.tolist(), scaler.scale.tolist()
    ([2.0, 5.0], [1.0, 1.0])
    """
    array = checks.inputs("X", X, None, None)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = array.mean(axis=0)
        scale = array.std(axis=0)
    checks.finite_result("X", (mean, scale), "its column means or standard deviations overflow")
    scale[scale == 0] = 1
    return Scaler(frozen(mean), frozen(scale))


def standardize(scaler: Scaler, X) -> np.ndarray:
    """``(X - scaler.mean) / scaler.scale``, a new read-only array.

    Parameters
    ----------
    scaler : Scaler
        From :func:`standardizer`.
    X : array_like, shape (n_samples, n_features)

    Returns
    -------
    ndarray, shape (n_samples, n_features)
        In the scaler's dtype (float32 scalers keep float32 data float32).

    Examples
    --------
    >>> import fnn, numpy as np
    >>> scaler = fnn.standardizer(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> fnn.standardize(scaler, np.array([[3.0, 6.0]])).tolist()
    [[1.0, 1.0]]
    """
    checks.scaler_of("scaler", scaler)
    n_features = scaler.mean.shape[0]
    X = checks.inputs("X", X, n_features, np.result_type(scaler.mean.dtype, np.float32))
    with np.errstate(over="ignore", invalid="ignore"):
        result = (X - scaler.mean) / scaler.scale
    checks.finite_result("X", (result,), "(X - scaler.mean) / scaler.scale overflows")
    return frozen(result)


def accuracy(net: Net, params: Params, X, y) -> float:
    """Fraction of rows classified right, from the logits: argmax for softmax, z > 0 per sigmoid.

    Parameters
    ----------
    net : Net
        A classifier (loss ``"bce"`` or ``"ce"``).
    params : Params
    X : array_like, shape (n_samples, sizes[0])
    y : array_like
        Labels as :func:`fnn.loss` takes them (for several sigmoid units, a row counts as
        right only when every unit is).

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        For a regression (mse) network.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([1, 1])
    >>> params = fnn.Params((fnn.Layer(np.ones((1, 1)), np.zeros(1)),))  # p = sigmoid(x)
    >>> fnn.accuracy(net, params, [[-1.0], [2.0], [3.0]], [0, 1, 0])
    0.6666666666666666
    """
    checks.network(net)
    if net.loss == "mse":
        raise ValueError("accuracy needs a classification net (loss 'bce' or 'ce'), got 'mse'")
    dtype = checks.params_of(net.sizes, params)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    Y = checks.targets("y", y, net, X.shape[0], dtype)
    theta = pack(params, dtype)
    _, correct = output_totals(net, X, Y, theta, layout_of(net.sizes), "accuracy")
    return correct / X.shape[0]


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
    return EarlyStopping(
        checks.integer("patience", patience, minimum=1),
        checks.real("min_delta", min_delta, low=0.0),
        checks.flag("restore_best", restore_best),
    )


# -- fit ------------------------------------------------------------------------------------------


def _blas_thread_setters() -> list:
    """``set(n) -> previous`` of every loaded OpenBLAS that limits threads per calling thread.

    Numba's ``np.dot`` calls the BLAS that SciPy links (OpenBLAS in the wheels). ``fit`` runs
    serially: the products of one mini-batch are too small to share between threads, and
    OpenBLAS's waiting threads cost far more than they save (measured on 2 cores:
    moons-gd 10x slower with 2 BLAS threads than with 1 when another process is busy).
    Linux only (reads ``/proc/self/maps``); elsewhere, or for another BLAS, an empty list.
    """
    try:
        importlib.import_module("scipy.linalg.cython_blas")  # what np.dot loads anyway
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1]}
    except (ImportError, OSError):
        return []
    setters = []
    for path in sorted(paths):
        try:
            setters.append(ctypes.CDLL(path).openblas_set_num_threads_local)
        except (OSError, AttributeError):
            continue
    return setters


def _serially(setters: list, function, *args):
    """``function(*args)`` with one BLAS thread in this thread, restored afterwards."""
    previous = [setter(1) for setter in setters]
    try:
        return function(*args)
    finally:
        for setter, count in zip(setters, previous):
            setter(count)


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
        ``callback(epoch, params, history) -> bool`` after every epoch; True stops training.
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
        When an epoch's loss is not finite; the arguments are left unchanged.

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
    spec = OPTIMIZERS[name]
    epochs = checks.integer("epochs", epochs, minimum=0)
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
    state = checks.opt_state_of("opt_state", state, name, spec.n_slots, net.sizes, dtype)

    theta = pack(params, dtype)
    slots = pack_slots(state.slots, theta.size, dtype)
    layout, codes, hyper = layout_of(net.sizes), _codes(net), hyperparameters(opt)
    batches_per_epoch = -(-n // batch)
    first_epoch = state.step // batches_per_epoch
    step = state.step
    records = np.zeros((4, epochs))  # loss, accuracy, val_loss, val_accuracy per epoch
    has_val = X_val.shape[0] > 0
    best_value, best_theta, best_epoch, waited = np.inf, theta, -1, 0
    per_epoch = early_stopping is not None or callback is not None
    classifier = net.loss != "mse"
    shown = (True, classifier, has_val, has_val and classifier)  # loss, acc, val_loss, val_acc
    show = None  # the progress display, made after any compile notice
    chunk = 1  # epochs per kernel call when something must run between epochs
    done = 0
    blas = _blas_thread_setters()
    stopped = False
    while done < epochs:
        count = min(epochs - done, max(1, MAX_UPDATES_PER_CALL // batches_per_epoch))
        if per_epoch:
            count = 1
        elif progress:
            count = min(count, chunk)
        args = (
            X, Y, theta, layout, codes, LOSSES[net.loss].code, spec.code, hyper, slots, step,
            learning_rates(opt, step, count * batches_per_epoch), l2, seed, first_epoch + done,
            count, batch, X_val, Y_val,
        )  # fmt: skip
        if done == 0:
            compiling = announce(kernels.train_epochs, args, 2, "fit")
            if progress:
                show = _progress_printer(epochs, shown)
                if compiling:
                    show(0, None, "compiling kernels (first use)")
        started = time.perf_counter()
        theta, slots, *columns, finished = _serially(blas, kernels.train_epochs, *args)
        records[:, done : done + finished] = np.array(columns)[:, :finished]
        step += finished * batches_per_epoch
        if finished < count:
            raise FloatingPointError(
                f"loss is not finite at epoch {done + finished} of this fit call "
                f"(loss {columns[0][finished]}); lower the learning rate or check the data"
            )
        if not np.isfinite(theta).all():  # the losses come before each update: check the last
            raise FloatingPointError(
                f"parameters are not finite after epoch {done + count - 1} of this fit call; "
                "lower the learning rate or check the data"
            )
        done += count
        if show is not None:
            show(done, records[:, :done])
            chunk = _next_chunk(chunk, time.perf_counter() - started)
        if early_stopping is not None:
            watched = records[2 if has_val else 0, done - 1]
            if watched < best_value - early_stopping.min_delta:
                best_value, best_theta, best_epoch, waited = watched, theta, done - 1, 0
            else:
                waited += 1
                stopped = waited >= early_stopping.patience
        if callback is not None:
            history = _history(net, records[:, :done], has_val)
            stopped = bool(callback(done - 1, unpack(theta.copy(), net.sizes), history)) or stopped
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
    if net.loss == "mse":
        acc = val_acc = empty
    if not has_val:
        val_loss = val_acc = empty
    columns = (frozen(np.array(column)) for column in (loss, acc, val_loss, val_acc))
    return History(*columns, stopped_epoch, params_epoch)


def _next_chunk(chunk: int, seconds: float) -> int:
    """Epochs for the next kernel call when a progress display is on.

    Aims at about 0.2 s per call, so the display refreshes about 5 times a second and the
    few extra calls cost well under 1 % of the run. ``seconds`` is how long the last call of
    ``chunk`` epochs took. The chunk shrinks at once when a call ran long but at most doubles
    per call: the first call may have included compilation, and on a busy machine a single
    quick call says little about the next one.
    """
    if seconds <= 0.0:
        return chunk * 2
    return max(1, min(chunk * 2, int(chunk * 0.2 / seconds)))


def _progress_printer(
    epochs: int, shown_rows=(True, True, False, False), *, interval: float = 0.2, file=None,
    use_tqdm: bool = True,
):  # fmt: skip
    """A ``show(done, records, note="")`` function for ``fit(progress=True)``.

    ``show(done, records)`` reports that ``done`` of ``epochs`` epochs are finished, with
    ``records`` the (4, done) rows loss, accuracy, val_loss, val_accuracy;
    ``show(0, None, note)`` shows a state before the first epoch (e.g. compiling) at once;
    ``show(None, None, note)`` draws the final state, ends the display and, when ``note`` is
    not empty, prints it on a line of its own (how training ended). It redraws at most once
    per ``interval`` seconds whatever the call rate (``fit`` calls it after every epoch when
    early stopping or a callback is on), and only then formats anything. The display is a
    tqdm bar when tqdm is installed (``pip install 'fnn[progress]'``) and ``use_tqdm``, else
    one line rewritten in place on ``file`` (default ``sys.stderr``). ``shown_rows`` says
    which of the four records to display (accuracy only for classifiers, validation only
    when there is some).
    """
    tqdm = None
    if use_tqdm:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
    stream = sys.stderr if file is None else file
    started = time.perf_counter()
    bar = None
    if tqdm is not None:
        bar = tqdm(total=epochs, unit="epoch", desc="fit", file=stream, mininterval=0.0,
                   dynamic_ncols=True)  # fmt: skip
    # Closure state of this one display (rebound through ``nonlocal``): when it last drew,
    # the latest report, the width of the plain line.
    last_drawn = -np.inf
    latest = None
    width = 0

    def metrics(records) -> str:
        names = ("loss", "accuracy", "val_loss", "val_accuracy")
        formats = (".4g", ".4f", ".4g", ".4f")
        return "  ".join(
            f"{name} {records[row, -1]:{spec}}"
            for row, (name, spec) in enumerate(zip(names, formats))
            if shown_rows[row]
        )

    def draw(done, records, note: str = "") -> None:
        nonlocal width
        text = metrics(records) if done else note
        if bar is not None:
            bar.set_postfix_str(text, refresh=False)
            bar.update(done - bar.n)
            bar.refresh()
            return
        elapsed = time.perf_counter() - started
        line = f"fit: epoch {done}/{epochs} ({100 * done / max(epochs, 1):3.0f} %)  {text}"
        line += f"  [{elapsed:.1f} s"
        if 0 < done < epochs:
            line += f", {elapsed * (epochs - done) / done:.0f} s left"
        line += "]"
        print(f"\r{line:<{width}}", end="", file=stream, flush=True)
        width = len(line)

    def show(done, records, note: str = "") -> None:
        nonlocal last_drawn, latest
        if done is None:
            if latest is not None:
                draw(*latest)
            if bar is not None:
                bar.close()
            elif width:  # a line was drawn: end it
                print(file=stream, flush=True)
            if note:
                print(f"fit: {note}", file=stream, flush=True)
            return
        if records is None:  # a state before the first epoch: draw it now
            draw(done, None, note)
            return
        latest = (done, records)
        now = time.perf_counter()
        if now - last_drawn >= interval or done == epochs:
            last_drawn = now
            draw(done, records)
            latest = None

    return show

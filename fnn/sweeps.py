"""Hyperparameter sweeps: settings x keys x folds of ``fit``, side by side in one kernel, or on
threads, joblib, Dask or Ray.

Every trial is one ordinary ``fit`` call on its fold's training rows, validated on the fold's
other rows (or, side by side, the same bits: :mod:`fnn.side_by_side`); the executor only
decides where the calls run. Trial results are therefore the same bits wherever they ran (on
machines of one kind with the same library versions): the trial's key fixes its initial
parameters and its shuffles, and ``fit`` runs its kernels with one BLAS thread, so neither the
number of workers nor the order of the trials changes them.
"""

from __future__ import annotations

import importlib
import itertools
import math
import socket
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from fnn import checks, side_by_side
from fnn.data import fold_in
from fnn.epochs import watching
from fnn.folds import check_folds, is_splitter, split
from fnn.model import init
from fnn.threads import default_threads, map_on_threads
from fnn.train import fit
from fnn.types import (
    EarlyStopping,
    FitResult,
    Fold,
    Net,
    Params,
    Setting,
    SettingSummary,
    SweepSummary,
    TrialResult,
)

#: The names a grid may vary, each overriding the matching argument of :func:`sweep`.
GRID_NAMES = ("opt", "learning_rate", "l2", "epochs", "batch_size")
EXECUTORS = ("members", "threads", "joblib", "ray")


class Trial(NamedTuple):
    """One ``fit`` of a sweep: a setting, a key and a fold (by index)."""

    index: int
    setting: Setting
    key: Any
    fold: int


class SweepData(NamedTuple):
    """Everything the workers need, the trials included; shipped to each worker once."""

    net: Net
    X: np.ndarray
    y: np.ndarray
    folds: tuple[Fold, ...]
    trials: tuple[Trial, ...]
    scheme: str | None
    dtype: np.dtype
    early_stopping: EarlyStopping | None


def sweep(
    net: Net,
    opt,
    X,
    y,
    grid: Mapping[str, Sequence] | Sequence[Mapping[str, Any]] | None = None,
    *,
    folds: Sequence[tuple] | Any,
    keys: Sequence = (0,),
    epochs: int = 100,
    batch_size: int | None = None,
    l2: float = 0.0,
    early_stopping: EarlyStopping | None = None,
    scheme: str | None = None,
    dtype=np.float64,
    executor=None,
    workers: int | None = None,
    groups=None,
) -> tuple[TrialResult, ...]:
    """Train and validate every setting of a grid on every key and fold, in parallel.

    Trial ``(setting, key, fold)`` is exactly ::

        fnn.fit(net, fnn.init(net, key=key, scheme=scheme, dtype=dtype), setting.opt,
                X[fold.train], y[fold.train], epochs=setting.epochs,
                batch_size=setting.batch_size, key=key, l2=setting.l2,
                validation=(X[fold.val], y[fold.val]), early_stopping=early_stopping)

    and its result is bit-identical to that call made locally, whichever executor ran it.
    Every trial is checked before anything runs; a bad one raises a one-line error naming
    it. Numba's disk cache is filled first (one short ``fit`` on two rows, here and, on a
    Dask or Ray cluster, on one worker of each machine), so that workers load the compiled
    kernels instead of compiling them at the same time. Each ``fit`` runs its kernels with
    one BLAS thread, so parallel trials do not oversubscribe the cores.

    Parameters
    ----------
    net : Net
    opt : optimizer config
        The optimizer of every setting whose grid entry does not name one.
    X : array_like, shape (n_samples, sizes[0])
    y : array_like
        Labels or targets as :func:`fnn.fit` takes them.
    grid : dict of sequences, sequence of dicts, or None
        The settings. A dict such as ``{"learning_rate": [1e-3, 1e-2], "l2": [0.0, 0.1]}``
        means every combination of its values (the last name varying fastest); a list of
        dicts lists the settings one by one. Names: ``"opt"`` (an optimizer config),
        ``"learning_rate"`` (replaces the optimizer's), ``"l2"``, ``"epochs"``,
        ``"batch_size"``; a name a setting leaves out takes the argument of the same name.
        None: the one setting given by the arguments.
    folds : sequence of (train, val) index pairs, or a scikit-learn splitter
        Usually ``fnn.kfold(key, len(X), k, stratify=y)``. A splitter (``StratifiedKFold``,
        ``GroupKFold``, ``TimeSeriesSplit``, ...: any object with ``split(X, y, groups)``
        and ``get_n_splits``) gives its ``split(X, y, groups)``, each index array sorted
        (``y`` as class indices when it holds one-hot rows).
    keys : sequence of int or SeedSequence
        Every setting is trained once per key and fold; the key fixes the initial parameters
        (``fnn.init(net, key=key)``) and the shuffles (``fit(..., key=key)``).
    epochs, batch_size, l2 : as in :func:`fnn.fit`
        Defaults of the settings.
    early_stopping : EarlyStopping or None
        Passed to every ``fit``: it watches the fold's validation rows (``val_loss`` unless
        its ``monitor`` says otherwise; a monitored function gets the fold's ``X_val``,
        ``y_val``).
    scheme : str or None
    dtype : float32 or float64
        Of the initial parameters, as in :func:`fnn.init`.
    executor : None, "members", "threads", "joblib", "ray" or a ``distributed.Client``
        Where the trials run. ``"members"``: side by side in one compiled kernel, each trial
        a member in a SIMD lane, on its own fold's rows of one copy of the data, validated
        and stopped early inside the kernel (:mod:`fnn.side_by_side`; the groups of members
        on ``workers`` threads), for a network whose batches run in the engine's loops
        (rows x inputs x units < 8192, or a layer of at most 2 units), the bce or mse loss
        without softmax or the ce loss with it, one kind of optimizer without ``clip_norm``,
        no dropout and no monitored function: a ValueError otherwise. None (the default):
        ``"members"`` when every trial can run that way and it is the faster way (while every
        product of a batch is at most 2048 multiply-adds: :func:`fnn.side_by_side.pays`), else
        ``"threads"``. ``"threads"``: threads of this
        process
        (fnn's kernels release the GIL). ``"joblib"``: ``joblib.Parallel`` (its default
        process pool, or the backend of an enclosing ``joblib.parallel_config``). A Dask
        ``distributed.Client``: its cluster's workers, local or on many machines (``pip
        install 'fnn[dask]'``).
        ``"ray"``: the Ray cluster this process is connected to by ``ray.init(...)``, or a
        local one Ray starts (``pip install 'fnn[ray]'``). The data goes to each process
        once (``client.scatter``, ``ray.put``, one joblib task per process).
    workers : int or None
        Threads or joblib processes; default Numba's thread count (``NUMBA_NUM_THREADS``,
        normally the number of cores). A Dask or Ray cluster has its own.
    groups : array_like or None
        Group label of each row, shape (n_samples,), for a splitter given as ``folds``
        (``GroupKFold``, ...); only with a splitter.

    Returns
    -------
    tuple of TrialResult
        One per trial, settings in grid order, then keys, then folds (fold fastest), with
        read-only arrays. A trial whose loss stopped being finite is returned with NaN
        scores and its ``error``; any other exception in a trial is raised, with a note
        naming the trial.
    """
    checks.network(net)
    dtype = checks.float_dtype("dtype", dtype)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    Y = checks.targets("y", y, net, X.shape[0], dtype)  # bad labels fail here, not in a worker
    y = np.asarray(y)
    if is_splitter(folds):
        labels = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
        if labels.ndim == 2 and net.loss == "ce":  # one-hot rows: a splitter wants classes
            labels = labels.argmax(axis=1)
        folds = split(folds, X, labels, groups, "folds")
    elif groups is not None:
        raise ValueError(
            "groups needs a scikit-learn splitter such as GroupKFold(n_splits) as folds, "
            f"got folds={checks.describe(folds)}"
        )
    else:
        folds = check_folds(folds, X.shape[0])
    keys = _checked_keys(keys)
    if early_stopping is not None:
        early_stopping = checks.early_stopping_of("early_stopping", early_stopping)
    defaults = {"opt": opt, "l2": l2, "epochs": epochs, "batch_size": batch_size}
    settings = settings_of(grid, defaults)
    trials = tuple(
        Trial(index, setting, key, fold)
        for index, (setting, key, fold) in enumerate(
            itertools.product(settings, keys, range(len(folds)))
        )
    )
    data = SweepData(net, X, y, folds, trials, scheme, dtype, early_stopping)
    params = init(net, key=0, scheme=scheme, dtype=dtype)
    for number, setting in enumerate(settings):
        _check_setting(data, setting, number, params)
    side_by_side_ok = _side_by_side(data)
    if executor is None:
        executor = "members" if side_by_side_ok and _side_by_side_pays(data) else "threads"
    if executor == "members":
        if not side_by_side_ok:
            raise ValueError(
                "executor='members' trains the trials side by side in one kernel, which needs "
                "a network small enough for the engine's loops, the bce or mse loss without "
                "softmax or the ce loss with it, one kind of optimizer without clip_norm, no "
                "dropout and no monitored function; use executor='threads' for this sweep"
            )
        threads = default_threads() if workers is None else checks.integer("workers", workers, 1)
        results = _on_members(data, Y, threads)
    else:
        fit_all = _on_executor(executor, workers, len(trials))
        warm_up(data)  # before any worker starts: concurrent cold compiles crash Numba
        results = fit_all(data)
    # The caller's own setting and key objects, not copies that travelled (a schedule given
    # as a plain function would no longer compare equal, and sweep_summary groups by them).
    # Results that travelled come back unpickled, writable: made read-only again.
    results = [
        result._replace(setting=trial.setting, key=trial.key)
        for result, trial in zip(results, trials)
    ]
    travelled = executor not in ("members", "threads")
    return tuple(_read_only(result) for result in results) if travelled else tuple(results)


def sweep_summary(results: Sequence[TrialResult], by: str = "val_loss") -> SweepSummary:
    """Mean and standard deviation of the validation scores of each setting, and the best one.

    Parameters
    ----------
    results : sequence of TrialResult
        From :func:`sweep`.
    by : "val_loss" or "val_accuracy"
        The best setting has the lowest mean validation loss or the highest mean validation
        accuracy; ties go to the earlier setting. A setting with a diverged trial (NaN
        scores) is never the best unless every setting has one.

    Returns
    -------
    SweepSummary
        ``settings``, one :class:`fnn.SettingSummary` per setting in the order of the sweep,
        and ``best``.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> def trial(lr, acc):
    ...     setting = fnn.Setting(fnn.adam(lr), 0.0, 10, 32)
    ...     return fnn.TrialResult(setting, 0, 0, 1.0 - acc, acc, None, None)
    >>> results = [trial(0.1, 0.5), trial(0.1, 0.7), trial(0.01, 0.9), trial(0.01, 0.8)]
    >>> summary = fnn.sweep_summary(results, by="val_accuracy")
    >>> [(r.setting.opt.learning_rate, round(r.val_accuracy_mean, 2)) for r in summary.settings]
    [(0.1, 0.6), (0.01, 0.85)]
    >>> summary.best.setting.opt.learning_rate
    0.01
    """
    checks.one_of("by", by, ("val_loss", "val_accuracy"))
    if isinstance(results, (str, bytes)) or not hasattr(results, "__iter__"):
        raise TypeError(
            f"results must be a sequence of TrialResult, got {checks.describe(results)}"
        )
    grouped: dict[Setting, list[TrialResult]] = {}
    for index, result in enumerate(results):
        if not isinstance(result, TrialResult):
            raise TypeError(
                f"results[{index}] must be a TrialResult from fnn.sweep, "
                f"got {checks.describe(result)}"
            )
        grouped.setdefault(result.setting, []).append(result)
    if not grouped:
        raise ValueError("results must hold at least one TrialResult, got none")
    rows = tuple(
        SettingSummary(
            setting,
            len(trials),
            *_mean_sd([trial.val_loss for trial in trials]),
            *_mean_sd([trial.val_accuracy for trial in trials]),
        )
        for setting, trials in grouped.items()
    )
    scores = np.array([row.val_loss_mean if by == "val_loss" else -row.val_accuracy_mean
                       for row in rows])  # fmt: skip
    best = int(np.argmin(np.where(np.isnan(scores), np.inf, scores)))
    return SweepSummary(rows, rows[best])


# -- settings and checks ---------------------------------------------------------------------------


def settings_of(grid, defaults: dict) -> list[Setting]:
    """The settings a grid stands for, checked.

    Parameters
    ----------
    grid : dict, list of dicts, or None
        As :func:`sweep` takes it: ``{name: [values]}`` (every combination), a list of
        ``{name: value}`` settings, or None (one setting, the defaults). The names are
        :data:`GRID_NAMES`.
    defaults : dict
        ``opt``, ``l2``, ``epochs`` and ``batch_size`` of a setting whose entry omits them.

    Returns
    -------
    list of Setting
        One per combination or entry, in order; a ``learning_rate`` replaces the setting's
        optimizer's.
    """
    if grid is None:
        entries = [{}]
    elif isinstance(grid, Mapping):
        for name, values in grid.items():
            _check_name(name, "grid")
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
                raise TypeError(
                    f"grid[{name!r}] must be a non-empty list of values, "
                    f"got {checks.describe(values)}"
                )
        entries = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)) and grid:
        entries = []
        for index, entry in enumerate(grid):
            if not isinstance(entry, Mapping):
                raise TypeError(
                    f"grid[{index}] must be a dict of hyperparameters, got {checks.describe(entry)}"
                )
            for name in entry:
                _check_name(name, f"grid[{index}]")
            entries.append(dict(entry))
    else:
        raise TypeError(
            "grid must be a dict of value lists, a non-empty list of dicts, or None, "
            f"got {checks.describe(grid)}"
        )
    settings = []
    for entry in entries:
        values = {**defaults, **{name: v for name, v in entry.items() if name != "learning_rate"}}
        opt = values["opt"]
        if "learning_rate" in entry:
            if not (isinstance(opt, tuple) and hasattr(opt, "_replace")):
                raise TypeError(f"opt must be an optimizer config, got {checks.describe(opt)}")
            opt = opt._replace(learning_rate=entry["learning_rate"])
        settings.append(Setting(opt, values["l2"], values["epochs"], values["batch_size"]))
    return settings


def _check_name(name, where: str) -> None:
    if name not in GRID_NAMES:
        raise ValueError(f"{where} may name {list(GRID_NAMES)}, got {name!r}")


def _checked_keys(keys) -> tuple:
    if isinstance(keys, (str, bytes, np.random.SeedSequence)) or not isinstance(keys, Sequence):
        raise TypeError(
            f"keys must be a sequence of keys such as [0, 1, 2], got {checks.describe(keys)}"
        )
    if not keys:
        raise ValueError("keys must hold at least one key, got none")
    for index, key in enumerate(keys):
        try:
            fold_in(key, 0)  # the key check of fit
        except (TypeError, ValueError) as error:
            raise type(error)(f"keys[{index}]: {error}") from None
    return tuple(keys)


def _check_setting(data: SweepData, setting: Setting, number: int, params: Params) -> None:
    """Raise a one-line error naming the setting when ``fit`` would refuse it (``params``:
    any of the network's, of the sweep's dtype)."""
    try:
        checks.integer("epochs", setting.epochs, 1, checks.MAX_STEPS)
        # epochs=0 runs fit's own argument checks and no kernel.
        fit(data.net, params, setting.opt, data.X[:1], data.y[:1], epochs=0,
            batch_size=setting.batch_size, l2=setting.l2)  # fmt: skip
    except (TypeError, ValueError) as error:
        raise type(error)(f"sweep setting {number} ({_in_words(setting)}): {error}") from None


def _in_words(setting: Setting) -> str:
    """``"adam learning_rate=0.001, l2=0.0, epochs=100, batch_size=32"``: a setting in words."""
    opt = setting.opt
    name = type(opt).__name__.lower()
    rate = getattr(opt, "learning_rate", "?")
    return (f"{name} learning_rate={rate}, l2={setting.l2}, epochs={setting.epochs}, "
            f"batch_size={setting.batch_size}")  # fmt: skip


# -- the trials ------------------------------------------------------------------------------------


def fit_trial(data: SweepData, index: int) -> TrialResult:
    """Train and validate trial ``data.trials[index]`` (on whichever worker runs it)."""
    trial = data.trials[index]
    setting = trial.setting
    fold = data.folds[trial.fold]
    try:
        params = init(data.net, key=trial.key, scheme=data.scheme, dtype=data.dtype)
        result = fit(
            data.net, params, setting.opt, data.X[fold.train], data.y[fold.train],
            epochs=setting.epochs, batch_size=setting.batch_size, key=trial.key, l2=setting.l2,
            validation=(data.X[fold.val], data.y[fold.val]), early_stopping=data.early_stopping,
            threads=1,  # the workers are the parallelism: trials x threads stay within the cores
        )  # fmt: skip
    except FloatingPointError as error:
        nan = math.nan
        return TrialResult(setting, trial.key, trial.fold, nan, nan, None, None, str(error))
    except Exception as error:
        where = f"key {trial.key!r}, fold {trial.fold}"
        checks.add_note(error, f"in sweep trial {trial.index}: {_in_words(setting)}, {where}")
        raise
    return _trial_result(trial, result)


def _trial_result(trial: Trial, result: FitResult) -> TrialResult:
    """A trial's result from its ``fit``'s: the validation scores of the returned epoch."""
    history = result.history
    epoch = history.params_epoch
    val_accuracy = float(history.val_accuracy[epoch]) if history.val_accuracy.size else math.nan
    return TrialResult(
        trial.setting, trial.key, trial.fold, float(history.val_loss[epoch]), val_accuracy,
        history, result.params,
    )  # fmt: skip


def fit_trials(data: SweepData, indices: list[int]) -> list[TrialResult]:
    return [fit_trial(data, index) for index in indices]


def warm_up(data: SweepData) -> None:
    """Load or compile ``fit``'s kernels for the sweep's dtype: one epoch on two rows.

    Run once in each process before its trials start (concurrent cold compiles crash Numba);
    a loss that is not finite on those rows is ignored (the kernels compiled all the same).
    """
    setting = data.trials[0].setting
    params = init(data.net, key=0, scheme=data.scheme, dtype=data.dtype)
    rows = slice(0, min(2, data.X.shape[0]))
    try:
        fit(data.net, params, setting.opt, data.X[rows], data.y[rows], epochs=1, l2=setting.l2,
            validation=(data.X[rows], data.y[rows]))  # fmt: skip
    except FloatingPointError:
        pass  # compiled all the same


def _read_only(value):
    """``value`` with every array inside it read-only (results may come back unpickled)."""
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
        return value
    if isinstance(value, tuple):
        items = [_read_only(item) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


# -- executors -------------------------------------------------------------------------------------


def _on_executor(executor, workers, n_trials: int):
    """``fit_all(data) -> results`` on the executor (checked before anything runs)."""
    if isinstance(executor, str):
        checks.one_of("executor", executor, EXECUTORS)
        if executor == "ray":
            _no_workers(workers, "Ray")
            ray = _optional("ray")
            return lambda data: _on_ray(ray, data)
        if workers is None:
            workers = default_threads()
        workers = min(checks.integer("workers", workers, minimum=1), n_trials)
        if executor == "threads":
            return lambda data: _on_threads(data, workers)
        joblib = _optional("joblib")
        return lambda data: _on_joblib(joblib, data, workers)
    if _is_dask_client(executor):
        _no_workers(workers, "Dask")
        return lambda data: _on_dask(executor, data)
    raise TypeError(
        f"executor must be one of {list(EXECUTORS)} or a dask distributed.Client, "
        f"got {checks.describe(executor)}"
    )


def _side_by_side(data: SweepData) -> bool:
    """Whether every trial can train side by side (:func:`fnn.side_by_side.eligible`)."""
    monitor = None if data.early_stopping is None else data.early_stopping.monitor
    return all(
        side_by_side.eligible(data.net, [setting.opt], [None], len(fold.train),
                              setting.batch_size, callable(monitor))
        for setting in {id(trial.setting): trial.setting for trial in data.trials}.values()
        for fold in data.folds
    ) and len({type(trial.setting.opt) for trial in data.trials}) == 1  # fmt: skip


def _side_by_side_pays(data: SweepData) -> bool:
    """Whether side by side is faster than a fit per trial (:func:`fnn.side_by_side.pays`)."""
    return all(
        side_by_side.pays(data.net, len(data.folds[trial.fold].train), trial.setting.batch_size)
        for trial in data.trials
    )


def _on_members(data: SweepData, Y: np.ndarray, threads: int) -> list[TrialResult]:
    """The trials side by side (:func:`fnn.side_by_side.train`), in one call for each set of
    trials that share their epochs, batch size and fold sizes; a trial that diverged runs its
    own ``fit`` again (:func:`fit_trial`), which gives its NaN result."""
    shapes: dict[tuple, list[Trial]] = {}
    for trial in data.trials:
        fold = data.folds[trial.fold]
        shape = (trial.setting.epochs, trial.setting.batch_size, len(fold.train), len(fold.val))
        shapes.setdefault(shape, []).append(trial)
    watch = watching(data.net, True, data.early_stopping, None)  # sweep has no plateau watch
    results: list[TrialResult | None] = [None] * len(data.trials)
    starts_of_keys = {}  # init is pure: one start per key, shared (read-only) by its trials
    for trial in data.trials:
        if trial.key not in starts_of_keys:
            starts_of_keys[trial.key] = init(data.net, key=trial.key, scheme=data.scheme,
                                             dtype=data.dtype)  # fmt: skip
    for (epochs, batch_size, _, _), trials in shapes.items():
        starts = [starts_of_keys[t.key] for t in trials]
        members = side_by_side.Members(
            params=starts,
            opts=[t.setting.opt for t in trials],
            states=[None] * len(trials),
            keys=[t.key for t in trials],
            l2s=[t.setting.l2 for t in trials],
            train_rows=np.stack([data.folds[t.fold].train for t in trials], axis=1),
            eval_rows=np.stack([data.folds[t.fold].val for t in trials]),
        )  # fmt: skip
        fits = side_by_side.train(
            data.net, data.X, Y, members, epochs=epochs, batch_size=batch_size,
            early_stopping=data.early_stopping, reduce_on_plateau=None, watch=watch,
            threads=threads, purpose="sweep",
        )  # fmt: skip
        for trial, result in zip(trials, fits):
            results[trial.index] = (
                fit_trial(data, trial.index) if result is None else _trial_result(trial, result)
            )
    return results


def _no_workers(workers, cluster: str) -> None:
    if workers is not None:
        raise ValueError(
            f"workers sets threads or joblib processes; a {cluster} cluster has its own "
            f"workers, got workers={workers!r}"
        )


def _optional(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"executor {module!r} needs {module}: pip install 'fnn[{module}]'"
        ) from error


def _is_dask_client(executor) -> bool:
    module = type(executor).__module__.split(".")[0]
    return module == "distributed" and hasattr(executor, "scatter")


def _on_threads(data: SweepData, workers: int) -> list[TrialResult]:
    return map_on_threads(
        lambda index: fit_trial(data, index), len(data.trials), workers, "fnn-sweep"
    )


def _on_joblib(joblib, data: SweepData, workers: int) -> list[TrialResult]:
    """One task per process, each with the data and its share of the trials."""
    shares = _shares(data, workers)
    parts = joblib.Parallel(n_jobs=workers)(
        joblib.delayed(fit_trials)(data, share) for share in shares
    )
    results = [None] * len(data.trials)
    for share, part in zip(shares, parts):
        for index, result in zip(share, part):
            results[index] = result
    return results


def _shares(data: SweepData, workers: int) -> list[list[int]]:
    """Trial indices dealt to ``workers`` lists of about equal work (epochs x training rows)."""
    work = [t.setting.epochs * len(data.folds[t.fold].train) for t in data.trials]
    loads = [0] * workers
    shares: list[list[int]] = [[] for _ in range(workers)]
    for index in sorted(range(len(work)), key=lambda i: -work[i]):
        lightest = loads.index(min(loads))
        shares[lightest].append(index)
        loads[lightest] += work[index]
    return [share for share in shares if share]


def _on_dask(client, data: SweepData) -> list[TrialResult]:
    """Scatter the data to every worker once, warm one worker per host, run a task per trial.

    Tasks get the scattered data and an int: Dask would read a tuple argument whose first
    item is callable (an optimizer holding a schedule) as a task to run.
    """
    [remote] = client.scatter([data], broadcast=True, hash=False)
    hosts = client.run(socket.gethostname)  # {worker address: host name}
    first_per_host = {host: address for address, host in hosts.items()}.values()
    client.gather([
        client.submit(warm_up, remote, workers=[address], allow_other_workers=False, pure=False)
        for address in first_per_host
    ])  # fmt: skip
    futures = [
        client.submit(fit_trial, remote, index, pure=False) for index in range(len(data.trials))
    ]
    try:
        return [future.result() for future in futures]
    except BaseException:
        client.cancel(futures)
        raise


def _on_ray(ray, data: SweepData) -> list[TrialResult]:
    """``ray.put`` the data once, warm one worker per node, run a task per trial."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote_data = ray.put(data)
    warm = ray.remote(num_cpus=1)(warm_up)
    nodes = [node["NodeID"] for node in ray.nodes() if node.get("Alive")]
    ray.get([
        warm.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True))
        .remote(remote_data)
        for node in nodes
    ])  # fmt: skip
    task = ray.remote(num_cpus=1)(fit_trial)
    refs = [task.remote(remote_data, index) for index in range(len(data.trials))]
    try:
        return ray.get(refs)
    except BaseException:
        for ref in refs:
            ray.cancel(ref)
        raise


def _mean_sd(values: list[float]) -> tuple[float, float]:
    array = np.array(values, dtype=np.float64)
    mean = float(array.mean())
    sd = float(array.std(ddof=1)) if array.size > 1 else math.nan
    return mean, sd

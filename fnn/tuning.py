"""A Ray Tune trainable: one ``fit`` per trial, reported epoch by epoch so schedulers can stop it.

The trial trains with ``fit`` one epoch per call, each call resuming the last one's
``opt_state`` (``k`` epochs one at a time are the bits of ``k`` epochs in one call), and
reports the epoch's metrics to Tune between calls: a scheduler such as ASHA stops a bad trial
after any epoch, and a trial that runs to the end has the parameters of the plain ``fit``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fnn import checks
from fnn.epochs import validation_data
from fnn.io import load, load_state, save
from fnn.model import init
from fnn.sweeps import GRID_NAMES, SweepData, Trial, settings_of, warm_up
from fnn.train import fit
from fnn.types import FitResult, Net, ReduceOnPlateau, Setting

#: The names a trial's ``config`` may hold: the hyperparameters of :func:`fnn.sweep` and the key.
CONFIG_NAMES = (*GRID_NAMES, "key")
#: The file a checkpoint directory holds (``fnn.load`` and ``fnn.load_state`` read it).
CHECKPOINT_FILE = "fnn_state.npz"


def tune_trainable(
    net: Net,
    opt,
    X,
    y,
    *,
    validation: tuple | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    l2: float = 0.0,
    key=0,
    reduce_on_plateau: ReduceOnPlateau | None = None,
    scheme: str | None = None,
    dtype=np.float64,
    checkpoint_every: int | None = None,
) -> Callable[[dict], None]:
    """A function trainable for ``ray.tune.Tuner`` that trains ``net`` and reports every epoch.

    A trial's ``config``, the dict Tune draws from the search space (e.g. learning rates
    and l2 values), runs ::

        fnn.fit(net, fnn.init(net, key=key, scheme=scheme, dtype=dtype), opt, X, y,
                epochs=epochs, batch_size=batch_size, key=key, l2=l2, validation=validation,
                reduce_on_plateau=reduce_on_plateau)

    with the config's values in place of the arguments of the same names, one epoch per
    ``fit`` call (each resuming the last call's ``opt_state``: the same bits as the single
    call), and after every epoch calls ``ray.tune.report`` with the epoch's ``loss``,
    ``val_loss`` (with validation data) and, for a classifier, ``accuracy`` and
    ``val_accuracy``, as ``history`` has them, and ``monitor`` when ``reduce_on_plateau``
    monitors a function (its value after the epoch). Tune counts the reports in
    ``training_iteration``, so it is the number of epochs trained: an ASHA scheduler with
    ``time_attr="training_iteration"`` (its default) and ``max_t=epochs`` stops bad trials
    after whole epochs.

    The data goes to Ray's object store once (``ray.tune.with_parameters``), not once per
    trial. Numba's disk cache of this machine is filled here (one short ``fit``), so trials
    starting together load the compiled kernels rather than compile them at once (on other
    machines of a cluster the first trials compile; ``fnn.sweep`` warms every machine).

    Parameters
    ----------
    net : Net
    opt : optimizer config
        Of every trial whose config names no ``"opt"``.
    X : array_like, shape (n_samples, sizes[0])
    y : array_like
        Training data, as :func:`fnn.fit` takes it.
    validation : (X_val, y_val), (X_val, y_val, w_val) or None
        Evaluated after every epoch, as in :func:`fnn.fit`.
    epochs, batch_size, l2, key, reduce_on_plateau
        As in :func:`fnn.fit`: the defaults of the trials (``key`` also fixes the initial
        parameters). A config may set ``"opt"``, ``"learning_rate"`` (replaces the
        optimizer's), ``"l2"``, ``"epochs"``, ``"batch_size"`` and ``"key"``; any other name
        fails the trial with a one-line ValueError naming it.
    scheme : str or None
    dtype : float32 or float64
        Of the initial parameters, as in :func:`fnn.init`.
    checkpoint_every : int or None
        Also save a checkpoint every this many epochs and after the last one: ``fnn.save``
        of the parameters and optimizer state, as ``fnn_state.npz`` in the checkpoint's
        directory. A trial that Tune restarts from a checkpoint (after a failure, or a
        population-based scheduler's exploit) resumes from it, bit for bit. None: no
        checkpoints.

    Returns
    -------
    callable
        ``trainable(config)``, for ``ray.tune.Tuner(trainable, param_space=...)``. A trial
        raises ``FloatingPointError`` naming the epoch when its loss stops being finite (Tune
        marks it errored and goes on with the others).

    Raises
    ------
    ImportError
        Without Ray Tune: ``pip install 'fnn[tune]'``.
    ValueError, TypeError
        For a bad argument, before any trial runs.

    Examples
    --------
    Eight learning rates, the bad ones stopped early by ASHA (see docs/scaling.md)::

        from ray import tune
        trainable = fnn.tune_trainable(net, fnn.adam(), X, y, validation=(X_val, y_val),
                                       epochs=50, batch_size=32)
        tuner = tune.Tuner(
            trainable,
            param_space={"learning_rate": tune.grid_search(list(np.geomspace(1e-4, 1e-1, 8)))},
            tune_config=tune.TuneConfig(metric="val_loss", mode="min",
                                        scheduler=tune.schedulers.ASHAScheduler(max_t=50)),
        )
        best = tuner.fit().get_best_result()
    """
    tune = _ray_tune()
    checks.network(net)
    dtype = checks.float_dtype("dtype", dtype)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    checks.targets("y", y, net, X.shape[0], dtype)  # bad labels fail here, not in a trial
    y = np.asarray(y)
    if validation is not None:  # checked, and its X converted once rather than every epoch
        validation = (validation_data(net, validation, dtype)[0], *validation[1:])
    if checkpoint_every is not None:
        checkpoint_every = checks.integer("checkpoint_every", checkpoint_every, 1)
    defaults = {"opt": opt, "l2": l2, "epochs": epochs, "batch_size": batch_size, "key": key}
    setting, key = _setting(defaults, {})  # the defaults are a trial that must not fail
    fit(net, init(net, key=key, scheme=scheme, dtype=dtype), setting.opt, X[:1], y[:1],
        epochs=0, batch_size=setting.batch_size, key=key, l2=setting.l2, validation=validation,
        reduce_on_plateau=reduce_on_plateau)  # fmt: skip
    warm = SweepData(net, X, y, (), (Trial(0, setting, key, 0),), scheme, dtype, None)
    warm_up(warm)  # before the trials start: concurrent cold compiles crash Numba
    data = {
        "net": net, "X": X, "y": y, "validation": validation, "defaults": defaults,
        "reduce_on_plateau": reduce_on_plateau, "scheme": scheme, "dtype": dtype,
        "checkpoint_every": checkpoint_every,
    }  # fmt: skip
    return tune.with_parameters(fit_trial, data=data)


def fit_trial(config: Mapping[str, Any], data: dict) -> None:
    """Train one Tune trial (on whichever worker runs it), reporting after every epoch."""
    tune = _ray_tune()
    net, X, y, validation = data["net"], data["X"], data["y"], data["validation"]
    setting, key = _setting(data["defaults"], config)
    every = data["checkpoint_every"]
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        params, state = init(net, key=key, scheme=data["scheme"], dtype=data["dtype"]), None
    else:
        with checkpoint.as_directory() as directory:
            path = os.path.join(directory, CHECKPOINT_FILE)
            params, state = load(path)[1], load_state(path)
    n = X.shape[0]
    batches_per_epoch = -(-n // (n if setting.batch_size is None else min(setting.batch_size, n)))
    first = 0 if state is None else state.step // batches_per_epoch
    for epoch in range(first, setting.epochs):
        try:
            result = fit(
                net, params, setting.opt, X, y, epochs=1, batch_size=setting.batch_size, key=key,
                l2=setting.l2, validation=validation, opt_state=state,
                reduce_on_plateau=data["reduce_on_plateau"],
            )  # fmt: skip
        except FloatingPointError as error:
            raise FloatingPointError(
                f"trial epoch {epoch} (each epoch is one fit call): {error}"
            ) from None
        params, state = result.params, result.opt_state
        metrics = _metrics(result)
        if every is None or ((epoch + 1) % every and epoch + 1 < setting.epochs):
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as directory:
            save(os.path.join(directory, CHECKPOINT_FILE), net, params, state)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def _setting(defaults: dict, config: Mapping[str, Any]) -> tuple[Setting, Any]:
    """The trial's Setting and key: the config's values over the defaults, checked."""
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict, got {checks.describe(config)}")
    for name in config:
        if name not in CONFIG_NAMES:
            raise ValueError(f"config may name {list(CONFIG_NAMES)}, got {name!r}")
    entry = {name: value for name, value in config.items() if name != "key"}
    setting = settings_of([entry], {k: v for k, v in defaults.items() if k != "key"})[0]
    checks.integer("epochs", setting.epochs, 1, checks.MAX_STEPS)
    return setting, config.get("key", defaults["key"])


def _metrics(result: FitResult) -> dict[str, float]:
    """The last epoch of ``result.history`` as Tune metrics (the rows the history has)."""
    rows = {name: getattr(result.history, name)
            for name in ("loss", "accuracy", "val_loss", "val_accuracy", "monitor")}  # fmt: skip
    return {name: float(row[-1]) for name, row in rows.items() if row.size}


def _ray_tune():
    try:
        from ray import tune
    except ImportError as error:
        raise ImportError(
            f"fnn.tune_trainable needs Ray Tune: pip install 'fnn[tune]' ({error})"
        ) from error
    return tune

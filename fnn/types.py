"""The values a user holds: immutable NamedTuples of networks, parameters, configs, states,
histories and results, holding read-only arrays.

Nothing here computes; the functions that build and use these values live in
:mod:`fnn.model`, :mod:`fnn.losses`, :mod:`fnn.optim`, :mod:`fnn.data` and :mod:`fnn.train`.
Learning-rate schedules, which compute, live with their constructors in
:mod:`fnn.schedules`; the registries' entry types live with the tables in :mod:`fnn.registry`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

# The default of History.monitor: an empty read-only array, like the other empty fields.
_EMPTY = np.zeros(0)
_EMPTY.flags.writeable = False


class Net(NamedTuple):
    """Specification of a fully-connected network (hashable, printable).

    Attributes
    ----------
    sizes : tuple of int
        Layer widths, input first: ``(n_features, h_1, ..., n_outputs)``.
    activations : tuple of str
        One activation name per weight layer (``len(sizes) - 1`` of them).
    loss : str
        Name of the loss, a key of ``fnn.LOSSES``: ``"bce"``, ``"ce"``, ``"mse"``, ``"huber"``,
        ``"mae"``, ``"poisson"`` or ``"quantile"``.
    dropout : tuple of float
        Inverted-dropout rate in [0, 1) of each hidden layer's activations
        (``len(sizes) - 2`` of them), or ``()`` for none (also when every rate is 0).
    loss_params : tuple of float (or of tuple of float)
        The loss's own parameters (``fnn.LOSSES[loss].parameters``, e.g. huber's ``delta``),
        one value per parameter in the registry's order, or ``()`` when every one is at its
        default (always for a loss without parameters). A per-output parameter (quantile's
        ``q``) with different values for the output units is a tuple of ``n_outputs`` floats:
        ``loss_params=((0.1, 0.5, 0.9),)``.
    """

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    dropout: tuple[float, ...] = ()
    loss_params: tuple[float | tuple[float, ...], ...] = ()

    def __repr__(self) -> str:  # dropout and loss_params only when given: plain nets print
        # as before (a bad value, say an array, prints too)
        text = f"Net(sizes={self.sizes!r}, activations={self.activations!r}, loss={self.loss!r}"
        if self.dropout:
            text += f", dropout={self.dropout!r}"
        if not (isinstance(self.loss_params, tuple) and self.loss_params == ()):
            text += f", loss_params={self.loss_params!r}"
        return text + ")"


class Layer(NamedTuple):
    """One dense layer: ``Z = A_prev @ W + b``.

    Attributes
    ----------
    W : ndarray, shape (n_in, n_out)
    b : ndarray, shape (n_out,)
    """

    W: np.ndarray
    b: np.ndarray


class Params(NamedTuple):
    """Parameters (or gradients, or optimizer moments) of a network, one Layer per weight layer.

    Attributes
    ----------
    layers : tuple of Layer
        ``layers[l].W`` has shape (sizes[l], sizes[l+1]), ``layers[l].b`` shape (sizes[l+1],);
        all arrays share one float dtype and are read-only.
    """

    layers: tuple[Layer, ...]


class Cache(NamedTuple):
    """What :func:`fnn.forward` remembers for :func:`fnn.backward`.

    Attributes
    ----------
    activations : tuple of ndarray
        ``(A_0 = X, A_1, ..., A_L)``; ``A_l`` has shape (n_samples, sizes[l]).
    preactivations : tuple of ndarray
        ``(Z_1, ..., Z_L)``; ``Z_l = A_{l-1} @ W_l + b_l``.
    """

    activations: tuple[np.ndarray, ...]
    preactivations: tuple[np.ndarray, ...]


# -- optimizer configurations (hyperparameters only; state lives in OptState) -------------------
# Every config ends with ``clip_norm``: None, or the largest global L2 norm of a gradient (see
# fnn.optim).


class SGD(NamedTuple):
    """Plain gradient descent: ``p <- p - lr * g``."""

    learning_rate: Any
    clip_norm: float | None = None


class Momentum(NamedTuple):
    """Momentum as a moving average of gradients: ``v <- beta v + (1 - beta) g; p <- p - lr v``."""

    learning_rate: Any
    beta: float = 0.9
    clip_norm: float | None = None


class RMSProp(NamedTuple):
    """RMSProp: ``s <- beta s + (1 - beta) g**2; p <- p - lr g / (sqrt(s) + eps)``."""

    learning_rate: Any
    beta: float = 0.9
    eps: float = 1e-8
    clip_norm: float | None = None


class Adam(NamedTuple):
    """Adam with bias correction (Kingma & Ba, Algorithm 1)."""

    learning_rate: Any = 1e-3
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    clip_norm: float | None = None


class AdamW(NamedTuple):
    """Adam with decoupled weight decay (Loshchilov & Hutter; PyTorch ``AdamW``)."""

    learning_rate: Any = 1e-3
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 1e-2
    clip_norm: float | None = None


class LBFGS(NamedTuple):
    """Full-batch L-BFGS (SciPy's ``L-BFGS-B``) for ``fit``; see :func:`fnn.lbfgs`."""

    memory: int = 10
    gtol: float = 1e-4
    ftol: float = 2.220446049250313e-09
    max_evaluations: int = 15000


class OptState(NamedTuple):
    """State of an optimizer.

    Attributes
    ----------
    optimizer : str
        Registry name of the optimizer the state belongs to.
    step : int
        Number of updates already applied (0 before the first).
    slots : tuple of Params
        Per-parameter running statistics, e.g. ``(m, v)`` for Adam, ``()`` for SGD.
    plateau : Plateau or None
        The reduce-on-plateau watcher of ``fit(..., reduce_on_plateau=...)``, whose ``scale``
        multiplies every learning rate (in ``fit`` and ``opt_step``); None when no watcher
        ever ran.
    config : optimizer config or None
        The optimizer config the state was saved with (:func:`fnn.load_state` of an archive
        saved with ``opt=``), which ``fit`` and ``opt_step`` then require: resuming with
        other hyperparameters is a ValueError naming both. ``fit`` and ``opt_step`` pass it
        on; None (no check) for a state that never went through such an archive. To change
        the hyperparameters on purpose, resume from ``state._replace(config=None)``.
    """

    optimizer: str
    step: int
    slots: tuple[Params, ...]
    plateau: Plateau | None = None
    config: Any = None


# -- training ------------------------------------------------------------------------------------


class EarlyStopping(NamedTuple):
    """Stop ``fit`` once the monitored value has not improved by ``min_delta`` for ``patience``
    epochs; see :func:`fnn.early_stopping`.

    ``monitor`` is None (``val_loss`` with validation data, else the epoch's training loss), a
    History field's name or a function of the validation data; ``mode`` is ``"min"``,
    ``"max"`` or None (from the name). With ``restore_best``, ``fit`` returns the params at
    the end of the best epoch (as Keras does).
    """

    patience: int = 10
    min_delta: float = 0.0
    restore_best: bool = True
    monitor: Any = None
    mode: str | None = None


class ReduceOnPlateau(NamedTuple):
    """Cut the learning rate by ``factor`` when the monitored value stops improving (PyTorch's
    ``ReduceLROnPlateau(threshold_mode="abs")``); see :func:`fnn.reduce_on_plateau`."""

    factor: float = 0.1
    patience: int = 10
    min_delta: float = 0.0
    min_lr: float = 0.0
    cooldown: int = 0
    eps: float = 1e-8
    monitor: Any = None
    mode: str | None = None


class Plateau(NamedTuple):
    """State of a reduce-on-plateau watcher, kept in :class:`OptState` so that ``fit``
    resumes it exactly.

    Attributes
    ----------
    scale : float
        Multiplies every learning rate of the optimizer (1.0 until the first cut).
    best : float
        Lowest score so far (``inf`` before the first epoch): the score of an epoch is its
        monitored value in mode ``"min"``, minus that value in mode ``"max"``.
    bad_epochs : int
        Epochs since the score last fell below ``best - min_delta``.
    cooldown_left : int
        Epochs of cooldown left after the last cut.
    """

    scale: float = 1.0
    best: float = float("inf")
    bad_epochs: int = 0
    cooldown_left: int = 0


class History(NamedTuple):
    """Per-epoch training record (1-D arrays, one entry per finished epoch).

    ``accuracy``/``val_accuracy`` are empty for regression (mse) networks;
    ``val_loss``/``val_accuracy`` are empty when ``fit`` had no validation data.

    Attributes
    ----------
    loss : ndarray, shape (epochs,)
        The epoch's batch losses (l2 penalty included) as the batches were trained, averaged
        with weights proportional to batch size.
    accuracy : ndarray, shape (epochs,) or (0,)
        Fraction of the epoch's training rows classified right when their batch was trained.
    val_loss : ndarray, shape (epochs,) or (0,)
        Loss on the validation data after the epoch.
    val_accuracy : ndarray, shape (epochs,) or (0,)
        Accuracy on the validation data after the epoch.
    stopped_epoch : int or None
        Index (into these arrays, like the callback's ``epoch``) of the last epoch trained when
        early stopping or the callback ended training before ``epochs``; None when every
        requested epoch ran.
    params_epoch : int or None
        Index of the epoch whose parameters ``fit`` returned: the best epoch when early
        stopping restored it, else the last epoch trained; None when no epoch ran.
    monitor : ndarray, shape (epochs,) or (0,)
        The value of the function that early stopping or reduce-on-plateau monitored
        (``monitor=f``), after each epoch; empty when no function was monitored. In the
        history of a Ctrl-C, NaN for an epoch that finished but whose function never ran.
    """

    loss: np.ndarray
    accuracy: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    stopped_epoch: int | None = None
    params_epoch: int | None = None
    monitor: np.ndarray = _EMPTY


class FitResult(NamedTuple):
    """What :func:`fnn.fit` returns.

    Attributes
    ----------
    params : Params
        The trained parameters after the last epoch, or after the best one with
        ``early_stopping(restore_best=True)``.
    opt_state : OptState
        The optimizer state after the same epoch as ``params``: pass both back as
        ``fit(..., params, ..., opt_state=...)`` to resume from there.
    history : History
        Per-epoch losses and accuracies.
    """

    params: Params
    opt_state: OptState
    history: History


class FitSettings(NamedTuple):
    """``fit``'s settings besides the data, the optimizer and the hooks, as a training record
    keeps them (:func:`fnn.save`'s ``settings=``, :func:`fnn.load_record`); the defaults are
    ``fit``'s, so ``fnn.fit(net, params, opt, X, y, **settings._asdict())`` trains with them.

    Attributes
    ----------
    epochs : int
    batch_size : int or None
    key : int or SeedSequence
    l2 : float
    early_stopping : EarlyStopping or None
    reduce_on_plateau : ReduceOnPlateau or None
        As :func:`fnn.fit` takes them (a saved watcher monitors None or a History field's
        name: an archive holds no functions).
    """

    epochs: int = 100
    batch_size: int | None = None
    key: Any = 0
    l2: float = 0.0
    early_stopping: EarlyStopping | None = None
    reduce_on_plateau: ReduceOnPlateau | None = None


class TrainingRecord(NamedTuple):
    """How a saved model was trained, from :func:`fnn.load_record`; None for what was not saved.

    Attributes
    ----------
    opt : optimizer config or None
        The optimizer with its hyperparameters and learning-rate schedule, as
        :func:`fnn.adam` (...) or :func:`fnn.lbfgs` return it.
    settings : FitSettings or None
        ``fit``'s other settings.
    history : History or None
        The per-epoch record, as ``fit`` returned it.
    """

    opt: Any
    settings: FitSettings | None
    history: History | None


# -- cross-validation and sweeps ------------------------------------------------------------------


class Fold(NamedTuple):
    """Row indices of one cross-validation fold, from :func:`fnn.kfold`.

    Attributes
    ----------
    train : ndarray of int64, shape (n_train,)
        Rows to train on, in increasing order.
    val : ndarray of int64, shape (n_val,)
        The other rows, to validate on, in increasing order.
    """

    train: np.ndarray
    val: np.ndarray


class Setting(NamedTuple):
    """One hyperparameter setting of :func:`fnn.sweep`: what ``fit`` gets besides the data.

    Attributes
    ----------
    opt : optimizer config
        With its learning rate (``setting.opt.learning_rate``).
    l2 : float
    epochs : int
    batch_size : int or None
    """

    opt: Any
    l2: float
    epochs: int
    batch_size: int | None


class TrialResult(NamedTuple):
    """One trained and validated trial of :func:`fnn.sweep`.

    Attributes
    ----------
    setting : Setting
    key : int or SeedSequence
        The init and shuffle key of the trial.
    fold : int
        Index of the fold in the sweep's ``folds``.
    val_loss, val_accuracy : float
        On the fold's validation rows, after the epoch whose parameters are returned
        (``history.params_epoch``). ``val_accuracy`` is NaN for regression; both are NaN when
        training diverged.
    history : History or None
        The trial's per-epoch record; None when training diverged.
    params : Params or None
        The trained parameters; None when training diverged.
    error : str or None
        Why training diverged (the ``FloatingPointError`` message of ``fit``), else None.
    """

    setting: Setting
    key: Any
    fold: int
    val_loss: float
    val_accuracy: float
    history: History | None
    params: Params | None
    error: str | None = None


class SettingSummary(NamedTuple):
    """Validation scores of one setting over its trials (every key and fold), from
    :func:`fnn.sweep_summary`.

    Attributes
    ----------
    setting : Setting
    trials : int
        Number of trials of the setting.
    val_loss_mean, val_loss_sd, val_accuracy_mean, val_accuracy_sd : float
        Mean and sample standard deviation (``ddof=1``; NaN for a single trial) of the
        trials' final validation scores; NaN when a trial diverged.
    """

    setting: Setting
    trials: int
    val_loss_mean: float
    val_loss_sd: float
    val_accuracy_mean: float
    val_accuracy_sd: float


class SweepSummary(NamedTuple):
    """What :func:`fnn.sweep_summary` returns.

    Attributes
    ----------
    settings : tuple of SettingSummary
        One per setting, in the order of the sweep.
    best : SettingSummary
        The setting with the best mean score.
    """

    settings: tuple[SettingSummary, ...]
    best: SettingSummary


class Converted(NamedTuple):
    """A scikit-learn model read by :func:`fnn.from_sklearn`: what :func:`fnn.to_sklearn` takes.

    ``fnn.to_sklearn(*fnn.from_sklearn(estimator))`` rebuilds an equivalent estimator.

    Attributes
    ----------
    net : Net
    params : Params
        The estimator's ``coefs_`` and ``intercepts_``, bit for bit, in their dtype.
    scaler : Scaler or None
        The ``StandardScaler`` of a ``Pipeline``; None for a bare estimator.
    classes : ndarray or None
        A classifier's ``classes_`` (read-only; output ``j`` is ``classes[j]``); None for a
        regressor.
    """

    net: Net
    params: Params
    scaler: Scaler | None
    classes: np.ndarray | None


class Scaler(NamedTuple):
    """Per-feature standardisation ``(X - mean) / scale``, from :func:`fnn.standardizer`.

    Attributes
    ----------
    mean : ndarray, shape (n_features,)
    scale : ndarray, shape (n_features,)
        Standard deviations, with 1 for constant features.
    feature_names : tuple of str
        The column names of the DataFrame it was measured on, in order (scikit-learn's
        ``feature_names_in_``), or ``()`` when it was measured on an array;
        :func:`fnn.standardize` refuses a DataFrame whose columns differ.
    """

    mean: np.ndarray
    scale: np.ndarray
    feature_names: tuple[str, ...] = ()


# -- internal ------------------------------------------------------------------------------------


class EngineRun(NamedTuple):
    """What the batch engine returns (internal; see :func:`fnn.kernels.train_and_evaluate`)."""

    theta: np.ndarray
    slots: np.ndarray
    grads: np.ndarray
    value: float
    zbuf: np.ndarray
    abuf: np.ndarray
    outputs: np.ndarray
    records: np.ndarray
    done: int
    watched: tuple  # early stopping's (marks, best_theta, best_slots) after the call

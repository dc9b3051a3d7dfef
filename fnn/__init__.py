"""fnn: a small, fast, purely functional library for fully-connected neural networks."""

from fnn.data import fold_in, minibatches, standardize, standardizer, unstandardize
from fnn.ensembles import ensemble_proba, fit_many
from fnn.epochs import early_stopping, reduce_on_plateau
from fnn.export import from_torch, to_c, to_onnx, to_torch
from fnn.folds import kfold
from fnn.io import load, load_classes, load_record, load_scalers, load_state, save
from fnn.labels import decode_labels, encode_labels
from fnn.lbfgs import lbfgs
from fnn.losses import accuracy, backward, grad, loss, value_and_grad
from fnn.metrics import (
    confusion_matrix,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)
from fnn.model import forward, from_architecture, init, mlp, predict, predict_mc, predict_proba
from fnn.optim import adam, adamw, momentum, opt_init, opt_step, rmsprop, sgd
from fnn.registry import ACTIVATIONS, LOSSES, OPTIMIZERS, SCHEMES
from fnn.schedules import (
    cosine_decay,
    exponential_decay,
    inverse_time_decay,
    one_cycle,
    step_decay,
    warmup,
)
from fnn.sklearn_interop import from_sklearn, to_sklearn
from fnn.summary import n_params, summary
from fnn.sweeps import sweep, sweep_summary
from fnn.train import fit
from fnn.tuning import tune_trainable
from fnn.types import (
    LBFGS,
    SGD,
    Adam,
    AdamW,
    Cache,
    Converted,
    EarlyStopping,
    FitResult,
    FitSettings,
    Fold,
    History,
    Layer,
    Momentum,
    Net,
    OptState,
    Params,
    Plateau,
    ReduceOnPlateau,
    RMSProp,
    Scaler,
    Setting,
    SettingSummary,
    SweepSummary,
    TrainingRecord,
    TrialResult,
)
from fnn.version import __version__ as __version__


def __getattr__(name: str):
    """``fnn.testing`` on first use: importing fnn does not import the testing tools."""
    if name == "testing":
        import importlib

        return importlib.import_module("fnn.testing")
    raise AttributeError(f"module 'fnn' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "Adam",
    "AdamW",
    "Cache",
    "Converted",
    "EarlyStopping",
    "FitResult",
    "FitSettings",
    "Fold",
    "History",
    "LOSSES",
    "LBFGS",
    "Layer",
    "Momentum",
    "Net",
    "OPTIMIZERS",
    "OptState",
    "Params",
    "Plateau",
    "RMSProp",
    "ReduceOnPlateau",
    "SCHEMES",
    "SGD",
    "Scaler",
    "Setting",
    "SettingSummary",
    "SweepSummary",
    "TrainingRecord",
    "TrialResult",
    "accuracy",
    "adam",
    "adamw",
    "backward",
    "confusion_matrix",
    "cosine_decay",
    "decode_labels",
    "early_stopping",
    "encode_labels",
    "ensemble_proba",
    "exponential_decay",
    "fit",
    "fit_many",
    "fold_in",
    "forward",
    "from_architecture",
    "from_sklearn",
    "from_torch",
    "grad",
    "init",
    "inverse_time_decay",
    "kfold",
    "lbfgs",
    "load",
    "load_classes",
    "load_record",
    "load_scalers",
    "load_state",
    "log_loss",
    "loss",
    "mean_absolute_error",
    "mean_squared_error",
    "minibatches",
    "mlp",
    "n_params",
    "momentum",
    "one_cycle",
    "opt_init",
    "opt_step",
    "predict",
    "predict_mc",
    "predict_proba",
    "r2_score",
    "reduce_on_plateau",
    "rmsprop",
    "save",
    "sgd",
    "standardize",
    "standardizer",
    "step_decay",
    "summary",
    "sweep",
    "sweep_summary",
    "testing",
    "to_c",
    "to_onnx",
    "to_sklearn",
    "to_torch",
    "tune_trainable",
    "unstandardize",
    "value_and_grad",
    "warmup",
]

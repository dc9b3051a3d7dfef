"""fnn: a small, fast, purely functional library for fully-connected neural networks."""

from fnn.data import fold_in, minibatches, standardize, standardizer
from fnn.export import from_torch, to_c, to_onnx, to_torch
from fnn.folds import kfold
from fnn.io import load, load_state, save
from fnn.losses import accuracy, backward, grad, loss, value_and_grad
from fnn.model import forward, from_architecture, init, mlp, predict, predict_mc, predict_proba
from fnn.optim import (
    adam,
    adamw,
    cosine_decay,
    exponential_decay,
    inverse_time_decay,
    momentum,
    opt_init,
    opt_step,
    rmsprop,
    sgd,
    step_decay,
)
from fnn.registry import ACTIVATIONS, LOSSES, OPTIMIZERS, SCHEMES
from fnn.sweeps import sweep, sweep_summary
from fnn.train import early_stopping, fit
from fnn.types import (
    SGD,
    Adam,
    AdamW,
    Cache,
    EarlyStopping,
    FitResult,
    Fold,
    History,
    Layer,
    Momentum,
    Net,
    OptState,
    Params,
    RMSProp,
    Scaler,
    Setting,
    SettingSummary,
    SweepSummary,
    TrialResult,
)

__version__ = "0.1.0"


def __getattr__(name: str):
    """``fnn.testing`` on first use: importing fnn does not import the testing tools."""
    if name == "testing":
        import importlib

        return importlib.import_module("fnn.testing")
    raise AttributeError(f"module 'fnn' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "SCHEMES",
    "SGD",
    "Adam",
    "AdamW",
    "Cache",
    "EarlyStopping",
    "FitResult",
    "Fold",
    "History",
    "Layer",
    "Momentum",
    "Net",
    "OptState",
    "Params",
    "RMSProp",
    "Scaler",
    "Setting",
    "SettingSummary",
    "SweepSummary",
    "TrialResult",
    "accuracy",
    "adam",
    "adamw",
    "backward",
    "cosine_decay",
    "early_stopping",
    "exponential_decay",
    "fit",
    "fold_in",
    "from_torch",
    "forward",
    "from_architecture",
    "grad",
    "init",
    "inverse_time_decay",
    "kfold",
    "load",
    "load_state",
    "loss",
    "minibatches",
    "mlp",
    "momentum",
    "opt_init",
    "opt_step",
    "predict",
    "predict_mc",
    "predict_proba",
    "rmsprop",
    "save",
    "sgd",
    "standardize",
    "standardizer",
    "step_decay",
    "sweep",
    "sweep_summary",
    "testing",
    "to_c",
    "to_onnx",
    "to_torch",
    "value_and_grad",
]

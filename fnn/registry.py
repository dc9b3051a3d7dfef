"""The name registries: every activation, loss, optimizer and init scheme fnn knows, once.

Each registry maps a name to one entry holding its kernel code (from :mod:`fnn.kernels`)
and its properties. Validation, error messages, ``fit``, ``predict``, ``fnn.plot``, the
Hypothesis strategies of ``fnn.testing``, the docs and the test parametrisation all read
these tables, so adding an activation, a loss or an optimizer means one kernel branch in
:mod:`fnn.kernels` and one entry here (see "Adding an activation, a loss or an optimizer" in
docs/architecture.md). The tables are read-only mappings.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from fnn import kernels
from fnn.types import (
    SGD,
    Activation,
    Adam,
    AdamW,
    Hyperparameter,
    Loss,
    LossParameter,
    Momentum,
    Optimizer,
    RMSProp,
    Scheme,
)

#: Activations. ``output_only``: allowed as the output activation only. ``min_units``: the
#: fewest units of a layer with it. ``decision``: how ``fnn.predict`` turns the output layer's
#: logits ``z`` into predictions: "threshold" (``z > 0``, 0/1 labels), "argmax" (class
#: indices), or "values" (the activations themselves).
ACTIVATIONS = MappingProxyType(
    {
        "identity": Activation(kernels.IDENTITY, "z", False, 1, "values"),
        "relu": Activation(kernels.RELU, "max(z, 0)", False, 1, "values"),
        "sigmoid": Activation(kernels.SIGMOID, "1 / (1 + exp(-z))", False, 1, "threshold"),
        "tanh": Activation(kernels.TANH, "tanh(z)", False, 1, "values"),
        "softmax": Activation(kernels.SOFTMAX, "exp(z_j) / sum_k exp(z_k)", True, 2, "argmax"),
        "leaky_relu": Activation(kernels.LEAKY_RELU, "z if z > 0 else 0.01 z", False, 1, "values"),
        "elu": Activation(kernels.ELU, "z if z > 0 else exp(z) - 1", False, 1, "values"),
        "gelu": Activation(kernels.GELU, "z (1 + erf(z / sqrt 2)) / 2", False, 1, "values"),
        "silu": Activation(kernels.SILU, "z / (1 + exp(-z))", False, 1, "values"),
        "softplus": Activation(kernels.SOFTPLUS, "log(1 + exp(z))", False, 1, "values"),
    }
)

#: Hidden-layer activations: every one that is not output-only.
HIDDEN_ACTIVATIONS = tuple(name for name, entry in ACTIVATIONS.items() if not entry.output_only)

#: Losses, sums over the output units averaged over the ``m`` rows of a batch (``r = y_hat -
#: y``). ``outputs``: the output activations it accepts. ``canonical``: the output whose
#: error is ``dLoss/dZ`` with no chain rule (``(A - Y) / m`` for bce, ce and mse), and whose
#: loss ``fnn.mlp(..., loss=None)`` picks (the first loss listed with it). ``labels``:
#: "binary" (0/1 per unit), "classes" (integer labels or one-hot rows) or "targets" (real
#: values; no accuracy). ``target_low``: the smallest target allowed (None: any finite value).
#: ``parameters``: the loss's own named parameters with their defaults and ranges, in the
#: order the kernel reads them (``Net.loss_params``; huber's ``delta`` in ``fnn.mlp``).
LOSSES = MappingProxyType(
    {
        "bce": Loss(
            kernels.BCE, "-(1/m) sum [y log p + (1-y) log(1-p)]", ("sigmoid",), "sigmoid", "binary"
        ),
        "ce": Loss(kernels.CE, "-(1/m) sum log softmax(z)[y]", ("softmax",), "softmax", "classes"),
        "mse": Loss(
            kernels.MSE, "(1/m) sum 1/2 ||y_hat - y||**2", tuple(ACTIVATIONS), "identity", "targets"
        ),
        "huber": Loss(
            kernels.HUBER,
            "(1/m) sum [1/2 r**2 if |r| <= delta else delta (|r| - delta/2)]",
            tuple(ACTIVATIONS),
            "identity",
            "targets",
            parameters=MappingProxyType({"delta": LossParameter(1.0, 0.0, None, True, False)}),
        ),  # fmt: skip
        "mae": Loss(kernels.MAE, "(1/m) sum |r|", tuple(ACTIVATIONS), "identity", "targets"),
        "poisson": Loss(
            kernels.POISSON,
            "(1/m) sum [exp(y_hat) - y y_hat], y_hat the log-rate",
            ("identity",),
            "identity",
            "targets",
            0.0,
        ),  # fmt: skip
    }
)

#: The loss each output activation pairs with when ``loss=None`` (mse for every other output):
#: the first loss whose canonical output it is.
CANONICAL_LOSS = MappingProxyType(
    {entry.canonical: name for name, entry in reversed(LOSSES.items())}
)

_BETA = Hyperparameter(0.0, 1.0, True)  # in [0, 1)
_NON_NEGATIVE = Hyperparameter(0.0, None, False)  # in [0, inf)

#: Optimizers: config type, kernel code, named hyperparameters (the config's fields between
#: ``learning_rate`` and ``clip_norm``, in the order the kernel reads them) with their ranges,
#: and the names of the state slots (Params-shaped running statistics, in ``OptState.slots``
#: order).
OPTIMIZERS = MappingProxyType(
    {
        "sgd": Optimizer(SGD, kernels.SGD, MappingProxyType({}), ()),
        "momentum": Optimizer(
            Momentum, kernels.MOMENTUM, MappingProxyType({"beta": _BETA}), ("v",)
        ),
        "rmsprop": Optimizer(
            RMSProp,
            kernels.RMSPROP,
            MappingProxyType({"beta": _BETA, "eps": _NON_NEGATIVE}),
            ("s",),
        ),  # fmt: skip
        "adam": Optimizer(
            Adam,
            kernels.ADAM,
            MappingProxyType({"b1": _BETA, "b2": _BETA, "eps": _NON_NEGATIVE}),
            ("m", "v"),
        ),  # fmt: skip
        "adamw": Optimizer(
            AdamW,
            kernels.ADAMW,
            MappingProxyType(
                {"b1": _BETA, "b2": _BETA, "eps": _NON_NEGATIVE, "weight_decay": _NON_NEGATIVE}
            ),
            ("m", "v"),
        ),  # fmt: skip
    }
)

#: The registry name of each optimizer config type.
OPTIMIZER_OF_CONFIG = MappingProxyType({entry.config: name for name, entry in OPTIMIZERS.items()})

#: Most hyperparameters any optimizer has (the length of the kernels' ``hyper`` vector).
MAX_HYPERPARAMETERS = max(len(entry.hyperparameters) for entry in OPTIMIZERS.values())


def _normal(rng, n_in: int, n_out: int):
    return rng.standard_normal((n_in, n_out)), np.zeros(n_out)


def _scaled(rng, n_in: int, n_out: int):
    W = 0.1 * rng.standard_normal((n_in, n_out))
    return W, 0.1 * rng.standard_normal(n_out)


def _he(rng, n_in: int, n_out: int):
    return np.sqrt(2.0 / n_in) * rng.standard_normal((n_in, n_out)), np.zeros(n_out)


def _glorot(rng, n_in: int, n_out: int):
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_in, n_out)), np.zeros(n_out)


def _uniform(rng, limit: float, n_in: int, n_out: int):
    """W of shape (n_in, n_out), then b of shape (n_out,), both from U(-limit, limit)."""
    return rng.uniform(-limit, limit, (n_in, n_out)), rng.uniform(-limit, limit, n_out)


def _glorot_with_biases(rng, n_in: int, n_out: int):
    return _uniform(rng, np.sqrt(6.0 / (n_in + n_out)), n_in, n_out)


def _fan_in_uniform(rng, n_in: int, n_out: int):
    return _uniform(rng, 1.0 / np.sqrt(n_in), n_in, n_out)


#: Initialisation schemes: ``draw(rng, n_in, n_out) -> (W, b)`` in float64, for a layer of
#: ``n_in`` inputs and ``n_out`` units (W drawn first, then b, from one generator).
SCHEMES = MappingProxyType(
    {
        "normal": Scheme(_normal, "W ~ N(0, 1), b = 0"),
        "scaled": Scheme(_scaled, "W, b ~ N(0, 0.1**2)"),
        "he": Scheme(_he, "W ~ N(0, 2 / n_in), b = 0 (He)"),
        "glorot": Scheme(_glorot, "W ~ U(+-sqrt(6 / (n_in + n_out))), b = 0"),
        "glorot_with_biases": Scheme(
            _glorot_with_biases,
            "W, b ~ U(+-sqrt(6 / (n_in + n_out))) (scikit-learn's MLP default for relu)",
        ),
        "fan_in_uniform": Scheme(
            _fan_in_uniform, "W, b ~ U(+-1 / sqrt(n_in)) (PyTorch's nn.Linear default)"
        ),
    }
)

#: The scheme ``fnn.init`` uses when ``scheme=None``, whatever the activations. Chosen by
#: ``benchmarks/quality.py`` (six data sets, 5 seeds): with it fnn's test score is within one
#: standard deviation of the better of scikit-learn and PyTorch on 6 of 6 data sets; the
#: zero-bias "glorot", the default before, reached 2 of 6.
DEFAULT_SCHEME = "fan_in_uniform"

"""The name registries: every activation, loss, optimizer and init scheme fnn knows, once.

Each registry maps a name to one entry holding its kernel code (from :mod:`fnn.kernels`)
and its properties. Validation, error messages, ``fit``, ``predict``, ``fnn.plot``, the
Hypothesis strategies of ``fnn.testing``, the docs and the test parametrisation all read
these tables, so adding an activation, a loss or an optimizer means one kernel branch in
:mod:`fnn.kernels` and one entry here (see "Adding an activation, a loss or an optimizer" in
the README). The tables are read-only mappings.
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

#: Losses, means over the ``m`` rows of a batch. ``outputs``: the output activations it
#: accepts. ``canonical``: the output whose error ``dLoss/dZ = (A - Y) / m`` needs no chain
#: rule, and whose loss ``fnn.mlp(..., loss=None)`` picks. ``labels``: "binary" (0/1 per
#: unit), "classes" (integer labels or one-hot rows) or "targets" (real values; no accuracy).
LOSSES = MappingProxyType(
    {
        "bce": Loss(
            kernels.BCE, "-(1/m) sum [y log p + (1-y) log(1-p)]", ("sigmoid",), "sigmoid", "binary"
        ),
        "ce": Loss(kernels.CE, "-(1/m) sum log softmax(z)[y]", ("softmax",), "softmax", "classes"),
        "mse": Loss(
            kernels.MSE, "(1/m) sum 1/2 ||y_hat - y||**2", tuple(ACTIVATIONS), "identity", "targets"
        ),
    }
)

#: The loss each output activation pairs with when ``loss=None`` (mse for every other output).
CANONICAL_LOSS = MappingProxyType({entry.canonical: name for name, entry in LOSSES.items()})

_BETA = Hyperparameter(0.0, 1.0, True)  # in [0, 1)
_NON_NEGATIVE = Hyperparameter(0.0, None, False)  # in [0, inf)

#: Optimizers: config type, kernel code, named hyperparameters (the config's fields after
#: ``learning_rate``, in the order the kernel reads them) with their ranges, and the names of
#: the state slots (Params-shaped running statistics, in ``OptState.slots`` order).
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


#: Initialisation schemes: ``draw(rng, n_in, n_out) -> (W, b)`` in float64.
SCHEMES = MappingProxyType(
    {
        "normal": Scheme(_normal, "W ~ N(0, 1), b = 0 (seed 000)"),
        "scaled": Scheme(_scaled, "W, b ~ N(0, 0.1**2) (seed 003)"),
        "he": Scheme(_he, "W ~ N(0, 2 / n_in), b = 0 (seed 004)"),
        "glorot": Scheme(_glorot, "W ~ U(+-sqrt(6 / (n_in + n_out))), b = 0"),
    }
)

#: The scheme ``fnn.init`` uses when ``scheme=None``, whatever the activations (Keras' and
#: scikit-learn's default; He-normal starts small relu networks too large).
DEFAULT_SCHEME = "glorot"

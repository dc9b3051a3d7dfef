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
from typing import Any, NamedTuple

import numpy as np

from fnn import kernels
from fnn.types import SGD, Adam, AdamW, Momentum, RMSProp

# -- entry types ---------------------------------------------------------------------------


class OnnxNode(NamedTuple):
    """One ONNX operator of an activation: ``op(*inputs) -> output``, with ``attributes``.

    Tensor names: "z" is the layer's Gemm output, "out" the activation, "t0", "t1", ...
    intermediate tensors (the exporter suffixes them with the layer's index), and any name of
    the entry's :class:`Onnx` ``constants`` a scalar constant.
    """

    op: str
    inputs: tuple[str, ...]
    output: str
    attributes: Any = MappingProxyType({})


class Onnx(NamedTuple):
    """An activation's ONNX form: its nodes (none for identity) and their scalar constants.

    ``constants`` maps a name to its value (an initializer in the model's dtype); a name means
    the same value in every activation that uses it.
    """

    nodes: tuple[OnnxNode, ...]
    constants: Any = MappingProxyType({})  # Mapping[str, float]

    def __str__(self) -> str:
        """``Mul(z, SLOPE) -> t0; Max(z, t0) -> out; SLOPE = 0.01`` ("-" for none)."""
        parts = []
        for op, inputs, output, attributes in self.nodes:
            arguments = [*inputs, *(f"{key}={value!r}" for key, value in attributes.items())]
            parts.append(f"{op}({', '.join(arguments)}) -> {output}")
        parts += [f"{name} = {value!r}" for name, value in self.constants.items()]
        return "; ".join(parts) or "-"


class Torch(NamedTuple):
    """An activation's torch.nn module: its class name (None: nothing after the Linear) and
    the settings that make it compute fnn's function where its defaults do not."""

    module: str | None
    settings: Any = MappingProxyType({})  # Mapping[str, Any]

    def __str__(self) -> str:
        if self.module is None:
            return "-"
        return f"{self.module}({', '.join(f'{k}={v!r}' for k, v in self.settings.items())})"


class Activation(NamedTuple):
    """An entry of :data:`fnn.registry.ACTIVATIONS`."""

    code: int
    formula: str
    output_only: bool
    min_units: int
    decision: str
    onnx: Onnx
    torch: Torch
    c: str | None  # C99 body of ``void P_act(size_t n, T *v)``, in place; None: nothing


class Loss(NamedTuple):
    """An entry of :data:`fnn.registry.LOSSES`."""

    code: int
    formula: str
    outputs: tuple[str, ...]
    canonical: str
    labels: str
    target_low: float | None = None  # smallest target value allowed (labels "targets")
    parameters: Any = MappingProxyType({})  # Mapping[str, LossParameter], in the kernel's order


class LossParameter(NamedTuple):
    """A loss's parameter: its ``default`` and range ``[low, high]`` (None: unbounded), each
    end open if ``open_low`` / ``open_high``. ``per_output``: it may also be one value per
    output unit (a sequence of ``n_outputs`` values, each in the range), as quantile's ``q``."""

    default: float
    low: float | None
    high: float | None
    open_low: bool
    open_high: bool
    per_output: bool = False


class Hyperparameter(NamedTuple):
    """Range of an optimizer hyperparameter: ``[low, high]``, ``high`` open if ``open_high``."""

    low: float
    high: float | None
    open_high: bool


class Optimizer(NamedTuple):
    """An entry of :data:`fnn.registry.OPTIMIZERS`."""

    config: type
    code: int
    hyperparameters: Any  # Mapping[str, Hyperparameter], in the kernel's order
    slots: tuple[str, ...]

    @property
    def n_slots(self) -> int:
        return len(self.slots)


class Scheme(NamedTuple):
    """An entry of :data:`fnn.registry.SCHEMES`."""

    draw: Any  # (rng, n_in, n_out) -> (W, b)
    formula: str


# -- the tables ----------------------------------------------------------------------------


def _fixed(**values) -> MappingProxyType:
    return MappingProxyType(values)


def _onnx(*nodes, **constants) -> Onnx:
    """An :class:`Onnx` form from ``(op, inputs, output[, attributes])`` tuples."""
    return Onnx(tuple(OnnxNode(*node) for node in nodes), MappingProxyType(constants))


#: Activations. ``output_only``: allowed as the output activation only. ``min_units``: the
#: fewest units of a layer with it. ``decision``: how ``fnn.predict`` turns the output layer's
#: logits ``z`` into predictions: "threshold" (``z > 0``, 0/1 labels), "argmax" (class
#: indices), or "values" (the activations themselves). ``onnx``, ``torch``, ``c``: its export
#: forms (``fnn.to_onnx``, ``fnn.to_torch`` and ``fnn.from_torch``, ``fnn.to_c``). ONNX: opset
#: 13 has no Gelu (it came in opset 20), and onnxruntime's CPU provider runs LeakyRelu, Elu
#: and Softplus in float32 only, so those are composed of operators it runs in both dtypes; its
#: Erf is float32 only too, so a float64 gelu model needs a runtime with a float64 Erf
#: (``onnx.reference``). torch: Softplus returns z itself above ``threshold``: at 40 that is
#: z's float64 rounding of ``z + log1p(exp(-z))`` (PyTorch's default 20 is 2e-9 off). C: the
#: body of ``void P_act(size_t n, T *v)`` applied in place to ``v[0..n)``, ``{T}`` standing
#: for the float type and ``{f}`` for the libm suffix ("f" for float).
ACTIVATIONS = MappingProxyType(
    {
        "identity": Activation(
            kernels.IDENTITY, "z", False, 1, "values", _onnx(), Torch(None), None
        ),
        "relu": Activation(
            kernels.RELU, "max(z, 0)", False, 1, "values",
            _onnx(("Relu", ("z",), "out")),
            Torch("ReLU"),
            "for (size_t j = 0; j < n; ++j) v[j] = v[j] > 0 ? v[j] : 0;",
        ),
        "sigmoid": Activation(
            kernels.SIGMOID, "1 / (1 + exp(-z))", False, 1, "threshold",
            _onnx(("Sigmoid", ("z",), "out")),
            Torch("Sigmoid"),
            "for (size_t j = 0; j < n; ++j) {\n"
            "        const {T} e = exp{f}(-fabs{f}(v[j]));  /* never overflows */\n"
            "        v[j] = v[j] >= 0 ? 1 / (1 + e) : e / (1 + e);\n"
            "    }",
        ),
        "tanh": Activation(
            kernels.TANH, "tanh(z)", False, 1, "values",
            _onnx(("Tanh", ("z",), "out")),
            Torch("Tanh"),
            "for (size_t j = 0; j < n; ++j) v[j] = tanh{f}(v[j]);",
        ),
        "softmax": Activation(
            kernels.SOFTMAX, "exp(z_j) / sum_k exp(z_k)", True, 2, "argmax",
            # over the features (axis 1), not the samples
            _onnx(("Softmax", ("z",), "out", _fixed(axis=1))),
            Torch("Softmax", _fixed(dim=1)),
            "{T} top = v[0], total = 0;\n"
            "    for (size_t j = 1; j < n; ++j) top = v[j] > top ? v[j] : top;\n"
            "    for (size_t j = 0; j < n; ++j) {\n"
            "        v[j] = exp{f}(v[j] - top);\n"
            "        total += v[j];\n"
            "    }\n"
            "    for (size_t j = 0; j < n; ++j) v[j] /= total;",
        ),
        "leaky_relu": Activation(
            kernels.LEAKY_RELU, "z if z > 0 else 0.01 z", False, 1, "values",
            # max(z, 0.01 z)
            _onnx(("Mul", ("z", "SLOPE"), "t0"), ("Max", ("z", "t0"), "out"), SLOPE=0.01),
            Torch("LeakyReLU", _fixed(negative_slope=0.01)),
            "for (size_t j = 0; j < n; ++j) v[j] = v[j] > 0 ? v[j] : 0.01{f} * v[j];",
        ),
        "elu": Activation(
            kernels.ELU, "z if z > 0 else exp(z) - 1", False, 1, "values",
            # relu(z) + exp(min(z, 0)) - 1: exp never overflows
            _onnx(
                ("Min", ("z", "ZERO"), "t0"), ("Exp", ("t0",), "t1"), ("Sub", ("t1", "ONE"), "t2"),
                ("Relu", ("z",), "t3"), ("Add", ("t3", "t2"), "out"),
                ZERO=0.0, ONE=1.0,
            ),
            Torch("ELU", _fixed(alpha=1.0)),
            "for (size_t j = 0; j < n; ++j) v[j] = v[j] > 0 ? v[j] : expm1{f}(v[j]);",
        ),
        "gelu": Activation(
            kernels.GELU, "z (1 + erf(z / sqrt 2)) / 2", False, 1, "values",
            # z (1 + erf(z / sqrt 2)) / 2
            _onnx(
                ("Mul", ("z", "SQRT_HALF"), "t0"), ("Erf", ("t0",), "t1"),
                ("Add", ("t1", "ONE"), "t2"), ("Mul", ("z", "t2"), "t3"),
                ("Mul", ("t3", "HALF"), "out"),
                SQRT_HALF=0.5**0.5, ONE=1.0, HALF=0.5,
            ),
            Torch("GELU", _fixed(approximate="none")),
            "for (size_t j = 0; j < n; ++j)  /* z Phi(z), Phi(z) = erfc(-z / sqrt 2) / 2 */\n"
            "        v[j] = v[j] * (0.5{f} * erfc{f}(-v[j] * 0.7071067811865476{f}));",
        ),
        "silu": Activation(
            kernels.SILU, "z / (1 + exp(-z))", False, 1, "values",
            # z sigmoid(z)
            _onnx(("Sigmoid", ("z",), "t0"), ("Mul", ("z", "t0"), "out")),
            Torch("SiLU"),
            "for (size_t j = 0; j < n; ++j) {\n"
            "        const {T} e = exp{f}(-fabs{f}(v[j]));  /* never overflows */\n"
            "        v[j] *= v[j] >= 0 ? 1 / (1 + e) : e / (1 + e);\n"
            "    }",
        ),
        "softplus": Activation(
            kernels.SOFTPLUS, "log(1 + exp(z))", False, 1, "values",
            # relu(z) + log(1 + exp(-|z|)): exp never overflows
            _onnx(
                ("Abs", ("z",), "t0"), ("Neg", ("t0",), "t1"), ("Exp", ("t1",), "t2"),
                ("Add", ("t2", "ONE"), "t3"), ("Log", ("t3",), "t4"), ("Relu", ("z",), "t5"),
                ("Add", ("t5", "t4"), "out"),
                ONE=1.0,
            ),
            Torch("Softplus", _fixed(beta=1.0, threshold=40.0)),
            "for (size_t j = 0; j < n; ++j)  /* never overflows */\n"
            "        v[j] = fmax{f}(v[j], 0) + log1p{f}(exp{f}(-fabs{f}(v[j])));",
        ),
    }
)  # fmt: skip

#: Hidden-layer activations: every one that is not output-only.
HIDDEN_ACTIVATIONS = tuple(name for name, entry in ACTIVATIONS.items() if not entry.output_only)

#: Losses, sums over the output units averaged over the ``m`` rows of a batch (``r = y_hat -
#: y``). ``outputs``: the output activations it accepts. ``canonical``: the output whose
#: error is ``dLoss/dZ`` with no chain rule (``(A - Y) / m`` for bce, ce and mse), and whose
#: loss ``fnn.mlp(..., loss=None)`` picks (the first loss listed with it). ``labels``:
#: "binary" (0/1 per unit), "classes" (integer labels or one-hot rows) or "targets" (real
#: values; no accuracy). ``target_low``: the smallest target allowed (None: any finite value).
#: ``parameters``: the loss's own named parameters with their defaults and ranges, in the
#: order the kernel reads them (``Net.loss_params``; huber's ``delta`` in ``fnn.mlp``); the
#: kernel's array holds a per-output parameter's 1 or ``n_outputs`` values in its place.
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
        "quantile": Loss(
            kernels.QUANTILE,
            "(1/m) sum [(1 - q) r if r > 0 else -q r] (pinball; q = 0.5 or one q per output)",
            tuple(ACTIVATIONS),
            "identity",
            "targets",
            parameters=MappingProxyType({"q": LossParameter(0.5, 0.0, 1.0, True, True, True)}),
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
#: ``benchmarks/quality.py``: the scheme with which fnn's test scores kept up with the better of
#: scikit-learn and PyTorch on the most data sets (benchmarks/README.md, "Quality results").
DEFAULT_SCHEME = "fan_in_uniform"

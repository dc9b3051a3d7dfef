"""Validation at the API boundary: every public function checks its arguments here, once.

Each check either returns the argument normalised for the kernels (C-contiguous, writable,
the working dtype) or raises ``TypeError``/``ValueError`` naming the argument, what was
expected and what was received. Nothing here modifies what the caller passed in.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from fnn.types import Net, OptState, Params

FLOAT_DTYPES = (np.float32, np.float64)


def describe(value) -> str:
    """Short description of a received value for error messages."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else f"{type(value).__name__} {text[:57]}..."


def one_of(name: str, value, choices) -> str:
    """Check that ``value`` is one of the registry names ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {describe(value)}")
    return value


def integer(name: str, value, minimum: int | None = None) -> int:
    """A Python or NumPy integer (not a bool), at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {describe(value)}")
    value = operator.index(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def real(
    name: str, value, low: float | None = None, high: float | None = None, *, open_low=False,
    open_high=False,
) -> float:  # fmt: skip
    """A finite real number inside the given bounds (closed unless ``open_*``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    too_low = low is not None and (value <= low if open_low else value < low)
    too_high = high is not None and (value >= high if open_high else value > high)
    if too_low or too_high:
        left = "(" if open_low else "["
        right = ")" if open_high else "]"
        bounds = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ValueError(f"{name} must be in {bounds}, got {value}")
    return value


def float_dtype(name: str, dtype) -> np.dtype:
    """float32 or float64; integer or other dtypes are refused."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"{name} must be float32 or float64, got {describe(dtype)}") from error
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {resolved}")
    return resolved


def network(net) -> Net:
    if not isinstance(net, Net):
        raise TypeError(f"net must be an fnn.Net (from fnn.mlp), got {describe(net)}")
    return net


def params_of(sizes: tuple[int, ...], params, name: str = "params") -> np.dtype:
    """Check that ``params`` fits a network of layer ``sizes``; return their dtype."""
    if not isinstance(params, Params):
        raise TypeError(f"{name} must be an fnn.Params, got {describe(params)}")
    if len(params.layers) != len(sizes) - 1:
        raise ValueError(
            f"{name} has {len(params.layers)} layers but the network has {len(sizes) - 1} "
            f"(sizes {sizes})"
        )
    dtype = None
    for index, (layer, n_in, n_out) in enumerate(zip(params.layers, sizes, sizes[1:])):
        for field, expected in (("W", (n_in, n_out)), ("b", (n_out,))):
            array = getattr(layer, field, None)
            where = f"{name}.layers[{index}].{field}"
            if not isinstance(array, np.ndarray):
                raise TypeError(f"{where} must be a NumPy array, got {describe(array)}")
            if array.shape != expected:
                raise ValueError(f"{where} must have shape {expected}, got {array.shape}")
            if array.dtype not in FLOAT_DTYPES:
                raise TypeError(f"{where} must be float32 or float64, got {array.dtype}")
            if dtype is not None and array.dtype != dtype:
                raise TypeError(f"{where} has dtype {array.dtype} but earlier arrays have {dtype}")
            dtype = array.dtype
    return dtype


def _numeric_array(name: str, value) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise TypeError(f"{name} must be a numeric array, got {describe(value)}") from error
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {array.dtype}")
    return array


def inputs(name: str, X, n_features: int, dtype: np.dtype) -> np.ndarray:
    """X as a writable C-contiguous (n_samples, n_features) array of ``dtype``."""
    array = _numeric_array(name, X)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, {n_features}), got shape {array.shape}"
        )
    if array.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} columns (features), got {array.shape[1]}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {array.shape}")
    converted = np.array(array, dtype=dtype, order="C", copy=None)
    if not np.isfinite(converted).all():
        raise ValueError(f"{name} contains NaN or infinity")
    if converted is array and not converted.flags.writeable:
        converted = converted.copy()  # kernels are compiled once, for writable arrays
    return converted


def targets(name: str, y, net: Net, n_samples: int, dtype: np.dtype) -> np.ndarray:
    """Labels or targets as a writable (n_samples, n_outputs) array of ``dtype``.

    bce: 0/1 of shape (n,) or (n, k); ce: integer labels (n,) or one-hot (n, k);
    mse: targets (n,) or (n, k).
    """
    array = _numeric_array(name, y)
    n_out = net.sizes[-1]
    if array.ndim not in (1, 2) or array.shape[0] != n_samples:
        raise ValueError(
            f"{name} must have {n_samples} rows (one per sample in X), shape ({n_samples},) "
            f"or ({n_samples}, {n_out}); got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity")
    if net.loss == "ce" and array.ndim == 1:
        if not np.all(array == np.round(array)) or array.min() < 0 or array.max() >= n_out:
            bad = array[(array != np.round(array)) | (array < 0) | (array >= n_out)][0]
            raise ValueError(
                f"{name} holds class labels, which must be integers in 0..{n_out - 1}, "
                f"got {bad}"
            )
        one_hot = np.zeros((n_samples, n_out), dtype)
        one_hot[np.arange(n_samples), array.astype(np.int64)] = 1
        return one_hot
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.shape[1] != n_out:
        raise ValueError(
            f"{name} must have {n_out} columns (one per output unit), got shape {array.shape}"
        )
    if net.loss == "bce" and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold 0/1 labels for the 'bce' loss, got other values")
    if net.loss == "ce" and not (np.isin(array, (0, 1)).all() and (array.sum(axis=1) == 1).all()):
        raise ValueError(f"{name} must be one-hot rows (a single 1 per row) for the 'ce' loss")
    return np.array(array, dtype=dtype, order="C", copy=True)


def opt_state_of(name: str, state, optimizer_name: str, n_slots: int) -> OptState:
    if not isinstance(state, OptState):
        raise TypeError(f"{name} must be an fnn.OptState (from fnn.opt_init), got {describe(state)}")
    if state.optimizer != optimizer_name or len(state.slots) != n_slots:
        raise ValueError(
            f"{name} belongs to optimizer {state.optimizer!r}, not {optimizer_name!r}; "
            "create it with fnn.opt_init(opt, params)"
        )
    integer(f"{name}.step", state.step, minimum=0)
    return state

"""Validation at the API boundary: every public function checks its arguments here, once.

Each check either returns the argument normalised for the kernels (C-contiguous, native byte
order, the working dtype, writable so that every kernel compiles a single signature per dtype)
or raises ``TypeError`` (wrong kind of thing) / ``ValueError`` (right kind, wrong value or
shape) with a one-line message naming the argument, what was expected and what was received.
Nothing here modifies what the caller passed in: an array that already has the working form
is passed on as it is (the kernels never write into their inputs), any other is converted
into a new array, once.

The checks are on the path of every ``grad`` call, so each has a fast path for the common
case (a well-formed value costs a few attribute reads and at most one vectorised pass over
the data) and builds its message only when it is about to raise.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from collections.abc import Callable, Mapping
from typing import NoReturn

import numpy as np

from fnn import flat
from fnn.registry import ACTIVATIONS, HIDDEN_ACTIVATIONS, LOSSES
from fnn.types import (
    Cache,
    EarlyStopping,
    FitSettings,
    Layer,
    Net,
    OptState,
    Params,
    Plateau,
    ReduceOnPlateau,
    Scaler,
)

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_FLOAT_SET = frozenset(FLOAT_DTYPES)

# The largest integers fnn accepts, in one place, so that a huge integer is refused with a
# message naming it rather than overflowing an int64 in a kernel or a NumPy allocation.
#: Update counts (epochs, optimizer steps, schedule lengths): an int64 in the kernels, with
#: headroom for ``step + epochs * batches_per_epoch``.
MAX_STEPS = 2**62
#: Elements of one array (samples, layer widths, parameters): NumPy allocates at most
#: ``2**63 - 1`` bytes, so 8-byte elements stop below ``2**60``.
MAX_ELEMENTS = 2**60 - 1
#: Keys and the data folded into them are unsigned 64-bit words.
MAX_KEY = 2**64 - 1
#: The memory assumed where the OS does not report it (``os.sysconf`` is POSIX-only), bytes.
MEMORY_UNKNOWN = 2**40


# -- scalars and names -----------------------------------------------------------------------------


def describe(value) -> str:
    """Short description of a received value for error messages."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= 60 else f"{type(value).__name__} {text[:57]}..."


def add_note(error: BaseException, note: str) -> None:
    """Add ``note`` to ``error`` (PEP 678: Python >= 3.11 prints it under the traceback)."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:
        error.__notes__ = [*getattr(error, "__notes__", []), note]


def one_of(name: str, value, choices) -> str:
    """Check that ``value`` is one of the registry names ``choices`` (listed on failure)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {sorted(choices)}, got {describe(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def integer(name: str, value, minimum: int | None = None, maximum: int = MAX_ELEMENTS) -> int:
    """A Python or NumPy integer (not a bool) in ``[minimum, maximum]``; returned as ``int``.

    The default ``maximum`` is :data:`MAX_ELEMENTS` (a count of things held in memory); pass
    :data:`MAX_STEPS` or :data:`MAX_KEY` for update counts and keys.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {describe(value)}")
    value = operator.index(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:  # a huge value is named by its size: its digits would fill a screen
        got = value if value.bit_length() <= 128 else f"an integer >= 2**{value.bit_length() - 1}"
        raise ValueError(f"{name} must be <= {maximum}, got {got}")
    return value


def real(
    name: str, value, low: float | None = None, high: float | None = None, *, open_low=False,
    open_high=False,
) -> float:  # fmt: skip
    """A finite real number inside the given bounds (closed unless ``open_*``); a ``float``."""
    if type(value) is not float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {describe(value)}")
        value = float(value)
    if value - value != 0.0:  # NaN or infinity
        raise ValueError(f"{name} must be finite, got {value}")
    if (low is not None and (value <= low if open_low else value < low)) or (
        high is not None and (value >= high if open_high else value > high)
    ):
        left = "(" if open_low else "["
        right = ")" if open_high else "]"
        bounds = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ValueError(f"{name} must be in {bounds}, got {value}")
    return value


def flag(name: str, value) -> bool:
    """A bool (Python or NumPy); 0 and 1 are refused so that typos do not pass silently."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def float_dtype(name: str, dtype) -> np.dtype:
    """float32 or float64; integer or other dtypes are refused."""
    try:
        resolved = np.dtype(dtype)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be float32 or float64, got {describe(dtype)}") from error
    if resolved not in _FLOAT_SET:
        raise TypeError(f"{name} must be float32 or float64, got {resolved}")
    return resolved


def path(name: str, value, suffix: str | None = None) -> str:
    """A file path (str or os.PathLike, not an open file or a file descriptor)."""
    if isinstance(value, (bool, int)) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike path, got {describe(value)}")
    text = os.fspath(value)
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str path, got bytes {text!r}")
    if suffix is not None and not text.endswith(suffix):
        raise ValueError(f"{name} must end with {suffix!r}, got {text!r}")
    return text


# -- network specs ---------------------------------------------------------------------------------


def network(net, name: str = "net") -> Net:
    """A complete, consistent :class:`fnn.Net` (as :func:`fnn.mlp` builds it).

    A hand-made ``Net`` with a wrong number of activations would make a kernel read past the
    end of an array, so every field is checked, not only the type. The fast path accepts a
    well-formed Net in a few lookups; anything else gets :func:`spec`'s precise message, or is
    returned normalised (sizes as Python ints, tuples) when it is valid.
    """
    if type(net) is not Net and not isinstance(net, Net):
        raise TypeError(f"{name} must be an fnn.Net (from fnn.mlp), got {describe(net)}")
    sizes, activations, loss, dropout, values = net
    try:
        output = activations[-1]
        if (
            type(sizes) is tuple
            and type(activations) is tuple
            and len(activations) == len(sizes) - 1 >= 1
            and output in LOSSES[loss].outputs
            and all(type(size) is int and size >= 1 for size in sizes)
            and sizes[-1] >= ACTIVATIONS[output].min_units
            and (values == () or _loss_params_fit(values, LOSSES[loss].parameters, sizes[-1]))
            and all(type(act) is str and act in HIDDEN_ACTIVATIONS for act in activations[:-1])
            and (
                dropout == ()
                or (
                    type(dropout) is tuple
                    and len(dropout) == len(sizes) - 2
                    and all(type(rate) is float and 0.0 <= rate < 1.0 for rate in dropout)
                    and any(dropout)
                )
            )
        ):
            return net
    except Exception:  # arrays, unhashable names, ...: the precise checks below say what
        pass
    sizes, activations = spec(sizes, activations, loss, name)
    if dropout != ():  # () is a network without dropout
        dropout = dropout_rates(f"{name}.dropout", dropout, sizes)
    values = loss_params(f"{name}.loss_params", values, loss, sizes[-1])
    return Net(sizes, activations, loss, dropout, values)


def dropout_rates(name: str, rates, sizes: tuple[int, ...]) -> tuple[float, ...]:
    """Dropout rates: one number in [0, 1) for every hidden layer, or one per hidden layer
    (a list or tuple); ``()`` when every rate is 0 (the network has no dropout)."""
    if isinstance(rates, (list, tuple)):
        rates = tuple(
            real(f"{name}[{index}]", rate, low=0.0, high=1.0, open_high=True)
            for index, rate in enumerate(per_hidden_layer(name, rates, sizes))
        )
    else:
        rates = (real(name, rates, low=0.0, high=1.0, open_high=True),) * (len(sizes) - 2)
    return rates if any(rates) else ()


def loss_params(name: str, given, loss: str, n_outputs: int) -> tuple:
    """A loss's own parameters as ``Net.loss_params`` holds them (``LOSSES[loss].parameters``).

    ``given`` is a mapping from parameter names to values (a name left out takes its default;
    an error names ``{name}['key']``, or ``key`` alone when ``name`` is empty) or a Net's tuple
    (one value per parameter in the registry's order, or ``()``). A parameter is a number in
    its range; one that is ``per_output`` may also be a sequence (in a Net's tuple: a tuple, so
    that the Net stays hashable) of 1 or ``n_outputs`` such numbers, one per output unit.
    Returns one float per parameter (for a per-output one, a tuple of ``n_outputs`` floats
    when they differ), or ``()`` when every one is its default, so that equal nets compare
    equal.
    """
    parameters = LOSSES[loss].parameters
    if isinstance(given, Mapping):
        for key in given:
            if key not in parameters:
                label = f"{name}[{key!r}]" if name else str(key)
                raise ValueError(
                    f"{label} is not a parameter of loss {loss!r}, whose parameters are "
                    f"{list(parameters) or 'none'}"
                )
        labels = [f"{name}[{key!r}]" if name else key for key in parameters]
        given = tuple(given.get(key, parameter.default) for key, parameter in parameters.items())
        sequences = (list, tuple, np.ndarray)
    elif given == ():
        return ()
    elif type(given) is not tuple or len(given) != len(parameters):
        raise ValueError(
            f"{name} must be () or a tuple of one number per parameter of loss {loss!r} "
            f"({list(parameters) or 'none'}), got {describe(given)}"
        )
    else:
        labels = [f"{name}[{index}] ({key})" for index, key in enumerate(parameters)]
        sequences = (tuple,)
    values = tuple(
        _loss_param(label, value, parameter, n_outputs, sequences)
        for label, value, parameter in zip(labels, given, parameters.values())
    )
    return () if values == tuple(p.default for p in parameters.values()) else values


def _loss_param(name: str, value, p, n_outputs: int, sequences) -> float | tuple[float, ...]:
    """One value of the loss parameter ``p``: a float in its range, or (``p.per_output``) 1 or
    ``n_outputs`` of them given as one of the types ``sequences``, as one float when they are
    all equal."""

    def inside(label: str, item) -> float:
        return real(label, item, p.low, p.high, open_low=p.open_low, open_high=p.open_high)

    if not (p.per_output and isinstance(value, (list, tuple, np.ndarray))):
        return inside(name, value)
    if not isinstance(value, sequences):  # a list or an array in a Net: unhashable
        raise TypeError(f"{name} must be a float or a tuple of floats, got {describe(value)}")
    if (isinstance(value, np.ndarray) and value.ndim != 1) or len(value) not in (1, n_outputs):
        raise ValueError(
            f"{name} must be a number or a sequence of 1 or {n_outputs} numbers (one per "
            f"output unit), got {describe(value)}"
        )
    values = tuple(inside(f"{name}[{index}]", item) for index, item in enumerate(value))
    return values[0] if all(item == values[0] for item in values) else values


def _loss_params_fit(values, parameters, n_outputs) -> bool:
    """Whether ``values`` is already what :func:`loss_params` returns (the fast path)."""
    return (
        type(values) is tuple
        and len(values) == len(parameters)
        and values != tuple(p.default for p in parameters.values())
        and all(
            _inside(value, p)
            or (
                p.per_output
                and type(value) is tuple
                and len(value) == n_outputs
                and all(_inside(item, p) for item in value)
                and any(item != value[0] for item in value)
            )
            for value, p in zip(values, parameters.values())
        )
    )


def _inside(value, p) -> bool:
    """Whether ``value`` is a finite float inside the range of the loss parameter ``p``."""
    return (
        type(value) is float
        and (p.low is None or (value > p.low if p.open_low else value >= p.low))
        and (p.high is None or (value < p.high if p.open_high else value <= p.high))
        and value - value == 0.0
    )


def spec(sizes, activations, loss, name: str | Callable[..., str] = "net") -> tuple:
    """Check the fields of a network spec; return ``(sizes, activations)`` as tuples.

    The one full check of a network: :func:`network`, ``fnn.mlp``, ``fnn.from_architecture``
    and ``fnn.load`` all end here. Messages name ``{name}.sizes[i]``, ``{name}.activations[i]``
    and ``{name}.loss``; a caller whose arguments are laid out otherwise passes ``name`` as a
    function ``name(field, index=None)`` that names them (the whole field when ``index`` is
    None).
    """
    at = name if callable(name) else _field_namer(name)
    if (
        isinstance(sizes, (str, bytes))
        or not isinstance(sizes, (tuple, list, np.ndarray))
        or (isinstance(sizes, np.ndarray) and sizes.ndim != 1)
    ):
        raise TypeError(f"{at('sizes')} must be a tuple of layer widths, got {describe(sizes)}")
    if len(sizes) < 2:
        raise ValueError(
            f"{at('sizes')} needs at least two entries (inputs, outputs), got {describe(sizes)}"
        )
    sizes = widths(at("sizes"), sizes)
    if isinstance(activations, (str, bytes)) or not isinstance(activations, (tuple, list)):
        raise TypeError(
            f"{at('activations')} must be a tuple of activation names, got {describe(activations)}"
        )
    if len(activations) != len(sizes) - 1:
        raise ValueError(
            f"{at('activations')} must have {len(sizes) - 1} entries (one per weight layer of "
            f"sizes {sizes}), got {len(activations)}"
        )
    for index, act in enumerate(activations):
        last = index == len(activations) - 1
        one_of(at("activations", index), act, ACTIVATIONS if last else HIDDEN_ACTIVATIONS)
        units = ACTIVATIONS[act].min_units
        if sizes[index + 1] < units:
            layer = "output" if last else "hidden layer"
            raise ValueError(
                f"{at('sizes', index + 1)} must be >= {units} (a {act} {layer} needs at least "
                f"{units} units), got {sizes[index + 1]}"
            )
    one_of(at("loss"), loss, LOSSES)
    output = activations[-1]
    if output not in LOSSES[loss].outputs:
        raise ValueError(
            f"{at('loss')} {loss!r} needs an output activation in {list(LOSSES[loss].outputs)}, "
            f"got {at('activations', len(activations) - 1)} {output!r}"
        )
    return sizes, tuple(activations)


def _field_namer(name: str) -> Callable[..., str]:
    """``name(field, index)`` for :func:`spec`: ``net.sizes``, ``net.sizes[2]``, ..."""
    return lambda field, index=None: f"{name}.{field}" + ("" if index is None else f"[{index}]")


def per_hidden_layer(name: str, values, sizes: tuple[int, ...]) -> tuple:
    """A list or tuple with one entry per hidden layer of ``sizes``, as a tuple (entries
    unchecked)."""
    if not isinstance(values, (list, tuple)):
        raise TypeError(
            f"{name} must be one value or a list with one per hidden layer, got {describe(values)}"
        )
    if len(values) != len(sizes) - 2:
        raise ValueError(
            f"{name} must have {len(sizes) - 2} entries (one per hidden layer of sizes {sizes}), "
            f"got {len(values)}"
        )
    return tuple(values)


def widths(name: str, sizes) -> tuple[int, ...]:
    """Layer widths (each >= 1) as Python ints, refused when the parameters could not fit in
    one array (the engine's flat vector)."""
    sizes = tuple(integer(f"{name}[{i}]", size, minimum=1) for i, size in enumerate(sizes))
    n_params = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes, sizes[1:]))
    if n_params > MAX_ELEMENTS:
        raise ValueError(
            f"{name} {sizes} give {n_params} parameters, more than one array can hold "
            f"({MAX_ELEMENTS})"
        )
    return sizes


def physical_memory() -> int:
    """This machine's physical memory in bytes (:data:`MEMORY_UNKNOWN` if the OS won't say)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return MEMORY_UNKNOWN
    return total if total > 0 else MEMORY_UNKNOWN


def allocatable(name: str, sizes: tuple[int, ...], dtype: np.dtype) -> None:
    """A ``ValueError`` when the parameters of layer ``sizes`` in ``dtype`` would take
    more than this machine's memory: say so before NumPy tries (and fails, or the OS kills
    the process when the pages are touched)."""
    count = flat.n_params(sizes)
    need, have = count * dtype.itemsize, physical_memory()
    if need > have:
        raise ValueError(
            f"{name} {sizes} give {count} parameters, {_in_bytes(need)} in {dtype}, more than "
            f"this machine's memory ({_in_bytes(have)})"
        )


def _in_bytes(count: int) -> str:
    """A byte count as NumPy writes it: ``14.6 TiB``."""
    power = min((count.bit_length() - 1) // 10, 6) if count else 0
    if not power:
        return f"{count} bytes"
    return f"{count / 1024**power:.1f} {'KMGTPE'[power - 1]}iB"


# -- parameters and optimizer state ----------------------------------------------------------------


def params_of(sizes: tuple[int, ...], params, name: str = "params", dtype=None) -> np.dtype:
    """Check that ``params`` fits a network of layer ``sizes``; return their dtype.

    Every ``W`` and ``b`` must be a plain ndarray of the right shape and one common float dtype
    (``dtype`` when given: optimizer moments must match the parameters); big-endian arrays
    count as their native dtype (the engine's packing converts them, as for X).
    """
    layers = params.layers if type(params) is Params else None
    given = dtype
    if type(layers) is tuple and len(layers) == len(sizes) - 1 and layers:
        if dtype is None:
            first = layers[0].W if type(layers[0]) is Layer else None
            dtype = first.dtype if type(first) is np.ndarray else None
        if dtype in _FLOAT_SET:
            n_in = sizes[0]
            ok = True
            for layer, n_out in zip(layers, sizes[1:]):
                if type(layer) is not Layer:
                    ok = False
                    break
                W, b = layer
                if (
                    type(W) is not np.ndarray
                    or type(b) is not np.ndarray
                    # identity first, cheaper than ==: the arrays a kernel returns have equal
                    # but distinct dtype objects, so the optimizer state of opt_step would take
                    # the slow path on every step
                    or (W.dtype is not dtype and W.dtype != dtype)
                    or (b.dtype is not dtype and b.dtype != dtype)
                    or W.shape != (n_in, n_out)
                    or b.shape != (n_out,)
                ):
                    ok = False
                    break
                n_in = n_out
            if ok:
                return dtype
    return _params_slow(sizes, params, name, given)


def model(net, params) -> np.dtype:
    """:func:`network` and :func:`params_of`: the network and parameters of every call.

    Returns the dtype of the parameters.
    """
    return params_of(network(net).sizes, params)


def _params_slow(sizes, params, name, dtype) -> np.dtype:
    """The full check behind :func:`params_of`: raise the precise error, or accept lists."""
    if not isinstance(params, Params):
        raise TypeError(f"{name} must be an fnn.Params, got {describe(params)}")
    layers = params.layers
    if not isinstance(layers, (tuple, list)):
        raise TypeError(f"{name}.layers must be a tuple of fnn.Layer, got {describe(layers)}")
    if len(layers) != len(sizes) - 1:
        raise ValueError(
            f"{name} has {len(layers)} layers but the network has {len(sizes) - 1} "
            f"(sizes {sizes}); were they made for another network?"
        )
    for index, (layer, n_in, n_out) in enumerate(zip(layers, sizes, sizes[1:])):
        if not isinstance(layer, Layer):
            raise TypeError(f"{name}.layers[{index}] must be an fnn.Layer, got {describe(layer)}")
        for field, expected in (("W", (n_in, n_out)), ("b", (n_out,))):
            array = getattr(layer, field)
            where = f"{name}.layers[{index}].{field}"
            if type(array) is not np.ndarray:  # a masked array or np.matrix would reach Numba
                kind = "" if not isinstance(array, np.ndarray) else f" (not a {type(array)})"
                raise TypeError(f"{where} must be a plain NumPy array{kind}, got {describe(array)}")
            if array.shape != expected:
                raise ValueError(
                    f"{where} must have shape {expected} for sizes {sizes}, got {array.shape}"
                )
            native = array.dtype.newbyteorder("=")  # big-endian is converted, as for X
            if native not in _FLOAT_SET:
                raise TypeError(f"{where} must be float32 or float64, got {array.dtype}")
            if dtype is not None and native != dtype:
                raise TypeError(
                    f"{where} must have dtype {dtype} (that of the other arrays), got {array.dtype}"
                )
            dtype = native
    if dtype is None:
        raise ValueError(f"{name} must hold at least one layer, got {describe(params)}")
    return dtype


def sizes_of(params, name: str = "params") -> tuple[int, ...]:
    """Layer sizes implied by a Params (for functions that receive no ``net``)."""
    layers = getattr(params, "layers", None) if isinstance(params, Params) else None
    if not isinstance(layers, (tuple, list)) or not layers:
        raise TypeError(f"{name} must be a non-empty fnn.Params, got {describe(params)}")
    sizes = []
    for index, layer in enumerate(layers):
        W = layer.W if isinstance(layer, Layer) else None
        if not isinstance(W, np.ndarray) or W.ndim != 2:
            raise TypeError(
                f"{name}.layers[{index}].W must be a 2-D NumPy array, got {describe(W)}"
            )
        if index == 0:
            sizes.append(W.shape[0])
        elif W.shape[0] != sizes[-1]:
            raise ValueError(
                f"{name}.layers[{index}].W must have {sizes[-1]} rows (the previous layer's "
                f"width), got shape {W.shape}"
            )
        sizes.append(W.shape[1])
    sizes = tuple(sizes)
    params_of(sizes, params, name)
    return sizes


def opt_state_of(
    name: str, state, optimizer_name: str, n_slots: int, sizes: tuple[int, ...], dtype
) -> OptState:
    """An OptState of ``optimizer_name`` whose moments fit ``sizes`` and ``dtype``.

    Returns it with ``step`` as a Python int (so that the kernels see one integer type).
    """
    if not isinstance(state, OptState):
        raise TypeError(
            f"{name} must be an fnn.OptState (from fnn.opt_init), got {describe(state)}"
        )
    if state.optimizer != optimizer_name:
        raise ValueError(
            f"{name} belongs to optimizer {describe(state.optimizer)}, not {optimizer_name!r}; "
            "create it with fnn.opt_init(opt, params)"
        )
    slots = state.slots
    if not isinstance(slots, (tuple, list)) or len(slots) != n_slots:
        raise ValueError(
            f"{name}.slots must be a tuple of {n_slots} Params for {optimizer_name!r}, "
            f"got {describe(slots)}"
        )
    for index, slot in enumerate(slots):
        params_of(sizes, slot, f"{name}.slots[{index}]", dtype)
    step = integer(f"{name}.step", state.step, minimum=0, maximum=MAX_STEPS)
    if state.plateau is not None:
        state = state._replace(plateau=plateau_of(f"{name}.plateau", state.plateau))
    return state if type(state.step) is int else state._replace(step=step)


def same_optimizer(name: str, state: OptState, opt) -> None:
    """Refuse to resume ``state`` with an ``opt`` other than the config it was saved with
    (``state.config``, set by ``fnn.load_state``; None: nothing to compare)."""
    if state.config is None or same_value(state.config, opt):
        return
    differ = [
        f"{field}: saved {saved!r}, given {getattr(opt, field)!r}"
        for field, saved in state.config._asdict().items()
        if not same_value(saved, getattr(opt, field, None))
    ] if type(opt) is type(state.config) else []  # fmt: skip
    raise ValueError(
        f"opt must be the optimizer {name} was saved with, {state.config!r}, got {opt!r}"
        + (f" ({'; '.join(differ)})" if differ else "")
        + f"; resume with the saved one (fnn.load_record(path).opt), or from "
        f"{name}._replace(config=None) to change the hyperparameters on purpose"
    )


def same_value(a, b) -> bool:
    """Whether two configs (or schedules, or numbers) are equal field by field and of the same
    types all the way down (NamedTuples of equal values but other types differ)."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_value, a, b))
    return a is b or a == b


def fit_settings_of(name: str, settings) -> FitSettings:
    """A FitSettings with every field as ``fit`` accepts it (the key an int in range or a
    SeedSequence)."""
    if not isinstance(settings, FitSettings):
        raise TypeError(f"{name} must be an fnn.FitSettings, got {describe(settings)}")
    epochs, batch_size, key, l2, early_stopping, reduce_on_plateau = settings
    if not isinstance(key, np.random.SeedSequence):
        key = integer(f"{name}.key", key, 0, MAX_KEY)
    return FitSettings(
        integer(f"{name}.epochs", epochs, 0, MAX_STEPS),
        None if batch_size is None else integer(f"{name}.batch_size", batch_size, 1),
        key,
        real(f"{name}.l2", l2, low=0.0),
        None if early_stopping is None else early_stopping_of(f"{name}.early_stopping",
                                                              early_stopping),
        None if reduce_on_plateau is None else reduce_on_plateau_of(
            f"{name}.reduce_on_plateau", reduce_on_plateau),
    )  # fmt: skip


def plateau_of(name: str, value) -> Plateau:
    """A reduce-on-plateau watcher state with every field in range, as Python numbers."""
    if not isinstance(value, Plateau):
        raise TypeError(f"{name} must be an fnn.Plateau or None, got {describe(value)}")
    best = value.best
    if isinstance(best, (bool, np.bool_)) or not isinstance(best, numbers.Real) or best != best:
        raise ValueError(f"{name}.best must be a real number or inf, got {describe(best)}")
    return Plateau(
        real(f"{name}.scale", value.scale, low=0.0, open_low=True),
        float(best),
        integer(f"{name}.bad_epochs", value.bad_epochs, 0, MAX_STEPS),
        integer(f"{name}.cooldown_left", value.cooldown_left, 0, MAX_STEPS),
    )


# -- data arrays -----------------------------------------------------------------------------------


def _kind_error(name: str, array: np.ndarray, text_hint: str):
    kind = array.dtype.kind
    if kind == "b":
        raise TypeError(f"{name} must be numeric, got dtype bool; convert it with .astype(int)")
    if kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {array.dtype}")
    text = kind in "US" or (kind == "O" and array.size and isinstance(array.flat[0], (str, bytes)))
    hint = text_hint if text else ""
    got = describe(array.item()) if kind == "O" and not array.ndim else f"dtype {array.dtype}"
    raise TypeError(f"{name} must be a numeric array, got {got}{hint}")


def as_array(name: str, value, text_hint: str = "") -> np.ndarray:
    """``value`` as an ndarray of integers or floats (not bool, complex, object or text).

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : array_like
    text_hint : str
        Ends the message when ``value`` holds text (strings).

    Returns
    -------
    ndarray
        ``value`` itself when it is already an ndarray, else ``numpy.asarray(value)``.

    Raises
    ------
    TypeError
        When ``value`` is ragged or not of integers or floats.
    """
    if type(value) is not np.ndarray:
        try:
            value = np.asarray(value)
        except (ValueError, TypeError, OverflowError) as error:
            raise TypeError(
                f"{name} must be a numeric array (rectangular), got {describe(value)}"
            ) from error
    if value.dtype.kind not in "fiu":
        _kind_error(name, value, text_hint)
    return value


def first_bad(array: np.ndarray, bad: np.ndarray) -> str:
    """Where and what the first offending entry of ``array`` is, for a message.

    ``bad`` is a boolean array of ``array``'s shape with at least one True; the text is
    ``"<value> at index <i>"`` (a tuple index for arrays of two or more dimensions).
    """
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    where = index[0] if len(index) == 1 else index
    return f"{array[index].item()!r} at index {where}"


def _working(array: np.ndarray, dtype) -> np.ndarray:
    """``array`` as a writable C-contiguous array of ``dtype``; the caller's array only if it
    already is one (the kernels never write into their inputs)."""
    if array.dtype.kind == "f" and array.dtype.itemsize > np.dtype(dtype).itemsize:
        # float64 -> float32 may overflow to inf: the caller's finiteness check reports it
        with np.errstate(over="ignore"):
            converted = np.array(array, dtype=dtype, order="C")
    else:
        converted = np.array(array, dtype=dtype, order="C", copy=None)
    if not converted.flags.writeable:
        converted = converted.copy()
    return converted


#: Values per pass of :func:`_all_finite`: its temporary (one byte a value) stays in cache.
FINITE_CHUNK = 1 << 18


def _all_finite(array: np.ndarray) -> bool:
    """No NaN or infinity in a float array: ``isfinite`` over chunks of FINITE_CHUNK values.

    Not BLAS's sum of squares (``vdot``), which was faster (6 ms against 9 ms for 47 million
    float32 values) but runs on NumPy's BLAS threads once an array has more than about 10,000
    values, and those threads then spin for about 0.1 s: a core taken from fit's own threads
    at the start of every call (a fit of digits: 0.26 s of CPU for 0.16 s of wall time, 0.16 s
    without). Chunks, not one pass: the whole array's temporary would not stay in cache.
    """
    flat = array.reshape(-1)
    for start in range(0, flat.size, FINITE_CHUNK):
        if not np.isfinite(flat[start : start + FINITE_CHUNK]).all():
            return False
    return True


def finite_result(name: str, arrays, reason: str) -> None:
    """ValueError when a computation on the finite argument ``name`` overflowed."""
    for array in arrays:
        if not _all_finite(array):
            raise ValueError(
                f"{name} holds values too large for {array.dtype}: {reason} "
                f"(got {first_bad(array, ~np.isfinite(array))})"
            )


def _reshape_hint(name: str, shape: tuple[int, ...], n_features: int | None) -> str:
    """How to make a 1-D or N-D ``name`` the 2-D (n_samples, n_features) array a net takes."""
    if len(shape) == 1:
        if n_features is None:
            return (
                f"; use {name}.reshape(-1, 1) for one feature or {name}.reshape(1, -1) for "
                "one sample"
            )
        if n_features == 1:
            return f"; use {name}.reshape(-1, 1) for a single feature"
        if shape[0] == n_features:
            return f"; it looks like one sample: use {name}.reshape(1, -1)"
        return (
            f"; {shape[0]} values are neither one sample of {n_features} features nor one "
            f"feature: pass shape (n_samples, {n_features})"
        )
    if len(shape) > 2 and n_features is not None and math.prod(shape[1:]) == n_features:
        return f"; use {name}.reshape(len({name}), -1) to flatten each sample"
    return ""


def inputs(name: str, X, n_features: int | None, dtype) -> np.ndarray:
    """X as a writable C-contiguous (n_samples, n_features) array of ``dtype``.

    Lists, integer and float16 arrays, Fortran-ordered, strided and read-only arrays are
    accepted and converted once. ``n_features=None`` accepts any width; ``dtype=None`` keeps
    float32/float64 and turns anything else into float64.
    """
    if type(X) is np.ndarray and X.dtype is dtype:  # fast path: already the working form
        shape, flags = X.shape, X.flags
        if (
            len(shape) == 2
            and shape[1] == n_features
            and shape[0]
            and flags.c_contiguous
            and flags.writeable
            and _all_finite(X)
        ):
            return X  # the kernels never write into their inputs
    array = X if type(X) is np.ndarray and X.dtype.kind in "fiu" else as_array(name, X)
    shape = array.shape
    if (
        len(shape) != 2
        or (n_features is not None and shape[1] != n_features)
        or not shape[0]
        or not shape[1]
    ):
        width = "n_features" if n_features is None else n_features
        if len(shape) != 2:
            hint = _reshape_hint(name, shape, n_features)
            raise ValueError(f"{name} must be 2-D (n_samples, {width}), got shape {shape}{hint}")
        if not shape[0]:
            raise ValueError(f"{name} must hold at least one sample, got shape {shape}")
        if not shape[1]:
            raise ValueError(f"{name} must hold at least one feature (column), got shape {shape}")
        raise ValueError(
            f"{name} must have {width} columns (features) for this network, got shape {shape}"
        )
    if dtype is None:
        dtype = array.dtype if array.dtype in _FLOAT_SET else np.float64
    flags = array.flags
    if array.dtype is dtype and flags.c_contiguous and flags.writeable:
        converted = array  # the kernels never write into their inputs
    else:
        converted = _working(array, dtype)
    # Integers are always finite; floats are checked after conversion (float64 -> float32
    # may overflow).
    if array.dtype.kind == "f" and not _all_finite(converted):
        raise ValueError(
            f"{name} must be finite, got {first_bad(converted, ~np.isfinite(converted))}"
        )
    return converted


_ENCODE = "; encode them as codes 0..k-1 with codes, classes = fnn.encode_labels({0})"
#: The way forward for labels or targets given as text, by the loss's kind of labels.
_TEXT_HINTS = {
    "binary": _ENCODE,
    "classes": _ENCODE,
    "targets": "; convert numbers stored as text with {0}.astype(float)",
}


def targets(name: str, y, net: Net, n_samples: int, dtype) -> np.ndarray:
    """Labels or targets as a writable C-contiguous (n_samples, n_outputs) array of ``dtype``.

    The loss's kind of labels (its registry entry) decides: "binary" (bce): 0/1 of shape (n,)
    (single output) or (n, k); "classes" (ce): integer labels (n,) or (n, 1), or one-hot
    (n, k); "targets" (mse): real values (n,) (single output) or (n, k). Messages give the
    offending value in the caller's dtype at its index in the caller's shape.
    """
    n_out = net.sizes[-1]
    loss = net.loss
    labels = LOSSES[loss].labels
    if type(y) is np.ndarray and y.dtype.kind in "fiu":
        array = y
    else:
        array = as_array(name, y, _TEXT_HINTS[labels].format(name))
    shape = array.shape
    ndim = len(shape)
    if ndim not in (1, 2) or shape[0] != n_samples:
        raise ValueError(
            f"{name} must have {n_samples} rows (one per sample in X): shape ({n_samples},) "
            f"or ({n_samples}, {n_out}), got shape {shape}"
        )
    if labels == "classes" and (ndim == 1 or shape[1] == 1):
        return _class_labels(name, array, n_out, dtype)
    if (ndim == 1 and n_out != 1) or (ndim == 2 and shape[1] != n_out):
        expected = f"({n_samples}, {n_out})" + (f" or ({n_samples},)" if n_out == 1 else "")
        kind = "one-hot rows" if labels == "classes" else "columns, one per output unit"
        raise ValueError(f"{name} must have shape {expected} ({kind}), got shape {shape}")
    if array.dtype.kind == "f":
        Y = _working(array.reshape(n_samples, n_out), dtype)
    else:  # integers: one conversion, always a new C-ordered array
        Y = array.reshape(n_samples, n_out).astype(dtype, order="C")
    if labels == "targets":
        if array.dtype.kind == "f" and not _all_finite(Y):
            bad = ~np.isfinite(Y)  # inf after float64 -> float32 is reported as such
            got = first_bad(Y.reshape(shape), bad.reshape(shape))
            raise ValueError(f"{name} must be finite, got {got}")
        low = LOSSES[loss].target_low
        if low is not None and Y.size and Y.min() < low:
            raise ValueError(
                f"{name} must be >= {low} for the {loss!r} loss, got "
                f"{first_bad(array, (Y < low).reshape(shape))}"
            )
        return Y
    if array.dtype.kind in "iu":  # integers: 0 and 1 are the only values with x >> 1 == 0
        valid = not np.count_nonzero(array >> 1)
    else:
        valid = not np.count_nonzero(Y != (Y != 0))  # neither 0 nor 1, NaN included
    if not valid:
        got = first_bad(array, (Y != (Y != 0)).reshape(shape))
        if labels == "binary":
            raise ValueError(
                f"{name} must hold 0/1 labels for the {loss!r} loss, got {got}"
                f"{_label_hint(name, array, 2)}"
            )
        raise ValueError(f"{name} must hold one-hot rows for {loss!r}, got {got}")
    if labels == "classes":
        ones = Y.sum(axis=1)
        if (ones != 1).any():
            row = int(np.argmax(ones != 1))
            raise ValueError(
                f"{name} must be one-hot rows (a single 1 per row) for {loss!r}, got row {row} "
                f"with {int(ones[row])} ones"
            )
    return Y


def _class_labels(name: str, array: np.ndarray, n_classes: int, dtype) -> np.ndarray:
    """Integer class labels 0..n_classes-1, shape (n,) or (n, 1), as a one-hot
    (n, n_classes) array of ``dtype``."""
    labels = array.reshape(-1)
    if labels.dtype.kind == "f":
        # NaN and inf fail the comparisons; checked before any cast to an integer type.
        good = (labels == np.round(labels)) & (labels >= 0) & (labels < n_classes)
        if not good.all():
            _bad_class_labels(name, array, ~good, n_classes)
        labels = labels.astype(np.intp)
    # Negative integers wrap to huge unsigned values: one comparison covers both ends.
    index = labels.astype(np.uintp, copy=False)
    bad = index >= n_classes
    if np.count_nonzero(bad):
        _bad_class_labels(name, array, bad, n_classes)
    one_hot = np.zeros((labels.shape[0], n_classes), dtype)
    one_hot[np.arange(labels.shape[0]), index] = 1
    return one_hot


def _bad_class_labels(name: str, array: np.ndarray, bad: np.ndarray, n_classes: int) -> NoReturn:
    """Raise the ValueError for the class labels ``array`` where ``bad`` (any shape) is set."""
    raise ValueError(
        f"{name} holds class labels, which must be integers in 0..{n_classes - 1}, got "
        f"{first_bad(array, bad.reshape(array.shape))}{_label_hint(name, array, n_classes)}"
    )


def _label_hint(name: str, array: np.ndarray, n_classes: int) -> str:
    """The likely fix for integer labels outside 0..n_classes-1 (1-based, -1/+1 or sparse
    labels: fnn.encode_labels), or ""."""
    if array.dtype.kind == "f" and not (array == np.round(array)).all():  # NaN included
        return ""
    encode = f"codes, classes = fnn.encode_labels({name})"
    low, high = array.min(), array.max()
    if low == 1 and high == n_classes:
        return f"; labels look 1-based: encode them with {encode}, or subtract 1 ({name} - 1)"
    if n_classes == 2 and low == -1 and high == 1 and not np.count_nonzero(array == 0):
        return (
            f"; labels look like -1/+1: encode them with {encode}, or use ({name} > 0).astype(int)"
        )
    distinct = np.unique(array).size
    if distinct <= n_classes:
        return f"; {distinct} distinct labels: encode them as 0..{distinct - 1} with {encode}"
    return ""


# -- other structured arguments --------------------------------------------------------------------


def cache_of(net: Net, cache, dtype) -> tuple[np.ndarray, np.ndarray]:
    """The engine buffers ``(zbuf, abuf)`` behind a forward Cache for ``net``.

    A Cache that ``fnn.forward`` returned is a set of views of those buffers, handed back
    without a copy; any other Cache of the right shapes (arrays or nested lists) is copied
    into that layout once. Every value must be finite (a NaN pre-activation would give a
    silent zero gradient).
    """
    sizes = net.sizes
    if not isinstance(cache, Cache):
        raise TypeError(
            f"cache must be the fnn.Cache that fnn.forward returned, got {describe(cache)}"
        )
    fields = (
        ("activations", cache.activations, sizes),  # A_0 = X, A_1, ..., A_L
        ("preactivations", cache.preactivations, sizes[1:]),  # Z_1, ..., Z_L
    )
    for field, arrays, units in fields:
        expected = f"{len(units)} arrays, one per layer of sizes {sizes}"
        if not isinstance(arrays, (tuple, list)):
            raise TypeError(f"cache.{field} must be a tuple of {expected}, got {describe(arrays)}")
        if len(arrays) != len(units):
            raise ValueError(
                f"cache.{field} must hold {expected} (a Cache of this net), got {len(arrays)}"
            )
    first = cache.activations[0]
    if type(first) is np.ndarray and first.ndim == 2 and first.shape[0]:
        buffers = flat.cache_buffers(cache, sizes, first.shape[0], dtype)
        if buffers is not None:
            return _finite_cache(buffers)
    m = None  # rows, set by cache.activations[0]
    parts = {"activations": [], "preactivations": []}
    for field, arrays, units in fields:
        for index, (array, width) in enumerate(zip(arrays, units)):
            where = f"cache.{field}[{index}]"
            array = as_array(where, array)
            if m is None and array.ndim == 2 and array.shape[0]:
                m = array.shape[0]
            if m is None or array.shape != (m, width):
                rows = "n_samples" if m is None else m
                raise ValueError(
                    f"{where} must have shape ({rows}, {width}) for this net and cache, got "
                    f"{array.shape}"
                )
            with np.errstate(over="ignore"):  # float64 -> float32 overflow: inf, refused below
                parts[field].append(array.T.astype(dtype).ravel())
    return _finite_cache(
        (np.concatenate(parts["preactivations"]), np.concatenate(parts["activations"]))
    )


def _finite_cache(buffers: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    for field, buffer in zip(("preactivations", "activations"), buffers):
        if not _all_finite(buffer):
            raise ValueError(
                f"cache.{field} must be finite (the Cache of a finite forward pass), got "
                f"{buffer[~np.isfinite(buffer)][0]}"
            )
    return buffers


def early_stopping_of(name: str | None, value) -> EarlyStopping:
    """An EarlyStopping config with every field in range (``name`` None: fields named alone,
    as the arguments of ``fnn.early_stopping``)."""
    if not isinstance(value, EarlyStopping):
        raise TypeError(f"{name} must come from fnn.early_stopping(...), got {describe(value)}")
    prefix = "" if name is None else f"{name}."
    return EarlyStopping(
        integer(f"{prefix}patience", value.patience, 1, MAX_STEPS),
        real(f"{prefix}min_delta", value.min_delta, low=0.0),
        flag(f"{prefix}restore_best", value.restore_best),
        *monitor_of(prefix, value.monitor, value.mode),
    )


#: The History fields a watcher (early stopping, reduce-on-plateau) may monitor by name.
MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")


def monitor_of(prefix: str, monitor, mode) -> tuple[object, str]:
    """A watcher's ``(monitor, mode)``, checked, with ``mode`` resolved: None, one of
    :data:`MONITORS` or a callable, and ``"min"`` or ``"max"`` (None: ``"max"`` for an
    accuracy, ``"min"`` for a loss or None; required with a function)."""
    if callable(monitor):
        if mode is None:
            raise ValueError(
                f"{prefix}mode must be 'min' or 'max' with a function monitor (fnn cannot "
                "tell whether its higher values are better), got None"
            )
    elif monitor is not None:
        if not isinstance(monitor, str):
            raise TypeError(
                f"{prefix}monitor must be None, one of {list(MONITORS)} or a function "
                f"(net, params, X_val, y_val) -> float, got {describe(monitor)}"
            )
        if monitor not in MONITORS:
            raise ValueError(
                f"{prefix}monitor must be one of {list(MONITORS)} (History fields) or a "
                f"function (net, params, X_val, y_val) -> float, got {monitor!r}"
            )
    if mode is None:
        mode = "max" if isinstance(monitor, str) and monitor.endswith("accuracy") else "min"
    if not isinstance(mode, str) or mode not in ("min", "max"):
        raise ValueError(f"{prefix}mode must be 'min', 'max' or None, got {describe(mode)}")
    return monitor, mode


def scaler_of(name: str, scaler) -> Scaler:
    """A Scaler of two finite 1-D float arrays of one length, with a positive scale."""
    if not isinstance(scaler, Scaler):
        raise TypeError(
            f"{name} must be an fnn.Scaler (from fnn.standardizer), got {describe(scaler)}"
        )
    mean, scale, names = scaler.mean, scaler.scale, scaler.feature_names
    for field, array in (("mean", mean), ("scale", scale)):
        if not isinstance(array, np.ndarray) or array.ndim != 1 or array.dtype not in _FLOAT_SET:
            raise TypeError(f"{name}.{field} must be a 1-D float array, got {describe(array)}")
        if not np.isfinite(array).all():
            raise ValueError(f"{name}.{field} must be finite, got {describe(array)}")
    if scale.shape != mean.shape or scale.dtype != mean.dtype:
        raise ValueError(
            f"{name}.scale must match {name}.mean ({describe(mean)}), got {describe(scale)}"
        )
    if not (scale > 0).all():
        raise ValueError(f"{name}.scale must be > 0, got {first_bad(scale, ~(scale > 0))}")
    if names == ():
        return scaler
    if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
        raise TypeError(
            f"{name}.feature_names must be a tuple of str (column names), got {describe(names)}"
        )
    if len(names) != mean.shape[0]:
        raise ValueError(
            f"{name}.feature_names must name the {mean.shape[0]} features of {name}.mean, or be "
            f"(), got {len(names)} names"
        )
    return scaler if type(names) is tuple else scaler._replace(feature_names=tuple(names))


def column_names(name: str, X) -> tuple[str, ...] | None:
    """The column names of a pandas or polars DataFrame ``X``; None when X is no DataFrame.

    A DataFrame is recognised by its ``columns`` and ``to_numpy`` (so neither library is
    imported). As in scikit-learn, columns that are not all strings (pandas' default
    ``0, 1, ...``) give ``()``: no names; a mix of strings and other labels is a TypeError.
    """
    if isinstance(X, np.ndarray) or not (hasattr(X, "columns") and hasattr(X, "to_numpy")):
        return None
    columns = tuple(X.columns)
    text = [isinstance(column, str) for column in columns]
    if all(text):
        return tuple(str(column) for column in columns)
    if any(text):
        kinds = sorted({type(column).__name__ for column in columns})
        raise TypeError(
            f"{name}'s column names must be all strings (or none), got a mix of {kinds}; "
            f"rename them, e.g. {name}.columns = {name}.columns.astype(str)"
        )
    return ()


def reduce_on_plateau_of(name: str | None, value) -> ReduceOnPlateau:
    """A ReduceOnPlateau config with every field in range (``name`` None: fields named alone,
    as the arguments of ``fnn.reduce_on_plateau``)."""
    if not isinstance(value, ReduceOnPlateau):
        raise TypeError(f"{name} must come from fnn.reduce_on_plateau(...), got {describe(value)}")
    prefix = "" if name is None else f"{name}."
    return ReduceOnPlateau(
        real(f"{prefix}factor", value.factor, low=0.0, high=1.0, open_low=True, open_high=True),
        integer(f"{prefix}patience", value.patience, 0, MAX_STEPS),
        real(f"{prefix}min_delta", value.min_delta, low=0.0),
        real(f"{prefix}min_lr", value.min_lr, low=0.0),
        integer(f"{prefix}cooldown", value.cooldown, 0, MAX_STEPS),
        real(f"{prefix}eps", value.eps, low=0.0),
        *monitor_of(prefix, value.monitor, value.mode),
    )

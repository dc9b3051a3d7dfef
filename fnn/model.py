"""Building networks and running them forward: mlp, from_architecture, init, forward, predict."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fnn import checks, kernels
from fnn.compile_notice import announce
from fnn.flat import frozen, layout_of, pack, unpack
from fnn.types import Cache, Layer, Net, Params

#: Activation names and their kernel codes. softmax is for the output layer only.
ACTIVATIONS = {
    "identity": kernels.IDENTITY,
    "relu": kernels.RELU,
    "sigmoid": kernels.SIGMOID,
    "tanh": kernels.TANH,
    "softmax": kernels.SOFTMAX,
}
HIDDEN_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name != "softmax")

#: Initialisation schemes; the default is "glorot" for every activation (Keras, scikit-learn).
SCHEMES = ("normal", "scaled", "he", "glorot")

#: The loss each output activation pairs with when ``loss=None``.
CANONICAL_LOSS = {"sigmoid": "bce", "softmax": "ce", "identity": "mse"}


def mlp(
    sizes: Sequence[int], hidden: str = "relu", output: str = "sigmoid", loss: str | None = None
) -> Net:
    """Specify a multi-layer perceptron.

    Parameters
    ----------
    sizes : sequence of int
        ``[n_features, hidden_1, ..., n_outputs]``, at least two entries.
    hidden : str
        Activation of every hidden layer: a name in ``fnn.ACTIVATIONS`` other than
        ``"softmax"`` (which is for the output layer only).
    output : str
        Activation of the output layer: a name in ``fnn.ACTIVATIONS``.
    loss : str or None
        ``"bce"``, ``"ce"`` or ``"mse"``; None picks the canonical loss of ``output``
        (sigmoid -> bce, softmax -> ce, anything else -> mse).

    Returns
    -------
    Net
        A hashable spec; ``Net(sizes=(2, 3, 1), activations=('relu', 'sigmoid'), loss='bce')``.

    Examples
    --------
    >>> import fnn
    >>> fnn.mlp([2, 3, 1])
    Net(sizes=(2, 3, 1), activations=('relu', 'sigmoid'), loss='bce')
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence | np.ndarray):
        raise TypeError(f"sizes must be a sequence of layer widths, got {checks.describe(sizes)}")
    if len(sizes) < 2:
        raise ValueError(
            f"sizes needs at least two entries (inputs, outputs), got {checks.describe(sizes)}"
        )
    widths = tuple(checks.integer(f"sizes[{i}]", s, minimum=1) for i, s in enumerate(sizes))
    checks.one_of("hidden", hidden, HIDDEN_ACTIVATIONS)
    checks.one_of("output", output, ACTIVATIONS)
    return _net(widths, (hidden,) * (len(widths) - 2) + (output,), loss)


def from_architecture(architecture: Sequence[dict], loss: str | None = None) -> Net:
    """Specify a network from seed 003's list of layer dicts.

    Parameters
    ----------
    architecture : sequence of dict
        ``[{"input_dim": 2, "output_dim": 25, "activation": "relu"}, ...]``; each layer's
        ``input_dim`` must equal the previous layer's ``output_dim``.
    loss : str or None
        As in :func:`mlp`.
    """
    if isinstance(architecture, (str, bytes, dict)) or not isinstance(architecture, Sequence):
        raise TypeError(
            f"architecture must be a list of layer dicts, got {checks.describe(architecture)}"
        )
    if not architecture:
        raise ValueError("architecture must hold at least one layer, got an empty list")
    sizes, activations = [], []
    for index, layer in enumerate(architecture):
        where = f"architecture[{index}]"
        if not isinstance(layer, dict):
            raise TypeError(f"{where} must be a dict, got {checks.describe(layer)}")
        missing = {"input_dim", "output_dim", "activation"} - layer.keys()
        if missing:
            raise ValueError(f"{where} lacks the keys {sorted(missing)}")
        n_in = checks.integer(f"{where}['input_dim']", layer["input_dim"], minimum=1)
        n_out = checks.integer(f"{where}['output_dim']", layer["output_dim"], minimum=1)
        if not sizes:
            sizes.append(n_in)
        elif n_in != sizes[-1]:
            raise ValueError(
                f"{where}['input_dim'] must equal the previous output_dim {sizes[-1]}, got {n_in}"
            )
        sizes.append(n_out)
        is_output = index == len(architecture) - 1
        allowed = ACTIVATIONS if is_output else HIDDEN_ACTIVATIONS
        activations.append(checks.one_of(f"{where}['activation']", layer["activation"], allowed))
    return _net(tuple(sizes), tuple(activations), loss)


def _net(sizes: tuple[int, ...], activations: tuple[str, ...], loss: str | None) -> Net:
    from fnn.losses import LOSSES  # the loss registry knows which outputs each loss accepts

    for index, name in enumerate(activations):
        allowed = ACTIVATIONS if index == len(activations) - 1 else HIDDEN_ACTIVATIONS
        checks.one_of(f"activations[{index}]", name, allowed)
    output = activations[-1]
    if loss is None:
        loss = CANONICAL_LOSS.get(output, "mse")
    checks.one_of("loss", loss, LOSSES)
    if output not in LOSSES[loss].outputs:
        raise ValueError(
            f"loss {loss!r} needs an output activation in {list(LOSSES[loss].outputs)}, "
            f"got {output!r}"
        )
    if output == "softmax" and sizes[-1] < 2:
        raise ValueError(f"a softmax output needs at least 2 units, got sizes {sizes}")
    return Net(sizes, activations, loss)


def init(net: Net, key=0, scheme: str | None = None, dtype=np.float64) -> Params:
    """Draw initial parameters.

    Parameters
    ----------
    net : Net
    key : int or numpy.random.SeedSequence
        The only source of randomness; the same key gives bit-identical parameters.
    scheme : {"normal", "scaled", "he", "glorot"} or None
        ``normal``: W ~ N(0, 1), b = 0 (seed 000). ``scaled``: W, b ~ N(0, 0.1**2) (seed 003).
        ``he``: W ~ N(0, 2/n_in), b = 0 (seed 004). ``glorot``: W ~ U(+-sqrt(6/(n_in+n_out))),
        b = 0. None: "glorot", whatever the activations (Keras' and scikit-learn's default:
        He-normal starts small relu networks too large and generalised worse on small data).
    dtype : float32 or float64

    Returns
    -------
    Params
        ``layers[l].W`` of shape (sizes[l], sizes[l+1]) and ``layers[l].b`` of shape
        (sizes[l+1],), read-only.

    Examples
    --------
    >>> import fnn
    >>> params = fnn.init(fnn.mlp([2, 3, 1]), key=0)
    >>> [layer.W.shape for layer in params.layers]
    [(2, 3), (3, 1)]
    """
    checks.network(net)
    dtype = checks.float_dtype("dtype", dtype)
    if scheme is None:
        scheme = "glorot"
    checks.one_of("scheme", scheme, SCHEMES)
    rng = np.random.default_rng(_seed_sequence(key))
    layers = []
    for n_in, n_out in zip(net.sizes[:-1], net.sizes[1:]):
        b = np.zeros(n_out)
        if scheme == "normal":
            W = rng.standard_normal((n_in, n_out))
        elif scheme == "scaled":
            W = 0.1 * rng.standard_normal((n_in, n_out))
            b = 0.1 * rng.standard_normal(n_out)
        elif scheme == "he":
            W = np.sqrt(2.0 / n_in) * rng.standard_normal((n_in, n_out))
        else:
            limit = np.sqrt(6.0 / (n_in + n_out))
            W = rng.uniform(-limit, limit, (n_in, n_out))
        layers.append(Layer(W, b))
    return unpack(pack(Params(tuple(layers)), dtype), net.sizes)


def _seed_sequence(key) -> np.random.SeedSequence:
    """A key (non-negative int or SeedSequence) as a SeedSequence."""
    if isinstance(key, np.random.SeedSequence):
        return key
    return np.random.SeedSequence(checks.integer("key", key, minimum=0))


def _codes(net: Net) -> np.ndarray:
    return np.array([ACTIVATIONS[name] for name in net.activations], dtype=np.int64)


def _layer_views(buffer: np.ndarray, sizes: tuple[int, ...], n_rows: int) -> tuple:
    """Split a flat per-layer buffer (as kernels fill it) into read-only (n_rows, n_out) views."""
    frozen(buffer)
    views, at = [], 0
    for n_out in sizes[1:]:
        views.append(buffer[at : at + n_rows * n_out].reshape(n_rows, n_out))
        at += n_rows * n_out
    return tuple(views)


#: ``predict``, ``predict_proba``, ``loss`` and ``accuracy`` run the network on chunks of rows
#: holding at most this many activations (every layer's Z and A of the chunk's rows, 2 * 2**19
#: values: 8 MiB in float64), so their memory beyond X and the result stays bounded.
CHUNK_VALUES = 1 << 19


def row_chunks(n_rows: int, sizes: tuple[int, ...]) -> list[slice]:
    """Slices of ``range(n_rows)`` whose forward buffers hold at most CHUNK_VALUES values each."""
    rows = max(1, CHUNK_VALUES // sum(sizes[1:]))
    return [slice(start, min(start + rows, n_rows)) for start in range(0, n_rows, rows)]


def forward_buffers(X, theta, layout, codes, purpose: str, quiet: bool = False) -> tuple:
    """``(zbuf, abuf, said)``: ``kernels.forward_pass``'s flat Z and A buffers, and whether a
    first-use compile notice was printed (never when ``quiet``)."""
    args = (X, theta, layout, codes)
    said = not quiet and announce(kernels.forward_pass, args, 1, purpose)
    return (*kernels.forward_pass(*args), said)


def output_layers(net: Net, params: Params, X, purpose: str) -> tuple[np.ndarray, np.ndarray]:
    """Read-only ``(Z_L, A_L)`` of the output layer for every row of X, in row chunks."""
    dtype = checks.model(net, params)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    theta, layout, codes = pack(params, dtype), layout_of(net.sizes), _codes(net)
    n, n_out = X.shape[0], net.sizes[-1]
    Z, A = np.empty((n, n_out), dtype), np.empty((n, n_out), dtype)
    for rows in row_chunks(n, net.sizes):
        zbuf, abuf, _ = forward_buffers(X[rows], theta, layout, codes, purpose, rows.start > 0)
        size = (rows.stop - rows.start) * n_out
        Z[rows] = zbuf[-size:].reshape(-1, n_out)
        A[rows] = abuf[-size:].reshape(-1, n_out)
    return frozen(Z), frozen(A)


def forward(net: Net, params: Params, X) -> tuple[np.ndarray, Cache]:
    """Run the network on X.

    Parameters
    ----------
    net : Net
    params : Params
    X : array_like, shape (n_samples, sizes[0])

    Returns
    -------
    out : ndarray, shape (n_samples, sizes[-1])
        Output-layer activations ``A_L`` (probabilities for sigmoid/softmax).
    cache : Cache
        Every layer's ``A`` and ``Z``, for :func:`fnn.backward`.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 3, 1])
    >>> out, cache = fnn.forward(net, fnn.init(net), np.zeros((4, 2)))
    >>> out.shape, len(cache.preactivations)
    ((4, 1), 2)
    """
    dtype = checks.model(net, params)
    given = X
    X = checks.inputs("X", X, net.sizes[0], dtype)
    if X is given:  # the Cache keeps X: a copy, so later writes by the caller cannot reach it
        X = X.copy()
    theta = pack(params, dtype)
    zbuf, abuf, _ = forward_buffers(X, theta, layout_of(net.sizes), _codes(net), "forward")
    Zs = _layer_views(zbuf, net.sizes, X.shape[0])
    As = _layer_views(abuf, net.sizes, X.shape[0])
    return As[-1], Cache((frozen(X),) + As, Zs)


def predict_proba(net: Net, params: Params, X) -> np.ndarray:
    """Output activations, shape (n_samples, n_outputs): class probabilities for sigmoid/softmax.

    Parameters
    ----------
    net : Net
    params : Params
    X : array_like, shape (n_samples, sizes[0])

    Returns
    -------
    ndarray, shape (n_samples, sizes[-1])
        ``A_L``, the first value of :func:`forward`: ``P(y = 1)`` per sigmoid unit, a row of
        probabilities of the classes (summing to 1) for softmax, raw outputs for identity.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 3], output="softmax")
    >>> p = fnn.predict_proba(net, fnn.init(net, key=0), np.ones((4, 2)))
    >>> p.shape, np.allclose(p.sum(axis=1), 1)
    ((4, 3), True)

    Large inputs run in chunks of rows: beyond X and the result, memory stays below a fixed
    buffer of ``2 * CHUNK_VALUES`` values (plus one converted copy of X when X is not a
    C-ordered array of the parameters' dtype).
    """
    return output_layers(net, params, X, "predict_proba")[1]


def predict(net: Net, params: Params, X) -> np.ndarray:
    """Predictions: 0/1 labels (sigmoid), class indices (softmax), or values (anything else).

    A single output unit gives shape (n_samples,); several give (n_samples, n_outputs),
    except softmax, whose argmax always has shape (n_samples,).

    Parameters
    ----------
    net : Net
    params : Params
    X : array_like, shape (n_samples, sizes[0])

    Returns
    -------
    ndarray
        int64 labels for sigmoid (``z > 0``, i.e. ``p > 0.5``) and softmax (``argmax z``)
        outputs, decided from the logits ``z`` as :func:`fnn.accuracy` does (probabilities
        can round to exactly 0.5 or tie in float32); float values otherwise; read-only.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([1, 1])  # one sigmoid unit
    >>> params = fnn.Params((fnn.Layer(np.ones((1, 1)), np.zeros(1)),))  # p = sigmoid(x)
    >>> fnn.predict(net, params, [[-2.0], [0.5], [3.0]])
    array([0, 1, 1])
    """
    logits, out = output_layers(net, params, X, "predict")
    output = net.activations[-1]
    if output == "softmax":
        result = logits.argmax(axis=1)
    elif output == "sigmoid":
        result = (logits > 0).astype(np.int64)
    else:
        result = out
    if result.ndim == 2 and result.shape[1] == 1:
        result = result[:, 0]
    return frozen(result)

"""Building networks and running them forward: mlp, from_architecture, init, forward, predict."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from types import MappingProxyType

import numpy as np

from fnn import checks, engine
from fnn.data import fold_in, seed_of
from fnn.flat import cache_of_buffers, frozen, pack, unpack
from fnn.registry import (
    ACTIVATIONS,
    CANONICAL_LOSS,
    DEFAULT_SCHEME,
    HIDDEN_ACTIVATIONS,
    SCHEMES,
)
from fnn.types import Cache, Layer, Net, Params


def mlp(
    sizes: Sequence[int],
    hidden: str | Sequence[str] = "relu",
    output: str = "sigmoid",
    loss: str | None = None,
    dropout: float | Sequence[float] = 0.0,
    delta: float | None = None,
    loss_params: Mapping[str, float | Sequence[float]] | None = None,
) -> Net:
    """Specify a multi-layer perceptron.

    Parameters
    ----------
    sizes : sequence of int
        ``[n_features, hidden_1, ..., n_outputs]``, at least two entries.
    hidden : str or sequence of str
        Activation of every hidden layer, or one per hidden layer (``len(sizes) - 2`` names):
        names in ``fnn.ACTIVATIONS`` that are not output-only (softmax is for the output
        layer only).
    output : str
        Activation of the output layer: a name in ``fnn.ACTIVATIONS``.
    loss : str or None
        A name in ``fnn.LOSSES``: ``"bce"``, ``"ce"``, ``"mse"``, ``"huber"``, ``"mae"``,
        ``"poisson"`` (identity output, read as the log-rate) or ``"quantile"`` (pinball loss
        of level ``q``); None picks the canonical loss of ``output`` (sigmoid -> bce, softmax
        -> ce, anything else -> mse).
    dropout : float or sequence of float
        Inverted-dropout rate in [0, 1) of every hidden layer's activations, or one per hidden
        layer. While ``fit`` trains, each unit is zeroed with this probability and the kept
        ones are scaled by ``1 / (1 - rate)``; masks come from the key only (see
        :func:`fnn.fit`). ``predict`` never drops; the composable functions drop only when
        given a ``dropout_key``; :func:`predict_mc` averages keyed passes.
    delta : float > 0 or None
        The huber loss's threshold: ``1/2 r**2`` for ``|r| <= delta``,
        ``delta (|r| - delta/2)`` beyond (PyTorch ``HuberLoss(delta=...)``); None: 1.0. The
        same as ``loss_params={"delta": delta}``; 1.0 passes with any loss.
    loss_params : dict or None
        The loss's own parameters by name (``fnn.LOSSES[loss].parameters`` lists them with
        their defaults and ranges: huber's ``delta``, quantile's ``q`` in (0, 1), default
        0.5, one number or one per output unit, ``{"q": [0.1, 0.5, 0.9]}``); a parameter
        left out takes its default. Held in ``Net.loss_params``.

    Returns
    -------
    Net
        A hashable spec (see the example).

    Examples
    --------
    >>> import fnn
    >>> fnn.mlp([2, 3, 1])
    Net(sizes=(2, 3, 1), activations=('relu', 'sigmoid'), loss='bce')
    >>> fnn.mlp([2, 8, 8, 1], hidden=["gelu", "tanh"]).activations
    ('gelu', 'tanh', 'sigmoid')
    >>> fnn.mlp([2, 8, 8, 1], dropout=[0.2, 0.1])
    Net(sizes=(2, 8, 8, 1), activations=('relu', 'relu', 'sigmoid'), loss='bce', dropout=(0.2, 0.1))
    """
    if (
        isinstance(sizes, (str, bytes))
        or not isinstance(sizes, Sequence | np.ndarray)
        or (isinstance(sizes, np.ndarray) and sizes.ndim != 1)
    ):
        raise TypeError(f"sizes must be a sequence of layer widths, got {checks.describe(sizes)}")
    if len(sizes) < 2:
        raise ValueError(
            f"sizes needs at least two entries (inputs, outputs), got {checks.describe(sizes)}"
        )
    widths = checks.widths("sizes", sizes)
    n_hidden = len(widths) - 2
    if isinstance(hidden, str):
        hiddens = (checks.one_of("hidden", hidden, HIDDEN_ACTIVATIONS),) * n_hidden
    else:
        hiddens = checks.per_hidden_layer("hidden", hidden, widths)
        for index, name in enumerate(hiddens):
            checks.one_of(f"hidden[{index}]", name, HIDDEN_ACTIVATIONS)
    checks.one_of("output", output, ACTIVATIONS)
    rates = checks.dropout_rates("dropout", dropout, widths)

    def argument(field: str, index: int | None = None) -> str:  # mlp's name for a Net field
        if field != "activations":
            return field if index is None else f"{field}[{index}]"
        return "output" if index == n_hidden else "hidden" if index is None else f"hidden[{index}]"

    given = {} if loss_params is None else loss_params
    if not isinstance(given, Mapping):
        raise TypeError(
            f"loss_params must be a dict of names to values, got {checks.describe(given)}"
        )
    # delta=1.0, huber's default, passes with any loss (as before loss_params existed)
    if delta is not None and (
        isinstance(delta, bool) or not (isinstance(delta, Real) and delta == 1.0)
    ):
        if "delta" in given:
            raise ValueError("delta is given twice, as delta and as loss_params['delta']")
        given = {**given, "delta": delta}
    label = "" if loss_params is None else "loss_params"
    return net_of(widths, hiddens + (output,), loss, given, argument, label)._replace(dropout=rates)


def from_architecture(architecture: Sequence[dict], loss: str | None = None) -> Net:
    """Specify a network from a list of layer dicts (input_dim, output_dim, activation).

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
    return net_of(tuple(sizes), tuple(activations), loss, name=_architecture_entry)


def _architecture_entry(field: str, index: int | None = None) -> str:
    """from_architecture's name for a Net field: ``sizes[i]`` is layer ``i - 1``'s output_dim."""
    if field == "loss":
        return "loss"
    if index is None:
        return f"architecture's {field}"
    if field == "activations":
        return f"architecture[{index}]['activation']"
    return f"architecture[{index - 1}]['output_dim']" if index else "architecture[0]['input_dim']"


def net_of(
    sizes: tuple[int, ...], activations: tuple[str, ...], loss: str | None,
    loss_params: Mapping[str, float | Sequence[float]] = MappingProxyType({}),
    name: str | Callable[..., str] = "net", params_name: str = "",
) -> Net:  # fmt: skip
    """The Net of checked fields (``mlp``, ``from_architecture`` and ``load`` build it so).

    Parameters
    ----------
    sizes : tuple of int
    activations : tuple of str
        One per layer after the input.
    loss : str or None
        None picks the output activation's canonical loss (mse when it has none).
    loss_params : mapping of str to float (or sequence of float)
        The loss's own parameters by name (``fnn.LOSSES[loss].parameters``); a parameter left
        out takes its default; a per-output one may be 1 or ``sizes[-1]`` values.
    name : str or callable
        Names the arguments in messages, as for ``checks.spec``.
    params_name : str
        Names ``loss_params`` in messages, as ``name`` of :func:`fnn.checks.loss_params`.
    """
    if loss is None and isinstance(activations[-1], str):
        loss = CANONICAL_LOSS.get(activations[-1], "mse")
    sizes, activations = checks.spec(sizes, activations, loss, name)
    values = checks.loss_params(params_name, loss_params, loss, sizes[-1])
    return Net(sizes, activations, loss, loss_params=values)


def init(net: Net, key=0, scheme: str | None = None, dtype=np.float64) -> Params:
    """Draw initial parameters.

    Parameters
    ----------
    net : Net
    key : int or numpy.random.SeedSequence
        The only source of randomness; the same key gives bit-identical parameters.
    scheme : {"normal", "scaled", "he", "glorot", "glorot_with_biases", "fan_in_uniform"} or None
        For a layer of n_in inputs and n_out units: ``normal``: W ~ N(0, 1), b = 0.
        ``scaled``: W, b ~ N(0, 0.1**2). ``he``: W ~ N(0, 2/n_in), b = 0. ``glorot``:
        W ~ U(+-sqrt(6/(n_in+n_out))), b = 0. ``glorot_with_biases``: W, b ~
        U(+-sqrt(6/(n_in+n_out))) (scikit-learn's MLP for relu networks). ``fan_in_uniform``:
        W, b ~ U(+-1/sqrt(n_in)) (PyTorch's ``nn.Linear``). None: "fan_in_uniform", whatever
        the activations: with it fnn's test score on the six data sets of
        ``benchmarks/quality.py`` is within one standard deviation of the better of
        scikit-learn and PyTorch on all six (zero-bias "glorot": on two).
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
    net = checks.network(net)  # sizes as Python ints: their product must not overflow
    dtype = checks.float_dtype("dtype", dtype)
    checks.allocatable("net.sizes", net.sizes, dtype)
    draw = SCHEMES[checks.one_of("scheme", DEFAULT_SCHEME if scheme is None else scheme, SCHEMES)]
    rng = np.random.default_rng(_seed_sequence(key))
    layers = [Layer(*draw.draw(rng, n_in, n_out)) for n_in, n_out in zip(net.sizes, net.sizes[1:])]
    return unpack(pack(Params(tuple(layers)), dtype), net.sizes)


def _seed_sequence(key) -> np.random.SeedSequence:
    """A key (non-negative int or SeedSequence) as a SeedSequence."""
    if isinstance(key, np.random.SeedSequence):
        return key
    return np.random.SeedSequence(checks.integer("key", key, 0, checks.MAX_KEY))


def forward(net: Net, params: Params, X, dropout_key=None) -> tuple[np.ndarray, Cache]:
    """Run the network on X.

    Parameters
    ----------
    net : Net
    params : Params
    X : array_like, shape (n_samples, sizes[0])
    dropout_key : int, SeedSequence or None
        For a net with dropout: run the network thinned by this key's masks (those of
        :func:`fnn.value_and_grad`). None: no dropout.

    Returns
    -------
    out : ndarray, shape (n_samples, sizes[-1])
        Output-layer activations ``A_L`` (probabilities for sigmoid/softmax).
    cache : Cache
        Every layer's ``A`` and ``Z``, for :func:`fnn.backward`. With a ``dropout_key``, the
        ``A`` are ``f(Z)`` before the masks, and ``backward`` of such a cache is not the
        dropout gradient (``fnn.value_and_grad(..., dropout_key=)`` is).

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 3, 1])
    >>> out, cache = fnn.forward(net, fnn.init(net), np.zeros((4, 2)))
    >>> out.shape, len(cache.preactivations)
    ((4, 1), 2)
    """
    dtype = checks.model(net, params)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    m = X.shape[0]
    run = engine.call(
        net, pack(params, dtype), X_eval=X, chunk=m, purpose="forward",  # chunk: keep every row
        **engine.keyed_dropout(dropout_key),
    )  # fmt: skip
    cache = cache_of_buffers(run.zbuf, run.abuf, net.sizes, m)
    return cache.activations[-1], cache


def _outputs(net: Net, params: Params, X, purpose: str) -> np.ndarray:
    """Output-layer ``(Z, A)`` of every row of X, each (n_samples, sizes[-1]), read-only.

    The engine evaluates the rows in chunks, so memory stays bounded on large X.
    """
    dtype = checks.model(net, params)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    outputs = engine.call(net, pack(params, dtype), X_eval=X, store=True, purpose=purpose).outputs
    return frozen(outputs)


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
    buffer of about ``fnn.engine.CHUNK_VALUES`` values (plus one converted copy of X when X
    is not a C-ordered array of the parameters' dtype).
    """
    return _outputs(net, params, X, "predict_proba")[1]


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
    logits, out = _outputs(net, params, X, "predict")
    decision = ACTIVATIONS[net.activations[-1]].decision
    if decision == "argmax":
        result = logits.argmax(axis=1)
    elif decision == "threshold":
        result = (logits > 0).astype(np.int64)
    else:
        result = out
    if result.ndim == 2 and result.shape[1] == 1:
        result = result[:, 0]
    return frozen(result)


def predict_mc(
    net: Net, params: Params, X, key=0, samples: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo dropout: the mean and spread of ``samples`` dropout-thinned predictions.

    Pass ``s`` runs the network on X with the masks of ``dropout_key = fnn.fold_in(key, s)``
    (as :func:`forward` does); the result summarises the output activations of the passes,
    an estimate of the model's uncertainty (Gal & Ghahramani, 2016). A net without dropout
    gives ``predict_proba`` and zero spread.

    Parameters
    ----------
    net : Net
    params : Params
    X : array_like, shape (n_samples, sizes[0])
    key : int or SeedSequence
        Fixes every mask: the same key gives the same bits.
    samples : int, >= 1
        Number of passes.

    Returns
    -------
    mean, std : ndarray, shape (n_samples, sizes[-1])
        Mean and standard deviation (over the passes, ``ddof=0``) of the output activations,
        in the parameters' dtype, read-only.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 16, 1], dropout=0.5)
    >>> mean, std = fnn.predict_mc(net, fnn.init(net, key=0), np.ones((3, 2)), key=1)
    >>> mean.shape, bool((std > 0).all())
    ((3, 1), True)
    """
    dtype = checks.model(net, params)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    seed = seed_of(key)
    samples = checks.integer("samples", samples, 1)
    theta = pack(params, dtype)
    mean = np.zeros((X.shape[0], net.sizes[-1]))
    squares = np.zeros_like(mean)  # sum of squared deviations from the mean (Welford)
    for sample in range(samples):
        run = engine.call(
            net, theta, X_eval=X, store=True, purpose="predict_mc",
            **engine.keyed_dropout(fold_in(seed, sample)),
        )  # fmt: skip
        out = run.outputs[1].astype(np.float64)
        deviation = out - mean
        mean += deviation / (sample + 1)
        squares += deviation * (out - mean)
    spread = np.sqrt(squares / samples)
    return frozen(mean.astype(dtype)), frozen(spread.astype(dtype))

"""Losses, accuracy and gradients: loss, accuracy, value_and_grad, grad, backward.

Every loss is a mean over the ``m`` rows of a batch, plus an optional L2 penalty on the
weights (not the biases):

* ``bce``: ``-(1/m) sum [y log p + (1-y) log(1-p)]``, ``p = sigmoid(z)``, computed from the
  logits ``z`` (``softplus(z) - y z``), so it never takes ``log(0)``.
* ``ce``: ``-(1/m) sum log softmax(z)[y]`` with a max-shifted log-sum-exp.
* ``mse``: ``(1/m) sum 1/2 ||y_hat - y||**2`` (scikit-learn's convention; PyTorch's
  ``MSELoss`` has no 1/2 and averages over elements too).
* ``huber``: ``(1/m) sum [1/2 r**2 if |r| <= delta else delta (|r| - delta/2)]``, ``r = y_hat
  - y``, ``delta`` in ``net.loss_params`` (1.0 by default); ``mae``: ``(1/m) sum |r|``;
  ``poisson``: ``(1/m) sum [exp(y_hat) - y y_hat]`` with ``y_hat`` the log-rate. PyTorch's
  ``HuberLoss``, ``L1Loss`` and ``PoissonNLLLoss(log_input=True)`` with ``reduction="sum"``,
  divided by m.
* ``quantile``: the pinball loss ``(1/m) sum [(1 - q) r if r > 0 else -q r]``, ``r = y_hat -
  y``, with ``q`` in (0, 1) (0.5 by default) one level for every output unit or one per unit
  (``net.loss_params``): scikit-learn's ``mean_pinball_loss(y, y_hat, alpha=q)`` summed over
  the output units. Its minimiser is the q-quantile of y; its gradient at r = 0 is 0.
* ``l2``: ``+ (l2 / 2m) sum_l ||W_l||**2`` (scikit-learn's ``alpha``).

With the canonical output (sigmoid+bce, softmax+ce, identity+mse) the output error is the
fused ``dL/dZ = (A - Y) / m``; any other pair goes through the chain rule. With
``sample_weight``, m becomes the batch's total weight and each row's terms are multiplied by
its weight (:mod:`fnn.weights`).
"""

from __future__ import annotations

from fnn import checks, engine
from fnn.flat import pack, unpack
from fnn.registry import LOSSES
from fnn.types import Cache, Net, Params
from fnn.weights import sample_weights


def _batch(net: Net, params: Params, X, y, l2, sample_weight=None, batch=False):
    """Validate one batch; return ``(theta, X, Y, l2, weights)`` ready for the engine."""
    dtype = checks.model(net, params)
    l2 = checks.real("l2", l2, low=0.0)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    Y = checks.targets("y", y, net, X.shape[0], dtype)
    weights = sample_weights("sample_weight", sample_weight, X.shape[0], dtype, batch)
    return pack(params, dtype), X, Y, l2, weights


def _evaluate(
    net: Net,
    params: Params,
    X,
    y,
    l2: float,
    purpose: str,
    sample_weight=None,
    dropout_key=None,
) -> tuple[float, float]:
    """``(loss, accuracy)`` of the rows of X, evaluated in chunks (no gradient)."""
    theta, X, Y, l2, weights = _batch(net, params, X, y, l2, sample_weight)
    dropout = engine.keyed_dropout(dropout_key)
    records = engine.call(
        net, theta, X_eval=X, Y_eval=Y, weights_eval=weights, l2=l2, purpose=purpose, **dropout
    ).records
    return float(records[2, 0]), float(records[3, 0])


def loss(
    net: Net, params: Params, X, y, l2: float = 0.0, sample_weight=None, dropout_key=None
) -> float:
    """Mean loss of the batch ``(X, y)``, plus the L2 penalty.

    Parameters
    ----------
    net : Net
    params : Params
    X : array_like, shape (m, sizes[0])
    y : array_like
        bce: 0/1 labels (m,) or (m, k); ce: integer labels (m,) or one-hot (m, k);
        mse: targets (m,) or (m, k).
    l2 : float, >= 0
        Weight of ``(l2 / 2m) sum_l ||W_l||**2``.
    sample_weight : array_like, shape (m,), optional
        Weights >= 0 of the rows (not all 0): the loss becomes the weighted mean
        ``sum_i w_i loss_i / sum_i w_i`` and the penalty
        ``(l2 / 2 sum_i w_i) sum_l ||W_l||**2``, so an integer weight counts as that many
        copies of the row (see :mod:`fnn.weights`). None: every row weighs 1.
    dropout_key : int, SeedSequence or None
        For a net with dropout: the loss of the network thinned by the masks of this key
        (the masks of row ``i`` of X, as :func:`value_and_grad` draws them). None: no
        dropout, the deterministic network.

    Returns
    -------
    float
        ``net.loss`` averaged over the ``m`` rows (see the module docstring for the
        formulas), plus the penalty. Computed in the dtype of ``params``.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 1], output="sigmoid")
    >>> params = fnn.init(net, key=0)
    >>> zero = fnn.Params((fnn.Layer(np.zeros((2, 1)), np.zeros(1)),))
    >>> round(fnn.loss(net, zero, np.ones((3, 2)), [0, 1, 1]), 6)  # log 2: p = 0.5 everywhere
    0.693147
    """
    return _evaluate(net, params, X, y, l2, "loss", sample_weight, dropout_key)[0]


def accuracy(net: Net, params: Params, X, y) -> float:
    """Fraction of rows classified right, from the logits: argmax for softmax, z > 0 per sigmoid.

    Parameters
    ----------
    net : Net
        A classifier (a loss whose labels are classes: ``"bce"`` or ``"ce"``).
    params : Params
    X : array_like, shape (n_samples, sizes[0])
    y : array_like
        Labels as :func:`fnn.loss` takes them (for several sigmoid units, a row counts as
        right only when every unit is).

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        For a regression (mse) network.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([1, 1])
    >>> params = fnn.Params((fnn.Layer(np.ones((1, 1)), np.zeros(1)),))  # p = sigmoid(x)
    >>> fnn.accuracy(net, params, [[-1.0], [2.0], [3.0]], [0, 1, 0])
    0.6666666666666666
    """
    checks.network(net)
    if LOSSES[net.loss].labels == "targets":
        raise ValueError(
            f"accuracy needs a classification net (loss 'bce' or 'ce'), got {net.loss!r}"
        )
    return _evaluate(net, params, X, y, 0.0, "accuracy")[1]


def _gradient(net: Net, theta, Y, l2: float, purpose: str, **given) -> tuple[float, Params]:
    """One training batch of the engine without an update: ``(objective, gradient)``."""
    run = engine.call(net, theta, Y=Y, l2=l2, purpose=purpose, **given)
    return float(run.value), unpack(run.grads, net.sizes)


def value_and_grad(
    net: Net, params: Params, X, y, l2: float = 0.0, sample_weight=None, dropout_key=None
) -> tuple[float, Params]:
    """The loss (as :func:`loss`) and its gradient with respect to every W and b, in one pass.

    Parameters
    ----------
    net, params, X, y, l2, sample_weight
        As in :func:`loss`.
    dropout_key : int, SeedSequence or None
        For a net with dropout: drop with the masks of this key (the same key, the same
        masks); unit ``j`` of row ``i`` of hidden layer ``l`` is kept when the
        ``j % 2``-th 32-bit half (low first) of ``_mix64(fold_in(seed, l) + (i * ceil(width_l
        / 2) + j // 2 + 1) * 0x9E3779B97F4A7C15)`` is at least ``ceil(rate_l * 2**32)``
        (``seed`` the key's 64-bit seed, ``_mix64`` SplitMix64's finaliser, in
        :mod:`fnn.kernels`), and scaled by ``1 / (1 - rate_l)``. None: no dropout.

    Returns
    -------
    value : float
        ``loss(net, params, X, y, l2, sample_weight)``.
    grads : Params
        Same shapes and dtype as ``params``: ``dW_l = A_{l-1}.T @ dZ_l + (l2/m) W_l`` and
        ``db_l = sum over rows of dZ_l``, where ``dZ_L = (A_L - Y) / m`` for the canonical
        output/loss pairs and ``dZ_l = (dZ_{l+1} @ W_{l+1}.T) * f_l'(Z_l)`` below. With
        ``sample_weight``, row i of ``dZ_L`` is ``w_i (A_L - Y)_i / sum(w)`` and the decay
        ``(l2 / sum(w)) W_l``; weights summing to 0 give value 0 and a zero gradient, as
        such a mini-batch gets in ``fit``.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 4, 1])
    >>> value, grads = fnn.value_and_grad(net, fnn.init(net, key=0), np.ones((3, 2)), [0, 1, 1])
    >>> abs(value - fnn.loss(net, fnn.init(net, key=0), np.ones((3, 2)), [0, 1, 1])) < 1e-12
    True
    """
    theta, X, Y, l2, weights = _batch(net, params, X, y, l2, sample_weight, batch=True)
    dropout = engine.keyed_dropout(dropout_key)
    return _gradient(net, theta, Y, l2, "grad", X=X, weights=weights, **dropout)


def grad(
    net: Net, params: Params, X, y, l2: float = 0.0, sample_weight=None, dropout_key=None
) -> Params:
    """Gradient of :func:`loss` with respect to ``params`` (a Params of the same shapes).

    Parameters
    ----------
    net : Net
    params : Params
    X : array_like, shape (m, sizes[0])
    y : array_like
        Labels or targets as :func:`loss` takes them.
    l2 : float, >= 0
        Weight of the penalty ``(l2 / 2m) sum_l ||W_l||**2``; adds ``(l2 / m) W_l`` to each
        ``dW_l`` (biases are not penalised).
    sample_weight : array_like, shape (m,), optional
        As in :func:`loss` (here they may all be 0: a zero gradient).
    dropout_key : int, SeedSequence or None
        As in :func:`value_and_grad`.

    Returns
    -------
    Params
        ``dL/dW_l`` with the shape of ``W_l`` (n_in, n_out) and ``dL/db_l`` with the shape of
        ``b_l`` (n_out,), in the dtype of ``params``, read-only. Checked against central
        finite differences by :func:`fnn.testing.check_grads`.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 4, 1])
    >>> params = fnn.init(net, key=0)
    >>> g = fnn.grad(net, params, np.ones((3, 2)), [0, 1, 1])
    >>> g.layers[0].W.shape, g.layers[0].W.dtype
    ((2, 4), dtype('float64'))
    """
    return value_and_grad(net, params, X, y, l2, sample_weight, dropout_key)[1]


def backward(net: Net, params: Params, cache: Cache, y, l2: float = 0.0) -> Params:
    """Gradient from a :func:`fnn.forward` cache, without running the network again.

    Parameters
    ----------
    net, params
        The network and the parameters the cache was computed with.
    cache : Cache
        The second value of ``fnn.forward(net, params, X)``; it holds ``X`` as
        ``cache.activations[0]``.
    y : array_like
        Labels or targets of the rows of ``X``, as :func:`loss` takes them.
    l2 : float, >= 0
        As in :func:`grad`.

    Returns
    -------
    Params
        Equal to ``fnn.grad(net, params, X, y, l2)``, bit for bit. (A batch large enough
        for ``grad`` to cut it into shards runs the network again from
        ``cache.activations[0]``, shard by shard, as ``grad`` does.)

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 4, 1])
    >>> params, X, y = fnn.init(net, key=0), np.ones((3, 2)), [0, 1, 1]
    >>> out, cache = fnn.forward(net, params, X)
    >>> g = fnn.backward(net, params, cache, y)
    >>> bool((g.layers[0].W == fnn.grad(net, params, X, y).layers[0].W).all())
    True
    """
    dtype = checks.model(net, params)
    zbuf, abuf = checks.cache_of(net, cache, dtype)
    m = abuf.size // sum(net.sizes)
    Y = checks.targets("y", y, net, m, dtype)
    l2 = checks.real("l2", l2, low=0.0)
    X = abuf[: m * net.sizes[0]].reshape(net.sizes[0], m).T.copy()  # for a sharded batch
    return _gradient(net, pack(params, dtype), Y, l2, "backward", forward=(zbuf, abuf), X=X)[1]

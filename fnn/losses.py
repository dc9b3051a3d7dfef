"""Losses and their gradients: loss, value_and_grad, grad, backward.

Every loss is a mean over the ``m`` rows of a batch, plus an optional L2 penalty on the
weights (not the biases):

* ``bce``: ``-(1/m) sum [y log p + (1-y) log(1-p)]``, ``p = sigmoid(z)``, computed from the
  logits ``z`` (``softplus(z) - y z``), so it never takes ``log(0)``.
* ``ce``: ``-(1/m) sum log softmax(z)[y]`` with a max-shifted log-sum-exp.
* ``mse``: ``(1/m) sum 1/2 ||y_hat - y||**2`` (scikit-learn's convention; PyTorch's
  ``MSELoss`` has no 1/2 and averages over elements too).
* ``l2``: ``+ (l2 / 2m) sum_l ||W_l||**2`` (seed 000, scikit-learn's ``alpha``).

With the canonical output (sigmoid+bce, softmax+ce, identity+mse) the output error is the
fused ``dL/dZ = (A - Y) / m``; mse with any other output goes through the chain rule.
"""

from __future__ import annotations

from fnn import checks, kernels
from fnn.compile_notice import announce
from fnn.flat import layout_of, pack, unpack
from fnn.model import ACTIVATIONS, _codes, forward_buffers, row_chunks
from fnn.types import Cache, LossSpec, Net, Params

#: Loss names, their kernel codes and the output activations each accepts.
LOSSES = {
    "bce": LossSpec(kernels.BCE, ("sigmoid",), "-(1/m) sum [y log p + (1-y) log(1-p)]"),
    "ce": LossSpec(kernels.CE, ("softmax",), "-(1/m) sum log softmax(z)[y]"),
    "mse": LossSpec(kernels.MSE, tuple(ACTIVATIONS), "(1/m) sum 1/2 ||y_hat - y||**2"),
}


def _batch(net: Net, params: Params, X, y, l2):
    """Validate one batch; return ``(X, Y, theta, l2)`` ready for the kernels."""
    dtype = checks.model(net, params)
    l2 = checks.real("l2", l2, low=0.0)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    Y = checks.targets("y", y, net, X.shape[0], dtype)
    return X, Y, pack(params, dtype), l2


def _objective(data_loss: float, l2: float, theta, layout, m: int) -> float:
    """Mean data loss plus the L2 penalty ``(l2 / 2m) sum ||W||**2``."""
    penalty = 0.5 * l2 * kernels.l2_penalty(theta, layout) if l2 else 0.0
    return float((data_loss + penalty) / m)


def loss(net: Net, params: Params, X, y, l2: float = 0.0) -> float:
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

    Returns
    -------
    float
        ``net.loss`` averaged over the ``m`` rows (see the module docstring for the three
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
    X, Y, theta, l2 = _batch(net, params, X, y, l2)
    layout = layout_of(net.sizes)
    data_loss, _ = output_totals(net, X, Y, theta, layout, "loss")
    return _objective(data_loss, l2, theta, layout, X.shape[0])


def output_totals(net: Net, X, Y, theta, layout, purpose: str) -> tuple[float, int]:
    """``(summed data loss, rows classified right)`` over every row, in row chunks."""
    codes, code = _codes(net), LOSSES[net.loss].code
    n_out = Y.shape[1]
    total, correct = 0.0, 0
    for rows in row_chunks(X.shape[0], net.sizes):
        first = rows.start == 0
        zbuf, abuf, said = forward_buffers(X[rows], theta, layout, codes, purpose, not first)
        size = (rows.stop - rows.start) * n_out
        Z, A = zbuf[-size:].reshape(-1, n_out), abuf[-size:].reshape(-1, n_out)
        args = (Z, A, Y[rows], code, codes[-1])
        if first and not said:
            announce(kernels.output_layer, args, 0, purpose)
        chunk_loss, chunk_correct = kernels.output_layer(*args)
        total += chunk_loss
        correct += chunk_correct
    return total, correct


def _gradient(
    net: Net, X, Y, theta, l2: float, zbuf, abuf, layout, codes, purpose: str, said: bool = False
) -> tuple[float, Params]:
    args = (X, Y, theta, layout, codes, LOSSES[net.loss].code, l2, zbuf, abuf)
    if not said:
        announce(kernels.backward_pass, args, 2, purpose)
    data_loss, grads = kernels.backward_pass(*args)
    return _objective(data_loss, l2, theta, layout, X.shape[0]), unpack(grads, net.sizes)


def value_and_grad(net: Net, params: Params, X, y, l2: float = 0.0) -> tuple[float, Params]:
    """The loss (as :func:`loss`) and its gradient with respect to every W and b, in one pass.

    Parameters
    ----------
    net, params, X, y, l2
        As in :func:`loss`.

    Returns
    -------
    value : float
        ``loss(net, params, X, y, l2)``.
    grads : Params
        Same shapes and dtype as ``params``: ``dW_l = A_{l-1}.T @ dZ_l + (l2/m) W_l`` and
        ``db_l = sum over rows of dZ_l``, where ``dZ_L = (A_L - Y) / m`` for the canonical
        output/loss pairs and ``dZ_l = (dZ_{l+1} @ W_{l+1}.T) * f_l'(Z_l)`` below.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 4, 1])
    >>> value, grads = fnn.value_and_grad(net, fnn.init(net, key=0), np.ones((3, 2)), [0, 1, 1])
    >>> abs(value - fnn.loss(net, fnn.init(net, key=0), np.ones((3, 2)), [0, 1, 1])) < 1e-12
    True
    """
    X, Y, theta, l2 = _batch(net, params, X, y, l2)
    layout, codes = layout_of(net.sizes), _codes(net)
    said = announce(kernels.forward_pass, (X, theta, layout, codes), 1, "grad")
    zbuf, abuf = kernels.forward_pass(X, theta, layout, codes)
    return _gradient(net, X, Y, theta, l2, zbuf, abuf, layout, codes, "grad", said)


def grad(net: Net, params: Params, X, y, l2: float = 0.0) -> Params:
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
    return value_and_grad(net, params, X, y, l2)[1]


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
        Equal to ``fnn.grad(net, params, X, y, l2)``.

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
    checks.network(net)
    X, zbuf, abuf = checks.cache_of(net, cache, checks.params_of(net.sizes, params))
    X, Y, theta, l2 = _batch(net, params, X, y, l2)
    layout, codes = layout_of(net.sizes), _codes(net)
    return _gradient(net, X, Y, theta, l2, zbuf, abuf, layout, codes, "backward")[1]

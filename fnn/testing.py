"""Tools to property-test networks, losses and training loops (fnn's own tests use them).

:func:`check_grads` compares analytic gradients with central finite differences. The
Hypothesis strategies :func:`nets`, :func:`params` and :func:`batches` draw small random
problems; Hypothesis is imported only when a strategy is called.
"""

from __future__ import annotations

import numpy as np

from fnn import checks
from fnn.flat import pack, unpack
from fnn.losses import grad, loss
from fnn.model import init
from fnn.registry import ACTIVATIONS, HIDDEN_ACTIVATIONS, LOSSES, SCHEMES
from fnn.types import Net, Params


def check_grads(
    net: Net, params: Params, X, y, l2: float = 0.0, eps: float = 1e-6, rtol: float = 1e-5,
    atol: float = 1e-8,
) -> None:  # fmt: skip
    """Assert that :func:`fnn.grad` matches central finite differences of :func:`fnn.loss`.

    Works in float64 whatever the dtype of ``params``. An entry passes when
    ``|analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)``, with
    ``numeric = (loss(p + eps) - loss(p - eps)) / (2 eps)``.

    Parameters
    ----------
    net, params, X, y, l2
        As in :func:`fnn.grad`.
    eps : float, > 0
        Step of the central differences.
    rtol, atol : float, >= 0
        Relative and absolute tolerance per entry.

    Returns
    -------
    None
        Silent when every entry of every ``W`` and ``b`` matches.

    Raises
    ------
    AssertionError
        Naming the worst entry, e.g. ``layers[1].W[2, 0]``, with both values.

    Notes
    -----
    ReLU is not differentiable at 0: an input that puts a pre-activation within ``eps`` of 0
    can fail the check although the gradient is right. Use smooth activations (tanh,
    sigmoid) or inputs away from the kinks.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([3, 4, 2], hidden="tanh", output="softmax")
    >>> X = np.random.default_rng(0).normal(size=(5, 3))
    >>> fnn.testing.check_grads(net, fnn.init(net, key=0), X, [0, 1, 1, 0, 1], l2=0.1)
    """
    checks.network(net)
    checks.params_of(net.sizes, params)
    eps = checks.real("eps", eps, low=0.0, open_low=True)
    rtol, atol = checks.real("rtol", rtol, low=0.0), checks.real("atol", atol, low=0.0)
    theta = pack(params, np.float64)
    params64 = unpack(theta.copy(), net.sizes)
    analytic = pack(grad(net, params64, X, y, l2), np.float64)
    numeric = np.empty_like(theta)
    for index in range(theta.size):
        shifted = theta.copy()
        shifted[index] += eps
        upper = loss(net, unpack(shifted, net.sizes), X, y, l2)
        shifted = theta.copy()
        shifted[index] -= eps
        lower = loss(net, unpack(shifted, net.sizes), X, y, l2)
        numeric[index] = (upper - lower) / (2 * eps)
    error = np.abs(analytic - numeric) - (atol + rtol * np.maximum(abs(analytic), abs(numeric)))
    error[~(np.isfinite(analytic) & np.isfinite(numeric))] = np.inf  # NaN must not pass
    worst = int(np.argmax(error))
    if error[worst] > 0:
        raise AssertionError(
            f"gradient mismatch at {_entry_name(net, worst)}: analytic {analytic[worst]!r}, "
            f"numerical {numeric[worst]!r} (rtol {rtol}, atol {atol}, eps {eps})"
        )


def _entry_name(net: Net, flat_index: int) -> str:
    """``layers[l].W[i, j]`` or ``layers[l].b[j]`` for an index into the flat parameters."""
    at = 0
    for layer, (n_in, n_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:])):
        if flat_index < at + n_in * n_out:
            row, col = divmod(flat_index - at, n_out)
            return f"layers[{layer}].W[{row}, {col}]"
        at += n_in * n_out
        if flat_index < at + n_out:
            return f"layers[{layer}].b[{flat_index - at}]"
        at += n_out
    raise IndexError(flat_index)


def _strategies():
    try:
        from hypothesis import strategies
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "fnn.testing strategies need Hypothesis: pip install 'fnn[test]'"
        ) from error
    return strategies


def nets(max_hidden_layers: int = 2, max_width: int = 5, max_inputs: int = 4, losses=None):
    """Hypothesis strategy for small networks with every activation and loss.

    Parameters
    ----------
    max_hidden_layers : int
        Hidden layers drawn from 0 to this.
    max_width : int
        Widest hidden layer.
    max_inputs : int
        Most input features.
    losses : sequence of str, optional
        Draw only these losses (names of ``fnn.LOSSES``); default all.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of Net
        Output activations fit the drawn loss (sigmoid for bce, softmax with 2-3 units for
        ce, identity for poisson, any activation for mse, huber, mae and quantile); each of
        the loss's parameters is half its default, its default or twice it, those in its range
        (huber's delta: 0.5, 1 or 2; quantile's q: 0.25 or 0.5), and a per-output one is
        either one such value or one per output unit; hidden activations are any of
        ``fnn.registry.HIDDEN_ACTIVATIONS``, one drawn per layer.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from fnn import testing
    >>> @settings(max_examples=10, deadline=None)
    ... @given(testing.nets(losses=["ce"]))
    ... def test_softmax_nets(net):
    ...     assert net.activations[-1] == "softmax" and net.sizes[-1] >= 2
    >>> test_softmax_nets()
    """
    st = _strategies()
    outputs_by_loss = {name: spec.outputs for name, spec in LOSSES.items()}

    @st.composite
    def draw_net(draw):
        loss_name = draw(st.sampled_from(sorted(losses or LOSSES)))
        output = draw(st.sampled_from(outputs_by_loss[loss_name]))
        n_hidden = draw(st.integers(0, max_hidden_layers))
        widths = draw(st.lists(st.integers(1, max_width), min_size=n_hidden, max_size=n_hidden))
        n_out = draw(st.integers(ACTIVATIONS[output].min_units, 3))
        hidden = draw(st.lists(st.sampled_from(HIDDEN_ACTIVATIONS), min_size=n_hidden,
                               max_size=n_hidden))  # fmt: skip
        sizes = (draw(st.integers(1, max_inputs)), *widths, n_out)
        values = tuple(
            draw(_parameter_draws(st, parameter, n_out))
            for parameter in LOSSES[loss_name].parameters.values()
        )
        return checks.network(Net(sizes, (*hidden, output), loss_name, loss_params=values))

    return draw_net()


def _parameter_draws(st, parameter, n_outputs: int):
    """A strategy for one loss parameter's value: one of :func:`_parameter_values`, or (a
    per-output parameter) a tuple of ``n_outputs`` of them."""
    one = st.sampled_from(_parameter_values(parameter))
    if not parameter.per_output:
        return one
    return one | st.lists(one, min_size=n_outputs, max_size=n_outputs).map(tuple)


def _parameter_values(parameter) -> list[float]:
    """Half, once and twice a loss parameter's default, those inside its range."""
    inside = [
        value
        for value in (parameter.default / 2, parameter.default, parameter.default * 2)
        if (
            parameter.low is None
            or value > parameter.low
            or (value == parameter.low and not parameter.open_low)
        )
        and (
            parameter.high is None
            or value < parameter.high
            or (value == parameter.high and not parameter.open_high)
        )
    ]
    return inside or [parameter.default]


def params(net: Net, dtype=np.float64):
    """Hypothesis strategy for parameters of ``net``: ``fnn.init`` under a drawn key and scheme.

    Parameters
    ----------
    net : Net
    dtype : float32 or float64

    Returns
    -------
    hypothesis.strategies.SearchStrategy of Params
    """
    st = _strategies()
    return st.builds(
        lambda key, scheme: init(net, key=key, scheme=scheme, dtype=dtype),
        st.integers(0, 2**32 - 1),
        st.sampled_from(tuple(SCHEMES)),
    )


def batches(net: Net, min_rows: int = 1, max_rows: int = 8):
    """Hypothesis strategy for a batch ``(X, y)`` that ``net`` accepts.

    Parameters
    ----------
    net : Net
    min_rows, max_rows : int
        Range of the number of rows.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of (ndarray, ndarray)
        ``X`` of shape (m, sizes[0]) uniform in [-2, 2]; ``y`` integer labels (m,) for ce,
        0/1 of shape (m, k) for bce, normal targets (m, k) for mse.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings, strategies as st
    >>> import fnn
    >>> from fnn import testing
    >>> @settings(max_examples=10, deadline=None)
    ... @given(st.data())
    ... def test_probabilities_sum_to_one(data):
    ...     net = data.draw(testing.nets(losses=["ce"]))
    ...     params = data.draw(testing.params(net))
    ...     X, y = data.draw(testing.batches(net))
    ...     p = fnn.predict_proba(net, params, X)
    ...     assert np.allclose(p.sum(axis=1), 1.0)
    >>> test_probabilities_sum_to_one()
    """
    st = _strategies()

    @st.composite
    def draw_batch(draw):
        m = draw(st.integers(min_rows, max_rows))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        X = rng.uniform(-2, 2, (m, net.sizes[0]))
        n_out = net.sizes[-1]
        labels = LOSSES[net.loss].labels
        if labels == "classes":
            y = rng.integers(0, n_out, m)
        elif labels == "binary":
            y = rng.integers(0, 2, (m, n_out)).astype(np.float64)
        else:
            y = rng.normal(size=(m, n_out))
            if LOSSES[net.loss].target_low is not None:
                y = LOSSES[net.loss].target_low + np.abs(y)
        return X, y

    return draw_batch()

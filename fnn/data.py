"""Data helpers: keys and mini-batches (the shuffles ``fit`` uses), standardisation."""

from __future__ import annotations

import numpy as np

from fnn import checks, kernels
from fnn.flat import frozen
from fnn.types import Scaler


def seed_of(key) -> np.uint64:
    """The 64-bit seed of a key: a non-negative int below 2**64, or a SeedSequence.

    An int is its own seed; a SeedSequence gives its first generated 64-bit word. So for
    shuffles ``key=5`` and ``key=SeedSequence(5)`` differ (``init`` maps both to the same
    generator); each is deterministic.
    """
    if isinstance(key, np.random.SeedSequence):
        return key.generate_state(1, np.uint64)[0]
    return np.uint64(checks.integer("key", key, 0, checks.MAX_KEY))


def fold_in(key, data: int) -> int:
    """A new key from ``key`` and an integer, as ``jax.random.fold_in``.

    ``fit`` shuffles epoch ``e`` with ``minibatches(fold_in(key, e), n, batch_size)``, where
    ``e`` counts epochs since the optimizer state was created.

    Parameters
    ----------
    key : int or numpy.random.SeedSequence
        A non-negative int below ``2**64``, or a SeedSequence.
    data : int
        A non-negative integer below ``2**64`` (an epoch, a step, a worker index).

    Returns
    -------
    int
        A 64-bit key; the same ``(key, data)`` always gives the same key.

    Examples
    --------
    >>> import fnn
    >>> fnn.fold_in(0, 3) == fnn.fold_in(0, 3) != fnn.fold_in(0, 4)
    True
    """
    data = checks.integer("data", data, 0, checks.MAX_KEY)
    return int(kernels.fold_in(seed_of(key), np.uint64(data)))


def minibatches(key, n_samples: int, batch_size: int | None) -> list[np.ndarray]:
    """Index arrays of one epoch: a permutation of ``range(n_samples)`` cut into batches.

    The last batch keeps the remainder (it is not dropped). ``batch_size=None`` or one at least
    ``n_samples`` gives the single full batch in natural order (its gradient does not depend
    on the order).

    Parameters
    ----------
    key : int or numpy.random.SeedSequence
        Fixes the permutation.
    n_samples : int
    batch_size : int or None

    Returns
    -------
    list of ndarray
        Read-only int64 index arrays of length ``batch_size`` (the last one possibly
        shorter), together a permutation of ``range(n_samples)``.

    Examples
    --------
    >>> import fnn
    >>> [len(batch) for batch in fnn.minibatches(0, 10, 4)]
    [4, 4, 2]
    """
    n_samples = checks.integer("n_samples", n_samples, minimum=1)
    if batch_size is None or checks.integer("batch_size", batch_size, minimum=1) >= n_samples:
        return [frozen(np.arange(n_samples))]
    perm = frozen(kernels.permutation(seed_of(key), n_samples))
    return [perm[start : start + batch_size] for start in range(0, n_samples, batch_size)]


# -- data helpers ---------------------------------------------------------------------------------


def standardizer(X) -> Scaler:
    """Per-feature mean and standard deviation of X (constant features get scale 1).

    Fit it on the training rows only, then apply :func:`standardize` to every split. On a
    pandas or polars DataFrame it also records the column names, which :func:`standardize`
    then checks (scikit-learn's ``feature_names_in_``).

    Parameters
    ----------
    X : array_like or DataFrame, shape (n_samples, n_features)
        A DataFrame of numeric columns is read with ``numpy.asarray``; its column names must be
        all strings (recorded) or none (pandas' default ``0, 1, ...``: nothing recorded).

    Returns
    -------
    Scaler
        ``mean`` and ``scale`` (the population standard deviation, ``ddof=0``), each of shape
        (n_features,), in X's float dtype (float64 for integer X); ``feature_names``, X's
        column names in order, or ``()`` for an array.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> scaler = fnn.standardizer(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> scaler.mean.tolist(), scaler.scale.tolist()
    ([2.0, 5.0], [1.0, 1.0])
    """
    names = checks.column_names("X", X) or ()
    array = checks.inputs("X", X, None, None)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = array.mean(axis=0)
        scale = array.std(axis=0)
    checks.finite_result("X", (mean, scale), "its column means or standard deviations overflow")
    scale[scale == 0] = 1
    return Scaler(frozen(mean), frozen(scale), names)


def _same_columns(scaler: Scaler, name: str, X) -> None:
    """ValueError when ``X`` is a DataFrame with named columns that are not the scaler's
    feature names in the same order (an array, or either side without names, passes)."""
    names = checks.column_names(name, X)
    expected = scaler.feature_names
    if not names or not expected or names == expected:
        return
    given, known = set(names), set(expected)
    missing = [column for column in expected if column not in given]
    unexpected = [column for column in names if column not in known]
    detail = (
        ", ".join(
            f"{label} {_listed(columns)}"
            for label, columns in (("missing", missing), ("unexpected", unexpected))
            if columns
        )
        or f"the same names in another order; reorder with {name}[list(scaler.feature_names)]"
    )
    raise ValueError(
        f"{name}'s columns must be scaler.feature_names in order, {_listed(expected)}, got "
        f"{_listed(names)}: {detail}"
    )


def _listed(names) -> str:
    """A list of names for a message: all of them, or the first five and how many in all."""
    if len(names) <= 5:
        return str(list(names))
    return f"[{', '.join(map(repr, names[:5]))}, ...] ({len(names)} in all)"


def standardize(scaler: Scaler, X) -> np.ndarray:
    """``(X - scaler.mean) / scaler.scale``, a new read-only array.

    Parameters
    ----------
    scaler : Scaler
        From :func:`standardizer`.
    X : array_like or DataFrame, shape (n_samples, n_features)
        A DataFrame's columns must be ``scaler.feature_names`` in the same order when both
        have names (ValueError naming the missing, unexpected or reordered columns).

    Returns
    -------
    ndarray, shape (n_samples, n_features)
        In the scaler's dtype (float32 scalers keep float32 data float32).

    Examples
    --------
    >>> import fnn, numpy as np
    >>> scaler = fnn.standardizer(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> fnn.standardize(scaler, np.array([[3.0, 6.0]])).tolist()
    [[1.0, 1.0]]
    """
    scaler = checks.scaler_of("scaler", scaler)
    _same_columns(scaler, "X", X)
    n_features = scaler.mean.shape[0]
    X = checks.inputs("X", X, n_features, np.result_type(scaler.mean.dtype, np.float32))
    with np.errstate(over="ignore", invalid="ignore"):
        result = (X - scaler.mean) / scaler.scale
    checks.finite_result("X", (result,), "(X - scaler.mean) / scaler.scale overflows")
    return frozen(result)


def unstandardize(scaler: Scaler, Z) -> np.ndarray:
    """``Z * scaler.scale + scaler.mean``: the inverse of :func:`standardize`.

    Use it to bring predictions of a network trained on standardised targets back to the
    targets' units (scikit-learn's ``StandardScaler.inverse_transform``).

    Parameters
    ----------
    scaler : Scaler
        From :func:`standardizer`.
    Z : array_like, shape (n_samples, n_features) or (n_samples,) for one feature
        Standardised values, e.g. ``fnn.predict`` of a regression network; a DataFrame's
        columns are checked as :func:`standardize` checks X's.

    Returns
    -------
    ndarray, same shape as Z
        Read-only, in the scaler's dtype (float32 stays float32).

    Examples
    --------
    >>> import fnn, numpy as np
    >>> scaler = fnn.standardizer(np.array([[1.0], [3.0]]))
    >>> fnn.unstandardize(scaler, fnn.standardize(scaler, [[5.0]])).tolist()
    [[5.0]]
    """
    scaler = checks.scaler_of("scaler", scaler)
    _same_columns(scaler, "Z", Z)
    n_features = scaler.mean.shape[0]
    one_column = n_features == 1 and isinstance(Z, np.ndarray) and Z.ndim == 1
    Z = Z.reshape(-1, 1) if one_column else Z
    Z = checks.inputs("Z", Z, n_features, np.result_type(scaler.mean.dtype, np.float32))
    with np.errstate(over="ignore", invalid="ignore"):
        result = Z * scaler.scale + scaler.mean
    checks.finite_result("Z", (result,), "Z * scaler.scale + scaler.mean overflows")
    return frozen(result.reshape(-1) if one_column else result)

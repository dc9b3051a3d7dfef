"""Evaluation metrics with scikit-learn's names, arguments and conventions (pure NumPy).

Every metric takes the true values first and the predictions second, as
``sklearn.metrics`` does, plus optional per-row ``sample_weight`` (non-negative; each row's
term is weighted by ``w_i / sum(w)``). They return Python floats in float64 arithmetic
(``confusion_matrix`` a read-only array), whatever the dtype of the inputs.

Note the conventions of scikit-learn, not of fnn's losses: :func:`mean_squared_error` has no
``1/2`` (``fnn.loss`` with ``"mse"`` has), and all of them average over output columns.
"""

from __future__ import annotations

import numpy as np

from fnn import checks
from fnn.flat import frozen

_MULTIOUTPUT = ("uniform_average", "raw_values")


def _values(name: str, values, n_rows: int | None = None) -> np.ndarray:
    """Finite real numbers of shape (n,) or (n, k), as float64."""
    array = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got {checks.describe(array)}")
    if array.ndim not in (1, 2) or array.shape[0] == 0 or array.size == 0:
        raise ValueError(
            f"{name} must have shape (n_samples,) or (n_samples, n_outputs) with n_samples "
            f">= 1, got shape {array.shape}"
        )
    if n_rows is not None and array.shape[0] != n_rows:
        raise ValueError(f"{name} must have {n_rows} rows (as y_true), got shape {array.shape}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got NaN or infinity")
    return array


def _columns(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` and ``y_pred`` as float64 (n, k) arrays of the same shape."""
    true = _values("y_true", y_true)
    pred = _values("y_pred", y_pred, true.shape[0])
    true, pred = true.reshape(true.shape[0], -1), pred.reshape(pred.shape[0], -1)
    if true.shape != pred.shape:
        raise ValueError(
            f"y_pred must have the shape of y_true {true.shape} (or (n,) for one output), "
            f"got {pred.shape}"
        )
    return true, pred


def _weights(sample_weight, n_rows: int) -> np.ndarray | None:
    """Checked 1-D non-negative weights with a positive sum, or None."""
    if sample_weight is None:
        return None
    weights = _values("sample_weight", sample_weight, n_rows)
    if weights.ndim != 1:
        raise ValueError(f"sample_weight must have shape ({n_rows},), got {weights.shape}")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("sample_weight must be >= 0 with a positive sum")
    return weights


def _mean_over_rows(values: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Per-column (weighted) mean of an (n, k) array."""
    return np.average(values, axis=0, weights=weights)


def _outputs(errors: np.ndarray, multioutput: str):
    multioutput = checks.one_of("multioutput", multioutput, _MULTIOUTPUT)
    if multioutput == "raw_values":
        return frozen(errors)
    return float(np.mean(errors))


def mean_squared_error(y_true, y_pred, sample_weight=None, multioutput="uniform_average"):
    """``(1/n) sum_i (y_i - yhat_i)**2``, averaged over outputs (``sklearn.metrics``).

    No ``1/2``: it is twice ``fnn.loss`` of an mse network (without l2) on one output.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array_like, shape (n_samples,), optional
        Non-negative weights: the mean becomes ``sum_i w_i e_i / sum_i w_i``.
    multioutput : {"uniform_average", "raw_values"}
        Average the outputs' errors, or return one per output (a read-only array).

    Returns
    -------
    float or ndarray of shape (n_outputs,)

    Examples
    --------
    >>> import fnn
    >>> fnn.mean_squared_error([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
    0.375
    """
    true, pred = _columns(y_true, y_pred)
    weights = _weights(sample_weight, true.shape[0])
    return _outputs(_mean_over_rows((true - pred) ** 2, weights), multioutput)


def mean_absolute_error(y_true, y_pred, sample_weight=None, multioutput="uniform_average"):
    """``(1/n) sum_i |y_i - yhat_i|``, averaged over outputs (``sklearn.metrics``).

    Parameters
    ----------
    y_true, y_pred, sample_weight, multioutput
        As in :func:`mean_squared_error`.

    Returns
    -------
    float or ndarray of shape (n_outputs,)

    Examples
    --------
    >>> import fnn
    >>> fnn.mean_absolute_error([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
    0.5
    """
    true, pred = _columns(y_true, y_pred)
    weights = _weights(sample_weight, true.shape[0])
    return _outputs(_mean_over_rows(np.abs(true - pred), weights), multioutput)


def r2_score(y_true, y_pred, sample_weight=None, multioutput="uniform_average"):
    """Coefficient of determination ``1 - SS_res / SS_tot`` per output, then averaged.

    ``SS_res = sum_i w_i (y_i - yhat_i)**2`` and ``SS_tot = sum_i w_i (y_i - ybar)**2`` with
    ``ybar`` the (weighted) mean of ``y_true``. As scikit-learn (``force_finite=True``), an
    output whose ``y_true`` is constant scores 1.0 when predicted exactly, else 0.0.

    Parameters
    ----------
    y_true, y_pred, sample_weight, multioutput
        As in :func:`mean_squared_error`.

    Returns
    -------
    float or ndarray of shape (n_outputs,)
        1.0 is a perfect fit; predicting the mean scores 0.0; worse is negative.

    Examples
    --------
    >>> import fnn
    >>> round(fnn.r2_score([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0]), 6)
    0.948608
    """
    true, pred = _columns(y_true, y_pred)
    weights = _weights(sample_weight, true.shape[0])
    w = np.ones((true.shape[0], 1)) if weights is None else weights[:, None]
    residual = (w * (true - pred) ** 2).sum(axis=0)
    total = (w * (true - np.average(true, axis=0, weights=weights)) ** 2).sum(axis=0)
    scores = np.ones(true.shape[1])
    varied = total != 0
    scores[varied] = 1.0 - residual[varied] / total[varied]
    scores[~varied & (residual != 0)] = 0.0
    return _outputs(scores, multioutput)


def _class_indices(name: str, labels, n_rows: int | None) -> np.ndarray:
    """Integer class labels >= 0 of shape (n,) (or (n, 1)) as int64."""
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.dtype.kind == "f" and np.isfinite(array).all() and (array == np.round(array)).all():
        array = array.astype(np.int64)
    if array.dtype.kind not in "biu":
        hint = (
            f"; encode them with codes, classes = fnn.encode_labels({name})"
            if array.dtype.kind in "USO"
            else ""
        )
        raise TypeError(
            f"{name} must hold integer class labels, got {checks.describe(array)}{hint}"
        )
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must have shape (n_samples,), got shape {array.shape}")
    if n_rows is not None and array.shape[0] != n_rows:
        raise ValueError(f"{name} must have {n_rows} rows (as y_true), got shape {array.shape}")
    if (array < 0).any():
        raise ValueError(f"{name} must hold labels >= 0, got {array[array < 0][0]}")
    return array.astype(np.int64)


def log_loss(y_true, y_proba, sample_weight=None) -> float:
    """Cross-entropy ``-(1/n) sum_i log p_i[y_i]`` of predicted probabilities.

    ``y_proba`` is what :func:`fnn.predict_proba` returns: shape (n,) or (n, 1) holds the
    probability of class 1 (binary), shape (n, k) one probability per class ``0 .. k-1``
    (column ``c`` is class ``c``, as fnn's labels are; scikit-learn's ``labels=range(k)``).
    As in scikit-learn, probabilities are clipped to ``[eps, 1 - eps]``, ``eps`` the machine
    epsilon of ``y_proba``'s dtype (float32's for float32 predictions, else float64's); rows
    must sum to 1 within ``sqrt(eps)`` (scikit-learn warns, fnn refuses).

    Parameters
    ----------
    y_true : array_like of int, shape (n_samples,)
        Class labels in ``0 .. k-1`` (``0/1`` for binary).
    y_proba : array_like, shape (n_samples,), (n_samples, 1) or (n_samples, k)
        Probabilities in ``[0, 1]``.
    sample_weight : array_like, shape (n_samples,), optional

    Returns
    -------
    float

    Examples
    --------
    >>> import fnn
    >>> round(fnn.log_loss([0, 1, 1], [0.1, 0.8, 0.6]), 6)
    0.279777
    """
    labels = _class_indices("y_true", y_true, None)
    eps = np.finfo(np.float32 if np.asarray(y_proba).dtype == np.float32 else np.float64).eps
    proba = _values("y_proba", y_proba, labels.shape[0])
    if proba.ndim == 1 or proba.shape[1] == 1:
        positive = proba.reshape(-1)
        proba = np.stack([1.0 - positive, positive], axis=1)
    if (proba < 0).any() or (proba > 1).any():
        raise ValueError("y_proba must hold probabilities in [0, 1]")
    sums = proba.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=np.sqrt(eps), atol=0.0):
        bad = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(f"y_proba rows must sum to 1, got {sums[bad]} in row {bad}")
    n_classes = proba.shape[1]
    if labels.max() >= n_classes:
        raise ValueError(
            f"y_true must hold labels in 0..{n_classes - 1} (one per column of y_proba), "
            f"got {labels.max()}"
        )
    weights = _weights(sample_weight, labels.shape[0])
    picked = np.clip(proba[np.arange(labels.shape[0]), labels], eps, 1 - eps)
    return float(np.average(-np.log(picked), weights=weights))


def confusion_matrix(y_true, y_pred, labels=None, sample_weight=None, normalize=None):
    """Counts ``C[i, j]`` of rows of true class ``labels[i]`` predicted as ``labels[j]``.

    Rows are true classes, columns predicted ones (scikit-learn's layout). Without
    ``labels`` the classes are ``0 .. max`` of both arrays (fnn's labels are class indices,
    so a class nobody predicted still gets its row and column).

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (n_samples,)
        Class labels, e.g. ``fnn.predict`` of a classifier.
    labels : array_like of int, optional
        Classes to count, in this order; rows whose label is not listed are left out.
    sample_weight : array_like, shape (n_samples,), optional
        Each row adds its weight instead of 1.
    normalize : {None, "true", "pred", "all"}
        Divide by the row sums (true classes), column sums or the total (empty rows or
        columns give 0).

    Returns
    -------
    ndarray, shape (n_labels, n_labels)
        Read-only; int64 counts, or float64 with weights or normalisation.

    Examples
    --------
    >>> import fnn
    >>> fnn.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1]).tolist()
    [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    """
    true = _class_indices("y_true", y_true, None)
    pred = _class_indices("y_pred", y_pred, true.shape[0])
    if labels is None:
        classes = np.arange(max(true.max(), pred.max()) + 1)
    else:
        classes = _class_indices("labels", labels, None)
        if np.unique(classes).size != classes.size:
            raise ValueError("labels must not repeat a class")
    if normalize is not None:
        checks.one_of("normalize", normalize, ("true", "pred", "all"))
    weights = _weights(sample_weight, true.shape[0])
    position = np.full(max(classes.max(), true.max(), pred.max()) + 1, -1)
    position[classes] = np.arange(classes.size)
    row, column = position[true], position[pred]
    kept = (row >= 0) & (column >= 0)
    counts = np.zeros((classes.size, classes.size), np.int64 if weights is None else np.float64)
    np.add.at(counts, (row[kept], column[kept]), 1 if weights is None else weights[kept])
    if normalize is not None:
        axis = {"true": 1, "pred": 0, "all": None}[normalize]
        with np.errstate(invalid="ignore", divide="ignore"):
            counts = counts / counts.sum(axis=axis, keepdims=axis is not None)
        counts = np.nan_to_num(counts)
    return frozen(counts)

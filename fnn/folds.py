"""Cross-validation folds: k disjoint validation sets that cover every row once, or the folds
of a scikit-learn splitter."""

from __future__ import annotations

from typing import Any

import numpy as np

from fnn import checks
from fnn.types import Fold


def kfold(key, n_samples: int, k: int | Any, stratify=None, groups=None) -> tuple[Fold, ...]:
    """Split ``range(n_samples)`` into ``k`` folds, each one's rows validating once.

    The rows are shuffled with ``key`` (grouped by class first when ``stratify`` is given) and
    dealt to the folds in turn, so the validation sets partition the rows, their sizes differ
    by at most one, and with ``stratify`` every class is spread over the folds as evenly as
    it can be (each fold gets ``floor`` or ``ceil`` of ``n_c / k`` rows of class ``c``).

    ``k`` may instead be a scikit-learn cross-validation splitter (``StratifiedKFold``,
    ``GroupKFold``, ``TimeSeriesSplit``, ...: any object with ``split(X, y, groups)`` and
    ``get_n_splits``): the folds are then its ``split(X, y=stratify, groups=groups)``, with a
    placeholder ``X`` of ``n_samples`` rows, each index array sorted. The splitter's own
    ``random_state`` fixes any shuffle (``key`` is checked, not used), and its folds need not
    cover every row (``TimeSeriesSplit`` trains on the past only).

    Parameters
    ----------
    key : int or numpy.random.SeedSequence
        Fixes the shuffle: the same key gives the same folds, bit for bit.
    n_samples : int
        Number of rows, at least ``k``.
    k : int or scikit-learn splitter
        Number of folds, at least 2; or a splitter.
    stratify : array_like or None
        Class labels of the rows: shape (n_samples,) of integers, strings or bools, or
        one-hot rows (n_samples, n_classes) as ``fit`` takes them. A splitter gets them as
        its ``y`` (one-hot rows as class indices).
    groups : array_like or None
        Group label of each row, shape (n_samples,), for a splitter that keeps groups apart
        (``GroupKFold``, ``LeaveOneGroupOut``, ...); only with a splitter.

    Returns
    -------
    tuple of Fold
        ``k`` folds (a splitter's ``get_n_splits``); ``folds[i].val`` and ``folds[i].train``
        are read-only int64 arrays in increasing order, disjoint, together
        ``range(n_samples)`` (for a splitter: the rows it gives).

    Examples
    --------
    >>> import fnn
    >>> [fold.val.tolist() for fold in fnn.kfold(0, 7, 3)]
    [[1, 2, 6], [4, 5], [0, 3]]
    >>> folds = fnn.kfold(0, 6, 2, stratify=[0, 0, 0, 0, 1, 1])
    >>> [fold.val.tolist() for fold in folds]
    [[0, 3, 5], [1, 2, 4]]
    >>> from sklearn.model_selection import GroupKFold
    >>> folds = fnn.kfold(0, 6, GroupKFold(3), groups=[0, 0, 1, 1, 2, 2])
    >>> sorted(fold.val.tolist() for fold in folds)
    [[0, 1], [2, 3], [4, 5]]
    """
    _check_key(key)
    if is_splitter(k):
        n_samples = checks.integer("n_samples", n_samples, minimum=1)
        labels = None if stratify is None else _split_labels(stratify, n_samples)
        return split(k, np.zeros((n_samples, 1)), labels, groups, "k")
    if groups is not None:
        raise ValueError(
            "groups needs a scikit-learn splitter such as GroupKFold(n_splits) as k, "
            f"got k={checks.describe(k)}"
        )
    k = checks.integer("k", k, minimum=2)
    n_samples = checks.integer("n_samples", n_samples, minimum=k)
    rng = np.random.default_rng(key)
    if stratify is None:
        order = rng.permutation(n_samples)
    else:
        classes = _classes(stratify, n_samples)
        order = rng.permutation(n_samples)
        order = order[np.argsort(classes[order], kind="stable")]  # by class, shuffled within
    folds = []
    for index in range(k):
        val = np.sort(order[index::k])
        in_val = np.zeros(n_samples, bool)
        in_val[val] = True
        folds.append(Fold(_read_only(np.flatnonzero(~in_val)), _read_only(val)))
    return tuple(folds)


def is_splitter(value) -> bool:
    """True for a scikit-learn cross-validation splitter: ``split`` and ``get_n_splits``."""
    return callable(getattr(value, "split", None)) and callable(
        getattr(value, "get_n_splits", None)
    )


def split(splitter, X, y, groups, name: str) -> tuple[Fold, ...]:
    """The folds of ``splitter.split(X, y, groups)``, each index array sorted and checked.

    ``name`` names the splitter in messages (the argument it came in).
    """
    n_samples = X.shape[0]
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n_samples,):
            raise ValueError(
                f"groups must hold one group label per row, shape ({n_samples},), "
                f"got shape {groups.shape}"
            )
    try:
        pairs = [(np.sort(train), np.sort(val)) for train, val in splitter.split(X, y, groups)]
    except Exception as error:
        checks.add_note(error, f"in {name}.split(X, y, groups), {name} = {splitter!r}")
        raise
    return check_folds(pairs, n_samples, f"{name}.split(...)")


def _split_labels(stratify, n_samples: int) -> np.ndarray:
    """Labels for a splitter's ``y``: one column as is, one-hot rows as class indices."""
    labels = np.asarray(stratify)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim == 2:
        return _classes(labels, n_samples)
    if labels.shape != (n_samples,):
        raise ValueError(
            f"stratify must hold one label per row, shape ({n_samples},) or ({n_samples}, "
            f"n_classes), got shape {labels.shape}"
        )
    return labels


def check_folds(folds, n_samples: int, name: str = "folds") -> tuple[Fold, ...]:
    """Folds as :func:`kfold` makes them, from any sequence of ``(train, val)`` index pairs.

    Each index array must be 1-D integers in ``[0, n_samples)``, non-empty; train and val must
    not share a row. Returns read-only int64 arrays (copies; the caller's arrays are kept).
    """
    if isinstance(folds, (str, bytes, np.ndarray)) or not hasattr(folds, "__len__"):
        raise TypeError(
            f"{name} must be a sequence of (train, val) index pairs such as fnn.kfold(...), "
            f"got {checks.describe(folds)}"
        )
    if len(folds) == 0:
        raise ValueError(f"{name} must hold at least one (train, val) pair, got none")
    checked = []
    for index, fold in enumerate(folds):
        here = f"{name}[{index}]"
        if not isinstance(fold, (tuple, list)) or len(fold) != 2:
            raise TypeError(f"{here} must be a pair (train, val), got {checks.describe(fold)}")
        train, val = (row_indices(f"{here}.{part}", rows, n_samples)
                      for part, rows in zip(("train", "val"), fold))  # fmt: skip
        shared = np.intersect1d(train, val)
        if shared.size:
            raise ValueError(f"{here}: row {shared[0]} is in both train and val")
        checked.append(Fold(train, val))
    return tuple(checked)


def _check_key(key) -> None:
    if not isinstance(key, np.random.SeedSequence):
        checks.integer("key", key, 0, checks.MAX_KEY)


def _classes(stratify, n_samples: int) -> np.ndarray:
    """Class codes 0..c-1 of the rows, from labels or one-hot rows."""
    labels = np.asarray(stratify)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim not in (1, 2) or labels.shape[0] != n_samples:
        raise ValueError(
            f"stratify must hold one label per row, shape ({n_samples},) or ({n_samples}, "
            f"n_classes), got shape {labels.shape}"
        )
    if labels.dtype.kind not in "biufUS":
        raise TypeError(
            f"stratify must hold integer, string or bool labels, got dtype {labels.dtype}"
        )
    if labels.dtype.kind in "fc" and not np.isfinite(labels).all():
        raise ValueError("stratify must hold finite labels, got NaN or infinity")
    if labels.ndim == 2:  # one-hot rows
        return labels.argmax(axis=1)
    return np.unique(labels, return_inverse=True)[1].reshape(n_samples)


def row_indices(name: str, rows, n_samples: int) -> np.ndarray:
    """``rows`` checked as a non-empty 1-D array of row indices in ``[0, n_samples)``: a
    read-only int64 copy; a ValueError naming ``name`` otherwise."""
    array = np.asarray(rows)
    if array.ndim != 1 or array.dtype.kind not in "iu" or array.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of integer row indices, got "
            f"{checks.describe(rows if isinstance(rows, np.ndarray) else array)}"
        )
    bad = (array < 0) | (array >= n_samples)
    if bad.any():
        raise ValueError(
            f"{name} must index rows 0..{n_samples - 1}, got {array[bad][0]} "
            f"at position {np.flatnonzero(bad)[0]}"
        )
    return _read_only(array.astype(np.int64))


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array

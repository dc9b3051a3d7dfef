"""Class labels as users have them (text, bool, 1-based or sparse integers) to and from the
codes ``0 .. k-1`` that the losses and :func:`fnn.predict` use."""

from __future__ import annotations

import numbers

import numpy as np

from fnn import checks
from fnn.flat import frozen

#: dtype kinds a label may have: bool, integers, floats, text (str and bytes).
_KINDS = "biufUS"


def encode_labels(y, classes=None) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``0 .. k-1`` of class labels of any kind, and the classes they stand for.

    scikit-learn's ``LabelEncoder``: the classes are the distinct labels sorted as
    :func:`numpy.unique` sorts them, and ``codes[i]`` is the index of ``y[i]`` among them, so
    ``classes[codes]`` gives ``y`` back (:func:`decode_labels`). The codes are what ``fit``,
    ``loss`` and ``accuracy`` take as integer labels (bce: 2 classes; ce: one per output
    unit). Encode the validation and test labels with the training ``classes``, so that a
    code means the same class everywhere.

    Parameters
    ----------
    y : array_like, shape (n_samples,) or (n_samples, 1)
        Labels: str or bytes, bool, integers (1-based, -1/+1, sparse such as 3, 7, 42) or
        floats, as an array, a list, a pandas or polars Series, or an object array of one of
        these kinds (pandas' text columns). Missing labels (None, NaN) are refused.
    classes : array_like, shape (k,), optional
        The classes to encode with (any order; each code is the index in ``classes``), e.g.
        those of the training labels. None: ``numpy.unique(y)``.

    Returns
    -------
    codes : ndarray of int64, shape (n_samples,)
        Read-only; ``classes[codes]`` equals ``y``.
    classes : ndarray, shape (k,)
        Read-only; text in an object array comes back as a str array (dtype ``<U``).

    Raises
    ------
    TypeError
        Complex, object arrays mixing kinds (text and numbers), labels of another kind than
        ``classes``.
    ValueError
        Missing labels, a shape other than (n,) or (n, 1), classes not 1-D or repeated, a
        label not among ``classes``.

    Examples
    --------
    >>> import fnn
    >>> codes, classes = fnn.encode_labels(["cat", "dog", "cat", "bird"])
    >>> codes.tolist(), classes.tolist()
    ([1, 2, 1, 0], ['bird', 'cat', 'dog'])
    >>> fnn.encode_labels(["dog", "bird"], classes=classes)[0].tolist()
    [2, 0]
    >>> fnn.encode_labels([1, 3, 2, 3])[0].tolist()  # 1-based labels
    [0, 2, 1, 2]
    """
    labels = _labels("y", y, column=True)
    if classes is None:
        found, codes = np.unique(labels, return_inverse=True)
        return frozen(codes.reshape(-1).astype(np.int64)), frozen(found)
    classes = check_classes("classes", classes)
    _same_kind(labels, classes)
    order = np.argsort(classes, kind="stable")
    at = np.searchsorted(classes, labels, sorter=order).clip(max=classes.size - 1)
    codes = order[at]
    unknown = classes[codes] != labels
    if unknown.any():
        raise ValueError(
            f"y holds labels that are not in classes ({_shown(classes)}): "
            f"{checks.first_bad(labels, unknown)}"
        )
    return frozen(codes.astype(np.int64)), classes


def decode_labels(codes, classes) -> np.ndarray:
    """The classes that codes stand for: ``classes[codes]``, the inverse of :func:`encode_labels`.

    Parameters
    ----------
    codes : array_like of int, any shape
        Codes in ``0 .. k-1``, e.g. ``fnn.predict(net, params, X)`` of a classifier.
    classes : array_like, shape (k,)
        The classes :func:`encode_labels` returned (or :func:`fnn.load_classes` read).

    Returns
    -------
    ndarray, shape of ``codes``
        Read-only, of ``classes``' dtype.

    Raises
    ------
    TypeError
        Codes that are not integers.
    ValueError
        Codes outside ``0 .. k-1``; classes not 1-D, empty or repeated.

    Examples
    --------
    >>> import fnn
    >>> codes, classes = fnn.encode_labels(["no", "yes", "yes"])
    >>> fnn.decode_labels([1, 0], classes).tolist()
    ['yes', 'no']
    """
    classes = check_classes("classes", classes)
    array = codes if isinstance(codes, np.ndarray) else _array("codes", codes)
    if array.dtype.kind not in "iu":
        hint = "; use .astype(int)" if array.dtype.kind in "fb" else ""
        raise TypeError(f"codes must be integers, got {checks.describe(array)}{hint}")
    bad = array.astype(np.uintp, copy=False) >= classes.size  # negatives wrap to huge values
    if bad.any():
        raise ValueError(
            f"codes must be in 0..{classes.size - 1} (one per class of {_shown(classes)}), got "
            f"{checks.first_bad(array, bad)}"
        )
    return frozen(classes[array.reshape(-1)].reshape(array.shape))


def check_classes(name: str, classes) -> np.ndarray:
    """``classes`` as a read-only 1-D array of distinct labels (at least one).

    Object arrays of text become str arrays; the caller's array is returned when it already
    is a read-only 1-D array of a label kind.
    """
    array = _labels(name, classes, column=False)
    ordered = np.sort(array)
    repeated = ordered[1:] == ordered[:-1]
    if repeated.any():
        raise ValueError(f"{name} must be distinct, got {ordered[1:][repeated][0].item()!r} twice")
    if array is classes and not array.flags.writeable:
        return array
    return frozen(array.copy())


def _labels(name: str, values, column: bool) -> np.ndarray:
    """``values`` as a non-empty array of a label kind, without missing values; ``column``:
    shape (n,) or (n, 1), returned as (n,)."""
    array = _array(name, values)
    if array.ndim == 0:
        raise ValueError(f"{name} must be 1-D, got the scalar {checks.describe(array.item())}")
    if column and array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        shapes = "(n_samples,) or (n_samples, 1)" if column else "(n_classes,), one per class"
        raise ValueError(f"{name} must have shape {shapes}, got shape {array.shape}")
    if not array.size:
        raise ValueError(f"{name} must hold at least one label, got shape {array.shape}")
    if array.dtype.kind == "O":
        array = _from_objects(name, array)
    if array.dtype.kind not in _KINDS:
        raise TypeError(
            f"{name} must hold labels of one kind (text, bool, integers or real numbers), got "
            f"dtype {array.dtype}"
        )
    if array.dtype.kind == "f" and np.isnan(array).any():
        raise ValueError(
            f"{name} must not hold missing labels, got {checks.first_bad(array, np.isnan(array))}"
        )
    return array


def _array(name: str, values) -> np.ndarray:
    """``numpy.asarray(values)`` (a pandas or polars Series included), TypeError if ragged."""
    try:
        return np.asarray(values)
    except (ValueError, TypeError) as error:
        raise TypeError(
            f"{name} must be an array of labels (rectangular), got {checks.describe(values)}"
        ) from error


def _from_objects(name: str, array: np.ndarray) -> np.ndarray:
    """A 1-D object array (pandas' text columns, lists of mixed Python values) as an array of
    one label kind: all str, all bytes, or all real numbers and bools."""
    missing = np.fromiter(map(_is_missing, array), bool, array.size)
    if missing.any():
        index = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"{name} must not hold missing labels, got {array[index]!r} at index {index}"
        )
    for kind in (str, bytes):
        if all(isinstance(value, kind) for value in array):
            return np.array(array.tolist(), dtype=kind)
    if all(isinstance(value, (numbers.Real, np.bool_)) for value in array):
        return np.array(array.tolist())
    kinds = sorted({type(value).__name__ for value in array})
    raise TypeError(f"{name} must hold labels of one kind (all text or all numbers), got {kinds}")


def _is_missing(value) -> bool:
    """None, a float NaN, or pandas' NA (recognised by its type's name: fnn imports no
    pandas)."""
    if value is None or type(value).__name__ == "NAType":
        return True
    return isinstance(value, (float, np.floating)) and value != value


def _same_kind(labels: np.ndarray, classes: np.ndarray) -> None:
    """TypeError when labels and classes are not both text of one kind or both numbers."""
    kinds = [a.dtype.kind if a.dtype.kind in "US" else "number" for a in (labels, classes)]
    if kinds[0] != kinds[1]:
        raise TypeError(
            f"y and classes must both be text or both numbers, got y of dtype {labels.dtype} "
            f"and classes of dtype {classes.dtype}"
        )


def _shown(classes: np.ndarray) -> str:
    """The classes for a message: all of them, or the first five and how many in all."""
    if classes.size <= 5:
        return str(classes.tolist())
    return f"{str(classes[:5].tolist())[:-1]}, ...] ({classes.size} classes)"

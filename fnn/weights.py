"""Sample and class weights: validated per-row weights for the engine.

A row of weight ``w`` counts as ``w`` rows: a batch's loss is ``sum_i w_i loss_i / sum_i w_i``
(the weighted mean, as PyTorch's ``CrossEntropyLoss(weight=...)`` reduces), its accuracy the
weighted fraction right, and its L2 penalty ``(l2 / 2 sum_i w_i) sum_l ||W_l||**2`` — with all
weights 1 these are the unweighted formulas, bit for bit. An integer weight ``w`` gives the
loss and gradient of the row repeated ``w`` times (full batch). Each mini-batch is normalised
by its own total weight, so the size of a step does not depend on how much weight the batch
happened to draw; a batch whose weights are all 0 contributes nothing.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from fnn import checks
from fnn.registry import LOSSES
from fnn.types import Net


def sample_weights(
    name: str, sample_weight, n_samples: int, dtype, batch: bool = False
) -> np.ndarray | None:
    """``sample_weight`` as a C-contiguous (n_samples,) array of ``dtype``: finite, >= 0, with
    a positive sum unless it weighs one ``batch`` of a gradient (which may weigh 0, as a
    mini-batch in ``fit`` may); None stays None (every row weighs 1)."""
    if sample_weight is None:
        return None
    array = checks.as_array(name, sample_weight)
    if array.shape not in ((n_samples,), (n_samples, 1)):
        raise ValueError(
            f"{name} must have shape ({n_samples},) (one weight per sample in X), "
            f"got shape {array.shape}"
        )
    with np.errstate(over="ignore"):  # float64 -> float32 may overflow: refused below
        weights = np.array(array.reshape(n_samples), dtype=dtype, order="C")
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        raise ValueError(
            f"{name} must hold finite weights >= 0 (in {np.dtype(dtype).name}), got "
            f"{checks.first_bad(array.reshape(n_samples), bad)}"
        )
    if not batch and not weights.sum(dtype=np.float64) > 0:
        raise ValueError(f"{name} must have a positive sum, got all {n_samples} weights 0")
    return weights


def class_weights(class_weight, net: Net, Y: np.ndarray) -> np.ndarray:
    """Per-row weights (float64, (n,)) of the class of each row of the checked targets ``Y``.

    ``"balanced"``: ``n_samples / (n_classes * count(class))`` over the classes present
    (scikit-learn's ``compute_class_weight("balanced")``); a dict ``{class: weight}``: classes
    not in it weigh 1 (scikit-learn, Keras).
    """
    n, n_out = Y.shape
    labels = LOSSES[net.loss].labels
    if labels == "classes":
        classes, n_classes = Y.argmax(axis=1), n_out
    elif labels == "binary" and n_out == 1:
        classes, n_classes = Y[:, 0].astype(np.int64), 2
    else:
        raise ValueError(
            "class_weight needs a classifier with one class per row (loss 'ce', or 'bce' with "
            f"one output unit), got loss {net.loss!r} with {n_out} output units"
        )
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be 'balanced' or a dict, got {class_weight!r}")
        counts = np.bincount(classes, minlength=n_classes)
        present = counts > 0
        table = np.zeros(n_classes)
        table[present] = n / (np.count_nonzero(present) * counts[present])
    elif isinstance(class_weight, Mapping):
        table = np.ones(n_classes)
        for key, value in class_weight.items():
            if not isinstance(key, numbers.Integral) or isinstance(key, (bool, np.bool_)):
                raise TypeError(f"class_weight keys must be class indices, got {key!r}")
            if not 0 <= key < n_classes:
                raise ValueError(
                    f"class_weight has class {int(key)}, but this network's classes are "
                    f"0..{n_classes - 1}"
                )
            table[key] = checks.real(f"class_weight[{int(key)}]", value, low=0.0)
    else:
        raise TypeError(
            "class_weight must be 'balanced', a dict {class: weight} or None, got "
            f"{checks.describe(class_weight)}"
        )
    return table[classes]


def fit_weights(net: Net, Y: np.ndarray, sample_weight, class_weight, dtype) -> np.ndarray | None:
    """The training rows' weights for ``fit``: sample weights times class weights, or None."""
    weights = sample_weights("sample_weight", sample_weight, Y.shape[0], dtype)
    if class_weight is None:
        return weights
    per_row = class_weights(class_weight, net, Y)
    if weights is not None:
        per_row = per_row * weights
    product = np.ascontiguousarray(per_row, dtype=dtype)
    if not product.sum(dtype=np.float64) > 0:
        raise ValueError("class_weight (with sample_weight) leaves every row with weight 0")
    return product

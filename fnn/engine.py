"""The one door to the compiled batch engine: every computation of fnn goes through :func:`run`.

``fit`` runs epochs of training batches with updates; ``value_and_grad`` one batch without an
update; ``backward`` the same batch from a given forward pass; ``opt_step`` one update from a
given gradient; ``forward``, ``predict``, ``loss`` and ``accuracy`` evaluate rows in chunks.
They are the same compiled function (:func:`fnn.kernels.run`, one signature per dtype), so a
batch gives the same bits whichever path computes it, and the first call of any of them
compiles (or loads from the disk cache) what every other one uses.
"""

from __future__ import annotations

import numpy as np

from fnn import kernels
from fnn.flat import layers_of, readonly
from fnn.registry import LOSSES
from fnn.types import EngineRun, Net

#: Rows evaluated at a time by predict, predict_proba, loss, accuracy and fit's validation
#: pass, so that memory stays bounded on large inputs.
EVAL_CHUNK = 4096


def _empty(dtype, *shape) -> np.ndarray:
    empty = np.empty(shape or (0,), dtype)
    empty.setflags(write=False)
    return empty


def run(
    net: Net,
    theta: np.ndarray,
    *,
    X=None,
    Y=None,
    X_eval=None,
    Y_eval=None,
    slots=None,
    grads=None,
    forward=None,
    opt_code: int = kernels.NO_UPDATE,
    hyper=None,
    lrs=None,
    step: int = 0,
    l2: float = 0.0,
    seed=np.uint64(0),
    first_epoch: int = 0,
    epochs: int = 1,
    batch: int | None = None,
    chunk: int = EVAL_CHUNK,
    store: bool = False,
) -> EngineRun:
    """Call the engine with checked, normalised arguments; absent ones are empty arrays.

    ``X, Y``: training rows (``batch`` rows per update, all of them when None); ``X_eval,
    Y_eval``: rows evaluated after each epoch (``Y_eval`` None for no loss); ``grads``: a given
    gradient (one update, nothing else); ``forward``: the ``(zbuf, abuf)`` of a forward pass
    over the rows of Y; ``opt_code, hyper, lrs, step``: the update (NO_UPDATE: none).
    """
    dtype = theta.dtype
    n_features, n_outputs = net.sizes[0], net.sizes[-1]
    loss = LOSSES[net.loss]
    plan = np.empty(kernels.PLAN_SIZE, np.int64)
    plan[kernels.LOSS] = loss.code
    plan[kernels.CHAIN_RULE] = net.activations[-1] != loss.canonical
    plan[kernels.OPTIMIZER] = opt_code
    plan[kernels.STEP] = step
    plan[kernels.FIRST_EPOCH] = first_epoch
    plan[kernels.EPOCHS] = epochs
    n = 0 if Y is None else Y.shape[0]
    plan[kernels.BATCH] = n if batch is None else batch
    plan[kernels.CHUNK] = chunk
    plan[kernels.STORE] = store
    empty = _empty(dtype)
    result = kernels.run(
        readonly(X) if X is not None else _empty(dtype, 0, n_features),
        readonly(Y) if Y is not None else _empty(dtype, 0, n_outputs),
        readonly(X_eval) if X_eval is not None else _empty(dtype, 0, n_features),
        readonly(Y_eval) if Y_eval is not None else _empty(dtype, 0, n_outputs),
        readonly(theta),
        readonly(slots) if slots is not None else _empty(dtype, 0, 0),
        readonly(grads) if grads is not None else empty,
        readonly(forward[0]) if forward is not None else empty,
        readonly(forward[1]) if forward is not None else empty,
        layers_of(net),
        readonly(plan),
        readonly(hyper) if hyper is not None else _empty(np.float64),
        readonly(lrs) if lrs is not None else _empty(np.float64),
        float(l2),
        np.uint64(seed),
    )
    return EngineRun(*result)

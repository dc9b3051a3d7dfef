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

from fnn import checks, kernels
from fnn.compile_notice import announce
from fnn.data import seed_of
from fnn.flat import layers_of
from fnn.registry import LOSSES
from fnn.types import EngineRun, Net

#: ``predict``, ``predict_proba``, ``loss``, ``accuracy`` and ``fit``'s validation pass run
#: the network on chunks of rows holding at most this many activations (every layer's Z and A
#: of the chunk's rows, about 2 * 2**19 values: 8 MiB in float64), so that their memory beyond
#: X and the result stays bounded.
CHUNK_VALUES = 1 << 19


def chunk_rows(sizes: tuple[int, ...]) -> int:
    """Rows per evaluation chunk for a network of layer ``sizes`` (at least 1)."""
    return max(1, CHUNK_VALUES // sum(sizes))


def _empty(dtype, *shape) -> np.ndarray:
    return np.empty(shape or (0,), dtype)


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
    seed: int = 0,
    dropout: int = kernels.NO_DROPOUT,
    first_epoch: int = 0,
    epochs: int = 1,
    batch: int | None = None,
    chunk: int | None = None,
    store: bool = False,
    weights=None,
    weights_eval=None,
    purpose: str,
    on_compile=None,
    blas_setters=(),
) -> EngineRun:
    """Call the engine with checked, normalised arguments; absent ones are empty arrays.

    ``X, Y``: training rows (``batch`` rows per update, all of them when None); ``X_eval,
    Y_eval``: rows evaluated after each epoch (``Y_eval`` None for no loss); ``grads``: a given
    gradient (one update, nothing else); ``forward``: the ``(zbuf, abuf)`` of a forward pass
    over the rows of Y; ``opt_code, hyper, lrs, step``: the update (NO_UPDATE: none);
    ``chunk``: evaluation rows at a time (default :func:`chunk_rows`); ``dropout``: the
    kernel's dropout mode (PER_UPDATE for fit, KEYED with a given key's ``seed``), ignored
    for a net without dropout; ``weights``, ``weights_eval``: sample weights of the rows of X
    and X_eval (None: all 1). ``purpose`` names the public function for the one-line notice
    printed when the engine must compile first (``on_compile()`` is then called too);
    ``blas_setters``: from
    :func:`blas_thread_setters`, to run with one BLAS thread.
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
    plan[kernels.CHUNK] = chunk_rows(net.sizes) if chunk is None else chunk
    plan[kernels.STORE] = store
    plan[kernels.DROPOUT] = dropout if net.dropout else kernels.NO_DROPOUT
    empty = _empty(dtype)
    args = (
        X if X is not None else _empty(dtype, 0, n_features),
        Y if Y is not None else _empty(dtype, 0, n_outputs),
        X_eval if X_eval is not None else _empty(dtype, 0, n_features),
        Y_eval if Y_eval is not None else _empty(dtype, 0, n_outputs),
        theta,
        slots if slots is not None else _empty(dtype, 0, 0),
        grads if grads is not None else empty,
        forward[0] if forward is not None else empty,
        forward[1] if forward is not None else empty,
        layers_of(net),
        plan,
        hyper if hyper is not None else _empty(np.float64),
        lrs if lrs is not None else _empty(np.float64),
        float(l2),
        np.uint64(seed),
        np.array((*net.dropout, 0.0)) if net.dropout else _empty(np.float64),
        float(net.delta),
        weights if weights is not None else empty,
        weights_eval if weights_eval is not None else empty,
    )
    if announce(kernels.run, args, 4, purpose) and on_compile is not None:
        on_compile()
    previous = [setter(1) for setter in blas_setters]
    try:
        return EngineRun(*kernels.run(*args))
    finally:
        for setter, count in zip(blas_setters, previous):
            setter(count)


def keyed_dropout(dropout_key) -> dict:
    """:func:`run`'s dropout arguments for a composable function's ``dropout_key``: none for
    None, else every batch or chunk drops with the masks of the key's seed."""
    if dropout_key is None:
        return {}
    if not isinstance(dropout_key, np.random.SeedSequence):  # named in the error, as seed_of
        checks.integer("dropout_key", dropout_key, 0, checks.MAX_KEY)
    return {"dropout": kernels.KEYED, "seed": seed_of(dropout_key)}


def blas_thread_setters() -> list:
    """``set(n) -> previous`` of every loaded OpenBLAS that limits threads per calling thread.

    Numba's ``np.dot`` calls the BLAS that SciPy links (OpenBLAS in the wheels). ``fit`` runs
    serially: the products of one mini-batch are too small to share between threads, and
    OpenBLAS's waiting threads cost far more than they save (measured on 2 cores:
    moons-gd 10x slower with 2 BLAS threads than with 1 when another process is busy).
    Linux only (reads ``/proc/self/maps``); elsewhere, or for another BLAS, an empty list.
    """
    import ctypes  # here, not at the top: ``import fnn`` stays fast
    import importlib

    try:
        importlib.import_module("scipy.linalg.cython_blas")  # what np.dot loads anyway
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1]}
    except (ImportError, OSError):
        return []
    setters = []
    for path in sorted(paths):
        try:
            setters.append(ctypes.CDLL(path).openblas_set_num_threads_local)
        except (OSError, AttributeError):
            continue
    return setters

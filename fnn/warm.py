"""Compile every kernel of fnn into Numba's disk cache: ``python -m fnn.warm``.

Numba compiles fnn's kernels on their first use (the engine, its variant that runs a large
batch's shards on threads, and the kernel of ``fit_many``'s members side by side, each in
float64 and float32: seconds each, as the compile notice says) and keeps the machine code in
the first of ``$NUMBA_CACHE_DIR``, the package's ``__pycache__`` and ``~/.cache/numba`` that
it can write to. Run this command where that cache will live (at image build time, say) so
that no later process compiles; docs/deploying.md ("Read-only deployments") says how to use
such a cache there. (A wheel built from the repository ships these kernels compiled:
:mod:`fnn.shipped`.)
"""

from __future__ import annotations

import os

import numpy as np

from fnn import engine
from fnn.data import fold_in, minibatches
from fnn.ensembles import fit_many
from fnn.flat import pack
from fnn.model import init, mlp
from fnn.optim import sgd
from fnn.threads import default_threads
from fnn.train import fit


def warm(threaded: bool | None = None) -> None:
    """Run every compiled entry point once per dtype, compiling (or loading) each; the
    engine's threaded variant too when ``threaded`` (None: when this machine has threads)."""
    if threaded is None:
        threaded = default_threads() > 1
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    y = np.array([1, 1, 0, 0])
    net = mlp([2, 3, 2], output="softmax", dropout=0.5)  # dropout: an argument of the engine
    for dtype in (np.float64, np.float32):  # the engine's one version per dtype
        params = init(net, key=0, dtype=dtype)
        fit(net, params, sgd(0.1), X, y, epochs=1, batch_size=2, validation=(X, y))
        small = mlp([2, 3, 1])  # fit_many's kernel of members side by side
        members = [init(small, key=k, dtype=dtype) for k in range(2)]
        fit_many(small, members, sgd(0.1), X, y, epochs=1, batch_size=2)
        if threaded:  # the variant that runs a large batch's shards on threads
            Y = np.eye(2, dtype=dtype)[y]
            engine.call(net, pack(params, dtype), X=X.astype(dtype), Y=Y, threads=2, purpose="fit")
    fold_in(0, 1)
    minibatches(0, 4, 2)  # the shuffle's kernel


if __name__ == "__main__":
    warm()
    print(f"fnn: kernels compiled into Numba's cache for {os.path.dirname(engine.__file__)}")

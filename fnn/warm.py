"""Compile every kernel of fnn into Numba's disk cache: ``python -m fnn.warm``.

Numba compiles fnn's kernels on their first use (the engine's variants: the common one, the
full one for dropout, gradient clipping and the rarer activations and losses, and the one that
runs a large batch's shards on threads; ``opt_step``'s kernel of one update; the kernel of
``fit_many``'s members side by side; each in float64 and float32: seconds each, as the compile
notice says) and keeps the machine code in
the first of ``$NUMBA_CACHE_DIR``, the package's ``__pycache__`` and ``~/.cache/numba`` that
it can write to. Run this command where that cache will live (at image build time, say) so
that no later process compiles; docs/deploying.md ("Read-only deployments") says how to use
such a cache there. (A wheel built from the repository ships these kernels compiled:
:mod:`fnn.shipped`; where they serve, there is nothing to warm.)

Numba compiles one function at a time in a process (a global lock), so the command compiles
in processes of their own, as many at once as there are cores, one per dtype and group of
:data:`GROUPS` (the kernels of a group share helpers, which a process compiles once), and this
process alone writes the results into the cache (Numba's cache files are not safe to write
from several processes at once).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numba.core.serialize import dumps

from fnn import engine, kernels, shipped
from fnn.data import fold_in, minibatches
from fnn.ensembles import fit_many
from fnn.flat import pack
from fnn.model import init, mlp
from fnn.optim import opt_init, opt_step, sgd
from fnn.threads import default_threads
from fnn.train import fit

DTYPES = ("float64", "float32")  # the engine's one version per dtype
X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
y = np.array([1, 1, 0, 0])


def _common(dtype: str) -> None:
    """The engine's common variant (no dropout, clipping, rarer activation or loss)."""
    net = mlp([2, 3, 2], output="softmax")
    fit(net, init(net, key=0, dtype=dtype), sgd(0.1), X, y, epochs=1, batch_size=2,
        validation=(X, y))  # fmt: skip


def _full(dtype: str) -> None:
    """The engine's full variant (here for dropout)."""
    net = mlp([2, 3, 2], output="softmax", dropout=0.5)
    fit(net, init(net, key=0, dtype=dtype), sgd(0.1), X, y, epochs=1, batch_size=2,
        validation=(X, y))  # fmt: skip


def _threaded(dtype: str) -> None:
    """The engine's variant that runs a large batch's shards on threads."""
    net = mlp([2, 3, 2], output="softmax", dropout=0.5)
    theta = pack(init(net, key=0, dtype=dtype), dtype)
    Y = np.eye(2, dtype=dtype)[y]
    engine.call(net, theta, X=X.astype(dtype), Y=Y, threads=2, purpose="fit")


def _update(dtype: str) -> None:
    """opt_step's kernel of one update from a given gradient (the parameters serve as one)."""
    net = mlp([2, 3, 2])
    params = init(net, key=0, dtype=dtype)
    opt_step(sgd(0.1), params, params, opt_init(sgd(0.1), params))


def _members(dtype: str) -> None:
    """fit_many's kernel of members side by side."""
    small = mlp([2, 3, 1])
    members = [init(small, key=k, dtype=dtype) for k in range(2)]
    fit_many(small, members, sgd(0.1), X, y, epochs=1, batch_size=2)


#: Each entry kernel that a call may need per dtype, and a call that compiles it. In this order
#: when they run in one process: a call runs a variant of the engine compiled already when it
#: can (fnn.engine.engine_kernel), so each variant must come before those that could stand in.
CALLS = {
    kernels.train_and_evaluate: _common,
    kernels.train_and_evaluate_full: _full,
    kernels.train_and_evaluate_threaded: _threaded,
    kernels.update: _update,
    kernels.train_members: _members,
}
#: The kernels compiled in one process: the engine's full and threaded variants share every
#: helper; the common variant's specialised helpers are its own. The longest group first (the
#: threaded variant is the longest compile), so that the last to finish is a short one.
GROUPS = (
    (kernels.train_and_evaluate_full, kernels.train_and_evaluate_threaded),
    (kernels.train_and_evaluate, kernels.update, kernels.train_members),
)


def warm(threaded: bool | None = None, processes: int | None = None) -> None:
    """Compile (or load) every entry kernel in both dtypes into Numba's disk cache; the
    engine's threaded variant too when ``threaded`` (None: when this machine has threads).

    ``processes``: how many to compile in at once (None: one per core; 1: all in this
    process, one after the other)."""
    if threaded is None:
        threaded = default_threads() > 1
    jobs = [(kernel, dtype) for kernel in CALLS for dtype in DTYPES
            if threaded or kernel is not kernels.train_and_evaluate_threaded]  # fmt: skip
    fold_in(0, 1)
    minibatches(0, 4, 2)  # the shuffle's kernel
    engine.members_side_by_side((2, 3, 1), 2)  # the small kernels the engine's Python side calls
    if processes is None:
        processes = min(len(jobs), os.cpu_count() or 1)
    if processes <= 1 or shipped.why_not_served() is None:  # nothing to compile: load here
        for kernel, dtype in jobs:
            CALLS[kernel](dtype)
        return
    jobs = [job for job in jobs if not _in_cache(*job)]
    groups = []  # (kernels, dtype) for each process
    for members in GROUPS:
        for dtype in DTYPES:
            group = tuple(kernel for kernel in members if (kernel, dtype) in jobs)
            groups += [(group, dtype)] if group else []
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(processes) as pool:
        for entries in pool.map(lambda group: _compile_apart(*group, scratch), groups):
            for name, key, payload in entries:
                kernel = getattr(kernels, name)
                cache = getattr(kernel._cache, "own", kernel._cache)  # Numba's, where it writes
                cache._impl.locator.ensure_cache_path()
                cache._cache_file.save(key, payload)


def _in_cache(kernel, dtype: str) -> bool:
    """Whether Numba's disk cache holds ``kernel``'s version for ``dtype``, compiled by this
    fnn for this machine (the key's code hashes and CPU as a compile here would give)."""
    cache = getattr(kernel._cache, "own", kernel._cache)
    if not hasattr(cache, "_cache_file"):  # no disk cache
        return False
    here = cache._index_key((), kernel.targetctx.codegen())[1:]
    return any(key[1:] == here and dtype in _float_dtypes(key[0])
               for key in cache._cache_file._load_index())  # fmt: skip


def _float_dtypes(types) -> set[str]:
    """The float dtypes of the arrays in a signature, tuples of arrays included."""
    found, stack = set(), list(types)
    while stack:
        item = stack.pop()
        if hasattr(item, "types"):  # a tuple
            stack.extend(item.types)
        elif str(getattr(item, "dtype", "")) in DTYPES:
            found.add(str(item.dtype))
    return found


def _compile_apart(group: tuple, dtype: str, scratch: str) -> list:
    """Compile the kernels of ``group`` in ``dtype``, in this order, in a process of its own
    (its helpers' cache in a folder of ``scratch``, thrown away); return their cache entries:
    ``(kernel name, key, payload)``."""
    names = [kernel.__name__ for kernel in group]
    out = Path(scratch) / f"{'-'.join(names)}-{dtype}.pickle"
    # The same fnn as this process's, however this one found it.
    path = os.pathsep.join(filter(None, [str(Path(engine.__file__).parent.parent),
                                         os.environ.get("PYTHONPATH")]))  # fmt: skip
    env = {**os.environ, "NUMBA_CACHE_DIR": tempfile.mkdtemp(dir=scratch), "PYTHONPATH": path}
    command = [sys.executable, "-m", "fnn.warm", "--job", dtype, str(out), *names]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return pickle.loads(out.read_bytes())


def _job(dtype: str, out: str, *names: str) -> None:
    """In the process of :func:`_compile_apart`: compile kernels ``names`` in turn, then write
    their cache entries as Numba's cache would store them, for the parent to save."""
    entries = []
    for name in names:
        kernel = getattr(kernels, name)
        CALLS[kernel](dtype)
        cache = getattr(kernel._cache, "own", kernel._cache)
        codegen = kernel.targetctx.codegen()
        entries += [(name, cache._index_key(cres.signature.args, codegen), cache._impl.reduce(cres))
                    for cres in kernel.overloads.values()]  # fmt: skip
    Path(out).write_bytes(dumps(entries))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--job"]:
        _job(*sys.argv[2:])
    else:
        started = time.perf_counter()
        warm()
        seconds = time.perf_counter() - started
        where = kernels.train_and_evaluate._cache.cache_path
        print(f"fnn: every kernel is in Numba's cache at {where} ({seconds:.0f} s)")

"""Independent calls of fnn's kernels on threads of this process (they release the GIL)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def default_threads() -> int:
    """The threads fnn runs at most by default: Numba's thread count (``NUMBA_NUM_THREADS``
    when set, else the cores), at most the cores this process may run on (its CPU affinity)
    and ``OMP_NUM_THREADS`` when set."""
    import numba  # here, not at the top: ``import fnn`` stays fast

    count = int(numba.config.NUMBA_NUM_THREADS)
    if hasattr(os, "sched_getaffinity"):
        count = min(count, len(os.sched_getaffinity(0)))
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) > 0:
        count = min(count, int(omp))
    return max(1, count)


def map_on_threads(function: Callable[[int], T], count: int, threads: int, name: str) -> list[T]:
    """``[function(0), ..., function(count - 1)]``, run on at most ``threads`` threads.

    One thread runs the calls here, in order. Otherwise the first exception in index order
    is raised once the calls already running have finished; calls not started are cancelled.
    """
    if threads <= 1 or count <= 1:
        return [function(index) for index in range(count)]
    with ThreadPoolExecutor(max_workers=min(threads, count), thread_name_prefix=name) as pool:
        futures = [pool.submit(function, index) for index in range(count)]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise

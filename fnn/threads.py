"""Independent calls of fnn's kernels on threads of this process (they release the GIL)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, as_completed, wait
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


def map_on_threads(
    function: Callable[[int], T],
    count: int,
    threads: int,
    name: str,
    on_done: Callable[[int], None] | None = None,
) -> list[T]:
    """``[function(0), ..., function(count - 1)]``, run on at most ``threads`` threads.

    One thread runs the calls here, in order. Otherwise, once a call fails, the calls not
    started are cancelled and, when the calls already running have finished, the first
    exception in index order is raised. ``on_done(index)``, when given, runs in the calling
    thread after each call that succeeded, in the order they finish (one place draws a
    progress display, never two threads at once).
    """
    if threads <= 1 or count <= 1:
        results = []
        for index in range(count):
            results.append(function(index))
            if on_done is not None:
                on_done(index)
        return results
    with ThreadPoolExecutor(max_workers=min(threads, count), thread_name_prefix=name) as pool:
        futures = [pool.submit(function, index) for index in range(count)]
        try:
            if on_done is None:
                wait(futures, return_when=FIRST_EXCEPTION)
            else:
                index_of = {future: index for index, future in enumerate(futures)}
                for future in as_completed(futures):
                    if future.exception() is not None:
                        break
                    on_done(index_of[future])
        finally:
            for future in futures:
                future.cancel()
    # Every call has finished or was cancelled (leaving the pool waits for the running ones).
    failed = [f for f in futures if not f.cancelled() and f.exception() is not None]
    if failed:
        raise failed[0].exception()
    return [future.result() for future in futures]

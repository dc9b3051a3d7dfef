"""Independent calls of fnn's kernels on threads of this process (they release the GIL)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def default_threads() -> int:
    """Numba's thread count: ``NUMBA_NUM_THREADS`` when set, else the cores this process may
    use."""
    import numba  # here, not at the top: ``import fnn`` stays fast

    return int(numba.config.NUMBA_NUM_THREADS)


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

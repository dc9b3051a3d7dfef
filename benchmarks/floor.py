"""The machine's floor: its large-matrix GEMM peak, and what a workload would take at that peak.

Usage (``run.py`` runs this in a fresh process of every run, with the runs' environment)::

    python benchmarks/floor.py              # the peaks as one JSON line
    python benchmarks/floor.py --n 256 --seconds 0.1   # a cheap check that it runs

The peak of a dtype on ``t`` threads is ``2 n³ / s``, ``s`` the best time of products
``A @ B`` of ``n × n`` matrices with NumPy's BLAS limited to ``t`` threads (threadpoolctl),
after one untimed product; ``t`` is 1 and every core this process may use. The products go
on for ``--seconds`` (at least ``--repeat`` of them): on a shared machine a longer run is more
likely to catch a moment when no other process holds a core.

A workload's floor is its multiply-adds at the peak of its dtype on all threads, two flops
each. Per trained sample and layer ``n_in × n_out``: ``n_in · n_out`` for the forward product,
as many for the weight gradient and as many for the error sent back to the layer below, which
the first layer has no need of. Everything else (bias, activations, loss, optimizer update) is
left out, so no system can reach the floor; a system's share of the peak is floor / its time.
"""

from __future__ import annotations

import argparse
import json
import os
import time

DTYPES = ("float32", "float64")


def multiply_adds(sizes, samples):
    """Multiply-adds of training a network of layer widths ``sizes`` on ``samples`` samples.

    ``samples`` is rows × epochs: every sample passes forward and back once per epoch.
    """
    pairs = list(zip(sizes[:-1], sizes[1:]))
    per_sample = sum(3 * n_in * n_out for n_in, n_out in pairs) - pairs[0][0] * pairs[0][1]
    return per_sample * samples


def gemm_flops(dtype, n, threads, repeat, seconds):
    """Flop/s of the best ``n × n`` product on ``threads`` BLAS threads, timed over at least
    ``repeat`` products and ``seconds`` seconds."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    A, B = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    out = np.empty((n, n), dtype)
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(A, B, out=out)
        times = []
        until = time.perf_counter() + seconds
        while len(times) < repeat or time.perf_counter() < until:
            started = time.perf_counter()
            np.matmul(A, B, out=out)
            times.append(time.perf_counter() - started)
    best = min(times)
    return 2 * n**3 / best


def peaks(n, repeat, seconds):
    """``{"n", "threads", "blas", "gflops": {dtype: {"1": ..., "all": ...}}}``."""
    from threadpoolctl import threadpool_info

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gflops = {
        dtype: {
            label: gemm_flops(dtype, n, threads, repeat, seconds) / 1e9
            for label, threads in (("1", 1), ("all", cores))
        }
        for dtype in DTYPES
    }
    blas = [
        f"{pool['internal_api']} {pool.get('version')} {pool.get('architecture')}"
        for pool in threadpool_info()
        if pool["user_api"] == "blas" and "numpy" in pool["filepath"]
    ]
    return {"n": n, "seconds": seconds, "threads": cores, "blas": blas, "gflops": gflops}


def floor_seconds(madds, gflops):
    """Seconds of ``madds`` multiply-adds at ``gflops`` GFLOP/s (two flops each)."""
    return 2 * madds / (gflops * 1e9)


def describe(peak):
    """One line: the peaks of both dtypes on 1 and all threads."""
    parts = [
        f"{dtype} {rates['1']:.0f} (1 thread) / {rates['all']:.0f} ({peak['threads']} threads)"
        for dtype, rates in peak["gflops"].items()
    ]
    blas = ", ".join(peak["blas"]) or "unknown BLAS"
    return f"GEMM peak, GFLOP/s, n = {peak['n']}, {blas}: " + "; ".join(parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2048, help="matrix size")
    parser.add_argument("--repeat", type=int, default=5, help="at least this many products")
    parser.add_argument("--seconds", type=float, default=1.0, help="per dtype and thread count")
    args = parser.parse_args(argv)
    print(json.dumps(peaks(args.n, args.repeat, args.seconds)))


if __name__ == "__main__":
    main()

"""The time a cache line takes to go from one core to another, sampled over a while.

Two threads pinned to two cores pass a counter back and forth through one cache line (atomic
loads and stores from Numba, no lock); a sample is the mean one-way time of ``--exchanges``
passes. On a virtual machine the host may run the two virtual cores on cores that share a
level-3 cache or on cores that do not, and move them while a run goes on: the samples then
fall into two groups (on this project's 2-core AMD EPYC: 30-53 ns, and 160-180 ns some of the
time). Every pass of a two-thread ``fit`` that reads what the other thread wrote (the
parameters updated in parts, the shards' gradients) slows down with it: a two-thread timing
taken while the cores are far apart is not the code's (benchmarks/README.md, "Two threads on
cores that move"). ``run.py`` takes a sample before and after each run (:func:`sample_here`).

    python benchmarks/core_to_core.py                    # 50 samples, 0.2 s apart
    python benchmarks/core_to_core.py --samples 300 --cores 0,1
    python benchmarks/core_to_core.py --smoke            # CI: 3 short samples, does it run?

Prints each sample in ns, then their count by group (below and above ``--far`` ns). Linux only
(thread affinity).
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: ns: samples at or above it count as cores far apart (this machine's groups: 30-53, 160-180).
FAR_NS = 100.0
#: Spins without seeing the other thread's pass before a sample gives up (NaN): the other
#: thread cannot run (one core) or has died.
PATIENCE = 1 << 31


def _slot_pointer(context, builder, array_type, array):
    """A pointer to ``array[0]`` of a 1-D int64 array."""
    values = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, values, [ir.IntType(64)(0)])


@intrinsic
def _load_acquire(typingctx, array):
    """``array[0]``, an atomic load with acquire ordering (never hoisted out of a loop)."""

    def codegen(context, builder, signature, args):
        pointer = _slot_pointer(context, builder, signature.args[0], args[0])
        return builder.load_atomic(pointer, ordering="acquire", align=8)

    return types.int64(array), codegen


@intrinsic
def _store_release(typingctx, array, value):
    """``array[0] = value``, an atomic store with release ordering."""

    def codegen(context, builder, signature, args):
        pointer = _slot_pointer(context, builder, signature.args[0], args[0])
        builder.store_atomic(args[1], pointer, ordering="release", align=8)
        return context.get_dummy_value()

    return types.none(array, types.int64), codegen


@njit(nogil=True)
def _pass_back(slot, exchanges, first):
    """Wait for each odd count from ``first`` and answer with the next even one."""
    for count in range(first, first + 2 * exchanges, 2):
        spins = 0
        while _load_acquire(slot) != count:
            spins += 1
            if spins > PATIENCE:
                return
        _store_release(slot, count + 1)


@njit(nogil=True)
def _pass_forth(slot, exchanges, first):
    """Write each odd count from ``first`` and wait for the answer; False if none came."""
    for count in range(first, first + 2 * exchanges, 2):
        _store_release(slot, count)
        spins = 0
        while _load_acquire(slot) != count + 1:
            spins += 1
            if spins > PATIENCE:
                return False
    return True


def sample(cores: tuple[int, int], exchanges: int) -> float:
    """One sample: the mean one-way time in ns of ``exchanges`` round trips between two
    threads pinned to ``cores`` (NaN when the other thread never answered)."""
    slot = np.zeros(8, np.int64)  # one 64-byte line: nothing else of this process shares it
    other = threading.Thread(target=_answer, args=(cores[1], slot, exchanges), daemon=True)
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cores[0]})  # this thread only (Linux)
    try:
        other.start()
        _pass_forth(slot, 1, 1)  # the other thread is up and pinned
        start = time.perf_counter()
        answered = _pass_forth(slot, exchanges, 3)
        seconds = time.perf_counter() - start
    finally:
        os.sched_setaffinity(0, old)
    other.join()
    return seconds / (2 * exchanges) * 1e9 if answered else float("nan")


def sample_here(exchanges: int = 20_000) -> float | None:
    """:func:`sample` between the first two CPUs this process may use, to 0.1 ns, or None where
    it cannot run (fewer than two CPUs, or no thread affinity)."""
    if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
        return None
    return round(sample(tuple(sorted(os.sched_getaffinity(0))[:2]), exchanges), 1)


def _answer(core, slot, exchanges):
    os.sched_setaffinity(0, {core})
    _pass_back(slot, 1, 1)
    _pass_back(slot, exchanges, 3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--every", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("--exchanges", type=int, default=100_000, help="round trips a sample")
    parser.add_argument("--cores", default=None, help="two CPU numbers (default: the first two)")
    parser.add_argument("--far", type=float, default=FAR_NS, help="ns: the groups' boundary")
    parser.add_argument("--smoke", action="store_true", help="3 samples of 1,000 round trips")
    args = parser.parse_args(argv)
    if args.smoke:
        args.samples, args.exchanges, args.every = 3, 1000, 0.0
    if not hasattr(os, "sched_setaffinity"):
        parser.error("needs thread affinity (os.sched_setaffinity): Linux only")
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2 and args.cores is None:
        print(f"one CPU allowed ({allowed}): nothing to measure")
        return
    cores = tuple(int(c) for c in args.cores.split(",")) if args.cores else tuple(allowed[:2])
    if len(cores) != 2 or len(set(cores)) != 2 or not set(cores) <= set(allowed):
        parser.error(f"--cores: two different CPUs of {allowed}, got {cores}")
    sample(cores, 1000)  # compile
    samples = []
    for _ in range(args.samples):
        samples.append(sample(cores, args.exchanges))
        print(f"{samples[-1]:.0f}", end=" ", flush=True)
        time.sleep(args.every)
    print()
    near = [s for s in samples if s < args.far]
    far = [s for s in samples if s >= args.far]
    for name, group in (("near", near), ("far", far)):
        middle = f", median {np.median(group):.0f} ns" if group else ""
        print(f"{name} (< {args.far:g} ns)" if name == "near" else f"{name}", end="")
        print(f": {len(group)} of {len(samples)}{middle}")


if __name__ == "__main__":
    main()

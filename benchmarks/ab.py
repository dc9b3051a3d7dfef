"""A/B: fnn at an earlier commit against the working tree: speed, or compile time.

Each measurement is a fresh process with ``PYTHONPATH`` pointing at one of the two ``fnn``
packages (the earlier one extracted with ``git archive``), alternating base and head so that
both see the same machine load, over several rounds; each row gives the best and the median
of each side, head / base of both, and the range of the 1-minute load average
(``/proc/loadavg``) seen during its measurements. Every time is the CPU time of the measured
process (``time.process_time``, every thread's): on a shared machine, other processes' load
disturbs it less than wall time, though a busy machine still slows a process's own work (its
caches are shared). It answers "did this change make fnn slower?" without the peers, which an
A/B does not need.

Speed (the default): ``run.py --worker fnn WORKLOAD EPOCHS --cpu-time``, the kernels loaded or
compiled by a one-epoch warm-up first. A tiny network's time varies by up to 1.5x from one
process to the next on the same tree (seen on both sides: where the process and its buffers
land), so keep several rounds and compare the bests.

Compile time (``--compile``): the CPU time of the first ``fit`` of a process whose Numba cache
is empty (``NUMBA_CACHE_DIR`` a new temporary folder), which compiles the engine for it: a small
network in float64 (``f64``) and in float32 (``f32``), and a float64 network whose batch is cut
into shards with ``threads=2`` (``threaded``: the engine's threaded variant, checked to be the
kernel that compiled). The fit itself takes milliseconds of the seconds measured.

    python benchmarks/ab.py --base a292b42
    python benchmarks/ab.py --base main --workloads moons-adam --epochs 2000
    python benchmarks/ab.py --base main --compile --rounds 5
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from run import run_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: Epochs per workload: long enough to dwarf process start-up, short enough for 8 rounds.
EPOCHS = {"moons-adam": 2000, "moons-gd": 2000, "small-tanh": 80, "mnist-shaped": 1}
#: The compile cases: (layer sizes, dtype, rows and batch, threads) of the first fit.
COMPILE_CASES = {
    "f64": ([2, 5, 2, 1], "float64", 64, 1),
    "f32": ([2, 5, 2, 1], "float32", 64, 1),
    "threaded": ([3, 256, 256, 1], "float64", 512, 2),
}


def extract(revision: str, into: str) -> None:
    """``fnn/`` as it was at ``revision``, written below ``into``."""
    archive = subprocess.run(
        ["git", "archive", revision, "fnn"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)


def load() -> float:
    """The machine's 1-minute load average now (nan where /proc/loadavg is missing)."""
    try:
        with open("/proc/loadavg") as loadavg:
            return float(loadavg.read().split()[0])
    except OSError:
        return float("nan")


def speed_seconds(tree: str, workload: str, epochs: int) -> float:
    """One fresh-process measurement of fnn from ``tree``: CPU seconds of the timed fit."""
    env = dict(os.environ, PYTHONPATH=tree)
    command = [sys.executable, str(HERE / "run.py"), "--worker", "fnn", workload, str(epochs)]
    record, _ = run_json(command + ["--cpu-time"], HERE / "peers", env, timeout=1800)
    if "error" in record:
        raise SystemExit(f"{workload} with fnn from {tree}: {record['error']}")
    return record["seconds"]


def compile_seconds(tree: str, case: str) -> float:
    """One fresh process with an empty Numba cache: CPU seconds of its first ``fit``."""
    with tempfile.TemporaryDirectory(prefix="ab-numba-cache-") as cache:
        env = dict(os.environ, PYTHONPATH=tree, NUMBA_CACHE_DIR=cache)
        command = [sys.executable, str(Path(__file__).resolve()), "--compile-worker", case]
        record, _ = run_json(command, HERE, env, timeout=1800)
    if "error" in record:
        raise SystemExit(f"compile {case} with fnn from {tree}: {record['error']}")
    return record["seconds"]


def compile_worker(case: str) -> None:
    """In this process (an empty cache): time the first fit of ``case``; print one JSON line."""
    import time

    import numpy as np

    import fnn
    from fnn import kernels

    sizes, dtype, rows, threads = COMPILE_CASES[case]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, sizes[0]))
    y = (X[:, 0] > 0).astype(np.int64)
    net = fnn.mlp(sizes)
    params = fnn.init(net, key=0, dtype=np.dtype(dtype))
    started = time.process_time()
    fnn.fit(net, params, fnn.adam(0.01), X, y, epochs=1, batch_size=rows, threads=threads)
    seconds = time.process_time() - started
    # The threaded variant, under its name before and after the kernels were renamed.
    threaded = getattr(kernels, "train_and_evaluate_threaded", None)
    threaded = threaded if threaded is not None else kernels.run_threaded
    if (len(threaded.signatures) > 0) != (threads > 1):
        raise SystemExit(f"{case}: the threaded variant compiled {len(threaded.signatures)}x")
    print(json.dumps({"case": case, "seconds": seconds}))


def compare(name: str, measure, trees: dict, rounds: int) -> None:
    """``rounds`` alternating measurements of each tree; one row of the table."""
    times = {side: [] for side in trees}
    loads = [load()]
    for _ in range(rounds):
        for side, tree in trees.items():
            times[side].append(measure(tree))
            loads.append(load())
    best = {side: min(values) for side, values in times.items()}
    median = {side: statistics.median(values) for side, values in times.items()}
    print(
        f"{name:14} {best['base']:9.4f} {median['base']:9.4f} {best['head']:9.4f} "
        f"{median['head']:9.4f} {best['head'] / best['base']:7.3f} "
        f"{median['head'] / median['base']:7.3f}   {min(loads):.2f}-{max(loads):.2f}",
        flush=True,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the earlier commit (any git revision)")
    parser.add_argument("--rounds", type=int, help="default: 8 for speed, 4 for --compile")
    parser.add_argument("--workloads", default=",".join(EPOCHS))
    parser.add_argument("--epochs", type=int, help="override every workload's epochs")
    parser.add_argument("--compile", action="store_true", help="compile time, not speed")
    parser.add_argument("--cases", default=",".join(COMPILE_CASES), help="of --compile")
    parser.add_argument("--compile-worker", metavar="CASE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.compile_worker:
        compile_worker(args.compile_worker)
        return
    if args.base is None:
        parser.error("--base is required")
    rounds = args.rounds or (4 if args.compile else 8)
    with tempfile.TemporaryDirectory() as base:
        extract(args.base, base)
        trees = {"base": base, "head": str(ROOT)}
        what = "compile: CPU s of the first fit" if args.compile else "speed: CPU s"
        print(f"{what}; {rounds} alternating rounds; base = {args.base}, head = the working tree")
        print(f"{'':14} {'base best':>9} {'median':>9} {'head best':>9} {'median':>9} "
              f"{'h/b best':>7} {'median':>7}   load")  # fmt: skip
        if args.compile:
            for case in args.cases.split(","):
                compare(case, functools.partial(compile_seconds, case=case), trees, rounds)
            return
        for workload in args.workloads.split(","):
            epochs = args.epochs or EPOCHS[workload]
            measure = functools.partial(speed_seconds, workload=workload, epochs=epochs)
            compare(workload, measure, trees, rounds)


if __name__ == "__main__":
    main()

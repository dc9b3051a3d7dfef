"""The sweep workloads, several ways each, in one run: a grid of settings x 5 folds.

``digits`` (the default): 3 learning rates x 3 l2 x 5 folds of scikit-learn's digits (pixels /
16, 5 stratified folds), 64-64-10 relu/softmax networks, Adam, batches of 32, 100 epochs per
trial (45 fits), validated on each fold, run as

* a plain loop: ``fnn.fit`` trial after trial in this process (the baseline);
* ``fnn.sweep(..., executor=client)`` on a Dask ``LocalCluster`` of 2 worker processes with
  1 thread each (started before the timer: a cluster outlives one sweep);
* ``fnn.sweep(..., executor="joblib", workers=2)`` (joblib's process pool, started inside the
  timed call, as a user would call it);
* ``fnn.sweep(..., executor="threads", workers=2)``.

``tiny``: moons-adam's network (2-5-2-1 relu/sigmoid) on 300 moons (noise 0.2), Adam, batches
of 64, 3 learning rates x 3 l2 x 5 folds, up to 500 epochs with early stopping (patience 20 on
the validation loss), run as a plain loop, ``executor="members"`` (every trial side by side in
one kernel, 2 threads) and ``executor="threads"`` (2).

Reported as wall-time ratios to the plain loop (targets: Dask <= 0.6 for digits, members <= 0.1
for tiny), with the CPU time of this process (and of the Dask workers) and the machine's load
average, since the machine may be shared: a ratio means little when the loop got much less than
a core. Every sweep's results are checked bit for bit against the loop's. Kernels are compiled
(or loaded) before any timer starts; the ways run in ABBA order over the repeats (best of N
kept), so a drift in the load of a shared machine hits them alike.

    python benchmarks/sweep.py [--workload digits|tiny] [--epochs N] [--repeat N] [--json PATH]

Needs ``pip install -e ".[examples,dask,joblib]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

import fnn

LEARNING_RATES = {"digits": [3e-4, 1e-3, 3e-3], "tiny": [3e-3, 1e-2, 3e-2]}
L2 = {"digits": [0.0, 0.1, 1.0], "tiny": [0.0, 0.01, 0.1]}
FOLDS = 5
EPOCHS = {"digits": 100, "tiny": 500}
TARGETS = {"digits": ("Dask LocalCluster(2 workers)", 0.6), "tiny": ("members (2 threads)", 0.1)}
DESCRIPTIONS = {
    "digits": "digits, 64-64-10 relu/softmax, Adam, batch 32",
    "tiny": "300 moons, 2-5-2-1 relu/sigmoid, Adam, batch 64, early stopping (patience 20)",
}


def workload(name: str, epochs: int):
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        X, y = digits.data / 16.0, digits.target
        net = fnn.mlp([64, 64, 10], hidden="relu", output="softmax")
        stop, batch = None, 32
    else:
        from sklearn.datasets import make_moons

        X, y = make_moons(300, noise=0.2, random_state=0)
        net = fnn.mlp([2, 5, 2, 1], hidden="relu")
        stop, batch = fnn.early_stopping(patience=20), 64
    options = dict(folds=fnn.kfold(0, len(X), FOLDS, stratify=y), epochs=epochs,
                   batch_size=batch, early_stopping=stop)  # fmt: skip
    return net, X, y, {"learning_rate": LEARNING_RATES[name], "l2": L2[name]}, options


def plain_loop(net, X, y, grid, options):
    """What a user writes without fnn.sweep: one fit after another."""
    results = []
    for rate in grid["learning_rate"]:
        for l2 in grid["l2"]:
            for train, val in options["folds"]:
                result = fnn.fit(net, fnn.init(net, key=0), fnn.adam(rate), X[train], y[train],
                                 epochs=options["epochs"], batch_size=options["batch_size"],
                                 key=0, l2=l2, validation=(X[val], y[val]),
                                 early_stopping=options["early_stopping"])  # fmt: skip
                results.append(result)
    return results


def identical(sweep_results, loop_results) -> bool:
    return all(
        np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)
        and np.array_equal(trial.history.val_loss, fit.history.val_loss)
        for trial, fit in zip(sweep_results, loop_results, strict=True)
        for a, b in zip(trial.params.layers, fit.params.layers)
    )  # fmt: skip


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    value = function()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=list(EPOCHS), default="digits")
    parser.add_argument("--epochs", type=int, default=None, help="default: 100 digits, 500 tiny")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs of each way")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    epochs = EPOCHS[args.workload] if args.epochs is None else args.epochs
    net, X, y, grid, options = workload(args.workload, epochs)
    load_before = os.getloadavg()
    # Compile or load the kernels before any timer (the sweeps also warm up by themselves).
    fnn.fit(net, fnn.init(net), fnn.adam(), X[:64], y[:64], epochs=1, validation=(X[:8], y[:8]))
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                     dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        ways = {
            "plain loop of fit": lambda: plain_loop(net, X, y, grid, options),
            "Dask LocalCluster(2 workers)": lambda: fnn.sweep(
                net, fnn.adam(), X, y, grid, executor=client, **options),
            "joblib (2 processes)": lambda: fnn.sweep(
                net, fnn.adam(), X, y, grid, executor="joblib", workers=2, **options),
            "threads (2)": lambda: fnn.sweep(
                net, fnn.adam(), X, y, grid, executor="threads", workers=2, **options),
        }  # fmt: skip
        if args.workload == "tiny":  # side by side; the process pools cannot compete here
            del ways["Dask LocalCluster(2 workers)"], ways["joblib (2 processes)"]
            ways["members (2 threads)"] = lambda: fnn.sweep(
                net, fnn.adam(), X, y, grid, executor="members", workers=2, **options
            )
            fnn.sweep(net, fnn.adam(), X, y, grid, executor="members", **options)  # compiles
        figures, same_bits = {}, {}
        for repeat in range(args.repeat):
            # ABBA order: a drift in the machine's load hits every way alike.
            order = list(ways.items()) if repeat % 2 == 0 else list(ways.items())[::-1]
            for name, run in order:
                before = sum(client.run(time.process_time).values())
                results, wall, cpu = timed(run)
                worker_cpu = sum(client.run(time.process_time).values()) - before
                best = figures.get(name)
                if best is None or wall < best["wall"]:
                    figures[name] = {"wall": wall, "cpu_this_process": cpu}
                    if name.startswith("Dask"):
                        figures[name]["cpu_dask_workers"] = worker_cpu
                if name == "plain loop of fit":  # first in the first round
                    loop_results = results
                else:
                    same = identical(results, loop_results)
                    same_bits[name] = same_bits.get(name, True) and same
    for name, same in same_bits.items():
        figures[name]["identical"] = same
    load_after = os.getloadavg()
    baseline = figures["plain loop of fit"]["wall"]
    trials = len(grid["learning_rate"]) * len(grid["l2"]) * FOLDS
    print(f"sweep {args.workload}: {trials} trials (3 learning rates x 3 l2 x {FOLDS} folds), "
          f"{DESCRIPTIONS[args.workload]}, {epochs} epochs; best of {args.repeat}")  # fmt: skip
    print(f"{platform.node()}: {os.cpu_count()} cores, load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (1 min)")  # fmt: skip
    print(f"{'way':<30} {'wall s':>8} {'/ loop':>7} {'CPU s here':>11} {'+ workers':>10}  "
          "identical to the loop")  # fmt: skip
    for name, figure in figures.items():
        ratio = figure["wall"] / baseline
        figure["ratio_to_loop"] = ratio
        same = {True: "yes", False: "NO"}.get(figure.get("identical"), "-")
        workers = figure.get("cpu_dask_workers")
        workers = "" if workers is None else f"{workers:.2f}"
        print(f"{name:<30} {figure['wall']:>8.2f} {ratio:>7.2f} "
              f"{figure['cpu_this_process']:>11.2f} {workers:>10}  {same}")  # fmt: skip
    way, target = TARGETS[args.workload]
    ratio = figures[way]["ratio_to_loop"]
    print(f"target {way} / plain loop <= {target}: {ratio:.2f}, "
          f"{'met' if ratio <= target else 'missed'}")  # fmt: skip
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"workload": args.workload, "epochs": epochs, "repeat": args.repeat,
                       "load": [load_before,
                       load_after], "figures": figures}, file, indent=2)  # fmt: skip
    return 0 if all(f.get("identical", True) for f in figures.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

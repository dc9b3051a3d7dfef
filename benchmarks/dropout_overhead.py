"""What dropout costs ``fit``: the same run with and without it, interleaved in one process.

For each workload (the moons workloads of the benchmark table, and a wider network), this
times ``fnn.fit`` on the same data, parameters, optimizer and key, once with
``fnn.mlp(sizes, dropout=RATE)`` and once without, alternating, and reports the best of
``--repeat`` CPU times (``time.process_time``: a shared machine's waiting does not count)
and their ratio. The kernels are compiled (or loaded from the cache) by a warm-up first.

Run: ``python benchmarks/dropout_overhead.py [--rate 0.2] [--repeat 9]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import fnn

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
from workloads import moons_adam_data, moons_gd_data  # noqa: E402


def workloads():
    """``name -> (sizes, X, y, optimizer, batch_size, epochs)``."""
    X_adam, y_adam = moons_adam_data()
    X_gd, _, y_gd, _ = moons_gd_data()
    return {
        "moons-adam 2-5-2-1, batch 64": ((2, 5, 2, 1), X_adam, y_adam, fnn.adam(7e-4), 64, 2000),
        "moons-gd 2-25-50-50-25-1, full batch": (
            (2, 25, 50, 50, 25, 1), X_gd, y_gd, fnn.sgd(0.01), None, 300,
        ),
        "wide 2-256-256-1, adam, batch 64": ((2, 256, 256, 1), X_gd, y_gd, fnn.adam(1e-3), 64, 15),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0.2, help="dropout of every hidden layer")
    parser.add_argument("--repeat", type=int, default=9, help="timings of each, best kept")
    args = parser.parse_args()
    for name, (sizes, X, y, opt, batch, epochs) in workloads().items():
        nets = {"off": fnn.mlp(sizes), "on": fnn.mlp(sizes, dropout=args.rate)}
        params = fnn.init(nets["off"], key=0)
        best = dict.fromkeys(nets, np.inf)
        for round_ in range(args.repeat + 1):  # round 0 warms up (compilation, caches)
            for kind, net in nets.items():
                started = time.process_time()
                fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=batch, key=0)
                if round_ > 0:
                    best[kind] = min(best[kind], time.process_time() - started)
        print(
            f"{name:38s} without {best['off']:.4f} s  with dropout {args.rate} "
            f"{best['on']:.4f} s  ratio {best['on'] / best['off']:.2f}"
        )


if __name__ == "__main__":
    main()

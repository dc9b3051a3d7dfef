"""What ``fit(progress=True)`` costs: wall and CPU time with the progress display off and on.

Runs alternate off/on (ABBA order) so drifting machine load hits both sides alike; CPU time
is the steadier figure on a shared machine.

    python benchmarks/progress_overhead.py [moons-adam|moons-gd] [EPOCHS] [REPEATS]
"""

import sys
import time

import numpy as np
from sklearn.datasets import make_moons

import fnn


def workload(name):
    if name == "moons-adam":  # 2-5-2-1, Adam 0.0007, batch 64, 300 moons
        X, y = make_moons(300, noise=0.2, random_state=3)
        net = fnn.mlp([2, 5, 2, 1])
        return net, fnn.init(net, key=0, scheme="he"), fnn.adam(0.0007), X, y, 64
    X, y = make_moons(1000, noise=0.2, random_state=100)  # moons-gd: 2-25-50-50-25-1, full batch
    net = fnn.mlp([2, 25, 50, 50, 25, 1])
    return net, fnn.init(net, key=2, scheme="scaled"), fnn.sgd(0.01), X[:900], y[:900], None


def main(argv):
    name = argv[0] if argv else "moons-adam"
    epochs = int(argv[1]) if len(argv) > 1 else 10_000
    repeats = int(argv[2]) if len(argv) > 2 else 5
    net, params, opt, X, y, batch = workload(name)
    for progress in (False, True):  # compile, and import tqdm, before timing
        fnn.fit(net, params, opt, X, y, epochs=3, batch_size=batch, progress=progress)
    times = {(kind, progress): [] for kind in ("wall", "cpu") for progress in (False, True)}
    for repeat in range(repeats):
        for progress in (False, True) if repeat % 2 == 0 else (True, False):
            wall, cpu = time.perf_counter(), time.process_time()
            fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=batch, progress=progress)
            times["wall", progress].append(time.perf_counter() - wall)
            times["cpu", progress].append(time.process_time() - cpu)
    for kind in ("wall", "cpu"):
        off, on = np.median(times[kind, False]), np.median(times[kind, True])
        print(f"{name} {epochs} epochs, {kind} time median of {repeats}: off {off:.3f} s, "
              f"on {on:.3f} s, overhead {100 * (on / off - 1):+.1f} %")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])

"""Where members side by side pay, and how many members a group should hold (issue 26).

``fit_many`` of ``--members`` members of ``[8, h, h, 1]`` (``--activation``, bce, Adam at
1e-3 to 4e-3, batches of 32, ``--epochs`` epochs of 480 standard-normal rows labelled by a
random tanh teacher, float64, 2 threads), best of ``--repeat``:

* by default, side by side against one ``fit`` per member on the threads (``fit_many``'s
  other path), for each h of ``--hidden``; ``--watched`` adds validation and early stopping
  (patience 1000: every epoch watched, none stopped), ``--plateau`` a plateau watch (patience
  5), which a fit runs in Python between its engine calls;
* with ``--groups N,M,...``, side by side in groups of at most N, M, ... members
  (``side_by_side.GROUP_MEMBERS``, with no byte budget).

``fit_many``'s choice of path (``engine.members_side_by_side``, ``side_by_side.pays``) is
patched to take the path measured. Past the engine's loop limit (h >= 16 here) side by side
then runs anyway: those times are meaningful, the members' bits are not their fits'.

    python benchmarks/side_by_side.py [--hidden 4,8,12,15] [--activation tanh|relu]
                                      [--watched] [--plateau] [--members 44] [--epochs 60]
                                      [--repeat 3]
    python benchmarks/side_by_side.py --groups 16,32,64 --hidden 15,32 --members 64
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np

import fnn
from fnn import engine, side_by_side


def best_of(repeat: int, train) -> float:
    train()  # compile or load the kernels
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        train()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", default="4,8,12,15")
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--watched", action="store_true")
    parser.add_argument("--plateau", action="store_true")
    parser.add_argument("--members", type=int, default=44)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--groups", default=None, help="members per group to compare")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.normal(size=(480, 8))
    y = (np.tanh(X @ rng.normal(size=8)) > 0).astype(int)
    extra = {}
    if args.watched:
        extra = dict(validation=(X[:96], y[:96]), early_stopping=fnn.early_stopping(patience=1000))
    if args.plateau:
        extra.update(
            validation=(X[:96], y[:96]), reduce_on_plateau=fnn.reduce_on_plateau(patience=1000)
        )
    can_run, pays = engine.members_side_by_side, side_by_side.pays
    for h in (int(value) for value in args.hidden.split(",")):
        net = fnn.mlp([8, h, h, 1], hidden=args.activation)
        starts = [fnn.init(net, key=k) for k in range(args.members)]
        opts = [fnn.adam(1e-3 * (1 + k % 4)) for k in range(args.members)]

        train = functools.partial(
            fnn.fit_many, net, starts, opts, X, y, epochs=args.epochs, batch_size=32,
            keys=range(args.members), threads=2, **extra,
        )  # fmt: skip
        largest = max(32 * n_in * n_out for n_in, n_out in zip(net.sizes, net.sizes[1:]))
        loops = can_run(net.sizes, 32)
        try:
            engine.members_side_by_side = lambda sizes, batch: True
            side_by_side.pays = lambda *_: True
            if args.groups:
                side_by_side.GROUP_BYTES = 1 << 40
                for most in (int(value) for value in args.groups.split(",")):
                    side_by_side.GROUP_MEMBERS = (8, most)
                    formed = [
                        len(g) for g in side_by_side._groups(args.members, 2, 32, net.sizes, 8)
                    ]
                    print(f"h={h}, {args.members} members, groups {formed}: "
                          f"{best_of(args.repeat, train):.3f} s", flush=True)  # fmt: skip
                continue
            side = best_of(args.repeat, train)
            side_by_side.pays = lambda *_: False
            fits = best_of(args.repeat, train)
        finally:
            engine.members_side_by_side, side_by_side.pays = can_run, pays
        print(f"h={h} (largest product {largest} multiply-adds, engine loops: {loops}): side by "
              f"side {side:.3f} s, a fit per member {fits:.3f} s, ratio {side / fits:.2f}",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

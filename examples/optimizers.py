"""Seed 004: mini-batch gradient descent vs momentum vs Adam on 300 moons.

The seed's 2-5-2-1 relu/sigmoid network with He init, ``make_moons(300, noise=0.2)`` (the
seed's ``np.random.seed(3)`` is ``random_state=3``), batches of 64, learning rate 0.0007,
10,000 epochs. The seed reports about 0.80 train accuracy for plain mini-batch GD and for
momentum, and 0.94 for Adam. So narrow a network depends on its initial draw: over init keys
0-9, Adam ends between 0.88 and 0.95 (key 5 starts with dead relus and stays at 0.5).

    python examples/optimizers.py [--fast] [--epochs N] [--out DIR]

Exits with status 1 if a full-length run leaves Adam below 0.94.
"""

import argparse
import sys
import time

from sklearn.datasets import make_moons

import fnn

FULL_EPOCHS = 10_000
ADAM_TARGET = 0.94


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=FULL_EPOCHS)
    parser.add_argument("--fast", action="store_true", help="1,000 epochs, no accuracy check")
    parser.add_argument("--out", default=None, help="folder for the figure (needs fnn[plot])")
    args = parser.parse_args(argv)
    epochs = 1_000 if args.fast else args.epochs

    X, y = make_moons(n_samples=300, noise=0.2, random_state=3)
    net = fnn.mlp([2, 5, 2, 1], hidden="relu", output="sigmoid")
    params = fnn.init(net, key=0, scheme="he")
    optimizers = {
        "mini-batch GD": fnn.sgd(0.0007),
        "momentum": fnn.momentum(0.0007, beta=0.9),
        "adam": fnn.adam(0.0007, b1=0.9, b2=0.999, eps=1e-8),
    }
    histories, scores = {}, {}
    for name, opt in optimizers.items():
        started = time.perf_counter()
        result = fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=64, key=10)
        seconds = time.perf_counter() - started
        histories[name] = result.history
        scores[name] = fnn.accuracy(net, result.params, X, y)
        print(f"{name:14s} train accuracy {scores[name]:.4f}  "
              f"final loss {result.history.loss[-1]:.4f}  ({seconds:.2f} s)")  # fmt: skip
    if args.out:
        from pathlib import Path

        from fnn import plot

        Path(args.out).mkdir(parents=True, exist_ok=True)
        plot.histories(
            histories,
            path=f"{args.out}/optimizers_loss.png",
            title="seed 004: training loss per epoch (batches of 64, lr 0.0007)",
        )
        print(f"figure written to {args.out}/")
    full_length = not args.fast and epochs >= FULL_EPOCHS
    return 1 if full_length and scores["adam"] < ADAM_TARGET else 0


if __name__ == "__main__":
    sys.exit(main())

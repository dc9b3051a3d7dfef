"""Seed 003: two moons with the seed's architecture list, full-batch gradient descent.

1,000 points of ``make_moons(noise=0.2, random_state=100)``, 10 % held out for testing;
the seed's 2-25-50-50-25-1 relu/sigmoid network, "scaled" init N(0, 0.1^2), learning rate
0.01, 10,000 epochs. Seed 003 reports 95 % test accuracy (and Keras about the same).

    python examples/moons.py [--fast] [--epochs N] [--out DIR] [--progress]

Exits with status 1 if a full-length run scores below 0.95 on the test set.
"""

import argparse
import sys
import time

from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

import fnn

NN_ARCHITECTURE = [
    {"input_dim": 2, "output_dim": 25, "activation": "relu"},
    {"input_dim": 25, "output_dim": 50, "activation": "relu"},
    {"input_dim": 50, "output_dim": 50, "activation": "relu"},
    {"input_dim": 50, "output_dim": 25, "activation": "relu"},
    {"input_dim": 25, "output_dim": 1, "activation": "sigmoid"},
]
FULL_EPOCHS = 10_000
TARGET = 0.95


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=FULL_EPOCHS)
    parser.add_argument("--fast", action="store_true", help="1,000 epochs, no accuracy check")
    parser.add_argument("--out", default=None, help="folder for the figures (needs fnn[plot])")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    args = parser.parse_args(argv)
    epochs = 1_000 if args.fast else args.epochs

    X, y = make_moons(n_samples=1000, noise=0.2, random_state=100)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.1, random_state=42)

    net = fnn.from_architecture(NN_ARCHITECTURE)
    params = fnn.init(net, key=2, scheme="scaled")
    started = time.perf_counter()
    result = fnn.fit(
        net, params, fnn.sgd(0.01), X_train, y_train, epochs=epochs, progress=args.progress
    )
    seconds = time.perf_counter() - started

    test_accuracy = fnn.accuracy(net, result.params, X_test, y_test)
    print(f"epochs {epochs}  train loss {result.history.loss[-1]:.4f}  "
          f"train accuracy {result.history.accuracy[-1]:.4f}  ({seconds:.2f} s)")  # fmt: skip
    print(f"test accuracy {test_accuracy:.4f}")
    if args.out:
        from pathlib import Path

        from fnn import plot

        Path(args.out).mkdir(parents=True, exist_ok=True)
        plot.decision_boundary(
            net, result.params, X_test, y_test, path=f"{args.out}/moons_boundary.png"
        )
        plot.history(result.history, path=f"{args.out}/moons_history.png")
        print(f"figures written to {args.out}/")
    full_length = not args.fast and epochs >= FULL_EPOCHS
    return 1 if full_length and test_accuracy < TARGET else 0


if __name__ == "__main__":
    sys.exit(main())

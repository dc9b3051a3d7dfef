"""Two moons: a 2-25-50-50-25-1 network from a list of layer dicts, full-batch gradient descent.

1,000 points of ``make_moons(noise=0.2, random_state=100)``, 10 % held out for testing; the
2-25-50-50-25-1 relu/sigmoid network built by ``fnn.from_architecture``, "scaled" init
N(0, 0.1^2), learning rate 0.01, 10,000 epochs.
``--fast`` takes 1,000 epochs at learning rate 0.1 instead: ten times fewer, ten times larger
steps, which learn the moons as well (at 0.01, 1,000 epochs stay at chance).

    python examples/moons.py [--fast] [--out DIR] [--progress]

Writes ``moons_boundary.png`` and ``moons_history.png`` to ``--out``. Exits with status 1 if
a full-length run scores below 0.95 on the test set.
"""

import sys
import time

from _cli import epochs_and_rate, figure_path, parse
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
EPOCHS, LEARNING_RATE = 10_000, 0.01
FAST_EPOCHS, FAST_LEARNING_RATE = 1_000, 0.1
TARGET = 0.95


def main(argv=None) -> int:
    args = parse(
        __doc__, argv, fast=f"{FAST_EPOCHS:,} epochs at learning rate {FAST_LEARNING_RATE}"
    )
    epochs, learning_rate = epochs_and_rate(
        args.fast, (EPOCHS, LEARNING_RATE), (FAST_EPOCHS, FAST_LEARNING_RATE)
    )

    X, y = make_moons(n_samples=1000, noise=0.2, random_state=100)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.1, random_state=42)

    net = fnn.from_architecture(NN_ARCHITECTURE)
    params = fnn.init(net, key=2, scheme="scaled")
    started = time.perf_counter()
    result = fnn.fit(
        net, params, fnn.sgd(learning_rate), X_train, y_train, epochs=epochs,
        progress=args.progress,
    )  # fmt: skip
    seconds = time.perf_counter() - started

    test_accuracy = fnn.accuracy(net, result.params, X_test, y_test)
    print(f"epochs {epochs}  train loss {result.history.loss[-1]:.4f}  "
          f"train accuracy {result.history.accuracy[-1]:.4f}  ({seconds:.2f} s)")  # fmt: skip
    print(f"test accuracy {test_accuracy:.4f}")
    if args.out:
        from fnn import plot

        plot.decision_boundary(
            net, result.params, X_test, y_test, path=figure_path(args.out, "moons_boundary.png")
        )
        plot.history(result.history, path=figure_path(args.out, "moons_history.png"))
        print(f"figures written to {args.out}/")
    return 1 if not args.fast and test_accuracy < TARGET else 0


if __name__ == "__main__":
    sys.exit(main())

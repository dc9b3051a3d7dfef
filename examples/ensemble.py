"""A 2-5-2-1 network 64 times: an ensemble trained at once with ``fnn.fit_many``.

``optimizers.py``'s data and network: 300 points of ``make_moons(noise=0.2)``, a 2-5-2-1
relu/sigmoid network with He init, Adam at learning rate 0.0007, batch 64, 10,000 epochs;
member ``k`` starts from init key ``k`` and shuffles with key ``k`` (k = 0..63), on every
core. Prints the spread of the members' training accuracies and the accuracy of the ensemble
(the mean of the members' probabilities), on the training points and on 1,000 fresh points
of the same distribution. ``--fast`` takes 1,000 epochs at learning rate 0.007.

    python examples/ensemble.py [--fast] [--out DIR] [--threads N]

Writes ``ensemble_boundary.png`` to ``--out``: the ensemble's P(y = 1) with its 0.5 line,
and the members' disagreement (the standard deviation of their probabilities). Exits with
status 1 if a full-length ensemble scores below 0.94 on the training points (the target
``optimizers.py`` sets for one network trained with Adam).
"""

import sys
import time

import numpy as np
from _cli import epochs_and_rate, figure_path, parse
from sklearn.datasets import make_moons

import fnn

MEMBERS = 64
EPOCHS, LEARNING_RATE = 10_000, 0.0007
FAST_EPOCHS, FAST_LEARNING_RATE = 1_000, 0.007
BATCH = 64
TARGET = 0.94


def main(argv=None) -> int:
    args = parse(
        __doc__,
        argv,
        fast=f"{FAST_EPOCHS:,} epochs at learning rate {FAST_LEARNING_RATE}",
        trains_with_fit=False,
        more=lambda parser: parser.add_argument(
            "--threads", type=int, help="members trained at once (default: every core)"
        ),
    )
    epochs, learning_rate = epochs_and_rate(
        args.fast, (EPOCHS, LEARNING_RATE), (FAST_EPOCHS, FAST_LEARNING_RATE)
    )
    X, y = make_moons(n_samples=300, noise=0.2, random_state=np.random.RandomState(3))
    X_new, y_new = make_moons(n_samples=1000, noise=0.2, random_state=np.random.RandomState(4))

    net = fnn.mlp([2, 5, 2, 1], hidden="relu", output="sigmoid")
    starts = [fnn.init(net, key=k, scheme="he") for k in range(MEMBERS)]
    started = time.perf_counter()
    results = fnn.fit_many(
        net, starts, fnn.adam(learning_rate), X, y, epochs=epochs, batch_size=BATCH,
        keys=range(MEMBERS), threads=args.threads,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    members = [result.params for result in results]

    accuracies = np.array([fnn.accuracy(net, params, X, y) for params in members])
    low, median, high = np.percentile(accuracies, [0, 50, 100])
    print(f"{MEMBERS} members, {epochs:,} epochs each: {seconds:.2f} s")
    print(f"member train accuracy: min {low:.3f}  median {median:.3f}  max {high:.3f}  "
          f"(mean {accuracies.mean():.3f} ± {accuracies.std():.3f})")  # fmt: skip
    mean, _ = fnn.ensemble_proba(net, members, X)
    ensemble = float(np.mean((mean[:, 0] > 0.5) == y))
    mean_new, std_new = fnn.ensemble_proba(net, members, X_new)
    print(f"ensemble train accuracy {ensemble:.3f}")
    print(f"on 1,000 new points: ensemble accuracy {np.mean((mean_new[:, 0] > 0.5) == y_new):.3f}, "
          f"median member {np.median([fnn.accuracy(net, p, X_new, y_new) for p in members]):.3f}, "
          f"mean spread of the members' P(y = 1) {std_new.mean():.3f}")  # fmt: skip
    if args.out:
        draw(net, members, X, y, figure_path(args.out, "ensemble_boundary.png"))
        print(f"figure written to {args.out}/")
    return 1 if not args.fast and ensemble < TARGET else 0


def draw(net, members, X, y, path):
    """The ensemble's P(y = 1) with its 0.5 line, and the members' standard deviation."""
    from matplotlib.figure import Figure

    low, high = X.min(axis=0) - 0.3, X.max(axis=0) + 0.3
    XX, YY = np.meshgrid(np.linspace(low[0], high[0], 200), np.linspace(low[1], high[1], 200))
    mean, std = fnn.ensemble_proba(net, members, np.column_stack([XX.ravel(), YY.ravel()]))
    figure = Figure(figsize=(13, 5.5), layout="constrained")
    for ax, values, title, cmap in zip(
        figure.subplots(1, 2),
        (mean, std),
        ("ensemble P(y = 1), 0.5 in black", "members' standard deviation of P(y = 1)"),
        ("RdBu_r", "magma"),
    ):
        filled = ax.contourf(XX, YY, values[:, 0].reshape(XX.shape), levels=20, cmap=cmap)
        ax.contour(XX, YY, mean[:, 0].reshape(XX.shape), levels=[0.5], colors="black")
        for label, marker, face in ((0, "o", "white"), (1, "^", "black")):
            mine = y == label
            ax.scatter(
                *X[mine].T, marker=marker, c=face, edgecolors="grey", s=16, label=f"y = {label}"
            )
        ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$")
        figure.colorbar(filled, ax=ax)
    ax.legend(loc="lower left")
    figure.suptitle(f"{len(members)} members of a 2-5-2-1 network trained with Adam")
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())

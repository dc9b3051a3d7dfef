"""Learning rate x l2 on handwritten digits, 5-fold cross-validated, on threads, joblib or Dask.

scikit-learn's 8x8 digit images (1,797 of them, shipped with it, no download), pixels scaled
to [0, 1], split into 5 stratified folds. Every (learning rate, l2) setting trains a
64-64-10 relu/softmax network (Glorot init, key 0) with Adam, batches of 32, for 100 epochs
on each fold's training rows and is scored on the fold's other rows: 3 x 3 x 5 = 45 fits,
run by ``fnn.sweep`` on the chosen executor (``dask``: a local cluster of 2 worker
processes, started and closed here). Prints the mean ± sd validation accuracy of every
setting, the best setting and the best single trial.

    python examples/sweep.py [--fast] [--out DIR] [--executor threads|joblib|dask]

``--fast`` runs the same 45 trials for 5 epochs each (a smoke test: its accuracies are not
the full run's). ``--out`` writes the heat map ``sweep_accuracy.png`` (needs fnn[plot]).
Exits with status 1 if a full-length run's best setting scores below 0.96.
"""

import sys
import time

from _cli import figure_path, parse
from sklearn.datasets import load_digits

import fnn

LEARNING_RATES = [3e-4, 1e-3, 3e-3]
L2 = [0.0, 0.1, 1.0]
FOLDS = 5
FULL_EPOCHS = 100
FAST_EPOCHS = 5
TARGET = 0.96


def main(argv=None) -> int:
    args = parse(__doc__, argv, fast=f"{FAST_EPOCHS} epochs per trial, no accuracy check",
                 trains_with_fit=False, more=executor_option)  # fmt: skip
    epochs = FAST_EPOCHS if args.fast else FULL_EPOCHS

    digits = load_digits()
    X, y = digits.data / 16.0, digits.target  # a fixed scaling: nothing learnt from val rows
    folds = fnn.kfold(0, len(X), FOLDS, stratify=y)
    net = fnn.mlp([64, 64, 10], hidden="relu", output="softmax")
    grid = {"learning_rate": LEARNING_RATES, "l2": L2}
    n_trials = len(LEARNING_RATES) * len(L2) * FOLDS
    if args.fast:
        print(f"fast run: {epochs} epochs per trial instead of {FULL_EPOCHS}, "
              "so these accuracies are not the full run's")  # fmt: skip
    print(f"digits: {len(X)} images, {FOLDS} stratified folds; 64-64-10 relu/softmax, Adam, "
          f"batch 32, {epochs} epochs per trial")  # fmt: skip

    started = time.perf_counter()
    if args.executor == "dask":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):  # fmt: skip
            where = "a local Dask cluster of 2 worker processes"
            results = fnn.sweep(net, fnn.adam(), X, y, grid, folds=folds, epochs=epochs,
                                batch_size=32, executor=client, scheme="glorot")  # fmt: skip
    else:
        where = {"threads": "threads", "joblib": "joblib processes"}[args.executor]
        results = fnn.sweep(net, fnn.adam(), X, y, grid, folds=folds, epochs=epochs,
                            batch_size=32, executor=args.executor, scheme="glorot")  # fmt: skip
    seconds = time.perf_counter() - started
    print(f"{n_trials} trials ({len(LEARNING_RATES)} learning rates x {len(L2)} l2 x {FOLDS} "
          f"folds) on {where}: {seconds:.1f} s")  # fmt: skip

    summary = fnn.sweep_summary(results, by="val_accuracy")
    table = {(row.setting.opt.learning_rate, row.setting.l2): row for row in summary.settings}
    print(f"\nvalidation accuracy, mean ± sd over {FOLDS} folds")
    print("learning rate | " + " | ".join(f"{f'l2 = {l2:g}':^15}" for l2 in L2).rstrip())
    for rate in LEARNING_RATES:
        cells = (table[rate, l2] for l2 in L2)
        print(f"{rate:>13g} | " + " | ".join(f"{mean_sd(cell)}" for cell in cells))
    best = summary.best
    print(f"best setting: learning rate {best.setting.opt.learning_rate:g}, "
          f"l2 {best.setting.l2:g}: {mean_sd(best)}")  # fmt: skip
    top = max(results, key=lambda result: result.val_accuracy)
    print(f"best trial: learning rate {top.setting.opt.learning_rate:g}, "
          f"l2 {top.setting.l2:g}, fold {top.fold}: {top.val_accuracy:.4f} "
          f"(validation loss {top.val_loss:.4f})")  # fmt: skip

    if args.out:
        path = heat_map(table, args.out, epochs)
        print(f"heat map written to {path}")
    full_length = not args.fast
    return 1 if full_length and best.val_accuracy_mean < TARGET else 0


def executor_option(parser) -> None:
    parser.add_argument(
        "--executor", choices=["threads", "joblib", "dask"], default="threads",
        help="where the trials run (dask: a local cluster of 2 worker processes)",
    )  # fmt: skip


def mean_sd(row) -> str:
    return f"{row.val_accuracy_mean:.4f} ± {row.val_accuracy_sd:.4f}"


def heat_map(table, out, epochs: int):
    """Mean validation accuracy of every setting as a heat map, mean ± sd in each cell."""
    import numpy as np
    from matplotlib.figure import Figure  # fnn[plot]

    means = np.array([[table[rate, l2].val_accuracy_mean for l2 in L2] for rate in LEARNING_RATES])
    figure = Figure(figsize=(6.4, 4.8))
    axes = figure.add_subplot()
    image = axes.imshow(means, cmap="viridis", origin="lower")
    figure.colorbar(image, ax=axes, label="mean validation accuracy")
    for i, rate in enumerate(LEARNING_RATES):
        for j, l2 in enumerate(L2):
            cell = table[rate, l2]
            dark = cell.val_accuracy_mean < means.min() + 0.6 * (np.ptp(means) or 1.0)
            axes.text(j, i, f"{cell.val_accuracy_mean:.3f}\n± {cell.val_accuracy_sd:.3f}",
                      ha="center", va="center", color="white" if dark else "black")  # fmt: skip
    axes.set_xticks(range(len(L2)), [f"{l2:g}" for l2 in L2])
    axes.set_yticks(range(len(LEARNING_RATES)), [f"{rate:g}" for rate in LEARNING_RATES])
    axes.set_xlabel("l2")
    axes.set_ylabel("learning rate (Adam)")
    axes.set_title(f"digits, {FOLDS}-fold cross-validation, {epochs} epochs")
    path = figure_path(out, "sweep_accuracy.png")
    figure.savefig(path, format="png", dpi=100)
    return path


if __name__ == "__main__":
    sys.exit(main())

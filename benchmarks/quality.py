"""Does fnn generalise as well as scikit-learn and PyTorch, and how much faster does it train?

Usage (from the repository root, after ``pip install -e ".[bench]"``)::

    python benchmarks/quality.py --markdown        # 5 seeds, 200 epochs: benchmarks/README.md
    python benchmarks/quality.py --smoke           # 2 seeds, 2 epochs: checks that all runs
    python benchmarks/quality.py --datasets iris,diabetes --seeds 3 --json out/quality.json
    python benchmarks/quality.py --fnn-scheme glorot  # fnn from one of its named schemes

Every library trains the same network on the same arrays with the same optimizer:

* **Data**: the data sets that ship with scikit-learn — iris, wine, breast cancer, digits
  (classification; accuracy on the test split) and diabetes, ``make_friedman1(n_samples=1000,
  noise=1.0, random_state=0)`` (regression; R² on the test split). One split for every library
  and seed: ``train_test_split(test_size=0.25, random_state=0)``, stratified for classifiers.
  Features standardised with the training split's mean and standard deviation
  (``StandardScaler``); targets as the data sets give them (as ``MLPRegressor`` takes them).
* **Network**: n_features-64-64-n_out, relu hidden layers, float64. Output and loss: softmax
  + cross-entropy for several classes, one sigmoid unit + binary cross-entropy for two (breast
  cancer), identity + ``½ mean (ŷ - y)²`` for regression (fnn's and scikit-learn's mse;
  PyTorch gets ``0.5 * MSELoss()``, whose plain form would double the gradient).
* **Training**: Adam (learning rate 1e-3, β = 0.9, 0.999, ε = 1e-8), batch 32, the last
  partial batch used, reshuffled every epoch, 200 epochs, no L2 penalty, nothing stopping early.
* **Initialisation**: each library's own default — fnn ``"fan_in_uniform"`` and PyTorch
  ``nn.Linear`` both U(±1/√n_in) for W and b (each with its own random numbers),
  scikit-learn Glorot-uniform U(±√(6/(n_in+n_out))) for W and b. The seed (0, 1, ...) drives
  each library's initialisation and shuffling. ``--fnn-scheme NAME`` starts fnn from another
  of its schemes (``fnn.init(net, key=seed, scheme=NAME)``; e.g. ``glorot``, the zero-bias
  Glorot-uniform), which tells what the initialisation does from what the training does.
* **Threads**: one for every library (``threadpoolctl`` for NumPy's BLAS,
  ``torch.set_num_threads(1)``): fnn's ``fit`` is single-threaded, and with 64-unit layers and
  32-row batches extra threads only synchronise (on a busy machine they cost 10 × and more).

scikit-learn's settings: ``MLPClassifier``/``MLPRegressor(hidden_layer_sizes=(64, 64),
activation="relu", solver="adam", alpha=0, batch_size=32, learning_rate_init=1e-3,
max_iter=200, shuffle=True, tol=0, n_iter_no_change=201, early_stopping=False)``; its Adam
applies ε outside the bias correction (``lr·√(1-β2ᵗ)/(1-β1ᵗ) · m / (√v + ε)``), a difference
far below the seed-to-seed spread.

Times are training only (``fit`` / the training loop), the mean over seeds; fnn's kernels are
compiled (or loaded from Numba's cache) by a one-epoch warm-up before any timing. Libraries take
turns (the order rotates with the seed), so a change of machine load hits all of them alike.

The targets: fnn's mean within one standard deviation of the better peer's mean
(``fnn ≥ best − sd_best``, the better peer's sample standard deviation over the seeds), and
fnn's mean time at most a fifth of the faster peer's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import fnn
from fnn.registry import DEFAULT_SCHEME

EPOCHS = 200
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
HIDDEN = (64, 64)
SEEDS = 5
LIBRARIES = ("fnn", "scikit-learn", "PyTorch")
#: Targets: fnn within one sd of the better peer; fnn time / faster peer's time at most this.
TIME_RATIO_TARGET = 0.2


def load(name):
    """(X, y, task) for one data set; task is "classification" or "regression"."""
    from sklearn import datasets

    loaders = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "diabetes": datasets.load_diabetes,
    }
    if name == "friedman1":
        X, y = datasets.make_friedman1(n_samples=1000, noise=1.0, random_state=0)
        return X, y, "regression"
    X, y = loaders[name](return_X_y=True)
    return X, y, "regression" if name == "diabetes" else "classification"


DATASETS = ("iris", "wine", "breast cancer", "digits", "diabetes", "friedman1")


def prepare(name):
    """The split, standardised: (X_train, X_test, y_train, y_test, task)."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y, task = load(name)
    stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=stratify
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test, task


def score(task, y_true, y_pred):
    """Accuracy for classifiers, R² for regressors."""
    from sklearn.metrics import accuracy_score, r2_score

    y_pred = np.asarray(y_pred).reshape(len(y_true))
    return accuracy_score(y_true, y_pred) if task == "classification" else r2_score(y_true, y_pred)


def n_outputs(task, y):
    """Output units: 1 for regression and two classes (sigmoid), else one per class."""
    classes = len(np.unique(y)) if task == "classification" else 1
    return 1 if classes == 2 else classes


# -- the three libraries: (seconds, test score) for one seed ------------------------------------


def fnn_network(data, seed, scheme=None):
    """fnn's net for ``data`` (HIDDEN relu layers, the task's output) and its initial params
    (``fnn.init`` with ``scheme``; None: fnn's default)."""
    X_train, _, y_train, _, task = data
    k = n_outputs(task, y_train)
    output = "identity" if task == "regression" else "sigmoid" if k == 1 else "softmax"
    sizes = [X_train.shape[1], *HIDDEN, k]
    net = fnn.mlp(sizes, hidden="relu", output=output)
    return net, fnn.init(net, key=seed, scheme=scheme)


def run_fnn(data, seed, epochs, scheme=None):
    X_train, X_test, y_train, y_test, task = data
    net, params = fnn_network(data, seed, scheme)
    opt = fnn.adam(LEARNING_RATE)
    started = time.perf_counter()
    result = fnn.fit(net, params, opt, X_train, y_train, epochs, batch_size=BATCH_SIZE, key=seed)
    seconds = time.perf_counter() - started
    return seconds, score(task, y_test, fnn.predict(net, result.params, X_test))


def run_sklearn(data, seed, epochs):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    X_train, X_test, y_train, y_test, task = data
    model = (MLPRegressor if task == "regression" else MLPClassifier)(
        hidden_layer_sizes=HIDDEN,
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=BATCH_SIZE,
        learning_rate_init=LEARNING_RATE,
        max_iter=epochs,
        shuffle=True,
        random_state=seed,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        early_stopping=False,
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached, as intended
        model.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    return seconds, score(task, y_test, model.predict(X_test))


def run_torch(data, seed, epochs):
    import torch

    X_train, X_test, y_train, y_test, task = data
    k = n_outputs(task, y_train)
    torch.manual_seed(seed)
    sizes = [X_train.shape[1], *HIDDEN, k]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out, dtype=torch.float64), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    X = torch.from_numpy(X_train)
    if task == "regression":
        Y = torch.from_numpy(y_train).reshape(-1, 1)
        mse = torch.nn.MSELoss()

        def loss_fn(out, target):
            return 0.5 * mse(out, target)
    elif k == 1:
        Y = torch.from_numpy(y_train.astype(np.float64)).reshape(-1, 1)
        loss_fn = torch.nn.BCEWithLogitsLoss()
    else:
        Y = torch.from_numpy(y_train)
        loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            opt.zero_grad()
            loss_fn(net(X[rows]), Y[rows]).backward()
            opt.step()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        out = net(torch.from_numpy(X_test))
    if task == "regression":
        predicted = out[:, 0].numpy()
    else:
        predicted = (out[:, 0] > 0).long().numpy() if k == 1 else out.argmax(dim=1).numpy()
    return seconds, score(task, y_test, predicted)


RUNNERS = {"scikit-learn": run_sklearn, "PyTorch": run_torch}


# -- the driver ---------------------------------------------------------------------------------


def evaluate(name, seeds, epochs, scheme):
    """Every library on one data set: {library: {"scores": [...], "seconds": [...]}}."""
    data = prepare(name)
    run_fnn(data, 0, 1)  # compile (or load) fnn's kernels before any timing
    results = {library: {"scores": [], "seconds": []} for library in LIBRARIES}
    for seed in range(seeds):
        order = LIBRARIES[seed % 3 :] + LIBRARIES[: seed % 3]
        for library in order:
            if library == "fnn":
                seconds, value = run_fnn(data, seed, epochs, scheme)
            else:
                seconds, value = RUNNERS[library](data, seed, epochs)
            results[library]["scores"].append(float(value))
            results[library]["seconds"].append(seconds)
    X_train, X_test, _, _, task = data
    summary = {
        "task": task,
        "metric": "accuracy" if task == "classification" else "R²",
        "train": len(X_train),
        "test": len(X_test),
        "features": X_train.shape[1],
        "libraries": results,
    }
    summary.update(verdict(results))
    return summary


def mean_sd(values):
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def verdict(results):
    """Which peer is better and faster, and whether fnn meets the two targets."""
    peers = [library for library in LIBRARIES if library != "fnn"]
    best = max(peers, key=lambda library: np.mean(results[library]["scores"]))
    best_mean, best_sd = mean_sd(results[best]["scores"])
    fnn_mean, _ = mean_sd(results["fnn"]["scores"])
    fastest = min(peers, key=lambda library: np.mean(results[library]["seconds"]))
    ratio = np.mean(results["fnn"]["seconds"]) / np.mean(results[fastest]["seconds"])
    return {
        "better_peer": best,
        "quality_met": fnn_mean >= best_mean - best_sd,
        "faster_peer": fastest,
        "time_ratio": float(ratio),
        "speed_met": bool(ratio <= TIME_RATIO_TARGET),
    }


def table(summaries, markdown):
    """The results as lines of text (a Markdown table when asked)."""
    header = ["data set", "train / test × features", "metric"] + list(LIBRARIES)
    header += ["fnn within 1 sd of better peer", "seconds per run: fnn / sklearn / torch"]
    header += ["fnn speed-up vs faster peer"]
    rows = [header]
    for name, s in summaries.items():
        libraries = s["libraries"]
        cells = [name, f"{s['train']} / {s['test']} × {s['features']}", s["metric"]]
        for library in LIBRARIES:
            mean, sd = mean_sd(libraries[library]["scores"])
            cells.append(f"{mean:.3f} ± {sd:.3f}")
        cells.append(("yes" if s["quality_met"] else "no") + f" (vs {s['better_peer']})")
        times = [np.mean(libraries[library]["seconds"]) for library in LIBRARIES]
        cells.append(" / ".join(f"{t:.3f}" for t in times))
        mark = "" if s["speed_met"] else " (< 5×)"
        cells.append(f"{1 / s['time_ratio']:.1f}× (vs {s['faster_peer']}){mark}")
        rows.append(cells)
    return aligned(rows, markdown)


def aligned(rows, markdown):
    """Table lines of ``rows`` (the first is the header): Markdown, or padded columns."""
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "|" + "---|" * len(rows[0]))
        return lines
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=SEEDS, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--smoke", action="store_true", help="2 seeds, 2 epochs: does it all run")
    parser.add_argument("--json", type=Path, help="also write every score and time here")
    parser.add_argument(
        "--fnn-scheme",
        choices=tuple(fnn.SCHEMES),
        help="fnn's initialisation scheme (default: fnn.init's default); to tell the "
        "initialisation from the training",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.epochs = 2, 2
    args.datasets = [name.strip() for name in args.datasets.split(",") if name.strip()]
    for name in args.datasets:
        if name not in DATASETS:
            raise SystemExit(f"unknown data set {name!r}; choose from {list(DATASETS)}")
    if args.seeds < 2:
        raise SystemExit("--seeds must be at least 2 (a standard deviation needs two)")
    return args


def main(argv=None):
    args = parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    summaries = {}
    with threadpool_limits(1):
        for name in args.datasets:
            started = time.perf_counter()
            summaries[name] = evaluate(name, args.seeds, args.epochs, args.fnn_scheme)
            print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    scheme = args.fnn_scheme or f"{DEFAULT_SCHEME} (its default)"
    print(f"{args.seeds} seeds, {args.epochs} epochs, batch {BATCH_SIZE}, Adam {LEARNING_RATE}, ")
    print(f"{'-'.join(map(str, HIDDEN))} relu, mean ± sd over seeds; times are means per run; ")
    print(f"fnn initialised by scheme {scheme}")
    print("\n".join(table(summaries, args.markdown)))
    quality = sum(s["quality_met"] for s in summaries.values())
    speed = sum(s["speed_met"] for s in summaries.values())
    print(
        f"\nfnn within one sd of the better peer on {quality} of {len(summaries)} data sets; "
        f"at least 5× faster than both peers on {speed} of {len(summaries)}"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summaries, indent=2) + "\n")


if __name__ == "__main__":
    main()

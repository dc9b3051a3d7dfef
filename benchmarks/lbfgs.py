"""fnn.lbfgs against scikit-learn's MLP with solver="lbfgs": test score and training time.

Usage (from the repository root, after ``pip install -e ".[bench]"``)::

    python benchmarks/lbfgs.py --markdown         # 5 seeds, 200 iterations: benchmarks/README.md
    python benchmarks/lbfgs.py --smoke            # 2 seeds, 3 iterations: checks that all runs
    python benchmarks/lbfgs.py --fnn-scheme glorot_with_biases  # scikit-learn's distribution

The data sets, split and scaling are benchmarks/quality.py's (scikit-learn's shipped data,
one stratified 75/25 split, standardised features). Both libraries train the same network,
n_features-64-64-n_out with relu hidden layers (softmax + cross-entropy, one sigmoid unit for
two classes, identity + ½ squared error for regression), float64, with the same objective
(scikit-learn's ``alpha = 1e-4`` is fnn's ``l2``: ``+ (alpha / 2m) sum ||W||**2``), the same
solver (SciPy's L-BFGS-B, ``maxcor=10``, ``gtol=1e-4``, ``maxfun=15000``) and the same
iteration budget (``max_iter`` = fnn's ``epochs`` = 200): ``MLPClassifier/MLPRegressor(
hidden_layer_sizes=(64, 64), solver="lbfgs", alpha=1e-4, max_iter=200)`` against
``fnn.fit(net, params, fnn.lbfgs(), X, y, epochs=200, l2=1e-4)``. What differs is who
evaluates the loss and gradient (fnn's compiled engine, scikit-learn's NumPy code) and the
initialisation (each library's default; ``--fnn-scheme NAME`` starts fnn from another of its
schemes, e.g. ``glorot_with_biases``, the distribution scikit-learn draws from). One BLAS
thread for both; libraries take turns, seed by seed; times are training only, fnn's kernels
compiled (or loaded from the disk cache) before any timing.

Target: fnn's time at most a fifth of scikit-learn's, at a test score within one standard
deviation of scikit-learn's.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import fnn
from fnn.registry import DEFAULT_SCHEME

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import DATASETS, HIDDEN, aligned, fnn_network, prepare, score  # noqa: E402

ITERATIONS = 200
ALPHA = 1e-4
SEEDS = 5
TIME_RATIO_TARGET = 0.2


def run_fnn(data, seed, iterations, scheme=None):
    """(seconds, test score, iterations run) of fnn.lbfgs."""
    X_train, X_test, y_train, y_test, task = data
    net, params = fnn_network(data, seed, scheme)
    started = time.perf_counter()
    result = fnn.fit(net, params, fnn.lbfgs(), X_train, y_train, epochs=iterations, l2=ALPHA)
    seconds = time.perf_counter() - started
    predicted = fnn.predict(net, result.params, X_test)
    return seconds, score(task, y_test, predicted), len(result.history.loss)


def run_sklearn(data, seed, iterations):
    """(seconds, test score, iterations run) of scikit-learn's MLP with solver="lbfgs"."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    X_train, X_test, y_train, y_test, task = data
    model = (MLPRegressor if task == "regression" else MLPClassifier)(
        hidden_layer_sizes=HIDDEN, activation="relu", solver="lbfgs", alpha=ALPHA,
        max_iter=iterations, random_state=seed,
    )  # fmt: skip
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached, as intended
        model.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    return seconds, score(task, y_test, model.predict(X_test)), model.n_iter_


def mean_sd(values):
    return float(np.mean(values)), float(np.std(values, ddof=1))


def evaluate(name, seeds, iterations, scheme):
    data = prepare(name)
    run_fnn(data, 0, 2, scheme)  # compile (or load) fnn's kernels before any timing
    results = {"fnn": [], "scikit-learn": []}
    for seed in range(seeds):
        runs = [("fnn", lambda: run_fnn(data, seed, iterations, scheme)),  # noqa: B023
                ("scikit-learn", lambda: run_sklearn(data, seed, iterations))]  # noqa: B023  # fmt: skip
        for library, run in runs if seed % 2 == 0 else runs[::-1]:
            results[library].append(run())
    return data[4], results


def table(summaries, markdown):
    header = ["data set", "metric", "fnn", "scikit-learn", "iterations fnn / sklearn",
              "seconds fnn / sklearn", "fnn / sklearn time", "score within 1 sd",
              "target"]  # fmt: skip
    rows = [header]
    for name, (task, results) in summaries.items():
        (fnn_runs, sk_runs) = (np.array(results[lib]) for lib in ("fnn", "scikit-learn"))
        fnn_score, fnn_sd = mean_sd(fnn_runs[:, 1])
        sk_score, sk_sd = mean_sd(sk_runs[:, 1])
        ratio = fnn_runs[:, 0].mean() / sk_runs[:, 0].mean()
        close = fnn_score >= sk_score - sk_sd
        rows.append([
            name, "accuracy" if task == "classification" else "R²",
            f"{fnn_score:.3f} ± {fnn_sd:.3f}", f"{sk_score:.3f} ± {sk_sd:.3f}",
            f"{fnn_runs[:, 2].mean():.0f} / {sk_runs[:, 2].mean():.0f}",
            f"{fnn_runs[:, 0].mean():.3f} / {sk_runs[:, 0].mean():.3f}", f"{ratio:.2f}",
            "yes" if close else "no", "✓" if close and ratio <= TIME_RATIO_TARGET else "✗",
        ])  # fmt: skip
    return aligned(rows, markdown)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=SEEDS, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--smoke", action="store_true", help="2 seeds, 3 iterations")
    parser.add_argument("--fnn-scheme", choices=tuple(fnn.SCHEMES), help="default: fnn.init's")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.iterations = 2, 3
    names = [name.strip() for name in args.datasets.split(",") if name.strip()]
    unknown = [name for name in names if name not in DATASETS]
    if unknown or args.seeds < 2:
        raise SystemExit(f"--datasets from {list(DATASETS)}, --seeds >= 2 (got {unknown})")
    from threadpoolctl import threadpool_limits

    summaries = {}
    with threadpool_limits(1):
        for name in names:
            started = time.perf_counter()
            summaries[name] = evaluate(name, args.seeds, args.iterations, args.fnn_scheme)
            print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    scheme = args.fnn_scheme or DEFAULT_SCHEME
    print(f"{args.seeds} seeds, at most {args.iterations} L-BFGS iterations, alpha = l2 = {ALPHA}, "
          f"{'-'.join(map(str, HIDDEN))} relu, fnn init: {scheme}; mean ± sd over seeds, "
          "times are means per run")  # fmt: skip
    print("\n".join(table(summaries, args.markdown)))


if __name__ == "__main__":
    main()

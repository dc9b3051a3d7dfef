"""scikit-learn's MLPClassifier on every workload, as a scikit-learn user would configure it.

The settings that make it train like the others: ``alpha=0`` (no L2), a fixed number of
epochs (``max_iter``) that nothing cuts short (``tol=0``, ``n_iter_no_change`` beyond the
epochs, no early stopping), ``momentum=0`` for plain gradient descent, the full training set as
one batch for moons-gd. scikit-learn has no choice of initialisation: it always uses its
Glorot-uniform scheme, so the starting points differ from the other systems'.

    python peer_sklearn.py moons-adam [EPOCHS] [--rows N]
"""

from __future__ import annotations

import time
import warnings

import workloads as w
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier


def classifier(sizes, epochs, seed, **settings):
    return MLPClassifier(
        hidden_layer_sizes=sizes[1:-1],
        activation="relu",
        alpha=0.0,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        early_stopping=False,
        random_state=seed,
        **settings,
    )


def timed_fit(model, X, y):
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached, as intended
        model.fit(X, y)
    return time.perf_counter() - started


def run_moons_gd(epochs, rows=None):
    X_train, X_test, y_train, y_test = w.moons_gd_data(rows)
    model = classifier(
        w.MOONS_GD_SIZES,
        epochs,
        seed=2,
        solver="sgd",
        learning_rate_init=w.MOONS_GD_LEARNING_RATE,
        momentum=0.0,
        nesterovs_momentum=False,
        batch_size=len(X_train),
        shuffle=False,
    )
    return timed_fit(model, X_train, y_train), model.score(X_test, y_test)


def run_moons_adam(epochs, rows=None):
    X, y = w.moons_adam_data(rows)
    model = classifier(
        w.MOONS_ADAM_SIZES,
        epochs,
        seed=3,
        solver="adam",
        learning_rate_init=w.MOONS_ADAM_LEARNING_RATE,
        batch_size=w.MOONS_ADAM_BATCH,
    )
    return timed_fit(model, X, y), model.score(X, y)


def run_mnist_shaped(epochs, rows=None):
    X, y = w.mnist_shaped_data(rows)
    model = classifier(
        w.MNIST_SIZES,
        epochs,
        seed=0,
        solver="adam",
        learning_rate_init=w.MNIST_LEARNING_RATE,
        batch_size=w.MNIST_BATCH,
    )
    return timed_fit(model, X, y), model.score(X, y)


if __name__ == "__main__":
    w.main(
        "sklearn",
        {"moons-gd": run_moons_gd, "moons-adam": run_moons_adam, "mnist-shaped": run_mnist_shaped},
    )

"""scikit-learn's MLPClassifier on every workload, as a scikit-learn user would configure it.

The settings that make it train like the others: ``alpha=0`` (no L2), a fixed number of
epochs (``max_iter``) that nothing cuts short (``tol=0``, ``n_iter_no_change`` beyond the
epochs, no early stopping), ``momentum=0`` for plain gradient descent, the full training set as
one batch for moons-gd. scikit-learn has no choice of initialisation: it always draws W and b
from U(±√(f / (n_in + n_out))), f = 6 (2 for a logistic layer), so the starting points differ
from the other systems' on the relu workloads; on small-tanh, whose scheme is this one (fnn's
``glorot_with_biases``), only the numbers drawn differ. No script for the wide workloads
(wide-f32 and the other shapes): only PyTorch and JAX are measured there.

    python peer_sklearn.py moons-adam [EPOCHS] [--rows N]
"""

from __future__ import annotations

import functools
import time
import warnings

import workloads as w
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier


def classifier(sizes, epochs, seed, activation="relu", **settings):
    return MLPClassifier(
        hidden_layer_sizes=sizes[1:-1],
        activation=activation,
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


def run_mini_batch(name, epochs, rows=None):
    """A workload of ``w.MINI_BATCH``: Adam on shuffled mini-batches, training accuracy."""
    spec = w.MINI_BATCH[name]
    X, y = spec.data(rows)
    model = classifier(
        spec.sizes,
        epochs,
        seed=spec.init_key,
        activation=spec.hidden,
        solver="adam",
        learning_rate_init=spec.learning_rate,
        batch_size=spec.batch,
    )
    return timed_fit(model, X, y), model.score(X, y)


#: The mini-batch workloads it runs (not the wide float32 ones).
MINI_BATCH = ("moons-adam", "mnist-shaped", "small-tanh")

if __name__ == "__main__":
    w.main(
        "sklearn",
        {"moons-gd": run_moons_gd} | {n: functools.partial(run_mini_batch, n) for n in MINI_BATCH},
    )

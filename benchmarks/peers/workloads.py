"""The benchmark workloads: data, hyperparameters and the peers' command line, in one place.

fnn (in ``benchmarks/run.py``) and every peer script build their data with these functions and
read their hyperparameters from these constants and from the table ``MINI_BATCH``, so all
systems train on identical arrays with identical settings.

=============  ============================================================================
workload       what
=============  ============================================================================
moons-gd       2-25-50-50-25-1 relu/sigmoid, N(0, 0.1²) init for W and b,
               full-batch gradient descent η = 0.01, float64; 1,000 moons, 10 % test
moons-adam     2-5-2-1 relu/sigmoid, He-normal init, Adam η = 0.0007,
               batch 64, float64; 300 moons, training accuracy
mnist-shaped   784-256-128-10 relu/softmax, He-normal init, Adam η = 1e-3, batch 128,
               float32; 60,000 × 784 uniform floats labelled by a random linear teacher
wide-f32       784-1024-1024-10 relu/softmax, He-normal init, Adam η = 1e-3, batch 256,
               float32; the first 15,000 rows of mnist-shaped's data
wide-first     784-2048-128-10, otherwise as wide-f32; 12,000 × 784 uniform floats labelled
               by a random linear teacher (mnist-shaped's generator, its own draw)
wide-middle    256-512-2048-512-10, otherwise as wide-f32; 8,000 × 256 uniform floats
               labelled by a random linear teacher (the same generator)
wide-batch512  wide-f32 with batch 512
small-tanh     8-32-32-32-32-1 tanh/sigmoid, W and b ~ U(±√(6 / (n_in + n_out))), Adam
               η = 1e-3, batch 32, float64; 4,000 standard-normal rows labelled 0/1 by a
               random tanh teacher, training accuracy
ensemble-64    moons-adam's network, data and optimizer × 64 members: member k starts from
               init key k and shuffles with key k (k = 0..63); mean member accuracy
=============  ============================================================================

Every workload but moons-gd and ensemble-64 is one row of ``MINI_BATCH``: Adam on mini-batches
reshuffled every epoch, the last partial batch included, training accuracy.

A peer script is run as ``python peer_NAME.py WORKLOAD [EPOCHS] [--rows N]`` and prints one
JSON line: ``{"system", "workload", "epochs", "rows", "seconds", "accuracy"}`` (plus anything
the peer adds). ``seconds`` covers training only: no data generation, no one-time compilation.
``--rows N`` trains on the first N training rows only (smoke tests); test sets are kept whole.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Default epochs of each workload.
EPOCHS = {
    "moons-gd": 10_000,
    "moons-adam": 10_000,
    "mnist-shaped": 1,
    "wide-f32": 1,
    "wide-first": 1,
    "wide-middle": 1,
    "wide-batch512": 1,
    "small-tanh": 400,
    "ensemble-64": 2_000,
}

MOONS_GD_SIZES = (2, 25, 50, 50, 25, 1)
MOONS_GD_LEARNING_RATE = 0.01
MOONS_GD_INIT_SCALE = 0.1  # W and b drawn from N(0, 0.1²)

MOONS_ADAM_SIZES = (2, 5, 2, 1)
MOONS_ADAM_LEARNING_RATE = 0.0007
MOONS_ADAM_BATCH = 64

ENSEMBLE_MEMBERS = 64


def moons_gd_data(rows=None):
    """moons-gd's data: 1,000 moons (noise 0.2, random_state 100), 10 % test (random_state 42).

    Returns
    -------
    X_train (900, 2), X_test (100, 2), y_train (900,), y_test (100,); the first ``rows``
    training rows only when ``rows`` is given.
    """
    from sklearn.datasets import make_moons
    from sklearn.model_selection import train_test_split

    X, y = make_moons(n_samples=1000, noise=0.2, random_state=100)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.1, random_state=42)
    return X_train[:rows], X_test, y_train[:rows], y_test


def moons_adam_data(rows=None):
    """moons-adam's data: 300 moons with noise 0.2, shape (300, 2) and (300,) (or ``rows``).

    A ``RandomState(3)`` passed explicitly draws what ``np.random.seed(3)`` then ``make_moons``
    would, without touching the global generator.
    """
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=300, noise=0.2, random_state=np.random.RandomState(3))
    return X[:rows], y[:rows]


def mnist_shaped_data(rows=None, n_samples=60_000, n_features=784, n_classes=10, seed=0):
    """MNIST-sized float32 inputs in [0, 1) and integer labels a linear teacher can learn.

    Returns
    -------
    X : float32 (n_samples, n_features), or its first ``rows`` rows
    y : int64 (n_samples,), ``argmax((X - 0.5) @ T)`` for a standard-normal teacher T
    """
    rng = np.random.default_rng(seed)
    X = rng.random((n_samples, n_features), dtype=np.float32)
    teacher = rng.standard_normal((n_features, n_classes)).astype(np.float32)
    return X[:rows], np.argmax((X[:rows] - 0.5) @ teacher, axis=1)


def wide_f32_data(rows=None):
    """The first 15,000 rows of :func:`mnist_shaped_data` (or its first ``rows``, if fewer).

    Returns
    -------
    X : float32 (15000, 784), y : int64 (15000,)
    """
    return mnist_shaped_data(15_000 if rows is None else min(rows, 15_000))


def tanh_teacher_data(rows=None, n_samples=4_000, n_features=8, n_hidden=16, seed=0):
    """Standard-normal float64 inputs and 0/1 labels of a random one-hidden-layer tanh teacher.

    Returns
    -------
    X : float64 (n_samples, n_features), or its first ``rows`` rows
    y : int64 (n_samples,), ``tanh(X @ T / sqrt(n_features)) @ t > 0`` for standard-normal
        ``T`` (n_features, n_hidden) and ``t`` (n_hidden,)
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    T = rng.standard_normal((n_features, n_hidden)) / np.sqrt(n_features)
    t = rng.standard_normal(n_hidden)
    return X[:rows], (np.tanh(X[:rows] @ T) @ t > 0).astype(np.int64)


@dataclass(frozen=True)
class MiniBatch:
    """A network trained by Adam on shuffled mini-batches, as every system runs it.

    ``hidden``: every hidden layer's activation, ``"relu"`` or ``"tanh"``. ``output``:
    ``"sigmoid"`` (one unit, binary cross-entropy, labels 0/1) or ``"softmax"`` (cross-entropy,
    integer labels). ``scheme``: the initialisation, by fnn's name: ``"he"`` (W ~ N(0, 2 / n_in),
    b = 0) or ``"glorot_with_biases"`` (W and b ~ U(±√(6 / (n_in + n_out))), scikit-learn's own
    for tanh). ``data(rows)`` returns ``(X, y)``: the first ``rows`` rows, all when None.
    ``init_key`` seeds each system's initialisation, ``shuffle_key`` its shuffles.
    """

    sizes: tuple[int, ...]
    hidden: str
    output: str
    dtype: str
    scheme: str
    learning_rate: float
    batch: int
    data: Callable
    init_key: int = 0
    shuffle_key: int = 0


#: The mini-batch workloads by name (run.py's table orders them).
MINI_BATCH = {
    "moons-adam": MiniBatch(
        MOONS_ADAM_SIZES, "relu", "sigmoid", "float64", "he", MOONS_ADAM_LEARNING_RATE,
        MOONS_ADAM_BATCH, moons_adam_data, init_key=3, shuffle_key=10,
    ),
    "mnist-shaped": MiniBatch(
        (784, 256, 128, 10), "relu", "softmax", "float32", "he", 1e-3, 128, mnist_shaped_data
    ),
    "wide-f32": MiniBatch(
        (784, 1024, 1024, 10), "relu", "softmax", "float32", "he", 1e-3, 256, wide_f32_data
    ),
    "wide-first": MiniBatch(
        (784, 2048, 128, 10), "relu", "softmax", "float32", "he", 1e-3, 256,
        functools.partial(mnist_shaped_data, n_samples=12_000),
    ),
    "wide-middle": MiniBatch(
        (256, 512, 2048, 512, 10), "relu", "softmax", "float32", "he", 1e-3, 256,
        functools.partial(mnist_shaped_data, n_samples=8_000, n_features=256),
    ),
    "wide-batch512": MiniBatch(
        (784, 1024, 1024, 10), "relu", "softmax", "float32", "he", 1e-3, 512, wide_f32_data
    ),
    "small-tanh": MiniBatch(
        (8, 32, 32, 32, 32, 1), "tanh", "sigmoid", "float64", "glorot_with_biases", 1e-3, 32,
        tanh_teacher_data,
    ),
}  # fmt: skip


def main(system: str, runners: dict[str, Callable], info=None):
    """A peer's command line: run one workload, print one JSON line.

    ``runners`` maps workload names to functions ``(epochs, rows) -> (seconds, accuracy)``;
    ``info`` is an optional function returning extra fields for the record (e.g. threads).
    """
    parser = argparse.ArgumentParser(description=f"{system} on one benchmark workload")
    parser.add_argument("workload", choices=sorted(runners))
    parser.add_argument("epochs", type=int, nargs="?", help="default: the workload's own")
    parser.add_argument("--rows", type=int, help="train on the first ROWS rows only")
    args = parser.parse_args()
    epochs = args.epochs if args.epochs is not None else EPOCHS[args.workload]
    seconds, accuracy = runners[args.workload](epochs, args.rows)
    record = {"system": system, "workload": args.workload, "epochs": epochs, "rows": args.rows}
    record.update(seconds=seconds, accuracy=float(accuracy), **(info() if info else {}))
    print(json.dumps(record))

"""Digests of the engine's results: a refactoring of the kernels must leave every bit as it was.

Each line is a case and the sha256 of everything it computed (parameters, histories, values,
gradients, outputs: their dtype, shape and bytes). Two trees give the same bits when their
lines are equal. The cases cover ``fit``, ``grad``/``value_and_grad``, ``forward`` with
``backward``, ``opt_step``, ``fit_many`` (its members side by side and one ``fit`` per
member), the evaluation functions and ``lbfgs``, over every registered activation, loss and
optimizer and both dtypes, with dropout, sample and class weights, gradient clipping and an
l2 penalty, a training batch large enough to be cut into shards (see
:func:`fnn.kernels.shard_rows`) run on one thread and on two (the engine's threaded variant),
weight gradients cut for the BLAS's small-matrix kernel, and evaluation in several chunks. The
data are small: a run takes a few minutes, most of it compiling the kernels (each tree keeps
its own Numba cache in its ``fnn/__pycache__``).

Run it with ``PYTHONPATH`` pointing at the tree whose ``fnn`` to use (the script's own folder
comes first on ``sys.path``, not the working directory, so the repository's ``fnn/`` does not
shadow it; the package used is named on stderr)::

    git archive main fnn | tar -x -C /tmp/base
    PYTHONPATH=/tmp/base python benchmarks/digests.py > /tmp/base.txt
    PYTHONPATH=. python benchmarks/digests.py > /tmp/head.txt
    diff /tmp/base.txt /tmp/head.txt && wc -l /tmp/head.txt
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np

import fnn
from fnn import kernels
from fnn.registry import HIDDEN_ACTIVATIONS

#: The entry kernels whose compiled signatures the run reports (the engine's variants, and
#: opt_step's kernel of one update).
ENTRIES = ("train_and_evaluate", "train_and_evaluate_full", "train_and_evaluate_threaded", "update")


def digest(*values) -> str:
    """sha256 of ``values``: arrays, numbers, Params, histories, results, tuples of them."""
    sha = hashlib.sha256()

    def feed(value) -> None:
        if value is None:
            sha.update(b"None")
        elif isinstance(value, (tuple, list)):  # NamedTuples too (Params, Layer, History, ...)
            sha.update(f"({len(value)}".encode())
            for item in value:
                feed(item)
        elif isinstance(value, (str, bool, int)):
            sha.update(repr(value).encode())
        else:
            array = np.ascontiguousarray(value)
            if array.dtype == object:  # e.g. an opt_state's slots
                feed(tuple(array.ravel()))
                return
            sha.update(f"{array.dtype.str}{array.shape}".encode())
            sha.update(array.tobytes())

    feed(values)
    return sha.hexdigest()


def fit_digest(result) -> str:
    """A fit's parameters, history and optimizer state."""
    return digest(result.params, result.history, result.opt_state)


def main() -> None:
    print(f"digests of fnn from {fnn.__file__}", file=sys.stderr)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    labels = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    classes = rng.integers(0, 3, 300)
    targets = X[:, :2] @ np.array([[1.0, 0.5], [-0.3, 2.0]]) + 0.1 * rng.normal(size=(300, 2))
    counts = rng.poisson(2.0, size=(300, 2)).astype(np.float64)
    weights = rng.uniform(0.0, 2.0, 300)
    optimizers = {
        "sgd": fnn.sgd(0.05, clip_norm=1.0),
        "momentum": fnn.momentum(0.05),
        "rmsprop": fnn.rmsprop(0.01, clip_norm=0.5),
        "adam": fnn.adam(0.01),
        "adamw": fnn.adamw(0.01, clip_norm=2.0),
    }
    assert set(optimizers) == set(fnn.OPTIMIZERS), "an optimizer is missing from the cases"
    # (output activation, loss, targets, outputs): every registered loss.
    losses = {
        "bce": ("sigmoid", labels, 1),
        "ce": ("softmax", classes, 3),
        "mse": ("identity", targets, 2),
        "huber": ("identity", targets, 2),
        "mae": ("tanh", targets, 2),
        "poisson": ("identity", counts, 2),
        "quantile": ("identity", targets, 2),
    }
    assert set(losses) == set(fnn.LOSSES), "a loss is missing from the cases"
    hidden_activations = sorted(HIDDEN_ACTIVATIONS)

    def case(name: str, value: str) -> None:
        print(f"{name:60s} {value}", flush=True)

    # The engine's common variant compiled first, in both dtypes (no case: a plain grad). A call
    # runs a variant compiled already when it can (fnn.engine.engine_kernel): the plain cases
    # then run the common variant, as in a process that makes only plain calls, rather than the
    # full one that the cases with dropout or clipping compile.
    for dtype in (np.float64, np.float32):
        plain = fnn.mlp([3, 4, 1])
        fnn.grad(plain, fnn.init(plain, key=0, dtype=dtype), X, labels)
    for dtype in (np.float64, np.float32):
        d = np.dtype(dtype).name
        # Every hidden activation: fit with validation, clipping, l2 (dropout on every other
        # one), then the evaluation functions on its result.
        for number, hidden in enumerate(hidden_activations):
            net = fnn.mlp([3, 7, 5, 1], hidden=hidden, dropout=0.2 if number % 2 else 0.0)
            params = fnn.init(net, key=1, dtype=dtype)
            result = fnn.fit(
                net, params, fnn.adam(0.01, clip_norm=1.0), X, labels, epochs=3, batch_size=64,
                key=3, l2=0.01, validation=(X[:50], labels[:50]), threads=1,
            )  # fmt: skip
            case(f"{d} fit hidden={hidden}", fit_digest(result))
            trained = result.params
            case(
                f"{d} evaluate hidden={hidden}",
                digest(
                    fnn.predict(net, trained, X), fnn.predict_proba(net, trained, X),
                    fnn.loss(net, trained, X, labels, l2=0.01),
                    fnn.accuracy(net, trained, X, labels),
                ),
            )  # fmt: skip
            key = 7 if net.dropout else None
            case(
                f"{d} value_and_grad hidden={hidden}",
                digest(fnn.value_and_grad(net, params, X[:40], labels[:40], 0.1, dropout_key=key)),
            )  # fmt: skip
        # A softmax output under a loss that is not its own (its derivative in the chain rule).
        net = fnn.mlp([3, 6, 2], hidden=["gelu"], output="softmax", loss="mse")
        params = fnn.init(net, key=5, dtype=dtype)
        shares = np.abs(targets) / np.abs(targets).sum(axis=1, keepdims=True)
        result = fnn.fit(net, params, fnn.sgd(0.1), X, shares, epochs=2, batch_size=50, key=2)
        case(f"{d} fit output=softmax loss=mse", fit_digest(result))
        # Every loss with every optimizer; sample weights; grad, forward + backward.
        for loss, (output, y, n_out) in losses.items():
            extra = {"huber": {"delta": 0.7}, "quantile": {"loss_params": {"q": [0.2, 0.7]}}}
            extra = extra.get(loss, {})
            net = fnn.mlp([3, 6, n_out], hidden="elu", output=output, loss=loss, **extra)
            params = fnn.init(net, key=2, dtype=dtype)
            for name, opt in optimizers.items():
                result = fnn.fit(
                    net, params, opt, X, y, epochs=2, batch_size=50, key=1, l2=0.001,
                    sample_weight=weights, threads=1,
                )  # fmt: skip
                case(f"{d} fit loss={loss} opt={name} weighted", fit_digest(result))
            case(f"{d} grad loss={loss}", digest(fnn.grad(net, params, X, y, l2=0.1)))
            case(
                f"{d} grad loss={loss} weighted",
                digest(fnn.grad(net, params, X, y, sample_weight=weights)),
            )
            outputs, cache = fnn.forward(net, params, X[:20])
            case(
                f"{d} forward+backward loss={loss}",
                digest(outputs, fnn.backward(net, params, cache, y[:20], l2=0.05)),
            )
        # class weights, and a plain mini-batch run without any extra.
        net = fnn.mlp([3, 8, 3], hidden="silu", output="softmax")
        params = fnn.init(net, key=3, dtype=dtype)
        result = fnn.fit(
            net, params, fnn.rmsprop(0.01), X, classes, epochs=3, batch_size=32, key=4,
            class_weight={0: 1.0, 1: 2.0, 2: 0.5},
        )  # fmt: skip
        case(f"{d} fit class_weight", fit_digest(result))
        # opt_step for every optimizer, twice (the second step reads the first's state).
        net = fnn.mlp([3, 5, 2, 1])
        params = fnn.init(net, key=6, dtype=dtype)
        grads = fnn.grad(net, params, X, labels)
        for name, opt in optimizers.items():
            state = fnn.opt_init(opt, params)
            stepped, state = fnn.opt_step(opt, params, grads, state)
            stepped, state = fnn.opt_step(opt, stepped, grads, state)
            case(f"{d} opt_step opt={name}", digest(stepped, state))
        # A batch cut into shards (8 of 64 rows: see kernels.shard_rows), on one thread and on
        # two (train_and_evaluate_threaded), with dropout and weights; grad of it; evaluation of
        # more rows than one chunk holds.
        big = fnn.mlp([3, 256, 256, 1], dropout=[0.1, 0.0])
        Xb = rng.normal(size=(512, 3))
        yb = (Xb[:, 0] * Xb[:, 1] > 0).astype(np.int64)
        wb = rng.uniform(0.5, 1.5, 512)
        params = fnn.init(big, key=4, dtype=dtype)
        n_params = sum(layer.W.size + layer.b.size for layer in params.layers)
        rows = kernels.shard_rows(
            512, n_params, max(big.sizes), kernels.DEFAULT_SHARD_WORK, kernels.DEFAULT_MAX_SHARDS
        )
        assert rows < 512, "the big batch must be cut into shards"
        for threads in (1, 2):
            result = fnn.fit(
                big, params, fnn.adam(0.001, clip_norm=1.0), Xb, yb, epochs=2, batch_size=512,
                key=5, l2=0.01, sample_weight=wb, threads=threads,
            )  # fmt: skip
            case(f"{d} fit sharded threads={threads}", fit_digest(result))
        case(f"{d} grad sharded", digest(fnn.value_and_grad(big, params, Xb, yb, dropout_key=3)))
        outputs, cache = fnn.forward(big, params, Xb)  # backward's shards run from X again
        case(f"{d} forward+backward sharded", digest(outputs, fnn.backward(big, params, cache, yb)))
        Xe = rng.normal(size=(2500, 3))
        case(f"{d} predict_proba chunks", digest(fnn.predict_proba(big, params, Xe)))
        # moons-gd's network on a full batch of 900 rows (8 shards of 113), whose weight
        # gradients are cut for OpenBLAS's small-matrix kernel where its SkylakeX kernels run
        # (fnn.engine.blas_small_tn). Data of their own generator: the cases after keep theirs.
        gd = fnn.mlp([3, 25, 50, 50, 25, 1])
        Xg = np.random.default_rng(1).normal(size=(900, 3))
        yg = (Xg[:, 0] * Xg[:, 1] > 0).astype(np.int64)
        for threads in (1, 2):
            result = fnn.fit(gd, fnn.init(gd, key=2, dtype=dtype), fnn.sgd(0.1), Xg, yg,
                             epochs=2, threads=threads)  # fmt: skip
            case(f"{d} fit small weight gradients threads={threads}", fit_digest(result))
        # fit_many: side by side (small net, bce, no extras) on one and two threads, and one
        # fit per member (validation forces it).
        small = fnn.mlp([3, 5, 2, 1])
        members = [fnn.init(small, key=k, dtype=dtype) for k in range(5)]
        for threads in (1, 2):
            results = fnn.fit_many(
                small, members, fnn.adam(0.01), X, labels, epochs=3, batch_size=32,
                keys=list(range(5)), l2=[0.0, 0.01, 0.0, 0.1, 0.0], threads=threads,
            )  # fmt: skip
            case(f"{d} fit_many side by side threads={threads}", digest(*map(fit_digest, results)))
        results = fnn.fit_many(
            small, members, fnn.momentum(0.05), X, labels, epochs=2, batch_size=32,
            validation=(X[:60], labels[:60]), threads=2,
        )  # fmt: skip
        case(f"{d} fit_many per member", digest(*map(fit_digest, results)))
        # Full-batch L-BFGS, whose objective is one engine call per evaluation.
        net = fnn.mlp([3, 6, 1], hidden="tanh")
        params = fnn.init(net, key=8, dtype=dtype)
        result = fnn.fit(net, params, fnn.lbfgs(), X, labels, epochs=5, l2=0.01)
        case(f"{d} fit lbfgs", fit_digest(result))
    for name in ENTRIES:  # those the tree has
        entry = getattr(kernels, name, None)
        compiled = len(getattr(entry, "signatures", ()))  # one per dtype, or a bundle changed type
        if entry is not None:
            print(f"{name} compiled for {compiled} signature(s)", file=sys.stderr)


if __name__ == "__main__":
    main()

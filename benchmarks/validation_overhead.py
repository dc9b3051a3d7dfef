"""What input validation costs on a small ``fnn.grad`` call.

For each network, on 64 rows of float64 data (``--rows`` to change), this times (best of many
runs, interleaved):

* ``grad``       -- ``fnn.grad(net, params, X, y)``, the public call;
* ``unchecked``  -- the same call path with every check removed: the same conversions,
  packing, kernels and unpacking as ``fnn.losses.value_and_grad``, but no ``fnn.checks``;
* ``kernels``    -- only ``fnn.kernels.train_and_evaluate`` (via ``fnn.engine.call``) on
  prepared arrays;
* ``checks``     -- only the checks ``grad`` runs (``model``, ``real``, ``inputs``,
  ``targets``), on their own.

Validation overhead = ``grad - unchecked`` (and, as a cross-check, ``checks``), reported as a
percentage of ``grad``; ``grad - kernels`` is the whole Python boundary (validation plus
packing/unpacking), reported as a percentage of ``kernels``. Timings vary between machines and
runs; compare the ratios.

Run: ``python benchmarks/validation_overhead.py [--repeat 30] [--number 500]``
"""

from __future__ import annotations

import argparse
import timeit
from functools import partial

import numpy as np

import fnn
from fnn import checks, engine
from fnn.flat import pack
from fnn.losses import _gradient

CASES = [
    ("2-25-50-50-25-1 relu/sigmoid (moons-gd)", fnn.mlp([2, 25, 50, 50, 25, 1]), "bce"),
    ("2-5-2-1 relu/sigmoid (moons-adam)", fnn.mlp([2, 5, 2, 1]), "bce"),
    ("2-32-10 relu/softmax, integer labels", fnn.mlp([2, 32, 10], output="softmax"), "ce"),
]


def problem(net, loss, rows):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, net.sizes[0]))
    y = rng.integers(0, net.sizes[-1] if loss == "ce" else 2, rows)
    return fnn.init(net, key=0), X, y


def unchecked(net, params, X, y, l2=0.0):
    """``fnn.grad`` minus validation: same conversions, packing, kernels and unpacking."""
    dtype = params.layers[0].W.dtype
    X = np.asarray(X, dtype=dtype, order="C")
    y = np.asarray(y)
    if net.loss == "ce":
        Y = np.zeros((y.shape[0], net.sizes[-1]), dtype)
        Y[np.arange(y.shape[0]), y] = 1
    else:
        Y = np.asarray(y.reshape(y.shape[0], -1), dtype=dtype, order="C")
    return _gradient(net, pack(params, dtype), Y, l2, "grad", X=X)[1]


def checks_only(net, params, X, y, l2=0.0):
    """Exactly the checks ``fnn.grad`` runs, nothing else."""
    dtype = checks.model(net, params)
    checks.real("l2", l2, low=0.0)
    X = checks.inputs("X", X, net.sizes[0], dtype)
    return checks.targets("y", y, net, X.shape[0], dtype)


def measure(repeat: int, number: int, n_rows: int = 64) -> list[dict]:
    rows = []
    for label, net, loss in CASES:
        params, X, y = problem(net, loss, n_rows)
        expected = fnn.grad(net, params, X, y)
        same = unchecked(net, params, X, y)
        assert all(
            np.array_equal(a, b)
            for la, lb in zip(expected.layers, same.layers)
            for a, b in zip(la, lb)
        ), "the unchecked replica no longer matches fnn.grad; update it"
        Y = checks_only(net, params, X, y)
        theta = pack(params, np.float64)

        def raw(net=net, theta=theta, X=X, Y=Y):
            return engine.call(net, theta, X=X, Y=Y, purpose="grad")

        calls = {
            "grad": partial(fnn.grad, net, params, X, y),
            "unchecked": partial(unchecked, net, params, X, y),
            "kernels": raw,
            "checks": partial(checks_only, net, params, X, y),
        }
        samples = {name: [] for name in calls}
        for _ in range(repeat):  # interleaved, so that machine noise hits every variant alike
            for name, call in calls.items():
                samples[name].append(timeit.timeit(call, number=number) / number * 1e6)
        # The fastest run is the least disturbed by other processes (timeit's advice).
        times = {name: min(values) for name, values in samples.items()}
        rows.append({"case": label, **times})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--number", type=int, default=500)
    parser.add_argument("--rows", type=int, default=64, help="batch rows (default 64)")
    args = parser.parse_args()
    rows = measure(args.repeat, args.number, args.rows)
    print(
        f"fnn.grad on {args.rows} rows, float64; best of {args.repeat} x {args.number} calls, in us"
    )
    head = (
        f"{'network':42s} {'grad':>7s} {'unchecked':>9s} {'kernels':>8s} {'checks':>7s}"
        f" {'validation':>11s} {'checks/grad':>11s} {'boundary':>9s}"
    )
    print(head)
    for row in rows:
        validation = (row["grad"] - row["unchecked"]) / row["grad"] * 100
        alone = row["checks"] / row["grad"] * 100
        boundary = (row["grad"] - row["kernels"]) / row["kernels"] * 100
        print(
            f"{row['case']:42s} {row['grad']:7.1f} {row['unchecked']:9.1f} {row['kernels']:8.1f}"
            f" {row['checks']:7.1f} {validation:10.1f}% {alone:10.1f}% {boundary:8.0f}%"
        )
    print(
        "validation = (grad - unchecked) / grad; checks/grad = the checks timed alone / grad;\n"
        "boundary = (grad - kernels) / kernels: validation plus packing/unpacking params."
    )


if __name__ == "__main__":
    main()

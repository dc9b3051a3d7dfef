"""XOR learned by a plain loop of fnn.grad + fnn.opt_step.

A 2-3-1 network (relu hidden layer, linear output) with the squared error, trained by
full-batch gradient descent for at most 10,000 steps, stopping once the loss is below 1e-4.
Prints the four predictions. ``--fast`` stops after at most 3,000 steps (key 0 converges
after about 1,900, so the result is the same).

    python examples/xor.py [--fast] [--out DIR]

Writes ``xor.png`` to ``--out``: the loss per step and the network's output over the plane
with its 0.5 boundary. Exits with status 1 if a full-length run gets a prediction wrong.
"""

import sys

import numpy as np
from _cli import figure_path, parse

import fnn

STEPS, FAST_STEPS = 10_000, 3_000
CONVERGED = 1e-4  # fnn's mse over 4 rows is sum (y_hat - y)^2 / 8: this sum below 0.0008


def main(argv=None) -> int:
    args = parse(__doc__, argv, fast=f"at most {FAST_STEPS:,} steps", trains_with_fit=False)
    steps = STEPS
    if args.fast:
        steps = FAST_STEPS
        print(f"fast run: at most {steps:,} steps (the full run: {STEPS:,})")

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([0, 1, 1, 0], dtype=np.float64)
    net = fnn.mlp([2, 3, 1], hidden="relu", output="identity")  # loss: mse
    params = fnn.init(net, key=0, scheme="scaled")  # N(0, 0.1^2); 3 relus can all die for an
    # unlucky key, hence a fixed one
    opt = fnn.sgd(0.04)  # on fnn's mean over 4 rows: a step of 0.01 on 1/2 sum (y_hat - y)^2
    state = fnn.opt_init(opt, params)
    losses = []
    for step in range(steps):
        value, grads = fnn.value_and_grad(net, params, X, y)
        losses.append(value)
        params, state = fnn.opt_step(opt, params, grads, state)
        if step % 1000 == 0:
            print(f"step {step:5d}  loss {value:.6f}")
        if value < CONVERGED:
            print(f"step {step:5d}  loss {value:.6f}  (converged)")
            break

    outputs = fnn.predict(net, params, X)
    wrong = 0
    for x, target, output in zip(X.astype(int), y.astype(int), outputs):
        label = int(output > 0.5)
        wrong += label != target
        print(f"{x[0]} xor {x[1]} = {label}  (output {output:+.4f}, expected {target})")
    if args.out:
        path = figure_path(args.out, "xor.png")
        draw(net, params, X, y, losses).savefig(path, dpi=100)
        print(f"figure written to {args.out}/")
    return 1 if not args.fast and wrong else 0


def draw(net, params, X, y, losses):
    """The loss per step, and the network's output over the plane with its 0.5 boundary."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    loss_axes, plane_axes = figure.subplots(1, 2)
    loss_axes.semilogy(np.arange(1, len(losses) + 1), losses)
    loss_axes.set(xlabel="step", ylabel="loss (mse)", title=f"loss: final {losses[-1]:.2g}")
    loss_axes.grid(True, alpha=0.3)

    grid = np.linspace(-0.5, 1.5, 201)
    XX, YY = np.meshgrid(grid, grid)
    output = fnn.predict(net, params, np.column_stack([XX.ravel(), YY.ravel()]))
    filled = plane_axes.contourf(
        XX, YY, output.reshape(XX.shape), levels=np.linspace(-0.5, 1.5, 21), cmap="RdBu_r",
        extend="both",
    )  # fmt: skip
    plane_axes.contour(XX, YY, output.reshape(XX.shape), levels=[0.5], colors="black")
    figure.colorbar(filled, ax=plane_axes, label="network output")
    for target, marker in ((0, "o"), (1, "s")):
        rows = y == target
        plane_axes.scatter(X[rows, 0], X[rows, 1], marker=marker, s=120, c="white",
                           edgecolors="black", label=f"x1 xor x2 = {target}")  # fmt: skip
    plane_axes.set(xlabel="$x_1$", ylabel="$x_2$", title="output, and its 0.5 boundary")
    plane_axes.legend(loc="upper center", fontsize=9, framealpha=0.9)
    return figure


if __name__ == "__main__":
    sys.exit(main())

"""Seed 002: XOR learned by a plain loop of fnn.grad + fnn.opt_step.

A 2-3-1 network (relu hidden layer, linear output) with the squared error, trained by
full-batch gradient descent. Prints the four predictions; exits with status 1 if any is wrong.

    python examples/xor.py [--steps N]
"""

import argparse
import sys

import numpy as np

import fnn


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="gradient steps (default 10000)")
    args = parser.parse_args(argv)

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([0, 1, 1, 0], dtype=np.float64)
    net = fnn.mlp([2, 3, 1], hidden="relu", output="identity")  # loss: mse
    params = fnn.init(net, key=0, scheme="scaled")  # N(0, 0.1^2) like the seed; 3 relus can die
    # for an unlucky key (the seed fixed np.random.seed(42) for the same reason)
    opt = fnn.sgd(0.04)  # the seed's 0.01 on a summed loss = 0.04 on fnn's mean over 4 rows
    state = fnn.opt_init(opt, params)
    for step in range(args.steps):
        value, grads = fnn.value_and_grad(net, params, X, y)
        params, state = fnn.opt_step(opt, params, grads, state)
        if step % 1000 == 0:
            print(f"step {step:5d}  loss {value:.6f}")
        if value < 1e-4:
            print(f"step {step:5d}  loss {value:.6f}  (converged)")
            break

    outputs = fnn.predict(net, params, X)
    wrong = 0
    for x, target, output in zip(X.astype(int), y.astype(int), outputs):
        label = int(output > 0.5)
        wrong += label != target
        print(f"{x[0]} xor {x[1]} = {label}  (output {output:+.4f}, expected {target})")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())

"""Seed 000: an L-layer relu network with L2 regularisation and step learning-rate decay, float32.

Seed 000's ``Net`` class: relu hidden layers, a softmax output, weights drawn N(0, 1)
("normal" init), an L2 penalty ``lambd / 2m * sum ||W||^2``, full-batch gradient descent whose
learning rate drops by 10 % every ``num_learn_rate`` iterations, float32 throughout, and the
cost printed every ``num_display`` iterations. The data: three classes from
``make_classification``, standardised with ``fnn.standardizer``.

    python examples/regularized.py [--fast] [--epochs N]
"""

import argparse
import sys

import numpy as np
from sklearn.datasets import make_classification

import fnn

FULL_EPOCHS = 3_000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=FULL_EPOCHS)
    parser.add_argument("--fast", action="store_true", help="300 epochs")
    args = parser.parse_args(argv)
    epochs = 300 if args.fast else args.epochs
    num_display = max(1, epochs // 10)

    X, y = make_classification(
        n_samples=800, n_features=8, n_informative=5, n_classes=3, random_state=0
    )
    X = X.astype(np.float32)
    scaler = fnn.standardizer(X[:600])
    X_train, X_test = fnn.standardize(scaler, X[:600]), fnn.standardize(scaler, X[600:])
    y_train, y_test = y[:600], y[600:]

    layers_dims = [8, 32, 16, 3]
    net = fnn.mlp(layers_dims, hidden="relu", output="softmax")  # loss: ce
    params = fnn.init(net, key=0, scheme="normal", dtype=np.float32)
    learning_rate = fnn.step_decay(0.05, drop=0.1, every=max(1, epochs // 3))
    lambd = 0.001

    def show_cost(epoch, params, history):
        if epoch % num_display == 0:
            rate = learning_rate(epoch)
            print(f"epoch {epoch:5d}  cost {history.loss[-1]:.4f}  learning rate {rate:.5f}")
        return False

    result = fnn.fit(
        net, params, fnn.sgd(learning_rate), X_train, y_train,
        epochs=epochs, l2=lambd, callback=show_cost,
    )  # fmt: skip
    W = result.params.layers[0].W
    print(f"parameters stay {W.dtype}; train accuracy "
          f"{fnn.accuracy(net, result.params, X_train, y_train):.4f}, "
          f"test accuracy {fnn.accuracy(net, result.params, X_test, y_test):.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

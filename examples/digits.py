"""Handwritten digits: a softmax network on scikit-learn's 8x8 digit images, trained with Adam.

1,797 real images shipped with scikit-learn (``load_digits``, no download), 64 pixel
features, 10 classes. A stratified split keeps 20 % for testing and 15 % of the rest for
validation; the pixels are standardised with the training rows' statistics. A 64-128-10
tanh/softmax network (Glorot init) is trained with Adam (batches of 32) and early stopping on
the validation loss, restoring the best epoch. Over init keys 0-9 the test accuracy lies
between 0.967 and 0.978 (a relu hidden layer: 0.953-0.978).

``--fast`` caps training at 20 epochs (early stopping has not stopped it by then), which
already scores about 0.97.

    python examples/digits.py [--fast] [--out DIR] [--progress]

Writes ``digits_history.png`` and ``digits_confusion.png`` to ``--out``. Exits with status 1
if a full-length run scores below 0.96 on the test set.
"""

import sys
import time

from _cli import figure_path, parse
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import fnn

EPOCHS = 200
FAST_EPOCHS = 20
TARGET = 0.96


def main(argv=None) -> int:
    args = parse(__doc__, argv, fast=f"at most {FAST_EPOCHS} epochs")
    epochs = EPOCHS
    if args.fast:
        epochs = FAST_EPOCHS
        print(f"fast run: at most {epochs} epochs (the full run: at most {EPOCHS})")

    digits = load_digits()
    X, y = digits.data, digits.target
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.15, stratify=y_rest, random_state=0
    )
    scaler = fnn.standardizer(X_train)  # statistics of the training rows only
    X_train, X_val, X_test = (fnn.standardize(scaler, part) for part in (X_train, X_val, X_test))

    net = fnn.mlp([64, 128, 10], hidden="tanh", output="softmax")  # loss: ce
    params = fnn.init(net, key=0, scheme="glorot")
    started = time.perf_counter()
    result = fnn.fit(
        net,
        params,
        fnn.adam(1e-3),
        X_train,
        y_train,
        epochs=epochs,
        batch_size=32,
        key=0,
        validation=(X_val, y_val),
        early_stopping=fnn.early_stopping(patience=20, restore_best=True),
        progress=args.progress,
    )
    seconds = time.perf_counter() - started
    history = result.history

    test_accuracy = fnn.accuracy(net, result.params, X_test, y_test)
    print(f"train {len(y_train)}  validation {len(y_val)}  test {len(y_test)} images")
    best = history.params_epoch  # the epoch whose parameters early stopping restored
    print(f"epochs {len(history.loss)} (best {best + 1})  train loss {history.loss[best]:.4f}  "
          f"validation accuracy {history.val_accuracy[best]:.4f}  ({seconds:.2f} s)")  # fmt: skip
    print(f"test accuracy {test_accuracy:.4f}")
    if args.out:
        from fnn import plot

        plot.history(
            history, path=figure_path(args.out, "digits_history.png"), title="digits, Adam"
        )
        plot.confusion_matrix(
            net, result.params, X_test, y_test, path=figure_path(args.out, "digits_confusion.png")
        )
        print(f"figures written to {args.out}/")
    return 1 if not args.fast and test_accuracy < TARGET else 0


if __name__ == "__main__":
    sys.exit(main())

"""Plain NumPy, written the way textbook code writes a network, as the baseline peer.

Samples in columns (``X`` is ``(n_features, n_samples)``), parameters in a dict ``W1, b1, ...``,
``W`` of shape ``(n_out, n_in)``, one NumPy expression per formula, no compilation. The
system's name, ``numpy-seed``, is historical.

* moons-gd: ``init_layers`` draws W and b from N(0, 0.1²); every epoch runs the full forward
  pass, records the epoch's cost and accuracy, back-propagates from
  ``dA = -(Y/Ŷ - (1-Y)/(1-Ŷ))`` through ``relu_backward``/``sigmoid_backward``, and takes a
  gradient step.
* moons-adam and small-tanh: He-normal init (moons-adam) or W and b uniform within
  ±√(6 / (n_in + n_out)) (small-tanh), each epoch reshuffled by ``random_mini_batches`` with
  seed ``shuffle_key + epoch`` (epochs counted from 1), relu or tanh hidden layers, the output
  error ``(a - Y)/m`` of sigmoid + cross-entropy, the cost of every mini-batch, and Adam with
  bias correction and ε inside the square root.

Code of this kind seeds the global generator (``np.random.seed``); here a ``RandomState``
with the same seed draws the same numbers without touching it. Only the two moons workloads
and small-tanh are implemented (no mnist-shaped or wide network).

    python peer_numpy_seed.py moons-gd [EPOCHS] [--rows N]
"""

from __future__ import annotations

import functools
import time

import numpy as np
import workloads as w


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def relu(Z):
    return np.maximum(0, Z)


# -- moons-gd: full-batch gradient descent ------------------------------------------------------

ARCHITECTURE = [
    {"input_dim": n_in, "output_dim": n_out, "activation": "relu"}
    for n_in, n_out in zip(w.MOONS_GD_SIZES[:-1], w.MOONS_GD_SIZES[1:])
]
ARCHITECTURE[-1]["activation"] = "sigmoid"


def init_layers(architecture, seed):
    rng = np.random.RandomState(seed)
    params = {}
    for index, layer in enumerate(architecture, 1):
        shape = (layer["output_dim"], layer["input_dim"])
        params[f"W{index}"] = rng.randn(*shape) * w.MOONS_GD_INIT_SCALE
        params[f"b{index}"] = rng.randn(shape[0], 1) * w.MOONS_GD_INIT_SCALE
    return params


def full_forward_propagation(X, params, architecture):
    memory = {}
    A = X
    for index, layer in enumerate(architecture, 1):
        memory[f"A{index - 1}"] = A
        Z = params[f"W{index}"] @ A + params[f"b{index}"]
        memory[f"Z{index}"] = Z
        A = relu(Z) if layer["activation"] == "relu" else sigmoid(Z)
    return A, memory


def get_cost_value(Y_hat, Y):
    m = Y_hat.shape[1]
    return float(-(Y @ np.log(Y_hat).T + (1 - Y) @ np.log(1 - Y_hat).T)[0, 0] / m)


def get_accuracy_value(Y_hat, Y):
    return float(((Y_hat > 0.5) == Y).all(axis=0).mean())


def relu_backward(dA, Z):
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, Z):
    s = sigmoid(Z)
    return dA * s * (1 - s)


def full_backward_propagation(Y_hat, Y, memory, params, architecture):
    grads = {}
    m = Y.shape[1]
    dA = -(Y / Y_hat - (1 - Y) / (1 - Y_hat))
    for index in range(len(architecture), 0, -1):
        relu_layer = architecture[index - 1]["activation"] == "relu"
        backward = relu_backward if relu_layer else sigmoid_backward
        Z, A_prev = memory[f"Z{index}"], memory[f"A{index - 1}"]
        dZ = backward(dA, Z)
        grads[f"dW{index}"] = dZ @ A_prev.T / m
        grads[f"db{index}"] = dZ.sum(axis=1, keepdims=True) / m
        dA = params[f"W{index}"].T @ dZ
    return grads


def run_moons_gd(epochs, rows=None):
    X_train, X_test, y_train, y_test = w.moons_gd_data(rows)
    X, Y = X_train.T, y_train.reshape(1, -1)
    params = init_layers(ARCHITECTURE, seed=2)
    cost_history, accuracy_history = [], []
    started = time.perf_counter()
    for _ in range(epochs):
        Y_hat, memory = full_forward_propagation(X, params, ARCHITECTURE)
        cost_history.append(get_cost_value(Y_hat, Y))
        accuracy_history.append(get_accuracy_value(Y_hat, Y))
        grads = full_backward_propagation(Y_hat, Y, memory, params, ARCHITECTURE)
        for name in params:
            params[name] -= w.MOONS_GD_LEARNING_RATE * grads["d" + name]
    seconds = time.perf_counter() - started
    Y_test_hat, _ = full_forward_propagation(X_test.T, params, ARCHITECTURE)
    return seconds, get_accuracy_value(Y_test_hat, y_test.reshape(1, -1))


# -- moons-adam and small-tanh: mini-batch Adam ------------------------------------------------


def initialize_parameters(layer_dims, seed, scheme):
    rng = np.random.RandomState(seed)
    params = {}
    for index in range(1, len(layer_dims)):
        n_in, n_out = layer_dims[index - 1], layer_dims[index]
        if scheme == "he":
            params[f"W{index}"] = rng.randn(n_out, n_in) * np.sqrt(2 / n_in)
            params[f"b{index}"] = np.zeros((n_out, 1))
        else:  # glorot_with_biases
            limit = np.sqrt(6 / (n_in + n_out))
            params[f"W{index}"] = rng.uniform(-limit, limit, (n_out, n_in))
            params[f"b{index}"] = rng.uniform(-limit, limit, (n_out, 1))
    return params


def random_mini_batches(X, Y, batch_size, seed):
    m = X.shape[1]
    permutation = np.random.RandomState(seed).permutation(m)
    X, Y = X[:, permutation], Y[:, permutation]
    return [(X[:, k : k + batch_size], Y[:, k : k + batch_size]) for k in range(0, m, batch_size)]


def forward_propagation(X, params, hidden):
    n_layers = len(params) // 2
    cache = [X]
    A = X
    for index in range(1, n_layers + 1):
        Z = params[f"W{index}"] @ A + params[f"b{index}"]
        if index == n_layers:
            A = sigmoid(Z)
        else:
            A = relu(Z) if hidden == "relu" else np.tanh(Z)
        cache.append(A)
    return A, cache


def compute_cost(A, Y):
    m = Y.shape[1]
    return float(np.sum(-np.log(A) * Y - np.log(1 - A) * (1 - Y)) / m)


def backward_propagation(Y, cache, params, hidden):
    n_layers = len(params) // 2
    m = Y.shape[1]
    grads = {}
    dZ = (cache[-1] - Y) / m  # sigmoid + cross-entropy
    for index in range(n_layers, 0, -1):
        A_prev = cache[index - 1]
        grads[f"dW{index}"] = dZ @ A_prev.T
        grads[f"db{index}"] = dZ.sum(axis=1, keepdims=True)
        if index > 1:
            derivative = (A_prev > 0) if hidden == "relu" else (1 - A_prev**2)
            dZ = (params[f"W{index}"].T @ dZ) * derivative
    return grads


def update_parameters_with_adam(params, grads, v, s, t, learning_rate, b1=0.9, b2=0.999, eps=1e-8):
    for name in params:
        g = grads["d" + name]
        v[name] = b1 * v[name] + (1 - b1) * g
        s[name] = b2 * s[name] + (1 - b2) * g**2
        v_corrected = v[name] / (1 - b1**t)
        s_corrected = s[name] / (1 - b2**t)
        params[name] = params[name] - learning_rate * v_corrected / np.sqrt(s_corrected + eps)
    return params, v, s


def run_mini_batch(name, epochs, rows=None):
    """A sigmoid-output workload of ``w.MINI_BATCH`` (float64): training accuracy."""
    spec = w.MINI_BATCH[name]
    X_data, y_data = spec.data(rows)
    X, Y = X_data.T, y_data.reshape(1, -1)
    params = initialize_parameters(spec.sizes, spec.init_key, spec.scheme)
    v = {key: np.zeros_like(value) for key, value in params.items()}
    s = {key: np.zeros_like(value) for key, value in params.items()}
    t, seed = 0, spec.shuffle_key
    started = time.perf_counter()
    for _ in range(epochs):
        seed += 1
        for X_batch, Y_batch in random_mini_batches(X, Y, spec.batch, seed):
            A, cache = forward_propagation(X_batch, params, spec.hidden)
            compute_cost(A, Y_batch)
            grads = backward_propagation(Y_batch, cache, params, spec.hidden)
            t += 1
            params, v, s = update_parameters_with_adam(params, grads, v, s, t, spec.learning_rate)
    seconds = time.perf_counter() - started
    A, _ = forward_propagation(X, params, spec.hidden)
    return seconds, float(((A > 0.5) == Y).mean())


if __name__ == "__main__":
    runners = {
        name: functools.partial(run_mini_batch, name) for name in ("moons-adam", "small-tanh")
    }
    w.main("numpy-seed", {"moons-gd": run_moons_gd, **runners})

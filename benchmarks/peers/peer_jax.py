"""JAX + optax on the CPU: pure functions, the whole training run fused into one ``jit``.

The strongest functional peer: every epoch is a step of a ``lax.scan``; inside an epoch the
mini-batches are another ``lax.scan`` over a ``jax.random.permutation`` of the rows, with the
last partial batch as one more update (as fnn, PyTorch and plain NumPy do). The training
function is compiled ahead of time (``jit(...).lower(...).compile()``) for exactly the arrays
it then runs on, so the timed region holds no compilation. Each workload's dtype
(``jax_enable_x64`` for float64), activations and initialisation.

    python peer_jax.py moons-gd [EPOCHS] [--rows N]
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import workloads as w

jax.config.update("jax_enable_x64", True)


def init(key, sizes, dtype, scheme):
    """[(W (n_in, n_out), b (n_out,)), ...]: moons-gd's "scaled" N(0, 0.1²), He-normal ("he") or
    W and b uniform within ±√(6 / (n_in + n_out)) ("glorot_with_biases", fnn's names)."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        key, key_W, key_b = jax.random.split(key, 3)
        if scheme == "scaled":
            W = w.MOONS_GD_INIT_SCALE * jax.random.normal(key_W, (n_in, n_out), dtype)
            b = w.MOONS_GD_INIT_SCALE * jax.random.normal(key_b, (n_out,), dtype)
        elif scheme == "he":
            W = jnp.sqrt(2.0 / n_in).astype(dtype) * jax.random.normal(key_W, (n_in, n_out), dtype)
            b = jnp.zeros((n_out,), dtype)
        else:
            limit = (6.0 / (n_in + n_out)) ** 0.5
            W = jax.random.uniform(key_W, (n_in, n_out), dtype, -limit, limit)
            b = jax.random.uniform(key_b, (n_out,), dtype, -limit, limit)
        params.append((W, b))
    return params


#: The hidden activations by name.
HIDDEN = {"relu": jax.nn.relu, "tanh": jnp.tanh}


def logits(params, X, hidden="relu"):
    for W, b in params[:-1]:
        X = HIDDEN[hidden](X @ W + b)
    W, b = params[-1]
    return X @ W + b


def binary_cross_entropy(params, X, y, hidden="relu"):
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits(params, X, hidden)[:, 0], y))


def cross_entropy(params, X, y, hidden="relu"):
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits(params, X, hidden), y))


def make_update(loss, opt):
    def update(carry, X, y):
        params, state = carry
        grads = jax.grad(loss)(params, X, y)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return update


def full_batch_training(loss, opt, epochs):
    """``train((params, state), X, y)``: ``epochs`` full-batch updates in one scan."""
    update = make_update(loss, opt)

    def train(carry, X, y):
        return jax.lax.scan(lambda c, _: (update(c, X, y), None), carry, None, length=epochs)[0]

    return train


def minibatch_training(loss, opt, epochs, batch_size):
    """``train((params, state), X, y, key)``: shuffled mini-batch epochs, scans all the way."""
    update = make_update(loss, opt)

    def train(carry, X, y, key):
        n_full, rest = divmod(X.shape[0], batch_size)

        def batch(carry, rows):
            return update(carry, X[rows], y[rows]), None

        def epoch(carry, key):
            order = jax.random.permutation(key, X.shape[0])
            batches = order[: n_full * batch_size].reshape(n_full, batch_size)
            carry = jax.lax.scan(batch, carry, batches)[0]
            if rest:
                rows = order[n_full * batch_size :]
                carry = update(carry, X[rows], y[rows])
            return carry, None

        return jax.lax.scan(epoch, carry, jax.random.split(key, epochs))[0]

    return train


def timed(train, *args):
    """Compile ``train`` for these arguments, then time one run of it: (seconds, result)."""
    compiled = jax.jit(train).lower(*args).compile()
    started = time.perf_counter()
    result = jax.block_until_ready(compiled(*args))
    return time.perf_counter() - started, result


def run_moons_gd(epochs, rows=None):
    X_train, X_test, y_train, y_test = w.moons_gd_data(rows)
    params = init(jax.random.key(2), w.MOONS_GD_SIZES, jnp.float64, "scaled")
    opt = optax.sgd(w.MOONS_GD_LEARNING_RATE)
    train = full_batch_training(binary_cross_entropy, opt, epochs)
    X, y = jnp.asarray(X_train), jnp.asarray(y_train, jnp.float64)
    seconds, (params, _) = timed(train, (params, opt.init(params)), X, y)
    predicted = np.asarray(logits(params, jnp.asarray(X_test))[:, 0] > 0)
    return seconds, (predicted == y_test).mean()


def run_mini_batch(name, epochs, rows=None):
    """A workload of ``w.MINI_BATCH``: Adam on shuffled mini-batches, training accuracy."""
    spec = w.MINI_BATCH[name]
    X_data, y_data = spec.data(rows)
    dtype = jnp.dtype(spec.dtype)
    params = init(jax.random.key(spec.init_key), spec.sizes, dtype, spec.scheme)
    opt = optax.adam(spec.learning_rate)
    binary = spec.output == "sigmoid"
    loss = functools.partial(binary_cross_entropy if binary else cross_entropy, hidden=spec.hidden)
    train = minibatch_training(loss, opt, epochs, spec.batch)
    X, y = jnp.asarray(X_data, dtype), jnp.asarray(y_data, dtype if binary else None)
    key = jax.random.key(spec.shuffle_key)
    seconds, (params, _) = timed(train, (params, opt.init(params)), X, y, key)
    assert params[0][0].dtype == dtype
    out = logits(params, X, spec.hidden)
    predicted = np.asarray(out[:, 0] > 0 if binary else out.argmax(axis=1))
    return seconds, (predicted == y_data).mean()


def run_ensemble_64(epochs, rows=None):
    """moons-adam's training loop ``vmap``-ed over 64 members (init and shuffle keys 0..63)."""
    X_data, y_data = w.moons_adam_data(rows)
    members = jnp.arange(w.ENSEMBLE_MEMBERS)
    params = jax.vmap(lambda k: init(jax.random.key(k), w.MOONS_ADAM_SIZES, jnp.float64, "he"))(
        members
    )
    opt = optax.adam(w.MOONS_ADAM_LEARNING_RATE)
    train = minibatch_training(binary_cross_entropy, opt, epochs, w.MOONS_ADAM_BATCH)
    train_all = jax.vmap(train, in_axes=(0, None, None, 0))
    X, y = jnp.asarray(X_data), jnp.asarray(y_data, jnp.float64)
    carry = (params, jax.vmap(opt.init)(params))
    seconds, (params, _) = timed(train_all, carry, X, y, jax.vmap(jax.random.key)(members))
    predicted = np.asarray(jax.vmap(logits, in_axes=(0, None))(params, X)[..., 0] > 0)
    return seconds, (predicted == y_data).mean()


if __name__ == "__main__":
    w.main(
        "jax",
        {
            "moons-gd": run_moons_gd,
            "ensemble-64": run_ensemble_64,
            **{name: functools.partial(run_mini_batch, name) for name in w.MINI_BATCH},
        },
    )

"""Bad input: every public function raises a one-line TypeError/ValueError naming the argument,
and nothing the caller passed in changes (values, dtypes or flags), even when it raises."""

from __future__ import annotations

import copy
import os
import tempfile
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fnn
from fnn.schedules import CosineDecay, StepDecay

# Tiny shared problems (built once; every case below reuses them).
NET = fnn.mlp([2, 3, 1])  # relu/sigmoid, bce
NET_CE = fnn.mlp([2, 3, 3], output="softmax")
NET_MSE = fnn.mlp([2, 3, 2], output="identity")
OTHER = fnn.mlp([3, 4, 1])
P = fnn.init(NET, key=0)
P_CE = fnn.init(NET_CE, key=1)
P_MSE = fnn.init(NET_MSE, key=2)
P_OTHER = fnn.init(OTHER, key=3)
P_1 = fnn.init(fnn.mlp([2, 1]), key=4)
P32 = fnn.init(NET, key=0, dtype=np.float32)
X = np.random.default_rng(0).normal(size=(4, 2))
Y = np.array([0, 1, 1, 0])
Y_CE = np.array([0, 2, 1, 2])
Y_MSE = np.ones((4, 2))
G = fnn.grad(NET, P, X, Y)
ADAM = fnn.adam()
S_ADAM = fnn.opt_init(ADAM, P)
S_SGD = fnn.opt_init(fnn.sgd(0.1), P)
NOWHERE = os.path.join(tempfile.gettempdir(), "fnn-test-errors-never-written.npz")


def fit(**kwargs):
    """``fnn.fit`` on the tiny bce problem with the keyword overrides."""
    args = dict(net=NET, params=P, opt=fnn.sgd(0.1), X=X, y=Y, epochs=2)
    args.update(kwargs)
    return (fnn.fit, (), args)


def call(fn, *args, **kwargs):
    return (fn, args, kwargs)


def with_nan(array, index=(1, 0)):
    array = np.array(array, dtype=float)
    array[index] = np.nan
    return array


def read_only(array):
    array = np.array(array)
    array.setflags(write=False)
    return array


def sched(value):
    return fnn.sgd(lambda step: value)


def params_as(kind, params):
    """``params`` with every W and b turned into an ndarray subclass (``kind(array)``)."""
    with warnings.catch_warnings():  # np.matrix is pending deprecation: that is the point
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return fnn.Params(tuple(fnn.Layer(kind(W), kind(b)) for W, b in params.layers))


def cache_with(activations=None, preactivations=None):
    """The forward Cache of the tiny bce problem with the given fields replaced."""
    cache = fnn.forward(NET, P, X)[1]
    return fnn.Cache(
        cache.activations if activations is None else activations,
        cache.preactivations if preactivations is None else preactivations,
    )


def nan_cache():
    """A forward Cache of the tiny bce problem with one NaN pre-activation."""
    cache = fnn.forward(NET, P, X)[1]
    Z = [np.array(z) for z in cache.preactivations]
    Z[0][0, 0] = np.nan
    return cache._replace(preactivations=tuple(Z))


# (id, call, exception type, text that the message must contain: the argument's name)
CASES = [
    # network specs
    ("mlp-one-size", call(fnn.mlp, [2]), ValueError, "sizes"),
    ("mlp-zero-width", call(fnn.mlp, [2, 0, 1]), ValueError, "sizes[1]"),
    ("mlp-float-width", call(fnn.mlp, [2, 2.5, 1]), TypeError, "sizes[1]"),
    ("mlp-bool-width", call(fnn.mlp, [2, True, 1]), TypeError, "sizes[1]"),
    ("mlp-string-sizes", call(fnn.mlp, "231"), TypeError, "sizes"),
    ("mlp-unknown-hidden", call(fnn.mlp, [2, 3, 1], hidden="swish"), ValueError, "hidden"),
    ("mlp-softmax-hidden", call(fnn.mlp, [2, 3, 1], hidden="softmax"), ValueError, "hidden"),
    ("mlp-unknown-output", call(fnn.mlp, [2, 3, 1], output="swish"), ValueError, "output"),
    ("mlp-hidden-count", call(fnn.mlp, [2, 3, 4, 1], hidden=["elu"]), ValueError, "hidden must"),
    (
        "mlp-hidden-entry",
        call(fnn.mlp, [2, 3, 4, 1], hidden=["elu", "tanh!"]),
        ValueError,
        "hidden[1]",
    ),
    ("mlp-hidden-kind", call(fnn.mlp, [2, 3, 1], hidden=3), TypeError, "hidden must be one"),
    ("mlp-softmax-one-unit", call(fnn.mlp, [2, 3, 1], output="softmax"), ValueError, "sizes"),
    ("mlp-unknown-loss", call(fnn.mlp, [2, 1], loss="hinge"), ValueError, "loss"),
    ("mlp-dropout-one", call(fnn.mlp, [2, 3, 1], dropout=1.0), ValueError, "dropout must be in"),
    ("mlp-dropout-below", call(fnn.mlp, [2, 3, 3, 1], dropout=[0, -0.5]), ValueError, "dropout[1]"),
    ("mlp-dropout-count", call(fnn.mlp, [2, 3, 3, 1], dropout=[0.1]), ValueError, "dropout must"),
    ("mlp-dropout-nan", call(fnn.mlp, [2, 3, 1], dropout=np.nan), ValueError, "dropout must be"),
    ("mlp-dropout-kind", call(fnn.mlp, [2, 3, 1], dropout="0.2"), TypeError, "dropout must be"),
    ("net-dropout", call(fnn.forward, NET._replace(dropout=(0.1, 0.2)), P, X), ValueError, "1 ent"),
    ("grad-dropout-key", call(fnn.grad, NET, P, X, Y, dropout_key=-1), ValueError, "dropout_key"),
    ("loss-dropout-key", call(fnn.loss, NET, P, X, Y, dropout_key="a"), TypeError, "dropout_key"),
    ("fwd-dropout-key", call(fnn.forward, NET, P, X, dropout_key=1.5), TypeError, "dropout_key"),
    ("predict-mc-samples", call(fnn.predict_mc, NET, P, X, samples=0), ValueError, "samples must"),
    ("predict-mc-key", call(fnn.predict_mc, NET, P, X, key=-3), ValueError, "key must be"),
    ("predict-mc-X", call(fnn.predict_mc, NET, P, np.ones((4, 5))), ValueError, "X must have 2"),
    ("mlp-loss-not-str", call(fnn.mlp, [2, 1], loss=5), TypeError, "loss"),
    ("mlp-loss-mismatch", call(fnn.mlp, [2, 1], output="sigmoid", loss="ce"), ValueError, "loss"),
    (
        "mlp-delta-zero",
        call(fnn.mlp, [2, 1], output="identity", loss="huber", delta=0.0),
        ValueError,
        "delta",
    ),
    (
        "mlp-delta-nan",
        call(fnn.mlp, [2, 1], output="identity", loss="huber", delta=np.nan),
        ValueError,
        "delta",
    ),
    (
        "mlp-delta-str",
        call(fnn.mlp, [2, 1], output="identity", loss="huber", delta="1"),
        TypeError,
        "delta",
    ),
    (
        "mlp-delta-not-huber",
        call(fnn.mlp, [2, 1], output="identity", delta=2.0),
        ValueError,
        "delta",
    ),
    (
        "handmade-net-delta",
        call(
            fnn.loss,
            fnn.Net((2, 1), ("identity",), "huber", loss_params=(-1.0,)),
            P_1,
            X,
            [0.0, 1, 1, 0],
        ),
        ValueError,
        "net.loss_params[0] (delta) must be in (0.0, inf]",
    ),
    (
        "handmade-net-loss-params-length",
        call(
            fnn.loss,
            fnn.Net((2, 1), ("identity",), "mse", loss_params=(1.0,)),
            P_1,
            X,
            [0.0, 1, 1, 0],
        ),
        ValueError,
        "net.loss_params must be",
    ),
    (
        "mlp-loss-params-unknown",
        call(fnn.mlp, [2, 1], output="identity", loss="huber", loss_params={"tau": 0.5}),
        ValueError,
        "loss_params['tau'] is not a parameter of loss 'huber'",
    ),
    (
        "mlp-loss-params-not-dict",
        call(fnn.mlp, [2, 1], output="identity", loss="huber", loss_params=[0.5]),
        TypeError,
        "loss_params must be a dict",
    ),
    (
        "mlp-delta-twice",
        call(
            fnn.mlp, [2, 1], output="identity", loss="huber", delta=2.0, loss_params={"delta": 2.0}
        ),
        ValueError,
        "delta is given twice",
    ),
    (
        "poisson-negative-target",
        call(fnn.grad, fnn.mlp([2, 1], output="identity", loss="poisson"), P_1, X, [1, 0, -2, 1]),
        ValueError,
        "y",
    ),
    (
        "arch-dims-do-not-chain",
        call(
            fnn.from_architecture,
            [
                {"input_dim": 2, "output_dim": 3, "activation": "relu"},
                {"input_dim": 4, "output_dim": 1, "activation": "sigmoid"},
            ],
        ),
        ValueError,
        "architecture[1]['input_dim']",
    ),  # fmt: skip
    (
        "arch-missing-key",
        call(fnn.from_architecture, [{"input_dim": 2}]),
        ValueError,
        "architecture[0]",
    ),
    ("arch-not-a-list", call(fnn.from_architecture, {"input_dim": 2}), TypeError, "architecture"),
    ("arch-empty", call(fnn.from_architecture, []), ValueError, "architecture"),
    (
        "arch-softmax-one-unit",
        call(fnn.from_architecture, [{"input_dim": 2, "output_dim": 1, "activation": "softmax"}]),
        ValueError,
        "architecture[0]['output_dim'] must be >= 2",
    ),
    (
        "arch-loss-mismatch",
        call(
            fnn.from_architecture,
            [{"input_dim": 2, "output_dim": 1, "activation": "sigmoid"}],
            loss="ce",
        ),
        ValueError,
        "got architecture[0]['activation'] 'sigmoid'",
    ),
    (
        "handmade-net-activations",
        call(fnn.init, fnn.Net((2, 3, 1), ("relu",), "bce")),
        ValueError,
        "net.activations",
    ),
    (
        "handmade-net-loss",
        call(fnn.forward, fnn.Net((2, 3, 1), ("relu", "sigmoid"), "l1"), P, X),
        ValueError,
        "net.loss",
    ),
    (
        "handmade-net-width",
        call(fnn.grad, fnn.Net((2, -3, 1), ("relu", "sigmoid"), "bce"), P, X, Y),
        ValueError,
        "net.sizes[1]",
    ),
    ("sgd-clip-zero", call(fnn.sgd, 0.1, clip_norm=0.0), ValueError, "clip_norm"),
    ("adam-clip-negative", call(fnn.adam, clip_norm=-1.0), ValueError, "clip_norm"),
    ("adamw-clip-nan", call(fnn.adamw, clip_norm=np.nan), ValueError, "clip_norm"),
    ("momentum-clip-str", call(fnn.momentum, 0.1, clip_norm="1"), TypeError, "clip_norm"),
    (
        "handmade-config-clip",
        call(fnn.opt_step, fnn.types.SGD(0.1, -2.0), P, G, S_SGD),
        ValueError,
        "clip_norm",
    ),
    ("init-not-a-net", call(fnn.init, [2, 3, 1]), TypeError, "net"),
    ("init-unknown-scheme", call(fnn.init, NET, scheme="xavier"), ValueError, "scheme"),
    ("init-int-dtype", call(fnn.init, NET, dtype=np.int32), TypeError, "dtype"),
    ("init-float16-dtype", call(fnn.init, NET, dtype=np.float16), TypeError, "dtype"),
    ("init-negative-key", call(fnn.init, NET, key=-1), ValueError, "key"),
    ("init-float-key", call(fnn.init, NET, key=1.5), TypeError, "key"),
    # X
    ("X-1d", call(fnn.forward, NET, P, np.ones(4)), ValueError, "X"),
    ("X-3d", call(fnn.forward, NET, P, np.ones((4, 2, 1))), ValueError, "X"),
    ("X-features", call(fnn.forward, NET, P, np.ones((4, 3))), ValueError, "X"),
    ("X-empty", call(fnn.predict, NET, P, np.ones((0, 2))), ValueError, "X"),
    ("X-nan", call(fnn.forward, NET, P, with_nan(X)), ValueError, "X"),
    ("X-inf", call(fnn.predict_proba, NET, P, [[1.0, np.inf]]), ValueError, "X"),
    ("X-overflows-float32", call(fnn.forward, NET, P32, [[1e300, 0.0]]), ValueError, "X"),
    ("X-bool", call(fnn.forward, NET, P, X > 0), TypeError, "X"),
    ("X-complex", call(fnn.forward, NET, P, X + 1j), TypeError, "X"),
    ("X-object", call(fnn.forward, NET, P, X.astype(object)), TypeError, "X"),
    ("X-strings", call(fnn.forward, NET, P, [["a", "b"]]), TypeError, "X"),
    ("X-ragged", call(fnn.forward, NET, P, [[1.0, 2.0], [1.0]]), TypeError, "X"),
    ("X-none", call(fnn.loss, NET, P, None, Y), TypeError, "X"),
    # y
    ("y-rows", call(fnn.loss, NET, P, X, Y[:3]), ValueError, "y"),
    ("y-3d", call(fnn.loss, NET, P, X, Y.reshape(4, 1, 1)), ValueError, "y"),
    ("y-nan-mse", call(fnn.loss, NET_MSE, P_MSE, X, with_nan(Y_MSE)), ValueError, "y"),
    ("y-inf-mse", call(fnn.grad, NET_MSE, P_MSE, X, Y_MSE * np.inf), ValueError, "y"),
    ("y-width-mse", call(fnn.grad, NET_MSE, P_MSE, X, np.ones((4, 3))), ValueError, "y"),
    ("y-1d-multi-output-mse", call(fnn.grad, NET_MSE, P_MSE, X, np.ones(4)), ValueError, "y"),
    ("y-bce-two", call(fnn.grad, NET, P, X, [0, 1, 2, 0]), ValueError, "y"),
    ("y-bce-half", call(fnn.value_and_grad, NET, P, X, [0, 1, 0.5, 0]), ValueError, "y"),
    ("y-bce-nan", call(fnn.loss, NET, P, X, with_nan(Y, 1)), ValueError, "y"),
    ("y-bce-negative", call(fnn.accuracy, NET, P, X, [0, -1, 1, 0]), ValueError, "y"),
    ("y-bool", call(fnn.grad, NET, P, X, Y > 0), TypeError, "y"),
    ("y-strings", call(fnn.grad, NET, P, X, ["0", "1", "1", "0"]), TypeError, "y"),
    ("y-ce-too-big", call(fnn.grad, NET_CE, P_CE, X, [0, 1, 3, 2]), ValueError, "y"),
    ("y-ce-negative", call(fnn.grad, NET_CE, P_CE, X, [0, 1, -1, 2]), ValueError, "y"),
    ("y-ce-fraction", call(fnn.grad, NET_CE, P_CE, X, [0, 1, 1.5, 2]), ValueError, "y"),
    ("y-ce-nan", call(fnn.loss, NET_CE, P_CE, X, with_nan(Y_CE, 0)), ValueError, "y"),
    ("y-ce-onehot-width", call(fnn.grad, NET_CE, P_CE, X, np.eye(4)[:, :2]), ValueError, "y"),
    ("y-ce-onehot-two-ones", call(fnn.grad, NET_CE, P_CE, X, np.ones((4, 3))), ValueError, "y"),
    ("y-ce-onehot-no-ones", call(fnn.grad, NET_CE, P_CE, X, np.zeros((4, 3))), ValueError, "y"),
    # l2
    ("l2-negative", call(fnn.loss, NET, P, X, Y, l2=-0.1), ValueError, "l2"),
    ("l2-nan", call(fnn.grad, NET, P, X, Y, l2=np.nan), ValueError, "l2"),
    ("l2-string", call(fnn.grad, NET, P, X, Y, l2="0.1"), TypeError, "l2"),
    # params
    ("params-other-net", call(fnn.grad, NET, P_OTHER, X, Y), ValueError, "params"),
    (
        "params-int",
        call(
            fnn.forward,
            NET,
            fnn.Params(
                tuple(fnn.Layer(layer.W.astype(int), layer.b.astype(int)) for layer in P.layers)
            ),
            X,
        ),
        TypeError,
        "params.layers[0].W",
    ),  # fmt: skip
    (
        "params-mixed-dtypes",
        call(fnn.forward, NET, fnn.Params((P.layers[0], P32.layers[1])), X),
        TypeError,
        "params.layers[1].W",
    ),  # fmt: skip
    ("params-not-params", call(fnn.forward, NET, {"W": 1}, X), TypeError, "params"),
    ("params-layers-int", call(fnn.forward, NET, fnn.Params(5), X), TypeError, "params.layers"),
    (
        "params-plain-tuples",
        call(fnn.forward, NET, fnn.Params(((P.layers[0].W, P.layers[0].b), tuple(P.layers[1]))), X),
        TypeError,
        "params.layers[0]",
    ),  # fmt: skip
    (
        "params-list-arrays",
        call(
            fnn.forward,
            NET,
            fnn.Params(tuple(fnn.Layer(layer.W.tolist(), layer.b.tolist()) for layer in P.layers)),
            X,
        ),
        TypeError,
        "params.layers[0].W",
    ),  # fmt: skip
    # backward's cache
    (
        "cache-other-net",
        call(fnn.backward, NET, P, fnn.forward(OTHER, P_OTHER, X[:, [0, 1, 1]])[1], Y),
        ValueError,
        "cache.activations[0]",
    ),  # fmt: skip
    (
        "cache-deeper-net",
        call(
            fnn.backward,
            NET,
            P,
            fnn.forward(fnn.mlp([2, 2, 2, 1]), fnn.init(fnn.mlp([2, 2, 2, 1])), X)[1],
            Y,
        ),
        ValueError,
        "cache.activations must hold 3 arrays",
    ),  # fmt: skip
    ("cache-not-cache", call(fnn.backward, NET, P, (X,), Y), TypeError, "cache"),
    (
        "cache-fields-none",
        call(fnn.backward, NET, P, fnn.Cache(None, None), Y),
        TypeError,
        "cache.activations must be a tuple of 3 arrays",
    ),
    (
        "cache-zs-none",
        call(fnn.backward, NET, P, cache_with(preactivations=(None, None)), Y),
        TypeError,
        "cache.preactivations[0] must be a numeric array, got None",
    ),
    (
        "cache-as-none",
        call(fnn.backward, NET, P, cache_with(activations=(X, None, None)), Y),
        TypeError,
        "cache.activations[1] must be a numeric array, got None",
    ),
    (
        "cache-zs-strings",
        call(fnn.backward, NET, P, cache_with(preactivations=("ab", "cd")), Y),
        TypeError,
        "cache.preactivations[0]",
    ),
    (
        "cache-zs-count",
        call(fnn.backward, NET, P, cache_with(preactivations=(X,)), Y),
        ValueError,
        "cache.preactivations must hold 2 arrays",
    ),
    (
        "cache-zs-shape",
        call(fnn.backward, NET, P, cache_with(preactivations=(X, X)), Y),
        ValueError,
        "cache.preactivations[0] must have shape (4, 3)",
    ),
    (
        "cache-X-1d",
        call(fnn.backward, NET, P, cache_with(activations=(X[0], X, X)), Y),
        ValueError,
        "cache.activations[0] must have shape (n_samples, 2)",
    ),
    (
        "cache-rows-vs-y",
        call(fnn.backward, NET, P, fnn.forward(NET, P, X)[1], Y[:2]),
        ValueError,
        "y",
    ),
    # optimizer configs and schedules
    ("sgd-zero-lr", call(fnn.sgd, 0.0), ValueError, "learning_rate"),
    ("sgd-negative-lr", call(fnn.sgd, -0.1), ValueError, "learning_rate"),
    ("sgd-string-lr", call(fnn.sgd, "0.1"), TypeError, "learning_rate"),
    ("adam-b1-one", call(fnn.adam, b1=1.0), ValueError, "b1"),
    ("adam-b2-negative", call(fnn.adam, b2=-0.1), ValueError, "b2"),
    ("adam-eps-negative", call(fnn.adam, eps=-1e-8), ValueError, "eps"),
    ("momentum-beta", call(fnn.momentum, 0.1, beta=1.5), ValueError, "beta"),
    ("rmsprop-eps-nan", call(fnn.rmsprop, 0.1, eps=np.nan), ValueError, "eps"),
    ("adamw-decay", call(fnn.adamw, weight_decay=-0.01), ValueError, "weight_decay"),
    ("step-decay-drop", call(fnn.step_decay, 0.1, drop=1.5, every=10), ValueError, "drop"),
    ("step-decay-every", call(fnn.step_decay, 0.1, drop=0.5, every=0), ValueError, "every"),
    ("exp-decay-steps", call(fnn.exponential_decay, 0.1, 0.5, 0), ValueError, "decay_steps"),
    ("inv-time-rate", call(fnn.inverse_time_decay, 0.1, -1.0, 10), ValueError, "rate"),
    ("cosine-alpha", call(fnn.cosine_decay, 0.1, 10, alpha=2.0), ValueError, "alpha"),
    (
        "handmade-adam",
        call(fnn.opt_step, fnn.Adam(-1.0), P, G, S_ADAM),
        ValueError,
        "learning_rate",
    ),
    ("handmade-adam-b1", call(fnn.opt_init, fnn.Adam(1e-3, b1=1.0), P), ValueError, "b1"),
    (
        "handmade-schedule",
        call(fnn.opt_step, fnn.SGD(StepDecay(0.1, 0.5, 0)), P, G, S_SGD),
        ValueError,
        "every",
    ),  # fmt: skip
    (
        "handmade-cosine",
        call(fnn.opt_step, fnn.SGD(CosineDecay(0.1, -5)), P, G, S_SGD),
        ValueError,
        "decay_steps",
    ),  # fmt: skip
    (
        "schedule-negative",
        call(fnn.opt_step, sched(-0.1), P, G, S_SGD),
        ValueError,
        "learning_rate",
    ),
    ("schedule-nan", call(fnn.opt_step, sched(np.nan), P, G, S_SGD), ValueError, "learning_rate"),
    ("schedule-string", call(fnn.opt_step, sched("big"), P, G, S_SGD), TypeError, "learning_rate"),
    ("schedule-none", call(fnn.opt_step, sched(None), P, G, S_SGD), TypeError, "learning_rate"),
    # opt_init / opt_step
    ("opt-not-config", call(fnn.opt_init, "adam", P), TypeError, "opt"),
    ("opt-init-empty-params", call(fnn.opt_init, ADAM, fnn.Params(())), TypeError, "params"),
    (
        "opt-init-1d-W",
        call(fnn.opt_init, ADAM, fnn.Params((fnn.Layer(np.ones(2), np.ones(2)),))),
        TypeError,
        "params.layers[0].W",
    ),  # fmt: skip
    ("state-other-optimizer", call(fnn.opt_step, ADAM, P, G, S_SGD), ValueError, "state"),
    (
        "state-other-net",
        call(fnn.opt_step, ADAM, P, G, fnn.opt_init(ADAM, P_OTHER)),
        ValueError,
        "state.slots[0]",
    ),  # fmt: skip
    (
        "state-float32",
        call(fnn.opt_step, ADAM, P, G, fnn.opt_init(ADAM, P32)),
        TypeError,
        "state.slots[0]",
    ),  # fmt: skip
    (
        "state-negative-step",
        call(fnn.opt_step, ADAM, P, G, S_ADAM._replace(step=-1)),
        ValueError,
        "state.step",
    ),  # fmt: skip
    (
        "state-huge-step",
        call(fnn.opt_step, ADAM, P, G, S_ADAM._replace(step=2**70)),
        ValueError,
        "state.step",
    ),  # fmt: skip
    (
        "fit-state-huge-step",
        fit(opt=ADAM, opt_state=S_ADAM._replace(step=2**64)),
        ValueError,
        "opt_state.step",
    ),  # fmt: skip
    ("state-not-state", call(fnn.opt_step, ADAM, P, G, S_ADAM.slots), TypeError, "state"),
    ("grads-other-net", call(fnn.opt_step, ADAM, P, P_OTHER, S_ADAM), ValueError, "grads"),
    ("grads-float32", call(fnn.opt_step, ADAM, P, P32, S_ADAM), TypeError, "grads"),
    # fit
    ("fit-epochs-negative", fit(epochs=-1), ValueError, "epochs"),
    ("fit-epochs-float", fit(epochs=2.0), TypeError, "epochs"),
    ("fit-batch-zero", fit(batch_size=0), ValueError, "batch_size"),
    ("fit-batch-float", fit(batch_size=2.5), TypeError, "batch_size"),
    ("fit-key-negative", fit(key=-3), ValueError, "key"),
    ("fit-key-huge", fit(key=2**64), ValueError, "key"),
    # huge integers: refused, naming the argument, before any allocation
    ("fit-epochs-2**63", fit(epochs=2**63), ValueError, "epochs"),
    ("fit-epochs-overflow-steps", fit(epochs=2**62, batch_size=1), ValueError, "epochs"),
    ("minibatches-2**64", call(fnn.minibatches, 0, 2**64, 2), ValueError, "n_samples"),
    ("minibatches-huge-full", call(fnn.minibatches, 0, 2**63 - 1, None), ValueError, "n_samples"),
    ("mlp-width-2**63", call(fnn.mlp, [2, 2**63, 1]), ValueError, "sizes[1]"),
    ("mlp-too-many-params", call(fnn.mlp, [2**30, 2**31, 1]), ValueError, "sizes"),
    ("step-decay-every-2**64", call(fnn.step_decay, 0.1, 0.1, 2**64), ValueError, "every"),
    ("cosine-decay-2**64", call(fnn.cosine_decay, 0.1, 2**64), ValueError, "decay_steps"),
    ("fold-in-data-2**64", call(fnn.fold_in, 0, 2**64 + 5), ValueError, "data"),
    ("init-key-2**64", call(fnn.init, NET, key=2**64), ValueError, "key"),
    # one rule per kind of check
    (
        "exp-decay-staircase-str",
        call(fnn.exponential_decay, 0.1, 0.5, 10, staircase="no"),
        TypeError,
        "staircase",
    ),
    ("mlp-0d-array", call(fnn.mlp, np.array(3)), TypeError, "sizes"),
    ("fit-callback-array", fit(callback=lambda *_: np.array([1, 2])), TypeError, "callback"),
    (
        "forward-masked-params",
        call(fnn.forward, NET, params_as(np.ma.masked_array, P), X),
        TypeError,
        "params",
    ),
    ("grad-matrix-params", call(fnn.grad, NET, params_as(np.matrix, P), X, Y), TypeError, "params"),
    ("standardizer-no-columns", call(fnn.standardizer, np.zeros((4, 0))), ValueError, "X"),
    ("backward-nan-cache", call(fnn.backward, NET, P, nan_cache(), Y), ValueError, "cache"),
    (
        "fit-validation-overflows",
        fit(
            net=NET_MSE,
            params=P_MSE,
            y=Y_MSE,
            validation=(X * 1e200, Y_MSE),
            early_stopping=fnn.early_stopping(patience=2),
        ),
        FloatingPointError,
        "val_loss is not finite at epoch 0",
    ),  # fmt: skip
    ("fit-l2-negative", fit(l2=-1.0), ValueError, "l2"),
    ("fit-X-nan", fit(X=with_nan(X)), ValueError, "X"),
    ("fit-y-labels", fit(y=[0, 1, 2, 0]), ValueError, "y"),
    ("fit-val-features", fit(validation=(X[:, :1], Y)), ValueError, "validation[0]"),
    ("fit-val-rows", fit(validation=(X, Y[:3])), ValueError, "validation[1]"),
    ("fit-val-labels", fit(validation=(X, [0, 1, 2, 3])), ValueError, "validation[1]"),
    ("fit-val-not-pair", fit(validation=X), TypeError, "validation"),
    ("fit-val-weights-shape", fit(validation=(X, Y, [1.0, 2.0])), ValueError, "validation[2]"),
    ("fit-val-four", fit(validation=(X, Y, None, None)), TypeError, "validation"),
    ("fit-weight-negative", fit(sample_weight=[1, -1, 1, 1]), ValueError, "sample_weight"),
    ("fit-weight-nan", fit(sample_weight=[1, np.nan, 1, 1]), ValueError, "sample_weight"),
    ("fit-weight-inf", fit(sample_weight=[1, np.inf, 1, 1]), ValueError, "sample_weight"),
    ("fit-weight-shape", fit(sample_weight=np.ones((4, 2))), ValueError, "sample_weight"),
    ("fit-weight-rows", fit(sample_weight=[1.0, 1.0]), ValueError, "sample_weight"),
    ("fit-weight-zeros", fit(sample_weight=np.zeros(4)), ValueError, "sample_weight"),
    ("fit-weight-bool", fit(sample_weight=np.ones(4, bool)), TypeError, "sample_weight"),
    ("fit-weight-text", fit(sample_weight="1111"), TypeError, "sample_weight"),
    ("fit-class-weight-name", fit(class_weight="auto"), ValueError, "class_weight"),
    ("fit-class-weight-class", fit(class_weight={2: 1.0}), ValueError, "class_weight"),
    ("fit-class-weight-key", fit(class_weight={"a": 1.0}), TypeError, "class_weight"),
    ("fit-class-weight-negative", fit(class_weight={1: -2.0}), ValueError, "class_weight[1]"),
    ("fit-class-weight-nan", fit(class_weight={0: np.nan}), ValueError, "class_weight[0]"),
    ("fit-class-weight-list", fit(class_weight=[1.0, 2.0]), TypeError, "class_weight"),
    ("fit-class-weight-all-zero", fit(class_weight={0: 0, 1: 0}), ValueError, "class_weight"),
    (
        "fit-class-weight-regression",
        fit(net=NET_MSE, params=P_MSE, y=Y_MSE, class_weight="balanced"),
        ValueError,
        "class_weight",
    ),
    (
        "loss-weight-negative",
        call(fnn.loss, NET, P, X, Y, 0.0, [1, 1, -1, 1]),
        ValueError,
        "sample_weight",
    ),  # fmt: skip
    (
        "grad-weight-rows",
        call(fnn.grad, NET, P, X, Y, sample_weight=[1, 2]),
        ValueError,
        "sample_weight",
    ),  # fmt: skip
    (
        "value-and-grad-weight-float32-overflow",
        call(fnn.value_and_grad, NET, P32, X, Y, sample_weight=[1, 1e300, 1, 1]),
        ValueError,
        "sample_weight",
    ),
    ("fit-es-patience", fit(early_stopping=fnn.EarlyStopping(patience=0)), ValueError, "patience"),
    (
        "fit-es-min-delta",
        fit(early_stopping=fnn.EarlyStopping(min_delta=-1.0)),
        ValueError,
        "min_delta",
    ),  # fmt: skip
    ("fit-es-not-config", fit(early_stopping=10), TypeError, "early_stopping"),
    ("fit-callback", fit(callback=5), TypeError, "callback"),
    ("fit-progress", fit(progress="no"), TypeError, "progress"),
    ("fit-opt-state-other-opt", fit(opt_state=S_ADAM), ValueError, "opt_state"),
    (
        "fit-opt-state-other-net",
        fit(opt=ADAM, opt_state=fnn.opt_init(ADAM, P_OTHER)),
        ValueError,
        "opt_state.slots[0]",
    ),  # fmt: skip
    ("fit-schedule-negative", fit(opt=sched(-1.0)), ValueError, "learning_rate"),
    ("fit-handmade-opt", fit(opt=fnn.Momentum(0.1, beta=2.0)), ValueError, "beta"),
    ("warmup-steps", call(fnn.warmup, 0.1, 0), ValueError, "steps"),
    ("warmup-start", call(fnn.warmup, 0.1, 5, start=-1.0), ValueError, "start"),
    ("warmup-schedule-zero", call(fnn.warmup, 0.0, 5), ValueError, "schedule"),
    ("warmup-schedule-function", call(fnn.warmup, lambda t: 0.1, 5), TypeError, "schedule"),
    ("warmup-bad-inner", call(fnn.warmup, StepDecay(0.1, 2.0, 3), 5), ValueError, "drop"),
    ("one-cycle-rate", call(fnn.one_cycle, 0.0, 100), ValueError, "max_learning_rate"),
    ("one-cycle-total", call(fnn.one_cycle, 0.1, 1), ValueError, "total_steps"),
    ("one-cycle-pct", call(fnn.one_cycle, 0.1, 100, pct_start=1.0), ValueError, "pct_start"),
    ("one-cycle-short-phase", call(fnn.one_cycle, 0.1, 4, pct_start=0.2), ValueError, "pct_start"),
    ("one-cycle-anneal", call(fnn.one_cycle, 0.1, 100, anneal="exp"), ValueError, "anneal"),
    ("one-cycle-div", call(fnn.one_cycle, 0.1, 100, div_factor=0), ValueError, "div_factor"),
    (
        "one-cycle-final-div",
        call(fnn.one_cycle, 0.1, 100, final_div_factor=-1.0),
        ValueError,
        "final_div_factor",
    ),
    (
        "one-cycle-three-phase",
        call(fnn.one_cycle, 0.1, 100, three_phase="yes"),
        TypeError,
        "three_phase",
    ),
    ("plateau-factor", call(fnn.reduce_on_plateau, factor=1.0), ValueError, "factor"),
    ("plateau-patience", call(fnn.reduce_on_plateau, patience=-1), ValueError, "patience"),
    ("plateau-min-delta", call(fnn.reduce_on_plateau, min_delta=-0.1), ValueError, "min_delta"),
    ("plateau-min-lr", call(fnn.reduce_on_plateau, min_lr=float("nan")), ValueError, "min_lr"),
    ("plateau-cooldown", call(fnn.reduce_on_plateau, cooldown=1.5), TypeError, "cooldown"),
    ("plateau-eps", call(fnn.reduce_on_plateau, eps=-1.0), ValueError, "eps"),
    (
        "fit-plateau-kind",
        fit(reduce_on_plateau=fnn.early_stopping()),
        TypeError,
        "reduce_on_plateau",
    ),
    (
        "fit-plateau-handmade",
        fit(reduce_on_plateau=fnn.ReduceOnPlateau(factor=2.0)),
        ValueError,
        "reduce_on_plateau.factor",
    ),
    (
        "fit-plateau-state-kind",
        fit(opt_state=S_SGD._replace(plateau=(1.0, 0.0, 0, 0))),
        TypeError,
        "opt_state.plateau",
    ),
    (
        "fit-plateau-state-scale",
        fit(opt_state=S_SGD._replace(plateau=fnn.Plateau(scale=0.0))),
        ValueError,
        "opt_state.plateau.scale",
    ),
    (
        "fit-plateau-state-best",
        fit(opt_state=S_SGD._replace(plateau=fnn.Plateau(best=float("nan")))),
        ValueError,
        "opt_state.plateau.best",
    ),
    (
        "opt-step-plateau-bad",
        call(fnn.opt_step, fnn.sgd(0.1), P, G, S_SGD._replace(plateau=fnn.Plateau(bad_epochs=-1))),
        ValueError,
        "state.plateau.bad_epochs",
    ),
    ("lbfgs-memory", call(fnn.lbfgs, memory=0), ValueError, "memory"),
    ("lbfgs-gtol", call(fnn.lbfgs, gtol=-1.0), ValueError, "gtol"),
    ("lbfgs-ftol", call(fnn.lbfgs, ftol="small"), TypeError, "ftol"),
    ("lbfgs-evaluations", call(fnn.lbfgs, max_evaluations=0), ValueError, "max_evaluations"),
    ("fit-lbfgs-handmade", fit(opt=fnn.LBFGS(memory=-1)), ValueError, "memory"),
    ("fit-lbfgs-batch", fit(opt=fnn.lbfgs(), batch_size=2), ValueError, "batch_size"),
    (
        "fit-lbfgs-plateau",
        fit(opt=fnn.lbfgs(), reduce_on_plateau=fnn.reduce_on_plateau()),
        ValueError,
        "reduce_on_plateau",
    ),
    ("fit-lbfgs-state", fit(opt=fnn.lbfgs(), opt_state=S_SGD), ValueError, "opt_state"),
    ("early-stopping-patience", call(fnn.early_stopping, patience=0), ValueError, "patience"),
    (
        "early-stopping-restore",
        call(fnn.early_stopping, restore_best="no"),
        TypeError,
        "restore_best",
    ),  # fmt: skip
    # data helpers
    ("minibatches-n", call(fnn.minibatches, 0, 0, 2), ValueError, "n_samples"),
    ("minibatches-batch", call(fnn.minibatches, 0, 10, 0), ValueError, "batch_size"),
    ("minibatches-key", call(fnn.minibatches, -1, 10, 3), ValueError, "key"),
    ("fold-in-data", call(fnn.fold_in, 0, -1), ValueError, "data"),
    ("standardizer-ragged", call(fnn.standardizer, [[1.0, 2.0], [1.0]]), TypeError, "X"),
    ("standardizer-1d", call(fnn.standardizer, np.ones(5)), ValueError, "X"),
    ("standardizer-nan", call(fnn.standardizer, with_nan(np.ones((3, 2)))), ValueError, "X"),
    (
        "standardizer-overflow",
        call(fnn.standardizer, [[1e300, 1.0], [-1e300, 2.0]]),
        ValueError,
        "X",
    ),  # fmt: skip
    (
        "standardize-overflow",
        call(fnn.standardize, fnn.Scaler(np.zeros(2), np.full(2, 1e-300)), X * 1e10),
        ValueError,
        "X",
    ),  # fmt: skip
    (
        "standardize-scaler",
        call(fnn.standardize, (np.zeros(2), np.ones(2)), X),
        TypeError,
        "scaler",
    ),
    (
        "standardize-zero-scale",
        call(fnn.standardize, fnn.Scaler(np.zeros(2), np.zeros(2)), X),
        ValueError,
        "scaler.scale",
    ),  # fmt: skip
    (
        "standardize-features",
        call(fnn.standardize, fnn.standardizer(X), np.ones((2, 3))),
        ValueError,
        "X",
    ),  # fmt: skip
    ("accuracy-regression", call(fnn.accuracy, NET_MSE, P_MSE, X, Y_MSE), ValueError, "net"),
    # save/load
    ("save-fd", call(fnn.save, 5, NET, P), TypeError, "path"),
    ("save-suffix", call(fnn.save, NOWHERE[:-4] + ".pkl", NET, P), ValueError, "path"),
    ("save-params-other-net", call(fnn.save, NOWHERE, NET, P_OTHER), ValueError, "params"),
    ("save-bad-state", call(fnn.save, NOWHERE, NET, P, opt_state="adam"), TypeError, "opt_state"),
    (
        "save-state-other-net",
        call(fnn.save, NOWHERE, NET, P, opt_state=fnn.opt_init(ADAM, P_OTHER)),
        ValueError,
        "opt_state.slots[0]",
    ),  # fmt: skip
    ("load-fd", call(fnn.load, 3), TypeError, "path"),
    ("load-state-bytes-path", call(fnn.load_state, b"model.npz"), TypeError, "path"),
    (
        "save-x-scaler-width",
        call(fnn.save, NOWHERE, NET, P, x_scaler=fnn.standardizer(np.ones((2, 3)))),
        ValueError,
        "x_scaler",
    ),
    (
        "save-y-scaler-kind",
        call(fnn.save, NOWHERE, NET, P, y_scaler=np.ones(1)),
        TypeError,
        "y_scaler",
    ),
    ("load-scalers-fd", call(fnn.load_scalers, 3), TypeError, "path"),
    (
        "unstandardize-scaler",
        call(fnn.unstandardize, (np.zeros(2), np.ones(2)), X),
        TypeError,
        "scaler",
    ),
    (
        "unstandardize-features",
        call(fnn.unstandardize, fnn.standardizer(X), np.ones((2, 3))),
        ValueError,
        "Z",
    ),
    (
        "unstandardize-nan",
        call(fnn.unstandardize, fnn.standardizer(X), with_nan(X)),
        ValueError,
        "Z",
    ),
    # metrics
    ("mse-rows", call(fnn.mean_squared_error, [1.0, 2.0], [1.0]), ValueError, "y_pred"),
    (
        "mse-shape",
        call(fnn.mean_squared_error, np.ones((3, 2)), np.ones((3, 3))),
        ValueError,
        "y_pred",
    ),
    ("mse-nan", call(fnn.mean_squared_error, [1.0, np.nan], [1.0, 2.0]), ValueError, "y_true"),
    ("mse-text", call(fnn.mean_squared_error, ["a"], [1.0]), TypeError, "y_true"),
    ("mae-empty", call(fnn.mean_absolute_error, [], []), ValueError, "y_true"),
    (
        "mae-weight-negative",
        call(fnn.mean_absolute_error, [1.0, 2.0], [1.0, 2.0], sample_weight=[1.0, -1.0]),
        ValueError,
        "sample_weight",
    ),
    (
        "r2-weight-rows",
        call(fnn.r2_score, [1.0, 2.0], [1.0, 2.0], sample_weight=[1.0]),
        ValueError,
        "sample_weight",
    ),
    (
        "r2-multioutput",
        call(fnn.r2_score, [1.0, 2.0], [1.0, 2.0], multioutput="variance_weighted"),
        ValueError,
        "multioutput",
    ),
    ("log-loss-labels", call(fnn.log_loss, [0, 3], [[0.5, 0.5], [0.5, 0.5]]), ValueError, "y_true"),
    ("log-loss-float-labels", call(fnn.log_loss, [0.5, 1.0], [0.5, 0.5]), TypeError, "y_true"),
    ("log-loss-proba-range", call(fnn.log_loss, [0, 1], [0.5, 1.5]), ValueError, "y_proba"),
    (
        "log-loss-proba-sum",
        call(fnn.log_loss, [0, 1], [[0.5, 0.6], [0.5, 0.5]]),
        ValueError,
        "y_proba",
    ),
    ("confusion-negative", call(fnn.confusion_matrix, [0, -1], [0, 1]), ValueError, "y_true"),
    ("confusion-rows", call(fnn.confusion_matrix, [0, 1], [0, 1, 1]), ValueError, "y_pred"),
    (
        "confusion-labels-repeat",
        call(fnn.confusion_matrix, [0, 1], [0, 1], labels=[0, 0]),
        ValueError,
        "labels",
    ),
    (
        "confusion-normalize",
        call(fnn.confusion_matrix, [0, 1], [0, 1], normalize="rows"),
        ValueError,
        "normalize",
    ),
    # check_grads
    (
        "check-grads-rtol",
        call(fnn.testing.check_grads, NET, P, X, Y, rtol=-1.0),
        ValueError,
        "rtol",
    ),
    ("check-grads-eps", call(fnn.testing.check_grads, NET, P, X, Y, eps=0.0), ValueError, "eps"),
    ("check-grads-X", call(fnn.testing.check_grads, NET, P, X[:, :1], Y), ValueError, "X"),
    ("check-grads-params", call(fnn.testing.check_grads, NET, P_OTHER, X, Y), ValueError, "params"),
]


def snapshot(value):
    """A deep copy plus the writeable flag of every array inside ``value``."""
    flags = []

    def walk(item):
        if isinstance(item, np.ndarray):
            flags.append(item.flags.writeable)
        elif isinstance(item, (tuple, list)):
            for part in item:
                walk(part)
        elif isinstance(item, dict):
            for part in item.values():
                walk(part)

    walk(value)
    return copy.deepcopy(value), flags


def same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        if not isinstance(b, np.ndarray) or a.dtype != b.dtype or a.shape != b.shape:
            return False
        equal_nan = a.dtype.kind in "fc"
        return bool(np.array_equal(a, b, equal_nan=equal_nan))
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    return a is b or a == b


@pytest.mark.parametrize("fn_args,error,name", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_call_raises_a_clear_error_and_changes_nothing(fn_args, error, name):
    fn, args, kwargs = fn_args
    before, flags_before = snapshot((args, kwargs))
    with pytest.raises(error) as caught:
        fn(*args, **kwargs)
    message = str(caught.value)
    assert type(caught.value) is error, f"{type(caught.value).__name__}: {message}"
    assert name in message, message
    assert "\n" not in message and len(message) < 300, message
    after, flags_after = snapshot((args, kwargs))
    assert same(before, (args, kwargs)), "an input changed"
    assert flags_before == flags_after, "an input's writeable flag changed"
    assert not os.path.exists(NOWHERE)


def test_output_only_activations_are_refused_in_hidden_layers():
    from fnn.registry import ACTIVATIONS

    for name, entry in ACTIVATIONS.items():
        if entry.output_only:
            with pytest.raises(ValueError, match="hidden"):
                fnn.mlp([2, 3, 2], hidden=name)
            with pytest.raises(ValueError, match="activations"):
                fnn.checks.network(fnn.Net((2, 3, 2), (name, name), "mse"))


def test_the_table_is_big_enough():
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)


def test_messages_name_expected_and_received():
    with pytest.raises(ValueError, match=r"X must have 2 columns .* got shape \(4, 3\)"):
        fnn.forward(NET, P, np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"integers in 0\.\.2, got 3 at index 2"):
        fnn.grad(NET_CE, P_CE, X, [0, 1, 3, 2])
    with pytest.raises(
        ValueError, match=r"params.layers\[0\].W must have shape \(2, 3\).*\(3, 4\)"
    ):
        fnn.grad(NET, P_OTHER, X, Y)
    with pytest.raises(ValueError, match=r"one of \['elu', 'gelu', 'identity', .*'tanh'\]"):
        fnn.mlp([2, 3, 1], hidden="swish")


# -- messages that lead somewhere: the caller's own names and values, and the likely fix -----------


def one_line_error(error, fn, *args, **kwargs) -> str:
    """The message of the ``error`` that ``fn(*args, **kwargs)`` raises (one line, checked)."""
    with pytest.raises(error) as caught:
        fn(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300, message
    return message


NET_3 = fnn.mlp([3, 2, 1])
NET_WIDE_1 = fnn.mlp([1, 3, 1])


@pytest.mark.parametrize(
    "net, X_, hint",
    [
        (NET, X[0], "it looks like one sample: use X.reshape(1, -1)"),  # 2 values, 2 features
        (NET_WIDE_1, np.ones(5), "use X.reshape(-1, 1) for a single feature"),
        (NET_3, np.ones(5), "5 values are neither one sample of 3 features nor one feature"),
        (fnn.mlp([4, 2, 1]), np.ones((3, 2, 2)), "use X.reshape(len(X), -1) to flatten each"),
    ],
)  # fmt: skip
def test_a_1d_X_gets_the_reshape_that_fits_the_net(net, X_, hint):
    params = fnn.init(net)
    for fn in (fnn.predict, fnn.predict_proba, fnn.forward):
        assert hint in one_line_error(ValueError, fn, net, params, X_)
    y_ = np.zeros(len(X_), int)
    assert hint in one_line_error(ValueError, fnn.grad, net, params, X_, y_)
    assert hint.replace("X", "validation[0]") in one_line_error(
        ValueError, fnn.fit, net, params, fnn.sgd(0.1), np.ones((2, net.sizes[0])), [0, 1],
        validation=(X_, y_),
    )  # fmt: skip
    if "reshape" in hint:  # the hint works
        fixed = X_.reshape(1, -1) if "(1, -1)" in hint else X_.reshape(len(X_), -1)
        assert fnn.predict(net, params, fixed).shape == (len(fixed),)


def test_a_1d_X_of_unknown_width_gets_both_reshapes():
    message = one_line_error(ValueError, fnn.standardizer, np.ones(5))
    assert message.endswith(
        "; use X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample"
    )


@pytest.mark.parametrize("net, params", [(NET, P), (NET_CE, P_CE)])
@pytest.mark.parametrize("as_objects", [False, True])
def test_text_labels_are_told_how_to_become_integers(net, params, as_objects):
    y = np.array(["cat", "dog", "dog", "cat"], dtype=object if as_objects else None)
    message = one_line_error(TypeError, fnn.grad, net, params, X, y)
    assert message.startswith("y must be a numeric array, got dtype ")
    assert message.endswith(
        "; encode them as codes 0..k-1 with codes, classes = fnn.encode_labels(y)"
    )
    codes, classes = fnn.encode_labels(y)  # as the hint says: it works
    assert list(classes) == ["cat", "dog"] and fnn.grad(net, params, X, codes)


def test_targets_as_text_and_missing_labels_are_named():
    message = one_line_error(TypeError, fnn.grad, NET_MSE, P_MSE, X, Y_MSE.astype(str))
    assert message.endswith("; convert numbers stored as text with y.astype(float)")
    assert one_line_error(TypeError, fnn.grad, NET, P, X, None) == (
        "y must be a numeric array, got None"
    )


# (net, params, y, part of the message: y's value in its dtype at its index in y's shape, hint)
BAD_LABELS = [
    (NET, P, np.array([1, 2, 1, 2]), "got 2 at index 1; labels look 1-based: encode them with "
     "codes, classes = fnn.encode_labels(y), or subtract 1 (y - 1)"),
    (NET, P, np.array([1.0, 2, 1, 2]), "got 2.0 at index 1; labels look 1-based: encode them"),
    (NET, P, np.array([[1], [2], [1], [1]], np.uint8), "got 2 at index (1, 0); labels look 1-"),
    (NET, P, np.array([-1, 1, 1, -1], np.int8), "got -1 at index 0; labels look like -1/+1: "
     "encode them with codes, classes = fnn.encode_labels(y), or use (y > 0).astype(int)"),
    (NET, P, np.array([0, 5, 5, 0]), "got 5 at index 1; 2 distinct labels: encode them as 0..1 "
     "with codes, classes = fnn.encode_labels(y)"),
    (NET, P, np.array([0, 1, 2, 1]), "0/1 labels for the 'bce' loss, got 2 at index 2"),
    (NET, P, np.array([0, np.nan, 1, 2]), "0/1 labels for the 'bce' loss, got nan at index 1"),
    (NET_CE, P_CE, np.array([1, 3, 2, 1]), "0..2, got 3 at index 1; labels look 1-based: "
     "encode them with codes, classes = fnn.encode_labels(y), or subtract 1 (y - 1)"),
    (NET_CE, P_CE, np.array([10, 30, 20, 10]), "0..2, got 10 at index 0; 3 distinct labels: "
     "encode them as 0..2 with codes, classes = fnn.encode_labels(y)"),
    (NET_CE, P_CE, np.array([7.0, 9.0, 7.0, 7.0]), "got 7.0 at index 0; 2 distinct labels: "
     "encode them as 0..1"),
    (NET_CE, P_CE, np.array([[1], [2], [3], [3]]), "got 3 at index (2, 0); labels look 1-based"),
    (NET_CE, P_CE, np.array([1.0, 2.0, 3.0, 1.0]), "got 3.0 at index 2; labels look 1-based"),
    (NET_CE, P_CE, np.array([0, 1, 3, 2]), "integers in 0..2, got 3 at index 2"),
    (NET_CE, P_CE, np.array([1, 2, np.nan, 3]), "integers in 0..2, got nan at index 2"),
    (NET_CE, P_CE, np.eye(3)[[0, 1, 2, 0]] * 2, "one-hot rows for 'ce', got 2.0 at index (0, 0)"),
    (NET_MSE, P_MSE, with_nan(Y_MSE, (2, 1)), "must be finite, got nan at index (2, 1)"),
    (fnn.mlp([2, 1], output="identity"), P_1, np.array([1.0, 2.0, np.inf, 0.0]),
     "must be finite, got inf at index 2"),
    (fnn.mlp([2, 1], output="identity", loss="poisson"), P_1, np.array([1, 0, -3, 1]),
     "for the 'poisson' loss, got -3 at index 2"),
]  # fmt: skip


@pytest.mark.parametrize("net, params, y, end", BAD_LABELS)
def test_bad_labels_are_reported_as_the_caller_wrote_them(net, params, y, end):
    message = one_line_error(ValueError, fnn.grad, net, params, X, y)
    assert end in message, message
    assert ("; " in end) == ("; " in message), message  # a hint where one is expected, only
    if "encode_labels" in message:  # the hint works (the codes pass where y did not)
        assert fnn.grad(net, params, X, fnn.encode_labels(y)[0])
    if "1-based" in end:
        assert fnn.grad(net, params, X, y.astype(int) - 1)  # the hint works
    if "-1/+1" in end:
        assert fnn.grad(net, params, X, (y > 0).astype(int))


def test_backward_accepts_a_cache_of_nested_lists():
    cache = fnn.forward(NET, P, X)[1]
    as_lists = fnn.Cache(
        [A.tolist() for A in cache.activations], [Z.tolist() for Z in cache.preactivations]
    )
    assert np.array_equal(fnn.backward(NET, P, as_lists, Y).layers[0].W, G.layers[0].W)


def test_spec_errors_name_the_callers_own_argument():
    def layers(*widths, output):
        return [
            {"input_dim": n_in, "output_dim": n_out, "activation": "relu"}
            for n_in, n_out in zip(widths, widths[1:])
        ] + [{"input_dim": widths[-1], "output_dim": 1, "activation": output}]

    assert one_line_error(ValueError, fnn.from_architecture, layers(2, 3, output="softmax")) == (
        "architecture[1]['output_dim'] must be >= 2 (a softmax output needs at least 2 units), "
        "got 1"
    )
    assert one_line_error(ValueError, fnn.mlp, [2, 3, 1], output="softmax").startswith(
        "sizes[2] must be >= 2"
    )
    assert one_line_error(
        ValueError, fnn.forward, fnn.Net((2, 1), ("softmax",), "ce"), P_1, X
    ).startswith("net.sizes[1] must be >= 2")
    assert (
        one_line_error(ValueError, fnn.from_architecture, layers(2, 3, output="sigmoid"), loss="ce")
        == "loss 'ce' needs an output activation in ['softmax'], got architecture[1]['activation'] 'sigmoid'"
    )
    assert one_line_error(ValueError, fnn.mlp, [2, 3, 1], loss="ce").endswith(
        "got output 'sigmoid'"
    )
    huge = 2**31
    assert one_line_error(
        ValueError, fnn.from_architecture, layers(2, huge, huge, output="sigmoid")
    ).startswith(f"architecture's sizes (2, {huge}, {huge}, 1) give")


def test_init_refuses_parameters_beyond_memory_before_allocating(monkeypatch):
    net = fnn.mlp([2, 10**12, 1])  # a spec may be that large; its parameters cannot be
    message = one_line_error(ValueError, fnn.init, net)
    assert message.startswith(
        "net.sizes (2, 1000000000000, 1) give 4000000000001 parameters, 29.1 TiB in float64, "
        "more than this machine's memory ("
    )
    # The limit is the machine's memory and the parameters' dtype; nothing is allocated first.
    monkeypatch.setattr(fnn.checks, "physical_memory", lambda: 1_000_000)
    wide = fnn.mlp([2, 100_000, 1])  # 400,001 parameters: 3.1 MiB in float64, 1.5 in float32
    tracemalloc.start()
    try:
        message = one_line_error(ValueError, fnn.init, wide)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000, peak  # NumPy reports its allocations to tracemalloc
    assert message == (
        "net.sizes (2, 100000, 1) give 400001 parameters, 3.1 MiB in float64, more than this "
        "machine's memory (976.6 KiB)"
    )
    monkeypatch.setattr(fnn.checks, "physical_memory", lambda: 2_000_000)
    one_line_error(ValueError, fnn.init, wide)
    assert fnn.init(wide, dtype=np.float32).layers[0].W.shape == (2, 100_000)


def test_physical_memory_falls_back_where_the_os_does_not_say(monkeypatch):
    assert fnn.checks.physical_memory() > 2**20
    monkeypatch.delattr(os, "sysconf", raising=False)
    assert fnn.checks.physical_memory() == fnn.checks.MEMORY_UNKNOWN


def test_a_read_only_input_stays_read_only_and_unchanged():
    X_ro, y_ro = read_only(X), read_only(Y)
    fnn.grad(NET, P, X_ro, y_ro)
    fnn.fit(NET, P, fnn.sgd(0.1), X_ro, y_ro, epochs=1, validation=(X_ro, y_ro))
    assert not X_ro.flags.writeable and not y_ro.flags.writeable


def _writable(params):
    """A copy of ``params`` made of ordinary writable arrays, as a user might build them."""
    return fnn.Params(tuple(fnn.Layer(layer.W.copy(), layer.b.copy()) for layer in params.layers))


GOOD_CALLS = {
    "forward": lambda p, X_, y_: fnn.forward(NET, p, X_),
    "predict": lambda p, X_, y_: fnn.predict(NET, p, X_),
    "loss": lambda p, X_, y_: fnn.loss(NET, p, X_, y_, l2=0.1),
    "value_and_grad": lambda p, X_, y_: fnn.value_and_grad(NET, p, X_, y_, l2=0.1),
    "backward": lambda p, X_, y_: fnn.backward(NET, p, fnn.forward(NET, p, X_)[1], y_),
    "accuracy": lambda p, X_, y_: fnn.accuracy(NET, p, X_, y_),
    "opt_step": lambda p, X_, y_: fnn.opt_step(ADAM, p, _writable(p), fnn.opt_init(ADAM, p)),
    "fit": lambda p, X_, y_: fnn.fit(NET, p, ADAM, X_, y_, epochs=2, batch_size=3,
                                     validation=(X_, y_), early_stopping=fnn.early_stopping()),
    "fit_lbfgs": lambda p, X_, y_: fnn.fit(NET, p, fnn.lbfgs(), X_, y_, epochs=3,
                                           validation=(X_, y_), early_stopping=fnn.early_stopping()),
    "fit_plateau": lambda p, X_, y_: fnn.fit(NET, p, fnn.sgd(fnn.warmup(0.1, 2)), X_, y_, epochs=4,
                                             reduce_on_plateau=fnn.reduce_on_plateau(patience=0)),
    "standardize": lambda p, X_, y_: fnn.standardize(fnn.standardizer(X_), X_),
    "unstandardize": lambda p, X_, y_: fnn.unstandardize(fnn.standardizer(X_), X_),
    "confusion_matrix": lambda p, X_, y_: fnn.confusion_matrix(y_.astype(int), fnn.predict(NET, p, X_)),
    "check_grads": lambda p, X_, y_: fnn.testing.check_grads(NET, p, X_, y_),
}  # fmt: skip


@pytest.mark.parametrize("name", GOOD_CALLS)
def test_successful_calls_change_nothing_and_return_read_only_arrays(name):
    params, X_, y_ = _writable(P), X.copy(), Y.astype(float)
    before = snapshot((params, X_, y_))
    result = GOOD_CALLS[name](params, X_, y_)
    assert same(before[0], (params, X_, y_)), "an input changed"
    assert before[1] == snapshot((params, X_, y_))[1], "an input's writeable flag changed"
    outputs = []

    def collect(item):
        if isinstance(item, np.ndarray):
            outputs.append(item)
        elif isinstance(item, tuple):
            for part in item:
                collect(part)

    collect(result)
    assert all(not array.flags.writeable for array in outputs)


def test_fit_leaves_caller_arrays_alone_when_it_diverges():
    X_big = X * 1e150
    before = snapshot((X_big, Y, P, S_SGD))
    with pytest.raises(FloatingPointError, match="epoch"):
        fnn.fit(NET_MSE, P_MSE, fnn.sgd(1e10), X_big, np.ones((4, 2)), epochs=3)
    assert same(before[0], (X_big, Y, P, S_SGD))


# -- fuzz: random shapes, dtypes, values and names; only ValueError/TypeError may escape ------------

DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_, np.complex64,
          object, "U2"]  # fmt: skip
# FNN_FUZZ_EXAMPLES=5000 pytest tests/test_errors.py -k fuzz  for a long hunt.
FUZZ_EXAMPLES = int(os.environ.get("FNN_FUZZ_EXAMPLES", "60"))
NAMES = ["relu", "sigmoid", "softmax", "identity", "tanh", "bce", "ce", "mse", "he", "adam", ""]


@st.composite
def arrays(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    dtype = draw(st.sampled_from(DTYPES))
    values = draw(st.sampled_from([0.0, 1.0, 2.0, -1.0, 0.5, np.nan, np.inf, 1e300, 3.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    base = rng.integers(-1, 3, shape).astype(np.float64)
    base[rng.random(shape) < 0.2] = values
    with np.errstate(all="ignore"):
        if dtype == "U2":
            return base.astype(str).astype("U2")
        return base.astype(dtype)


JUNK = st.one_of(
    st.none(),
    st.integers(-3, 6),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.booleans(),
    st.sampled_from(NAMES),
    st.lists(st.integers(-1, 3), max_size=4),
    st.lists(st.lists(st.floats(-2, 2), min_size=2, max_size=2), max_size=4),
    arrays(),
)
SMALL_NETS = fnn.testing.nets(max_hidden_layers=1, max_width=3, max_inputs=3)


@st.composite
def problems(draw):
    """A net, params and a batch that are each either right for one another or junk."""
    net = draw(st.one_of(SMALL_NETS, SMALL_NETS, st.builds(
        fnn.Net, st.one_of(st.tuples(st.integers(-1, 3), st.integers(-1, 3)), JUNK),
        st.one_of(st.tuples(st.sampled_from(NAMES)), JUNK), st.one_of(st.sampled_from(NAMES), JUNK))))  # fmt: skip
    try:
        valid = fnn.checks.network(net) is net
    except (TypeError, ValueError):
        valid = False
    if valid and draw(st.booleans()):
        params = draw(
            fnn.testing.params(net, dtype=draw(st.sampled_from([np.float64, np.float32])))
        )
    else:
        params = draw(st.one_of(st.just(P), st.just(P32), st.just(P_OTHER), JUNK))
    if valid and draw(st.booleans()):
        X_, y_ = draw(fnn.testing.batches(net, max_rows=4))
        if draw(st.booleans()):
            y_ = draw(JUNK)
        elif draw(st.booleans()):
            X_ = draw(JUNK)
    else:
        X_, y_ = draw(JUNK), draw(JUNK)
    return net, params, X_, y_


def expect_clean(fn, *args, allowed=(ValueError, TypeError), **kwargs):
    try:
        fn(*args, **kwargs)
    except allowed as error:
        message = str(error)
        assert message and "\n" not in message, repr(message)


@settings(max_examples=FUZZ_EXAMPLES)
@given(problems(), st.one_of(st.just(0.0), JUNK))
def test_fuzz_model_and_losses(problem, l2):
    net, params, X_, y_ = problem
    expect_clean(fnn.forward, net, params, X_)
    expect_clean(fnn.predict, net, params, X_)
    expect_clean(fnn.loss, net, params, X_, y_, l2=l2)
    expect_clean(fnn.value_and_grad, net, params, X_, y_, l2=l2)
    expect_clean(fnn.accuracy, net, params, X_, y_)


@settings(max_examples=FUZZ_EXAMPLES // 2)
@given(problems(), st.sampled_from(["sgd", "momentum", "rmsprop", "adam", "adamw"]),
       st.one_of(st.floats(-1, 1), JUNK), st.one_of(st.integers(0, 3), JUNK),
       st.one_of(st.none(), st.integers(1, 5), JUNK), st.one_of(st.integers(0, 9), JUNK))  # fmt: skip
def test_fuzz_optimizers_and_fit(problem, name, rate, epochs, batch_size, key):
    net, params, X_, y_ = problem
    opt = None
    try:
        opt = getattr(fnn, name)(rate)
    except (ValueError, TypeError):
        opt = getattr(fnn, name)(0.01)
    expect_clean(fnn.opt_init, opt, params)
    expect_clean(fnn.opt_step, opt, params, params, fnn.opt_init(opt, P))
    expect_clean(fnn.fit, net, params, opt, X_, y_, epochs=epochs, batch_size=batch_size,
                 key=key, allowed=(ValueError, TypeError, FloatingPointError))  # fmt: skip


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.sampled_from(["mlp", "init", "minibatches", "standardizer", "fold_in", "sgd", "adam",
                        "step_decay", "early_stopping", "from_architecture"]),
       st.lists(JUNK, max_size=4))  # fmt: skip
def test_fuzz_constructors_and_helpers(name, args):
    expect_clean(getattr(fnn, name), *args)


FORWARD_CACHE = fnn.forward(NET, P, X)[1]
CACHE_ENTRIES = st.one_of(
    JUNK, st.sampled_from([*FORWARD_CACHE.activations, *FORWARD_CACHE.preactivations, X[:2]])
)
CACHE_FIELDS = st.one_of(
    JUNK,
    st.tuples(CACHE_ENTRIES, CACHE_ENTRIES),
    st.lists(CACHE_ENTRIES, min_size=2, max_size=4),
    st.sampled_from([FORWARD_CACHE.activations, FORWARD_CACHE.preactivations]),
)


@settings(max_examples=FUZZ_EXAMPLES)
@given(CACHE_FIELDS, CACHE_FIELDS, st.sampled_from([Y, Y[:2], [[0], [1]]]))
def test_fuzz_backward_caches(activations, preactivations, y):
    expect_clean(fnn.backward, NET, P, fnn.Cache(activations, preactivations), y)


# Valid values of every kind, mixed with junk, so that calls get past the first checks.
POOL = st.one_of(
    JUNK,
    st.sampled_from([NET, NET_CE, OTHER, P, P_CE, P32, P_OTHER, X, Y, Y_CE, G, ADAM, S_ADAM, S_SGD,
                     fnn.sgd(0.1), fnn.forward(NET, P, X)[1], fnn.standardizer(X),
                     fnn.early_stopping(), NOWHERE[:-4], (X, Y), 2, 0.5]),
)  # fmt: skip
PUBLIC = sorted(
    name
    for name in fnn.__all__
    if callable(getattr(fnn, name)) and not isinstance(getattr(fnn, name), type)
)
ALLOWED = {
    "fit": (ValueError, TypeError, FloatingPointError),
    "load": (ValueError, TypeError, FileNotFoundError),
    "load_state": (ValueError, TypeError, FileNotFoundError),
    "load_scalers": (ValueError, TypeError, FileNotFoundError),
    "load_classes": (ValueError, TypeError, FileNotFoundError),
    "load_record": (ValueError, TypeError, FileNotFoundError),
}


@settings(max_examples=FUZZ_EXAMPLES * 2)
@given(st.sampled_from(PUBLIC + ["testing.check_grads"]), st.lists(POOL, max_size=5))
def test_fuzz_every_public_function(name, args):
    fn = fnn.testing.check_grads if name == "testing.check_grads" else getattr(fnn, name)
    allowed = ALLOWED.get(name, (ValueError, TypeError))
    if name == "testing.check_grads":
        allowed += (AssertionError,)  # a genuine gradient mismatch on odd data
    if name == "fit" and len(args) > 5:
        args = args[:5]
    expect_clean(fn, *args, allowed=allowed)
    assert not os.path.exists(NOWHERE)

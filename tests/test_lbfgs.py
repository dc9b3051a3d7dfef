"""fit with fnn.lbfgs: the iterates of SciPy's L-BFGS-B on a slow NumPy objective, l2
included; histories per iteration; stopping; float32; refusals."""

from __future__ import annotations

import numpy as np
import pytest
import reference
from scipy.optimize import minimize

import fnn

rng = np.random.default_rng(0)
X = rng.normal(size=(50, 3))
LABELS = (X[:, 0] - X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 2] > 1)  # classes 0, 1, 2
X_VAL, LABELS_VAL = X[40:], LABELS[40:]
TARGETS = np.sin(X[:, 0]) + X[:, 1] ** 2


def flat(params):
    return np.concatenate([part.ravel() for layer in params.layers for part in layer])


def unflat(theta, sizes):
    layers, at = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = theta[at : at + n_in * n_out].reshape(n_in, n_out)
        at += n_in * n_out
        layers.append(fnn.Layer(W, theta[at : at + n_out]))
        at += n_out
    return fnn.Params(tuple(layers))


def slow_lbfgs(net, params, X, Y, l2, iterations):
    """SciPy's L-BFGS-B on the NumPy reference loss and gradient: the loss after each
    iteration and the last iterate."""

    def objective(theta):
        p = unflat(theta, net.sizes)
        grads = reference.grad(net, p, X, Y, l2)
        return reference.loss(net, p, X, Y, l2), np.concatenate([g.ravel() for pair in grads
                                                                  for g in pair])  # fmt: skip

    losses = []
    result = minimize(objective, flat(params), jac=True, method="L-BFGS-B",
                      callback=lambda intermediate_result: losses.append(intermediate_result.fun),
                      options={"maxiter": iterations, "maxcor": 10, "gtol": 1e-4})  # fmt: skip
    return np.array(losses), result.x


@pytest.mark.parametrize(
    "net,y,Y",
    [
        (fnn.mlp([3, 6, 3], hidden="tanh", output="softmax"), LABELS, reference.one_hot(LABELS, 3)),
        (fnn.mlp([3, 5, 4, 1], hidden="tanh", output="identity"), TARGETS, TARGETS[:, None]),
        (fnn.mlp([3, 6, 1], hidden="tanh"), LABELS % 2, (LABELS % 2)[:, None]),
    ],
    ids=["ce", "mse", "bce"],
)
def test_lbfgs_takes_the_steps_of_scipy_on_a_numpy_objective(net, y, Y):
    params = fnn.init(net, key=1)
    l2, iterations = 0.3, 12
    result = fnn.fit(net, params, fnn.lbfgs(), X, y, epochs=iterations, l2=l2)
    losses, theta = slow_lbfgs(net, params, X, Y, l2, iterations)
    assert len(result.history.loss) == len(losses) == iterations
    np.testing.assert_allclose(result.history.loss, losses, rtol=1e-9)
    np.testing.assert_allclose(flat(result.params), theta, rtol=1e-6, atol=1e-8)
    assert result.opt_state == fnn.OptState("lbfgs", iterations, ())
    if net.loss != "mse":
        expected = fnn.accuracy(net, result.params, X, y)
        assert result.history.accuracy[-1] == expected
    assert fnn.loss(net, result.params, X, y, l2=l2) == pytest.approx(losses[-1], rel=1e-9)


def test_history_validation_and_convergence():
    net = fnn.mlp([3, 8, 3], output="softmax")
    result = fnn.fit(net, fnn.init(net, key=0), fnn.lbfgs(), X[:40], LABELS[:40], epochs=500,
                     validation=(X_VAL, LABELS_VAL))  # fmt: skip
    h = result.history
    done = len(h.loss)
    assert 0 < done < 500 and h.stopped_epoch == done - 1 == h.params_epoch  # converged
    assert len(h.accuracy) == len(h.val_loss) == len(h.val_accuracy) == done
    assert h.val_loss[-1] == fnn.loss(net, result.params, X_VAL, LABELS_VAL)
    assert h.accuracy[-1] == 1.0  # 40 rows, 51 parameters: it fits the training rows
    assert np.all(np.diff(h.loss) <= 0)  # each iteration's line search lowers the objective


def test_early_stopping_and_callback_stop_it():
    net = fnn.mlp([3, 8, 3], output="softmax")
    params = fnn.init(net, key=0)
    seen = []

    def callback(epoch, p, history):
        seen.append((epoch, len(history.loss)))
        return epoch == 4

    stopped = fnn.fit(net, params, fnn.lbfgs(), X, LABELS, epochs=100, callback=callback)
    assert seen == [(e, e + 1) for e in range(5)] and stopped.history.stopped_epoch == 4
    full = fnn.fit(net, params, fnn.lbfgs(), X, LABELS, epochs=5)
    assert flat(stopped.params).tobytes() == flat(full.params).tobytes()  # stopped there
    early = fnn.fit(net, params, fnn.lbfgs(), X[:40], LABELS[:40], epochs=300,
                    validation=(X_VAL, LABELS_VAL), early_stopping=fnn.early_stopping(patience=3))  # fmt: skip
    h = early.history
    best = int(np.argmin(h.val_loss))
    assert h.params_epoch == best and h.stopped_epoch == best + 3
    assert early.opt_state.step == best + 1  # the iterations of the params returned
    assert fnn.loss(net, early.params, X_VAL, LABELS_VAL) == h.val_loss[best]


def test_float32_stays_float32_and_resuming_counts_on():
    net = fnn.mlp([3, 6, 1], output="identity")
    params = fnn.init(net, key=2, dtype=np.float32)
    result = fnn.fit(net, params, fnn.lbfgs(memory=5), X, TARGETS, epochs=20)
    assert all(part.dtype == np.float32 and not part.flags.writeable for layer in
               result.params.layers for part in layer)  # fmt: skip
    assert result.history.loss[-1] < result.history.loss[0]
    more = fnn.fit(net, result.params, fnn.lbfgs(memory=5), X, TARGETS, epochs=3,
                   opt_state=result.opt_state)  # fmt: skip
    assert more.opt_state.step == result.opt_state.step + 3
    untouched = fnn.fit(net, params, fnn.lbfgs(), X, TARGETS, epochs=0)
    assert flat(untouched.params).tobytes() == flat(params).tobytes()
    assert len(untouched.history.loss) == 0 and untouched.opt_state.step == 0


def test_lbfgs_refuses_mini_batches_plateaus_and_dropout():
    net = fnn.mlp([3, 4, 1])
    params = fnn.init(net)
    with pytest.raises(ValueError, match="batch_size must be None"):
        fnn.fit(net, params, fnn.lbfgs(), X, LABELS % 2, batch_size=10)
    with pytest.raises(ValueError, match="reduce_on_plateau must be None"):
        fnn.fit(net, params, fnn.lbfgs(), X, LABELS % 2, reduce_on_plateau=fnn.reduce_on_plateau())
    dropping = fnn.mlp([3, 4, 1], dropout=0.5)
    with pytest.raises(ValueError, match=r"net.dropout must be all zero .* got \(0.5,\)"):
        fnn.fit(dropping, fnn.init(dropping), fnn.lbfgs(), X, LABELS % 2)
    with pytest.raises(ValueError, match="opt_state belongs to optimizer 'adam'"):
        fnn.fit(net, params, fnn.lbfgs(), X, LABELS % 2, opt_state=fnn.opt_init(fnn.adam(), params))


def test_lbfgs_weights_rows_as_copies_and_takes_class_weights():
    net = fnn.mlp([3, 6, 3], hidden="tanh", output="softmax")
    params = fnn.init(net, key=1)
    w = np.arange(50) % 3  # 0, 1 or 2 copies of each row
    l2, iterations = 0.3, 8
    result = fnn.fit(net, params, fnn.lbfgs(), X, LABELS, epochs=iterations, l2=l2,
                     sample_weight=w, validation=(X_VAL, LABELS_VAL, w[40:]))  # fmt: skip
    copies = np.repeat(np.arange(50), w)
    losses, theta = slow_lbfgs(net, params, X[copies], reference.one_hot(LABELS[copies], 3), l2,
                               iterations)  # fmt: skip
    np.testing.assert_allclose(result.history.loss, losses, rtol=1e-9)
    np.testing.assert_allclose(flat(result.params), theta, rtol=1e-6, atol=1e-8)
    h = result.history
    assert h.val_loss[-1] == fnn.loss(net, result.params, X_VAL, LABELS_VAL, l2, w[40:])
    # class_weight is a sample weight per class: the same objective, the same bits
    counts = np.bincount(LABELS, minlength=3)
    balanced = (50 / (3 * counts))[LABELS]
    by_class = fnn.fit(net, params, fnn.lbfgs(), X, LABELS, epochs=iterations, l2=l2,
                       class_weight="balanced")  # fmt: skip
    by_rows = fnn.fit(net, params, fnn.lbfgs(), X, LABELS, epochs=iterations, l2=l2,
                      sample_weight=balanced)  # fmt: skip
    assert flat(by_class.params).tobytes() == flat(by_rows.params).tobytes()
    np.testing.assert_array_equal(by_class.history.loss, by_rows.history.loss)

"""fnn.fit_many and fnn.ensemble_proba: every member is the plain fit it stands for.

Member k of ``fit_many`` must be the same bits as ``fnn.fit`` called here with member k's
parameters, optimizer, key and l2, on one thread or several, with validation, early stopping
and resumed optimizer states; ``ensemble_proba`` must be the mean and spread of a float64
reference forward pass.
"""

import numpy as np
import pytest

import fnn
from tests import reference

NET = fnn.mlp([2, 4, 3, 1], hidden="relu", output="sigmoid")
MEMBERS = 5


def moons(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, (X[:, 0] * X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(int)


X, Y = moons()
X_VAL, Y_VAL = moons(30, seed=1)
STARTS = [fnn.init(NET, key=k, scheme="he") for k in range(MEMBERS)]
OPTS = [fnn.adam(0.01 * (k + 1)) for k in range(MEMBERS)]
L2 = np.linspace(0.0, 0.4, MEMBERS)
KEYS = [10 + k for k in range(MEMBERS)]


def assert_same_fit(many: fnn.FitResult, single: fnn.FitResult):
    for a, b in zip(many.params.layers, single.params.layers):
        assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)
    assert many.opt_state.step == single.opt_state.step
    for slot_a, slot_b in zip(many.opt_state.slots, single.opt_state.slots):
        for a, b in zip(slot_a.layers, slot_b.layers):
            assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)
    for field in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert np.array_equal(getattr(many.history, field), getattr(single.history, field))
    assert many.history.stopped_epoch == single.history.stopped_epoch
    assert many.history.params_epoch == single.history.params_epoch


def singles(epochs, **kwargs):
    return [
        fnn.fit(NET, STARTS[k], OPTS[k], X, Y, epochs=epochs, batch_size=16, key=KEYS[k],
                l2=L2[k], **kwargs)
        for k in range(MEMBERS)
    ]  # fmt: skip


@pytest.mark.parametrize("threads", [1, 2])
def test_members_are_single_fits(threads):
    many = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=30, batch_size=16, keys=KEYS, l2=L2,
                        threads=threads)  # fmt: skip
    assert len(many) == MEMBERS
    for result, single in zip(many, singles(30)):
        assert_same_fit(result, single)
    # the members differ (their own starts, keys, rates): nothing was shared by mistake
    assert not np.array_equal(many[0].params.layers[0].W, many[1].params.layers[0].W)


STOPPING = {  # early stopping's monitors and modes, restoring the best epoch or not
    "val_loss": fnn.early_stopping(patience=3, min_delta=1e-3),
    "val_accuracy-last": fnn.early_stopping(patience=4, monitor="val_accuracy", restore_best=False),
    "loss": fnn.early_stopping(patience=2, min_delta=0.01, monitor="loss"),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", list(STOPPING))
def test_members_stop_early_on_their_own_validation_loss(case, threads, monkeypatch):
    kwargs = dict(validation=(X_VAL, Y_VAL), early_stopping=STOPPING[case])
    expected = singles(200, **kwargs)
    trained_side_by_side(monkeypatch)  # early stopping runs in the kernel
    many = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=200, batch_size=16, keys=KEYS, l2=L2,
                        threads=threads, **kwargs)  # fmt: skip
    for result, single in zip(many, expected):
        assert_same_fit(result, single)
    stopped = [result.history.stopped_epoch for result in many]
    assert any(epoch is not None for epoch in stopped)  # the test exercises early stopping
    assert len(set(stopped)) > 1  # ... member by member


def test_members_stop_early_across_whole_vectors_of_lanes(monkeypatch):
    """12 float64 members run in 16 lanes (two vectors of 8), then in 8 once at most 8 run."""
    count, stop = 12, fnn.early_stopping(patience=3, min_delta=1e-3)
    starts = [fnn.init(NET, key=k, scheme="he") for k in range(count)]
    opts = [fnn.adam(0.004 * (k + 1)) for k in range(count)]
    common = dict(epochs=150, batch_size=16, validation=(X_VAL, Y_VAL), early_stopping=stop)
    expected = [fnn.fit(NET, starts[k], opts[k], X, Y, key=k, **common) for k in range(count)]
    trained_side_by_side(monkeypatch)
    many = fnn.fit_many(NET, starts, opts, X, Y, keys=range(count), threads=1, **common)
    for result, single in zip(many, expected):
        assert_same_fit(result, single)
    ends = sorted(len(result.history.loss) for result in many)
    assert ends[count - 8 - 1] < ends[-1]  # members ran on after at most 8 were left


@pytest.mark.parametrize("threads", [1, 2])
def test_resume_continues_every_member(threads):
    common = dict(batch_size=16, keys=KEYS, l2=L2, threads=threads)
    first = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=7, **common)
    resumed = fnn.fit_many(NET, [r.params for r in first], OPTS, X, Y, epochs=8,
                           opt_states=[r.opt_state for r in first], **common)  # fmt: skip
    whole = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=15, **common)
    for k in range(MEMBERS):
        single = fnn.fit(NET, first[k].params, OPTS[k], X, Y, epochs=8, batch_size=16,
                         key=KEYS[k], l2=L2[k], opt_state=first[k].opt_state)  # fmt: skip
        assert_same_fit(resumed[k], single)
        for a, b in zip(resumed[k].params.layers, whole[k].params.layers):
            assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)


@pytest.mark.parametrize("threads", [1, 2])
def test_bagged_members_side_by_side_are_fits_on_their_own_rows(threads, monkeypatch):
    bootstrap = np.random.default_rng(4).integers(0, len(X), (MEMBERS, len(X)))
    kwargs = dict(validation=(X_VAL, Y_VAL), early_stopping=STOPPING["val_loss"])
    expected = [
        fnn.fit(NET, STARTS[k], OPTS[k], X[bootstrap[k]], Y[bootstrap[k]], epochs=60,
                batch_size=16, key=KEYS[k], l2=L2[k], **kwargs)
        for k in range(MEMBERS)
    ]  # fmt: skip
    trained_side_by_side(monkeypatch)
    many = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=60, batch_size=16, keys=KEYS, l2=L2,
                        threads=threads, rows=bootstrap, **kwargs)  # fmt: skip
    for result, single in zip(many, expected):
        assert_same_fit(result, single)


def test_members_on_rows_of_their_own_sizes_or_weights_are_fits_each(monkeypatch):
    rows = [np.arange(0, 40), np.arange(10, 60), np.arange(60)[::-1]]  # 40, 50 and 60 rows
    weights = np.linspace(0.5, 2.0, len(X))
    expected = [
        fnn.fit(NET, STARTS[k], OPTS[k], X[rows[k]], Y[rows[k]], epochs=3, batch_size=16,
                key=k, sample_weight=weights[rows[k]])
        for k in range(3)
    ]  # fmt: skip
    not_side_by_side(monkeypatch)
    many = fnn.fit_many(NET, STARTS[:3], OPTS[:3], X, Y, epochs=3, batch_size=16, rows=rows,
                        sample_weight=weights)  # fmt: skip
    for result, single in zip(many, expected):
        assert_same_fit(result, single)


PLATEAUS = {  # the plateau watch alone, with early stopping, with a cooldown and a floor
    "val_loss": dict(reduce_on_plateau=fnn.reduce_on_plateau(factor=0.5, patience=2)),
    "and-early-stopping": dict(
        reduce_on_plateau=fnn.reduce_on_plateau(factor=0.3, patience=1, cooldown=2),
        early_stopping=fnn.early_stopping(patience=6)),
    "loss-floor": dict(reduce_on_plateau=fnn.reduce_on_plateau(
        factor=0.2, patience=1, min_lr=2e-3, monitor="loss", min_delta=1e-3)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(PLATEAUS))
def test_members_cut_their_learning_rates_on_their_own_plateaus(case, monkeypatch):
    kwargs = dict(validation=(X_VAL, Y_VAL), **PLATEAUS[case])
    expected = singles(40, **kwargs)
    trained_side_by_side(monkeypatch)  # the plateau watch runs in the kernel
    many = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=40, batch_size=16, keys=KEYS, l2=L2,
                        threads=2, **kwargs)  # fmt: skip
    scales = set()
    for result, single in zip(many, expected):
        assert_same_fit(result, single)
        assert result.opt_state.plateau == single.opt_state.plateau
        scales.add(result.opt_state.plateau.scale)
    if "early_stopping" in kwargs:  # its best epochs come before the cuts: none returned
        assert any(result.history.stopped_epoch is not None for result in many)
    else:
        assert len(scales) > 1  # the members cut their rates apart


@pytest.mark.parametrize("threads", [1, 2])
def test_members_share_sample_and_class_weights(threads):
    w = np.linspace(0.0, 2.0, len(X))
    kwargs = dict(sample_weight=w, class_weight="balanced", validation=(X_VAL, Y_VAL, 1 + Y_VAL))
    many = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=5, batch_size=16, keys=KEYS, l2=L2,
                        threads=threads, **kwargs)  # fmt: skip
    for result, single in zip(many, singles(5, **kwargs)):
        assert_same_fit(result, single)
    unweighted = singles(5, validation=(X_VAL, Y_VAL))
    assert not np.array_equal(many[0].history.val_loss, unweighted[0].history.val_loss)


def test_lbfgs_members():
    many = fnn.fit_many(NET, STARTS[:2], fnn.lbfgs(), X, Y, epochs=5, threads=2)
    for k, result in enumerate(many):
        assert_same_fit(result, fnn.fit(NET, STARTS[k], fnn.lbfgs(), X, Y, epochs=5, key=k))


def test_shared_values_and_default_keys():
    many = fnn.fit_many(NET, STARTS[:3], fnn.sgd(0.1), X, Y, epochs=5, batch_size=16, l2=0.1)
    for k, result in enumerate(many):
        single = fnn.fit(NET, STARTS[k], fnn.sgd(0.1), X, Y, epochs=5, batch_size=16, key=k,
                         l2=0.1)  # fmt: skip
        assert_same_fit(result, single)


def test_members_with_a_schedule_and_different_optimizers():
    opts = [fnn.adam(fnn.exponential_decay(0.05, 0.5, 10)), fnn.momentum(0.05), fnn.sgd(0.1)]
    many = fnn.fit_many(NET, STARTS[:3], opts, X, Y, epochs=6, keys=[1, 2, 3], threads=2)
    for k, result in enumerate(many):
        assert_same_fit(result, fnn.fit(NET, STARTS[k], opts[k], X, Y, epochs=6, key=k + 1))


def test_float32_members():
    starts = [fnn.init(NET, key=k, dtype=np.float32) for k in range(3)]
    many = fnn.fit_many(NET, starts, fnn.adam(0.01), X, Y, epochs=4, batch_size=8, threads=2)
    assert many[0].params.layers[0].W.dtype == np.float32
    for k, result in enumerate(many):
        single = fnn.fit(NET, starts[k], fnn.adam(0.01), X, Y, epochs=4, batch_size=8, key=k)
        assert_same_fit(result, single)


def test_ensemble_proba_is_the_mean_and_spread_of_the_members():
    members = [fnn.init(NET, key=k, scheme="he") for k in range(4)]
    mean, std = fnn.ensemble_proba(NET, members, X_VAL, threads=2)
    outputs = np.stack([reference.forward(NET, member, X_VAL)[0][-1] for member in members])
    assert mean.shape == std.shape == (X_VAL.shape[0], 1)
    np.testing.assert_allclose(mean, outputs.mean(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(std, outputs.std(axis=0), rtol=1e-9, atol=1e-15)
    alone_mean, alone_std = fnn.ensemble_proba(NET, members[:1], X_VAL.tolist())
    assert np.array_equal(alone_mean, fnn.predict_proba(NET, members[0], X_VAL))
    assert np.array_equal(alone_std, np.zeros_like(alone_std))


# -- errors ----------------------------------------------------------------------------------------


def fit_many(**changes):
    arguments = dict(net=NET, params=STARTS[:3], opt=fnn.adam(0.01), X=X, y=Y, epochs=2)
    arguments.update(changes)
    return fnn.fit_many(**arguments)


BAD_CALLS = [
    (dict(params=STARTS[0]), TypeError, "params must be a sequence of Params .* got one Params"),
    (dict(params=[]), ValueError, "params must hold at least one member"),
    (dict(params="abc"), TypeError, "params must be a sequence of Params"),
    (dict(opt=[fnn.adam(0.1)] * 2), ValueError, r"opt must have one entry per member \(3\), got 2"),
    (dict(opt="adam"), TypeError, r"opt must be one value or a sequence of one per member"),
    (dict(l2=[0.1, 0.2]), ValueError, r"l2 must have one entry per member \(3\), got 2"),
    (dict(keys=5), TypeError, r"keys must be a sequence of one per member \(3\), got 5"),
    (dict(keys=[1, 2]), ValueError, r"keys must have one entry per member \(3\), got 2"),
    (dict(opt_states=fnn.opt_init(fnn.adam(0.1), STARTS[0])), TypeError,
     r"opt_states must be a sequence of one per member"),
    (dict(threads=0), ValueError, "threads must be >= 1, got 0"),
    (dict(threads=1.5), TypeError, "threads must be an integer"),
    (dict(callback=3), TypeError, "^callback must be callable, got 3"),
    (dict(progress="yes"), TypeError, "^progress must be"),
    (dict(epochs=-1), ValueError, "^epochs must be >= 0"),
    (dict(reduce_on_plateau=3), TypeError, "^reduce_on_plateau"),
    (dict(X=X[:, :1]), ValueError, "^X must .*"),
    (dict(y=Y[:5]), ValueError, "^y "),
    (dict(validation=(X_VAL, Y_VAL[:3])), ValueError, r"^validation\[1\]"),
    (dict(validation=(X_VAL, Y_VAL, -Y_VAL)), ValueError, r"^validation\[2\] must hold"),
    (dict(sample_weight=np.ones(5)), ValueError, r"^sample_weight must have shape \(60,\)"),
    (dict(class_weight="none"), ValueError, "^class_weight must be 'balanced'"),
    (dict(params=[STARTS[0], fnn.init(fnn.mlp([2, 1]), key=0)]), ValueError, "^member 1: params"),
    (dict(l2=[0.0, 0.1, -1.0]), ValueError, "^member 2: l2 must be in"),
    (dict(keys=[0, -1, 2]), ValueError, "^member 1: key must be >= 0"),
    (dict(opt=[fnn.adam(0.1), fnn.adam(0.1), None]), TypeError, "^member 2: opt must be"),
    (dict(opt_states=[None, fnn.opt_init(fnn.sgd(0.1), STARTS[1]), None]), ValueError,
     "^member 1: opt_state"),
    (dict(rows=5), TypeError, r"^rows must be a sequence of 3 arrays of row indices"),
    (dict(rows=[[0, 1]] * 2), ValueError, r"^rows must hold one array of row indices per "
     r"member \(3\), got 2"),
    (dict(rows=[[0, 1], [0, 60], [2]]), ValueError, r"^rows\[1\] must index rows 0..59, got 60"),
    (dict(rows=[[0, 1], [0.5], [2]]), ValueError, r"^rows\[1\] must be a non-empty 1-D array"),
]  # fmt: skip


@pytest.mark.parametrize("changes, kind, message", BAD_CALLS)
def test_bad_arguments_get_one_line_errors_naming_them(changes, kind, message):
    with pytest.raises(kind, match=message) as caught:
        fit_many(**changes)
    assert "\n" not in str(caught.value)


#: A member's own bad values: fit's checks name them, with the member's index, before any
#: training (with fnn.lbfgs, fit's refusals too).
MEMBER_CALLS = [case for case in BAD_CALLS if case[2].startswith("^member")] + [
    (dict(opt=fnn.lbfgs(), batch_size=16), ValueError,
     "^member 0: batch_size must be None .* with fnn.lbfgs"),
    (dict(opt=[fnn.lbfgs(), fnn.lbfgs(), fnn.lbfgs()._replace(memory=0)]), ValueError,
     "^member 2: memory must be"),
]  # fmt: skip


@pytest.mark.parametrize("changes, kind, message", MEMBER_CALLS)
def test_members_are_checked_by_fits_checks_without_running_fit(changes, kind, message,
                                                                monkeypatch):  # fmt: skip
    from fnn import ensembles

    def no_fit(*args, **kwargs):
        raise AssertionError("fit_many ran fit to check a member")

    monkeypatch.setattr(ensembles, "fit", no_fit)
    with pytest.raises(kind, match=message):
        fit_many(**changes)


def test_a_diverging_member_is_named_and_nothing_is_mutated():
    starts = [fnn.init(NET, key=k) for k in range(3)]
    before = [[layer.W.copy() for layer in start.layers] for start in starts]
    opts = [fnn.sgd(0.01), fnn.sgd(1e200), fnn.sgd(0.01)]
    with pytest.raises(FloatingPointError, match="^member 1: .*not finite"):
        fnn.fit_many(NET, starts, opts, X, Y, epochs=3, threads=2)
    for start, copies in zip(starts, before):
        assert all(np.array_equal(layer.W, W) for layer, W in zip(start.layers, copies))


def test_ensemble_proba_errors_name_the_member():
    with pytest.raises(TypeError, match="members must be a sequence of Params"):
        fnn.ensemble_proba(NET, STARTS[0], X)
    with pytest.raises(ValueError, match="^member 1: params"):
        fnn.ensemble_proba(NET, [STARTS[0], fnn.init(fnn.mlp([2, 1]), key=0)], X)
    with pytest.raises(ValueError, match="^X must"):
        fnn.ensemble_proba(NET, STARTS, X[:, :1])


# -- threads ---------------------------------------------------------------------------------------


def concurrency(monkeypatch, meet: int):
    """Patch fit_many's fit: members wait until ``meet`` of them run at once; return the
    record of the most members seen running at once."""
    import threading

    from fnn import ensembles

    met, lock, seen = threading.Event(), threading.Lock(), {"now": 0, "most": 0, "arrived": 0}
    real_fit = ensembles.fit

    def fit(*args, epochs, **kwargs):
        if epochs == 0:  # the checks before training
            return real_fit(*args, epochs=epochs, **kwargs)
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
            seen["arrived"] += 1
            if seen["arrived"] >= meet:
                met.set()
        try:
            # the first ``meet`` members wait for each other: never set if fewer run at once
            assert met.wait(timeout=60), f"fewer than {meet} members ran at once"
            return real_fit(*args, epochs=epochs, **kwargs)
        finally:
            with lock:
                seen["now"] -= 1

    monkeypatch.setattr(ensembles, "fit", fit)
    return seen


# Sample weights keep the members out of the side-by-side kernel: one fit each, on threads.
ONE_FIT_EACH = dict(sample_weight=np.ones(len(X)))


def test_threads_run_members_at_once_and_cap_them(monkeypatch):
    seen = concurrency(monkeypatch, meet=2)
    many = fnn.fit_many(NET, STARTS, fnn.sgd(0.1), X, Y, epochs=2, threads=2, **ONE_FIT_EACH)
    assert len(many) == MEMBERS and seen["most"] == 2


def test_threads_default_to_numba_threads(monkeypatch):
    from fnn import ensembles

    monkeypatch.setattr(ensembles, "default_threads", lambda: 3)
    seen = concurrency(monkeypatch, meet=3)
    fnn.fit_many(NET, STARTS, fnn.sgd(0.1), X, Y, epochs=2, **ONE_FIT_EACH)
    assert seen["most"] == 3


# -- members side by side in one kernel (fnn.kernels.train_members) ---------------------------------


def trained_side_by_side(monkeypatch):
    """fit_many's fit may check the members (0 epochs) but not train them: only the
    side-by-side kernel may."""
    from fnn import ensembles

    real_fit = ensembles.fit

    def fit(*args, epochs, **kwargs):
        assert epochs == 0, "a member was trained by fit, not side by side"
        return real_fit(*args, epochs=epochs, **kwargs)

    monkeypatch.setattr(ensembles, "fit", fit)


REGRESSION_X = np.random.default_rng(2).normal(size=(45, 3))
REGRESSION_Y = np.sin(REGRESSION_X.sum(axis=1))
#: (network, dtype, optimizer of member k, batch_size, members): every optimizer, both dtypes,
#: every activation, bce, ce and mse (with and without the chain rule through the output's
#: derivative), batches of 4k + 1, 4k + 3 rows and the full batch (no shuffle),
#: more members than one kernel call takes (GROUP_MEMBERS).
SIDE_BY_SIDE = {
    "sgd": (NET, np.float64, lambda k: fnn.sgd(0.05 * (k + 1)), 16, 5),
    "momentum-f32": (NET, np.float32, lambda k: fnn.momentum(0.02 * (k + 1), 0.8), 13, 5),
    "rmsprop": (NET, np.float64, lambda k: fnn.rmsprop(0.002 * (k + 1)), 7, 5),
    "adamw-schedule": (
        NET, np.float64, lambda k: fnn.adamw(fnn.exponential_decay(0.05, 0.5, 10), 0.01 * k),
        None, 5,
    ),
    "mse-identity": (
        fnn.mlp([3, 6, 5, 1], hidden="tanh", output="identity"), np.float64,
        lambda k: fnn.adam(0.01), 9, 20,
    ),
    "mse-sigmoid-f32": (
        fnn.mlp([3, 5, 1], hidden="gelu", output="sigmoid", loss="mse"), np.float32,
        lambda k: fnn.adam(0.02), 11, 9,
    ),
    "ce-softmax": (fnn.mlp([3, 5, 4, 3], output="softmax"), np.float64,
                   lambda k: fnn.adam(0.01 * (k + 1)), 10, 6),
    "ce-softmax-f32": (fnn.mlp([3, 4, 3], hidden="tanh", output="softmax"), np.float32,
                       lambda k: fnn.momentum(0.05), None, 3),
    # relu next to other activations, and as the output's (its derivative from the loss)
    "relu-among-others": (
        fnn.mlp([3, 4, 5, 4, 1], hidden=["tanh", "relu", "sigmoid"], output="relu"),
        np.float64, lambda k: fnn.adam(0.01), 7, 5,
    ),
    # relu layers of 3 to 7 units: forward and back-propagated sums of one to three passes,
    # the last of which adds the bias or applies the derivative
    "relu-in-passes": (fnn.mlp([2, 7, 6, 5, 1], hidden="relu"), np.float64,
                       lambda k: fnn.adam(0.01), 13, 9),
    "smooth-activations": (
        fnn.mlp([3, 4, 4, 4, 4, 1], hidden=["elu", "leaky_relu", "silu", "softplus"],
                output="identity"),
        np.float64, lambda k: fnn.sgd(0.01), 6, 4,
    ),
}  # fmt: skip


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", list(SIDE_BY_SIDE))
def test_members_side_by_side_are_single_fits(case, threads, monkeypatch):
    net, dtype, opt_of, batch, members = SIDE_BY_SIDE[case]
    X_, y_ = (X, Y) if net.loss == "bce" else (REGRESSION_X, REGRESSION_Y)
    validation = (X_VAL, Y_VAL) if net.loss == "bce" else (REGRESSION_X[:13], -REGRESSION_Y[:13])
    if net.loss == "ce":  # three classes
        X_, y_ = REGRESSION_X, np.digitize(REGRESSION_Y, [-0.3, 0.3])
        validation = (REGRESSION_X[:13], np.arange(13) % 3)
    starts = [fnn.init(net, key=k, dtype=dtype) for k in range(members)]
    opts = [opt_of(k) for k in range(members)]
    l2 = [0.0 if k % 2 else 0.05 * k for k in range(members)]
    singles = [
        fnn.fit(net, starts[k], opts[k], X_, y_, epochs=6, batch_size=batch, key=k + 3, l2=l2[k],
                validation=validation)
        for k in range(members)
    ]  # fmt: skip
    trained_side_by_side(monkeypatch)
    many = fnn.fit_many(net, starts, opts, X_, y_, epochs=6, batch_size=batch,
                        keys=range(3, members + 3), l2=l2, threads=threads,
                        validation=validation)  # fmt: skip
    for result, single in zip(many, singles):
        assert_same_fit(result, single)
        assert result.params.layers[0].W.dtype == dtype
    assert len({result.history.loss[-1] for result in many}) == members  # all different


def test_members_side_by_side_resume_bit_for_bit(monkeypatch):
    first = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=3, batch_size=16, keys=KEYS, l2=L2)
    states = [result.opt_state for result in first]
    trained_side_by_side(monkeypatch)
    resumed = fnn.fit_many(NET, [r.params for r in first], OPTS, X, Y, epochs=4, batch_size=16,
                           keys=KEYS, l2=L2, opt_states=states, threads=2)  # fmt: skip
    whole = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=7, batch_size=16, keys=KEYS, l2=L2)
    for a, b in zip(resumed, whole):
        assert_same_fit(a._replace(history=b.history), b)
        assert np.array_equal(a.history.loss, b.history.loss[3:])


NOT_SIDE_BY_SIDE = {  # what the kernel does not do: one fit per member
    "mse-softmax": dict(net=fnn.mlp([2, 3, 2], output="softmax", loss="mse"), y=np.eye(2)[Y]),
    "dropout": dict(net=fnn.mlp([2, 3, 1], dropout=0.2)),
    "clipping": dict(opt=fnn.adam(0.01, clip_norm=1.0)),
    "two optimizers": dict(opt=[fnn.adam(0.01)] + [fnn.sgd(0.1)] * (MEMBERS - 1)),
    "validation weights": dict(validation=(X_VAL, Y_VAL, np.ones(len(X_VAL)))),
    "monitored function": dict(validation=(X_VAL, Y_VAL), early_stopping=fnn.early_stopping(
        monitor=lambda net, params, X, y: 1.0, mode="min")),
    "sample weights": dict(sample_weight=np.ones(len(X))),
    "callback": dict(callback=lambda *args: None),
    "blas-sized layers": dict(net=fnn.mlp([2, 64, 64, 1]), batch_size=32),
}  # fmt: skip


def not_side_by_side(monkeypatch):
    """Fail if the side-by-side kernel runs."""
    from fnn import engine

    def train_members(*args, **kwargs):
        raise AssertionError("trained side by side")

    monkeypatch.setattr(engine, "train_members", train_members)


@pytest.mark.parametrize("case", list(NOT_SIDE_BY_SIDE))
def test_what_the_side_by_side_kernel_does_not_do_runs_one_fit_per_member(case, monkeypatch):
    args = dict(net=NET, opt=fnn.adam(0.01), batch_size=16) | NOT_SIDE_BY_SIDE[case]
    net, opt, y = args.pop("net"), args.pop("opt"), args.pop("y", Y)
    starts = [fnn.init(net, key=k) for k in range(MEMBERS)]
    opts = opt if isinstance(opt, list) else [opt] * MEMBERS
    not_side_by_side(monkeypatch)
    many = fnn.fit_many(net, starts, opt, X, y, epochs=2, **args)
    single = fnn.fit(net, starts[1], opts[1], X, y, epochs=2, key=1, **args)
    assert_same_fit(many[1], single)


@pytest.mark.parametrize("hidden, side", [(8, True), (12, False)])
def test_side_by_side_runs_where_it_pays(hidden, side, monkeypatch):
    """Products of 32 x 8 x 8 = 2048 multiply-adds: side by side; of 32 x 12 x 12 = 4608,
    which fit the engine's loops too, but past where side by side pays: a fit per member,
    early stopping and a plateau watch or not (a fit runs them epochs at a time too)."""
    from fnn import side_by_side

    net = fnn.mlp([2, hidden, hidden, 1])
    starts = [fnn.init(net, key=k) for k in range(3)]
    common = dict(epochs=3, batch_size=32, validation=(X_VAL, Y_VAL),
                  reduce_on_plateau=fnn.reduce_on_plateau(patience=1),
                  early_stopping=fnn.early_stopping(patience=50))  # fmt: skip
    assert fnn.engine.members_side_by_side(net.sizes, 32)
    assert side_by_side.pays(net, len(X), 32) == side
    if side:
        trained_side_by_side(monkeypatch)
    else:  # the kernel of members side by side must not run
        monkeypatch.setattr(side_by_side, "train", None)
    many = fnn.fit_many(net, starts, fnn.adam(0.01), X, Y, keys=range(3), **common)
    for k, result in enumerate(many):
        assert_same_fit(result, fnn.fit(net, starts[k], fnn.adam(0.01), X, Y, key=k, **common))


def test_members_at_different_steps_run_one_fit_each(monkeypatch):
    early = fnn.fit(NET, STARTS[0], OPTS[0], X, Y, epochs=1, batch_size=16).opt_state
    states = [early, None]
    not_side_by_side(monkeypatch)
    many = fnn.fit_many(NET, STARTS[:2], OPTS[:2], X, Y, epochs=2, batch_size=16,
                        opt_states=states)  # fmt: skip
    assert_same_fit(many[0], fnn.fit(NET, STARTS[0], OPTS[0], X, Y, epochs=2, batch_size=16,
                                     opt_state=early))  # fmt: skip


def test_the_side_by_side_kernel_announces_its_compilation_with_the_calls_arguments(monkeypatch):
    from fnn import engine, kernels

    seen = []
    monkeypatch.setattr(engine, "_compiled_for", lambda *args: False)  # as in a new process
    monkeypatch.setattr(engine, "announce", lambda *args: seen.append(args))
    fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=2, batch_size=16, keys=KEYS, l2=L2)
    members = [args for args in seen if args[0] is kernels.train_members]
    ((kernel, arguments, dtype_at, purpose, _),) = members  # once, before the first group
    assert kernel is kernels.train_members and purpose == "fit_many"
    assert arguments[dtype_at].dtype == np.float64
    # the arguments are a call's: their signature is a compiled version's (the disk cache's key)
    assert tuple(kernel.typeof_pyval(argument) for argument in arguments) in kernel.overloads


def test_groups_fill_the_cache_and_share_the_threads_evenly():
    from fnn.side_by_side import _groups

    def sizes(count, threads, batch=64, net=(2, 5, 2, 1)):
        return [len(group) for group in _groups(count, threads, batch, net, 8)]

    assert sizes(64, 1) == [32] * 2  # moons-adam's members: 32 a call (13.8 KB each)
    assert sizes(64, 2) == [32] * 2 and sizes(64, 3) == [22, 21, 21]
    assert sizes(5, 1) == [5] and sizes(5, 2) == [3, 2] and sizes(3, 8) == [1, 1, 1]
    assert sizes(200, 1, batch=1) == [29] * 4 + [28] * 3  # at most 32 a call, then evened out
    assert sizes(20, 1, batch=4096) == [7, 7, 6]  # at least 8 a call, then evened out
    assert sum(sizes(1000, 7)) == 1000
    # dealt round the groups, so that neighbours in a grid (stopping early together) part
    groups = _groups(10, 2, 64, (2, 5, 2, 1), 8)
    assert [group.tolist() for group in groups] == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]
    dealt = np.concatenate(_groups(1000, 7, 64, (2, 5, 2, 1), 8))
    assert np.array_equal(np.sort(dealt), np.arange(1000))


# -- callback and progress -------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 2])
def test_callback_sees_every_epoch_of_every_member_and_changes_no_bit(threads):
    calls = []  # list.append needs no lock, even from worker threads

    def callback(member, epoch, params, history):
        calls.append((member, epoch, params, history))

    kwargs = dict(validation=(X_VAL, Y_VAL))
    many = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=6, batch_size=16, keys=KEYS, l2=L2,
                        threads=threads, callback=callback, **kwargs)  # fmt: skip
    for result, single in zip(many, singles(6, **kwargs)):
        assert_same_fit(result, single)
    assert sorted((member, epoch) for member, epoch, _, _ in calls) == [
        (member, epoch) for member in range(MEMBERS) for epoch in range(6)
    ]
    for member, epoch, params, history in calls:  # the member's own state after that epoch
        assert np.array_equal(history.val_loss, many[member].history.val_loss[: epoch + 1])
        if epoch == 5:
            assert np.array_equal(params.layers[0].W, many[member].params.layers[0].W)


@pytest.mark.parametrize("threads", [1, 2])
def test_callback_returning_true_stops_that_member_only(threads):
    def stop_member_1_after_epoch_3(member, epoch, params, history):
        return member == 1 and epoch == 3

    many = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=10, batch_size=16, keys=KEYS, l2=L2,
                        threads=threads, callback=stop_member_1_after_epoch_3)  # fmt: skip
    expected = singles(10)
    expected[1] = fnn.fit(NET, STARTS[1], OPTS[1], X, Y, epochs=10, batch_size=16, key=KEYS[1],
                          l2=L2[1], callback=lambda epoch, params, history: epoch == 3)  # fmt: skip
    for result, single in zip(many, expected):
        assert_same_fit(result, single)
    assert [len(result.history.loss) for result in many] == [10, 4, 10, 10, 10]
    assert many[1].history.stopped_epoch == 3


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", [RuntimeError, ValueError])
def test_a_callback_error_propagates_with_the_member_named(threads, kind):
    def callback(member, epoch, params, history):
        if member == 3 and epoch == 2:
            raise kind("the user's message")

    with pytest.raises(kind) as caught:
        fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=4, threads=threads, callback=callback)
    assert str(caught.value) == "the user's message"  # the user's own error, not rewritten
    assert caught.value.__notes__ == ["fit_many member 3, epoch 2: raised by callback"]


def test_a_callback_answer_that_is_not_a_bool_names_the_member():
    def callback(member, epoch, params, history):
        return "stop" if member == 2 else None

    with pytest.raises(TypeError, match="^member 2: callback must return a bool .* got 'stop'"):
        fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=2, threads=2, callback=callback)


def without_tqdm(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


@pytest.mark.parametrize("threads", [1, 2])
def test_progress_counts_finished_members_and_changes_no_bit(threads, monkeypatch, capsys):
    without_tqdm(monkeypatch)
    many = fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=5, batch_size=16, keys=KEYS, l2=L2,
                        threads=threads, progress=True)  # fmt: skip
    for result, single in zip(many, singles(5)):
        assert_same_fit(result, single)
    err = capsys.readouterr().err
    assert err.rstrip("\n").split("\r")[-1].startswith(f"fit_many: members {MEMBERS}/{MEMBERS}")
    assert err.endswith("\n")


def test_progress_bar_with_tqdm(capsys):
    pytest.importorskip("tqdm")
    fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=2, threads=2, progress=True)
    err = capsys.readouterr().err
    assert "fit_many" in err and f"{MEMBERS}/{MEMBERS}" in err


def test_progress_is_drawn_by_the_calling_thread_only(monkeypatch):
    import threading

    from fnn import ensembles

    shown = []

    def printer(total, shown_rows, **options):
        def show(done, records, note=""):
            shown.append((done, threading.current_thread() is threading.main_thread()))

        return show

    monkeypatch.setattr(ensembles.progress_display, "printer", printer)
    fnn.fit_many(NET, STARTS, OPTS, X, Y, epochs=2, threads=2, progress=True)
    assert shown == [(done, True) for done in range(1, MEMBERS + 1)] + [(None, True)]


def test_progress_ends_its_line_when_a_member_fails(monkeypatch, capsys):
    import functools

    from fnn import ensembles

    without_tqdm(monkeypatch)
    drawn_at_once = functools.partial(ensembles.progress_display.printer, interval=0.0)
    monkeypatch.setattr(ensembles.progress_display, "printer", drawn_at_once)
    opts = [fnn.sgd(0.01), fnn.sgd(1e200), fnn.sgd(0.01)]
    with pytest.raises(FloatingPointError, match="^member 1: "):
        # one thread: member 0 finishes (a line is drawn) before member 1 fails
        fnn.fit_many(NET, STARTS[:3], opts, X, Y, epochs=3, threads=1, progress=True)
    err = capsys.readouterr().err
    assert "1/3" in err and err.endswith("\n")


def test_map_on_threads_raises_the_first_failure_by_index_and_reports_from_the_caller():
    import threading

    from fnn.threads import map_on_threads

    one_runs, three_failing = threading.Event(), threading.Event()

    def call(index):  # index 3 fails first, while index 1 runs: 1 is still the one raised
        if index == 1:
            one_runs.set()
            three_failing.wait(timeout=60)
            raise KeyError(index)
        if index == 3:
            one_runs.wait(timeout=60)
            three_failing.set()
            raise KeyError(index)
        return index

    with pytest.raises(KeyError) as caught:
        map_on_threads(call, 4, 4, "test")
    assert caught.value.args == (1,)
    reported = []
    results = map_on_threads(lambda i: i * i, 6, 2, "test", on_done=lambda i: reported.append(
        (i, threading.current_thread() is threading.main_thread())))  # fmt: skip
    assert results == [0, 1, 4, 9, 16, 25]
    assert sorted(reported) == [(i, True) for i in range(6)]

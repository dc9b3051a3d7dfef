"""Early stopping and reduce-on-plateau on any metric: ``monitor=`` a History field or a
function of the validation data, ``mode="min"|"max"``; the best epoch's params and optimizer
state, resuming bit for bit, ``history.monitor``, the errors, and the loops that share
fnn/epochs.py (L-BFGS, fit_many, sweep)."""

from __future__ import annotations

import numpy as np
import pytest

import fnn
from fnn import epochs
from fnn.types import EngineRun

rng = np.random.default_rng(7)
X_ALL = rng.normal(size=(120, 2))
Y_ALL = ((X_ALL[:, 0] ** 2 + X_ALL[:, 1] + rng.normal(scale=0.6, size=120)) > 0.5).astype(int)
X, Y = X_ALL[:90], Y_ALL[:90]
X_VAL, Y_VAL = X_ALL[90:], Y_ALL[90:]
NET = fnn.mlp([2, 8, 1], hidden="tanh")
OPTIONS = dict(batch_size=16, key=3, validation=(X_VAL, Y_VAL))


def bits(params):
    return b"".join(part.tobytes() for layer in params.layers for part in layer)


def state_bits(state):
    return (state.optimizer, state.step, state.plateau, [bits(slot) for slot in state.slots])


def balanced_accuracy(net, params, X_val, y_val):
    """A metric fnn's History does not have: the mean of the two classes' recalls."""
    predicted = fnn.predict(net, params, X_val)
    y_val = np.asarray(y_val)
    return np.mean([np.mean(predicted[y_val == c] == c) for c in (0, 1)])


# -- monitoring a History field ------------------------------------------------------------------


@pytest.mark.parametrize(
    "monitor, mode, pick",
    [("val_accuracy", "max", np.argmax), ("accuracy", "max", np.argmax),
     ("loss", "min", np.argmin), ("val_loss", "min", np.argmin)],
)  # fmt: skip
def test_early_stopping_on_a_history_field_keeps_its_best_epoch(monitor, mode, pick):
    opt = fnn.adam(0.3)
    stopper = fnn.early_stopping(patience=4, monitor=monitor)
    assert stopper.mode == mode  # from the name
    result = fnn.fit(NET, fnn.init(NET, key=0), opt, X, Y, epochs=200, early_stopping=stopper,
                     **OPTIONS)  # fmt: skip
    watched = getattr(result.history, monitor)
    ran = len(watched)
    best = int(pick(watched))  # the first best value: later ties are no improvement
    assert ran < 200, "the test needs training to stop early"
    assert ran == best + 1 + 4
    assert result.history.params_epoch == best and result.history.stopped_epoch == ran - 1
    until_best = fnn.fit(NET, fnn.init(NET, key=0), opt, X, Y, epochs=best + 1, **OPTIONS)
    assert bits(result.params) == bits(until_best.params)
    assert state_bits(result.opt_state) == state_bits(until_best.opt_state)
    assert len(result.history.monitor) == 0  # no function was monitored


def test_the_default_monitor_is_val_loss_with_validation_and_loss_without():
    opt = fnn.sgd(3.0)
    for validation, name in (((X_VAL, Y_VAL), "val_loss"), (None, "loss")):
        runs = [
            fnn.fit(NET, fnn.init(NET, key=1), opt, X, Y, epochs=300, validation=validation,
                    early_stopping=fnn.early_stopping(patience=3, monitor=monitor))
            for monitor in (None, name)
        ]  # fmt: skip
        assert bits(runs[0].params) == bits(runs[1].params)
        assert runs[0].history.params_epoch == runs[1].history.params_epoch


def test_min_delta_counts_in_the_direction_of_the_mode():
    """mode="max": an epoch improves when its value exceeds best + min_delta."""
    history_values = [0.5, 0.55, 0.56, 0.7, 0.69, 0.71, 0.72]
    config = fnn.early_stopping(patience=10, min_delta=0.05, monitor="val_accuracy")
    best = epochs.NO_BEST
    for epoch, value in enumerate(history_values):
        best, _ = epochs.watch_best(config, best, value, epoch, epoch)
    assert best.point == 3  # 0.55 and 0.56 fall short of 0.5 + 0.05 and 0.55; 0.72 of 0.75
    minimise = config._replace(mode="min")
    best = epochs.NO_BEST
    for epoch, value in enumerate(history_values):
        best, _ = epochs.watch_best(minimise, best, value, epoch, epoch)
    assert best.point == 0


# -- monitoring a function ------------------------------------------------------------------------


def test_a_monitored_function_sees_each_epochs_params_and_the_validation_data_as_given():
    y_val = list(Y_VAL)  # as given: a list stays a list
    seen = []

    def monitor(net, params, X_val, y_val_given):
        seen.append((net, bits(params), X_val is X_VAL, y_val_given is y_val,
                     params.layers[0].W.flags.writeable))  # fmt: skip
        return balanced_accuracy(net, params, X_val, y_val_given)

    per_epoch = []
    result = fnn.fit(NET, fnn.init(NET, key=2), fnn.adam(0.05), X, Y, epochs=12, batch_size=16,
                     key=3, validation=(X_VAL, y_val),
                     early_stopping=fnn.early_stopping(patience=50, monitor=monitor, mode="max"),
                     callback=lambda epoch, params, history: per_epoch.append(params))  # fmt: skip
    assert [entry[0] for entry in seen] == [NET] * 12
    assert [entry[1] for entry in seen] == [bits(params) for params in per_epoch]
    assert all(entry[2] and entry[3] and not entry[4] for entry in seen)
    expected = [balanced_accuracy(NET, params, X_VAL, Y_VAL) for params in per_epoch]
    np.testing.assert_array_equal(result.history.monitor, expected)
    assert not result.history.monitor.flags.writeable
    assert result.history.params_epoch == int(np.argmax(expected))


def test_early_stopping_on_a_function_restores_a_pair_that_resumes_bit_for_bit():
    opt = fnn.adam(0.05)
    stopper = fnn.early_stopping(patience=4, monitor=balanced_accuracy, mode="max")
    plateau = fnn.reduce_on_plateau(factor=0.5, patience=1, monitor=balanced_accuracy,
                                    mode="max")  # fmt: skip
    options = dict(OPTIONS, reduce_on_plateau=plateau)
    result = fnn.fit(NET, fnn.init(NET, key=1), opt, X, Y, epochs=200, early_stopping=stopper,
                     **options)  # fmt: skip
    best = result.history.params_epoch
    assert best == int(np.argmax(result.history.monitor))
    assert 0 < best < len(result.history.monitor) - 1 < 199
    assert result.opt_state.plateau.scale < 1.0  # the best epoch's cut, restored with it
    until_best = fnn.fit(NET, fnn.init(NET, key=1), opt, X, Y, epochs=best + 1, **options)
    assert bits(result.params) == bits(until_best.params)
    assert state_bits(result.opt_state) == state_bits(until_best.opt_state)
    np.testing.assert_array_equal(until_best.history.monitor, result.history.monitor[: best + 1])
    resumed = fnn.fit(NET, result.params, opt, X, Y, epochs=3, opt_state=result.opt_state,
                      **options)  # fmt: skip
    straight = fnn.fit(NET, fnn.init(NET, key=1), opt, X, Y, epochs=best + 4, **options)
    assert bits(resumed.params) == bits(straight.params)
    assert resumed.opt_state.plateau == straight.opt_state.plateau


def test_both_watchers_on_one_function_call_it_once_an_epoch():
    calls = []

    def monitor(net, params, X_val, y_val):
        calls.append(1)
        return fnn.loss(net, params, X_val, y_val)

    result = fnn.fit(NET, fnn.init(NET, key=0), fnn.adam(0.05), X, Y, epochs=7,
                     early_stopping=fnn.early_stopping(patience=50, monitor=monitor, mode="min"),
                     reduce_on_plateau=fnn.reduce_on_plateau(monitor=monitor, mode="min"),
                     **OPTIONS)  # fmt: skip
    assert len(calls) == 7
    # the loss of the validation rows after each epoch: the History's own val_loss
    np.testing.assert_allclose(result.history.monitor, result.history.val_loss, rtol=1e-12)


# -- reduce on plateau ------------------------------------------------------------------------------


def torch_rates(values, lr, mode, factor, patience):
    """The rate torch's ReduceLROnPlateau(mode=mode) sets after each of ``values``."""
    torch = pytest.importorskip("torch")
    parameter = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.SGD([parameter], lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=mode, threshold_mode="abs", threshold=0.0, factor=factor,
        patience=patience,
    )  # fmt: skip
    rates = []
    for value in values:
        scheduler.step(float(value))
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


@pytest.mark.parametrize("monitor", ["val_accuracy", "accuracy", "function"])
def test_plateau_on_a_maximised_metric_cuts_as_torch_and_resumes_bit_for_bit(monitor):
    lr = 0.5
    opt = fnn.momentum(lr, beta=0.5)
    function = monitor == "function"
    watcher = fnn.reduce_on_plateau(factor=0.5, patience=1,
                                    monitor=balanced_accuracy if function else monitor,
                                    mode="max" if function else None)  # fmt: skip
    params = fnn.init(NET, key=1)
    whole = fnn.fit(NET, params, opt, X, Y, epochs=30, reduce_on_plateau=watcher, **OPTIONS)
    watched = whole.history.monitor if function else getattr(whole.history, monitor)
    expected = torch_rates(watched, lr, "max", factor=0.5, patience=1)
    assert len(set(expected)) >= 3, "the test needs at least two cuts"
    state, current, rates = None, params, []
    for _ in range(30):
        step = fnn.fit(NET, current, opt, X, Y, epochs=1, opt_state=state,
                       reduce_on_plateau=watcher, **OPTIONS)  # fmt: skip
        current, state = step.params, step.opt_state
        rates.append(lr * state.plateau.scale)
    assert bits(current) == bits(whole.params)
    assert state.plateau == whole.opt_state.plateau
    np.testing.assert_allclose(rates, expected, rtol=1e-14, atol=0)
    # the best score is kept as minus the best value in mode "max"
    assert state.plateau.best == -max(watched)


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [fnn.early_stopping, fnn.reduce_on_plateau])
def test_bad_monitors_and_modes_are_refused_when_the_config_is_built(make):
    with pytest.raises(
        ValueError,
        match=r"monitor must be one of \['loss', 'accuracy', "
        r"'val_loss', 'val_accuracy'\].*got 'val_acc'",
    ):
        make(monitor="val_acc")
    with pytest.raises(TypeError, match="monitor must be None, one of .* got 3"):
        make(monitor=3)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max' with a function monitor"):
        make(monitor=balanced_accuracy)
    with pytest.raises(ValueError, match="mode must be 'min', 'max' or None, got 'maximum'"):
        make(monitor="loss", mode="maximum")
    assert make(monitor="val_loss", mode="max").mode == "max"  # given, it stands


@pytest.mark.parametrize("watcher", ["early_stopping", "reduce_on_plateau"])
def test_what_a_fit_cannot_monitor_is_a_value_error_naming_the_watcher(watcher):
    make = getattr(fnn, watcher)
    params = fnn.init(NET, key=0)
    with pytest.raises(ValueError, match=rf"{watcher}.monitor='val_accuracy' needs validation "
                                         r"data: pass validation=\(X_val, y_val\), or monitor "
                                         r"'accuracy'"):  # fmt: skip
        fnn.fit(NET, params, fnn.adam(), X, Y, epochs=2, **{watcher: make(monitor="val_accuracy")})
    with pytest.raises(ValueError, match=rf"{watcher}.monitor is a function of the validation "
                                         r"data, but fit has no validation"):  # fmt: skip
        fnn.fit(NET, params, fnn.adam(), X, Y, epochs=2,
                **{watcher: make(monitor=balanced_accuracy, mode="max")})  # fmt: skip
    regression = fnn.mlp([2, 4, 1], output="identity")
    with pytest.raises(ValueError, match=rf"{watcher}.monitor='accuracy', but the 'mse' loss has "
                                         "no accuracy"):  # fmt: skip
        fnn.fit(regression, fnn.init(regression), fnn.adam(), X, X[:, 0], epochs=2,
                **{watcher: make(monitor="accuracy")})  # fmt: skip


@pytest.mark.parametrize(
    "value, error, message",
    [(np.nan, ValueError, "monitor must return a finite number, got nan after epoch 0"),
     (np.inf, ValueError, "monitor must return a finite number, got inf after epoch 0"),
     (np.array([0.5, 0.5]), TypeError, r"monitor must return a real number, got array of "
                                       r"shape \(2,\)"),
     ("0.5", TypeError, "monitor must return a real number, got '0.5'"),
     (None, TypeError, "monitor must return a real number, got None"),
     (True, TypeError, "monitor must return a real number, got True")],
)  # fmt: skip
def test_a_function_returning_no_finite_number_stops_fit_clearly(value, error, message):
    params = fnn.init(NET, key=0)
    before = bits(params)
    with pytest.raises(error, match=message):
        fnn.fit(NET, params, fnn.adam(), X, Y, epochs=3, validation=(X_VAL, Y_VAL),
                early_stopping=fnn.early_stopping(monitor=lambda *_: value, mode="min"))  # fmt: skip
    assert bits(params) == before


def test_numbers_of_any_real_kind_are_accepted():
    for value in (1, np.float32(0.25), np.array(0.5), np.int64(2)):
        result = fnn.fit(NET, fnn.init(NET), fnn.adam(), X, Y, epochs=2,
                         validation=(X_VAL, Y_VAL),
                         early_stopping=fnn.early_stopping(monitor=lambda *_, v=value: v,
                                                           mode="max"))  # fmt: skip
        np.testing.assert_array_equal(result.history.monitor, [float(value)] * 2)


def test_two_different_functions_are_refused():
    with pytest.raises(ValueError, match="must be the same function when both are functions"):
        fnn.fit(NET, fnn.init(NET), fnn.adam(), X, Y, epochs=2, validation=(X_VAL, Y_VAL),
                early_stopping=fnn.early_stopping(monitor=balanced_accuracy, mode="max"),
                reduce_on_plateau=fnn.reduce_on_plateau(monitor=lambda *a: 0.0, mode="min"))  # fmt: skip


# -- the other loops ---------------------------------------------------------------------------------


def test_lbfgs_early_stopping_monitors_a_name_or_a_function():
    for monitor, mode in (("val_accuracy", None), (balanced_accuracy, "max")):
        stopper = fnn.early_stopping(patience=3, monitor=monitor, mode=mode)
        result = fnn.fit(NET, fnn.init(NET, key=0), fnn.lbfgs(), X, Y, epochs=200,
                         validation=(X_VAL, Y_VAL), early_stopping=stopper)  # fmt: skip
        history = result.history
        watched = history.val_accuracy if isinstance(monitor, str) else history.monitor
        assert len(watched) == len(history.loss)
        assert history.params_epoch == int(np.argmax(watched))
        assert len(history.loss) == history.params_epoch + 1 + 3  # it stopped on the monitor
        if not isinstance(monitor, str):
            np.testing.assert_array_equal(
                history.monitor[-1],
                balanced_accuracy(NET, fnn.fit(NET, fnn.init(NET, key=0), fnn.lbfgs(), X, Y,
                                               epochs=len(history.loss)).params, X_VAL, Y_VAL),
            )  # fmt: skip


def test_fit_many_members_monitor_as_fit_does():
    stopper = fnn.early_stopping(patience=3, monitor=balanced_accuracy, mode="max")
    members = [fnn.init(NET, key=k) for k in range(2)]
    results = fnn.fit_many(NET, members, fnn.adam(0.3), X, Y, epochs=60, batch_size=16,
                           validation=(X_VAL, Y_VAL), early_stopping=stopper, threads=2)  # fmt: skip
    for k, result in enumerate(results):
        alone = fnn.fit(NET, members[k], fnn.adam(0.3), X, Y, epochs=60, batch_size=16, key=k,
                        validation=(X_VAL, Y_VAL), early_stopping=stopper)  # fmt: skip
        assert bits(result.params) == bits(alone.params)
        np.testing.assert_array_equal(result.history.monitor, alone.history.monitor)


def test_a_sweeps_monitored_function_sees_each_folds_validation_rows():
    sizes = []

    def monitor(net, params, X_val, y_val):
        sizes.append(len(X_val))
        return balanced_accuracy(net, params, X_val, y_val)

    folds = fnn.kfold(0, len(X), 3)
    stopper = fnn.early_stopping(patience=2, monitor=monitor, mode="max")
    results = fnn.sweep(NET, fnn.adam(0.1), X, Y, folds=folds, epochs=5, early_stopping=stopper,
                        executor="threads", workers=1)  # fmt: skip
    assert sorted(set(sizes)) == sorted({len(fold.val) for fold in folds})
    for result in results:
        assert result.history.params_epoch == int(np.argmax(result.history.monitor))


def test_a_ctrl_c_history_marks_the_unmonitored_epochs():
    records = np.arange(10.0).reshape(5, 2)
    partial = EngineRun(*(None,) * 7, records=np.full((4, 3), 7.0), done=1, watched=None)
    interrupt = KeyboardInterrupt()
    interrupt.partial = partial
    epochs.attach_history(interrupt, NET, records, True, monitored=True)
    np.testing.assert_array_equal(interrupt.history.monitor, [8.0, 9.0, np.nan])
    np.testing.assert_array_equal(interrupt.history.loss, [0.0, 1.0, 7.0])

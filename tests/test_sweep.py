"""fnn.kfold and fnn.sweep: folds partition the rows; every trial is the plain fit it stands for.

Each executor (threads, joblib processes, a real Dask LocalCluster of two worker processes)
must return, for every trial, the same bits as ``fnn.fit`` called here on the trial's fold,
hyperparameters and key. Ray is tested in test_sweep_ray.py (its start-up is slow).
"""

import math
import os
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fnn
from fnn import sweeps

# -- kfold -----------------------------------------------------------------------------------------


@given(n=st.integers(2, 60), k=st.integers(2, 8), key=st.integers(0, 2**64 - 1), data=st.data())
def test_kfold_partitions_the_rows(n, k, key, data):
    k = min(k, n)
    stratified = data.draw(st.booleans())
    labels = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)) if stratified else None
    folds = fnn.kfold(key, n, k, stratify=labels)
    assert len(folds) == k
    every_val = np.concatenate([fold.val for fold in folds])
    assert np.array_equal(np.sort(every_val), np.arange(n))  # each row validates exactly once
    sizes = [fold.val.size for fold in folds]
    assert max(sizes) - min(sizes) <= 1
    for fold in folds:
        assert np.array_equal(np.union1d(fold.train, fold.val), np.arange(n))
        assert np.intersect1d(fold.train, fold.val).size == 0
        for part in fold:
            assert part.dtype == np.int64 and not part.flags.writeable
            assert np.all(np.diff(part) > 0)  # increasing
    if stratified:
        labels = np.array(labels)
        for label in np.unique(labels):
            count = (labels == label).sum()
            per_fold = [(labels[fold.val] == label).sum() for fold in folds]
            assert set(per_fold) <= {count // k, -(-count // k)}


def test_kfold_is_deterministic_in_its_key():
    labels = np.arange(50) % 3
    first, again = fnn.kfold(7, 50, 5, labels), fnn.kfold(7, 50, 5, labels)
    assert all(np.array_equal(a.val, b.val) for a, b in zip(first, again))
    other = fnn.kfold(8, 50, 5, labels)
    assert not all(np.array_equal(a.val, b.val) for a, b in zip(first, other))
    seeded = fnn.kfold(np.random.SeedSequence(7), 50, 5, labels)
    assert all(np.array_equal(a.val, b.val) for a, b in zip(seeded, fnn.kfold(
        np.random.SeedSequence(7), 50, 5, labels)))  # fmt: skip


def test_kfold_stratify_forms_agree():
    labels = np.array([2, 0, 1, 1, 0, 2, 2, 1, 0, 0, 1, 2])
    one_hot = np.eye(3)[labels]
    names = np.array(["c", "a", "b"])[labels]  # sorted names keep the classes' order
    for other in (one_hot, names, labels[:, None], list(labels)):
        pairs = zip(fnn.kfold(3, 12, 4, labels), fnn.kfold(3, 12, 4, other))
        assert all(np.array_equal(a.val, b.val) for a, b in pairs)


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((0, 10, 1), ValueError, "k must be >= 2, got 1"),
        ((0, 3, 4), ValueError, "n_samples must be >= 4, got 3"),
        ((-1, 10, 2), ValueError, "key must be >= 0, got -1"),
        ((0, 10, 2.0), TypeError, "k must be an integer"),
        ((0, 4, 2, [0, 1, 1]), ValueError, r"stratify must hold one label per row, shape \(4,\)"),
        ((0, 2, 2, [0.5, np.nan]), ValueError, "stratify must hold finite labels"),
        ((0, 2, 2, [None, 1]), TypeError, "stratify must hold integer, string or bool labels"),
    ],
)
def test_kfold_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        fnn.kfold(*args)


# -- a small problem and its plain fits ------------------------------------------------------------

rng = np.random.default_rng(3)
X = rng.normal(size=(90, 4))
Y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.8)  # three classes
NET = fnn.mlp([4, 8, 3], output="softmax")
FOLDS = fnn.kfold(1, len(X), 3, stratify=Y)
GRID = {"learning_rate": [0.01, 0.05], "l2": [0.0, 0.3]}
KEYS = [0, 5]
OPTIONS = dict(folds=FOLDS, keys=KEYS, epochs=12, batch_size=16)


def plain_fit(setting, key, fold, early_stopping=None, dtype=np.float64):
    """What the docstring of fnn.sweep says a trial is."""
    train, val = FOLDS[fold]
    return fnn.fit(NET, fnn.init(NET, key=key, dtype=dtype), setting.opt, X[train], Y[train],
                   epochs=setting.epochs, batch_size=setting.batch_size, key=key, l2=setting.l2,
                   validation=(X[val], Y[val]), early_stopping=early_stopping)  # fmt: skip


@pytest.fixture(scope="module")
def local():
    return fnn.sweep(NET, fnn.adam(), X, Y, GRID, **OPTIONS)


def assert_is_plain_fit(result, early_stopping=None, dtype=np.float64):
    expected = plain_fit(result.setting, result.key, result.fold, early_stopping, dtype)
    for got, want in zip(result.params.layers, expected.params.layers):
        assert got.W.dtype == want.W.dtype == dtype
        assert np.array_equal(got.W, want.W) and np.array_equal(got.b, want.b)
    for got, want in zip(result.history, expected.history):
        assert np.array_equal(got, want) if isinstance(want, np.ndarray) else got == want
    epoch = expected.history.params_epoch
    assert result.val_loss == expected.history.val_loss[epoch]
    assert result.val_accuracy == expected.history.val_accuracy[epoch]
    assert result.error is None


def assert_read_only(result):
    arrays = [*result.history[:4], *(a for layer in result.params.layers for a in layer)]
    assert not any(array.flags.writeable for array in arrays)


def assert_same(results, reference):
    assert len(results) == len(reference)
    for got, want in zip(results, reference):
        assert (got.setting, got.key, got.fold) == (want.setting, want.key, want.fold)
        for a, b in zip(got.params.layers, want.params.layers):
            assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)
        assert all(np.array_equal(a, b) for a, b in zip(got.history[:4], want.history[:4]))
        assert (got.val_loss, got.val_accuracy) == (want.val_loss, want.val_accuracy)
        assert_read_only(got)


# -- threads (the default) -------------------------------------------------------------------------


def test_every_trial_is_the_plain_fit(local):
    settings = [(lr, l2) for lr in GRID["learning_rate"] for l2 in GRID["l2"]]
    order = [(s, key, fold) for s in settings for key in KEYS for fold in range(len(FOLDS))]
    assert [((r.setting.opt.learning_rate, r.setting.l2), r.key, r.fold) for r in local] == order
    for result in local:
        assert result.setting.opt == fnn.adam(result.setting.opt.learning_rate)
        assert (result.setting.epochs, result.setting.batch_size) == (12, 16)
        assert_is_plain_fit(result)
        assert_read_only(result)


def test_thread_count_does_not_change_the_bits(local):
    assert_same(fnn.sweep(NET, fnn.adam(), X, Y, GRID, workers=1, **OPTIONS), local)


def test_threads_default_to_numbas_thread_count(monkeypatch):
    numba = pytest.importorskip("numba")
    seen = []
    monkeypatch.setattr(sweeps, "_on_threads", lambda data, workers: seen.append(workers) or [])
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # caps it too (fnn.threads)
    if hasattr(os, "sched_getaffinity"):  # and the cores this process may use
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    for count in (1, 3):
        monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", count)
        fnn.sweep(NET, fnn.adam(), X, Y, GRID, executor="threads", **OPTIONS)
    fnn.sweep(NET, fnn.adam(), X, Y, folds=FOLDS[:2], epochs=1, workers=8,
              executor="threads")  # 2 trials  # fmt: skip
    assert seen == [1, 3, 2]


def test_inputs_are_not_changed():
    X_in, Y_in = X.copy(), Y.copy()
    X_in.setflags(write=False)
    fnn.sweep(NET, fnn.adam(0.01), X_in, Y_in, folds=FOLDS[:1], epochs=2, batch_size=32)
    assert np.array_equal(X_in, X) and np.array_equal(Y_in, Y)
    assert not X_in.flags.writeable and Y_in.flags.writeable


def test_grid_as_a_list_of_settings_with_other_optimizers_and_float32():
    grid = [
        {"opt": fnn.sgd(0.1), "batch_size": None, "epochs": 5},
        {"opt": fnn.rmsprop(0.01), "learning_rate": 0.003},
        {},
    ]
    results = fnn.sweep(NET, fnn.momentum(0.05), X, Y, grid, folds=FOLDS[:2], epochs=4,
                        batch_size=32, l2=0.1, dtype=np.float32)  # fmt: skip
    settings = [result.setting for result in results[::2]]
    assert settings == [
        fnn.Setting(fnn.sgd(0.1), 0.1, 5, None),
        fnn.Setting(fnn.rmsprop(0.003), 0.1, 4, 32),
        fnn.Setting(fnn.momentum(0.05), 0.1, 4, 32),
    ]
    for result in results:
        assert_is_plain_fit(result, dtype=np.float32)


def test_early_stopping_reports_the_restored_epoch():
    stop = fnn.early_stopping(patience=2, min_delta=0.05)
    results = fnn.sweep(NET, fnn.adam(0.05), X, Y, folds=FOLDS, epochs=40, batch_size=16,
                        early_stopping=stop)  # fmt: skip
    assert any(result.history.stopped_epoch is not None for result in results)
    for result in results:
        assert_is_plain_fit(result, early_stopping=stop)


def test_regression_has_no_accuracy():
    net = fnn.mlp([4, 6, 1], output="identity")
    target = X @ np.array([1.0, -1.0, 0.5, 0.0])
    [result] = fnn.sweep(net, fnn.adam(0.01), X, target, folds=FOLDS[:1], epochs=3)
    assert math.isnan(result.val_accuracy) and result.val_loss == result.history.val_loss[-1]


def test_a_diverging_trial_is_a_result_not_an_exception():
    net = fnn.mlp([4, 6, 1], output="identity")
    target = X @ np.array([1.0, -1.0, 0.5, 0.0])
    grid = {"learning_rate": [0.01, 3.0]}  # sgd at 3.0 overflows within 30 epochs
    results = fnn.sweep(net, fnn.sgd(0.01), X, target, grid, folds=FOLDS[:2], epochs=30)
    good, bad = results[:2], results[2:]
    assert all(result.error is None for result in good)
    for result in bad:
        assert "not finite" in result.error
        assert math.isnan(result.val_loss) and math.isnan(result.val_accuracy)
        assert result.params is None and result.history is None
    summary = fnn.sweep_summary(results)
    assert math.isnan(summary.settings[1].val_loss_mean)
    assert summary.best.setting.opt.learning_rate == 0.01


def test_an_error_inside_a_trial_names_the_trial(monkeypatch):
    real_fit = sweeps.fit

    def failing_fit(*args, **kwargs):
        if kwargs.get("epochs") == 3 and kwargs.get("key") == 5:
            raise RuntimeError("disk full")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(sweeps, "fit", failing_fit)
    with pytest.raises(RuntimeError, match="disk full") as caught:
        fnn.sweep(NET, fnn.adam(), X, Y, folds=FOLDS[:1], keys=[0, 5], epochs=3,
                  executor="threads")  # fmt: skip
    assert caught.value.__notes__ == [
        "in sweep trial 1: adam learning_rate=0.001, l2=0.0, epochs=3, batch_size=None, "
        "key 5, fold 0"
    ]


# -- bad trials fail before anything runs, in one line naming the trial ---------------------------

BAD = [
    ({"grid": {"learning_rate": [0.01, -0.1]}}, ValueError,
     "sweep setting 1 (adam learning_rate=-0.1, l2=0.0, epochs=12, batch_size=16): "
     "learning_rate must be in (0.0, inf], got -0.1"),
    ({"grid": {"l2": [0.0, -1.0]}}, ValueError,
     "sweep setting 1 (adam learning_rate=0.001, l2=-1.0, epochs=12, batch_size=16): "
     "l2 must be in [0.0, inf], got -1.0"),
    ({"grid": [{"batch_size": 0}]}, ValueError, "sweep setting 0 (adam learning_rate=0.001, "
     "l2=0.0, epochs=12, batch_size=0): batch_size must be >= 1, got 0"),
    ({"grid": [{}, {"epochs": 0}]}, ValueError, "sweep setting 1 (adam learning_rate=0.001, "
     "l2=0.0, epochs=0, batch_size=16): epochs must be >= 1, got 0"),
    ({"grid": [{"opt": "adam"}]}, TypeError, "sweep setting 0 (str learning_rate=?, l2=0.0, "
     "epochs=12, batch_size=16): opt must be an optimizer config from one of fnn.sgd"),
    ({"grid": {"momentum": [0.9]}}, ValueError,
     "grid may name ['opt', 'learning_rate', 'l2', 'epochs', 'batch_size'], got 'momentum'"),
    ({"grid": {"l2": 0.1}}, TypeError, "grid['l2'] must be a non-empty list of values, got 0.1"),
    ({"grid": [{"l2": 0.1}, 3]}, TypeError, "grid[1] must be a dict of hyperparameters, got 3"),
    ({"keys": [0, -2]}, ValueError, "keys[1]: key must be >= 0, got -2"),
    ({"keys": 3}, TypeError, "keys must be a sequence of keys such as [0, 1, 2], got 3"),
    ({"folds": [(np.arange(10), np.arange(5, 20))]}, ValueError,
     "folds[0]: row 5 is in both train and val"),
    ({"folds": [(np.arange(10), np.array([95]))]}, ValueError,
     "folds[0].val must index rows 0..89, got 95 at position 0"),
    ({"folds": 5}, TypeError, "folds must be a sequence of (train, val) index pairs such as "
     "fnn.kfold(...), got 5"),
    ({"executor": "processes"}, ValueError,
     "executor must be one of ['joblib', 'members', 'ray', 'threads'], got 'processes'"),
    ({"executor": object()}, TypeError, "executor must be one of ['members', 'threads', "
     "'joblib', 'ray'] or a dask distributed.Client, got <object"),
    ({"executor": "members", "grid": [{"opt": fnn.sgd(0.1)}, {}]}, ValueError,
     "executor='members' trains the trials side by side in one kernel, which needs a network "
     "small enough for the engine's loops, the bce or mse loss without softmax or the ce loss "
     "with it, one kind of optimizer"),
    ({"workers": 0}, ValueError, "workers must be >= 1, got 0"),
    ({"executor": "ray", "workers": 2}, ValueError,
     "workers sets threads or joblib processes; a Ray cluster has its own workers"),
    ({"y": np.full(90, 3)}, ValueError, "y holds class labels, which must be integers in 0..2"),
    ({"dtype": np.int32}, TypeError, "dtype must be float32 or float64, got int32"),
]  # fmt: skip


@pytest.mark.parametrize("changes, error, message", BAD)
def test_bad_trials_fail_up_front_in_one_line(changes, error, message, monkeypatch):
    monkeypatch.setattr(sweeps, "fit_trial", None)  # nothing may run
    options = {**OPTIONS, "grid": GRID, "y": Y, **changes}
    y = options.pop("y")
    with pytest.raises(error) as caught:
        fnn.sweep(NET, fnn.adam(), X, y, **options)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(message), text


@pytest.mark.parametrize("executor", ["joblib", "ray"])
def test_a_missing_executor_names_its_extra(executor, monkeypatch):
    monkeypatch.setitem(sys.modules, executor, None)  # import fails as if not installed
    with pytest.raises(ImportError, match=rf"pip install 'fnn\[{executor}\]'"):
        fnn.sweep(NET, fnn.adam(), X, Y, executor=executor, **OPTIONS)


# -- summaries -------------------------------------------------------------------------------------


def test_summary_is_mean_and_sd_per_setting(local):
    summary = fnn.sweep_summary(local, by="val_accuracy")
    assert len(summary.settings) == 4
    for row in summary.settings:
        mine = [r for r in local if r.setting == row.setting]
        assert row.trials == len(mine) == len(KEYS) * len(FOLDS)
        losses = np.array([r.val_loss for r in mine])
        accuracies = np.array([r.val_accuracy for r in mine])
        assert row.val_loss_mean == pytest.approx(losses.mean(), rel=1e-12)
        assert row.val_loss_sd == pytest.approx(losses.std(ddof=1), rel=1e-12)
        assert row.val_accuracy_mean == pytest.approx(accuracies.mean(), rel=1e-12)
        assert row.val_accuracy_sd == pytest.approx(accuracies.std(ddof=1), rel=1e-12)
    by_accuracy = max(summary.settings, key=lambda row: row.val_accuracy_mean)
    assert summary.best == by_accuracy
    by_loss = fnn.sweep_summary(local).best
    assert by_loss == min(summary.settings, key=lambda row: row.val_loss_mean)


def test_summary_of_one_trial_has_no_sd(local):
    [row] = fnn.sweep_summary(local[:1]).settings
    assert row.trials == 1 and math.isnan(row.val_loss_sd)


@pytest.mark.parametrize(
    "results, by, error, match",
    [
        ([], "val_loss", ValueError, "results must hold at least one TrialResult, got none"),
        ([1.0], "val_loss", TypeError, r"results\[0\] must be a TrialResult from fnn.sweep"),
        (None, "val_loss", TypeError, "results must be a sequence of TrialResult"),
        ([], "accuracy", ValueError, "by must be one of"),
    ],
)
def test_summary_bad_input(results, by, error, match):
    with pytest.raises(error, match=match):
        fnn.sweep_summary(results, by=by)


# -- members side by side: the same bits, in one kernel --------------------------------------------

TINY = fnn.mlp([4, 5, 1])  # bce
BINARY = (Y > 0).astype(int)
UNEVEN = fnn.kfold(2, len(X), 4)  # folds of 22 and 23 rows: two sets of trials of one shape
TINY_GRID = {"learning_rate": [0.01, 0.1], "l2": [0.0, 0.2]}


@pytest.mark.parametrize("workers", [1, 2])
def test_members_are_the_plain_fits_with_their_own_rows_and_early_stopping(workers, monkeypatch):
    stop = fnn.early_stopping(patience=2, min_delta=0.01)
    options = dict(folds=UNEVEN, keys=KEYS, epochs=30, batch_size=16, early_stopping=stop)
    plain = fnn.sweep(TINY, fnn.adam(), X, BINARY, TINY_GRID, executor="threads", **options)
    monkeypatch.setattr(sweeps, "fit_trial", None)  # no trial runs a fit of its own
    members = fnn.sweep(TINY, fnn.adam(), X, BINARY, TINY_GRID, executor="members",
                        workers=workers, **options)  # fmt: skip
    assert_same(members, plain)
    for got, want in zip(members, plain):
        assert got.history.stopped_epoch == want.history.stopped_epoch
        assert got.history.params_epoch == want.history.params_epoch
    assert len({result.history.stopped_epoch for result in members}) > 2  # each its own


def test_members_is_the_executor_when_every_trial_can_train_side_by_side(monkeypatch):
    class Ran(Exception):
        pass

    def ran(executor):
        def run(*args):
            raise Ran(executor)

        return run

    monkeypatch.setattr(sweeps, "_on_members", ran("members"))
    monkeypatch.setattr(sweeps, "_on_threads", ran("threads"))
    monkeypatch.setattr(sweeps, "warm_up", lambda data: None)
    options = dict(folds=FOLDS, epochs=2, batch_size=16)
    cases = [
        (TINY, BINARY, None, "members"),
        (NET, Y, None, "members"),  # softmax with ce
        (fnn.mlp([4, 64, 64, 3], output="softmax"), Y, None, "threads"),  # products for BLAS
        (TINY, BINARY, {"opt": [fnn.adam(), fnn.sgd(0.1)]}, "threads"),  # two optimizers
    ]
    for net, y, grid, executor in cases:
        with pytest.raises(Ran, match=executor):
            fnn.sweep(net, fnn.adam(), X, y, grid, **options)


def test_a_diverging_member_is_a_result_and_the_others_are_the_plain_fits():
    net = fnn.mlp([4, 6, 1], output="identity")
    target = X @ np.array([1.0, -1.0, 0.5, 0.0])
    grid = {"learning_rate": [0.01, 3.0]}  # sgd at 3.0 overflows within 30 epochs
    options = dict(folds=FOLDS[:2], epochs=30)
    members = fnn.sweep(net, fnn.sgd(0.01), X, target, grid, executor="members", **options)
    plain = fnn.sweep(net, fnn.sgd(0.01), X, target, grid, executor="threads", **options)
    assert_same(members[:2], plain[:2])
    for got, want in zip(members[2:], plain[2:]):
        assert got.error == want.error and "not finite" in got.error
        assert got.params is None and math.isnan(got.val_loss)


# -- other executors: the same bits ----------------------------------------------------------------


def test_joblib_gives_the_same_bits(local):
    pytest.importorskip("joblib")
    assert_same(fnn.sweep(NET, fnn.adam(), X, Y, GRID, executor="joblib", workers=2, **OPTIONS),
                local)  # fmt: skip


def test_dask_local_cluster_gives_the_same_bits(local):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        assert len(client.scheduler_info()["workers"]) == 2
        results = fnn.sweep(NET, fnn.adam(), X, Y, GRID, executor=client, **OPTIONS)
        with pytest.raises(ValueError, match="a Dask cluster has its own workers"):
            fnn.sweep(NET, fnn.adam(), X, Y, GRID, executor=client, workers=2, **OPTIONS)
    assert_same(results, local)

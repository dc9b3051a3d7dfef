"""fnn.tune_trainable: a Ray Tune trial is the plain fit, reported epoch by epoch.

A real Tuner with an ASHA scheduler on a local Ray cluster of 2 CPUs must stop the bad trial
after its first epoch and let the good one run, every reported metric and the last
checkpoint being the bits of ``fnn.fit`` called here. A trial restarted from a checkpoint
must continue those bits. In a module of its own: starting Ray takes several seconds. Ray
Tune is imported, not skipped when missing: the [test] extra installs ``ray[tune]``.
"""

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import ray
import ray.train.constants
from ray import tune

import fnn
from fnn import tuning

NET = fnn.mlp([2, 8, 1])
RNG = np.random.default_rng(0)
X = RNG.normal(size=(80, 2))
Y = (X[:, 0] * X[:, 1] > 0).astype(int)
X_TRAIN, Y_TRAIN, VALIDATION = X[:60], Y[:60], (X[60:], Y[60:])
EPOCHS = 8
OPTIONS = dict(validation=VALIDATION, epochs=EPOCHS, batch_size=16, l2=0.01, key=3)


def plain_fit(learning_rate, epochs=EPOCHS):
    return fnn.fit(NET, fnn.init(NET, key=3), fnn.adam(learning_rate), X_TRAIN, Y_TRAIN,
                   epochs=epochs, batch_size=16, key=3, l2=0.01,
                   validation=VALIDATION)  # fmt: skip


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_asha_stops_the_bad_trial_and_every_report_is_the_plain_fit(local_ray, tmp_path):
    trainable = fnn.tune_trainable(NET, fnn.adam(), X_TRAIN, Y_TRAIN, checkpoint_every=4,
                                   **OPTIONS)  # fmt: skip
    rates = [0.05, 1e-7]  # one trial learns, the other barely moves
    tuner = tune.Tuner(
        trainable,
        param_space={"learning_rate": tune.grid_search(rates)},
        tune_config=tune.TuneConfig(
            metric="val_loss", mode="min", max_concurrent_trials=1,  # in order: good first
            reuse_actors=True,
            scheduler=tune.schedulers.ASHAScheduler(max_t=EPOCHS, grace_period=1,
                                                    reduction_factor=2),
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0),
    )  # fmt: skip
    results = {result.config["learning_rate"]: result for result in tuner.fit()}
    assert sorted(results) == sorted(rates)
    for rate, result in results.items():
        assert result.error is None
        history = plain_fit(rate).history
        reports = result.metrics_dataframe.sort_values("training_iteration")
        epochs = len(reports)
        assert reports["training_iteration"].tolist() == list(range(1, epochs + 1))
        for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert reports[name].tolist() == getattr(history, name)[:epochs].tolist(), name
    assert len(results[0.05].metrics_dataframe) == EPOCHS  # the good trial ran to the end
    assert len(results[1e-7].metrics_dataframe) < EPOCHS  # ASHA stopped the bad one
    with results[0.05].checkpoint.as_directory() as directory:  # saved after the last epoch
        path = os.path.join(directory, tuning.CHECKPOINT_FILE)
        saved_net, saved = fnn.load(path)
        step = fnn.load_state(path).step
    final = plain_fit(0.05)
    assert saved_net == NET and step == final.opt_state.step
    for a, b in zip(saved.layers, final.params.layers):
        assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)


def run_inside_tune(monkeypatch, config, checkpoint=None, **options):
    """The trial of ``config`` run here, Tune's session functions replaced: its reports."""
    monkeypatch.setattr(tune, "with_parameters", lambda trial, data: lambda c: trial(c, data))
    trainable = fnn.tune_trainable(NET, fnn.adam(0.01), X_TRAIN, Y_TRAIN, **{**OPTIONS, **options})
    reports = []
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: reports.append(
        (metrics, checkpoint)))  # fmt: skip
    monkeypatch.setattr(tune, "get_checkpoint", lambda: checkpoint)
    trainable(config)
    return reports


def test_a_trial_restarted_from_a_checkpoint_continues_the_bits(monkeypatch, tmp_path):
    first = plain_fit(0.02, epochs=3)
    fnn.save(tmp_path / tuning.CHECKPOINT_FILE, NET, first.params, first.opt_state)
    checkpoint = tune.Checkpoint.from_directory(str(tmp_path))
    reports = run_inside_tune(monkeypatch, {"learning_rate": 0.02}, checkpoint)
    whole = plain_fit(0.02)
    assert len(reports) == EPOCHS - 3  # epochs 3..7: the checkpoint had 3
    assert [metrics["val_loss"] for metrics, _ in reports] == whole.history.val_loss[3:].tolist()
    assert all(saved is None for _, saved in reports)  # no checkpoint_every: none saved


def test_checkpoints_every_k_epochs_and_after_the_last(monkeypatch):
    reports = run_inside_tune(monkeypatch, {"learning_rate": 0.02, "epochs": 7},
                              checkpoint_every=3)  # fmt: skip
    assert [saved is not None for _, saved in reports] == [False, False, True, False, False,
                                                            True, True]  # fmt: skip


def test_config_names_and_values_are_checked(monkeypatch):
    with pytest.raises(ValueError, match=r"^config may name \[.*'key'\], got 'lr'$"):
        run_inside_tune(monkeypatch, {"lr": 0.1})
    with pytest.raises(ValueError, match="^epochs must be >= 1"):
        run_inside_tune(monkeypatch, {"epochs": 0})
    reports = run_inside_tune(monkeypatch, {"key": 5, "l2": 0.0, "epochs": 2, "batch_size": 8,
                                            "opt": fnn.sgd(0.1)})  # fmt: skip
    alone = fnn.fit(NET, fnn.init(NET, key=5), fnn.sgd(0.1), X_TRAIN, Y_TRAIN, epochs=2,
                    batch_size=8, key=5, validation=VALIDATION)  # fmt: skip
    assert [metrics["loss"] for metrics, _ in reports] == alone.history.loss.tolist()


def test_a_trial_whose_plateau_watches_a_function_reports_it(monkeypatch):
    def monitor(net, params, X_val, y_val):
        return fnn.accuracy(net, params, X_val, y_val) - fnn.loss(net, params, X_val, y_val)

    watcher = fnn.reduce_on_plateau(factor=0.5, patience=0, monitor=monitor, mode="max")
    reports = run_inside_tune(monkeypatch, {"learning_rate": 0.05}, reduce_on_plateau=watcher)
    alone = fnn.fit(NET, fnn.init(NET, key=3), fnn.adam(0.05), X_TRAIN, Y_TRAIN, epochs=EPOCHS,
                    batch_size=16, key=3, l2=0.01, validation=VALIDATION,
                    reduce_on_plateau=watcher)  # fmt: skip
    assert alone.opt_state.plateau.scale < 1.0  # the watcher cut the rate
    assert [metrics["monitor"] for metrics, _ in reports] == alone.history.monitor.tolist()
    assert [metrics["loss"] for metrics, _ in reports] == alone.history.loss.tolist()


def test_a_diverging_trial_names_its_epoch(monkeypatch):
    with pytest.raises(
        FloatingPointError,
        match=r"^trial epoch 0 \(each epoch is one fit call\): loss is not finite",
    ):
        run_inside_tune(monkeypatch, {"opt": fnn.sgd(1e200)})


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(checkpoint_every=0), ValueError, "^checkpoint_every must be >= 1, got 0"),
        (dict(epochs=0), ValueError, "^epochs must be >= 1"),
        (dict(validation=(X[:3], Y[:2])), ValueError, r"^validation\[1\]"),
        (dict(dtype=np.int32), TypeError, "^dtype"),
        (dict(batch_size=0), ValueError, "^batch_size must be >= 1"),
        (
            dict(validation=None, reduce_on_plateau=fnn.reduce_on_plateau(monitor="val_loss")),
            ValueError,
            r"^reduce_on_plateau.monitor='val_loss' needs validation data",
        ),
    ],
)
def test_bad_arguments_fail_before_any_trial(options, error, match):
    with pytest.raises(error, match=match):
        fnn.tune_trainable(NET, fnn.adam(), X_TRAIN, Y_TRAIN, **{**OPTIONS, **options})


def test_without_ray_tune_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.tune", None)
    with pytest.raises(ImportError, match=r"pip install 'fnn\[tune\]'"):
        fnn.tune_trainable(NET, fnn.adam(), X_TRAIN, Y_TRAIN)


def test_the_documented_example_runs(local_ray, tmp_path, monkeypatch, capsys):
    """The Ray Tune block of docs/scaling.md (a ```py block, which tests/test_docs.py skips)."""
    doc = Path(__file__).resolve().parent.parent / "docs" / "scaling.md"
    section = doc.read_text(encoding="utf-8").split("\n## Ray Tune", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"^```py\n(.*?)^```", section, re.MULTILINE | re.DOTALL).group(1)
    monkeypatch.chdir(tmp_path)
    # Tune's default storage is ~/ray_results: keep the test's results in its own folder
    monkeypatch.setattr(ray.train.constants, "DEFAULT_STORAGE_PATH", str(tmp_path))
    namespace = {"__name__": "__main__"}
    exec(compile(code, "docs/scaling.md, the Ray Tune block", "exec"), namespace)
    assert "validation accuracy" in capsys.readouterr().out
    net, params = namespace["net"], namespace["params"]  # loaded from the best checkpoint
    assert net == fnn.mlp([2, 16, 1])
    assert fnn.predict(net, params, namespace["X"]).shape == (300,)


def test_a_trial_that_crashed_resumes_from_its_checkpoint(local_ray, tmp_path):
    trainable = fnn.tune_trainable(NET, fnn.adam(0.02), X_TRAIN, Y_TRAIN, checkpoint_every=3,
                                   **OPTIONS)  # fmt: skip
    crashed = tmp_path / "crashed"

    def crashing_once(config):
        """The trial, its process crashing once, right after its first checkpoint."""
        report = tune.report

        def report_then_crash(metrics, checkpoint=None):
            report(metrics, checkpoint=checkpoint)
            if checkpoint is not None and not crashed.exists():
                crashed.touch()
                raise RuntimeError("simulated crash")

        tune.report = report_then_crash  # in the trial's own process
        try:
            trainable(config)
        finally:
            tune.report = report

    tuner = tune.Tuner(
        crashing_once,
        run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=1)),
    )  # fmt: skip
    [result] = tuner.fit()
    assert crashed.exists() and result.error is None
    reports = result.metrics_dataframe.sort_values("training_iteration")
    assert reports["training_iteration"].tolist() == list(range(1, EPOCHS + 1))
    whole = plain_fit(0.02)
    assert reports["val_loss"].tolist() == whole.history.val_loss.tolist()
    with result.checkpoint.as_directory() as directory:
        _, saved = fnn.load(os.path.join(directory, tuning.CHECKPOINT_FILE))
    for a, b in zip(saved.layers, whole.params.layers):
        assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)

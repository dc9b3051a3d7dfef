"""fit(progress=True): the live display, its plain fallback, and that it changes no result."""

import io
import sys

import numpy as np
import pytest

import fnn
from fnn import progress


def _moons(n=120):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X, y


def _assert_identical(a, b):
    """Two FitResults equal bit for bit (params, optimizer state, history)."""
    for layer_a, layer_b in zip(a.params.layers, b.params.layers):
        np.testing.assert_array_equal(layer_a.W, layer_b.W)
        np.testing.assert_array_equal(layer_a.b, layer_b.b)
    assert a.opt_state.step == b.opt_state.step
    for slot_a, slot_b in zip(a.opt_state.slots, b.opt_state.slots):
        for layer_a, layer_b in zip(slot_a.layers, slot_b.layers):
            np.testing.assert_array_equal(layer_a.W, layer_b.W)
            np.testing.assert_array_equal(layer_a.b, layer_b.b)
    for column_a, column_b in zip(a.history, b.history):
        np.testing.assert_array_equal(column_a, column_b)


def _without_tqdm(monkeypatch):
    """Make ``from tqdm.auto import tqdm`` fail as if tqdm were not installed."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


@pytest.mark.parametrize(
    "options",
    [
        {"batch_size": 16},
        {"batch_size": None, "l2": 0.1},
        {"batch_size": 32, "validation": "yes"},
        {"batch_size": 16, "early_stopping": fnn.early_stopping(patience=1000)},
    ],
    ids=["minibatch", "full-batch-l2", "validation", "early-stopping"],
)
@pytest.mark.parametrize("chunks", ["adaptive", "odd"])
def test_progress_changes_no_result(options, chunks, monkeypatch, capsys):
    X, y = _moons()
    if options.get("validation") == "yes":
        options = {**options, "validation": (X[:30], y[:30])}
    if chunks == "odd":  # many kernel calls of 3 epochs: the chunk boundaries must not matter
        monkeypatch.setattr(progress, "next_chunk", lambda chunk, seconds: 3)
    net = fnn.mlp([2, 6, 1])
    params = fnn.init(net, key=1)
    opt = fnn.adam(0.01)
    quiet = fnn.fit(net, params, opt, X, y, epochs=40, key=3, **options)
    shown = fnn.fit(net, params, opt, X, y, epochs=40, key=3, progress=True, **options)
    _assert_identical(quiet, shown)
    assert "40/40" in capsys.readouterr().err


def test_progress_is_off_by_default(capsys):
    X, y = _moons()
    net = fnn.mlp([2, 4, 1])
    fnn.fit(net, fnn.init(net), fnn.sgd(0.1), X, y, epochs=5)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_tqdm_bar_shows_epoch_loss_and_accuracy(capsys):
    pytest.importorskip("tqdm")
    X, y = _moons()
    net = fnn.mlp([2, 4, 1])
    fnn.fit(net, fnn.init(net), fnn.sgd(0.1), X, y, epochs=25, batch_size=30, progress=True)
    err = capsys.readouterr().err
    assert "25/25" in err and "epoch" in err
    assert "loss " in err and "accuracy " in err
    assert "val_loss" not in err


def test_fallback_line_without_tqdm(monkeypatch, capsys):
    _without_tqdm(monkeypatch)
    X, y = _moons()
    net = fnn.mlp([2, 4, 1])
    result = fnn.fit(
        net, fnn.init(net), fnn.sgd(0.1), X, y, epochs=12, validation=(X, y), progress=True
    )
    err = capsys.readouterr().err
    assert "it/s" not in err and "|" not in err  # not tqdm's bar
    final = err.rstrip("\n").split("\r")[-1]
    assert final.startswith("fit: epoch 12/12 (100 %)")
    assert f"loss {result.history.loss[-1]:.4g}" in final
    assert f"val_accuracy {result.history.val_accuracy[-1]:.4f}" in final
    assert err.endswith("\n")


def test_regression_shows_no_accuracy(monkeypatch, capsys):
    _without_tqdm(monkeypatch)
    X, y = _moons()
    net = fnn.mlp([2, 4, 1], output="identity")
    fnn.fit(net, fnn.init(net), fnn.sgd(0.05), X, y.astype(float), epochs=8, progress=True)
    final = capsys.readouterr().err.rstrip("\n").split("\r")[-1]
    assert "loss " in final and "accuracy" not in final


def test_zero_epochs_draw_nothing_broken(monkeypatch, capsys):
    _without_tqdm(monkeypatch)
    X, y = _moons()
    net = fnn.mlp([2, 4, 1])
    fnn.fit(net, fnn.init(net), fnn.sgd(0.1), X, y, epochs=0, progress=True)
    assert capsys.readouterr().err == ""


def test_printer_redraws_at_most_once_per_interval():
    stream = io.StringIO()
    show = progress.printer(10_000, interval=3600.0, file=stream, use_tqdm=False)
    records = np.zeros((4, 10_000))
    records[0] = np.linspace(1, 0, 10_000)
    for done in range(1, 10_001):  # as fit calls it with early stopping: after every epoch
        show(done, records[:, :done])
    show(None, None)
    text = stream.getvalue()
    # the first report (the interval starts expired), the last epoch, and nothing between
    assert text.count("\r") == 2
    assert "epoch 1/10000" in text and "epoch 10000/10000" in text
    assert text.endswith("\n")


def test_printer_draws_the_latest_state_when_closed_early():
    stream = io.StringIO()
    show = progress.printer(100, interval=3600.0, file=stream, use_tqdm=False)
    records = np.ones((4, 100))
    for done in range(1, 38):  # early stopping ended the run at epoch 37
        show(done, records[:, :done])
    show(None, None)
    assert stream.getvalue().rstrip().split("\r")[-1].startswith("fit: epoch 37/100")


@pytest.mark.parametrize("seconds", [0.0, 1e-6, 0.05, 0.2, 0.5, 3.0, 100.0])
@pytest.mark.parametrize("chunk", [1, 2, 7, 1000])
def test_next_chunk_is_bounded(chunk, seconds):
    new = progress.next_chunk(chunk, seconds)
    assert 1 <= new <= 2 * chunk
    if seconds > 0.2:
        assert new <= chunk  # a slow call never makes the next one longer
    if seconds < 0.1:
        assert new == 2 * chunk  # quick calls grow

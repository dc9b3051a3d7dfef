"""Hostile but valid values: huge epoch counts, NumPy integer sizes, big-endian parameters."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

import fnn
from fnn import checks

NET = fnn.mlp([2, 3, 1])
P = fnn.init(NET, key=0)
X = np.random.default_rng(0).normal(size=(6, 2))
Y = np.array([0, 1, 1, 0, 1, 0])


def test_a_huge_epoch_count_keeps_only_the_history_it_ran():
    stop_after = 1500  # past the first block of records, so that the history grows
    result = fnn.fit(
        NET, P, fnn.sgd(0.1), X, Y, epochs=10**9, callback=lambda epoch, *_: epoch >= stop_after
    )
    reference = fnn.fit(NET, P, fnn.sgd(0.1), X, Y, epochs=stop_after + 1)
    assert result.history.stopped_epoch == stop_after
    assert np.array_equal(result.history.loss, reference.history.loss)
    assert np.array_equal(result.params.layers[0].W, reference.params.layers[0].W)


def test_the_largest_accepted_integers_are_in_checks():
    assert checks.integer("n", checks.MAX_ELEMENTS) == checks.MAX_ELEMENTS
    assert fnn.fold_in(0, checks.MAX_KEY) == fnn.fold_in(0, 2**64 - 1)
    assert fnn.step_decay(0.1, 0.1, checks.MAX_STEPS).every == checks.MAX_STEPS
    assert fnn.cosine_decay(0.1, checks.MAX_STEPS)(np.array([0]))[0] == 0.1


def test_a_net_with_numpy_integer_sizes_saves_and_loads_as_python_ints():
    net = fnn.Net(tuple(np.int64(size) for size in NET.sizes), NET.activations, NET.loss)
    path = os.path.join(tempfile.mkdtemp(), "model.npz")
    fnn.save(path, net, P)
    loaded, params = fnn.load(path)
    assert loaded == NET and all(type(size) is int for size in loaded.sizes)
    assert np.array_equal(params.layers[0].W, P.layers[0].W)


def test_big_endian_params_are_converted_like_big_endian_inputs():
    swapped = fnn.Params(tuple(fnn.Layer(W.astype(">f8"), b.astype(">f8")) for W, b in P.layers))
    assert np.array_equal(fnn.forward(NET, swapped, X)[0], fnn.forward(NET, P, X)[0])
    assert np.array_equal(
        fnn.grad(NET, swapped, X, Y).layers[0].W, fnn.grad(NET, P, X, Y).layers[0].W
    )
    state = fnn.opt_init(fnn.adam(), swapped)
    assert state.slots[0].layers[0].W.dtype == np.float64  # native, as the engine computes
    trained = fnn.fit(NET, swapped, fnn.adam(0.01), X, Y, epochs=3).params
    expected = fnn.fit(NET, P, fnn.adam(0.01), X, Y, epochs=3).params
    assert np.array_equal(trained.layers[1].b, expected.layers[1].b)


def test_a_callback_may_return_numpy_bools_or_none():
    stopped = fnn.fit(NET, P, fnn.sgd(0.1), X, Y, epochs=5, callback=lambda *_: np.bool_(True))
    assert stopped.history.stopped_epoch == 0
    ran = fnn.fit(NET, P, fnn.sgd(0.1), X, Y, epochs=5, callback=lambda *_: None)
    assert len(ran.history.loss) == 5 and ran.history.stopped_epoch is None


def test_inputs_of_many_chunks_are_checked_to_their_last_value():
    # The finiteness check runs in chunks (no BLAS threads): a bad value in any chunk, the
    # last one partial, is found, and huge finite values (whose squares overflow) pass.
    rows = 2 * checks.FINITE_CHUNK // 4 + 3  # two whole chunks of 4 features and a bit
    huge = np.full((rows, 4), np.finfo(np.float64).max / 2)
    for dtype in (None, huge.dtype):  # the slow path, and the fast one for the working form
        assert checks.inputs("X", huge, 4, dtype) is huge
        for bad in (np.nan, np.inf, -np.inf):
            for row in (0, checks.FINITE_CHUNK // 4 + 1, rows - 1):
                X_bad = huge.copy()
                X_bad[row, 3] = bad
                with pytest.raises(ValueError, match="X"):
                    checks.inputs("X", X_bad, 4, dtype)


def test_arrays_of_an_equal_but_distinct_dtype_take_the_fast_check(monkeypatch):
    # The arrays a kernel returns carry dtype objects equal to, not the same as, NumPy's own
    # (as an unpickled dtype is): opt_step's checks of its own results must not take the slow
    # path on every step.
    import pickle

    distinct = pickle.loads(pickle.dumps(np.dtype(np.float64)))
    assert distinct == np.float64 and distinct is not np.dtype(np.float64)
    params = fnn.Params(tuple(fnn.Layer(W.view(distinct), b.view(distinct)) for W, b in P.layers))

    def slow(*args):
        raise AssertionError("the slow path")

    monkeypatch.setattr(checks, "_params_slow", slow)
    assert checks.params_of(NET.sizes, params, "params", np.dtype(np.float64)) == np.float64
    assert checks.params_of(NET.sizes, P, "params", distinct) == np.float64

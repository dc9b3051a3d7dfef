"""save/load: .npz without pickle, bit-exact round trips, optimizer state for resuming,
and a ValueError for any file fnn.save did not write."""

from __future__ import annotations

import json
import pathlib
import pickle

import numpy as np
import pytest

import fnn
from fnn.io import FORMAT_VERSION, MAX_LAYERS

NET = fnn.mlp([3, 5, 4, 2], hidden="tanh", output="softmax")
X = np.random.default_rng(3).normal(size=(20, 3))
Y = np.arange(20) % 2


def bits(params):
    return [part.tobytes() for layer in params.layers for part in layer]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_is_bit_exact(tmp_path, dtype):
    params = fnn.fit(NET, fnn.init(NET, key=1, dtype=dtype), fnn.adam(0.01), X, Y, epochs=3).params
    path = tmp_path / "model.npz"
    fnn.save(path, NET, params)
    net, loaded = fnn.load(path)
    assert net == NET
    assert bits(loaded) == bits(params)
    assert all(part.dtype == dtype and not part.flags.writeable for layer in loaded.layers
               for part in layer)  # fmt: skip
    assert np.array_equal(fnn.predict_proba(net, loaded, X), fnn.predict_proba(NET, params, X))
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_archive_is_plain_npz_with_a_version(tmp_path):
    path = str(tmp_path / "model.npz")
    fnn.save(path, NET, fnn.init(NET))
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive["fnn_meta"]))
        assert sorted(archive.files) == ["W0", "W1", "W2", "b0", "b1", "b2", "fnn_meta"]
    assert meta["format"] == "fnn" and meta["version"] == FORMAT_VERSION
    assert meta["sizes"] == [3, 5, 4, 2] and meta["loss"] == "ce"


def test_save_changes_nothing_it_was_given(tmp_path):
    params = fnn.init(NET, key=4)
    state = fnn.opt_init(fnn.adam(), params)
    before = bits(params)
    fnn.save(tmp_path / "m.npz", NET, params, opt_state=state)
    assert bits(params) == before and all(not p.flags.writeable for p in params.layers[0])


@pytest.mark.parametrize("opt", [fnn.sgd(0.05), fnn.momentum(0.05), fnn.rmsprop(0.01),
                                 fnn.adam(0.01), fnn.adamw(0.01)], ids=lambda o: type(o).__name__)  # fmt: skip
def test_resume_from_disk_is_bit_exact(tmp_path, opt):
    params = fnn.init(NET, key=2)
    whole = fnn.fit(NET, params, opt, X, Y, epochs=6, batch_size=8, key=9)
    first = fnn.fit(NET, params, opt, X, Y, epochs=3, batch_size=8, key=9)
    path = tmp_path / "checkpoint.npz"
    fnn.save(path, NET, first.params, opt_state=first.opt_state)
    net, loaded = fnn.load(path)
    state = fnn.load_state(path)
    assert state.optimizer == first.opt_state.optimizer and state.step == first.opt_state.step
    second = fnn.fit(net, loaded, opt, X, Y, epochs=3, batch_size=8, key=9, opt_state=state)
    assert bits(second.params) == bits(whole.params)
    assert [bits(s) for s in second.opt_state.slots] == [bits(s) for s in whole.opt_state.slots]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scalers_round_trip_and_a_loaded_regressor_predicts_on_raw_data(tmp_path, dtype):
    rng = np.random.default_rng(5)
    X_raw = (rng.normal(size=(40, 3)) * [10.0, 0.1, 1.0] + [100.0, 0.0, -5.0]).astype(dtype)
    y_raw = (X_raw @ np.array([0.1, 5.0, 1.0]) + 1000.0).astype(dtype)[:, None]
    x_scaler, y_scaler = fnn.standardizer(X_raw), fnn.standardizer(y_raw)
    net = fnn.mlp([3, 6, 1], output="identity")
    X, y = fnn.standardize(x_scaler, X_raw), fnn.standardize(y_scaler, y_raw)
    params = fnn.fit(net, fnn.init(net, key=0, dtype=dtype), fnn.adam(0.05), X, y, epochs=20).params
    path = tmp_path / "regressor.npz"
    fnn.save(path, net, params, x_scaler=x_scaler, y_scaler=y_scaler)
    loaded_net, loaded = fnn.load(path)
    x_loaded, y_loaded = fnn.load_scalers(path)
    for saved, read in ((x_scaler, x_loaded), (y_scaler, y_loaded)):
        assert read.feature_names == saved.feature_names == ()
        for a, b in zip(saved[:2], read[:2]):  # mean, scale
            assert a.tobytes() == b.tobytes() and b.dtype == a.dtype and not b.flags.writeable
    expected = fnn.unstandardize(y_scaler, fnn.predict(net, params, X))
    raw = fnn.unstandardize(
        y_loaded, fnn.predict(loaded_net, loaded, fnn.standardize(x_loaded, X_raw))
    )
    assert raw.dtype == dtype and np.array_equal(raw, expected)
    assert fnn.r2_score(y_raw[:, 0], raw) > 0.5
    with np.load(path, allow_pickle=False) as archive:
        assert {"x_mean", "x_scale", "y_mean", "y_scale"} <= set(archive.files)


def test_scalers_are_optional_and_independent(tmp_path):
    path = tmp_path / "m.npz"
    fnn.save(path, NET, fnn.init(NET))
    assert fnn.load_scalers(path) == (None, None)
    x_scaler = fnn.standardizer(X)
    fnn.save(path, NET, fnn.init(NET), opt_state=fnn.opt_init(fnn.adam(), fnn.init(NET)),
             x_scaler=x_scaler)  # fmt: skip
    loaded, nothing = fnn.load_scalers(path)
    assert nothing is None and np.array_equal(loaded.mean, x_scaler.mean)
    assert fnn.load_state(path).optimizer == "adam"


def test_a_scaler_must_fit_the_network(tmp_path):
    with pytest.raises(ValueError, match="x_scaler must scale 3 columns"):
        fnn.save(tmp_path / "m.npz", NET, fnn.init(NET), x_scaler=fnn.standardizer(np.ones((2, 4))))
    with pytest.raises(ValueError, match="y_scaler must scale 2 columns"):
        fnn.save(tmp_path / "m.npz", NET, fnn.init(NET), y_scaler=fnn.standardizer(np.ones((2, 1))))
    with pytest.raises(TypeError, match="y_scaler must be an fnn.Scaler"):
        fnn.save(tmp_path / "m.npz", NET, fnn.init(NET), y_scaler=(np.zeros(2), np.ones(2)))
    assert list(tmp_path.iterdir()) == []


def test_load_state_needs_a_saved_state(tmp_path):
    path = tmp_path / "m.npz"
    fnn.save(path, NET, fnn.init(NET))
    with pytest.raises(ValueError, match="no optimizer state"):
        fnn.load_state(path)


def _rewrite(path, **changes):
    """Copy the archive at ``path`` with entries replaced (None deletes one)."""
    with np.load(path, allow_pickle=False) as archive:
        contents = {name: archive[name] for name in archive.files}
    for name, value in changes.items():
        if value is None:
            contents.pop(name)
        else:
            contents[name] = value
    np.savez(path, **contents)


def _compress(path):
    with np.load(path, allow_pickle=False) as archive:
        contents = {name: archive[name] for name in archive.files}
    np.savez_compressed(path, **contents)


def _meta(path, **fields):
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive["fnn_meta"]))
    meta.update(fields)
    return np.array(json.dumps(meta))


FOREIGN = {
    "pickle": lambda p: p.write_bytes(pickle.dumps({"W0": np.ones(3)})),
    "text": lambda p: p.write_text("W0,b0\n1,2\n"),
    "empty": lambda p: p.write_bytes(b""),
    "npy": lambda p: np.save(p.with_suffix(".npy"), np.ones(3)) or p.with_suffix(".npy").rename(p),
    "object-npy": lambda p: (
        np.save(p.with_suffix(".npy"), np.array([{}], dtype=object), allow_pickle=True)
        or p.with_suffix(".npy").rename(p)
    ),  # fmt: skip
    "object-member": lambda p: np.savez(p, fnn_meta=np.array([{"format": "fnn"}], dtype=object)),
    "other-npz": lambda p: np.savez(p, a=np.ones(3)),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "garbled": lambda p: p.write_bytes(p.read_bytes()[:100] + b"\x00" * 300 + p.read_bytes()[400:]),
    "future-version": lambda p: _rewrite(p, fnn_meta=_meta(p, version=FORMAT_VERSION + 1)),
    "other-format": lambda p: _rewrite(p, fnn_meta=_meta(p, format="keras")),
    "meta-not-json": lambda p: _rewrite(p, fnn_meta=np.array("{not json")),
    "meta-a-list": lambda p: _rewrite(p, fnn_meta=np.array("[1, 2]")),
    "meta-numeric": lambda p: _rewrite(p, fnn_meta=np.ones(2)),
    "bad-activation": lambda p: _rewrite(p, fnn_meta=_meta(p, activations=["relu", "gelu", "x"])),
    "bad-sizes": lambda p: _rewrite(p, fnn_meta=_meta(p, sizes=[3, -5, 4, 2])),
    "missing-array": lambda p: _rewrite(p, W1=None),
    "extra-array": lambda p: _rewrite(p, W9=np.ones(2)),
    "wrong-shape": lambda p: _rewrite(p, W1=np.ones((4, 5))),
    "int-weights": lambda p: _rewrite(p, b0=np.zeros(5, dtype=int)),
    "state-of-unknown-optimizer": lambda p: _rewrite(
        p, fnn_meta=_meta(p, optimizer="lion", step=1)
    ),
    "state-missing-slots": lambda p: _rewrite(p, fnn_meta=_meta(p, optimizer="adam", step=1)),
    "compressed": _compress,
}


@pytest.mark.parametrize("kind", FOREIGN)
def test_foreign_or_malformed_files_raise_value_error(tmp_path, kind):
    path = tmp_path / "model.npz"
    fnn.save(path, NET, fnn.init(NET))
    FOREIGN[kind](path)
    with pytest.raises(ValueError, match="model.npz") as caught:
        fnn.load(path)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError):
        fnn.load_state(path)


def test_pickle_payload_is_never_executed(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="evil.npz"):
        fnn.load(path)
    assert not marker.exists()


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fnn.load(tmp_path / "absent.npz")
    with pytest.raises(FileNotFoundError, match="absent"):
        fnn.save(tmp_path / "absent" / "m.npz", NET, fnn.init(NET))


def test_big_endian_and_fortran_ordered_archives_load_bit_exactly(tmp_path):
    """What np.savez writes on a big-endian machine, or from Fortran-ordered arrays."""
    params = fnn.init(NET, key=3)
    path = tmp_path / "m.npz"
    fnn.save(path, NET, params)
    with np.load(path, allow_pickle=False) as archive:
        contents = {name: archive[name] for name in archive.files}
    for name in contents:
        if name != "fnn_meta":
            contents[name] = np.asfortranarray(contents[name].astype(">f8"))
    np.savez(path, **contents)
    net, loaded = fnn.load(path)
    assert net == NET and bits(loaded) == bits(params)
    assert loaded.layers[0].W.dtype == np.float64 and loaded.layers[0].W.flags.c_contiguous


def test_the_deepest_network_an_archive_holds_round_trips_and_a_deeper_one_is_refused(tmp_path):
    net = fnn.mlp([2] * (MAX_LAYERS + 1), hidden="sigmoid")
    params = fnn.init(net, key=0)
    path = tmp_path / "deep.npz"
    fnn.save(path, net, params, opt_state=fnn.opt_init(fnn.sgd(0.1), params))
    state = fnn.load_state(path)  # reads every member, as fnn.load does
    assert state.optimizer == "sgd" and state.step == 0
    deeper = fnn.mlp([2] * (MAX_LAYERS + 2))
    with pytest.raises(
        ValueError, match=f"1025 weight layers; an fnn archive holds at most {MAX_LAYERS}"
    ):
        fnn.save(tmp_path / "deeper.npz", deeper, fnn.init(deeper))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.npz"]

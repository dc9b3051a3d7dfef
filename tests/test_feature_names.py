"""Feature names: fnn.standardizer records a pandas or polars DataFrame's column names, and
standardize refuses a DataFrame whose columns differ (scikit-learn's feature_names_in_ check);
the names survive save/load and to_onnx. fnn imports neither library."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pytest
from test_io_hostile import BOUND, members, meta, npy, npy_header, peak_memory, zip_bytes

import fnn

RNG = np.random.default_rng(3)
COLUMNS = ["age", "income", "height"]
DATA = RNG.normal(size=(40, 3)) * [10.0, 1000.0, 0.1] + [40.0, 3000.0, 1.7]
PANDAS = pd.DataFrame(DATA, columns=COLUMNS)
POLARS = pl.DataFrame({name: DATA[:, j] for j, name in enumerate(COLUMNS)})
FRAMES = {"pandas": PANDAS, "polars": POLARS}
NET = fnn.mlp([3, 5, 2], output="softmax")
PARAMS = fnn.init(NET, key=0)


def reorder(frame, names):
    """The frame's columns in the order of ``names`` (pandas and polars both take a list)."""
    return frame[list(names)]


@pytest.mark.parametrize("library", FRAMES)
def test_standardizer_records_the_column_names(library):
    frame = FRAMES[library]
    scaler = fnn.standardizer(frame)
    assert scaler.feature_names == tuple(COLUMNS)
    assert all(type(name) is str for name in scaler.feature_names)
    plain = fnn.standardizer(DATA)
    assert plain.feature_names == ()
    assert scaler.mean.tobytes() == plain.mean.tobytes()
    assert scaler.scale.tobytes() == plain.scale.tobytes()
    assert np.array_equal(fnn.standardize(scaler, frame), fnn.standardize(plain, DATA))


@pytest.mark.parametrize("library", FRAMES)
def test_standardize_refuses_reordered_columns_and_the_hint_works(library):
    frame = FRAMES[library]
    scaler = fnn.standardizer(frame)
    shuffled = reorder(frame, ["income", "age", "height"])
    with pytest.raises(ValueError) as caught:
        fnn.standardize(scaler, shuffled)
    assert str(caught.value) == (
        "X's columns must be scaler.feature_names in order, ['age', 'income', 'height'], got "
        "['income', 'age', 'height']: the same names in another order; reorder with "
        "X[list(scaler.feature_names)]"
    )
    fixed = shuffled[list(scaler.feature_names)]  # as the message says
    assert np.array_equal(fnn.standardize(scaler, fixed), fnn.standardize(scaler, frame))


@pytest.mark.parametrize("library", FRAMES)
def test_missing_and_unexpected_columns_are_named(library):
    frame = FRAMES[library]
    scaler = fnn.standardizer(frame)
    new_names = {"height": "weight"}
    renamed = frame.rename(columns=new_names) if library == "pandas" else frame.rename(new_names)
    with pytest.raises(ValueError, match=r"got \['age', 'income', 'weight'\]: missing "
                       r"\['height'\], unexpected \['weight'\]$"):  # fmt: skip
        fnn.standardize(scaler, renamed)
    with pytest.raises(ValueError, match=r"got \['age', 'income'\]: missing \['height'\]$"):
        fnn.standardize(scaler, reorder(frame, ["age", "income"]))


def test_long_lists_of_names_are_cut_in_messages():
    wide = pd.DataFrame(RNG.normal(size=(4, 12)), columns=[f"f{i}" for i in range(12)])
    scaler = fnn.standardizer(wide)
    with pytest.raises(ValueError) as caught:
        fnn.standardize(scaler, wide.drop(columns=["f3"]))
    message = str(caught.value)
    assert "['f0', 'f1', 'f2', 'f3', 'f4', ...] (12 in all)" in message
    assert "['f0', 'f1', 'f2', 'f4', 'f5', ...] (11 in all): missing ['f3']" in message
    assert "\n" not in message and len(message) < 300


def test_arrays_and_unnamed_frames_are_not_checked():
    named = fnn.standardizer(PANDAS)
    unnamed_frame = pd.DataFrame(DATA)  # columns 0, 1, 2: no names, as in scikit-learn
    unnamed = fnn.standardizer(unnamed_frame)
    assert unnamed.feature_names == ()
    expected = fnn.standardize(named, DATA)
    assert np.array_equal(fnn.standardize(named, unnamed_frame), expected)
    assert np.array_equal(fnn.standardize(unnamed, PANDAS), expected)
    assert np.array_equal(fnn.standardize(named, PANDAS.to_numpy()), expected)


def test_column_names_must_be_all_text_or_none():
    mixed = pd.DataFrame({"a": [1.0, 2.0], 0: [3.0, 4.0]})
    with pytest.raises(TypeError, match=r"X's column names must be all strings \(or none\), got "
                       r"a mix of \['int', 'str'\]"):  # fmt: skip
        fnn.standardizer(mixed)
    with pytest.raises(TypeError, match="X's column names must be all strings"):
        fnn.standardize(fnn.standardizer(DATA[:, :2]), mixed)


@pytest.mark.parametrize("library", FRAMES)
def test_unstandardize_checks_a_dataframe_of_targets(library):
    targets = reorder(FRAMES[library], ["income", "height"])
    scaler = fnn.standardizer(targets)
    assert scaler.feature_names == ("income", "height")
    Z = fnn.standardize(scaler, targets)
    assert np.allclose(fnn.unstandardize(scaler, Z), targets.to_numpy())
    with pytest.raises(ValueError, match="Z's columns must be scaler.feature_names in order"):
        fnn.unstandardize(scaler, reorder(FRAMES[library], ["height", "income"]))


@pytest.mark.parametrize("library", FRAMES)
def test_the_model_runs_on_dataframes_through_their_scaler(library):
    frame = FRAMES[library]
    scaler = fnn.standardizer(frame)
    X = fnn.standardize(scaler, frame)
    standardized = pd.DataFrame(X) if library == "pandas" else pl.DataFrame(X)
    for function in (fnn.predict, fnn.predict_proba, lambda *a: fnn.forward(*a)[0]):
        assert np.array_equal(function(NET, PARAMS, standardized), function(NET, PARAMS, X))
    shuffled = reorder(frame, ["height", "age", "income"])
    with pytest.raises(ValueError, match="the same names in another order"):
        fnn.predict(NET, PARAMS, fnn.standardize(scaler, shuffled))


def test_fit_on_a_standardised_dataframe_learns():
    frame = PANDAS
    y = fnn.encode_labels(np.where(DATA[:, 0] > 40.0, "old", "young"))[0]
    scaler = fnn.standardizer(frame)
    net = fnn.mlp([3, 6, 1])
    params = fnn.fit(net, fnn.init(net), fnn.adam(0.05), fnn.standardize(scaler, frame), y,
                     epochs=80).params  # fmt: skip
    assert fnn.accuracy(net, params, fnn.standardize(scaler, POLARS), y) > 0.9


BAD_SCALERS = [
    (fnn.Scaler(np.zeros(3), np.ones(3), ("a", "b")), ValueError, "scaler.feature_names must name the 3 features of scaler.mean, or be (), got 2 names"),
    (fnn.Scaler(np.zeros(2), np.ones(2), ("a", 1)), TypeError, "scaler.feature_names must be a tuple of str (column names), got ('a', 1)"),
    (fnn.Scaler(np.zeros(2), np.ones(2), "ab"), TypeError, "scaler.feature_names must be a tuple of str"),
]  # fmt: skip


@pytest.mark.parametrize("scaler, error, message", BAD_SCALERS)
def test_bad_feature_names_are_refused_everywhere(tmp_path, scaler, error, message):
    width = scaler.mean.shape[0]
    net = fnn.mlp([width, 2, 1])
    calls = [
        lambda: fnn.standardize(scaler, np.ones((2, width))),
        lambda: fnn.unstandardize(scaler, np.ones((2, width))),
        lambda: fnn.save(tmp_path / "m.npz", net, fnn.init(net), x_scaler=scaler),
        lambda: fnn.to_onnx(net, fnn.init(net), tmp_path / "m.onnx", scaler=scaler),
    ]
    for call in calls:
        with pytest.raises(error) as caught:
            call()
        assert message in str(caught.value).replace("x_scaler", "scaler")
    assert list(tmp_path.iterdir()) == []


def test_a_list_of_names_is_taken_as_a_tuple():
    scaler = fnn.Scaler(np.zeros(2), np.ones(2), ["a", "b"])
    with pytest.raises(ValueError, match=r"got \['b', 'a'\]"):
        fnn.standardize(scaler, pd.DataFrame({"b": [1.0], "a": [2.0]}))


# -- save and load ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_names_survive_save_and_load(tmp_path, dtype):
    names = ["âge", "", "a b", "x" * 300, "列"]
    frame = pd.DataFrame(RNG.normal(size=(10, 5)).astype(dtype), columns=names)
    x_scaler = fnn.standardizer(frame)
    y_scaler = fnn.standardizer(pl.DataFrame({"target": RNG.normal(size=10)}))
    net = fnn.mlp([5, 3, 1], output="identity")
    path = tmp_path / "m.npz"
    fnn.save(path, net, fnn.init(net, dtype=dtype), x_scaler=x_scaler, y_scaler=y_scaler)
    x_loaded, y_loaded = fnn.load_scalers(path)
    assert x_loaded.feature_names == tuple(names) and y_loaded.feature_names == ("target",)
    assert all(type(name) is str for name in x_loaded.feature_names)
    assert x_loaded.mean.tobytes() == x_scaler.mean.tobytes() and x_loaded.mean.dtype == dtype
    with pytest.raises(ValueError, match="the same names in another order"):
        fnn.standardize(x_loaded, frame[names[::-1]])
    with np.load(path, allow_pickle=False) as archive:
        saved = json.loads(str(archive["fnn_meta"]))
        assert saved["x_feature_names"] is True and saved["y_feature_names"] is True
        assert archive["x_feature_names"].tolist() == names


def test_scalers_without_names_are_saved_as_before(tmp_path):
    path = tmp_path / "m.npz"
    fnn.save(path, NET, PARAMS, x_scaler=fnn.standardizer(DATA))
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["W0", "W1", "b0", "b1", "fnn_meta", "x_mean", "x_scale"]
        assert "x_feature_names" not in json.loads(str(archive["fnn_meta"]))
    assert fnn.load_scalers(path)[0].feature_names == ()


def test_a_name_ending_in_nul_is_refused_by_save(tmp_path):
    scaler = fnn.Scaler(np.zeros(3), np.ones(3), ("a", "b\0", "c"))
    with pytest.raises(ValueError, match="x_scaler.feature_names must not end with a NUL"):
        fnn.save(tmp_path / "m.npz", NET, PARAMS, x_scaler=scaler)
    assert list(tmp_path.iterdir()) == []


NAMES_OK = npy(np.array(COLUMNS))
WITH_SCALER = {"x_mean.npy": npy(np.zeros(3)), "x_scale.npy": npy(np.ones(3))}
HOSTILE = {
    "names-without-scaler": ({"fnn_meta.npy": meta(x_feature_names=True), "x_feature_names.npy": NAMES_OK}, "x_feature_names is true but the archive holds no x_scaler"),
    "names-flag-without-member": ({"fnn_meta.npy": meta(x_scaler=True, x_feature_names=True), **WITH_SCALER}, "missing entries ['x_feature_names']"),
    "names-member-without-flag": ({"fnn_meta.npy": meta(x_scaler=True), **WITH_SCALER, "x_feature_names.npy": NAMES_OK}, "unexpected entries ['x_feature_names']"),
    "names-flag-not-true": ({"fnn_meta.npy": meta(x_scaler=True, x_feature_names="yes"), **WITH_SCALER, "x_feature_names.npy": NAMES_OK}, "x_feature_names must be true or absent"),
    "names-wrong-count": ({"fnn_meta.npy": meta(x_scaler=True, x_feature_names=True), **WITH_SCALER, "x_feature_names.npy": npy(np.array(["a", "b"]))}, "x_feature_names has shape (2,), expected (3,)"),
    "names-not-text": ({"fnn_meta.npy": meta(x_scaler=True, x_feature_names=True), **WITH_SCALER, "x_feature_names.npy": npy(np.zeros(3))}, "x_feature_names has dtype float64, expected str"),
    "names-pickled": ({"fnn_meta.npy": meta(x_scaler=True, x_feature_names=True), **WITH_SCALER, "x_feature_names.npy": npy(np.array(["a", "b", 3], dtype=object), allow_pickle=True)}, "dtype object"),
    "names-giant-text": ({"fnn_meta.npy": meta(x_scaler=True, x_feature_names=True), **WITH_SCALER, "x_feature_names.npy": npy_header((3,), "<U1000000") + bytes(12)}, "x_feature_names holds 12 bytes of data, expected 12000000"),
}  # fmt: skip


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_names_are_refused_within_a_memory_bound(tmp_path, kind):
    replaced, words = HOSTILE[kind]
    path = tmp_path / "hostile.npz"
    path.write_bytes(zip_bytes(members(**replaced)))
    for load in (fnn.load, fnn.load_scalers):
        peak, error = peak_memory(lambda: load(path))  # noqa: B023
        assert isinstance(error, ValueError), error
        assert "hostile.npz" in str(error) and words in str(error) and "\n" not in str(error)
        assert peak < BOUND, f"{kind}: {peak} bytes"


def test_valid_crafted_names_load(tmp_path):
    path = tmp_path / "crafted.npz"
    replaced = {"fnn_meta.npy": meta(x_scaler=True, x_feature_names=True), **WITH_SCALER,
                "x_feature_names.npy": npy(np.array(COLUMNS).astype(">U6"))}  # fmt: skip
    path.write_bytes(zip_bytes(members(**replaced)))
    assert fnn.load_scalers(path)[0].feature_names == tuple(COLUMNS)  # big-endian text too


# -- ONNX ------------------------------------------------------------------------------------------


def test_to_onnx_carries_the_names(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    scaler = fnn.standardizer(POLARS)
    path = tmp_path / "net.onnx"
    fnn.to_onnx(NET, PARAMS, path, scaler=scaler)
    model = onnx.load(str(path))
    props = {prop.key: prop.value for prop in model.metadata_props}
    assert json.loads(props["feature_names"]) == COLUMNS
    assert model.graph.input[0].doc_string == 'columns, in order: ["age", "income", "height"]'
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert json.loads(session.get_modelmeta().custom_metadata_map["feature_names"]) == COLUMNS
    names = json.loads(session.get_modelmeta().custom_metadata_map["feature_names"])
    raw = PANDAS[names].to_numpy()  # a deployment orders its columns by the model's names
    (proba,) = session.run(None, {"X": raw})
    expected = fnn.predict_proba(NET, PARAMS, fnn.standardize(scaler, PANDAS))
    np.testing.assert_allclose(proba, expected, rtol=1e-12, atol=1e-14)


def test_to_onnx_without_names_has_no_metadata(tmp_path):
    onnx = pytest.importorskip("onnx")
    fnn.to_onnx(NET, PARAMS, tmp_path / "net.onnx", scaler=fnn.standardizer(DATA))
    model = onnx.load(str(tmp_path / "net.onnx"))
    assert list(model.metadata_props) == [] and model.graph.input[0].doc_string == ""


def test_fnn_imports_neither_pandas_nor_polars():
    code = (
        "import sys, numpy as np, fnn\n"
        "scaler = fnn.standardizer(np.ones((3, 2)))\n"
        "fnn.standardize(scaler, np.ones((2, 2)))\n"
        "fnn.encode_labels(['a', 'b'])\n"
        "print(sorted({'pandas', 'polars', 'pyarrow'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

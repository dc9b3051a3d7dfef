"""Labels as users have them: fnn.encode_labels / decode_labels against scikit-learn's
LabelEncoder, the errors of fit and the metrics pointing to them, and classes kept by save."""

import json

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.preprocessing import LabelEncoder
from test_io_hostile import BOUND, NET, members, meta, npy, npy_header, peak_memory, zip_bytes

import fnn

LABELS = {
    "text": ["cat", "dog", "cat", "bird", "dog"],
    "text-objects": np.array(["b", "a", "b"], dtype=object),
    "pandas-text": pd.Series(["spam", "ham", "ham", "spam"]),
    "pandas-category": pd.Series(["lo", "hi", "lo"], dtype="category"),
    "polars-text": pl.Series(["x", "z", "y", "x"]),
    "bytes": np.array([b"no", b"yes", b"no"]),
    "bool": np.array([True, False, False, True]),
    "one-based": [1, 2, 3, 3, 1],
    "minus-plus-one": np.array([-1, 1, 1, -1], np.int8),
    "sparse": [10, 300, 42, 10, 42],
    "uint": np.array([7, 3, 7], np.uint16),
    "floats": [0.5, 2.0, 0.5, -1.5],
    "polars-ints": pl.Series([5, 1, 5]),
    "column": np.array([[3], [1], [3]]),
    "objects-of-ints": np.array([3, 1, 2], dtype=object),
}


@pytest.mark.parametrize("y", LABELS.values(), ids=LABELS.keys())
def test_encode_agrees_with_label_encoder_and_decode_inverts_it(y):
    reference = LabelEncoder().fit(np.ravel(np.asarray(y)))
    codes, classes = fnn.encode_labels(y)
    assert classes.tolist() == reference.classes_.tolist()
    assert codes.dtype == np.int64 and codes.shape == (len(np.asarray(y)),)
    assert codes.tolist() == reference.transform(np.ravel(np.asarray(y))).tolist()
    decoded = fnn.decode_labels(codes, classes)
    assert decoded.tolist() == np.ravel(np.asarray(y)).tolist()
    assert not codes.flags.writeable and not classes.flags.writeable
    assert not decoded.flags.writeable


def test_text_in_object_arrays_comes_back_as_a_str_array():
    _, classes = fnn.encode_labels(pd.Series(["b", "a"]))  # pandas gives an object array
    assert classes.dtype.kind == "U"


def test_the_callers_arrays_are_left_alone():
    y = np.array(["b", "a", "b"])
    classes = np.array(["a", "b"])
    fnn.encode_labels(y, classes=classes)
    fnn.decode_labels(np.array([0, 1]), classes)
    assert y.flags.writeable and classes.flags.writeable and y.tolist() == ["b", "a", "b"]


def test_classes_of_the_training_labels_encode_the_test_labels():
    train, test = ["cat", "dog", "bird", "dog"], ["dog", "dog", "cat"]
    _, classes = fnn.encode_labels(train)
    codes, same = fnn.encode_labels(test, classes=classes)
    assert codes.tolist() == [2, 2, 1] and same is classes
    assert fnn.encode_labels(test)[1].tolist() == ["cat", "dog"]  # alone: other classes
    # classes in any order: a code is the index in classes
    assert fnn.encode_labels(["no", "yes"], classes=["yes", "no"])[0].tolist() == [1, 0]
    assert fnn.encode_labels([3.0, 1], classes=[1, 3])[0].tolist() == [1, 0]


@given(
    st.one_of(
        st.lists(st.text(max_size=4).filter(lambda s: not s.endswith("\0")), min_size=1),
        st.lists(st.integers(-(2**62), 2**62), min_size=1),
        st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1),
        st.lists(st.booleans(), min_size=1),
    )
)
def test_any_labels_round_trip_through_their_codes(y):
    codes, classes = fnn.encode_labels(y)
    assert classes.tolist() == sorted(set(y))  # -0.0 == 0.0: one class, as numpy.unique
    assert fnn.decode_labels(codes, classes).tolist() == classes[codes].tolist()
    assert [classes.tolist().index(label) for label in y] == codes.tolist()
    assert fnn.encode_labels(y, classes=classes)[0].tolist() == codes.tolist()


BAD_ENCODE = [
    ([], {}, ValueError, "y must hold at least one label, got shape (0,)"),
    ("abc", {}, ValueError, "y must be 1-D, got the scalar 'abc'"),
    ([["a", "b"], ["c", "d"]], {}, ValueError, "y must have shape (n_samples,) or (n_samples, 1), got shape (2, 2)"),
    ([[1], [2, 3]], {}, TypeError, "y must be an array of labels (rectangular)"),
    (["a", None], {}, ValueError, "y must not hold missing labels, got None at index 1"),
    ([1.0, np.nan], {}, ValueError, "y must not hold missing labels, got nan at index 1"),
    (pd.Series(["a", None, "b"]), {}, ValueError, "y must not hold missing labels, got nan at index 1"),
    (pd.array([1, None], dtype="Int64"), {}, ValueError, "y must not hold missing labels"),
    (np.array(["a", 2], dtype=object), {}, TypeError, "y must hold labels of one kind (all text or all numbers), got ['int', 'str']"),
    ([1 + 2j], {}, TypeError, "got dtype complex128"),
    (np.array(["2020-01-01"], "datetime64[D]"), {}, TypeError, "got dtype datetime64[D]"),
    (["c"], {"classes": ["a", "b"]}, ValueError, "y holds labels that are not in classes (['a', 'b']): 'c' at index 0"),
    ([1], {"classes": ["a", "b"]}, TypeError, "y and classes must both be text or both numbers, got y of dtype int64 and classes of dtype <U1"),
    (["a"], {"classes": [["a", "b"]]}, ValueError, "classes must have shape (n_classes,), one per class, got shape (1, 2)"),
    (["a"], {"classes": ["a", "b", "a"]}, ValueError, "classes must be distinct, got 'a' twice"),
    (["a"], {"classes": []}, ValueError, "classes must hold at least one label"),
    (["a"], {"classes": ["a", None]}, ValueError, "classes must not hold missing labels, got None at index 1"),
]  # fmt: skip


@pytest.mark.parametrize("y, kwargs, error, message", BAD_ENCODE)
def test_bad_labels_are_named(y, kwargs, error, message):
    with pytest.raises(error) as caught:
        fnn.encode_labels(y, **kwargs)
    assert message in str(caught.value) and "\n" not in str(caught.value)


CLASSES = np.array(["a", "b", "c"])
BAD_DECODE = [
    ([0, 3], CLASSES, ValueError, "codes must be in 0..2 (one per class of ['a', 'b', 'c']), got 3 at index 1"),
    ([[0], [-1]], CLASSES, ValueError, "codes must be in 0..2 (one per class of ['a', 'b', 'c']), got -1 at index (1, 0)"),
    ([0, 12], np.arange(10), ValueError, "one per class of [0, 1, 2, 3, 4, ...] (10 classes)), got 12"),
    ([0.0, 1.0], CLASSES, TypeError, "codes must be integers, got array of shape (2,) and dtype float64; use .astype(int)"),
    (["a"], CLASSES, TypeError, "codes must be integers, got array of shape (1,) and dtype <U1"),
    ([0], CLASSES.reshape(1, 3), ValueError, "classes must have shape (n_classes,)"),
    ([0], ["x", "x"], ValueError, "classes must be distinct, got 'x' twice"),
    ([0], [], ValueError, "classes must hold at least one label"),
]  # fmt: skip


@pytest.mark.parametrize("codes, classes, error, message", BAD_DECODE)
def test_bad_codes_and_classes_are_named(codes, classes, error, message):
    with pytest.raises(error) as caught:
        fnn.decode_labels(codes, classes)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_decode_keeps_the_shape_of_the_codes():
    assert fnn.decode_labels(np.array([[0, 2], [1, 1]]), CLASSES).tolist() == [
        ["a", "c"],
        ["b", "b"],
    ]
    assert fnn.decode_labels(np.int64(1), CLASSES).tolist() == "b"


# -- fit, loss and the metrics point to encode_labels ---------------------------------------------

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 2))
SPECIES = np.array(["setosa", "versicolor", "virginica"])[
    (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
]


@pytest.mark.parametrize(
    "y, hint",
    [
        (pd.Series(SPECIES), "; encode them as codes 0..k-1 with codes, classes = fnn.encode_labels(y)"),
        (pl.Series(SPECIES), "; encode them as codes 0..k-1 with codes, classes = fnn.encode_labels(y)"),
        (fnn.encode_labels(SPECIES)[0] + 1, "; labels look 1-based: encode them with codes, classes = fnn.encode_labels(y)"),
        (fnn.encode_labels(SPECIES)[0] * 10 + 5, "; 3 distinct labels: encode them as 0..2 with codes, classes = fnn.encode_labels(y)"),
    ],
    ids=["pandas-text", "polars-text", "one-based", "sparse"],
)  # fmt: skip
def test_fit_and_loss_point_to_encode_labels_and_it_works(y, hint):
    net = fnn.mlp([2, 8, 3], output="softmax")
    params = fnn.init(net, key=0)
    for call in (fnn.loss, fnn.fit):
        with pytest.raises((TypeError, ValueError)) as caught:
            call(net, params, *((fnn.adam(0.05),) if call is fnn.fit else ()), X, y)
        assert hint in str(caught.value), str(caught.value)
    codes, classes = fnn.encode_labels(y)
    result = fnn.fit(net, params, fnn.adam(0.05), X, codes, epochs=60, batch_size=16, key=1)
    predicted = fnn.decode_labels(fnn.predict(net, result.params, X), classes)
    assert predicted.dtype == classes.dtype
    assert np.mean(predicted == np.ravel(np.asarray(y))) > 0.9


def test_a_binary_net_takes_two_text_classes():
    net = fnn.mlp([2, 4, 1])
    y = np.where(X[:, 0] > 0, "spam", "ham")
    codes, classes = fnn.encode_labels(y)
    assert classes.tolist() == ["ham", "spam"]
    params = fnn.fit(net, fnn.init(net), fnn.adam(0.05), X, codes, epochs=60).params
    assert np.mean(fnn.decode_labels(fnn.predict(net, params, X), classes) == y) > 0.9


@pytest.mark.parametrize("metric", [fnn.confusion_matrix, fnn.log_loss])
def test_the_metrics_point_to_encode_labels_for_text(metric):
    with pytest.raises(TypeError, match=r"y_true must hold integer class labels, .*; encode them "
                       r"with codes, classes = fnn.encode_labels\(y_true\)"):  # fmt: skip
        metric(np.array(["a", "b"]), [0, 1] if metric is fnn.confusion_matrix else [0.2, 0.9])


# -- classes kept by save ---------------------------------------------------------------------------

SOFTMAX = fnn.mlp([2, 3, 3], output="softmax")
SIGMOID = fnn.mlp([2, 3, 1])


@pytest.mark.parametrize(
    "net, classes",
    [
        (SOFTMAX, np.array(["bird", "cat", "dog"])),
        (SOFTMAX, np.array(["ünï", "côdé", "文字"])),
        (SOFTMAX, np.array([b"a", b"bb", b"ccc"])),
        (SOFTMAX, np.array([-7, 3, 2**40])),
        (SOFTMAX, np.array([0.5, -0.0, 1e30], np.float32)),
        (SOFTMAX, np.array([1, 2, 3], np.uint8)),
        (SIGMOID, np.array([False, True])),
        (SIGMOID, np.array(["ham", "spam"], dtype=object)),
        (fnn.mlp([2, 3, 4], output="sigmoid"), np.array(["absent", "present"])),  # multi-label
        (fnn.mlp([2, 3, 1], output="sigmoid", loss="mse"), np.array([1, 2])),
    ],
)
def test_classes_round_trip_in_their_own_dtype(tmp_path, net, classes):
    path = tmp_path / "classifier.npz"
    params = fnn.init(net, key=0)
    fnn.save(path, net, params, classes=classes)
    loaded = fnn.load_classes(path)
    expected = classes.astype(str) if classes.dtype == object else classes
    assert loaded.dtype == expected.dtype and loaded.tobytes() == expected.tobytes()
    assert not loaded.flags.writeable
    assert fnn.load(path)[0] == net and fnn.load_scalers(path) == (None, None)
    with np.load(path, allow_pickle=False) as archive:
        assert json.loads(str(archive["fnn_meta"]))["classes"] is True
        assert archive["classes"].dtype != object


def test_classes_go_with_everything_else_and_are_optional(tmp_path):
    path = tmp_path / "m.npz"
    params = fnn.init(SOFTMAX)
    fnn.save(path, SOFTMAX, params)
    assert fnn.load_classes(path) is None
    with np.load(path, allow_pickle=False) as archive:
        assert "classes" not in archive.files
        assert "classes" not in json.loads(str(archive["fnn_meta"]))
    state = fnn.opt_init(fnn.adam(), params)
    scaler = fnn.standardizer(X)
    _, classes = fnn.encode_labels(SPECIES)
    fnn.save(path, SOFTMAX, params, opt_state=state, x_scaler=scaler, classes=classes)
    assert fnn.load_classes(path).tolist() == classes.tolist()
    assert fnn.load_state(path).optimizer == "adam"
    assert fnn.load_scalers(path)[0].mean.tobytes() == scaler.mean.tobytes()


def test_a_loaded_classifier_predicts_labels_as_the_user_had_them(tmp_path):
    codes, classes = fnn.encode_labels(SPECIES)
    net = fnn.mlp([2, 8, 3], output="softmax")
    params = fnn.fit(net, fnn.init(net), fnn.adam(0.05), X, codes, epochs=30).params
    fnn.save(tmp_path / "m.npz", net, params, classes=classes)
    net, params = fnn.load(tmp_path / "m.npz")
    labels = fnn.decode_labels(fnn.predict(net, params, X), fnn.load_classes(tmp_path / "m.npz"))
    assert set(labels.tolist()) <= set(SPECIES.tolist())
    assert labels.tolist() == classes[fnn.predict(net, params, X)].tolist()


BAD_SAVE = [
    (SOFTMAX, ["a", "b"], ValueError, "classes must hold 3 classes (one per code of the net's softmax output with sizes[-1]=3), got 2"),
    (SIGMOID, ["a", "b", "c"], ValueError, "classes must hold 2 classes"),
    (fnn.mlp([2, 1], output="identity"), [0, 1], ValueError, "classes are for classifiers; this net's 'identity' output predicts values"),
    (SOFTMAX, [["a", "b", "c"]], ValueError, "classes must have shape (n_classes,)"),
    (SOFTMAX, ["a", "b", "a"], ValueError, "classes must be distinct"),
    (SOFTMAX, np.array(["a", None, "c"], dtype=object), ValueError, "classes must not hold missing labels"),
    (SOFTMAX, np.array([{}, 1, 2], dtype=object), TypeError, "classes must hold labels of one kind"),
]  # fmt: skip


@pytest.mark.parametrize("net, classes, error, message", BAD_SAVE)
def test_save_refuses_classes_that_do_not_fit(tmp_path, net, classes, error, message):
    with pytest.raises(error) as caught:
        fnn.save(tmp_path / "m.npz", net, fnn.init(net), classes=classes)
    assert message in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # nothing written


CLASSES_OK = npy(np.array(["no", "yes"]))
HOSTILE = {
    "classes-flag-without-member": (members(**{"fnn_meta.npy": meta(classes=True)}), "missing entries ['classes']"),
    "classes-member-without-flag": (members(**{"classes.npy": CLASSES_OK}), "unexpected entries ['classes']"),
    "classes-flag-not-true": (members(**{"fnn_meta.npy": meta(classes=1), "classes.npy": CLASSES_OK}), "classes must be true or absent"),
    "classes-giant-shape": (members(**{"fnn_meta.npy": meta(classes=True), "classes.npy": npy_header((2**40,), "<i8") + bytes(16)}), "classes holds"),
    "classes-giant-text": (members(**{"fnn_meta.npy": meta(classes=True), "classes.npy": npy_header((2,), "<U1000000") + bytes(16)}), "classes holds"),
    "classes-2d": (members(**{"fnn_meta.npy": meta(classes=True), "classes.npy": npy(np.array([["a", "b"]]))}), "classes has shape (1, 2)"),
    "classes-empty": (members(**{"fnn_meta.npy": meta(classes=True), "classes.npy": npy(np.array([], "<U1"))}), "classes has shape (0,)"),
    "classes-pickled": (members(**{"fnn_meta.npy": meta(classes=True), "classes.npy": npy(np.array(["a", 1], dtype=object), allow_pickle=True)}), "dtype object"),
    "classes-complex": (members(**{"fnn_meta.npy": meta(classes=True), "classes.npy": npy(np.array([1j, 2j]))}), "classes has dtype complex128, expected bool, integer, float or text"),
    "classes-repeated": (members(**{"fnn_meta.npy": meta(classes=True), "classes.npy": npy(np.array(["a", "a"]))}), "classes must be distinct"),
    "classes-nan": (members(**{"fnn_meta.npy": meta(classes=True), "classes.npy": npy(np.array([0.0, np.nan]))}), "classes must not hold missing labels"),
    "classes-too-many": (members(**{"fnn_meta.npy": meta(classes=True), "classes.npy": npy(np.array([1, 2, 3]))}), "classes must hold 2 classes"),
}  # fmt: skip


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_classes_are_refused_within_a_memory_bound(tmp_path, kind):
    entries, words = HOSTILE[kind]
    path = tmp_path / "hostile.npz"
    path.write_bytes(zip_bytes(entries))
    for load in (fnn.load, fnn.load_classes):
        peak, error = peak_memory(lambda: load(path))  # noqa: B023
        assert isinstance(error, ValueError), error
        assert "hostile.npz" in str(error) and words in str(error) and "\n" not in str(error)
        assert peak < BOUND, f"{kind}: {peak} bytes"


def test_a_valid_crafted_archive_with_classes_loads(tmp_path):
    """The crafting above makes real archives: with valid classes, they load (NET has 2
    sigmoid units: 2 classes)."""
    path = tmp_path / "crafted.npz"
    entries = members(**{"fnn_meta.npy": meta(classes=True), "classes.npy": CLASSES_OK})
    path.write_bytes(zip_bytes(entries))
    assert NET.activations[-1] == "sigmoid" and fnn.load_classes(path).tolist() == ["no", "yes"]

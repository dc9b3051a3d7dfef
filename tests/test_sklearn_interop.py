"""fnn.to_sklearn / fnn.from_sklearn against the real scikit-learn, and scikit-learn's
cross-validation splitters in fnn.kfold and fnn.sweep."""

import pickle
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import fnn
from fnn.registry import HIDDEN_ACTIVATIONS, LOSSES
from fnn.sklearn_interop import HIDDEN, OUTPUTS

sklearn = pytest.importorskip("sklearn")
joblib = pytest.importorskip("joblib")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GroupKFold,
    KFold,
    StratifiedKFold,
    TimeSeriesSplit,
    cross_val_predict,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

HAS_POISSON = "loss" in MLPRegressor().get_params()  # scikit-learn >= 1.7
X = np.random.default_rng(0).normal(size=(60, 3))

# (sizes, hidden, output, loss, classes): every kind of network scikit-learn can hold
CASES = {
    "binary": ([3, 5, 1], "relu", "sigmoid", None, None),
    "binary-strings": ([3, 5, 4, 1], "tanh", "sigmoid", None, ["no", "yes"]),
    "multiclass": ([3, 6, 3], "tanh", "softmax", None, [10, 20, 30]),
    "softmax-2": ([3, 4, 2], "sigmoid", "softmax", None, None),
    "multilabel": ([3, 4, 3], "identity", "sigmoid", None, None),
    "no-hidden": ([3, 1], "relu", "sigmoid", None, [False, True]),
    "regression": ([3, 5, 1], "sigmoid", "identity", None, None),
    "regression-3": ([3, 5, 4, 3], "relu", "identity", None, None),
    "poisson": ([3, 5, 2], "tanh", "identity", "poisson", None),
}


def _case(name, dtype=np.float64, key=1):
    sizes, hidden, output, loss, classes = CASES[name]
    if loss == "poisson" and not HAS_POISSON:
        pytest.skip("this scikit-learn has no MLPRegressor(loss='poisson') (added in 1.7)")
    net = fnn.mlp(sizes, hidden=hidden, output=output, loss=loss)
    return net, fnn.init(net, key=key, dtype=dtype), classes


def _labels(net, classes, n, seed=2):
    """Targets of n rows for the net: (fnn's labels, scikit-learn's labels)."""
    rng = np.random.default_rng(seed)
    k = net.sizes[-1]
    if net.loss == "poisson":
        y = rng.poisson(1.0, size=(n, k)).astype(float)
        return y, y
    if net.loss == "mse":
        y = rng.normal(size=(n, k))
        return (y[:, 0], y[:, 0]) if k == 1 else (y, y)
    if net.activations[-1] == "sigmoid" and k > 1:  # multilabel indicator rows
        y = rng.integers(0, 2, size=(n, k))
        return y, y
    y = rng.integers(0, max(k, 2), size=n)
    names = np.arange(max(k, 2)) if classes is None else np.asarray(classes)
    return y, names[y]


def _same_params(a, b):
    return all(
        x.W.dtype == y.W.dtype
        and x.b.dtype == y.b.dtype
        and np.array_equal(x.W, y.W)
        and np.array_equal(x.b, y.b)
        for x, y in zip(a.layers, b.layers, strict=True)
    )


def _expected_predict(net, params, classes, X):
    """What scikit-learn's predict must give, from fnn."""
    pred = fnn.predict(net, params, X)
    if net.loss == "poisson":
        return np.exp(pred)
    if net.loss == "mse" or (net.activations[-1] == "sigmoid" and net.sizes[-1] > 1):
        return pred
    names = np.arange(max(net.sizes[-1], 2)) if classes is None else np.asarray(classes)
    return names[pred]


def _fnn_proba_as_sklearn(net, params, X):
    proba = fnn.predict_proba(net, params, X)
    if net.activations[-1] == "sigmoid" and net.sizes[-1] == 1:
        return np.hstack([1 - proba, proba])
    return proba


# -- fnn -> scikit-learn ---------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_to_sklearn_predicts_and_scores_as_fnn(name):
    net, params, classes = _case(name)
    model = fnn.to_sklearn(net, params, classes=classes)
    is_classifier = net.loss in ("bce", "ce")
    assert isinstance(model, MLPClassifier if is_classifier else MLPRegressor)
    assert model.hidden_layer_sizes == tuple(net.sizes[1:-1])
    assert model.n_features_in_ == 3 and model.n_layers_ == len(net.sizes)
    expected = _expected_predict(net, params, classes, X)
    got = model.predict(X)
    if is_classifier:
        assert np.array_equal(got, expected)
        np.testing.assert_allclose(
            model.predict_proba(X), _fnn_proba_as_sklearn(net, params, X), rtol=1e-12, atol=1e-12
        )
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    y_fnn, y_sk = _labels(net, classes, len(X))
    if net.loss in ("bce", "ce"):
        want = fnn.accuracy(net, params, X, y_fnn)
        assert want == accuracy_score(y_fnn, fnn.predict(net, params, X))  # same metric
    else:
        want = fnn.r2_score(y_fnn, expected)
    assert abs(model.score(X, y_sk) - want) <= 1e-12


@pytest.mark.parametrize("name", [name for name in CASES if name != "softmax-2"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_fnn_sklearn_fnn_is_bit_exact(name, dtype):
    net, params, classes = _case(name, dtype)
    model = fnn.to_sklearn(net, params, classes=classes)
    assert all(W.dtype == dtype and W.flags.writeable for W in model.coefs_)
    back = fnn.from_sklearn(model)
    assert back.net == net and back.scaler is None
    assert _same_params(back.params, params)
    assert not back.params.layers[0].W.flags.writeable
    if net.loss in ("bce", "ce"):
        expected = np.arange(max(net.sizes[-1], 2)) if classes is None else np.asarray(classes)
        assert np.array_equal(back.classes, expected) and not back.classes.flags.writeable
    else:
        assert back.classes is None
    # and the rebuilt estimator predicts as the first, bit for bit
    again = fnn.to_sklearn(*back)
    assert np.array_equal(again.predict(X), model.predict(X))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_class_softmax_becomes_one_logistic_unit(dtype):
    net, params, _ = _case("softmax-2", dtype)
    model = fnn.to_sklearn(net, params, classes=["a", "b"])
    assert model.out_activation_ == "logistic" and model.n_outputs_ == 1
    W, b = (part.astype(np.float64) for part in params.layers[-1])
    assert np.array_equal(model.coefs_[-1], (W[:, 1:] - W[:, :1]).astype(dtype))
    assert np.array_equal(model.intercepts_[-1], (b[1:] - b[:1]).astype(dtype))
    assert model.coefs_[-1].dtype == dtype
    back = fnn.from_sklearn(model)
    assert back.net == fnn.mlp([3, 4, 1], hidden="sigmoid")
    assert _same_params(fnn.Params(back.params.layers[:-1]), fnn.Params(params.layers[:-1]))
    X_ = X.astype(dtype)
    assert np.array_equal(fnn.predict(back.net, back.params, X_), fnn.predict(net, params, X_))


def test_float32_parameters_give_a_float32_estimator():
    net, params, classes = _case("multiclass", np.float32)
    model = fnn.to_sklearn(net, params, classes=classes)
    X32 = X.astype(np.float32)
    proba = model.predict_proba(X32)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, fnn.predict_proba(net, params, X32), rtol=1e-5, atol=1e-6)


def test_scaler_gives_a_pipeline_that_takes_raw_features():
    net, params, classes = _case("multiclass")
    raw = X * [10.0, 0.1, 3.0] + [5.0, -1.0, 0.0]
    scaler = fnn.standardizer(raw)
    model = fnn.to_sklearn(net, params, scaler=scaler, classes=classes)
    assert isinstance(model, Pipeline)
    assert [name for name, _ in model.steps] == ["standardscaler", "mlpclassifier"]
    standardized = fnn.standardize(scaler, raw)
    assert np.array_equal(model[0].transform(raw), standardized)
    assert np.array_equal(
        model.predict(raw), np.asarray(classes)[fnn.predict(net, params, standardized)]
    )
    np.testing.assert_allclose(model.predict_proba(raw), fnn.predict_proba(net, params, standardized),
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    back = fnn.from_sklearn(model)
    assert back.net == net and _same_params(back.params, params)
    assert np.array_equal(back.scaler.mean, scaler.mean)
    assert np.array_equal(back.scaler.scale, scaler.scale)


def test_a_scalers_feature_names_become_the_pipelines_and_come_back():
    pd = pytest.importorskip("pandas")
    net, params, classes = _case("multiclass")
    names = ["age", "income", "height"]
    frame = pd.DataFrame(X * [10.0, 0.1, 3.0] + [40.0, 3.0, 1.7], columns=names)
    scaler = fnn.standardizer(frame)
    assert scaler.feature_names == tuple(names)
    model = fnn.to_sklearn(net, params, scaler=scaler, classes=classes)
    assert model[0].feature_names_in_.tolist() == names  # the StandardScaler's, as fit sets
    assert model.feature_names_in_.tolist() == names  # the Pipeline reads its first step's
    assert not hasattr(model[1], "feature_names_in_")  # the MLP sees the scaler's array
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names" warning
        predicted = model.predict(frame)
    standardized = fnn.standardize(scaler, frame)
    assert np.array_equal(predicted, np.asarray(classes)[fnn.predict(net, params, standardized)])
    with pytest.raises(ValueError, match="feature names"):  # scikit-learn's own check
        model.predict(frame[["income", "age", "height"]])
    assert fnn.from_sklearn(model).scaler.feature_names == tuple(names)
    # a pipeline scikit-learn fitted on the DataFrame itself
    y = fnn.predict(net, params, standardized)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = make_pipeline(StandardScaler(), MLPClassifier((4,), max_iter=5, random_state=0))
        fitted.fit(frame, y)
    back = fnn.from_sklearn(fitted).scaler
    assert back.feature_names == tuple(names) and all(type(n) is str for n in back.feature_names)
    # without names, none on either side
    unnamed = fnn.to_sklearn(net, params, scaler=fnn.standardizer(X), classes=classes)
    assert not hasattr(unnamed[0], "feature_names_in_")
    assert fnn.from_sklearn(unnamed).scaler.feature_names == ()


def test_a_network_trained_with_dropout_converts_as_it_predicts():
    net = fnn.mlp([3, 8, 8, 1], dropout=[0.5, 0.2])
    y = (X[:, 0] > 0).astype(int)
    params = fnn.fit(net, fnn.init(net, key=0), fnn.adam(0.01), X, y, epochs=5, key=3).params
    model = fnn.to_sklearn(net, params)
    assert np.array_equal(model.predict(X), fnn.predict(net, params, X))
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], fnn.predict_proba(net, params, X)[:, 0],
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    back = fnn.from_sklearn(model)
    assert back.net == net._replace(dropout=()) and _same_params(back.params, params)


def test_pickle_and_joblib_keep_the_predictions(tmp_path):
    net, params, classes = _case("binary-strings")
    model = fnn.to_sklearn(net, params, scaler=fnn.standardizer(X), classes=classes)
    unpickled = pickle.loads(pickle.dumps(model))
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    for copy in (unpickled, loaded):
        assert np.array_equal(copy.predict(X), model.predict(X))
        assert np.array_equal(copy.predict_proba(X), model.predict_proba(X))


def test_cross_val_predict_with_a_fitted_model_and_with_refits():
    net, params, classes = _case("multiclass")
    model = fnn.to_sklearn(net, params, classes=classes)
    _, y = _labels(net, classes, len(X))
    frozen_module = pytest.importorskip("sklearn.frozen")  # scikit-learn >= 1.6
    predicted = cross_val_predict(frozen_module.FrozenEstimator(model), X, y, cv=3)
    assert np.array_equal(predicted, model.predict(X))
    # A clone is an unfitted MLPClassifier of the same shape, which scikit-learn trains itself.
    fresh = clone(model).set_params(max_iter=5, random_state=0)
    assert not hasattr(fresh, "coefs_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        refit = cross_val_predict(fresh, X, y, cv=3)
    assert refit.shape == (len(X),) and set(refit) <= set(classes)


@pytest.mark.parametrize("name", CASES)
def test_partial_fit_continues_from_the_converted_weights(name):
    net, params, classes = _case(name)
    model = fnn.to_sklearn(net, params, classes=classes).set_params(learning_rate_init=1e-9)
    _, y = _labels(net, classes, len(X))
    before_shape = model.predict(X).shape
    model.partial_fit(X, y)
    assert model.t_ == len(X) and len(model.loss_curve_) == 1
    before = fnn.to_sklearn(net, params, classes=classes).coefs_
    for W, W_before in zip(model.coefs_, before, strict=True):
        assert not np.array_equal(W, W_before)  # trained ...
        np.testing.assert_allclose(W, W_before, atol=1e-7)  # ... from fnn's weights, not afresh
    assert model.predict(X).shape == before_shape
    if classes is not None:
        assert np.array_equal(model.classes_, classes)


def test_warm_start_fit_continues_from_the_converted_weights():
    net, params, classes = _case("regression-3")
    model = fnn.to_sklearn(net, params).set_params(
        warm_start=True, learning_rate_init=1e-9, max_iter=1
    )
    _, y = _labels(net, classes, len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    for W, layer in zip(model.coefs_, params.layers):
        np.testing.assert_allclose(W, layer.W, atol=1e-7)


# -- scikit-learn -> fnn ----------------------------------------------------------------------


def _sklearn_fit(task, activation, dtype=np.float64, solver="adam"):
    rng = np.random.default_rng(4)
    X_ = X.astype(dtype)
    if task == "binary":
        model, y = MLPClassifier, rng.choice(["a", "b"], len(X))
    elif task == "multiclass":
        model, y = MLPClassifier, rng.integers(1, 5, len(X))
    elif task == "multilabel":
        model, y = MLPClassifier, rng.integers(0, 2, (len(X), 3))
    elif task == "regression":
        model, y = MLPRegressor, X @ [1.0, -2.0, 0.5]
    elif task == "regression-2":
        model, y = MLPRegressor, np.stack([X[:, 0], X[:, 1] * X[:, 2]], axis=1)
    else:  # poisson
        if not HAS_POISSON:
            pytest.skip("this scikit-learn has no MLPRegressor(loss='poisson') (added in 1.7)")
        model, y = MLPRegressor, rng.poisson(np.exp(X[:, :2] / 2)).astype(float)
    settings = {"loss": "poisson"} if task == "poisson" else {}
    estimator = model(hidden_layer_sizes=(4, 3), activation=activation, solver=solver,
                      max_iter=5, random_state=0, **settings)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X_, y)


TASKS = ["binary", "multiclass", "multilabel", "regression", "regression-2", "poisson"]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("activation", sorted(HIDDEN.values()))
def test_from_sklearn_reads_every_activation_and_task(task, activation):
    estimator = _sklearn_fit(task, activation)
    net, params, scaler, classes = fnn.from_sklearn(estimator)
    fnn_name = {v: k for k, v in HIDDEN.items()}[activation]
    assert net.activations[:-1] == (fnn_name, fnn_name) and net.sizes[1:3] == (4, 3)
    assert scaler is None
    for layer, W, b in zip(params.layers, estimator.coefs_, estimator.intercepts_, strict=True):
        assert (
            layer.W.dtype == W.dtype and np.array_equal(layer.W, W) and np.array_equal(layer.b, b)
        )
    expected = estimator.predict(X)
    if isinstance(estimator, MLPClassifier):
        assert np.array_equal(classes, estimator.classes_)
        np.testing.assert_allclose(_fnn_proba_as_sklearn(net, params, X), estimator.predict_proba(X),
                                   rtol=1e-12, atol=1e-12)  # fmt: skip
        mine = fnn.predict(net, params, X)
        assert np.array_equal(mine if task == "multilabel" else classes[mine], expected)
    else:
        assert classes is None
        mine = fnn.predict(net, params, X)
        np.testing.assert_allclose(np.exp(mine) if task == "poisson" else mine, expected,
                                   rtol=1e-12, atol=1e-12)  # fmt: skip
    # scikit-learn -> fnn -> scikit-learn: the same predictions, bit for bit
    again = fnn.to_sklearn(net, params, classes=classes)
    assert type(again) is type(estimator) and again.out_activation_ == estimator.out_activation_
    assert np.array_equal(again.predict(X), expected)


def test_from_sklearn_keeps_float32_and_copies_the_weights():
    single = _sklearn_fit("multiclass", "relu", np.float32)
    params = fnn.from_sklearn(single).params
    assert params.layers[0].W.dtype == np.float32
    assert _same_params(
        params, fnn.Params(tuple(map(fnn.Layer, single.coefs_, single.intercepts_)))
    )
    # lbfgs leaves coefs_ as views of one buffer; fnn's params must not share it
    estimator = _sklearn_fit("multiclass", "relu", solver="lbfgs")
    params = fnn.from_sklearn(estimator).params
    for layer, W in zip(params.layers, estimator.coefs_):
        assert np.array_equal(layer.W, W) and not np.shares_memory(layer.W, W)


def test_from_sklearn_reads_a_scaler_pipeline():
    raw = X * [3.0, 1.0, 0.5] + 2.0
    y = (raw[:, 0] > 2.0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline = make_pipeline(StandardScaler(), MLPClassifier((5,), max_iter=5, random_state=0))
        pipeline.fit(raw, y)
    net, params, scaler, classes = fnn.from_sklearn(pipeline)
    assert np.array_equal(scaler.mean, pipeline[0].mean_)
    assert np.array_equal(scaler.scale, pipeline[0].scale_)
    standardized = fnn.standardize(scaler, raw)
    assert np.array_equal(classes[fnn.predict(net, params, standardized)], pipeline.predict(raw))
    again = fnn.to_sklearn(net, params, scaler, classes)
    assert np.array_equal(again.predict_proba(raw), pipeline.predict_proba(raw))
    # a scaler that only centres or only scales
    centre = make_pipeline(StandardScaler(with_std=False), pipeline[1])
    unit = make_pipeline(StandardScaler(with_mean=False), pipeline[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        centre.fit(raw, y)
        unit.fit(raw, y)
    assert np.array_equal(fnn.from_sklearn(centre).scaler.scale, np.ones(3))
    assert np.array_equal(fnn.from_sklearn(centre).scaler.mean, centre[0].mean_)
    assert np.array_equal(fnn.from_sklearn(unit).scaler.mean, np.zeros(3))
    assert np.array_equal(fnn.from_sklearn(unit).scaler.scale, unit[0].scale_)


# -- what scikit-learn cannot hold, and bad input ------------------------------------------------


@pytest.mark.parametrize("activation", sorted(set(HIDDEN_ACTIVATIONS) - set(HIDDEN)))
def test_hidden_activations_scikit_learn_lacks_are_refused(activation):
    net = fnn.mlp([3, 4, 4, 1], hidden=["relu", activation])
    with pytest.raises(
        ValueError, match=rf"net.activations\[1\] \(hidden layer 1\) is '{activation}'"
    ):
        fnn.to_sklearn(net, fnn.init(net))


def test_different_hidden_activations_are_refused():
    net = fnn.mlp([3, 4, 4, 4, 1], hidden=["tanh", "tanh", "relu"])
    with pytest.raises(ValueError, match=r"net.activations\[2\] \(hidden layer 2\) is 'relu' but "
                       r"net.activations\[0\] is 'tanh'"):  # fmt: skip
        fnn.to_sklearn(net, fnn.init(net))


@pytest.mark.parametrize("loss", sorted(set(LOSSES) - {loss for _, loss in OUTPUTS}))
def test_losses_scikit_learn_lacks_are_refused(loss):
    net = fnn.mlp([3, 4, 1], output="identity", loss=loss)
    with pytest.raises(ValueError, match=f"net.loss is '{loss}', which scikit-learn's MLP lacks"):
        fnn.to_sklearn(net, fnn.init(net))


@pytest.mark.parametrize("output, loss", [("tanh", "mse"), ("sigmoid", "mse"), ("softmax", "mse"),
                                          ("relu", None)])  # fmt: skip
def test_outputs_scikit_learn_lacks_are_refused(output, loss):
    net = fnn.mlp([3, 4, 2], output=output, loss=loss)
    with pytest.raises(
        ValueError, match=rf"net.activations\[1\] \(the output layer\) is '{output}'"
    ):
        fnn.to_sklearn(net, fnn.init(net))


@pytest.mark.parametrize(
    "name, classes, message",
    [
        ("binary", [0, 1, 2], r"classes must hold 2 labels"),
        ("multiclass", ["b", "a", "c"], r"sorted and distinct"),
        ("multiclass", [1, 1, 2], r"sorted and distinct"),
        ("multiclass", [0.5, 1.5, 2.25], r"class labels .* continuous"),
        ("multilabel", [1, 2, 3], r"multilabel network .* 0..2"),
        ("regression", [0, 1], r"classes is for classifiers"),
    ],
)
def test_bad_classes_are_refused(name, classes, message):
    net, params, _ = _case(name)
    with pytest.raises(ValueError, match=message):
        fnn.to_sklearn(net, params, classes=classes)


def test_bad_params_and_scaler_are_refused():
    net, params, _ = _case("binary")
    bad = params._replace(
        layers=(params.layers[0]._replace(b=np.full(5, np.nan)), params.layers[1])
    )
    with pytest.raises(ValueError, match=r"params.layers\[0\].b must be finite"):
        fnn.to_sklearn(net, bad)
    with pytest.raises(ValueError, match=r"params has 2 layers but the network has 1"):
        fnn.to_sklearn(fnn.mlp([3, 1]), params)
    with pytest.raises(TypeError, match="scaler must be an fnn.Scaler"):
        fnn.to_sklearn(net, params, scaler=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"scaler must standardise 3 features"):
        fnn.to_sklearn(net, params, scaler=fnn.standardizer(X[:, :2]))


def test_from_sklearn_refuses_what_is_not_a_fitted_mlp():
    with pytest.raises(ValueError, match=r"estimator is not fitted.*MLPClassifier"):
        fnn.from_sklearn(MLPClassifier())
    with pytest.raises(TypeError, match="estimator must be a fitted MLPClassifier, MLPRegressor"):
        fnn.from_sklearn(LogisticRegression().fit(X, X[:, 0] > 0))
    with pytest.raises(TypeError, match="estimator must be a fitted MLPClassifier"):
        fnn.from_sklearn("model.pkl")
    fitted = _sklearn_fit("binary", "relu")
    with pytest.raises(ValueError, match=r"Pipeline of \['MLPClassifier'\]"):
        fnn.from_sklearn(Pipeline([("mlp", fitted)]))
    with pytest.raises(ValueError, match=r"StandardScaler is not fitted"):
        fnn.from_sklearn(Pipeline([("scale", StandardScaler()), ("mlp", fitted)]))


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    net, params, _ = _case("binary")
    monkeypatch.setitem(sys.modules, "sklearn.neural_network", None)  # import fails
    with pytest.raises(ImportError, match=r"fnn.to_sklearn needs scikit-learn.*fnn\[sklearn\]"):
        fnn.to_sklearn(net, params)
    with pytest.raises(ImportError, match=r"fnn.from_sklearn needs scikit-learn.*fnn\[sklearn\]"):
        fnn.from_sklearn(None)


# -- scikit-learn's splitters in kfold and sweep ------------------------------------------------


def _sorted_split(splitter, X_, y=None, groups=None):
    return [(np.sort(train), np.sort(val)) for train, val in splitter.split(X_, y, groups)]


def test_kfold_takes_a_stratified_splitter():
    y = np.random.default_rng(5).integers(0, 3, len(X))
    splitter = StratifiedKFold(4, shuffle=True, random_state=0)
    folds = fnn.kfold(0, len(X), splitter, stratify=y)
    expected = _sorted_split(splitter, X, y)
    assert len(folds) == 4
    for fold, (train, val) in zip(folds, expected, strict=True):
        assert np.array_equal(fold.train, train) and np.array_equal(fold.val, val)
        assert fold.train.dtype == np.int64 and not fold.val.flags.writeable
    one_hot = np.eye(3)[y]  # one-hot rows stratify as their classes
    assert all(np.array_equal(a.val, b.val)
               for a, b in zip(fnn.kfold(0, len(X), splitter, stratify=one_hot), folds))  # fmt: skip


def test_kfold_takes_group_and_time_series_splitters():
    groups = np.repeat(np.arange(6), 10)
    folds = fnn.kfold(0, len(X), GroupKFold(3), groups=groups)
    assert len(folds) == 3
    for fold in folds:
        assert not set(groups[fold.train]) & set(groups[fold.val])
    assert sorted(np.concatenate([fold.val for fold in folds]).tolist()) == list(range(len(X)))
    series = fnn.kfold(0, len(X), TimeSeriesSplit(3))
    for fold, (train, val) in zip(series, _sorted_split(TimeSeriesSplit(3), X), strict=True):
        assert np.array_equal(fold.train, train) and np.array_equal(fold.val, val)
        assert fold.train.max() < fold.val.min()  # the past only


def test_kfold_splitter_errors():
    with pytest.raises(ValueError, match=r"groups needs a scikit-learn splitter .* got k=3"):
        fnn.kfold(0, len(X), 3, groups=np.zeros(len(X)))
    with pytest.raises(
        ValueError, match=r"groups must hold one group label per row, shape \(60,\)"
    ):
        fnn.kfold(0, len(X), GroupKFold(3), groups=np.zeros(5))
    with pytest.raises(ValueError, match="groups") as caught:  # scikit-learn's own message
        fnn.kfold(0, len(X), GroupKFold(3))
    assert any(
        "in k.split(X, y, groups), k = GroupKFold" in note for note in caught.value.__notes__
    )
    with pytest.raises(ValueError, match=r"stratify must hold one label per row"):
        fnn.kfold(0, len(X), StratifiedKFold(3), stratify=[0, 1])


def test_sweep_takes_a_splitter_and_groups():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, len(X))
    net = fnn.mlp([3, 4, 3], output="softmax")
    splitter = StratifiedKFold(3, shuffle=True, random_state=1)
    settings = dict(keys=[0], epochs=3, batch_size=16, workers=1)
    by_splitter = fnn.sweep(net, fnn.adam(0.01), X, np.eye(3)[y], folds=splitter, **settings)
    by_folds = fnn.sweep(net, fnn.adam(0.01), X, np.eye(3)[y], folds=_sorted_split(splitter, X, y),
                         **settings)  # fmt: skip
    assert len(by_splitter) == 3
    for a, b in zip(by_splitter, by_folds, strict=True):
        assert a.val_loss == b.val_loss and _same_params(a.params, b.params)
    groups = np.repeat(np.arange(4), 15)
    grouped = fnn.sweep(net, fnn.adam(0.01), X, y, folds=GroupKFold(2), groups=groups, **settings)
    assert len(grouped) == 2
    with pytest.raises(ValueError, match=r"groups needs a scikit-learn splitter .* as folds"):
        fnn.sweep(
            net, fnn.adam(0.01), X, y, folds=fnn.kfold(0, len(X), 2), groups=groups, **settings
        )
    empty_val = SimpleNamespace(  # a splitter whose one fold has no validation rows
        split=lambda X, y=None, groups=None: iter([(np.arange(len(X)), np.array([], int))]),
        get_n_splits=lambda *args, **kwargs: 1,
    )
    with pytest.raises(ValueError, match=r"folds.split\(\.\.\.\)\[0\].val must be a non-empty"):
        fnn.sweep(net, fnn.adam(0.01), X, y, folds=empty_val, **settings)


def test_kfold_plain_k_is_unchanged():
    assert [fold.val.tolist() for fold in fnn.kfold(0, 7, 3)] == [[1, 2, 6], [4, 5], [0, 3]]
    assert len(fnn.kfold(0, 10, KFold(5))) == 5

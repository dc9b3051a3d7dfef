"""scikit-learn both ways: a network as a fitted ``MLPClassifier`` or ``MLPRegressor``, and back.

fnn defines no estimator class: :func:`to_sklearn` returns scikit-learn's own estimator with
its fitted attributes set from the network (so it predicts, scores, pickles and sits in a
``Pipeline`` as one scikit-learn trained), and :func:`from_sklearn` reads such an estimator
into fnn's values. The weights cross unchanged, bit for bit, in their dtype.

A scikit-learn MLP has one activation for every hidden layer (identity, logistic, tanh or
relu) and a fixed output and loss per task, so the networks it can hold are:

=====================================  ===================================================
fnn: output activation, loss            scikit-learn
=====================================  ===================================================
sigmoid, bce: 1 unit                    ``MLPClassifier``, binary (``out_activation_`` logistic)
sigmoid, bce: k > 1 units               ``MLPClassifier``, multilabel (logistic)
softmax, ce: k > 2 units                ``MLPClassifier``, k classes (softmax)
softmax, ce: 2 units                    ``MLPClassifier``, binary: one logistic unit
identity, mse                           ``MLPRegressor(loss="squared_error")`` (identity)
identity, poisson                       ``MLPRegressor(loss="poisson")`` (exp; scikit-learn >= 1.7)
=====================================  ===================================================

scikit-learn is an optional extra (``pip install 'fnn[sklearn]'``), imported only when one of
these functions is called.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np

from fnn import checks
from fnn.flat import frozen, pack, unpack
from fnn.model import mlp
from fnn.types import Converted, Layer, Net, Params, Scaler

#: fnn's name of each hidden activation scikit-learn's MLP has, and scikit-learn's name.
HIDDEN = {"identity": "identity", "sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}

#: ``(output activation, loss)`` of fnn -> scikit-learn's ``out_activation_``.
OUTPUTS = {
    ("sigmoid", "bce"): "logistic",
    ("softmax", "ce"): "softmax",
    ("identity", "mse"): "identity",
    ("identity", "poisson"): "exp",
}


def _sklearn(caller: str) -> dict:
    """The scikit-learn classes these functions use, or an ImportError naming the extra."""
    try:
        neural = importlib.import_module("sklearn.neural_network")
        pipeline = importlib.import_module("sklearn.pipeline")
        preprocessing = importlib.import_module("sklearn.preprocessing")
        multiclass = importlib.import_module("sklearn.utils.multiclass")
    except ImportError as error:
        raise ImportError(
            f"fnn.{caller} needs scikit-learn, an optional extra: pip install 'fnn[sklearn]'"
        ) from error
    return {
        "MLPClassifier": neural.MLPClassifier,
        "MLPRegressor": neural.MLPRegressor,
        "Pipeline": pipeline.Pipeline,
        "StandardScaler": preprocessing.StandardScaler,
        "LabelBinarizer": preprocessing.LabelBinarizer,
        "type_of_target": multiclass.type_of_target,
    }


# -- fnn -> scikit-learn -------------------------------------------------------------------------


def to_sklearn(net: Net, params: Params, scaler: Scaler | None = None, classes=None):
    """The network as a fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor``.

    The estimator is scikit-learn's own class with the fitted attributes its ``predict``,
    ``predict_proba``, ``score``, ``partial_fit`` and ``warm_start`` read, set from the
    network: ``coefs_[l] = W_l`` and ``intercepts_[l] = b_l`` (writable copies, in the
    parameters' dtype), ``n_layers_``, ``n_outputs_``, ``out_activation_``,
    ``n_features_in_``, ``classes_`` and its label binarizer; ``hidden_layer_sizes`` and
    ``activation`` (and ``loss`` for poisson) match the network, the other hyperparameters
    are scikit-learn's defaults. It records no training by scikit-learn: ``n_iter_`` and
    ``t_`` are 0, ``loss_curve_`` is empty and ``loss_`` is not set (fnn does not know the
    loss on your data; :func:`fnn.loss` computes it). Dropout does not apply at inference,
    so a network trained with dropout converts as it predicts.

    :func:`fnn.from_sklearn` gives back ``net`` and ``params`` bit for bit, with one
    exception: scikit-learn holds two classes in one logistic unit (and trains nothing
    else), so a two-unit softmax network becomes that unit, ``W[:, 1] - W[:, 0]`` and
    ``b[1] - b[0]`` (``softmax(z)[1] = sigmoid(z1 - z0)``; the differences rounded once, from
    float64), and comes back as a one-sigmoid-unit bce network predicting the same.

    What it computes, for float64 parameters, agrees with fnn to rounding (1e-12):
    ``predict_proba`` is fnn's :func:`~fnn.predict_proba` (for one sigmoid unit, its column
    1; column 0 is ``1 - p``); a classifier's ``predict`` is ``classes[fnn.predict(...)]``
    (a multilabel one gives fnn's 0/1 matrix), decided on ``p > 0.5`` where fnn decides on
    the logit ``z > 0`` (the two differ only where ``p`` rounds to exactly 0.5); a
    regressor's ``predict`` is fnn's, except for poisson: scikit-learn predicts the rate
    ``exp(z)`` where fnn predicts the log-rate ``z``. float32 parameters give a float32
    estimator (float64 inputs are then multiplied in float64 by scikit-learn, in float32 by
    fnn: they agree to float32 rounding).

    Needs the ``[sklearn]`` extra (scikit-learn >= 1.3; poisson: >= 1.7).

    Parameters
    ----------
    net : Net
        One hidden activation for every hidden layer (identity, sigmoid, tanh or relu), and
        an output and loss scikit-learn has: sigmoid with bce (binary, or multilabel for
        several units), softmax with ce, identity with mse or poisson. Anything else is a
        ValueError naming the layer or the loss.
    params : Params
        float32 or float64, finite.
    scaler : Scaler or None
        The standardisation the network was trained behind (:func:`fnn.standardizer`): the
        result is then a ``Pipeline`` of a fitted ``StandardScaler`` (``mean_``, ``scale_``,
        ``var_`` from it) and the estimator, which takes raw features. The scaler's
        ``n_samples_seen_`` is not set (unknown), so its ``partial_fit`` starts afresh. A
        scaler with ``feature_names`` gives them to the ``StandardScaler``'s (and so the
        pipeline's) ``feature_names_in_``, as fitting the pipeline on a DataFrame does: it
        then refuses a DataFrame whose columns differ. The MLP, which sees the scaler's
        array, has none (scikit-learn would warn on every ``predict`` if it had).
    classes : array_like or None
        A classifier's class labels, sorted and distinct (as ``np.unique`` returns them:
        scikit-learn orders a classifier's outputs by its sorted ``classes_``): output unit
        ``j`` of a softmax network is ``classes[j]``; one sigmoid unit gives the probability
        of ``classes[1]``. None: ``0, 1, ..., k-1`` (fnn's own labels). A multilabel network's
        classes are always ``0..k-1`` (scikit-learn's); a regressor has none.

    Returns
    -------
    sklearn.neural_network.MLPClassifier, MLPRegressor or sklearn.pipeline.Pipeline
        Fitted; a ``Pipeline`` (``"standardscaler"``, then ``"mlpclassifier"`` or
        ``"mlpregressor"``) when ``scaler`` is given.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 8, 3], output="softmax")
    >>> params = fnn.init(net, key=0)
    >>> model = fnn.to_sklearn(net, params, classes=["cat", "dog", "fox"])
    >>> type(model).__name__, model.classes_.tolist()
    ('MLPClassifier', ['cat', 'dog', 'fox'])
    >>> X = np.random.default_rng(0).normal(size=(5, 2))
    >>> bool((model.predict(X) == model.classes_[fnn.predict(net, params, X)]).all())
    True
    >>> np.allclose(model.predict_proba(X), fnn.predict_proba(net, params, X), rtol=1e-12)
    True
    """
    sk = _sklearn("to_sklearn")
    net = checks.network(net)
    dtype = checks.params_of(net.sizes, params)
    for index, layer in enumerate(params.layers):
        for field, array in zip(("W", "b"), layer):
            if not np.isfinite(array).all():
                raise ValueError(f"params.layers[{index}].{field} must be finite, got NaN or inf")
    hidden = _hidden_activation(net)
    out_activation = _out_activation(net, sk)
    hidden_sizes = tuple(net.sizes[1:-1])
    coefs = [np.array(layer.W, dtype) for layer in params.layers]
    intercepts = [np.array(layer.b, dtype) for layer in params.layers]
    if out_activation == "softmax" and net.sizes[-1] == 2:
        # scikit-learn holds two classes in one logistic unit (its partial_fit and warm_start
        # train nothing else): softmax(z)[1] = sigmoid(z1 - z0), the difference in float64.
        W, b = (part.astype(np.float64) for part in params.layers[-1])
        coefs[-1] = (W[:, 1:] - W[:, :1]).astype(dtype)
        intercepts[-1] = (b[1:] - b[:1]).astype(dtype)
        out_activation = "logistic"
    n_outputs = coefs[-1].shape[1]
    if out_activation in ("identity", "exp"):
        if classes is not None:
            raise ValueError(
                f"classes is for classifiers; net is a regressor (output {net.activations[-1]!r}, "
                f"loss {net.loss!r}), got classes={checks.describe(classes)}"
            )
        settings = {"loss": "poisson"} if out_activation == "exp" else {}
        model = sk["MLPRegressor"](hidden_layer_sizes=hidden_sizes, activation=hidden, **settings)
    else:
        model = sk["MLPClassifier"](hidden_layer_sizes=hidden_sizes, activation=hidden)
        binarizer = _binarizer(net, classes, sk)
        model._label_binarizer = binarizer
        model.classes_ = binarizer.classes_
    # The attributes BaseMultilayerPerceptron._initialize sets (for the default adam
    # solver), so that partial_fit and warm_start continue from these weights.
    model.coefs_ = coefs
    model.intercepts_ = intercepts
    model.n_features_in_ = net.sizes[0]
    model.n_outputs_ = n_outputs
    model.n_layers_ = len(net.sizes)
    model.out_activation_ = out_activation
    model.n_iter_ = 0
    model.t_ = 0
    model.loss_curve_ = []
    model.best_loss_ = np.inf
    model.validation_scores_ = None
    model.best_validation_score_ = None
    model._no_improvement_count = 0
    model._best_coefs = [W.copy() for W in model.coefs_]
    model._best_intercepts = [b.copy() for b in model.intercepts_]
    if scaler is None:
        return model
    return sk["Pipeline"]([("standardscaler", _standard_scaler(scaler, net, sk)),
                           (type(model).__name__.lower(), model)])  # fmt: skip


def _hidden_activation(net: Net) -> str:
    """scikit-learn's name of the network's one hidden activation ("relu" with none)."""
    hidden = net.activations[:-1]
    for index, name in enumerate(hidden):
        if name not in HIDDEN:
            raise ValueError(
                f"net.activations[{index}] (hidden layer {index}) is {name!r}, which "
                f"scikit-learn's MLP lacks: its hidden activations are {sorted(HIDDEN)} "
                "(fnn's names; sigmoid is its 'logistic')"
            )
        if name != hidden[0]:
            raise ValueError(
                f"net.activations[{index}] (hidden layer {index}) is {name!r} but "
                f"net.activations[0] is {hidden[0]!r}: a scikit-learn MLP has one activation "
                "for every hidden layer"
            )
    return HIDDEN[hidden[0]] if hidden else "relu"


def _out_activation(net: Net, sk: dict) -> str:
    """scikit-learn's ``out_activation_`` of the network's output and loss."""
    output, loss = net.activations[-1], net.loss
    if loss not in {loss for _, loss in OUTPUTS}:
        raise ValueError(
            f"net.loss is {loss!r}, which scikit-learn's MLP lacks: it trains bce (sigmoid "
            "output) or ce (softmax) in MLPClassifier, mse or poisson (identity output) in "
            "MLPRegressor"
        )
    if (output, loss) not in OUTPUTS:
        wanted = [out for out, name in OUTPUTS if name == loss]
        raise ValueError(
            f"net.activations[{len(net.activations) - 1}] (the output layer) is {output!r} "
            f"with loss {loss!r}; scikit-learn's MLP pairs loss {loss!r} only with the output "
            f"{wanted[0]!r}"
        )
    out_activation = OUTPUTS[output, loss]
    if out_activation == "exp" and "loss" not in inspect.signature(sk["MLPRegressor"]).parameters:
        raise ValueError(
            "net.loss is 'poisson', which needs scikit-learn >= 1.7 (MLPRegressor(loss="
            "'poisson')); this scikit-learn has no such loss"
        )
    return out_activation


def _binarizer(net: Net, classes, sk: dict):
    """A fitted LabelBinarizer as MLPClassifier.fit makes it, for the network's outputs."""
    n_outputs = net.sizes[-1]
    multilabel = net.activations[-1] == "sigmoid" and n_outputs > 1
    n_classes = 2 if n_outputs == 1 else n_outputs
    if classes is None:
        labels = np.arange(n_classes)
    else:
        labels = np.asarray(classes)
        if labels.shape != (n_classes,):
            raise ValueError(
                f"classes must hold {n_classes} labels (net's output has {n_outputs} "
                f"{net.activations[-1]} unit{'s' * (n_outputs > 1)}), got "
                f"{checks.describe(classes)}"
            )
        if multilabel and not np.array_equal(labels, np.arange(n_classes)):
            raise ValueError(
                f"classes of a multilabel network ({n_outputs} sigmoid units) are "
                f"0..{n_classes - 1} in scikit-learn, got {checks.describe(classes)}"
            )
        kind = sk["type_of_target"](labels)
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"classes must be class labels (integers, strings or bools), got "
                f"{checks.describe(classes)}, which scikit-learn reads as {kind}"
            )
        if len(np.unique(labels)) != n_classes or not (np.unique(labels) == labels).all():
            raise ValueError(
                "classes must be sorted and distinct, as np.unique returns them (scikit-learn "
                f"orders a classifier's outputs by its sorted classes_), got {labels.tolist()}"
            )
    binarizer = sk["LabelBinarizer"]()
    # Fitted on what MLPClassifier.fit would see: an indicator matrix for multilabel.
    return binarizer.fit(np.eye(n_classes, dtype=np.int64) if multilabel else labels)


def _standard_scaler(scaler: Scaler, net: Net, sk: dict):
    """A fitted StandardScaler computing ``(X - scaler.mean) / scaler.scale``, with the
    scaler's feature names as its ``feature_names_in_``."""
    scaler = checks.scaler_of("scaler", scaler)
    if scaler.mean.shape != (net.sizes[0],):
        raise ValueError(
            f"scaler must standardise {net.sizes[0]} features (net.sizes[0]), got mean of "
            f"shape {scaler.mean.shape}"
        )
    standard = sk["StandardScaler"]()
    standard.mean_ = np.array(scaler.mean)
    standard.scale_ = np.array(scaler.scale)
    standard.var_ = standard.scale_**2
    standard.n_features_in_ = net.sizes[0]
    if scaler.feature_names:  # scikit-learn holds them as an object array of str
        standard.feature_names_in_ = np.array(scaler.feature_names, dtype=object)
    return standard


# -- scikit-learn -> fnn -------------------------------------------------------------------------


def from_sklearn(estimator) -> Converted:
    """Read a fitted scikit-learn MLP (or scaler and MLP pipeline) into fnn's values.

    ``net, params, scaler, classes = fnn.from_sklearn(estimator)``: the network
    (:func:`fnn.mlp` of the estimator's layer sizes, hidden activation and output), its
    ``coefs_`` and ``intercepts_`` bit for bit (read-only copies in their dtype), the
    pipeline's ``StandardScaler`` as an :class:`fnn.Scaler` (with its ``feature_names_in_``
    as ``feature_names`` when it was fitted on a DataFrame), and the classifier's
    ``classes_``. fnn's :func:`~fnn.predict_proba` of the result is the estimator's (one
    sigmoid unit: its column 1), ``classes[fnn.predict(...)]`` its ``predict``, and
    ``fnn.to_sklearn(*fnn.from_sklearn(estimator))`` predicts exactly as the estimator.

    Every estimator scikit-learn fits converts: hidden activation identity, logistic
    (fnn's sigmoid), tanh or relu; ``MLPClassifier`` binary (one sigmoid unit, loss bce),
    multilabel (k sigmoid units, bce) or multiclass (softmax, ce); ``MLPRegressor`` with
    squared error (identity output, mse) or poisson (identity output read as the log-rate,
    loss poisson: fnn predicts ``z`` where scikit-learn predicts ``exp(z)``), with one or
    several outputs. Needs the ``[sklearn]`` extra.

    Parameters
    ----------
    estimator : MLPClassifier, MLPRegressor or Pipeline
        Fitted. A ``Pipeline`` must be a ``StandardScaler`` followed by the MLP (as
        :func:`fnn.to_sklearn` makes it with a scaler); a scaler with ``with_mean=False``
        gives a zero mean, one with ``with_std=False`` a unit scale.

    Returns
    -------
    Converted
        ``(net, params, scaler, classes)``; ``scaler`` is None for a bare estimator,
        ``classes`` None for a regressor.

    Examples
    --------
    >>> import fnn, numpy as np, warnings
    >>> from sklearn.neural_network import MLPClassifier
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(60, 3)), rng.choice(["a", "b", "c"], 60)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # not converged after 20 iterations
    ...     model = MLPClassifier((8,), activation="tanh", max_iter=20).fit(X, y)
    >>> net, params, scaler, classes = fnn.from_sklearn(model)
    >>> net
    Net(sizes=(3, 8, 3), activations=('tanh', 'softmax'), loss='ce')
    >>> bool((classes[fnn.predict(net, params, X)] == model.predict(X)).all())
    True
    """
    sk = _sklearn("from_sklearn")
    scaler = None
    if isinstance(estimator, sk["Pipeline"]):
        steps = [step for _, step in estimator.steps]
        if len(steps) != 2 or not isinstance(steps[0], sk["StandardScaler"]):
            names = [type(step).__name__ for step in steps]
            raise ValueError(
                "estimator must be a Pipeline of a StandardScaler and an MLPClassifier or "
                f"MLPRegressor, got a Pipeline of {names}"
            )
        scaler = _scaler_of(steps[0])
        estimator = steps[1]
    if not isinstance(estimator, (sk["MLPClassifier"], sk["MLPRegressor"])):
        raise TypeError(
            "estimator must be a fitted MLPClassifier, MLPRegressor or a Pipeline of a "
            f"StandardScaler and one, got {checks.describe(estimator)}"
        )
    name = type(estimator).__name__
    if not hasattr(estimator, "coefs_"):
        raise ValueError(f"estimator is not fitted: call its fit(X, y) first ({name})")
    output = {"logistic": ("sigmoid", "bce"), "softmax": ("softmax", "ce"),
              "identity": ("identity", "mse"), "exp": ("identity", "poisson")}  # fmt: skip
    if estimator.out_activation_ not in output:
        raise ValueError(
            f"estimator.out_activation_ must be one of {sorted(output)}, got "
            f"{estimator.out_activation_!r}"
        )
    if estimator.activation not in HIDDEN.values():
        raise ValueError(
            f"estimator.activation must be one of {sorted(HIDDEN.values())}, got "
            f"{estimator.activation!r}"
        )
    hidden = {sk_name: name for name, sk_name in HIDDEN.items()}[estimator.activation]
    # Copies: the estimator's arrays may share one buffer that its partial_fit writes into.
    layers = tuple(Layer(np.array(W), np.array(b))
                   for W, b in zip(estimator.coefs_, estimator.intercepts_))  # fmt: skip
    sizes = (layers[0].W.shape[0], *(layer.W.shape[1] for layer in layers))
    out, loss = output[estimator.out_activation_]
    net = mlp(sizes, hidden=hidden, output=out, loss=loss)
    dtype = checks.params_of(net.sizes, Params(layers), "estimator.coefs_ and intercepts_")
    params = unpack(pack(Params(layers), dtype), net.sizes)  # fnn's layout, read-only
    classes = None
    if isinstance(estimator, sk["MLPClassifier"]):
        classes = frozen(np.array(estimator.classes_))
    return Converted(net, params, scaler, classes)


def _scaler_of(standard) -> Scaler:
    """The fnn Scaler of a fitted StandardScaler (zero mean / unit scale where it has none),
    named by its ``feature_names_in_`` if it has them."""
    if not hasattr(standard, "n_features_in_"):
        raise ValueError("estimator's StandardScaler is not fitted: call its fit(X) first")
    n_features = standard.n_features_in_
    mean = standard.mean_ if standard.with_mean else None
    scale = standard.scale_ if standard.with_std else None
    dtype = np.result_type(*(part for part in (mean, scale) if part is not None), np.float32)
    mean = np.zeros(n_features, dtype) if mean is None else np.array(mean, dtype)
    scale = np.ones(n_features, dtype) if scale is None else np.array(scale, dtype)
    names = getattr(standard, "feature_names_in_", None)
    names = () if names is None else tuple(str(name) for name in names)
    scaler = Scaler(mean=frozen(mean), scale=frozen(scale), feature_names=names)
    return checks.scaler_of("estimator's StandardScaler", scaler)

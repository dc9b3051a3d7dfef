"""Figures of training runs and trained networks (optional extra: ``pip install 'fnn[plot]'``).

Every function returns a :class:`matplotlib.figure.Figure` and, when given ``path``, also
writes it there as a PNG. The figures are built on ``Figure`` directly, never through
``pyplot``: nothing opens a window, no backend is selected, and no global matplotlib state is
touched, so the functions work on headless machines and in tests. In a notebook, display the
returned figure by leaving it as the last expression of a cell.

matplotlib is imported inside the functions, so ``import fnn.plot`` works without it; calling
a function then raises an ``ImportError`` naming the extra to install.

Examples
--------
>>> import fnn, numpy as np
>>> from fnn import plot
>>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
>>> y = np.array([0, 1, 1, 1])
>>> net = fnn.mlp([2, 4, 1])
>>> result = fnn.fit(net, fnn.init(net, key=0), fnn.adam(0.05), X, y, epochs=50)
>>> figure = plot.history(result.history)  # add path="history.png" to write a PNG
>>> [ax.get_ylabel() for ax in figure.axes]
['loss', 'accuracy']
>>> figure = plot.decision_boundary(net, result.params, X, y)
"""

from __future__ import annotations

import os

import numpy as np

from fnn import checks
from fnn.registry import LOSSES
from fnn.types import History, Net, Params

#: What :func:`histories` can compare.
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")

_TRAIN_COLOR, _VAL_COLOR = "#1f77b4", "#d62728"
# Class colours (class 0 red, class 1 blue, then matplotlib's tab10) and markers, so that
# classes differ in shape as well as colour.
_CLASS_COLORS = (
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
_MARKERS = ("o", "s", "^", "D", "v", "P", "*", "X", "<", ">")
_LINESTYLES = ("-", "--", "-.", ":")


def _figure_class():
    """matplotlib's Figure class, or an ImportError that says how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "fnn.plot needs matplotlib, which is an optional extra: pip install 'fnn[plot]'"
        ) from error
    return Figure


def _finish(figure, path):
    """Write ``figure`` to ``path`` as a PNG when a path is given; return the figure."""
    if path is not None:
        figure.savefig(checks.path("path", path, ".png"), format="png", dpi=100)
    return figure


def _check_path(path) -> None:
    """Refuse a bad ``path`` before any drawing work is done."""
    if path is not None:
        checks.path("path", path, ".png")


def _check_history(name: str, history) -> History:
    if not isinstance(history, History):
        raise TypeError(
            f"{name} must be an fnn.History (fit(...).history), got {checks.describe(history)}"
        )
    if len(history.loss) == 0:
        raise ValueError(f"{name} holds no epochs (fit ran with epochs=0)")
    return history


def _epochs(values: np.ndarray) -> np.ndarray:
    return np.arange(1, len(values) + 1)


# -- histories -------------------------------------------------------------------------------------


def history(
    history: History,
    path: str | os.PathLike | None = None,
    *,
    title: str | None = None,
    log: bool = False,
):
    """Loss and accuracy per epoch, training and validation, side by side.

    Parameters
    ----------
    history : History
        ``fit(...).history``. The accuracy panel is left out for regression (mse) networks,
        the validation curves when ``fit`` had no validation data. When early stopping
        returned an earlier epoch's parameters, a dashed line marks that epoch, and the
        titles say where training stopped.
    path : str or os.PathLike, optional
        Where to write the figure as a PNG (the name must end with ``.png``).
    title : str, optional
        A title over the panels.
    log : bool
        Draw the loss on a logarithmic axis (for losses that fall by decades).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``history`` is not an :class:`fnn.History`.
    ValueError
        If it holds no epochs.
    """
    Figure = _figure_class()
    _check_history("history", history)
    log = checks.flag("log", log)
    _check_path(path)
    panels = [("loss", history.loss, history.val_loss)]
    if len(history.accuracy):
        panels.append(("accuracy", history.accuracy, history.val_accuracy))
    figure = Figure(figsize=(5.5 * len(panels), 4.2), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, train, val) in zip(axes, panels):
        ax.plot(_epochs(train), train, color=_TRAIN_COLOR, label=f"train {name}")
        if len(val):
            ax.plot(_epochs(val), val, color=_VAL_COLOR, label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_xlim(1, max(2, len(train)))
        both = np.concatenate([train, val])
        if name == "loss" and log:
            ax.set_yscale("log")
        if name == "accuracy":
            ax.set_ylim(max(0.0, min(0.5, float(both.min())) - 0.02), 1.01)
        digits = ".3f" if name == "accuracy" else ".4g"
        final = f"final: train {train[-1]:{digits}}"
        if len(val):
            final += f", validation {val[-1]:{digits}}"
        if history.stopped_epoch is not None:
            final += f" (stopped early, epoch {history.stopped_epoch + 1})"
        if history.params_epoch is not None and history.params_epoch != len(train) - 1:
            ax.axvline(history.params_epoch + 1, color="0.4", linestyle="--", linewidth=1,
                       label=f"returned params (epoch {history.params_epoch + 1})")  # fmt: skip
        ax.set_title(final, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best")
    if title is not None:
        figure.suptitle(title)
    return _finish(figure, path)


def histories(
    named_histories: dict[str, History],
    path: str | os.PathLike | None = None,
    *,
    metric: str = "loss",
    title: str | None = None,
    log: bool = False,
):
    """One curve per run of the same metric, to compare optimizers or settings.

    Parameters
    ----------
    named_histories : dict of str to History
        Legend label -> ``fit(...).history``, e.g. ``{"sgd": h1, "adam": h2}``.
    path : str or os.PathLike, optional
        Where to write the figure as a PNG (the name must end with ``.png``).
    metric : {"loss", "accuracy", "val_loss", "val_accuracy"}
        The History field to plot.
    title : str, optional
        Defaults to ``"<metric> per epoch"``.
    log : bool
        Logarithmic y axis (for losses that fall by decades).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``named_histories`` is not a dict of str to History.
    ValueError
        If it is empty, or a run has no epochs or no values of ``metric``.
    """
    Figure = _figure_class()
    if not isinstance(named_histories, dict):
        raise TypeError(
            f"named_histories must be a dict of name -> fnn.History, "
            f"got {checks.describe(named_histories)}"
        )
    if not named_histories:
        raise ValueError("named_histories is empty: give at least one run")
    checks.one_of("metric", metric, METRICS)
    log = checks.flag("log", log)
    for name, run in named_histories.items():
        if not isinstance(name, str):
            raise TypeError(f"named_histories keys must be str labels, got {checks.describe(name)}")
        _check_history(f"named_histories[{name!r}]", run)
        if len(getattr(run, metric)) == 0:
            raise ValueError(
                f"named_histories[{name!r}] has no {metric!r} values "
                f"(regression net, or fit without validation data)"
            )
    _check_path(path)
    figure = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = figure.subplots()
    # Line styles cycle too: runs that overlap (e.g. gradient descent and momentum) stay visible.
    for index, (name, run) in enumerate(named_histories.items()):
        values = getattr(run, metric)
        ax.plot(_epochs(values), values, linestyle=_LINESTYLES[index % len(_LINESTYLES)],
                linewidth=1.8, label=f"{name} (final {values[-1]:.4g})")  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    if log:
        ax.set_yscale("log")
    ax.set_title(title if title is not None else f"{metric.replace('_', ' ')} per epoch")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return _finish(figure, path)


# -- trained networks ---------------------------------------------------------------------------


def _classified(net: Net, params: Params, X, y, what: str):
    """Checked ``(X, labels, n_classes)`` for a classification net; labels as ints (n,)."""
    checks.network(net)
    dtype = checks.params_of(net.sizes, params)
    labels = LOSSES[net.loss].labels
    if labels == "classes":
        n_classes = net.sizes[-1]
    elif labels == "binary" and net.sizes[-1] == 1:
        n_classes = 2
    else:
        raise ValueError(
            f"{what} needs a classifier with a single sigmoid output or a softmax output, "
            f"got a net with {net.sizes[-1]} {net.activations[-1]} outputs and loss {net.loss!r}"
        )
    X = checks.inputs("X", X, net.sizes[0], dtype)
    Y = checks.targets("y", y, net, X.shape[0], dtype)
    if n_classes == 2 and labels == "binary":
        return X, (Y[:, 0] > 0.5).astype(np.int64), n_classes
    return X, Y.argmax(axis=1), n_classes


def decision_boundary(
    net: Net,
    params: Params,
    X,
    y,
    path: str | os.PathLike | None = None,
    *,
    resolution: int = 300,
    title: str | None = None,
):
    """The network's prediction over the plane, with the samples on top.

    For a single sigmoid output the background shows ``P(y = 1)`` and a black line marks
    the boundary ``P = 0.5``; for a softmax output each region takes the colour of its
    predicted class. Samples are coloured (and shaped) by their true label; misclassified ones
    are circled in black.

    Parameters
    ----------
    net : Net
        A classifier with two inputs (``net.sizes[0] == 2``).
    params : Params
    X : array_like, shape (n_samples, 2)
    y : array_like
        Labels as :func:`fnn.loss` takes them.
    path : str or os.PathLike, optional
        Where to write the figure as a PNG (the name must end with ``.png``).
    resolution : int
        Grid points along each axis (the network runs on ``resolution**2`` points).
    title : str, optional
        Defaults to the accuracy on ``(X, y)``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the net does not take 2 inputs or is not a classifier, or X, y do not fit it.
    """
    Figure = _figure_class()
    from matplotlib.colors import LinearSegmentedColormap

    checks.network(net)
    if net.sizes[0] != 2:
        raise ValueError(
            f"decision_boundary draws networks with 2 inputs, got sizes {net.sizes}; "
            f"for more features plot a 2-D projection yourself"
        )
    X, labels, n_classes = _classified(net, params, X, y, "decision_boundary")
    resolution = checks.integer("resolution", resolution, minimum=2)
    _check_path(path)
    from fnn.model import predict, predict_proba

    low, high = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * np.maximum(high - low, 1e-3)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    XX, YY = np.meshgrid(xs, ys)
    grid = np.column_stack([XX.ravel(), YY.ravel()]).astype(X.dtype)
    predicted = predict(net, params, X)
    accuracy = float(np.mean(predicted == labels))

    figure = Figure(figsize=(7.5, 6.2), layout="constrained")
    ax = figure.subplots()
    colors = [_CLASS_COLORS[k % len(_CLASS_COLORS)] for k in range(n_classes)]
    if LOSSES[net.loss].labels == "binary":
        # P(y = 1) from the class-0 colour through white to the class-1 colour.
        cmap = LinearSegmentedColormap.from_list("fnn_binary", [colors[0], "white", colors[1]])
        proba = predict_proba(net, params, grid)[:, 0].reshape(XX.shape)
        filled = ax.contourf(XX, YY, proba, levels=np.linspace(0, 1, 21), cmap=cmap, alpha=0.6)
        ax.contour(XX, YY, proba, levels=[0.5], colors="black", linewidths=1.5)
        figure.colorbar(filled, ax=ax, label="P(y = 1)", ticks=np.linspace(0, 1, 6))
    else:
        classes = predict(net, params, grid).reshape(XX.shape)
        edges = np.arange(n_classes + 1) - 0.5
        ax.contourf(XX, YY, classes, levels=edges, colors=colors, alpha=0.3)
        ax.contour(XX, YY, classes, levels=edges[1:-1], colors="black", linewidths=1.0)
    for k in range(n_classes):
        mine = labels == k
        ax.scatter(X[mine, 0], X[mine, 1], color=colors[k], marker=_MARKERS[k % len(_MARKERS)],
                   s=30, edgecolors="black", linewidths=0.6, label=f"class {k}")  # fmt: skip
    wrong = predicted != labels
    if wrong.any():
        ax.scatter(X[wrong, 0], X[wrong, 1], facecolors="none", edgecolors="black", s=150,
                   linewidths=1.5, label=f"misclassified ({int(wrong.sum())})")  # fmt: skip
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(
        title
        if title is not None
        else f"decision boundary: accuracy {accuracy:.3f} on {len(labels)} samples"
    )
    ax.legend(loc="upper right", fontsize=9, framealpha=0.9)
    return _finish(figure, path)


def confusion_matrix(
    net: Net,
    params: Params,
    X,
    y,
    path: str | os.PathLike | None = None,
    *,
    class_names=None,
    title: str | None = None,
):
    """Counts of true class (rows) against predicted class (columns), as an annotated grid.

    Parameters
    ----------
    net : Net
        A classifier: a single sigmoid output (2 classes) or a softmax output.
    params : Params
    X : array_like, shape (n_samples, sizes[0])
    y : array_like
        Labels as :func:`fnn.loss` takes them.
    path : str or os.PathLike, optional
        Where to write the figure as a PNG (the name must end with ``.png``).
    class_names : sequence of str, optional
        Tick labels, one per class; defaults to ``0, 1, ...``.
    title : str, optional
        Defaults to the accuracy on ``(X, y)``.

    Returns
    -------
    matplotlib.figure.Figure
        Entry ``[i, j]`` counts the samples of class ``i`` predicted as ``j``; the diagonal
        holds the correct predictions.

    Raises
    ------
    ValueError
        If the net is not a classifier, X and y do not fit it, or ``class_names`` has the
        wrong length.
    """
    Figure = _figure_class()
    X, labels, n_classes = _classified(net, params, X, y, "confusion_matrix")
    if class_names is None:
        class_names = [str(k) for k in range(n_classes)]
    elif isinstance(class_names, str) or len(class_names) != n_classes:
        raise ValueError(
            f"class_names must hold one name per class ({n_classes}), "
            f"got {checks.describe(class_names)}"
        )
    _check_path(path)
    from fnn.model import predict

    predicted = np.asarray(predict(net, params, X), dtype=np.int64)
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    accuracy = np.trace(counts) / counts.sum()

    size = min(11.0, 3.0 + 0.6 * n_classes)
    figure = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(counts, cmap="Blues", interpolation="nearest")
    figure.colorbar(image, ax=ax, label="samples", shrink=0.8)
    threshold = counts.max() / 2
    fontsize = 12 if n_classes <= 10 else 8
    for (i, j), count in np.ndenumerate(counts):
        if count == 0 and i != j:
            if n_classes <= 10:  # zeros in light grey: present but out of the way
                ax.text(j, i, "0", ha="center", va="center", fontsize=fontsize, color="#b0b0b0")
            continue
        ax.text(j, i, str(count), ha="center", va="center", fontsize=fontsize,
                color="white" if count > threshold else "black")  # fmt: skip
    ticks = np.arange(n_classes)
    ax.set_xticks(ticks, [str(name) for name in class_names])
    ax.set_yticks(ticks, [str(name) for name in class_names])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(
        title
        if title is not None
        else f"confusion matrix: accuracy {accuracy:.3f} on {counts.sum()} samples"
    )
    return _finish(figure, path)

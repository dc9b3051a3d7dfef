"""fnn.plot: figures, PNG files, input checks, and the ImportError without matplotlib."""

import struct
import subprocess
import sys

import numpy as np
import pytest

import fnn
from fnn import plot

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402


def png_size(path) -> tuple[int, int]:
    """(width, height) of a PNG file; fails unless the file starts like a PNG."""
    with open(path, "rb") as file:
        head = file.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] ** 2 + X[:, 1] ** 2 < 1.0).astype(np.int64)
    net = fnn.mlp([2, 8, 1])
    result = fnn.fit(
        net, fnn.init(net, key=0), fnn.adam(0.03), X, y, epochs=60, validation=(X[:20], y[:20])
    )
    return net, result, X, y


@pytest.fixture(scope="module")
def three_classes():
    rng = np.random.default_rng(1)
    centers = np.array([[0.0, 3.0], [3.0, 0.0], [-3.0, -1.0]])
    y = rng.integers(0, 3, 90)
    X = centers[y] + rng.normal(size=(90, 2))
    net = fnn.mlp([2, 8, 3], output="softmax")
    result = fnn.fit(net, fnn.init(net, key=0), fnn.adam(0.03), X, y, epochs=60)
    return net, result, X, y


# -- history -----------------------------------------------------------------------------------


def test_history_two_panels_with_validation(binary, tmp_path):
    _, result, _, _ = binary
    path = tmp_path / "history.png"
    figure = plot.history(result.history, path=path)
    assert isinstance(figure, Figure)
    assert [ax.get_ylabel() for ax in figure.axes] == ["loss", "accuracy"]
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == ["train loss", "validation loss"]
    np.testing.assert_array_equal(figure.axes[0].get_lines()[0].get_ydata(), result.history.loss)
    width, height = png_size(path)
    assert width >= 800 and height >= 300


def test_history_of_a_regression_net_has_only_the_loss_panel():
    X = np.linspace(-1, 1, 30).reshape(-1, 1)
    net = fnn.mlp([1, 4, 1], output="identity")
    result = fnn.fit(net, fnn.init(net), fnn.adam(0.05), X, X[:, 0] ** 2, epochs=10)
    figure = plot.history(result.history, title="regression")
    assert [ax.get_ylabel() for ax in figure.axes] == ["loss"]
    assert len(figure.axes[0].get_lines()) == 1
    assert figure.get_suptitle() == "regression"


def test_history_without_path_writes_nothing(binary, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plot.history(binary[1].history)
    assert list(tmp_path.iterdir()) == []


def test_history_rejects_other_things(binary):
    with pytest.raises(TypeError, match="fnn.History"):
        plot.history({"loss": [1.0, 0.5]})
    with pytest.raises(TypeError, match="fnn.History"):
        plot.history(binary[1])  # the FitResult, not its history
    empty = fnn.History(*(np.zeros(0) for _ in range(4)))
    with pytest.raises(ValueError, match="no epochs"):
        plot.history(empty)
    with pytest.raises(TypeError, match="path"):
        plot.history(binary[1].history, path=3)


# -- histories -----------------------------------------------------------------------------------


def test_histories_one_line_per_run(binary, tmp_path):
    net, result, X, y = binary
    runs = {"adam": result.history}
    runs["sgd"] = fnn.fit(net, fnn.init(net, key=0), fnn.sgd(0.1), X, y, epochs=30).history
    path = tmp_path / "compare.png"
    figure = plot.histories(runs, path=path)
    lines = figure.axes[0].get_lines()
    assert [line.get_label().split(" (")[0] for line in lines] == ["adam", "sgd"]
    assert lines[0].get_linestyle() != lines[1].get_linestyle()  # overlapping runs stay visible
    assert len(lines[1].get_xdata()) == 30
    png_size(path)
    accuracy = plot.histories(runs, metric="accuracy")
    assert accuracy.axes[0].get_ylabel() == "accuracy"


def test_histories_rejects_bad_input(binary):
    history = binary[1].history
    with pytest.raises(TypeError, match="dict"):
        plot.histories([history])
    with pytest.raises(ValueError, match="empty"):
        plot.histories({})
    with pytest.raises(TypeError, match="fnn.History"):
        plot.histories({"a": np.ones(3)})
    with pytest.raises(TypeError, match="str"):
        plot.histories({1: history})
    with pytest.raises(ValueError, match="metric"):
        plot.histories({"a": history}, metric="speed")
    no_val = fnn.History(history.loss, history.accuracy, np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="val_loss"):
        plot.histories({"a": no_val}, metric="val_loss")


# -- decision boundary -------------------------------------------------------------------------


def test_decision_boundary_binary(binary, tmp_path):
    net, result, X, y = binary
    path = tmp_path / "boundary.png"
    figure = plot.decision_boundary(net, result.params, X, y, path=path, resolution=50)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    accuracy = fnn.accuracy(net, result.params, X, y)
    assert f"accuracy {accuracy:.3f}" in ax.get_title()
    assert ax.get_xlim()[0] < X[:, 0].min() and ax.get_xlim()[1] > X[:, 0].max()
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[:2] == ["class 0", "class 1"]
    assert figure.axes[1].get_ylabel() == "P(y = 1)"  # the colour bar
    width, height = png_size(path)
    assert width >= 500 and height >= 400


def test_decision_boundary_softmax_and_one_hot_labels(three_classes):
    net, result, X, y = three_classes
    one_hot = np.eye(3)[y]
    figure = plot.decision_boundary(net, result.params, X, one_hot, resolution=40, title="t")
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend[:3] == ["class 0", "class 1", "class 2"]
    assert figure.axes[0].get_title() == "t"


def test_decision_boundary_float32(binary):
    net, result, X, y = binary
    params32 = fnn.Params(
        tuple(fnn.Layer(layer.W.astype(np.float32), layer.b.astype(np.float32))
              for layer in result.params.layers)
    )  # fmt: skip
    figure = plot.decision_boundary(net, params32, X.astype(np.float32), y, resolution=20)
    reference = plot.decision_boundary(net, result.params, X, y, resolution=20)
    # the same probability surface as float64, to float32 precision
    surface32, surface64 = (fig.axes[0].collections[0].get_array() for fig in (figure, reference))
    np.testing.assert_allclose(surface32, surface64, atol=1e-5)


def test_decision_boundary_rejects_bad_input(binary):
    net, result, X, y = binary
    wide = fnn.mlp([3, 4, 1])
    with pytest.raises(ValueError, match="2 inputs"):
        plot.decision_boundary(wide, fnn.init(wide), np.zeros((5, 3)), np.zeros(5))
    regression = fnn.mlp([2, 4, 2], output="identity")
    with pytest.raises(ValueError, match="classifier"):
        plot.decision_boundary(regression, fnn.init(regression), X, np.zeros((80, 2)))
    with pytest.raises(ValueError, match="2-D"):
        plot.decision_boundary(net, result.params, X[:, 0], y)
    with pytest.raises(ValueError):
        plot.decision_boundary(net, result.params, X, y[:-1])
    with pytest.raises(TypeError):
        plot.decision_boundary("net", result.params, X, y)
    with pytest.raises(ValueError, match="resolution"):
        plot.decision_boundary(net, result.params, X, y, resolution=1)


# -- confusion matrix --------------------------------------------------------------------------


def test_confusion_matrix_counts(three_classes, tmp_path):
    net, result, X, y = three_classes
    path = tmp_path / "confusion.png"
    figure = plot.confusion_matrix(net, result.params, X, y, path=path)
    counts = np.asarray(figure.axes[0].images[0].get_array())
    predicted = fnn.predict(net, result.params, X)
    expected = np.array([[np.sum((y == i) & (predicted == j)) for j in range(3)] for i in range(3)])
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() == len(y)
    assert figure.axes[0].get_xlabel() == "predicted class"
    png_size(path)


def test_confusion_matrix_binary_and_class_names(binary):
    net, result, X, y = binary
    figure = plot.confusion_matrix(net, result.params, X, y, class_names=["out", "in"])
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["out", "in"]
    assert np.asarray(figure.axes[0].images[0].get_array()).shape == (2, 2)
    with pytest.raises(ValueError, match="class_names"):
        plot.confusion_matrix(net, result.params, X, y, class_names=["a", "b", "c"])


def test_confusion_matrix_rejects_regression():
    net = fnn.mlp([2, 3, 1], output="identity")
    with pytest.raises(ValueError, match="classifier"):
        plot.confusion_matrix(net, fnn.init(net), np.zeros((4, 2)), np.zeros(4))


# -- optional dependency, headless -------------------------------------------------------------


def test_missing_matplotlib_names_the_extra(binary, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    net, result, X, y = binary
    calls = [
        lambda: plot.history(result.history),
        lambda: plot.histories({"a": result.history}),
        lambda: plot.decision_boundary(net, result.params, X, y),
        lambda: plot.confusion_matrix(net, result.params, X, y),
    ]
    for call in calls:
        with pytest.raises(ImportError, match=r"pip install 'fnn\[plot\]'"):
            call()


def test_import_needs_no_matplotlib_and_plots_never_load_pyplot(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None\n"
        "import fnn, fnn.plot\n"
        "del sys.modules['matplotlib']\n"
        "import numpy as np\n"
        "net = fnn.mlp([2, 3, 1])\n"
        "X = np.array([[0., 0.], [1., 1.]]); y = np.array([0, 1])\n"
        "r = fnn.fit(net, fnn.init(net), fnn.sgd(0.1), X, y, epochs=3)\n"
        "fnn.plot.history(r.history, path='h.png')\n"
        "fnn.plot.decision_boundary(net, r.params, X, y, path='b.png', resolution=10)\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no DISPLAY, no MPLBACKEND
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    png_size(tmp_path / "h.png")
    png_size(tmp_path / "b.png")


def test_log_axis(binary):
    history = binary[1].history
    assert plot.history(history, log=True).axes[0].get_yscale() == "log"
    assert plot.history(history).axes[0].get_yscale() == "linear"
    assert plot.histories({"a": history}, log=True).axes[0].get_yscale() == "log"
    with pytest.raises(TypeError, match="log"):
        plot.history(history, log="yes")


def test_path_must_name_a_png(binary, tmp_path):
    with pytest.raises(ValueError, match=r"\.png"):
        plot.history(binary[1].history, path=tmp_path / "history.pdf")
    assert list(tmp_path.iterdir()) == []

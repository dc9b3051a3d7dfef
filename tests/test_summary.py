"""fnn.summary and fnn.n_params."""

from pathlib import Path

import numpy as np
import pytest

import fnn


@pytest.mark.parametrize("sizes", [[2, 1], [2, 25, 50, 50, 25, 1], [784, 256, 128, 10]])
def test_n_params_counts_every_weight_and_bias(sizes):
    net = fnn.mlp(sizes)
    params = fnn.init(net)
    assert fnn.n_params(net) == sum(layer.W.size + layer.b.size for layer in params.layers)


def test_n_params_checks_the_net():
    with pytest.raises(TypeError, match="net must be an fnn.Net"):
        fnn.n_params([2, 3, 1])


def test_summary_table_with_params():
    net = fnn.mlp([3, 10, 4], hidden="tanh", output="softmax")
    params = fnn.init(net, dtype=np.float32)
    assert fnn.summary(net, params) == (
        "layer  shape    activation  parameters  dtype    bytes\n"
        "0      (3, 10)  tanh                40  float32    160\n"
        "1      (10, 4)  softmax             44  float32    176\n"
        "total                               84  float32    336\n"
        "loss: ce"
    )


def test_summary_bytes_are_the_arrays_bytes():
    net = fnn.mlp([64, 1000, 10], output="softmax")
    params = fnn.init(net)
    lines = fnn.summary(net, params).splitlines()
    for line, layer in zip(lines[1:], params.layers):
        assert line.split()[-1] == f"{layer.W.nbytes + layer.b.nbytes:,}"
        assert line.split()[-2] == "float64"
    total = sum(layer.W.nbytes + layer.b.nbytes for layer in params.layers)
    assert lines[-2].split() == ["total", f"{fnn.n_params(net):,}", "float64", f"{total:,}"]


def test_summary_without_params_gives_both_sizes():
    net = fnn.mlp([2, 8, 1], output="identity", loss="huber")
    text = fnn.summary(net)
    assert "dtype" not in text.splitlines()[0]
    assert text.splitlines()[-1] == "loss: huber (delta=1); 264 bytes in float64, 132 in float32"


def test_summary_shows_dropout_per_hidden_layer():
    net = fnn.mlp([2, 8, 8, 1], dropout=[0.25, 0.0])
    rows = fnn.summary(net).splitlines()
    assert rows[0].split()[:4] == ["layer", "shape", "activation", "dropout"]
    assert [
        row.split()[4] for row in rows[1:4]
    ]  # shape "(2, 8)" is two words == ["0.25", "0", "-"]
    assert "dropout" not in fnn.summary(fnn.mlp([2, 8, 1]))


def test_summary_checks_params_against_the_net():
    net = fnn.mlp([2, 8, 1])
    with pytest.raises(ValueError, match="params has 1 layers but the network has 2"):
        fnn.summary(net, fnn.init(fnn.mlp([2, 1])))
    with pytest.raises(TypeError, match="net must be an fnn.Net"):
        fnn.summary("2-8-1")


def test_the_guides_printed_summary_is_current():
    guide = (Path(__file__).resolve().parent.parent / "docs" / "guide.md").read_text("utf-8")
    printed = guide.split("which prints (tests/test_summary.py checks this text)\n\n```text\n")[1]
    net = fnn.mlp([2, 25, 50, 50, 25, 1], dropout=0.1)
    expected = "\n".join([
        fnn.summary(net, fnn.init(net, key=0, dtype=np.float32)),
        fnn.summary(fnn.mlp([64, 64, 10], output="softmax")),
    ])  # fmt: skip
    assert printed.split("```")[0] == expected + "\n"

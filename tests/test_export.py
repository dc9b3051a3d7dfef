"""Exports, each checked against the runtime it targets: onnxruntime, torch and the C compiler.

Every exported model must compute fnn.predict_proba: to 1e-12 in float64 and 1e-6 in float32,
relative to the scale of the outputs (max(1, max |output|): a sum of terms near 1 that cancels
to near 0 keeps only the absolute accuracy of its terms, whatever the order of the sums).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fnn
from fnn import export, testing

TOLERANCE = {np.float32: 1e-6, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]
CC = os.environ.get("CC", "cc")


def assert_matches(actual, expected, dtype):
    """Equal to TOLERANCE[dtype] relative to the scale of the outputs; same dtype and shape."""
    tolerance = TOLERANCE[dtype]
    assert actual.dtype == expected.dtype == dtype and actual.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale)


def every_activation_nets():
    """One small net per activation of the registry, used as the hidden one where it may be."""
    nets = []
    for name in fnn.ACTIVATIONS:
        hidden = name if name in export.HIDDEN_ACTIVATIONS else "tanh"
        n_out = 3 if name == "softmax" else 2
        loss = {"softmax": "ce", "sigmoid": "bce"}.get(name, "mse")
        nets.append(fnn.Net((4, 6, 5, n_out), (hidden, hidden, name), loss))
    return nets


def inputs(net, dtype, rows=16, key=0):
    return np.random.default_rng(key).uniform(-2, 2, (rows, net.sizes[0])).astype(dtype)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A module-wide temporary folder (Hypothesis re-runs a test body many times)."""
    return tmp_path_factory.mktemp("export")


def test_every_activation_export_form_in_the_registry_is_well_formed():
    """Each ONNX node reads z, a constant of its entry or an earlier node's output, the last
    writes out, every constant is used and means one value across entries; the torch module
    is a torch.nn class; identity alone has no ONNX nodes, no module and no C body."""
    values = {}
    for name, entry in fnn.ACTIVATIONS.items():
        nodes, constants = entry.onnx
        known, used = {"z", *constants}, set()
        for node in nodes:
            assert set(node.inputs) <= known, (name, node)
            used.update(set(node.inputs) & set(constants))
            known.add(node.output)
        assert [node.output for node in nodes][-1:] == ([] if name == "identity" else ["out"])
        assert used == set(constants), name
        for constant, value in constants.items():
            assert values.setdefault(constant, value) == value, (name, constant)
        module = entry.torch.module
        assert module is None or isinstance(getattr(torch.nn, module), type), name
        assert (module is None) == (entry.c is None) == (not nodes) == (name == "identity")


def test_exporting_never_runs_the_engine(tmp_path):
    """A fresh process with an empty Numba cache exports to ONNX, C and torch and back: the
    arguments are checked by fnn.checks, so no kernel gains a compiled version (compiled or
    loaded from disk) and no compile notice is printed."""
    script = """
        import os, sys
        import numpy as np
        from numba.core.registry import CPUDispatcher
        import fnn
        from fnn import export, kernels

        net = fnn.mlp([3, 5, 2], hidden="gelu", output="softmax")
        params = fnn.init(net, key=0)
        scaler = fnn.standardizer(np.arange(12.0).reshape(4, 3))
        export.to_onnx(net, params, os.path.join(sys.argv[1], "net.onnx"), scaler=scaler)
        export.to_c(net, params, os.path.join(sys.argv[1], "net.h"), scaler=scaler)
        export.from_torch(export.to_torch(net, params, scaler=scaler))
        dispatchers = [f for f in vars(kernels).values() if isinstance(f, CPUDispatcher)]
        print(len(dispatchers), sum(len(f.overloads) for f in dispatchers))
    """
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_DISABLE_JIT"}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba")  # empty: any kernel used would compile
    env["PYTHONPATH"] = str(Path(fnn.__file__).parent.parent)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=True)  # fmt: skip
    kernels, versions = map(int, done.stdout.split())
    assert kernels > 0 and versions == 0
    assert "compiling" not in done.stderr


# -- ONNX ---------------------------------------------------------------------------------------


def run_onnx(path, X):
    if X.dtype == np.float64 and "Erf" in {node.op_type for node in onnx.load(path).graph.node}:
        # onnxruntime's CPU provider has no float64 Erf (gelu): ONNX's own reference runtime,
        # with an Erf in float64 (its own rounds to float32)
        from onnx.reference import ReferenceEvaluator
        from onnx.reference.ops.op_erf import Erf
        from scipy.special import erf

        class Erf64(Erf):
            op_domain = ""

            def _run(self, x):
                return (erf(x),)

        Erf64.__name__ = "Erf"
        return ReferenceEvaluator(str(path), new_ops=[Erf64]).run(["proba"], {"X": X})[0]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # the machines are shared; these models are tiny
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(["proba"], {"X": X})[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("net", every_activation_nets(), ids=lambda net: net.activations[-1])
def test_onnx_matches_predict_proba_for_every_activation(net, dtype, tmp_path):
    params = fnn.init(net, key=1, scheme="normal", dtype=dtype)
    path = tmp_path / "net.onnx"
    model = export.to_onnx(net, params, path)
    X = inputs(net, dtype)
    assert_matches(run_onnx(path, X), fnn.predict_proba(net, params, X), dtype)
    expected_ops = []
    for name in net.activations:
        expected_ops += ["Gemm"] + [node.op for node in fnn.ACTIVATIONS[name].onnx.nodes]
    assert [node.op_type for node in model.graph.node] == expected_ops
    assert onnx.load(path) == model


@settings(max_examples=40)
@given(st.data())
def test_onnx_matches_predict_proba_on_random_nets(folder, data):
    net = data.draw(testing.nets(max_hidden_layers=3))
    dtype = data.draw(st.sampled_from(DTYPES))
    params = data.draw(testing.params(net, dtype))
    X, _ = data.draw(testing.batches(net))
    X = X.astype(dtype)
    export.to_onnx(net, params, folder / "random.onnx")
    assert_matches(run_onnx(folder / "random.onnx", X), fnn.predict_proba(net, params, X), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_onnx_folds_the_scaler_into_the_first_gemm(dtype, tmp_path):
    net = fnn.mlp([3, 8, 3], hidden="tanh", output="softmax")
    params = fnn.init(net, key=2, dtype=dtype)
    raw = np.random.default_rng(3).normal([10.0, -4.0, 0.5], [3.0, 0.2, 1.0], (50, 3))
    scaler = fnn.standardizer(raw.astype(dtype))
    model = export.to_onnx(net, params, tmp_path / "net.onnx", scaler=scaler)
    expected = fnn.predict_proba(net, params, fnn.standardize(scaler, raw.astype(dtype)))
    assert_matches(run_onnx(tmp_path / "net.onnx", raw.astype(dtype)), expected, dtype)
    assert [node.op_type for node in model.graph.node] == ["Gemm", "Tanh", "Gemm", "Softmax"]


def test_onnx_model_declares_opset_13_ir_7_and_the_dtype(tmp_path):
    net = fnn.mlp([2, 3, 1])
    for dtype, element in (
        (np.float32, onnx.TensorProto.FLOAT),
        (np.float64, onnx.TensorProto.DOUBLE),
    ):
        model = export.to_onnx(net, fnn.init(net, dtype=dtype), tmp_path / "net.onnx")
        assert [(op.domain, op.version) for op in model.opset_import] == [("", 13)]
        assert model.ir_version == 7
        for value in (*model.graph.input, *model.graph.output):
            assert value.type.tensor_type.elem_type == element
        assert {tensor.data_type for tensor in model.graph.initializer} == {element}


# -- PyTorch ------------------------------------------------------------------------------------


def run_torch(module, X):
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


@settings(max_examples=40)
@given(st.data())
def test_torch_round_trip_is_bit_exact_and_outputs_match(data):
    net = data.draw(testing.nets(max_hidden_layers=3))
    dtype = data.draw(st.sampled_from(DTYPES))
    params = data.draw(testing.params(net, dtype))
    X, _ = data.draw(testing.batches(net))
    X = X.astype(dtype)
    module = export.to_torch(net, params)
    assert_matches(run_torch(module, X), fnn.predict_proba(net, params, X), dtype)
    back_net, back = export.from_torch(module, loss=net.loss)
    assert back_net == net._replace(loss_params=())  # a Sequential holds no loss parameter
    for layer, original in zip(back.layers, params.layers):
        for array, before in zip(layer, original):
            assert array.dtype == before.dtype and array.tobytes() == before.tobytes()
            assert not array.flags.writeable


@pytest.mark.parametrize("net", every_activation_nets(), ids=lambda net: net.activations[-1])
def test_torch_modules_for_every_activation(net):
    params = fnn.init(net, key=4, dtype=np.float64)
    module = export.to_torch(net, params)
    kinds = [type(layer).__name__ for layer in module]
    expected = []
    for name in net.activations:
        cls = fnn.ACTIVATIONS[name].torch.module
        expected += ["Linear"] + ([cls] if cls else [])
    assert kinds == expected
    assert all(parameter.dtype == torch.float64 for parameter in module.parameters())
    assert export.from_torch(module)[0] == net


def test_from_torch_reads_hand_written_sequentials():
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Linear(3, 4, bias=False), nn.Identity(), nn.Linear(4, 5), nn.ReLU(inplace=True),
        nn.Linear(5, 2).double().float(), nn.Softmax(dim=-1),
    )  # fmt: skip
    net, params = export.from_torch(module)
    assert net == fnn.Net((3, 4, 5, 2), ("identity", "relu", "softmax"), "ce")
    assert not params.layers[0].b.any()
    X = inputs(net, np.float32)
    assert_matches(fnn.predict_proba(net, params, X), run_torch(module, X), np.float32)
    assert export.from_torch(nn.Sequential(nn.Linear(2, 1)))[0].activations == ("identity",)


def test_torch_export_copies_and_leaves_torch_random_state_alone():
    net = fnn.mlp([2, 4, 1])
    params = fnn.init(net, key=0)
    state = torch.random.get_rng_state()
    module = export.to_torch(net, params)
    assert torch.equal(torch.random.get_rng_state(), state)
    with torch.no_grad():
        module[0].weight.add_(1.0)  # training the module must not reach params
    assert np.array_equal(params.layers[0].W, fnn.init(net, key=0).layers[0].W)
    _, back = export.from_torch(module)
    snapshot = back.layers[0].W.copy()
    with torch.no_grad():
        module[0].weight.add_(1.0)  # nor must later training reach what from_torch returned
    assert np.array_equal(back.layers[0].W, snapshot)


def test_torch_folds_the_scaler(tmp_path):
    net = fnn.mlp([2, 5, 1], output="identity")
    params = fnn.init(net, key=5)
    raw = np.random.default_rng(6).normal([100.0, -3.0], [20.0, 0.1], (30, 2))
    scaler = fnn.standardizer(raw)
    module = export.to_torch(net, params, scaler=scaler)
    expected = fnn.predict_proba(net, params, fnn.standardize(scaler, raw))
    assert_matches(run_torch(module, raw), expected, np.float64)


# -- C ------------------------------------------------------------------------------------------

MAIN = """#include <stdio.h>
#include <stdlib.h>
{includes}
int main(int argc, char **argv)
{{
    if (argc != 3) return 2;
    const int which = atoi(argv[1]);
    const size_t n = (size_t)strtoul(argv[2], NULL, 10);
    {T} *X = malloc(n * 64 * sizeof *X), *out = malloc(n * 64 * sizeof *out);
    switch (which) {{
{cases}
    default: return 2;
    }}
    free(X);
    free(out);
    return 0;
}}
"""
CASE = """    case {index}:
        if (fread(X, sizeof *X, n * {P}_N_INPUTS, stdin) != n * {P}_N_INPUTS) return 3;
        {prefix}_forward(n, X, out);
        fwrite(out, sizeof *out, n * {P}_N_OUTPUTS, stdout);
        break;"""


def compile_c(folder, headers: list[tuple[str, str]], dtype) -> str:
    """Build a program running the networks of ``headers`` ``[(file name, prefix), ...]``."""
    assert shutil.which(CC), f"the C export tests need a C compiler: {CC!r} is not on PATH"
    source = MAIN.format(
        T="double" if dtype == np.float64 else "float",
        includes="\n".join(f'#include "{name}"' for name, _ in headers),
        cases="\n".join(
            CASE.format(index=index, prefix=prefix, P=prefix.upper())
            for index, (_, prefix) in enumerate(headers)
        ),
    )
    (folder / "main.c").write_text(source)
    program = str(folder / "main")
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror"]
    subprocess.run([CC, *flags, "main.c", "-o", program, "-lm"], cwd=folder, check=True)
    return program


def run_c(program, which: int, X: np.ndarray, n_outputs: int) -> np.ndarray:
    done = subprocess.run([program, str(which), str(len(X))], input=X.tobytes(),
                          capture_output=True, check=True)  # fmt: skip
    return np.frombuffer(done.stdout, X.dtype).reshape(len(X), n_outputs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_c_matches_predict_proba_for_every_activation_in_one_program(dtype, tmp_path):
    """Every activation's net in one program: the prefixes keep the headers apart."""
    nets = every_activation_nets()
    headers, cases = [], []
    for index, net in enumerate(nets):
        params = fnn.init(net, key=index, scheme="normal", dtype=dtype)
        prefix = f"net_{net.activations[-1]}"
        export.to_c(net, params, tmp_path / f"{prefix}.h", prefix=prefix)
        headers.append((f"{prefix}.h", prefix))
        cases.append((net, params))
    program = compile_c(tmp_path, headers, dtype)
    for index, (net, params) in enumerate(cases):
        X = inputs(net, dtype, key=index)
        actual = run_c(program, index, X, net.sizes[-1])
        assert_matches(actual, fnn.predict_proba(net, params, X), dtype)


@settings(max_examples=12)
@given(st.data())
def test_c_matches_predict_proba_on_random_nets(folder, data):
    net = data.draw(testing.nets(max_hidden_layers=3))
    dtype = data.draw(st.sampled_from(DTYPES))
    params = data.draw(testing.params(net, dtype))
    X, _ = data.draw(testing.batches(net))
    X = X.astype(dtype)
    export.to_c(net, params, folder / "random.h")
    program = compile_c(folder, [("random.h", "fnn")], dtype)
    actual = run_c(program, 0, X, net.sizes[-1])
    assert_matches(actual, fnn.predict_proba(net, params, X), dtype)


def test_c_literals_are_exact_and_the_scaler_is_folded(tmp_path):
    net = fnn.mlp([2, 3, 2], hidden="sigmoid", output="identity")
    params = fnn.init(net, key=7, scheme="scaled")
    source = export.to_c(net, params, tmp_path / "net.h")
    literals = source.split("fnn_W0[6] = {")[1].split("}")[0].replace(",", " ").split()
    assert np.array_equal([float.fromhex(text) for text in literals], params.layers[0].W.ravel())
    raw = np.random.default_rng(8).normal([5.0, -50.0], [2.0, 10.0], (20, 2))
    scaler = fnn.standardizer(raw)
    export.to_c(net, params, tmp_path / "scaled.h", scaler=scaler, prefix="scaled")
    program = compile_c(tmp_path, [("scaled.h", "scaled")], np.float64)
    expected = fnn.predict_proba(net, params, fnn.standardize(scaler, raw))
    assert_matches(run_c(program, 0, raw, 2), expected, np.float64)


# -- bad input ----------------------------------------------------------------------------------

NET = fnn.mlp([2, 3, 1])
PARAMS = fnn.init(NET, key=0)
SCALER = fnn.standardizer(np.array([[0.0, 1.0], [2.0, 5.0]]))


def to_onnx(path, **kwargs):
    return export.to_onnx(kwargs.pop("net", NET), kwargs.pop("params", PARAMS), path, **kwargs)


def to_c(path, **kwargs):
    return export.to_c(kwargs.pop("net", NET), kwargs.pop("params", PARAMS), path, **kwargs)


def to_torch(_, **kwargs):
    return export.to_torch(kwargs.pop("net", NET), kwargs.pop("params", PARAMS), **kwargs)


def half(params):
    return fnn.Params(tuple(fnn.Layer(W.astype(np.float16), b) for W, b in params.layers))


def with_nan(params):
    W = params.layers[1].W.copy()
    W[0, 0] = np.nan
    return fnn.Params((params.layers[0], fnn.Layer(W, params.layers[1].b)))


BAD_MODEL = [
    ({"net": fnn.Net((2, 3, 1), ("swish", "sigmoid"), "bce")}, ValueError, "net.activations[0]"),
    ({"net": "2-3-1"}, TypeError, "net must be an fnn.Net"),
    ({"params": half(PARAMS)}, TypeError, "params.layers[0].W must be float32 or float64"),
    ({"params": fnn.init(fnn.mlp([3, 3, 1]))}, ValueError, "params.layers[0].W must have shape"),
    ({"params": with_nan(PARAMS)}, ValueError, "params.layers[1].W must be finite"),
    ({"scaler": (SCALER.mean, SCALER.scale)}, TypeError, "scaler must be an fnn.Scaler"),
    ({"scaler": fnn.standardizer(np.ones((2, 3)))}, ValueError, "scaler must standardise 2"),
    ({"scaler": fnn.Scaler(SCALER.mean, np.zeros(2))}, ValueError, "scaler.scale must be > 0"),
    ({"scaler": fnn.Scaler(np.zeros(2, int), SCALER.scale)}, TypeError, "scaler.mean"),
]  # fmt: skip


@pytest.mark.parametrize("exporter", [to_onnx, to_torch, to_c])
@pytest.mark.parametrize("kwargs, error, message", BAD_MODEL)
def test_bad_models_get_one_line_errors_and_no_file(exporter, kwargs, error, message, tmp_path):
    path = tmp_path / "out"
    with pytest.raises(error) as info:
        exporter(path, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not path.exists()


@pytest.mark.parametrize("exporter", [to_onnx, to_c])
def test_unwritable_paths_get_one_line_errors(exporter, tmp_path):
    cases = [
        (tmp_path / "missing" / "net.out", ValueError, "is not writable: the directory"),
        (tmp_path, ValueError, "is not writable: it is a directory"),
        (3, TypeError, "path must be a str or os.PathLike"),
        (tmp_path / ("x" * 300), ValueError, "is not writable: File name too long"),  # open fails
    ]
    for path, error, message in cases:
        with pytest.raises(error, match="^path ") as info:
            exporter(path)
        assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("prefix", ["", "1net", "my-net", None])
def test_c_prefix_must_be_an_identifier(prefix, tmp_path):
    with pytest.raises(ValueError, match="^prefix must be a C identifier"):
        to_c(tmp_path / "net.h", prefix=prefix)


nn = torch.nn


def mixed_linear():
    linear = nn.Linear(2, 3)
    linear.bias = nn.Parameter(linear.bias.double())
    return linear


BAD_MODULES = [
    (nn.Linear(2, 3), TypeError, "module must be a torch.nn.Sequential"),
    (nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU())), ValueError, "module[1] (Sequential"),
    (nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5)), ValueError, "module[1] (Dropout(p=0.5"),
    (nn.Sequential(nn.Linear(2, 3), nn.Hardswish()), ValueError, "is not supported"),
    (nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2)), ValueError, "module[1] (LeakyReLU(negative_slope=0.2)) must have negative_slope=0.01 to be fnn's leaky_relu"),
    (nn.Sequential(nn.Linear(2, 3), nn.ELU(2.0)), ValueError, "must have alpha=1.0"),
    (nn.Sequential(nn.Linear(2, 3), nn.GELU("tanh")), ValueError, "must have approximate='none'"),
    (nn.Sequential(nn.Linear(2, 3), nn.Softplus(2.0)), ValueError, "must have beta=1.0, threshold >= 20"),
    (nn.Sequential(nn.Linear(2, 3), nn.Softplus(threshold=10)), ValueError, "threshold >= 20"),
    (nn.Sequential(nn.ReLU(), nn.Linear(2, 3)), ValueError, "module[0] (ReLU()) must follow a Linear"),
    (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Tanh()), ValueError, "module[2] (Tanh()) must follow"),
    (nn.Sequential(nn.Linear(2, 3), nn.Softmax(1), nn.Linear(3, 2)), ValueError, "module[1] (Softmax(dim=1)) is an output"),
    (nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=0)), ValueError, "module[1] (Softmax(dim=0)) must normalise over dim=1"),
    (nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 1)), ValueError, "module[1] (Linear(in_features=4"),
    (nn.Sequential(nn.Linear(2, 3).half()), TypeError, "module[0] (Linear(in_features=2, out_features=3, bias=True)) must be float32 or float64, got torch.float16"),
    (nn.Sequential(nn.Linear(2, 3).double(), nn.Linear(3, 1)), TypeError, "module[1] (Linear(in_features=3, out_features=1, bias=True)) must have dtype torch.float64"),
    (nn.Sequential(nn.Identity()), ValueError, "module must hold at least one Linear layer"),
    (nn.Sequential(mixed_linear()), TypeError, "module[0] (Linear(in_features=2, out_features=3, bias=True)) has a torch.float64 bias for torch.float32 weights"),
]  # fmt: skip


@pytest.mark.parametrize("module, error, message", BAD_MODULES)
def test_from_torch_refuses_what_fnn_cannot_represent_with_one_line(module, error, message):
    with pytest.raises(error) as info:
        export.from_torch(module)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_from_torch_passes_fnn_own_errors_on():
    with pytest.raises(ValueError, match="softmax output needs at least 2 units"):
        export.from_torch(nn.Sequential(nn.Linear(2, 1), nn.Softmax(dim=1)))
    with pytest.raises(ValueError, match="loss"):
        export.from_torch(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), loss="ce")


@pytest.mark.parametrize(
    "call, extra",
    [
        (lambda path: to_onnx(path), "onnx"),
        (lambda path: to_torch(path), "torch"),
        (lambda path: export.from_torch(None), "torch"),
    ],
)
def test_missing_extras_are_named(call, extra, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, extra, None)  # import now raises ImportError
    with pytest.raises(ImportError, match=rf"pip install 'fnn\[{extra}\]'"):
        call(tmp_path / "net")


def test_exports_leave_their_inputs_alone(tmp_path):
    """Writable arrays of the caller keep their values and flags through every export."""
    rng = np.random.default_rng(9)
    params = fnn.Params(tuple(fnn.Layer(rng.normal(size=(n_in, n_out)), rng.normal(size=n_out))
                              for n_in, n_out in ((2, 3), (3, 2))))  # fmt: skip
    scaler = fnn.Scaler(np.array([1.0, -2.0]), np.array([0.5, 3.0]))
    net = fnn.mlp([2, 3, 2], output="softmax")
    arrays = [*scaler[:2], *(array for layer in params.layers for array in layer)]
    before = [(array.copy(), array.flags.writeable) for array in arrays]
    export.to_onnx(net, params, tmp_path / "net.onnx", scaler=scaler)
    export.to_c(net, params, tmp_path / "net.h", scaler=scaler)
    module = export.to_torch(net, params, scaler=scaler)
    state = [tensor.clone() for tensor in module.state_dict().values()]
    export.from_torch(module)
    assert all(torch.equal(a, b) for a, b in zip(state, module.state_dict().values()))
    for array, (copy, writeable) in zip(arrays, before):
        assert np.array_equal(array, copy) and array.flags.writeable == writeable

"""Deploying a trained network: ONNX models, PyTorch modules and plain C headers.

Every exporter computes what :func:`fnn.predict_proba` computes: the output-layer
activations. With a :class:`fnn.Scaler`, the standardisation ``(x - mean) / scale`` is folded
into the first layer, so the exported model takes raw features:

    W' = W / scale[:, None]        b' = b - (mean / scale) @ W

(computed in float64, then cast to the parameters' dtype). float32 parameters give a float32
model, float64 a float64 one.

onnx and torch are optional extras (``pip install 'fnn[onnx]'``, ``'fnn[torch]'``), imported
only when an exporter that needs them is called; the C export needs nothing but a C99 compiler
on the deploying side.
"""

from __future__ import annotations

import importlib
import json
import os
import re

import numpy as np

from fnn import checks
from fnn.model import from_architecture
from fnn.registry import ACTIVATIONS, HIDDEN_ACTIVATIONS
from fnn.types import Layer, Net, Params, Scaler
from fnn.version import __version__

#: Opset of the ONNX models: every operator used here has its current float semantics at 13
#: (later versions only add integer and bfloat16 types), and 13 runs on every maintained
#: runtime (onnxruntime >= 1.6, TensorRT >= 8, OpenVINO, onnxruntime-web, tract).
ONNX_OPSET = 13

#: The torch.nn class name of each activation that has one (identity has none).
_TORCH_MODULES = {
    name: entry.torch.module for name, entry in ACTIVATIONS.items() if entry.torch.module
}


# -- shared: validation and the layers to export ------------------------------------------------


def _extra(module: str, extra: str, caller: str):
    """Import an optional dependency, or raise an ImportError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"fnn.{caller} needs {module}, an optional extra: pip install 'fnn[{extra}]'"
        ) from error


def _layers(net, params, scaler) -> tuple[list, np.dtype]:
    """``[(W, b, activation), ...]`` to export (scaler folded in) and the parameters' dtype.

    ``net`` and ``params`` go through fnn's own checks (those of every other fnn function, so
    their errors read the same); nothing runs the network.
    """
    dtype = checks.model(net, params)
    for index, layer in enumerate(params.layers):
        for field, array in zip(("W", "b"), layer):
            if not np.isfinite(array).all():
                raise ValueError(f"params.layers[{index}].{field} must be finite, got NaN or inf")
    layers = [(layer.W, layer.b, name) for layer, name in zip(params.layers, net.activations)]
    if scaler is not None:
        layers[0] = (*_folded(scaler, layers[0][0], layers[0][1], dtype), layers[0][2])
    return layers, dtype


def _folded(scaler, W: np.ndarray, b: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """The first layer with the scaler folded in: ``W / scale``, ``b - (mean / scale) @ W``."""
    if not isinstance(scaler, Scaler):
        raise TypeError(
            f"scaler must be an fnn.Scaler (from fnn.standardizer), got {type(scaler).__name__}"
        )
    if np.shape(scaler.mean) != (W.shape[0],):
        raise ValueError(
            f"scaler must standardise {W.shape[0]} features (net.sizes[0]), got mean of shape "
            f"{np.shape(scaler.mean)}"
        )
    checks.scaler_of("scaler", scaler)  # float, finite, scale > 0
    ratio = scaler.mean.astype(np.float64) / scaler.scale
    W64 = W.astype(np.float64)
    return (W64 / scaler.scale[:, None]).astype(dtype), (b - ratio @ W64).astype(dtype)


def _path(path) -> str:
    """A path to write to: str or os.PathLike, in an existing directory, not a directory."""
    if isinstance(path, (bool, int)) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"path {path!r} is not writable: the directory {directory!r} is missing")
    if os.path.isdir(path):
        raise ValueError(f"path {path!r} is not writable: it is a directory")
    return path


def _write(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as file:
            file.write(data)
    except OSError as error:
        raise ValueError(f"path {path!r} is not writable: {error.strerror or error}") from error


# -- ONNX ---------------------------------------------------------------------------------------


def to_onnx(net: Net, params: Params, path, scaler: Scaler | None = None):
    """Write the network as an ONNX model computing :func:`fnn.predict_proba`.

    One ``Gemm`` per layer (``X @ W + b``), followed by the activation's nodes: the ``onnx``
    form of its entry in :data:`fnn.ACTIVATIONS` (one operator such as ``Relu`` or ``Softmax``
    on axis 1, nothing for identity, or a few elementary operators; gelu's ``Erf`` runs in
    float32 only on onnxruntime). Opset 13, IR version 7: every maintained runtime reads it.
    Needs the ``[onnx]`` extra.

    Parameters
    ----------
    net : Net
    params : Params
        float32 or float64: the model's tensors have this dtype.
    path : str or os.PathLike
        The ``.onnx`` file to write (its directory must exist).
    scaler : Scaler, optional
        Folded into the first Gemm, so the model takes raw (unstandardised) features. Its
        ``feature_names`` (from a DataFrame) go with the model: as the JSON list under the
        key ``"feature_names"`` of the model's ``metadata_props`` (onnxruntime:
        ``session.get_modelmeta().custom_metadata_map``), and in the input's doc string.

    Returns
    -------
    onnx.ModelProto
        The model written: input ``"X"`` of shape (n_samples, sizes[0]), output ``"proba"`` of
        shape (n_samples, sizes[-1]); checked with ``onnx.checker.check_model``.

    Examples
    --------
    >>> import fnn, os, tempfile
    >>> net = fnn.mlp([2, 3, 1])
    >>> model = fnn.to_onnx(net, fnn.init(net), os.path.join(tempfile.mkdtemp(), "net.onnx"))
    >>> [node.op_type for node in model.graph.node]
    ['Gemm', 'Relu', 'Gemm', 'Sigmoid']
    """
    onnx = _extra("onnx", "onnx", "to_onnx")
    from onnx import helper, numpy_helper

    layers, dtype = _layers(net, params, scaler)
    path = _path(path)
    nodes, weights, constants = [], [], {}
    flowing = "X"
    for index, (W, b, activation) in enumerate(layers):
        weights += [
            numpy_helper.from_array(W, f"W{index}"),
            numpy_helper.from_array(b, f"b{index}"),
        ]
        out = "proba" if index == len(layers) - 1 else f"A{index}"
        form = ACTIVATIONS[activation].onnx
        gemm = f"Z{index}" if form.nodes else out
        nodes.append(helper.make_node("Gemm", [flowing, f"W{index}", f"b{index}"], [gemm]))
        constants.update(form.constants)
        tensors = {"z": gemm, "out": out, **{name: name for name in form.constants}}
        for op, inputs, output, attributes in form.nodes:
            names = [tensors.get(name, f"{name}_{index}") for name in (*inputs, output)]
            nodes.append(helper.make_node(op, names[:-1], names[-1:], **attributes))
        flowing = out
    for name in sorted(constants):
        weights.append(numpy_helper.from_array(np.array(constants[name], dtype), name))
    element = helper.np_dtype_to_tensor_dtype(dtype)
    names = () if scaler is None else tuple(scaler.feature_names)
    columns = f"columns, in order: {json.dumps(names, ensure_ascii=False)}" if names else ""
    graph = helper.make_graph(
        nodes,
        "fnn",
        [helper.make_tensor_value_info("X", element, ["n_samples", net.sizes[0]], columns)],
        [helper.make_tensor_value_info("proba", element, ["n_samples", net.sizes[-1]])],
        initializer=weights,
    )
    opsets = [helper.make_opsetid("", ONNX_OPSET)]
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="fnn",
        doc_string=f"fnn.predict_proba of {net}"
        + (", input standardisation folded in" if scaler is not None else ""),
    )
    if names:
        helper.set_model_props(model, {"feature_names": json.dumps(names, ensure_ascii=False)})
    onnx.checker.check_model(model, full_check=True)
    _write(path, model.SerializeToString())
    return model


# -- PyTorch ------------------------------------------------------------------------------------


def to_torch(net: Net, params: Params, scaler: Scaler | None = None):
    """The network as a ``torch.nn.Sequential`` computing :func:`fnn.predict_proba`.

    Each layer becomes ``Linear(n_in, n_out)`` with ``weight = W.T`` and ``bias = b``, followed
    by the activation's module: the ``torch`` form of its entry in :data:`fnn.ACTIVATIONS`,
    with the settings that compute fnn's function (such as ``ReLU()``, ``Softmax(dim=1)`` or
    ``Softplus(beta=1.0, threshold=40.0)``; nothing for identity), in the parameters' dtype
    (float32 -> ``torch.float32``, float64 -> ``torch.float64``). The weights are copies:
    training the module leaves ``params`` alone. torch's random state is not touched (no
    initialisation runs). Needs the ``[torch]`` extra.

    Parameters
    ----------
    net : Net
    params : Params
    scaler : Scaler, optional
        Folded into the first Linear, so the module takes raw (unstandardised) features.

    Returns
    -------
    torch.nn.Sequential
        ``from_torch(to_torch(net, params))`` gives back ``net`` (for its canonical loss) and
        ``params``, bit for bit. Dropout is not exported (every exporter computes the
        network as ``predict`` runs it): a net with dropout comes back without it.

    Examples
    --------
    >>> import fnn
    >>> net = fnn.mlp([2, 3, 1])
    >>> fnn.to_torch(net, fnn.init(net))
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): ReLU()
      (2): Linear(in_features=3, out_features=1, bias=True)
      (3): Sigmoid()
    )
    """
    torch = _extra("torch", "torch", "to_torch")
    layers, _ = _layers(net, params, scaler)
    modules = []
    for W, b, activation in layers:
        # skip_init builds the Linear without drawing from torch's global random generator.
        linear = torch.nn.utils.skip_init(
            torch.nn.Linear, W.shape[0], W.shape[1], dtype=getattr(torch, W.dtype.name)
        )
        linear.weight = torch.nn.Parameter(torch.tensor(W.T))
        linear.bias = torch.nn.Parameter(torch.tensor(b))
        modules.append(linear)
        form = ACTIVATIONS[activation].torch
        if form.module is not None:
            modules.append(getattr(torch.nn, form.module)(**form.settings))
    return torch.nn.Sequential(*modules)


def from_torch(module, loss: str | None = None) -> tuple[Net, Params]:
    """``(net, params)`` from a ``torch.nn.Sequential`` of Linear layers and activations.

    Each ``Linear`` may be followed by the module of an activation of :data:`fnn.ACTIVATIONS`
    (the ``torch`` form of its entry) with the settings given there (softplus: any
    ``threshold`` >= 20; softmax: last only, over dim 1); a Linear followed by another Linear,
    or last, has the identity activation; ``Identity`` modules are skipped. A Linear without
    bias gets ``b = 0``.
    Anything else (Dropout, BatchNorm, other activations, nested containers) is refused.

    Parameters
    ----------
    module : torch.nn.Sequential
        float32 or float64 (one dtype throughout), on any device.
    loss : str, optional
        The net's loss (a Sequential does not say); None picks the canonical loss of the
        output, as :func:`fnn.mlp` does.

    Returns
    -------
    net : Net
    params : Params
        ``W = weight.T`` and ``b = bias`` of each Linear, bit for bit, read-only copies.

    Examples
    --------
    >>> import fnn, torch
    >>> nn = torch.nn
    >>> net, params = fnn.from_torch(
    ...     nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3), nn.Softmax(dim=1))
    ... )
    >>> net
    Net(sizes=(4, 8, 3), activations=('tanh', 'softmax'), loss='ce')
    """
    torch = _extra("torch", "torch", "from_torch")
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(
            f"module must be a torch.nn.Sequential of Linear layers and activations, got "
            f"{type(module).__name__}"
        )
    names = {getattr(torch.nn, cls): name for name, cls in _TORCH_MODULES.items()}
    linears, activations, places, dtype = [], [], [], None  # places: where each activation is
    for index, child in enumerate(module):
        where = f"module[{index}] ({_one_line(child)})"
        if type(child) is torch.nn.Linear:
            if child.weight.dtype not in (torch.float32, torch.float64):
                raise TypeError(f"{where} must be float32 or float64, got {child.weight.dtype}")
            if child.bias is not None and child.bias.dtype != child.weight.dtype:
                raise TypeError(
                    f"{where} has a {child.bias.dtype} bias for {child.weight.dtype} weights"
                )
            if dtype not in (None, child.weight.dtype):
                raise TypeError(f"{where} must have dtype {dtype} like the layers before it")
            if linears and child.in_features != linears[-1].out_features:
                raise ValueError(
                    f"{where} must take {linears[-1].out_features} inputs (the previous "
                    f"Linear's out_features), got in_features={child.in_features}"
                )
            dtype = child.weight.dtype
            linears.append(child)
            activations.append("identity")
            places.append(where)
        elif type(child) is torch.nn.Identity:
            continue
        elif type(child) in names:
            name = names[type(child)]
            if not activations or activations[-1] != "identity":
                raise ValueError(f"{where} must follow a Linear layer, not an activation")
            if name == "softmax" and child.dim not in (1, -1):
                raise ValueError(f"{where} must normalise over dim=1 (the features)")
            if name != "softmax" and not _torch_settings_fit(name, child):
                raise ValueError(
                    f"{where} must have {_settings_text(name)} to be fnn's {name} "
                    f"({ACTIVATIONS[name].formula})"
                )
            activations[-1], places[-1] = name, where
        else:
            raise ValueError(
                f"{where} is not supported: use Linear, Identity and "
                f"{', '.join(_TORCH_MODULES.values())} modules only"
            )
    if not linears:
        raise ValueError("module must hold at least one Linear layer, got none")
    for name, where in zip(activations[:-1], places):
        if name not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"{where} is an output activation: it may only follow the last Linear")
    architecture = [
        {"input_dim": linear.in_features, "output_dim": linear.out_features, "activation": name}
        for linear, name in zip(linears, activations)
    ]
    net = from_architecture(architecture, loss=loss)
    layers = []
    for linear in linears:
        W = _frozen(linear.weight.detach().cpu().numpy().T)
        if linear.bias is None:
            b = _frozen(np.zeros(linear.out_features, W.dtype))
        else:
            b = _frozen(linear.bias.detach().cpu().numpy())
        layers.append(Layer(W, b))
    return net, Params(tuple(layers))


def _torch_settings_fit(name: str, module) -> bool:
    """Whether a torch activation module computes fnn's ``name`` (softplus: any threshold of
    at least PyTorch's default 20, beyond which its linear branch is within 2e-9 of fnn's)."""
    for field, value in ACTIVATIONS[name].torch.settings.items():
        have = getattr(module, field, None)
        if not (have >= 20 if field == "threshold" else have == value):
            return False
    return True


def _settings_text(name: str) -> str:
    """``negative_slope=0.01``: the settings :func:`_torch_settings_fit` accepts, as text."""
    return ", ".join(
        f"{field} >= 20" if field == "threshold" else f"{field}={value!r}"
        for field, value in ACTIVATIONS[name].torch.settings.items()
    )


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous copy (never a view of a tensor's memory)."""
    copy = np.array(array, order="C", copy=True)
    copy.setflags(write=False)
    return copy


def _one_line(value) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


# -- C ------------------------------------------------------------------------------------------

_C_TYPES = {"float64": ("double", ""), "float32": ("float", "f")}


def to_c(net: Net, params: Params, path, scaler: Scaler | None = None,
         prefix: str = "fnn") -> str:  # fmt: skip
    """Write a self-contained C99 header computing :func:`fnn.predict_proba`.

    The header holds the weights as ``static const`` arrays of exact hexadecimal float
    literals (``0x1.8p-3``: every bit of every parameter survives) and the entry point
    ``static void fnn_forward(size_t n_samples, const double *X, double *out)``:
    ``X`` is ``n_samples`` rows of ``sizes[0]`` values (row-major, as in NumPy), ``out``
    receives ``n_samples`` rows of ``sizes[-1]``; it allocates nothing and is thread-safe.
    float32 parameters give ``float`` arrays and the ``f`` functions of ``<math.h>``. Include
    it anywhere (everything is ``static``); link with ``-lm``.

    Parameters
    ----------
    net : Net
    params : Params
    path : str or os.PathLike
        The ``.h`` file to write (its directory must exist).
    scaler : Scaler, optional
        Folded into the first layer, so ``forward`` takes raw (unstandardised) features.
    prefix : str
        A C identifier starting every name of the header (``fnn_forward``, ``FNN_N_INPUTS``),
        so that several networks can live in one program.

    Returns
    -------
    str
        The C source written.

    Examples
    --------
    >>> import fnn, os, tempfile
    >>> net = fnn.mlp([2, 3, 1])
    >>> source = fnn.to_c(net, fnn.init(net), os.path.join(tempfile.mkdtemp(), "net.h"))
    >>> "static void fnn_forward(size_t n_samples, const double *X, double *out)" in source
    True
    """
    layers, dtype = _layers(net, params, scaler)
    path = _path(path)
    if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prefix):
        raise ValueError(f"prefix must be a C identifier such as 'fnn', got {prefix!r}")
    T, f = _C_TYPES[dtype.name]
    P, sizes = prefix, net.sizes
    lines = [
        f"/* Generated by fnn {__version__}: {P}_forward computes fnn.predict_proba of",
        f"   {net}" + (", input standardisation folded in." if scaler is not None else "."),
        f"   {P}_forward(n_samples, X, out): X holds n_samples rows of {P.upper()}_N_INPUTS "
        f"values (row-major),",
        f"   out receives n_samples rows of {P.upper()}_N_OUTPUTS. C99; link with -lm. */",
        f"#ifndef {P.upper()}_H",
        f"#define {P.upper()}_H",
        "",
        "#include <math.h>",
        "#include <stddef.h>",
        "",
        f"#define {P.upper()}_N_INPUTS {sizes[0]}",
        f"#define {P.upper()}_N_OUTPUTS {sizes[-1]}",
        "",
    ]
    for index, (W, b, _) in enumerate(layers):
        lines += _c_array(f"{T} {P}_W{index}[{W.size}]", W, f, f"W{index}: {W.shape}, row-major")
        lines += _c_array(f"{T} {P}_b{index}[{b.size}]", b, f, f"b{index}: {b.shape}")
    lines += [
        f"static void {P}_dense(size_t n_in, size_t n_out, const {T} *W, const {T} *b,",
        f"                      const {T} *a, {T} *z)",
        "{",
        "    for (size_t j = 0; j < n_out; ++j) z[j] = b[j];",
        "    for (size_t i = 0; i < n_in; ++i)",
        "        for (size_t j = 0; j < n_out; ++j) z[j] += a[i] * W[i * n_out + j];",
        "}",
        "",
    ]
    for name in dict.fromkeys(name for *_, name in layers):  # used activations, once each
        body = ACTIVATIONS[name].c
        if body is not None:
            body = body.replace("{T}", T).replace("{f}", f)
            lines += [f"static void {P}_{name}(size_t n, {T} *v)", "{", f"    {body}", "}", ""]
    hidden = max(sizes[1:-1], default=0)
    lines += [f"static void {P}_forward(size_t n_samples, const {T} *X, {T} *out)", "{"]
    if hidden:
        lines.append(f"    {T} hidden[2][{hidden}];")
    lines += [
        "    for (size_t row = 0; row < n_samples; ++row) {",
        f"        const {T} *a = X + row * {sizes[0]};",
    ]
    for index, (W, _, name) in enumerate(layers):
        last = index == len(layers) - 1
        z = f"out + row * {sizes[-1]}" if last else f"hidden[{index % 2}]"
        lines.append(
            f"        {P}_dense({W.shape[0]}, {W.shape[1]}, {P}_W{index}, {P}_b{index}, a, {z});"
        )
        if ACTIVATIONS[name].c is not None:
            lines.append(f"        {P}_{name}({W.shape[1]}, {z});")
        if not last:
            lines.append(f"        a = {z};")
    lines += ["    }", "}", "", f"#endif /* {P.upper()}_H */", ""]
    source = "\n".join(lines)
    _write(path, source.encode("ascii"))
    return source


def _c_array(declaration: str, values: np.ndarray, suffix: str, comment: str) -> list[str]:
    """``static const T name[n] = {...};`` with exact hexadecimal literals, 4 per line."""
    literals = [float(value).hex() + suffix for value in values.ravel()]
    rows = [", ".join(literals[at : at + 4]) for at in range(0, len(literals), 4)]
    body = [f"    {row}," for row in rows]
    return [f"/* {comment} */", f"static const {declaration} = {{", *body, "};", ""]

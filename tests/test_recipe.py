"""The recipe of docs/architecture.md, followed: a toy activation added to a copy of fnn.

"An elementwise activation" lists what to edit in ``fnn/``: a code and two kernel branches in
``fnn/kernels.py`` and one entry in ``fnn/registry.py``, whose export forms every exporter
reads. This test makes exactly those edits in a temporary copy of the package, for softsign
``z / (1 + |z|)``, and in a fresh process (its own empty Numba cache: the engine compiles
there) checks the gradients, trains it, and runs every export in its own runtime.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import fnn

PACKAGE = Path(fnn.__file__).parent
RECIPE = PACKAGE.parent / "docs" / "architecture.md"

#: The edits, as the recipe states them: (file, the code it names, old text, new text).
CODE_ROW = re.compile(r"^(LEAKY_RELU, ELU, GELU, SILU, SOFTPLUS.*) = (.*)$", re.MULTILINE)
PRELUDE = "    zero, one = cast(0), cast(1)\n"
ENTRY = """        "softsign": Activation(
            kernels.SOFTSIGN, "z / (1 + |z|)", False, 1, "values",
            _onnx(("Abs", ("z",), "t0"), ("Add", ("t0", "ONE"), "t1"), ("Div", ("z", "t1"), "out"),
                  ONE=1.0),
            Torch("Softsign"),
            "for (size_t j = 0; j < n; ++j) v[j] = v[j] / (1 + fabs{f}(v[j]));",
        ),
"""


def _after(text: str, function: str, insert: str) -> str:
    """``insert`` after the first line of ``function``'s body that sets zero and one."""
    start = text.index(f"def {function}(")
    at = text.index(PRELUDE, start) + len(PRELUDE)
    return text[:at] + insert + text[at:]


def add_softsign(package: Path) -> None:
    """The recipe's edits in fnn/, in a copy of the package."""
    kernels = package / "kernels.py"
    text = kernels.read_text()
    text, count = CODE_ROW.subn(r"\1, SOFTSIGN = \2, 10", text)
    assert count == 1, "the recipe's row of codes is not in fnn/kernels.py"
    text = _after(text, "_smooth_activation", "    if code == SOFTSIGN:\n"
                  "        return z / (one + abs(z))\n")  # fmt: skip
    text = _after(text, "_smooth_derivative", "    if code == SOFTSIGN:\n"
                  "        return one / ((one + abs(z)) * (one + abs(z)))\n")  # fmt: skip
    kernels.write_text(text)
    registry = package / "registry.py"
    text = registry.read_text()
    table = text.index("ACTIVATIONS = MappingProxyType(")
    end = text.index("\n    }\n)", table) + 1  # the last entry's end
    registry.write_text(text[:end] + ENTRY + text[end:])


def test_the_recipe_names_the_places_this_test_edits():
    section = RECIPE.read_text().split("### An elementwise activation")[1].split("###")[0]
    for place in ("fnn/kernels.py", "_smooth_activation", "_smooth_derivative", "SOFTPLUS",
                  "fnn/registry.py", "`onnx`", "`torch`", "`c`"):  # fmt: skip
        assert place in section, place
    assert "fnn/export.py" not in section  # the exporters read the registry


CHILD = """
    import ctypes, os, subprocess, sys
    import numpy as np
    import onnxruntime, torch
    import fnn
    from fnn import export
    from fnn.testing import check_grads

    folder = sys.argv[1]
    assert fnn.__file__.startswith(folder), fnn.__file__
    net = fnn.mlp([3, 6, 5, 2], hidden="softsign", output="softsign", loss="mse")
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (64, 3))
    y = np.tanh(X[:, :2])
    params = fnn.init(net, key=1)

    # the kernel computes softsign (a NumPy forward pass), and its gradient
    A = X
    for W, b in params.layers:
        Z = A @ W + b
        A = Z / (1 + np.abs(Z))
    proba = fnn.predict_proba(net, params, X)
    np.testing.assert_allclose(proba, A, rtol=1e-12, atol=1e-12)
    check_grads(net, params, X[:8], y[:8])

    result = fnn.fit(net, params, fnn.adam(0.01), X, y, epochs=30, batch_size=16, key=2)
    assert fnn.loss(net, result.params, X, y) < 0.5 * fnn.loss(net, params, X, y)

    def close(actual):
        np.testing.assert_allclose(actual, proba, rtol=1e-12, atol=1e-12)

    export.to_onnx(net, params, os.path.join(folder, "net.onnx"))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(os.path.join(folder, "net.onnx"), options,
                                           providers=["CPUExecutionProvider"])
    close(session.run(["proba"], {"X": X})[0])

    module = export.to_torch(net, params)
    assert type(module[1]).__name__ == "Softsign"
    with torch.no_grad():
        close(module(torch.from_numpy(X)).numpy())
    assert export.from_torch(module, loss="mse")[0] == net

    export.to_c(net, params, os.path.join(folder, "net.h"))
    with open(os.path.join(folder, "run.c"), "w") as file:
        file.write('#include "net.h"\\n'
                   "void run(size_t n, const double *X, double *out) { fnn_forward(n, X, out); }\\n")
    library = os.path.join(folder, "net.so")
    subprocess.run([os.environ.get("CC", "cc"), "-std=c99", "-O2", "-shared", "-fPIC", "run.c",
                    "-o", library, "-lm"], cwd=folder, check=True)
    out = np.empty_like(proba)
    pointer = ctypes.POINTER(ctypes.c_double)
    ctypes.CDLL(library).run(ctypes.c_size_t(len(X)), X.ctypes.data_as(pointer),
                             out.ctypes.data_as(pointer))
    close(out)
    print("softsign: grads, fit, onnx, torch, c")
"""


def test_a_toy_activation_added_by_the_recipe_trains_and_exports(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "fnn", ignore=shutil.ignore_patterns("__pycache__"))
    add_softsign(tmp_path / "fnn")
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_DISABLE_JIT"}
    env.update(PYTHONPATH=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "softsign: grads, fit, onnx, torch, c"

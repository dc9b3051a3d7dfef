"""docs/architecture.md's recipe for a loss with a parameter, followed in a copy of fnn.

A toy pinball (quantile) loss ``(1/m) sum max(tau r, (tau - 1) r)``, ``r = y - y_hat``, with
its parameter ``tau`` in (0, 1), is added to a temporary copy of the package by the edits the
recipe lists for the code (a kernel code; its loss and error branches in ``_output_into``; a
``Loss`` entry with its parameter) and nothing else. A fresh interpreter then runs the copy:
``fnn.mlp`` takes ``tau``, the loss is the NumPy formula, ``check_grads`` passes, a fit lowers
the loss, ``save``/``load`` keep ``tau``, and every export computes ``predict_proba``. fnn has
the same maths as its "quantile" loss (``q`` for ``tau``), which the toy's value must equal.
The kernels run as Python (``NUMBA_DISABLE_JIT=1``, the debug build): there a loss code
without its branches raises instead of computing another loss, so the new branches are the
ones run.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

# (file, anchor the recipe names, replacement): each anchor must occur once in the copy
EDITS = [
    (
        "kernels.py",
        "BCE, CE, MSE, HUBER, MAE, POISSON, QUANTILE = 0, 1, 2, 3, 4, 5, 6\n",
        "BCE, CE, MSE, HUBER, MAE, POISSON, QUANTILE, PINBALL = 0, 1, 2, 3, 4, 5, 6, 7\n",
    ),
    (
        "kernels.py",
        '    elif DEBUG:\n        raise ValueError("unknown loss code")\n    correct = 0.0\n',
        "    elif WITH_OTHER_LOSSES and loss_code == PINBALL:\n"
        "        tau = loss_params[0]\n"
        "        for j in range(n):\n"
        "            for i in range(m):\n"
        "                r = YT[j, i] - AT[j, i]\n"
        "                total += max(tau * r, (tau - 1.0) * r) * weight[i]\n"
        '    elif DEBUG:\n        raise ValueError("unknown loss code")\n    correct = 0.0\n',
    ),
    (
        "kernels.py",
        '        elif DEBUG:\n            raise ValueError("unknown loss code")\n',
        "        elif WITH_OTHER_LOSSES and loss_code == PINBALL:\n"
        "            tau = ZT.dtype.type(loss_params[0])\n"
        "            for j in range(n):\n"
        "                for i in range(m):\n"
        "                    r = YT[j, i] - AT[j, i]\n"
        "                    slope = -tau if r > zero else (one - tau if r < zero else zero)\n"
        "                    DT[j, i] = s * weight[i] * slope\n"
        '        elif DEBUG:\n            raise ValueError("unknown loss code")\n',
    ),
    (
        "registry.py",
        '        "mae": Loss(',
        '        "pinball": Loss(\n'
        "            kernels.PINBALL,\n"
        '            "(1/m) sum max(tau r, (tau - 1) r), r = y - y_hat",\n'
        "            tuple(ACTIVATIONS),\n"
        '            "identity",\n'
        '            "targets",\n'
        '            parameters=MappingProxyType({"tau": LossParameter(0.5, 0.0, 1.0, True, True)}),\n'
        "        ),\n"
        '        "mae": Loss(',
    ),
]

SCRIPT = r"""
import numpy as np
import fnn
from fnn import export, testing
from tests import test_export as exports

assert fnn.__file__.startswith(COPY), fnn.__file__
net = fnn.mlp([2, 6, 1], hidden="tanh", output="identity", loss="pinball", loss_params={"tau": 0.2})
assert net.loss_params == (0.2,)
assert fnn.mlp([2, 1], output="identity", loss="pinball").loss_params == ()  # tau's default
rng = np.random.default_rng(0)
X = rng.standard_normal((40, 2))
y = X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.standard_normal(40)
params = fnn.init(net, key=1)

r = y - fnn.predict_proba(net, params, X)[:, 0]
expected = np.mean(np.maximum(0.2 * r, (0.2 - 1.0) * r))
assert np.isclose(fnn.loss(net, params, X, y), expected, rtol=1e-12), (fnn.loss(net, params, X, y), expected)
quantile = fnn.mlp([2, 6, 1], hidden="tanh", output="identity", loss="quantile", loss_params={"q": 0.2})
assert np.isclose(fnn.loss(quantile, params, X, y), expected, rtol=1e-12)
testing.check_grads(net, params, X[:8], y[:8])
testing.check_grads(net._replace(loss_params=(0.7,)), params, X[:8], y[:8])

result = fnn.fit(net, params, fnn.adam(0.02), X, y, epochs=40, batch_size=8, key=0)
assert result.history.loss[-1] < 0.8 * result.history.loss[0], result.history.loss
trained = result.params
below = np.mean(y < fnn.predict_proba(net, trained, X)[:, 0])  # a 0.2-quantile: few below
assert below < 0.5, below

fnn.save(PATH + "/pinball.npz", net, trained)
loaded, back = fnn.load(PATH + "/pinball.npz")
assert loaded == net

Xf = X.astype(np.float64)
proba = fnn.predict_proba(net, trained, Xf)
export.to_onnx(net, trained, PATH + "/net.onnx")
exports.assert_matches(exports.run_onnx(PATH + "/net.onnx", Xf), proba, np.float64)
exports.assert_matches(exports.run_torch(export.to_torch(net, trained), Xf), proba, np.float64)
export.to_c(net, trained, PATH + "/net.h", prefix="net")
import pathlib
program = exports.compile_c(pathlib.Path(PATH), [("net.h", "net")], np.float64)
exports.assert_matches(exports.run_c(program, 0, Xf, 1), proba, np.float64)
print("recipe ok")
"""


def test_a_parametrised_loss_by_the_recipe_trains_checks_and_exports(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "fnn", copy / "fnn", ignore=shutil.ignore_patterns("__pycache__"))
    for name, anchor, replacement in EDITS:
        path = copy / "fnn" / name
        text = path.read_text()
        assert text.count(anchor) == 1, (name, anchor)
        path.write_text(text.replace(anchor, replacement))
    work = tmp_path / "work"
    work.mkdir()
    env = dict(
        os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=os.pathsep.join([str(copy), str(ROOT)])
    )
    script = f"COPY = {str(copy)!r}\nPATH = {str(work)!r}\n" + SCRIPT
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=work, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("recipe ok")

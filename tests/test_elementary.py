"""The engine's own exp, expm1, log1p and tanh (fnn.kernels) against NumPy and 50-digit mpmath,
in float64: within a few ulp at every scale, right at the special values, the same bits in SIMD
lanes as one at a time, and the same bits as Python (the debug build) as compiled."""

import os
import subprocess
import sys

import mpmath
import numpy as np
import pytest
from numba import njit

from fnn import kernels


def _loop(function):
    """A compiled loop of ``function`` over an array, under the engine's policy: LLVM vectorises
    it, and its last ``n % lanes`` values run one at a time."""

    @njit(**kernels.POLICY | {"cache": False})
    def loop(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = function(x[i])
        return out

    return loop


LOOPS = {
    "exp": _loop(kernels._exp),
    "expm1": _loop(kernels._expm1),
    "log1p": _loop(kernels._log1p),
    "tanh": _loop(kernels._tanh),
}
#: Each function's domain in the engine, NumPy's function and the error allowed, in ulp.
FUNCTIONS = {
    "exp": ((-800.0, 800.0), np.exp, 1),
    "expm1": ((-800.0, 0.0), np.expm1, 1),
    "log1p": ((0.0, 1e300), np.log1p, 1),
    "tanh": ((-800.0, 800.0), np.tanh, 3),
}
MPMATH = {"exp": mpmath.exp, "expm1": mpmath.expm1, "log1p": mpmath.log1p, "tanh": mpmath.tanh}


def ulps_apart(a, b):
    """How many float64 values lie between a and b (0 when equal; -0.0 equals 0.0)."""
    ordered = [
        np.where(v < 0, -(v & 0x7FFFFFFFFFFFFFFF), v) for v in (a.view(np.int64), b.view(np.int64))
    ]
    return np.abs(ordered[0] - ordered[1])


def samples(name, rng, size=20_000):
    """Values of the function's domain at every scale: magnitudes log-uniform from 1e-300 to
    its bound, and uniform ones near 0 where the reductions switch."""
    (low, high), _, _ = FUNCTIONS[name]
    bound = max(abs(low), abs(high))
    magnitude = np.exp(rng.uniform(np.log(1e-300), np.log(bound), size))
    near = rng.uniform(0, 3, size)
    x = np.concatenate([magnitude, near])
    sign = rng.choice([-1.0, 1.0], x.size) if low < 0 < high else (-1.0 if high <= 0 else 1.0)
    return x * sign


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_within_a_few_ulp_of_numpy_at_every_scale(name, rng):
    _, numpy_function, allowed = FUNCTIONS[name]
    x = samples(name, rng)
    with np.errstate(over="ignore"):
        want = numpy_function(x)
    apart = ulps_apart(LOOPS[name](x), want)
    assert apart.max() <= allowed, f"{x[apart.argmax()]!r}: {apart.max()} ulp"


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_within_a_few_ulp_of_the_exact_value(name, rng):
    _, _, allowed = FUNCTIONS[name]
    x = np.concatenate([samples(name, rng, size=150), [1e-8, 0.3466, 0.3467, 0.5, 1.0, 1.5]])
    if FUNCTIONS[name][0][0] < 0:
        x = np.concatenate([x, -x[-6:]])
    if FUNCTIONS[name][0][1] <= 0:
        x = -np.abs(x)
    mpmath.mp.dps = 50
    exact = np.array([float(MPMATH[name](mpmath.mpf(float(v)))) for v in x])
    # the exact value rounded is within half an ulp of it: one more ulp of slack
    assert ulps_apart(LOOPS[name](x), exact).max() <= allowed + 1


def test_special_values():
    inf, nan = np.inf, np.nan
    tiny = 5e-324
    x = np.array([0.0, -0.0, tiny, -tiny, 1e-300, 709.78, 709.79, -708.4, -745.1, -745.2, inf])
    got = LOOPS["exp"](np.append(x, [-inf, nan]))
    with np.errstate(over="ignore"):
        want = np.exp(np.append(x, [-inf, nan]))
    np.testing.assert_array_equal(got, want)  # inf above 709.79, subnormals, 0 below -745.14
    x = np.array([0.0, tiny, 1e-300, 20.0, 40.0, 1e300, inf, nan])
    np.testing.assert_array_equal(LOOPS["tanh"](x), np.tanh(x))
    np.testing.assert_array_equal(LOOPS["tanh"](-x), np.tanh(-x))
    x = np.array([-0.0, -tiny, -1e-300, -37.0, -38.0, -800.0, -inf, nan])
    np.testing.assert_array_equal(LOOPS["expm1"](x), np.expm1(x))
    x = np.array([0.0, tiny, 1e-300, 1.0, 1e308, nan])
    np.testing.assert_array_equal(LOOPS["log1p"](x), np.log1p(x))


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_simd_lanes_give_the_bits_of_one_value_at_a_time(name, rng):
    x = samples(name, rng, size=500)
    together = LOOPS[name](x)
    alone = np.array([LOOPS[name](x[i : i + 1])[0] for i in range(x.size)])
    np.testing.assert_array_equal(together.view(np.int64), alone.view(np.int64))


def test_no_fused_multiply_add_reaches_the_machine_code():
    for loop in LOOPS.values():
        code = loop.inspect_asm(loop.signatures[0]).lower()
        assert not any(op in code for op in ("vfmadd", "vfmsub", "vfnmadd", "vfnmsub"))


_PYTHON_SCRIPT = """
import sys
import numpy as np
from fnn import kernels
x = np.load(sys.argv[1])
out = {name: np.array([getattr(kernels, "_" + name)(v) for v in x[name]])
       for name in ("exp", "expm1", "log1p", "tanh")}
np.savez(sys.argv[2], **out)
"""


def test_the_debug_build_computes_the_same_bits(rng, tmp_path):
    x = {name: samples(name, rng, size=300) for name in FUNCTIONS}
    np.savez(tmp_path / "x.npz", **x)
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _PYTHON_SCRIPT, tmp_path / "x.npz", tmp_path / "out.npz"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    python = np.load(tmp_path / "out.npz")
    for name in FUNCTIONS:
        compiled = LOOPS[name](x[name])
        np.testing.assert_array_equal(python[name].view(np.int64), compiled.view(np.int64))

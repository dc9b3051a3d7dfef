"""Faults around a call: BLAS threads and Python threads, Ctrl-C, read-only deployments.

Each runs where the fault happens: a child process with its own environment or signal, or
several Python threads at once.
"""

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import fnn
from fnn.engine import blas_thread_setters


def child(script: str, env: dict | None = None, **options) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh Python; its stdout, stderr and return code."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        **options,
    )


# -- the same bits whatever the threads ----------------------------------------------------------

# Wide enough that every product goes to BLAS (more than kernels.SMALL_MATMUL multiply-adds).
BITS = """
    import hashlib
    import numpy as np
    import fnn

    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 64))
    y = rng.integers(0, 10, 512)
    net = fnn.mlp([64, 256, 256, 10], output="softmax")
    for dtype in (np.float32, np.float64):
        params = fnn.init(net, key=1, dtype=dtype)
        grads = fnn.grad(net, params, X.astype(dtype), y)
        out, cache = fnn.forward(net, params, X.astype(dtype))
        proba = fnn.predict_proba(net, params, X.astype(dtype))
        arrays = [a for layer in grads.layers for a in layer] + [out, proba]
        arrays += list(cache.activations) + list(cache.preactivations)
        print(hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest())
"""


def test_grad_and_forward_bits_do_not_depend_on_the_blas_thread_count():
    runs = [child(BITS, {"OPENBLAS_NUM_THREADS": str(n)}) for n in (1, 2)]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    one, two = (run.stdout.split() for run in runs)
    assert len(one) == 2 and one == two


def test_threads_give_the_serial_bits_whatever_blas_threads_were_set_before():
    """Python threads at once give the bits of serial calls, though the BLAS thread count
    was changed between (as ``threadpoolctl`` or a SciPy user may)."""
    rng = np.random.default_rng(1)
    net = fnn.mlp([64, 256, 256, 10], output="softmax")
    params = fnn.init(net, key=2)
    batches = [rng.standard_normal((512, 64)) for _ in range(6)]
    labels = rng.integers(0, 10, 512)
    setters = blas_thread_setters()  # empty where OpenBLAS is not found

    def grad_and_output(X):
        return fnn.grad(net, params, X, labels), fnn.forward(net, params, X)[0]

    for setter in setters:
        setter(1)
    serial = [grad_and_output(X) for X in batches]
    for setter in setters:
        setter(2)
    with ThreadPoolExecutor(3) as pool:
        for _ in range(3):
            for got, want in zip(pool.map(grad_and_output, batches), serial):
                np.testing.assert_array_equal(got[1], want[1], strict=True)
                for got_layer, want_layer in zip(got[0].layers, want[0].layers):
                    np.testing.assert_array_equal(got_layer.W, want_layer.W, strict=True)
                    np.testing.assert_array_equal(got_layer.b, want_layer.b, strict=True)

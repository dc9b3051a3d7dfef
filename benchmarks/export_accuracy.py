"""How closely each export reproduces ``fnn.predict_proba``, over random networks.

Draws networks, parameters and batches with fnn.testing's Hypothesis strategies (as
tests/test_export.py does, more of them), runs each export in its runtime (onnxruntime, torch,
the C compiler for one draw in ten) and prints the largest difference per export and dtype,
relative to the scale of the outputs: ``max |export - predict_proba| / max(1, max |output|)``.

    python benchmarks/export_accuracy.py [EXAMPLES]     # default 300
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fnn
from fnn import testing

MAIN = """#include <stdio.h>
#include <stdlib.h>
#include "net.h"
int main(int argc, char **argv)
{
    const size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 0;
    T *X = malloc(n * FNN_N_INPUTS * sizeof *X), *out = malloc(n * FNN_N_OUTPUTS * sizeof *out);
    if (fread(X, sizeof *X, n * FNN_N_INPUTS, stdin) != n * FNN_N_INPUTS) return 1;
    fnn_forward(n, X, out);
    fwrite(out, sizeof *out, n * FNN_N_OUTPUTS, stdout);
    return 0;
}
"""


def main(examples: int) -> None:
    folder = tempfile.mkdtemp()
    worst: dict[tuple[str, str], float] = {}

    def note(export, actual, expected):
        scale = max(1.0, float(np.abs(expected).max()))
        error = float(np.abs(actual.astype(np.float64) - expected).max()) / scale
        key = (export, expected.dtype.name)
        worst[key] = max(worst.get(key, 0.0), error)

    def run_c(net, params, X):
        fnn.to_c(net, params, os.path.join(folder, "net.h"))
        source = MAIN.replace("T *", "double *" if X.dtype == np.float64 else "float *")
        with open(os.path.join(folder, "main.c"), "w") as file:
            file.write(source)
        command = ["cc", "-std=c99", "-O2", "main.c", "-o", "main", "-lm"]
        subprocess.run(command, cwd=folder, check=True)
        done = subprocess.run([os.path.join(folder, "main"), str(len(X))], input=X.tobytes(),
                              capture_output=True, check=True)  # fmt: skip
        return np.frombuffer(done.stdout, X.dtype).reshape(len(X), net.sizes[-1])

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.data())
    def measure(data):
        net = data.draw(testing.nets(max_hidden_layers=3))
        dtype = data.draw(st.sampled_from([np.float32, np.float64]))
        params = data.draw(testing.params(net, dtype))
        X = data.draw(testing.batches(net, 1, 16))[0].astype(dtype)
        expected = fnn.predict_proba(net, params, X)
        path = os.path.join(folder, "net.onnx")
        fnn.to_onnx(net, params, path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(path, options)
        note("onnx", session.run(["proba"], {"X": X})[0], expected)
        with torch.no_grad():
            note("torch", fnn.to_torch(net, params)(torch.from_numpy(X)).numpy(), expected)
        if data.draw(st.integers(0, 9)) == 0:
            note("c", run_c(net, params, X), expected)

    measure()
    for (export, dtype), error in sorted(worst.items()):
        print(
            f"{export:6s} {dtype:8s} max |export - predict_proba| / max(1, max |out|) = {error:.2e}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)

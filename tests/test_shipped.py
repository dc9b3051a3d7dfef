"""The kernels a wheel ships compiled (fnn.shipped): built by the wheel's own build step, they
give the same bits as the kernels compiled on this machine, load from a read-only package
without compiling anything, and step aside, saying why, where they cannot serve.

The build (``python -m fnn.build_shipped``, what setup.py runs) compiles every entry kernel for
x86-64-v3 into a copy of the package, once for this module."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numba.core import codegen

import fnn
from fnn import kernels, shipped

PACKAGE = Path(fnn.__file__).resolve().parent


def digests() -> dict[str, str]:
    """sha256 of what every engine path returns on small problems: fit (three optimizers,
    dropout, validation, both dtypes), grad, predict, opt_step, fit_many, and a fit whose
    batches run on two threads in shards."""
    import fnn as f  # the fnn this process imports (the shipped copy in the child)

    def sha(*values):
        h = hashlib.sha256()
        for value in values:
            if isinstance(value, f.Params):
                for layer in value.layers:
                    h.update(layer.W.tobytes() + layer.b.tobytes())
            else:
                h.update(np.ascontiguousarray(value).tobytes())
        return h.hexdigest()

    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 3))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    out = {}
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        net = f.mlp([3, 8, 6, 1], hidden="tanh")
        params = f.init(net, key=1, dtype=dtype)
        for opt in (f.sgd(0.1), f.momentum(0.05), f.adam(0.01)):
            fitted = f.fit(net, params, opt, X, y, epochs=3, batch_size=32, key=2,
                           validation=(X[:16], y[:16]))  # fmt: skip
            out[f"fit {type(opt).__name__} {name}"] = sha(
                fitted.params, fitted.history.loss,
                fitted.history.val_loss,
            )  # fmt: skip
        dropped = f.mlp([3, 8, 2], output="softmax", dropout=0.25)
        p = f.init(dropped, key=3, dtype=dtype)
        fitted = f.fit(dropped, p, f.adam(0.01), X, y, epochs=2, batch_size=16, key=4).params
        out[f"fit dropout {name}"] = sha(fitted)
        grads = f.grad(net, params, X, y)
        out[f"grad {name}"] = sha(grads)
        out[f"predict {name}"] = sha(f.predict_proba(net, params, X))
        state = f.opt_init(f.adam(0.01), params)
        stepped, _ = f.opt_step(f.adam(0.01), params, grads, state)
        out[f"opt_step {name}"] = sha(stepped)
        members = [f.init(net, key=k, dtype=dtype) for k in range(3)]
        fits = f.fit_many(net, members, f.sgd(0.1), X, y, epochs=2, batch_size=32)
        out[f"fit_many {name}"] = sha(*(member.params for member in fits))
        wide = f.mlp([3, 256, 256, 1])  # a batch of 512 rows splits into shards
        big_X = rng.normal(size=(512, 3)).astype(dtype)
        big_y = (big_X[:, 0] > 0).astype(int)
        p = f.init(wide, key=5, dtype=dtype)
        fitted = f.fit(wide, p, f.sgd(0.1), big_X, big_y, epochs=1, threads=2).params
        out[f"fit threads=2 {name}"] = sha(fitted)
    return out


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory) -> Path:
    """A copy of the package with its kernels built as the wheel builds them."""
    root = tmp_path_factory.mktemp("wheel")
    shutil.copytree(PACKAGE, root / "fnn", ignore=shutil.ignore_patterns("__pycache__", "_shipped"))
    subprocess.run([sys.executable, "-m", "fnn.build_shipped"], cwd=root, check=True,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})  # fmt: skip
    assert (root / "fnn" / "_shipped" / "BUILT_FOR").is_file()
    return root


CHILD = textwrap.dedent(
    """
    import builtins, json, os, sys
    root = sys.argv[1]
    # The package is read-only: any write below it fails, as on a read-only site-packages.
    real_open, real_makedirs = builtins.open, os.makedirs
    def refuse(path, mode="r", *args, **kwargs):
        if str(os.fspath(path)).startswith(root) and any(c in mode for c in "wax+"):
            raise PermissionError(30, "Read-only file system", path)
        return real_open(path, mode, *args, **kwargs)
    def refuse_dirs(path, *args, **kwargs):
        if str(os.fspath(path)).startswith(root):
            raise PermissionError(30, "Read-only file system", path)
        return real_makedirs(path, *args, **kwargs)
    builtins.open, os.makedirs = refuse, refuse_dirs
    import fnn
    from fnn import kernels, shipped
    assert fnn.__file__.startswith(root), fnn.__file__
    sys.path.insert(0, sys.argv[2])
    from test_shipped import digests
    result = {"why_not": shipped.why_not_served(), "digests": digests(),
              "compiled": sum(sum(k.stats.cache_misses.values()) for k in kernels.ENTRIES)}
    print(json.dumps(result))
    """
)


def _child(root: Path, cache: Path, patch: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(root), NUMBA_CACHE_DIR=str(cache))
    done = subprocess.run([sys.executable, "-c", patch + CHILD, str(root),
                           str(Path(__file__).parent)], cwd=cache, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1]) | {"stderr": done.stderr}


def _listing(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_shipped_kernels_give_the_same_bits_without_compiling_from_a_read_only_package(
    shipped_copy, tmp_path
):
    host = set(codegen.get_host_cpu_features().split(","))
    lacking = [f for f in shipped.FEATURES.split(",") if f not in host]
    if lacking:  # the test below, on the fallback, holds on such a CPU
        pytest.skip(f"this CPU lacks {lacking}: the shipped kernels are not for it")
    before = _listing(shipped_copy)
    child = _child(shipped_copy, tmp_path)
    assert child["why_not"] is None
    assert child["compiled"] == 0, child["stderr"]  # every entry kernel loaded, none compiled
    assert "compiling" not in child["stderr"]
    assert child["digests"] == digests()  # this process's kernels, compiled for this CPU
    assert _listing(shipped_copy) == before


def test_where_the_cpu_lacks_avx2_the_kernels_compile_and_the_notice_says_why(
    shipped_copy, tmp_path
):
    # The host's features as Numba reads them, without AVX2: the shipped code must not serve.
    without_avx2 = textwrap.dedent(
        """
        import numba.core.codegen as codegen
        host = codegen.get_host_cpu_features()
        codegen.get_host_cpu_features = lambda: host.replace("+avx2", "-avx2")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(shipped_copy), NUMBA_CACHE_DIR=str(tmp_path))
    script = without_avx2 + textwrap.dedent(
        """
        import numpy as np
        import fnn
        from fnn import kernels, shipped
        print(shipped.why_not_served())
        print(type(kernels.train_and_evaluate._cache).__name__)
        # The engine would compile now; stop it there (after the notice) instead of waiting:
        # with compiling off, Numba refuses ("compilation disabled").
        kernels.train_and_evaluate._can_compile = False
        net = fnn.mlp([2, 1])
        fnn.grad(net, fnn.init(net, key=0), np.zeros((4, 2)), np.zeros(4))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert "RuntimeError: compilation disabled" in done.stderr, done.stderr
    why, cache_type = done.stdout.splitlines()[:2]
    assert why == "this CPU lacks avx2 (they need an x86-64 CPU with AVX2)"
    assert cache_type == "FunctionCache"  # Numba's own cache only: compiled here, as before
    notices = [line for line in done.stderr.splitlines() if line.startswith("fnn: compiling")]
    assert len(notices) == 1, done.stderr
    assert notices[0].endswith(
        "the kernels shipped with fnn cannot serve: this CPU lacks avx2 (they need an x86-64 "
        "CPU with AVX2))"
    )


def test_a_checkout_has_no_shipped_kernels_and_says_so():
    if shipped.FOLDER.is_dir():
        pytest.skip("this fnn was installed from a wheel that ships kernels")
    assert shipped.why_not_served() == (
        "this install has no shipped kernels (a checkout or an editable install)"
    )
    assert type(kernels.train_and_evaluate._cache).__name__ == "FunctionCache"


def test_the_wheel_build_asks_for_the_runtime_dependencies_it_compiles_with():
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    dependencies = re.search(r"^dependencies = (\[.*?\])$", pyproject, re.MULTILINE)
    sys.path.insert(0, str(PACKAGE.parent / "build_backend"))
    try:
        import kernel_wheel
    finally:
        sys.path.pop(0)
    assert kernel_wheel.RUNTIME == json.loads(dependencies.group(1))

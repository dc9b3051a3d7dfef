"""The one engine: every public function shares its compiled code, the package imports cleanly."""

import ast
import gc
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fnn
from fnn import engine, flat, kernels

PACKAGE = Path(fnn.__file__).parent


def _run(script: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_after_fit_no_other_function_compiles_anything():
    """A fresh process: fit first, then every composable function, in both dtypes. No kernel
    gains a compiled version (in memory or loaded from disk) after fit's; then opt_step's own
    small kernel (``update``: one update from a given gradient) is the one entry kernel that
    does (with it, when it compiles, the helpers it calls that this process has not compiled:
    which depends on what the disk cache held for fit's engine)."""
    out = _run("""
        import numpy as np
        import fnn
        from numba.core.registry import CPUDispatcher
        from fnn import kernels

        dispatchers = [f for f in vars(kernels).values() if isinstance(f, CPUDispatcher)]

        def versions():
            return {f.__name__: len(f.overloads) for f in dispatchers}

        rng = np.random.default_rng(0)
        for dtype in (np.float64, np.float32):
            net = fnn.mlp([3, 8, 8, 2], output="softmax")
            params = fnn.init(net, key=0, dtype=dtype)
            X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
            opt = fnn.adam(0.01)
            result = fnn.fit(net, params, opt, X, y, epochs=2, batch_size=16,
                             validation=(X, y))
            after_fit = versions()
            g = fnn.grad(net, params, X, y, l2=0.1)
            fnn.value_and_grad(net, params, X, y)
            fnn.loss(net, params, X, y)
            fnn.accuracy(net, params, X, y)
            out, cache = fnn.forward(net, params, X)
            fnn.backward(net, params, cache, y)
            fnn.predict(net, params, X)
            fnn.predict_proba(net, params, X)
            assert versions() == after_fit, (dtype, after_fit, versions())
            fnn.opt_step(opt, params, g, fnn.opt_init(opt, params))
            gained = {name for name, count in versions().items() if count != after_fit[name]}
            assert {name for name in gained if not name.startswith("_")} == {"update"}, gained
            print(dtype.__name__, after_fit["train_and_evaluate"])
    """)
    assert out.split() == ["float64", "1", "float32", "2"]  # one engine version per dtype


def _recording_variants(monkeypatch) -> list:
    """Replace the engine's variants with recorders of (name, args); return the record. A
    recorder has no compiled versions, so the engine picks the first variant that can run
    each call (see engine.engine_kernel)."""
    calls = []
    monkeypatch.setattr(engine, "_CHOSEN", {})  # the variants chosen so far
    for name in ("train_and_evaluate", "train_and_evaluate_full", "train_and_evaluate_threaded"):
        variant = getattr(kernels, name)

        def recorded(*args, name=name, variant=variant):
            calls.append((name, args))
            return variant(*args)

        monkeypatch.setattr(kernels, name, recorded)
    return calls


X_PLAIN = np.random.default_rng(2).normal(size=(30, 3))
Y_PLAIN = (X_PLAIN[:, 0] > 0).astype(int)


def test_plain_calls_run_the_common_variant_and_get_the_full_variants_bits(monkeypatch):
    """fit, grad and predict without dropout, clipping, a smooth activation or a loss beyond
    bce, ce and mse run ``train_and_evaluate``, which leaves those out of its compiled code;
    the full variant, given the same arguments, returns the same bits."""
    calls = _recording_variants(monkeypatch)
    net = fnn.mlp([3, 6, 4, 1], hidden=["relu", "tanh"], output="sigmoid")
    params = fnn.init(net, key=1)
    fnn.fit(net, params, fnn.adam(0.01), X_PLAIN, Y_PLAIN, epochs=3, batch_size=8,
            validation=(X_PLAIN, Y_PLAIN), l2=0.01,
            early_stopping=fnn.early_stopping(patience=2))  # fmt: skip
    fnn.grad(net, params, X_PLAIN, Y_PLAIN)
    fnn.predict(net, params, X_PLAIN)
    softmax = fnn.mlp([3, 5, 3], output="softmax")
    fnn.fit(softmax, fnn.init(softmax, key=2, dtype=np.float32), fnn.sgd(0.1), X_PLAIN,
            Y_PLAIN + (X_PLAIN[:, 1] > 0), epochs=2, batch_size=16)  # fmt: skip
    assert [name for name, _ in calls] == ["train_and_evaluate"] * 4
    monkeypatch.undo()  # the variants themselves again
    for _, args in calls:
        common, full = kernels.train_and_evaluate(*args), kernels.train_and_evaluate_full(*args)
        common, full = (*common[:-1], *common[-1]), (*full[:-1], *full[-1])  # the watch's too
        assert len(common) == len(full)
        for got, want in zip(common, full):
            assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


@pytest.mark.parametrize(
    "net, opt, dropout_key",
    [
        (fnn.mlp([3, 6, 1], dropout=0.5), fnn.sgd(0.1), None),  # fit's dropout
        (fnn.mlp([3, 6, 1], dropout=0.5), None, 4),  # a keyed forward pass
        (fnn.mlp([3, 6, 1]), fnn.adam(0.01, clip_norm=1.0), None),
        (fnn.mlp([3, 6, 1], hidden="gelu"), fnn.sgd(0.1), None),
        (fnn.mlp([3, 6, 1], output="identity", loss="huber"), fnn.sgd(0.1), None),
    ],
)
def test_rare_features_run_the_full_variant(monkeypatch, net, opt, dropout_key):
    calls = _recording_variants(monkeypatch)
    params = fnn.init(net, key=0)
    if opt is None:
        fnn.forward(net, params, X_PLAIN, dropout_key=dropout_key)
    else:
        fnn.fit(net, params, opt, X_PLAIN, Y_PLAIN, epochs=1)
    assert [name for name, _ in calls] == ["train_and_evaluate_full"]


def test_a_call_runs_a_variant_compiled_already_rather_than_compile_another():
    """A fresh process: a fit with dropout compiles the full variant; predict, grad and a plain
    fit of that dtype then run it too, and the common variant never compiles."""
    out = _run("""
        import numpy as np
        import fnn
        from fnn import kernels

        X = np.random.default_rng(0).normal(size=(20, 3))
        y = (X[:, 0] > 0).astype(int)
        net = fnn.mlp([3, 5, 1], dropout=0.3)
        params = fnn.init(net, key=0, dtype=np.float32)
        fnn.fit(net, params, fnn.sgd(0.1), X, y, epochs=1)
        fnn.predict(net, params, X)
        fnn.grad(net, params, X, y)
        plain = fnn.mlp([3, 4, 1])
        fnn.fit(plain, fnn.init(plain, key=1, dtype=np.float32), fnn.adam(0.1), X, y, epochs=1)
        print(len(kernels.train_and_evaluate_full.overloads),
              len(kernels.train_and_evaluate.overloads))
    """)
    assert out.split() == ["1", "0"]


@pytest.mark.parametrize("compiling", [True, False])
def test_a_compile_runs_without_full_collections_and_they_come_back(monkeypatch, compiling):
    """The compile of a kernel happens in compile_notice.announce: the engine calls it with the
    garbage collector's full collections off (a third threshold out of reach), and not at all
    once the kernel is compiled in this process (every later call: a set lookup); every call
    ends with the thresholds it found."""
    seen = []
    monkeypatch.setattr(engine, "_COMPILED", set())
    monkeypatch.setattr(engine, "_compiled_for", lambda *args: not compiling)
    monkeypatch.setattr(engine, "announce", lambda *args: seen.append(gc.get_threshold()))
    before = gc.get_threshold()
    net = fnn.mlp([3, 4, 1])
    params = fnn.init(net, key=0)
    g = fnn.grad(net, params, X_PLAIN, Y_PLAIN)
    fnn.opt_step(fnn.sgd(0.1), params, g, fnn.opt_init(fnn.sgd(0.1), params))
    expected = [(*before[:2], 1 << 30)] * 2 if compiling else []
    assert seen == expected
    assert gc.get_threshold() == before


def test_import_fnn_imports_neither_testing_nor_hypothesis():
    out = _run("""
        import sys
        import fnn
        print("fnn.testing" in sys.modules, "hypothesis" in sys.modules)
        fnn.testing.check_grads  # loaded on first use
        print("fnn.testing" in sys.modules)
    """)
    assert out.split() == ["False", "False", "True"]


def test_the_package_has_no_import_cycles():
    graph = {}
    for path in PACKAGE.glob("*.py"):
        module = f"fnn.{path.stem}"
        imported = set()
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fnn"):
                if node.module == "fnn":
                    imported |= {f"fnn.{alias.name}" for alias in node.names}
                else:
                    imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names if a.name.startswith("fnn.")}
        graph[module] = imported - {module}
    graph.pop("fnn.__init__")
    visiting, done = set(), set()

    def visit(module, trail):
        assert module not in visiting, f"import cycle: {' -> '.join(trail + [module])}"
        if module in done or module not in graph:
            return
        visiting.add(module)
        for target in graph[module]:
            visit(target, trail + [module])
        visiting.discard(module)
        done.add(module)

    for module in graph:
        visit(module, [])


def test_backward_reuses_the_forward_cache_without_a_copy():
    net = fnn.mlp([3, 5, 2], output="softmax")
    params = fnn.init(net, key=0)
    X = np.random.default_rng(1).normal(size=(7, 3))
    _, cache = fnn.forward(net, params, X)
    zbuf, abuf = flat.cache_buffers(cache, net.sizes, 7, np.dtype(np.float64))
    assert all(np.shares_memory(zbuf, Z) for Z in cache.preactivations)
    assert all(np.shares_memory(abuf, A) for A in cache.activations)
    # a hand-made Cache of the same values (copies) gives the same gradient
    copied = fnn.Cache(
        tuple(np.array(A) for A in cache.activations),
        tuple(np.array(Z) for Z in cache.preactivations),
    )
    assert flat.cache_buffers(copied, net.sizes, 7, np.dtype(np.float64)) is None
    y = [0, 1, 1, 0, 1, 0, 0]
    for got, want in zip(fnn.backward(net, params, copied, y).layers,
                         fnn.backward(net, params, cache, y).layers):  # fmt: skip
        np.testing.assert_array_equal(got.W, want.W)
        np.testing.assert_array_equal(got.b, want.b)


def test_parameters_cross_the_boundary_without_a_copy():
    net = fnn.mlp([100, 200, 1])  # above flat.ZERO_COPY_MIN parameters
    params = fnn.init(net, key=0)
    theta = flat.pack(params, np.dtype(np.float64))
    assert all(np.shares_memory(theta, part) for layer in params.layers for part in layer)
    hand_made = fnn.Params(tuple(fnn.Layer(W.copy(), b.copy()) for W, b in params.layers))
    np.testing.assert_array_equal(flat.pack(hand_made, np.dtype(np.float64)), theta)
    assert not np.shares_memory(flat.pack(hand_made, np.dtype(np.float64)), theta)

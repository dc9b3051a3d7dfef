"""Faults around a call: BLAS threads and Python threads, Ctrl-C, read-only deployments.

Each runs where the fault happens: a child process with its own environment or signal, or
several Python threads at once.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import fnn
from fnn.engine import blas_thread_setters
from fnn.threads import default_threads

PACKAGE = Path(fnn.__file__).parent


def child(script: str, *args: str, env: dict | None = None, **options):
    """Run ``script`` in a fresh Python: its CompletedProcess (stdout, stderr, returncode)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
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
    runs = [child(BITS, env={"OPENBLAS_NUM_THREADS": str(n)}) for n in (1, 2)]
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


# -- Ctrl-C ---------------------------------------------------------------------------------------

#: A child that interrupts itself (SIGINT to its own process, as Ctrl-C sends to the
#: foreground process) once ``NEEDED`` engine calls have begun, in a call that runs for many
#: batches or matrix products, and prints what it saw. The interrupt waits for that condition,
#: never for a clock, so the test holds on a machine of any speed or load. With ``--full`` the
#: child then runs the same call uninterrupted, so that the process CPU time (which another
#: process's load hardly changes) of the interrupted call can be compared with the whole.
INTERRUPTED = """
    import json, os, signal, sys, threading, time
    import numpy as np
    import fnn
    from fnn import engine

    case, needed, full = sys.argv[1], int(sys.argv[2]), "--full" in sys.argv
    # Ctrl-C as in a terminal, even where this ran from a background job (which starts with
    # SIGINT ignored, and then Python installs no handler for it)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = np.random.default_rng(0)
    small = fnn.mlp([2, 8, 1])  # plain loops, no BLAS: one update is a few microseconds
    small_params = fnn.init(small, key=0)
    if case.startswith("fit"):  # one check per batch
        X = rng.standard_normal((1_000_000 if case == "fit" else 20_000, 2))
        y = (X[:, 0] > 0).astype(np.int64)
        options = dict(batch_size=1, epochs=1 if case == "fit" else 500, key=3)
        options["progress"] = case == "fit-progress"
        call = lambda: fnn.fit(small, small_params, fnn.sgd(0.01), X, y, **options)
        redo = lambda epochs: fnn.fit(small, small_params, fnn.sgd(0.01), X, y, batch_size=1,
                                      epochs=epochs, key=3)
        fnn.fit(small, small_params, fnn.sgd(0.01), X[:5], y[:5], epochs=1)  # load kernels
        params = small_params
    elif case == "many":  # 16 members side by side (fit_many): one check per batch
        X = rng.standard_normal((20_000, 2))
        y = (X[:, 0] > 0).astype(np.int64)
        members = [fnn.init(small, key=k) for k in range(16)]
        call = lambda: fnn.fit_many(small, members, fnn.sgd(0.01), X, y, batch_size=1,
                                    epochs=500, threads=2)
        fnn.fit_many(small, members, fnn.sgd(0.01), X[:5], y[:5], epochs=1)  # load kernels
        params = members[0]
    elif case == "lbfgs":  # full-batch evaluations of ~0.01 s, never converging
        net = fnn.mlp([2, 32, 32, 1])
        params = fnn.init(net, key=0)
        X = rng.standard_normal((20_000, 2))
        y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
        opt = fnn.lbfgs(gtol=0.0, ftol=0.0, max_evaluations=10**9)
        call = lambda: fnn.fit(net, params, opt, X, y, epochs=10**6)
        redo = lambda epochs: fnn.fit(net, params, opt, X, y, epochs=epochs)
        fnn.fit(net, params, opt, X[:2000], y[:2000], epochs=1)  # shards: the threaded kernel too
    elif case == "loss":  # many rows: one check per chunk of rows
        net = fnn.mlp([256, 1024, 1024, 1024, 10], output="softmax")
        params = fnn.init(net, key=0, dtype=np.float32)
        X = rng.standard_normal((100_000, 256)).astype(np.float32)
        y = rng.integers(0, 10, len(X))
        call = lambda: fnn.loss(net, params, X, y)
        fnn.loss(net, params, X[:3], y[:3])
    else:  # one batch of wide layers: one check per layer, 8 products (16 for grad)
        dtype = np.float32 if case == "forward" else np.float64
        net = fnn.mlp([1024] * 8 + [10], output="softmax")
        params = fnn.init(net, key=0, dtype=dtype)
        X = rng.standard_normal((1000 if case == "direct" else 3000, 1024)).astype(dtype)
        y = rng.integers(0, 10, len(X))
        if case == "direct":  # below the threshold: run in the calling thread
            engine.THREAD_WORK = 1 << 62
        if case == "forward":
            call = lambda: fnn.forward(net, params, X)
        else:
            call = lambda: fnn.grad(net, params, X, y)
        # load the kernels first: 128 rows are cut into 2 shards, so the threaded kernel loads too
        # (the call below is sharded; loading it after the Ctrl-C would be timed as latency)
        fnn.grad(net, params, X[:128], y[:128])
    inputs = [X, y] + [a for layer in params.layers for a in layer]
    copies = [a.copy() for a in inputs]

    # Count the engine calls as they begin: the engine's own (in its worker thread, or in
    # this one for "direct") and its calls of fit_many's members side by side.
    begun, ended = [], []
    def counted(module, name):
        original = getattr(module, name)
        def wrapper(*args, **kwargs):
            begun.append(time.perf_counter())
            try:
                return original(*args, **kwargs)
            finally:
                ended.append(time.perf_counter())
        setattr(module, name, wrapper)
    counted(engine, "_pinned")
    counted(engine, "map_on_threads")
    sent = []

    def interrupt():
        while len(begun) < needed:
            time.sleep(0.001)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    report = {}
    started, cpu = time.perf_counter(), time.process_time()
    try:
        call()
        report["outcome"] = "finished"
    except KeyboardInterrupt as error:
        report["latency"] = time.perf_counter() - sent[0]
        report["outcome"] = "KeyboardInterrupt"
        report["running"] = len(begun) - len(ended)  # engine calls not returned yet
        history = getattr(error, "history", None)
        if history is not None:
            report["epochs"] = len(history.loss)
            if len(history.loss):  # the same as a fit of that many epochs
                again = redo(len(history.loss)).history
                report["history_matches"] = bool(np.array_equal(history.loss, again.loss))
    report["ran"] = time.perf_counter() - started
    report["cpu"] = time.process_time() - cpu
    report["intact"] = all(np.array_equal(a, b) for a, b in zip(inputs, copies))
    # fnn's threads but the engine's own, which waits for the next call
    report["threads"] = [t.name for t in threading.enumerate()
                         if t.name.startswith("fnn") and t.name != "fnn-engine"]
    if full:
        cpu = time.process_time()
        call()
        report["cpu_full"] = time.process_time() - cpu
    print(json.dumps(report))
"""


def interrupted(case: str, needed: int = 1, full: bool = False) -> dict:
    """Run INTERRUPTED's ``case``, interrupted once ``needed`` engine calls have begun."""
    options = ["--full"] if full else []
    result = child(INTERRUPTED, case, str(needed), *options)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    print(case, report)  # the measured latency, shown with pytest -s
    return report


def stopped_early(report: dict) -> bool:
    """The interrupted call spent less than half the CPU time of the whole call: it stopped
    within one batch or matrix product of several, not at the end (CPU time, not wall time,
    so another process's load does not decide it)."""
    return report["cpu"] < 0.5 * report["cpu_full"]


def test_ctrl_c_stops_one_huge_epoch_of_fit_at_once():
    report = interrupted("fit", full=True)
    assert report["outcome"] == "KeyboardInterrupt" and report["intact"]
    assert report["epochs"] == 0 and report["threads"] == [] and report["running"] == 0
    assert stopped_early(report)


# fit-epochs: 50 epochs per engine call (a million updates), so the second call begins after
# 50 finished epochs; fit-progress: one epoch in its first call; lbfgs: an iteration is at
# most 21 evaluations (scipy's line search takes at most 20 steps).
@pytest.mark.parametrize("case, needed", [("fit-epochs", 2), ("fit-progress", 2), ("lbfgs", 25)])
def test_ctrl_c_stops_fit_and_keeps_the_finished_epochs(case, needed):
    report = interrupted(case, needed)
    assert report["outcome"] == "KeyboardInterrupt" and report["intact"]
    assert report["epochs"] >= 1 and report["history_matches"]
    assert report["threads"] == [] and report["running"] == 0


def test_ctrl_c_stops_members_side_by_side_within_a_batch():
    report = interrupted("many")
    assert report["outcome"] == "KeyboardInterrupt" and report["intact"]
    assert report["threads"] == [] and report["running"] == 0  # the members' threads joined


@pytest.mark.parametrize("case", ["grad", "forward", "loss"])
def test_ctrl_c_stops_grad_forward_and_loss_within_a_matrix_product(case):
    report = interrupted(case, full=True)
    assert report["outcome"] == "KeyboardInterrupt" and report["intact"]
    assert report["threads"] == [] and report["running"] == 0  # the call had returned
    assert stopped_early(report)


def test_ctrl_c_during_a_call_in_the_calling_thread_is_a_keyboard_interrupt():
    """Not Numba's ``SystemError: ... returned a result with an exception set``."""
    report = interrupted("direct")
    assert report["outcome"] == "KeyboardInterrupt" and report["intact"]


# -- read-only deployments -----------------------------------------------------------------------


def without_root_powers():  # pragma: no cover - runs in the child, before exec
    """As root, drop the capabilities that ignore file permissions (the child stays uid 0,
    so it can still run the interpreter under /root, but read-only now means read-only)."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, effective at exec
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


READ_ONLY = """
    import os, sys, tempfile, warnings
    for place in (os.environ["NUMBA_CACHE_DIR"], os.environ["HOME"], sys.argv[1]):
        try:  # the deployment really is read-only for this process
            tempfile.TemporaryFile(dir=place).close()
            sys.exit(f"could write in {place}")
        except PermissionError:
            pass
    import numpy as np
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import fnn
    assert fnn.__file__.startswith(sys.argv[1]), fnn.__file__
    net = fnn.mlp([2, 3, 1])
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    result = fnn.fit(net, fnn.init(net, key=0), fnn.adam(0.1), X, [0, 1, 1, 1], epochs=300)
    print(fnn.predict(net, result.params, X).tolist())
    for warning in caught:
        print(warning.category.__name__, warning.message)
"""


def test_a_read_only_deployment_imports_and_trains_with_one_warning(tmp_path):
    """Package, Numba cache directory and HOME read-only (as root: without the capabilities
    that ignore permissions): fit works, uncached, after one warning that says what to do."""
    package = tmp_path / "site"
    shutil.copytree(PACKAGE, package / "fnn", ignore=shutil.ignore_patterns("__pycache__"))
    for place in ("home", "cache"):
        (tmp_path / place).mkdir()
    subprocess.run(["chmod", "-R", "a-w", str(tmp_path)], check=True)
    try:
        run = child(
            READ_ONLY,
            str(package),
            env={"PYTHONPATH": str(package), "HOME": str(tmp_path / "home"),
                 "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONDONTWRITEBYTECODE": "1"},
            cwd=tmp_path,
            preexec_fn=without_root_powers,
        )  # fmt: skip
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(tmp_path)], check=True)
    assert run.returncode == 0, run.stderr
    predictions, *warnings = run.stdout.splitlines()
    assert predictions == "[0, 1, 1, 1]"
    assert len(warnings) == 1 and warnings[0].startswith("RuntimeWarning")
    assert "set NUMBA_CACHE_DIR to a writable directory" in warnings[0]
    assert "python -m fnn.warm" in warnings[0]
    assert "fnn: compiling the engine (float64) for fit" in run.stderr  # said, not silent


def test_python_m_fnn_warm_compiles_every_kernel_any_call_needs():
    """After ``python -m fnn.warm``, no public call needs a version of a kernel it lacks."""
    out = child("""
        import runpy
        import numpy as np
        from numba.core.registry import CPUDispatcher
        import fnn
        from fnn import kernels

        runpy.run_module("fnn.warm", run_name="__main__")
        dispatchers = [f for f in vars(kernels).values() if isinstance(f, CPUDispatcher)]
        entries = [f for f in dispatchers if f.__name__[0] != "_"]

        def compiled():  # versions each entry kernel compiled in this process, not loaded
            return {f.__name__: sum(f.stats.cache_misses.values()) for f in entries}

        warmed = compiled()  # fnn.warm compiles the big ones in processes of its own
        rng = np.random.default_rng(0)
        for dtype in (np.float64, np.float32):
            for sizes, output in (([3, 5, 1], "sigmoid"), ([3, 4, 4, 2], "identity")):
                net = fnn.mlp(sizes, output=output)
                params = fnn.init(net, key=1, dtype=dtype)
                X = rng.normal(size=(9, 3))
                y = rng.integers(0, 2, 9) if output == "sigmoid" else rng.normal(size=(9, 2))
                for opt in (fnn.sgd(0.1), fnn.adamw(fnn.cosine_decay(0.1, 5))):
                    fnn.fit(net, params, opt, X, y, epochs=2, batch_size=4, l2=0.1,
                            validation=(X, y), early_stopping=fnn.early_stopping(1))
                    fnn.fit_many(net, [params, params], opt, X, y, epochs=2, batch_size=4,
                                 l2=0.1)  # members side by side
                    g = fnn.grad(net, params, X, y)
                    fnn.opt_step(opt, params, g, fnn.opt_init(opt, params))
                out, cache = fnn.forward(net, params, X)
                fnn.backward(net, params, cache, y)
                fnn.predict(net, params, X)
                fnn.loss(net, params, X, y)
            net = fnn.mlp([3, 4, 4, 1], hidden=["gelu", "elu"], dropout=[0.2, 0.0])
            params = fnn.init(net, key=2, dtype=dtype)
            y = rng.integers(0, 2, 9)
            fnn.fit(net, params, fnn.adam(0.01), X, y, epochs=3, validation=(X, y),
                    reduce_on_plateau=fnn.reduce_on_plateau(patience=1))
            fnn.value_and_grad(net, params, X, y, dropout_key=3)
            fnn.forward(net, params, X, dropout_key=4)
            members = [r.params for r in fnn.fit_many(net, [params, params], fnn.sgd(0.1), X, y,
                                                      epochs=2, threads=2)]
            fnn.ensemble_proba(net, members, X, threads=2)
            plain = fnn.mlp([3, 4, 1], hidden="silu")
            fnn.fit(plain, fnn.init(plain, key=5, dtype=dtype), fnn.lbfgs(), X, y, epochs=3)
            wide = fnn.mlp([3, 256, 256, 1])  # a batch of 128 rows in 2 shards, on threads
            fnn.fit(wide, fnn.init(wide, key=6, dtype=dtype), fnn.sgd(0.1), rng.normal(size=(128, 3)),
                    rng.integers(0, 2, 128), epochs=1, threads=2)
        fnn.minibatches(5, 10**6, 1000)
        fnn.fold_in(2**64 - 1, 2**63)
        # every call loaded what it needed from the cache: nothing compiled since fnn.warm
        print(compiled() == warmed, sorted(f.__name__ for f in entries if f.overloads))
    """)
    assert out.returncode == 0, out.stderr
    # the threaded variant only where threads can run
    threaded = ["train_and_evaluate_threaded"] if default_threads() > 1 else []
    named = ["fold_in", "in_loops", "permutation", "shard_rows", "train_and_evaluate",
             "train_and_evaluate_full", "update"]  # fmt: skip
    kernels = str(sorted([*named, "train_members", *threaded]))
    assert out.stdout.splitlines()[-1] == f"True {kernels}", out.stdout

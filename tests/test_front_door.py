"""What a newcomer meets first: compile notices, bounded memory on big inputs, visible early stops."""

import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fnn
from fnn import compile_notice, engine

# -- the first-use compile notice -------------------------------------------------------------------

KERNEL_MODULE = """
from numba import njit

@njit(cache=True)
def total(x):
    return x.sum()
"""


def _fresh_kernel(tmp_path, name):
    """A cached Numba kernel in a module of its own, with an empty disk cache."""
    (tmp_path / f"{name}.py").write_text(KERNEL_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        return __import__(name).total
    finally:
        sys.path.remove(str(tmp_path))


def test_notice_only_when_the_kernel_must_compile(tmp_path):
    kernel = _fresh_kernel(tmp_path, "fresh_kernel_a")
    args = (np.ones(3),)
    said = io.StringIO()
    assert compile_notice.announce(kernel, args, 0, "grad", file=said)
    assert said.getvalue().count("\n") == 1
    assert "float64" in said.getvalue() and "grad" in said.getvalue()
    assert kernel(*args) == 3.0
    quiet = io.StringIO()  # compiled in this process now
    assert not compile_notice.announce(kernel, args, 0, "grad", file=quiet)
    assert quiet.getvalue() == ""
    # float32 is another compiled version: it must compile (and be announced) on its own
    assert compile_notice.will_compile(kernel, (np.ones(3, np.float32),), 0)


def test_no_notice_in_a_new_process_when_the_disk_cache_is_warm(tmp_path):
    kernel = _fresh_kernel(tmp_path, "fresh_kernel_b")
    kernel(np.ones(3))  # compiles and writes the disk cache
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        sys.path.insert(0, {str(tmp_path)!r})
        from fresh_kernel_b import total
        from fnn.compile_notice import will_compile
        print(will_compile(total, (np.ones(3),), 0), will_compile(total, (np.ones(3, np.float32),), 0))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_progress_shows_compiling_instead_of_a_frozen_zero(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain display, written to our stream
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)

    def announce(kernel, args, dtype_arg, purpose, on_compile):  # as if the cache were empty
        on_compile()

    monkeypatch.setattr(engine, "_compiled_for", lambda *args: False)
    monkeypatch.setattr(engine, "announce", announce)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    net = fnn.mlp([2, 4, 1])
    X = np.random.default_rng(0).normal(size=(20, 2))
    fnn.fit(net, fnn.init(net), fnn.sgd(0.1), X, (X[:, 0] > 0).astype(int), epochs=3, progress=True)
    first_draw = stream.getvalue().split("\r")[1]
    assert "epoch 0/3" in first_draw and "compiling" in first_draw


# -- predictions in row chunks ----------------------------------------------------------------------


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
def test_chunked_outputs_equal_one_pass(monkeypatch, output):
    rng = np.random.default_rng(1)
    n_out = 3 if output != "sigmoid" else 1
    net = fnn.mlp([4, 7, 5, n_out], hidden="tanh", output=output)
    params = fnn.init(net, key=2)
    X = rng.normal(size=(53, 4))
    y = rng.integers(0, 3, 53) if output == "softmax" else rng.integers(0, 2, (53, n_out))
    out, cache = fnn.forward(net, params, X)  # one pass, the reference
    whole = (fnn.predict(net, params, X), fnn.loss(net, params, X, y, l2=0.1))
    monkeypatch.setattr(engine, "CHUNK_VALUES", 40)  # 40 // (4 + 7 + 5 + n_out) rows per chunk
    assert 53 / engine.chunk_rows(net.sizes) > 10
    np.testing.assert_array_equal(fnn.predict_proba(net, params, X), out)
    np.testing.assert_array_equal(fnn.predict(net, params, X), whole[0])
    assert fnn.loss(net, params, X, y, l2=0.1) == pytest.approx(whole[1], rel=1e-14)
    if output != "identity":
        monkeypatch.setattr(engine, "CHUNK_VALUES", 10**9)
        unchunked = fnn.accuracy(net, params, X, y)
        monkeypatch.setattr(engine, "CHUNK_VALUES", 40)
        assert fnn.accuracy(net, params, X, y) == unchunked


def test_predict_memory_is_bounded_on_big_inputs():
    """200,000 rows through 10-64-64-1: Z and A of all layers at once would take 413 MB more."""
    script = textwrap.dedent("""
        import resource
        import numpy as np
        import fnn
        net = fnn.mlp([10, 64, 64, 1])
        params = fnn.init(net, key=0)
        X = np.random.default_rng(0).normal(size=(200_000, 10))
        fnn.predict_proba(net, params, X[:10])  # load the kernels first
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        p = fnn.predict_proba(net, params, X)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) / 1024)  # MiB (ru_maxrss is in KiB on Linux)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    # the result (1.6 MB) + two chunk buffers (8 MiB) + the logits; nowhere near 400 MB
    assert float(out.stdout) < 40


def test_fit_validation_memory_is_bounded():
    """50,000 validation rows through 10-256-256-1: all layers at once would take 400 MB more."""
    script = textwrap.dedent("""
        import resource
        import numpy as np
        import fnn
        net = fnn.mlp([10, 256, 256, 1])
        params = fnn.init(net, key=0)
        rng = np.random.default_rng(0)
        X, X_val = rng.normal(size=(200, 10)), rng.normal(size=(50_000, 10))
        y, y_val = (X[:, 0] > 0).astype(int), (X_val[:, 0] > 0).astype(int)
        def train(rows):
            fnn.fit(net, params, fnn.adam(), X, y, epochs=1, validation=(X_val[:rows], y_val[:rows]))
        train(10)  # load the kernels first
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        train(50_000)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert float(out.stdout) < 40  # measured +10 MiB; +399 MiB before the chunked evaluation


# -- early stopping, visible --------------------------------------------------------------------------


def _stopping_fit(restore_best):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    net = fnn.mlp([2, 16, 1])
    return fnn.fit(
        net, fnn.init(net), fnn.adam(0.01), X[:200], y[:200], epochs=500, batch_size=32,
        validation=(X[200:], y[200:]),
        early_stopping=fnn.early_stopping(5, restore_best=restore_best),
    )  # fmt: skip


def test_history_says_where_training_stopped_and_which_params_came_back():
    best = _stopping_fit(restore_best=True).history
    epochs_run = len(best.loss)
    assert epochs_run < 500 and best.stopped_epoch == epochs_run - 1
    assert best.params_epoch == int(np.argmin(best.val_loss))
    assert best.params_epoch <= best.stopped_epoch - 5  # patience 5: five epochs without gain
    last = _stopping_fit(restore_best=False).history
    assert last.stopped_epoch == last.params_epoch == len(last.loss) - 1


def test_history_of_a_complete_run_has_no_stop():
    net = fnn.mlp([2, 3, 1])
    X = np.random.default_rng(0).normal(size=(10, 2))
    history = fnn.fit(
        net, fnn.init(net), fnn.sgd(0.1), X, (X[:, 0] > 0).astype(int), epochs=4
    ).history
    assert history.stopped_epoch is None and history.params_epoch == 3
    assert (
        fnn.fit(
            net, fnn.init(net), fnn.sgd(0.1), X, (X[:, 0] > 0).astype(int), epochs=0
        ).history.params_epoch
        is None
    )


def test_progress_says_it_stopped_early(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    net = fnn.mlp([2, 16, 1])
    history = fnn.fit(
        net, fnn.init(net), fnn.adam(0.01), X[:200], y[:200], epochs=500, batch_size=32,
        validation=(X[200:], y[200:]), early_stopping=fnn.early_stopping(5), progress=True,
    ).history  # fmt: skip
    last_line = stream.getvalue().rstrip().splitlines()[-1]
    assert last_line == (
        f"fit: stopped early after epoch {history.stopped_epoch + 1}/500; "
        f"returned the parameters of epoch {history.params_epoch + 1} (best)"
    )

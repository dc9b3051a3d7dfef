"""Data-parallel training: a large batch is cut into shards whose gradients are summed in shard
order, or a wide network's products into parts of its layers' units, so ``fit(threads=...)``
gives the same bits on any number of threads."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from reference import grad as reference_grad
from reference import one_hot

import fnn
from fnn import engine, kernels
from fnn.threads import default_threads

#: A network whose batches of 512 rows are cut into 8 shards of 64 rows (each above the
#: engine's 2**19 multiply-adds with its 137,524 parameters); more than 2 UPDATE_PART
#: parameters, so that its update runs in parts on the threads, each part summing the shards'
#: gradients first.
BIG = fnn.mlp([16, 360, 360, 4], output="softmax")
BIG_DROPOUT = fnn.mlp([16, 360, 360, 4], output="softmax", dropout=0.25)
#: A network too wide for shards: every product of a batch in parts of at most PART_ROWS units
#: or inputs (5 of its 1,100), computed by one BLAS call each, whichever thread runs them;
#: its 150,820 parameters update in parts on the threads too (more than 2 UPDATE_PART).
WIDE = fnn.mlp([16, 1100, 120], output="softmax")
WIDE_DROPOUT = fnn.mlp([16, 1100, 120], output="softmax", dropout=0.25)
BOTH = pytest.mark.parametrize("net", [BIG, WIDE], ids=["shards", "parts"])


def n_params(net):
    return sum((n_in + 1) * n_out for n_in, n_out in zip(net.sizes, net.sizes[1:]))


def problem(dtype=np.float64, n=1100, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 16)).astype(dtype)
    y = np.argmax(X[:, :4] + 0.5 * rng.standard_normal((n, 4)), axis=1)
    return X, y


def assert_same_bits(got, want):
    for a, b in zip(got.layers, want.layers):
        np.testing.assert_array_equal(a.W, b.W, strict=True)
        np.testing.assert_array_equal(a.b, b.b, strict=True)


def shard_rows(net, m):
    return kernels.shard_rows(m, n_params(net), max(net.sizes), kernels.DEFAULT_SHARD_WORK,
                              kernels.DEFAULT_MAX_SHARDS)  # fmt: skip


def test_the_shards_depend_on_the_batch_and_the_network_only():
    assert shard_rows(BIG, 512) == 64  # 8 shards
    assert shard_rows(BIG, 127) == 127  # fewer than two shards: one shard
    assert shard_rows(BIG, 128) == 64
    assert shard_rows(BIG, 4096) == 256  # at most 16 shards
    assert shard_rows(fnn.mlp([784, 256, 128, 10]), 128) == 64  # at least 64 rows
    assert shard_rows(BIG, 320) == 80  # a power of two of shards: 4, not 5 of 64 rows
    assert shard_rows(fnn.mlp([2, 25, 50, 50, 25, 1]), 900) == 113  # moons-gd: 8 shards
    assert shard_rows(fnn.mlp([2, 25, 50, 50, 25, 1]), 100) == 100  # too few rows for two
    assert shard_rows(fnn.mlp([2, 5, 2, 1]), 4096) == 4096  # moons-adam's net: too little work
    wide_f32 = fnn.mlp([784, 1024, 1024, 10])
    assert shard_rows(wide_f32, 256) == 256  # products in parts instead
    assert shard_rows(WIDE, 512) == 512
    assert kernels.PARTS_FROM <= 1100 and -(-1100 // kernels.PART_ROWS) == 5
    assert n_params(WIDE) >= 2 * kernels.UPDATE_PART
    assert n_params(BIG) >= 2 * kernels.UPDATE_PART
    assert engine.batch_threads(wide_f32, 256, None) == min(4, default_threads())
    assert engine.batch_threads(WIDE, 512, 8) == min(5, default_threads())
    moons_adam = fnn.mlp([2, 5, 2, 1])
    assert shard_rows(moons_adam, 64) == 64  # the seeds' small networks are never cut
    assert engine.batch_threads(moons_adam, 64, None) == 1
    assert engine.batch_threads(moons_adam, 64, 8) == 1  # threads cannot pay there
    assert engine.batch_threads(BIG, 512, None) == min(8, default_threads())
    assert engine.batch_threads(BIG, 512, 1) == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_bad_threads_name_the_argument(bad):
    X, y = problem()
    with pytest.raises((ValueError, TypeError), match="threads"):
        fnn.fit(BIG, fnn.init(BIG), fnn.sgd(0.1), X, y, epochs=1, threads=bad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_is_the_same_bits_on_one_and_two_threads(dtype):
    """Adam with l2, clipping, sample weights, validation and dropout: the shards of every
    batch of 512 rows run side by side or one after another, with the same result."""
    X, y = problem(dtype)
    weights = np.linspace(0.5, 2.0, len(X))
    options = dict(epochs=3, batch_size=512, key=5, l2=0.01, validation=(X[:50], y[:50]),
                   sample_weight=weights)  # fmt: skip
    nets = (BIG, BIG_DROPOUT, WIDE, WIDE_DROPOUT)
    for net, opt in zip(nets, [fnn.adam(0.01), fnn.adam(0.01, clip_norm=1.0)] * 2):
        params = fnn.init(net, key=1, dtype=dtype)
        one = fnn.fit(net, params, opt, X, y, threads=1, **options)
        two = fnn.fit(net, params, opt, X, y, threads=2, **options)
        auto = fnn.fit(net, params, opt, X, y, **options)
        for other in (two, auto):
            assert_same_bits(other.params, one.params)
            for a, b in zip(other.opt_state.slots, one.opt_state.slots):
                assert_same_bits(a, b)
            np.testing.assert_array_equal(other.history.loss, one.history.loss)
            np.testing.assert_array_equal(other.history.val_loss, one.history.val_loss)


@BOTH
@pytest.mark.parametrize(
    "opt, l2, batch",
    [(fnn.momentum(0.05), 0.1, 512), (fnn.sgd(0.05), 0.0, 512), (fnn.rmsprop(0.01), 0.0, 512),
     (fnn.adam(0.01), 0.0, 128)],
    ids=["momentum-l2", "sgd", "rmsprop", "adam-2-shards"],
)  # fmt: skip
@pytest.mark.parametrize("threads", [1, 2])
def test_fit_with_threads_is_the_loop_of_grad_and_opt_step(net, opt, l2, batch, threads):
    """fit on one or two threads == value_and_grad + opt_step by hand, on the same batches (the last
    one is not cut): the composable functions cut a batch as fit does. Without l2, fit's update
    adds the last shard's gradient itself (8 shards of 64 rows, or 2), in the same order."""
    X, y = problem()
    key = 3
    params = fnn.init(net, key=2)
    result = fnn.fit(net, params, opt, X, y, epochs=2, batch_size=batch, key=key, l2=l2,
                     threads=threads)  # fmt: skip
    state = fnn.opt_init(opt, params)
    for epoch in range(2):
        for rows in fnn.minibatches(fnn.fold_in(key, epoch), len(X), batch):
            _, grads = fnn.value_and_grad(net, params, X[rows], y[rows], l2=l2)
            params, state = fnn.opt_step(opt, params, grads, state)
    assert_same_bits(result.params, params)


def test_a_batch_in_parts_gathers_and_activates_on_the_threads_with_the_bits_of_one():
    """Enough inputs and units that the gather of a batch's inputs and every hidden layer's
    elementwise passes run in parts on the threads too (PARALLEL_VALUES): fit, in float32 and
    float64, gives the bits of one thread, and its gradient is the reference's."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((600, 160))
    y = np.argmax(X[:, :3], axis=1)
    net = fnn.mlp([160, 1100, 3], hidden="tanh", output="softmax")
    assert 160 * 512 >= kernels.PARALLEL_VALUES and 1100 * 512 >= kernels.PARALLEL_VALUES
    assert shard_rows(net, 512) == 512  # in parts, not shards
    for dtype in (np.float32, np.float64):
        params = fnn.init(net, key=1, dtype=dtype)
        options = dict(epochs=2, batch_size=512, key=3, validation=(X[:520], y[:520]))
        one = fnn.fit(net, params, fnn.adam(0.01), X.astype(dtype), y, threads=1, **options)
        two = fnn.fit(net, params, fnn.adam(0.01), X.astype(dtype), y, threads=2, **options)
        assert_same_bits(two.params, one.params)
        np.testing.assert_array_equal(two.history.val_loss, one.history.val_loss)
    params = fnn.init(net, key=2)
    got = fnn.grad(net, params, X[:512], y[:512])
    want = reference_grad(net, params, X[:512], one_hot(y[:512], 3))
    for layer, (dW, db) in zip(got.layers, want):
        np.testing.assert_allclose(layer.W, dW, rtol=1e-11, atol=1e-15)
        np.testing.assert_allclose(layer.b, db, rtol=1e-11, atol=1e-15)


@BOTH
def test_a_sharded_gradient_is_the_reference_gradient(net):
    X, y = problem(n=512)
    params = fnn.init(net, key=4)
    got = fnn.grad(net, params, X, y, l2=0.2)
    want = reference_grad(net, params, X, one_hot(y, net.sizes[-1]), l2=0.2)
    for layer, (dW, db) in zip(got.layers, want):
        np.testing.assert_allclose(layer.W, dW, rtol=1e-11, atol=1e-15)
        np.testing.assert_allclose(layer.b, db, rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("small_tn", [0, 1], ids=["whole", "small-tn"])
def test_weight_gradients_in_parts_for_the_blas_small_kernel_keep_every_guarantee(
    small_tn, monkeypatch
):
    """moons-gd's network on a full batch of 900 rows (8 shards of 113), with the weight
    gradients cut for OpenBLAS's small-matrix kernel (plan[SMALL_TN], forced either way
    whatever this machine's BLAS): fit gives the bits of one thread on two and of the loop of
    value_and_grad and opt_step, and its gradient is the reference's."""
    monkeypatch.setattr(engine, "blas_small_tn", lambda: small_tn)
    net = fnn.mlp([2, 25, 50, 50, 25, 1])
    assert shard_rows(net, 900) == 113
    assert kernels._small_weight_grad_parts.py_func(50, 50, 113) == 3  # cut when small_tn
    rng = np.random.default_rng(6)
    X = rng.standard_normal((900, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    params = fnn.init(net, key=1)
    one = fnn.fit(net, params, fnn.sgd(0.1), X, y, epochs=3, threads=1)
    two = fnn.fit(net, params, fnn.sgd(0.1), X, y, epochs=3, threads=2)
    assert_same_bits(two.params, one.params)
    looped = params
    for _ in range(3):
        _, grads = fnn.value_and_grad(net, looped, X, y)
        looped = fnn.opt_step(fnn.sgd(0.1), looped, grads, fnn.opt_init(fnn.sgd(0.1), looped))[0]
    assert_same_bits(looped, one.params)
    got = fnn.grad(net, params, X, y)
    want = reference_grad(net, params, X, y[:, None].astype(float))
    for layer, (dW, db) in zip(got.layers, want):
        np.testing.assert_allclose(layer.W, dW, rtol=1e-11, atol=1e-15)
        np.testing.assert_allclose(layer.b, db, rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("core, cut", [("Haswell", "0"), ("SkylakeX", "1")])
def test_the_small_kernel_cut_follows_the_blas_kernels(core, cut):
    """No cut with OpenBLAS's AVX2 kernels (Haswell's, which run such products in their packing
    kernel, where the cut measured slower); the cut with its SkylakeX kernels. Each forced by
    ``OPENBLAS_CORETYPE`` in a fresh process."""
    if not engine._openblas():
        pytest.skip("no OpenBLAS behind SciPy here: the cut is off (blas_small_tn() is 0)")
    with open("/proc/cpuinfo") as cpuinfo:  # Linux: _openblas() found its libraries there
        if core == "SkylakeX" and "avx512f" not in cpuinfo.read():
            pytest.skip("OpenBLAS's SkylakeX kernels need a CPU with AVX-512")
    code = "from fnn import engine; print(engine.blas_small_tn())"
    env = {**os.environ, "OPENBLAS_CORETYPE": core}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert out.split() == [cut]


@BOTH
def test_backward_of_a_sharded_batch_is_grad_bit_for_bit(net):
    X, y = problem(n=512)
    params = fnn.init(net, key=4)
    _, cache = fnn.forward(net, params, X)
    assert_same_bits(fnn.backward(net, params, cache, y, l2=0.2),
                     fnn.grad(net, params, X, y, l2=0.2))  # fmt: skip


def test_fits_from_several_python_threads_at_once_keep_their_bits():
    """Three threads each ask for two threads: one at a time gets Numba's pool, the others run
    their shards in their own thread; all finish with the one-thread result."""
    X, y = problem()
    params = fnn.init(BIG, key=6)
    want = fnn.fit(BIG, params, fnn.adam(0.01), X, y, epochs=4, batch_size=512, threads=1)
    results = [None] * 3

    def train(index):
        results[index] = fnn.fit(BIG, params, fnn.adam(0.01), X, y, epochs=4, batch_size=512,
                                 threads=2)  # fmt: skip

    workers = [threading.Thread(target=train, args=(i,)) for i in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for result in results:
        assert_same_bits(result.params, want.params)


#: Thread settings a child does not inherit unless a test gives them: in the full suite the
#: pytest process had OMP_NUM_THREADS set by the time these ran (libraries that other tests
#: load set it, as Ray does in its workers), which capped the child at one thread.
THREAD_SETTINGS = (
    "OMP_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMBA_THREADING_LAYER",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
)


def child(script: str, env: dict | None = None) -> str:
    inherited = {k: v for k, v in os.environ.items() if k not in THREAD_SETTINGS}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
        env={**inherited, **(env or {})}, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


PROBLEM = """
    import os, sys
    import numpy as np
    import fnn
    from fnn import engine
    rng = np.random.default_rng(0)
    net = fnn.mlp([16, 256, 256, 4], output="softmax")
    wide = fnn.mlp([16, 1100, 120], output="softmax")
    X = rng.standard_normal((1100, 16))
    y = rng.integers(0, 4, 1100)

    def train(threads, net=net):
        params = fnn.init(net, key=1)
        result = fnn.fit(net, params, fnn.adam(0.01), X, y, epochs=2, batch_size=512,
                         threads=threads)
        return np.concatenate([a.ravel() for layer in result.params.layers for a in layer])
"""


def test_four_threads_give_the_bits_of_one():
    """Numba with 4 threads (more than this machine's cores, which the default cap would
    not give): 1, 2, 3 and 4 threads, the same bits."""
    out = child(PROBLEM + """
    engine.default_threads = lambda: 4  # lift the cap of this machine's cores
    for network in (net, wide):
        one = train(1, network)
        print([bool(np.array_equal(train(t, network), one)) for t in (2, 3, 4)])
    """, env={"NUMBA_NUM_THREADS": "4"})  # fmt: skip
    assert out.split("\n")[-3:-1] == ["[True, True, True]"] * 2


def test_a_process_forked_after_threaded_fits_trains_alone():
    """GNU OpenMP's pool hangs in a process forked from one that used it: a forked child runs
    its shards in one thread, with the same bits."""
    out = child(PROBLEM + """
    parent = train(2)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if np.array_equal(train(2), parent) else 3)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status))
    """)  # fmt: skip
    assert out.split("\n")[-2] == "child 0"


@pytest.mark.parametrize("variable", ["OMP_NUM_THREADS", "NUMBA_NUM_THREADS"])
def test_the_usual_environment_variables_cap_the_threads(variable):
    out = child(PROBLEM + """
    print(fnn.threads.default_threads(), engine.batch_threads(net, 512, None))
    """, env={variable: "1"})  # fmt: skip
    assert out.split() == ["1", "1"]


def test_a_busy_core_is_not_free():
    """With a busy-loop process running, ``fit(threads=None)`` sees one core fewer."""
    if not os.path.exists("/proc/loadavg"):  # elsewhere: every core counts as free
        assert engine.cores_free() == os.cpu_count()
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        seen = []
        for _ in range(50):  # the hog is running or ready whenever it is not blocked
            seen.append(engine.cores_free())
        assert min(seen) <= max(1, os.cpu_count() - 1)
    finally:
        hog.kill()
        hog.wait()


def test_a_thread_running_for_a_moment_keeps_no_core_busy(monkeypatch):
    """cores_free looks again, up to LOOKS times, while it sees another thread running: a
    moment's thread costs no core; a thread seen at every look does."""
    looks = iter([1, 0, 1])
    monkeypatch.setattr(engine, "_running_elsewhere", lambda: next(looks))
    assert engine.cores_free() == os.cpu_count()  # the second look: none
    monkeypatch.setattr(engine, "_running_elsewhere", lambda: 1)
    assert engine.cores_free() == max(1, os.cpu_count() - 1)


def test_a_thread_of_this_process_running_at_either_look_is_not_another_process(monkeypatch):
    """The thread that waits for an engine call falls asleep as the call starts: running at
    the look before the machine's count, not at the look after it, it is still this
    process's."""
    here = iter([{"11", "12"}, {"11"}])
    monkeypatch.setattr(engine, "_running_here", lambda: next(here))
    monkeypatch.setattr(engine, "_running", lambda: 2)
    assert engine._running_elsewhere() == 0


def test_long_calls_of_the_main_thread_share_one_engine_thread(monkeypatch):
    """Every long engine call of the main thread runs in the one ``fnn-engine`` thread (GNU
    OpenMP keeps one team of threads for it), not in a new thread per call."""
    ran_in = []
    pinned = engine._pinned
    monkeypatch.setattr(
        engine, "_pinned", lambda *args: (ran_in.append(threading.get_ident()), pinned(*args))[1]
    )
    X, y = problem(n=512)
    for _ in range(2):
        fnn.fit(BIG, fnn.init(BIG, key=1), fnn.sgd(0.1), X, y, epochs=2, batch_size=512,
                threads=2)  # fmt: skip
    assert len(ran_in) == 2 and len(set(ran_in)) == 1
    assert ran_in[0] != threading.main_thread().ident
    assert [thread.name for thread in threading.enumerate()].count("fnn-engine") == 1


def test_threads_none_backs_off_when_no_core_is_free(monkeypatch):
    """threads=None asks cores_free before each engine call; threads=2 does not."""
    import numba

    calls = []
    monkeypatch.setattr(engine, "cores_free", lambda: 1)
    monkeypatch.setattr(numba, "set_num_threads", lambda n: calls.append(n))
    X, y = problem()
    params = fnn.init(BIG, key=1)
    auto = fnn.fit(BIG, params, fnn.sgd(0.1), X, y, epochs=1, batch_size=512)
    assert calls == []  # one thread: Numba's count never set
    forced = fnn.fit(BIG, params, fnn.sgd(0.1), X, y, epochs=1, batch_size=512, threads=2)
    assert calls == ([2] if default_threads() > 1 else [])
    assert_same_bits(auto.params, forced.params)


def openmp_here():
    try:
        from numba.np.ufunc import omppool  # noqa: F401
    except ImportError:
        return False
    return True


def test_numbas_openmp_layer_asleep_when_idle_unless_the_user_chose_one():
    """OpenMP with idle threads asleep after a short spin where Numba has it, else workqueue;
    the user's choices of layer, wait policy and spin stand."""
    script = (
        PROBLEM
        + """
    import numba
    train(2)
    print(numba.threading_layer(), os.environ.get("OMP_WAIT_POLICY"),
          os.environ.get("GOMP_SPINCOUNT"))
    """
    )
    want = "omp PASSIVE 30000" if openmp_here() else "workqueue PASSIVE 30000"
    assert child(script).split("\n")[-2] == want
    assert child(script, {"OMP_WAIT_POLICY": "ACTIVE"}).split("\n")[-2].endswith(" ACTIVE 30000")
    assert child(script, {"GOMP_SPINCOUNT": "0"}).split("\n")[-2].endswith(" PASSIVE 0")
    chosen = child(script, {"NUMBA_THREADING_LAYER": "workqueue"}).split("\n")[-2]
    assert chosen.split()[0] == "workqueue"

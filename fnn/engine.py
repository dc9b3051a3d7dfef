"""The one door to the compiled batch engine: every computation of fnn goes through it.

``fit`` runs epochs of training batches with updates; ``value_and_grad`` one batch without an
update; ``backward`` the same batch from a given forward pass (all three :func:`call`);
``forward``, ``predict``, ``loss`` and ``accuracy`` evaluate rows in chunks (:func:`call`).
They run the same compiled function (:func:`fnn.kernels.train_and_evaluate`, one signature per
dtype, or for dropout, gradient clipping, a smooth activation, another loss or threads the
variant of the same source that has them: :func:`engine_kernel`), so a batch gives the same
bits whichever path computes it, and the first call of any of them compiles (or loads from the
disk cache) what every other one uses. ``opt_step``'s one update from a given gradient runs the
engine's update helpers in a kernel of its own (:func:`update`); ``fit_many``'s members side by
side run the engine's maths member by member (:func:`train_members`). Only this module builds
the kernels' ``plan``.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import signal
import threading
import time
from itertools import pairwise

import numpy as np

from fnn import checks, kernels
from fnn.compile_notice import announce
from fnn.data import seed_of
from fnn.flat import layers_of, n_params
from fnn.registry import ACTIVATIONS, LOSSES
from fnn.threads import default_threads, map_on_threads
from fnn.types import EngineRun, Net

#: ``predict``, ``predict_proba``, ``loss``, ``accuracy`` and ``fit``'s validation pass run
#: the network on chunks of rows holding at most this many activations (every layer's Z and A
#: of the chunk's rows, about 2 * 2**19 values: 8 MiB in float64), so that their memory beyond
#: X and the result stays bounded.
CHUNK_VALUES = 1 << 19


#: Calls estimated (:func:`_work`) below this many multiply-adds run in the calling thread;
#: larger ones run in a worker thread, so that Ctrl-C stops them (see :func:`interruptible`).
#: Starting a thread is nothing for a large call, too much for the small ``grad`` and
#: ``opt_step`` calls of a hand-written loop (the figures: benchmarks/README.md,
#: "Measurements behind the kernel's constants").
THREAD_WORK = 10_000_000
#: Seconds the calling thread waits at a time for the worker (where a signal cannot
#: interrupt a wait, as on Windows, the longest delay of Ctrl-C).
WAIT = 0.1


def chunk_rows(sizes: tuple[int, ...]) -> int:
    """Rows per evaluation chunk for a network of layer ``sizes`` (at least 1)."""
    return max(1, CHUNK_VALUES // sum(sizes))


def _empty(dtype, *shape) -> np.ndarray:
    return np.empty(shape or (0,), dtype)


def call(
    net: Net,
    theta: np.ndarray,
    *,
    X=None,
    Y=None,
    X_eval=None,
    Y_eval=None,
    slots=None,
    forward=None,
    opt_code: int = kernels.NO_UPDATE,
    hyper=None,
    lrs=None,
    step: int = 0,
    l2: float = 0.0,
    seed: int = 0,
    dropout: int = kernels.NO_DROPOUT,
    first_epoch: int = 0,
    epochs: int = 1,
    batch: int | None = None,
    chunk: int | None = None,
    store: bool = False,
    weights=None,
    weights_eval=None,
    threads: int = 1,
    adapt: bool = False,
    watch: tuple | None = None,
    purpose: str,
    on_compile=None,
) -> EngineRun:
    """Call the engine with checked, normalised arguments; absent ones are empty arrays.

    ``X, Y``: training rows (``batch`` rows per update, all of them when None); ``X_eval,
    Y_eval``: rows evaluated after each epoch (``Y_eval`` None for no loss); ``forward``: the
    ``(zbuf, abuf)`` of a forward pass over the rows of Y; ``opt_code, hyper, lrs, step``: the
    update (NO_UPDATE: none);
    ``chunk``: evaluation rows at a time (default :func:`chunk_rows`); ``dropout``: the
    kernel's dropout mode (PER_UPDATE for fit, KEYED with a given key's ``seed``), ignored
    for a net without dropout; ``weights``, ``weights_eval``: sample weights of the rows of X
    and X_eval (None: all 1); ``threads``: the threads a sharded training batch runs its shards
    on (see :func:`batch_threads`; the bits are the same for any count), fewer when ``adapt``
    and other threads keep cores busy (see :func:`cores_free`); ``watch``: early stopping's
    ``(rule, marks, best_theta, best_slots)`` (see :func:`fnn.kernels.train_and_evaluate`;
    None: no watch). ``purpose`` names
    the public function for the one-line notice printed when the engine must compile first
    (``on_compile()`` is then called too). Every call runs with one BLAS thread (see
    :func:`blas_thread_setters`), so that its bits depend on neither the BLAS thread count nor
    the calling thread.
    """
    n = 0 if Y is None else Y.shape[0]
    plan = _plan(
        net.loss, net.activations[-1], opt_code=opt_code, step=step, first_epoch=first_epoch,
        epochs=epochs, batch=n if batch is None else batch,
        chunk=chunk_rows(net.sizes) if chunk is None else chunk, store=store,
        dropout=dropout if net.dropout else kernels.NO_DROPOUT, threads=threads,
    )  # fmt: skip
    dtype = theta.dtype
    empty = _empty(dtype)
    n_features, n_outputs = net.sizes[0], net.sizes[-1]
    # The kernel's bundles, each of the same array types on every call (see _call_kernel).
    data = (
        X if X is not None else _empty(dtype, 0, n_features),
        Y if Y is not None else _empty(dtype, 0, n_outputs),
        X_eval if X_eval is not None else _empty(dtype, 0, n_features),
        Y_eval if Y_eval is not None else _empty(dtype, 0, n_outputs),
    )
    state = (theta, slots if slots is not None else _empty(dtype, 0, 0))
    given = (forward[0], forward[1]) if forward is not None else (empty, empty)
    optimizer = (
        hyper if hyper is not None else _empty(np.float64),
        lrs if lrs is not None else _empty(np.float64),
    )
    rates = np.array((*net.dropout, 0.0)) if net.dropout else _empty(np.float64)
    row_weights = (
        weights if weights is not None else empty,
        weights_eval if weights_eval is not None else empty,
    )
    args = (
        data, state, given, _layers(net.sizes, net.activations), plan, optimizer, float(l2),
        np.uint64(seed), rates, _loss_parameters(net.loss, net.loss_params), row_weights,
        _no_watch(dtype) if watch is None else watch,
    )  # fmt: skip
    return _call_kernel(args, _common_codes(net.activations, net.loss), adapt, purpose, on_compile)


@functools.cache
def _no_watch(dtype: np.dtype) -> tuple:
    """The kernel's ``watch`` of a call without early stopping (row -1), built once per dtype.
    Shared: the kernel only reads it."""
    return (np.array([0.0, 0.0, 1.0, -1.0, 0.0]), np.zeros(3), _empty(dtype), _empty(dtype, 0, 0))


@functools.cache
def _layers(sizes: tuple[int, ...], activations: tuple[str, ...]) -> np.ndarray:
    """:func:`fnn.flat.layers_of`, built once per network, not on every call (a fit with a
    callback calls the engine once per epoch). Shared: the kernels only read it (left
    writable, as :func:`_loss_parameters` is)."""
    return layers_of(sizes, activations)


@functools.cache
def _loss_parameters(loss: str, values: tuple) -> np.ndarray:
    """The kernel's float64 array of a loss's own parameters: ``values`` (``Net.loss_params``),
    or the registry's defaults for ``()``, a per-output parameter's values in its place.
    Built once per network, not on every call (a hand-written loop calls the engine per
    batch). Shared: the kernel only reads it (left writable, so that its Numba type stays the
    one every other float64 vector has)."""
    defaults = [parameter.default for parameter in LOSSES[loss].parameters.values()]
    flat = []
    for value in values or defaults:
        flat += value if isinstance(value, tuple) else [value]
    return np.array(flat, np.float64)


def update(
    theta: np.ndarray,
    grads: np.ndarray,
    slots: np.ndarray,
    opt_code: int,
    hyper: np.ndarray,
    lr: float,
    step: int,
    purpose: str,
) -> tuple[np.ndarray, np.ndarray]:
    """One update from a given gradient (:func:`fnn.kernels.update`): the engine's optimizer
    step, the same bits as the update of a ``fit`` batch with that gradient.

    ``theta``, ``grads``: (n_params,); ``slots``: (n_slots, n_params); ``opt_code``,
    ``hyper``: the optimizer's kernel code and hyperparameters (clip_norm last); ``lr``: the
    update's learning rate; ``step``: the updates already applied (the update is number
    ``step + 1``). Returns the updated ``theta`` and ``slots`` (new arrays). Called directly:
    one update is too short for Ctrl-C to wait on, and it calls no BLAS.
    """
    args = (theta, grads, slots, int(opt_code), hyper, float(lr), int(step))
    _compile_first(kernels.update, args, 0, theta.dtype, purpose)
    return kernels.update(*args)


def train_members(
    net: Net,
    X: np.ndarray,
    Y: np.ndarray,
    thetas: np.ndarray,
    slots: np.ndarray,
    groups: list[np.ndarray],
    *,
    train_rows: np.ndarray,
    eval_rows: np.ndarray,
    opt_code: int,
    hypers: np.ndarray,
    lrs: np.ndarray,
    l2s: np.ndarray,
    seeds: np.ndarray,
    watch: tuple,
    step: int,
    first_epoch: int,
    epochs: int,
    batch: int,
    threads: int,
    purpose: str,
) -> tuple[np.ndarray, ...]:
    """``epochs`` epochs of training batches and evaluations of K members of one network side
    by side (:func:`fnn.kernels.train_members`; see :func:`members_side_by_side` for when it
    can): member ``k``'s results are the bits :func:`call` gives for it alone, trained on the
    rows ``train_rows[:, k]`` of X and Y (in that order, which its shuffles permute) and
    evaluated after each epoch on the rows ``eval_rows[k]``.

    The members are cut into ``groups`` (arrays of member indices, one kernel call each), the
    groups run on ``threads`` threads, from a worker thread so that Ctrl-C stops every group
    within a batch (see :func:`interruptible`); the notice of :func:`call` is printed when the
    kernel must compile first. ``thetas``: (n_params, K); ``slots``: (n_slots, n_params, K);
    ``train_rows``: int64 (n_train, K); ``eval_rows``: int64 (K, n_eval), n_eval possibly 0;
    ``hypers``: float64 (K, n_hyper); ``lrs``: float64 (K, epochs * batches per epoch), from
    update ``step`` on, unscaled, and one more (the rate after the call); ``l2s``: float64
    (K,); ``seeds``: uint64 (K,); ``watch``: early stopping's rule and each member's marks,
    best parameters and best slots, the plateau watch's rule and each member's plateau
    state, and the same at its best epoch (see :func:`fnn.kernels.train_members`);
    ``first_epoch``: the number of the first epoch (its shuffle). None of them is written.

    Returns
    -------
    thetas, slots
        New arrays, after each member's last epoch.
    records : (K, 4, epochs)
        Each member's mean training loss (penalty included) and accuracy, evaluation loss
        (penalty included) and accuracy, per epoch; not finite from the epoch where a
        member's loss stopped being finite; meaningless after its last epoch.
    trained : int64 (K,)
        Each member's epochs (fewer than ``epochs`` once it stopped early).
    marks, best_thetas, best_slots, plateaus, best_plateaus
        The watchers', after the call.
    """
    plan = _plan(
        net.loss, net.activations[-1], opt_code=opt_code, step=step, first_epoch=first_epoch,
        epochs=epochs, batch=batch, chunk=chunk_rows(net.sizes),
    )  # fmt: skip
    layers = _layers(net.sizes, net.activations)
    loss_params = _loss_parameters(net.loss, net.loss_params)

    rule, marks, best_thetas, best_slots, plateau_rule, plateaus, best_plateaus = watch

    def arguments(g: int) -> tuple:  # of group g's call
        k = groups[g]
        rows = (np.ascontiguousarray(train_rows[:, k]), np.ascontiguousarray(eval_rows[k]))
        group_watch = (rule, marks[k], np.ascontiguousarray(best_thetas[:, k]),
                       np.ascontiguousarray(best_slots[:, :, k]), plateau_rule, plateaus[k],
                       best_plateaus[k])  # fmt: skip
        return ((X, Y), rows, np.ascontiguousarray(thetas[:, k]),
                np.ascontiguousarray(slots[:, :, k]), layers, plan, hypers[k], lrs[k], l2s[k],
                seeds[k], loss_params, group_watch)  # fmt: skip

    _compile_first(kernels.train_members, arguments(0), 2, thetas.dtype, purpose)
    outcomes = interruptible(
        lambda: map_on_threads(
            lambda g: kernels.train_members(*arguments(g)), len(groups), threads, "fnn-members"
        ),
        plan,
    )
    count = thetas.shape[1]
    new_thetas, new_slots = np.empty_like(thetas), np.empty_like(slots)
    records, trained = np.empty((count, 4, epochs)), np.empty(count, np.int64)
    new_marks, new_best, new_best_slots = (np.empty_like(a) for a in watch[1:4])
    new_plateaus, new_best_plateaus = np.empty_like(plateaus), np.empty_like(best_plateaus)
    for k, outcome in zip(groups, outcomes):
        new_thetas[:, k], new_slots[:, :, k], records[k], _, trained[k] = outcome[:5]
        new_marks[k], new_best[:, k], new_best_slots[:, :, k] = outcome[5:8]
        new_plateaus[k], new_best_plateaus[k] = outcome[8:]
    return (new_thetas, new_slots, records, trained, new_marks, new_best, new_best_slots,
            new_plateaus, new_best_plateaus)  # fmt: skip


def members_side_by_side(sizes: tuple[int, ...], batch: int) -> bool:
    """Whether :func:`train_members` can train members of a network of layer ``sizes`` with
    training batches of ``batch`` rows: every product of a batch runs in the kernels' plain
    loops (not BLAS, see :func:`fnn.kernels.in_loops`) and no batch is cut into shards (the
    loss, activations and optimizer are the caller's to check)."""
    loops = all(kernels.in_loops(batch, n_in, n_out) for n_in, n_out in pairwise(sizes))
    return loops and batch <= _shard_rows(batch, sizes)


def _shard_rows(batch: int, sizes: tuple[int, ...]) -> int:
    """Rows per shard of a training batch of ``batch`` rows (see :func:`fnn.kernels.shard_rows`)."""
    return kernels.shard_rows(
        batch, n_params(sizes), max(sizes), kernels.DEFAULT_SHARD_WORK, kernels.DEFAULT_MAX_SHARDS
    )


def _plan(
    loss: str | None,
    output: str | None,
    *,
    opt_code: int = kernels.NO_UPDATE,
    step: int = 0,
    first_epoch: int = 0,
    epochs: int = 1,
    batch: int = 0,
    chunk: int = 0,
    store: bool = False,
    dropout: int = kernels.NO_DROPOUT,
    threads: int = 1,
) -> np.ndarray:
    """The kernels' int64 ``plan`` vector (see :func:`fnn.kernels.train_and_evaluate`) for the
    ``loss`` of a network whose output layer's activation is ``output``, or for no loss (None, None:
    a call that evaluates none, as one update from a given gradient)."""
    plan = np.zeros(kernels.PLAN_SIZE, np.int64)
    if loss is not None:
        plan[kernels.LOSS] = LOSSES[loss].code
        plan[kernels.CHAIN_RULE] = output != LOSSES[loss].canonical
    plan[kernels.OPTIMIZER] = opt_code
    plan[kernels.STEP] = step
    plan[kernels.FIRST_EPOCH] = first_epoch
    plan[kernels.EPOCHS] = epochs
    plan[kernels.BATCH] = batch
    plan[kernels.CHUNK] = chunk
    plan[kernels.STORE] = store
    plan[kernels.DROPOUT] = dropout
    plan[kernels.STOP] = 0
    plan[kernels.SHARD_WORK] = kernels.DEFAULT_SHARD_WORK
    plan[kernels.MAX_SHARDS] = kernels.DEFAULT_MAX_SHARDS
    plan[kernels.THREADS] = threads
    plan[kernels.SMALL_TN] = blas_small_tn()
    return plan


def _call_kernel(
    args: tuple, common_codes: bool, adapt: bool, purpose: str, on_compile
) -> EngineRun:
    """The engine's variant for the call (:func:`engine_kernel`; ``common_codes``: whether the
    network's activations and loss are the common variant's) on ``args``: with the notice when
    it must compile first, one BLAS thread, and in a worker thread when it is long enough for
    Ctrl-C to matter (see :func:`interruptible`).

    ``args`` keep the kernel's one compiled version per dtype: every array C-contiguous and
    writable, absent ones empty arrays of the dtype and dimensions of present ones, so that each
    bundle has the same Numba type on every call (a tuple of arrays of one type is a
    ``UniTuple``, one of mixed types a ``Tuple``: another type would compile another version).
    """
    (_, Y, X_eval, _), (theta, _), _, _, plan, (hyper, _) = args[:6]
    kernel = engine_kernel(common_codes, plan, hyper, theta.dtype)
    if kernel is kernels.train_and_evaluate_threaded:
        _pool_owner()  # picks Numba's threading layer before the threaded kernel starts it
    _compile_first(kernel, args, 1, theta.dtype, purpose, on_compile)  # args[1]: theta's
    n, n_eval = Y.shape[0], X_eval.shape[0]
    batch, chunk = int(plan[kernels.BATCH]), int(plan[kernels.CHUNK])
    # No product of a batch or chunk reaches BLAS below SMALL_MATMUL multiply-adds: no
    # thread count to set (a ctypes call saved on every small grad or opt_step).
    blas = max(min(batch, n), min(chunk, n_eval)) * theta.size >= kernels.SMALL_MATMUL
    compute = functools.partial(_pinned, kernel, args, blas, adapt)
    work = _work(int(plan[kernels.EPOCHS]), n, batch, n_eval, chunk, theta.size)
    if work < THREAD_WORK:
        return _direct(compute)
    return interruptible(compute, plan)


#: The garbage collector's thresholds before the first of the calls compiling now, and how many
#: of those calls run (see :func:`_no_full_collections`).
_COLLECTOR = {"thresholds": None, "compiling": 0}
_COLLECTOR_LOCK = threading.Lock()


def _compile_first(
    kernel, args: tuple, at: int, dtype: np.dtype, purpose: str, on_compile=None
) -> None:
    """Before ``kernel(*args)``: nothing when the entry kernel is compiled in this process for
    arrays of ``dtype`` in its argument number ``at`` (a set lookup: every call after the
    first), else :func:`announce`, which says so and compiles it when neither memory nor
    disk holds its code, without full collections of Python's garbage collector meanwhile
    (:func:`_no_full_collections`)."""
    if _compiled_for(kernel, at, dtype):
        return
    with _no_full_collections():
        announce(kernel, args, at, purpose, on_compile)


@contextlib.contextmanager
def _no_full_collections():
    """For a call that compiles a kernel: no full collection of Python's garbage collector
    meanwhile. Numba's compiler builds hundreds of thousands of objects, and the full
    collections that walked them all took about a tenth of a first compile (the young
    generations are still collected; benchmarks/README.md, "Compile time of a first call").
    The thresholds are set back as they were when the last call compiling ends."""
    with _COLLECTOR_LOCK:
        if _COLLECTOR["compiling"] == 0:
            _COLLECTOR["thresholds"] = thresholds = gc.get_threshold()
            gc.set_threshold(*thresholds[:2], 1 << 30)
        _COLLECTOR["compiling"] += 1
    try:
        yield
    finally:
        with _COLLECTOR_LOCK:
            _COLLECTOR["compiling"] -= 1
            if _COLLECTOR["compiling"] == 0:
                gc.set_threshold(*_COLLECTOR["thresholds"])


def engine_kernel(common_codes: bool, plan: np.ndarray, hyper: np.ndarray, dtype: np.dtype):
    """The variant of the engine (see :mod:`fnn.kernels`) for a call of ``plan``, the optimizer's
    ``hyper`` (clip_norm last) and parameters of ``dtype``, of a network whose activations and
    loss are the common variant's (``common_codes``, see :func:`_common_codes`) or not.

    A plan with threads for its shards runs the threaded variant. Without dropout, gradient
    clipping or other codes, a call can run ``train_and_evaluate``, which compiles none of them;
    any call can run ``train_and_evaluate_full`` and the threaded variant. Of those a call can
    run, the first already compiled in this process for ``dtype`` runs it (so that a plain
    ``predict`` after a fit with dropout compiles nothing), else the first: every variant that
    can run a call gives the same bits.
    """
    if plan[kernels.THREADS] > 1:
        return kernels.train_and_evaluate_threaded
    clipping = plan[kernels.OPTIMIZER] != kernels.NO_UPDATE and hyper[-1] > 0.0
    common = common_codes and plan[kernels.DROPOUT] == kernels.NO_DROPOUT and not clipping
    chosen = _CHOSEN.get((common, dtype))
    if chosen is not None:
        return chosen
    able = (kernels.train_and_evaluate,) if common else ()
    able += (kernels.train_and_evaluate_full, kernels.train_and_evaluate_threaded)
    for kernel in able:
        if _compiled_for(kernel, 1, dtype):
            _CHOSEN[common, dtype] = kernel  # compiled it stays: the choice holds
            return kernel
    return able[0]


#: engine_kernel's choice for (a call the common variant can run, dtype), once it is compiled.
_CHOSEN: dict = {}


def _compiled_for(kernel, at: int, dtype: np.dtype) -> bool:
    """Whether the entry kernel ``kernel`` has a compiled version in this process for arrays of
    ``dtype`` in its argument number ``at`` (an array, or a bundle of arrays led by one); none
    where the kernels run as Python."""
    if (kernel, dtype) in _COMPILED:
        return True
    for types in dict.keys(getattr(kernel, "overloads", {})):
        first = types[at][0] if hasattr(types[at], "types") else types[at]
        if str(first.dtype) == dtype.name:
            _COMPILED.add((kernel, dtype))  # compiled it stays
            return True
    return False


#: The (entry kernel, dtype) pairs found compiled so far (see :func:`_compiled_for`).
_COMPILED: set = set()


@functools.cache
def _common_codes(activations: tuple[str, ...], loss: str) -> bool:
    """Whether the engine's common variant computes these activations and this loss: those
    before leaky_relu in the kernels' codes, and bce, ce and mse."""
    codes = [ACTIVATIONS[name].code for name in activations]
    return max(codes) < kernels.LEAKY_RELU and LOSSES[loss].code in COMMON_LOSSES


#: The loss codes of the engine's common variant.
COMMON_LOSSES = (kernels.BCE, kernels.CE, kernels.MSE)


def _work(epochs: int, n: int, batch: int, n_eval: int, chunk: int, n_params: int) -> int:
    """A rough cost of a call in multiply-adds: three products per training row and
    parameter, one per evaluated row, and ~5000 for the fixed cost of a batch or chunk
    (what dominates small networks)."""
    batches = n // max(1, batch) + 1
    chunks = n_eval // max(1, chunk) + 1
    return epochs * ((3 * n + n_eval) * n_params + 5000 * (batches + chunks))


def _direct(compute) -> EngineRun:
    """``compute()`` (the engine, :func:`_pinned`) in this thread.

    Ctrl-C during a compiled call is seen when it returns, and Numba then reports a
    ``SystemError`` with the ``KeyboardInterrupt`` deep in its chain: raise the interrupt.
    """
    try:
        return compute()
    except SystemError as error:
        cause = error
        while cause is not None and not isinstance(cause, KeyboardInterrupt):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        raise KeyboardInterrupt from None


def keyed_dropout(dropout_key) -> dict:
    """:func:`call`'s dropout arguments for a composable function's ``dropout_key``: none for
    None, else every batch or chunk drops with the masks of the key's seed."""
    if dropout_key is None:
        return {}
    if not isinstance(dropout_key, np.random.SeedSequence):  # named in the error, as seed_of
        checks.integer("dropout_key", dropout_key, 0, checks.MAX_KEY)
    return {"dropout": kernels.KEYED, "seed": seed_of(dropout_key)}


def interruptible(compute, plan: np.ndarray) -> EngineRun:
    """``compute()`` (the engine, :func:`_pinned`) in the process's engine thread
    (:func:`_engine_jobs`) while this (the main) thread waits.

    Python runs signal handlers in the main thread only, between bytecodes, so Ctrl-C
    raises ``KeyboardInterrupt`` in this wait at once; the kernel, which reads
    ``plan[STOP]`` before every batch, chunk and layer, then returns within one matrix
    product, and the interrupt is raised again with ``partial``: the stopped call's
    :class:`EngineRun`, whose ``records[:, :done]`` are the epochs it finished. The kernel
    never writes its arguments, so the caller's arrays are intact. In another thread, where no
    Ctrl-C arrives, ``compute()`` runs right there (calls from several threads run at once).
    """
    if threading.current_thread() is not threading.main_thread():
        return _direct(compute)
    outcome = []
    finished = threading.Event()  # waited on, not a join: the engine thread stays

    def work():
        try:
            outcome.append(compute())
        except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
            outcome.append(error)
        finally:
            finished.set()

    queued = []
    try:
        _queue_holding_ctrl_c(work, queued)
        while not finished.wait(WAIT):
            pass
    except KeyboardInterrupt as interrupt:
        plan[kernels.STOP] = 1
        if not queued:  # interrupted before it was queued: nothing runs
            raise
        finished.wait()  # a second Ctrl-C leaves the engine thread to stop alone, harmlessly
        if isinstance(outcome[0], EngineRun):
            interrupt.partial = outcome[0]
        raise
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


@functools.cache
def _engine_jobs(pid: int):
    """The job queue of process ``pid``'s engine thread (a daemon named ``fnn-engine``, started
    on first use; a forked process starts its own), which runs the main thread's long engine
    calls one after another (:func:`interruptible`).

    One thread for every call, not a new one each: GNU OpenMP keeps a team of threads per
    thread that starts parallel regions, so a new thread per call made a new team per call,
    and the old team's threads, exiting as the next call began, counted as another process's
    busy threads in :func:`cores_free`: ``fit(threads=None)`` then ran 7 to 10 of moons-gd's
    10 calls of 1,000 updates on one thread (benchmarks/README.md, "One engine thread").
    """
    import queue  # here, not at the top: ``import fnn`` stays fast

    jobs = queue.SimpleQueue()

    def serve():
        while True:
            jobs.get()()  # a job reports its own outcome, exceptions included

    threading.Thread(target=serve, name="fnn-engine", daemon=True).start()
    return jobs


def _queue_holding_ctrl_c(work, queued: list) -> None:
    """``work`` queued for the engine thread (:func:`_engine_jobs`), then ``queued`` given an
    item, with a Ctrl-C that comes meanwhile raised once both are done.

    Raised inside the queueing (or the first start of the thread), the interrupt could leave a
    queued call that nobody stops; held back, it is raised where the caller knows the call
    runs. For the main thread, the only one Python runs signal handlers in.
    """
    held = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(frame))
    try:
        _engine_jobs(os.getpid()).put(work)
        queued.append(True)
    finally:
        signal.signal(signal.SIGINT, previous)
    if held and callable(previous):
        previous(signal.SIGINT, held[0])  # default_int_handler raises KeyboardInterrupt
    elif held and previous == signal.SIG_DFL:
        os.kill(os.getpid(), signal.SIGINT)


def _pinned(kernel, args: tuple, blas: bool, adapt: bool) -> EngineRun:
    """``kernel(*args)``, with one BLAS thread when it may call BLAS (``blas``), and the
    plan's THREADS for the shards of its batches when it can have them (:func:`_shard_threads`).
    """
    if blas:
        for setter in blas_thread_setters():
            setter(1)  # one call, idempotent: cheaper than asking first (a ctypes call each)
    plan = args[4]
    if plan[kernels.THREADS] <= 1:
        return EngineRun(*kernel(*args))
    with _shard_threads(plan, adapt) as granted:
        plan[kernels.THREADS] = granted
        return EngineRun(*kernel(*args))


@functools.cache
def blas_thread_setters() -> tuple:
    """``set(n) -> previous`` of the OpenBLAS behind Numba's ``np.dot`` (SciPy's).

    The engine runs its products with one BLAS thread: a product split between threads sums
    in another order, so its bits would depend on ``OPENBLAS_NUM_THREADS``; and the products
    of one mini-batch are too small to share anyway (BLAS threads wait on each other, and
    the more so when another process is busy; the figures: benchmarks/README.md,
    "Measurements behind the kernel's constants"). OpenBLAS's thread count is a process-wide
    setting (its ``openblas_set_num_threads_local`` changes every thread's count in the
    pthreads builds of the wheels), so the engine sets it before each call and never restores
    it: a restore by one Python thread would change the thread count of another's running
    call. Only SciPy's OpenBLAS is touched, not NumPy's (``@`` in your
    own code keeps its threads), unless both load one library (as some conda setups do).
    Linux only (reads ``/proc/self/maps``); elsewhere, or for another BLAS, empty.
    """
    return tuple(library.openblas_set_num_threads_local for library in _openblas())


#: Core names of OpenBLAS (``openblas_get_corename``) whose kernels include the SkylakeX ones, and
#: so its small-matrix rule of :data:`fnn.kernels.SMALL_TN_OUTPUTS`.
SMALL_TN_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})


@functools.cache
def blas_small_tn() -> int:
    """1 when the OpenBLAS behind Numba's ``np.dot`` runs on SkylakeX kernels (an AVX-512 CPU,
    or its ``OPENBLAS_CORETYPE``), whose small-matrix kernel a weight gradient product is cut to
    fit (plan[SMALL_TN], see :func:`fnn.kernels._small_weight_grad_parts`); else 0 (its AVX2
    kernels take such products in their packing kernel, where the cut measured slower). Like
    OpenBLAS's choice of kernels, a fact of the machine: results differ in their last bits
    from another machine's, never from one call or thread count to the next."""
    import ctypes  # here, not at the top: ``import fnn`` stays fast

    for library in _openblas():
        for name in ("scipy_openblas_get_corename", "openblas_get_corename"):
            corename = getattr(library, name, None)
            if corename is not None:
                corename.restype = ctypes.c_char_p
                return int(corename().decode().lower() in SMALL_TN_CORES)
    return 0


@functools.cache
def _openblas() -> tuple:
    """The OpenBLAS libraries behind Numba's ``np.dot`` (SciPy's; any OpenBLAS the process
    mapped where none is SciPy's), as ``ctypes.CDLL`` objects that have
    ``openblas_set_num_threads_local``; empty off Linux or for another BLAS.

    Looked up once per process (the lookup costs many times a small ``grad``; see
    benchmarks/README.md): the cache records which libraries the loader mapped, a fact about
    the process (whose BLAS decides :func:`blas_small_tn`).
    """
    import ctypes
    import importlib

    try:
        importlib.import_module("scipy.linalg.cython_blas")  # what np.dot loads anyway
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1]}
    except (ImportError, OSError):
        return ()
    scipys = {path for path in paths if "/scipy" in path}  # site-packages/scipy.libs/...
    libraries = []
    for path in sorted(scipys or paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        if hasattr(library, "openblas_set_num_threads_local"):
            libraries.append(library)
    return tuple(libraries)


#: Numba's thread pool runs one parallel region at a time: its default layer on machines
#: without TBB or OpenMP (``workqueue``) aborts the process when two threads enter it at once,
#: and two sharded fits on the same cores would only slow each other. A call that finds it
#: busy runs its shards in its own thread instead: the same bits, later.
_POOL = threading.Lock()


@contextlib.contextmanager
def _shard_threads(plan: np.ndarray, adapt: bool):
    """The threads this call runs its shards on: ``plan[THREADS]`` (set as this, the calling,
    thread's Numba thread count), at most :func:`cores_free` now when ``adapt``; 1 while
    another call holds the pool, or in a process forked from the one that started it."""
    acquired = _POOL.acquire(blocking=False)
    try:
        threads = int(plan[kernels.THREADS])
        if adapt:
            threads = min(threads, cores_free())
        if not acquired or threads <= 1 or _pool_owner() != os.getpid():
            yield 1
            return
        import numba  # here, not at the top: ``import fnn`` stays fast

        numba.set_num_threads(threads)
        yield threads
    finally:
        if acquired:
            _POOL.release()


def cores_free() -> int:
    """Cores not busy with another process's threads: the machine's cores less the threads of
    other processes running or ready to run (Linux's ``/proc/loadavg``, an instant count, less
    this process's running threads; the least of three looks), at least 1; elsewhere, the
    machine's cores.

    Why: the shards of a batch wait for each other, so a thread that must share its core
    with a busy process holds back every batch, down to slower than one thread (the figures:
    benchmarks/README.md, "Measurements behind the kernel's constants"). This process's own
    running threads do not count: BLAS threads still spinning after a NumPy product, say,
    stop on their own soon after. ``fit(threads=None)`` asks before each engine call, so it
    also backs off from a load that starts during training.
    """
    cores = os.cpu_count() or 1
    try:
        others = _running_elsewhere()
        for _ in range(LOOKS - 1):  # a thread that runs for a moment keeps no core busy
            if others == 0:
                break
            time.sleep(LOOK_GAP)
            others = min(others, _running_elsewhere())
    except (OSError, ValueError, IndexError):
        return cores
    return max(1, cores - others)


#: :func:`cores_free` looks at most LOOKS times, LOOK_GAP seconds apart, for a core that stays
#: busy: three looks at once still found another thread running before 0 to 2 of moons-gd's 10
#: calls on an idle machine, these none of 40 (benchmarks/README.md, "One engine thread"); a
#: look that finds none costs no wait.
LOOKS = 3
LOOK_GAP = 0.001


def _running_elsewhere() -> int:
    """Threads of other processes running or ready to run now: the machine's less this
    process's, counting a thread of this process that runs at either of two looks around the
    machine's count (the thread that waits for an engine call falls asleep as the call starts:
    with one look, 2 to 4 of moons-gd's 10 calls on an idle machine ran on one thread)."""
    before = _running_here()
    machine = _running()
    return machine - len(before | _running_here())


def _running() -> int:
    """Threads running or ready to run on the machine now (``/proc/loadavg``'s 4th field)."""
    with open("/proc/loadavg") as loadavg:
        return int(loadavg.read().split()[3].split("/")[0])


def _running_here() -> set:
    """The threads of this process running or ready to run now (state R in their stat files)."""
    running = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "R":
                    running.add(task)
        except OSError:  # the thread has ended
            continue
    return running


@functools.cache
def _pool_owner() -> int:
    """The process that first prepared work for Numba's threads, which picks Numba's
    threading layer then, before loading the kernel starts it (once per process, unless the
    user chose one with ``NUMBA_THREADING_LAYER``): OpenMP where Numba has it, with its
    idle threads asleep after a short spin (``OMP_WAIT_POLICY=PASSIVE`` and
    ``GOMP_SPINCOUNT=30000`` unless set), else ``workqueue``. Why: OpenMP's default spinning
    between parallel regions made each batch slower than one thread whenever another process
    was busy, threads that sleep at once are slow to wake for the next region, and workqueue
    starts each of a batch's parallel regions (one per layer and pass) slowly
    (benchmarks/README.md, "Measurements behind the kernel's constants").

    A process forked from the owner has not got its pool's threads (GNU OpenMP's then hangs):
    its work runs in one thread.
    """
    import numba

    if "NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default":
        try:
            numba.threading_layer()  # the layer in use: a ValueError before any has started
        except ValueError:
            numba.config.THREADING_LAYER = "omp" if _openmp_here() else "workqueue"
    return os.getpid()


#: How long GNU OpenMP's idle threads spin before they sleep (``GOMP_SPINCOUNT``, in its spin
#: iterations): long enough to catch a batch's next parallel region, far too short to hold a
#: core another process needs (benchmarks/README.md, "Measurements behind the kernel's
#: constants").
OPENMP_SPIN = "30000"


def _openmp_here() -> bool:
    """Whether Numba's OpenMP layer loads here; its threads will sleep when idle, after a
    short spin (unless the user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # both read once, when libgomp loads
    os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN)
    try:
        from numba.np.ufunc import omppool  # noqa: F401
    except ImportError:
        return False
    return True


def batch_threads(net: Net, batch: int, threads: int | None) -> int:
    """The threads ``fit`` gives its training batches of ``batch`` rows.

    One per shard of a batch the engine cuts into shards (see :func:`fnn.kernels.shard_rows`),
    or, for a network as wide as ``kernels.PARTS_FROM``, per part of the widest layer's
    products (:func:`fnn.kernels._product_into`); one when there is neither (every batch of a
    small network: threads cannot pay there). At most ``threads`` when given and at most the
    allowance of :func:`fnn.threads.default_threads`.
    The thread count changes no bit of the result.
    """
    if threads is not None:
        threads = checks.integer("threads", threads, 1)
    shards = -(-batch // _shard_rows(batch, net.sizes))
    widest = max(net.sizes)
    parts = -(-widest // kernels.PART_ROWS) if widest >= kernels.PARTS_FROM else 1
    work = shards if shards > 1 else parts
    if work == 1:
        return 1
    return min(work, default_threads(), work if threads is None else threads)

"""The engine against the slow NumPy reference of the same maths (float64, tight tolerances).

Every activation, every output/loss pair and shapes on both sides of the loop/BLAS threshold
go through the public functions (``forward``, ``loss``, ``grad``, ``backward``), which all run
the one compiled engine.
"""

import functools

import numpy as np
import pytest
import reference
from numba import njit

import fnn
from fnn import kernels
from fnn.registry import ACTIVATIONS, HIDDEN_ACTIVATIONS, LOSSES

#: (sizes, rows): small products (loops), skinny ones, and some above SMALL_MATMUL (BLAS).
SHAPES = [((3, 4, 2), 5), ((2, 25, 50, 1), 40), ((6, 64, 32, 3), 300), ((2, 5, 2, 1), 64)]

#: Every (output, loss) pair the registry allows.
PAIRS = [(output, loss) for loss, entry in LOSSES.items() for output in entry.outputs]


def _net_and_data(sizes, m, output, loss, rng, hidden="tanh"):
    if ACTIVATIONS[output].min_units > sizes[-1]:
        sizes = (*sizes[:-1], ACTIVATIONS[output].min_units)
    net = fnn.mlp(list(sizes), hidden=hidden, output=output, loss=loss)
    params = fnn.init(net, key=int(rng.integers(1000)), scheme="glorot")
    X = rng.normal(size=(m, sizes[0]))
    k = sizes[-1]
    labels = LOSSES[loss].labels
    if labels == "classes":
        y = rng.integers(0, k, m)
        Y = reference.one_hot(y, k)
    elif labels == "binary":
        Y = rng.integers(0, 2, (m, k)).astype(float)
        y = Y
    else:
        Y = y = rng.normal(size=(m, k))
        if LOSSES[loss].target_low is not None:
            Y = y = LOSSES[loss].target_low + np.abs(y)
    return net, params, X, y, Y


@pytest.mark.parametrize("sizes,m", SHAPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_forward_matches_reference_for_every_activation(sizes, m, name, rng):
    hidden = name if name in HIDDEN_ACTIVATIONS else "tanh"
    net, params, X, _, _ = _net_and_data(sizes, m, name, "mse", rng, hidden)
    out, cache = fnn.forward(net, params, X)
    As, Zs = reference.forward(net, params, X)
    for got, want in zip(cache.preactivations, Zs):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for got, want in zip(cache.activations, As):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(out, cache.activations[-1])


@pytest.mark.parametrize("sizes,m", SHAPES)
@pytest.mark.parametrize("output,loss", PAIRS)
def test_loss_and_grad_match_reference(sizes, m, output, loss, rng):
    net, params, X, y, Y = _net_and_data(sizes, m, output, loss, rng)
    value, grads = fnn.value_and_grad(net, params, X, y, l2=0.3)
    expected = reference.grad(net, params, X, Y, l2=0.3)
    for (gW, gb), (W, b) in zip(grads.layers, expected):
        np.testing.assert_allclose(gW, W, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(gb, b, rtol=1e-10, atol=1e-13)
    want = reference.loss(net, params, X, Y, 0.3)
    np.testing.assert_allclose(value, want, rtol=1e-12)
    np.testing.assert_allclose(fnn.loss(net, params, X, y, l2=0.3), want, rtol=1e-12)


@pytest.mark.parametrize("name", list(HIDDEN_ACTIVATIONS))
def test_every_hidden_activation_backpropagates_like_the_reference(name, rng):
    net, params, X, y, Y = _net_and_data((3, 6, 5, 2), 9, "identity", "mse", rng, hidden=name)
    expected = reference.grad(net, params, X, Y)
    for (gW, gb), (W, b) in zip(fnn.grad(net, params, X, y).layers, expected):
        np.testing.assert_allclose(gW, W, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(gb, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_stay_finite_at_extreme_logits(name):
    net = fnn.mlp([3, 3], output=name, loss="mse")
    params = fnn.Params((fnn.Layer(np.eye(3), np.zeros(3)),))
    X = np.array([[-1000.0, 1000.0, 0.0], [1000.0, 1000.0, -1000.0]])
    out, _ = fnn.forward(net, params, X)
    assert np.isfinite(out).all()
    with np.errstate(over="ignore"):  # the reference's exp overflows to inf: 1 / inf is 0
        want = reference.activation(name, X)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("output,loss", [("sigmoid", "bce"), ("softmax", "ce")])
def test_loss_and_grad_finite_for_logits_of_1000(output, loss):
    net = fnn.mlp([1, 2], hidden="relu", output=output, loss=loss)
    params = fnn.Params((fnn.Layer(np.array([[1000.0, -1000.0]]), np.zeros(2)),))
    X = np.array([[1.0], [-1.0]])
    y = np.array([[0, 1], [1, 0]]) if loss == "bce" else np.array([1, 0])
    value, grads = fnn.value_and_grad(net, params, X, y)
    assert np.isfinite(value) and value > 900  # confidently wrong: about 1000 per sample
    assert all(np.isfinite(part).all() for layer in grads.layers for part in layer)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_view_is_the_reshaped_slice_and_writes_through(dtype):
    # kernels._view builds the engine's blocks without reshape's C helper; it must be the
    # NumPy view the debug build takes (kernels._python_view), and share the buffer's memory.
    @njit(cache=False)
    def views(buffer, at):
        matrix = kernels._view(buffer, at, (3, 4))
        cube = kernels._view(buffer, at + 1, (2, 3, np.int64(2)))
        flat = kernels._view(matrix, 2, (matrix.size - 2,))
        matrix[2, 3] = -1.0
        return matrix, cube, flat

    buffer = np.arange(30, dtype=dtype)
    matrix, cube, flat = views(buffer, np.int64(5))
    assert buffer[5 + 11] == -1.0  # written through the view
    expected = np.arange(30, dtype=dtype)
    expected[16] = -1.0
    for view, want in ((matrix, expected[5:17].reshape(3, 4)),
                       (cube, expected[6:18].reshape(2, 3, 2)), (flat, expected[7:17])):  # fmt: skip
        assert view.dtype == dtype and view.flags.c_contiguous
        np.testing.assert_array_equal(view, want)
        np.testing.assert_array_equal(kernels._python_view(expected, 0, want.shape).shape,
                                      want.shape)  # fmt: skip
    assert np.shares_memory(matrix, buffer) and np.shares_memory(cube, buffer)
    np.testing.assert_array_equal(kernels._python_view(expected, 6, (2, 3, 2)), cube)


@functools.cache
def callable_from_python(name: str):
    """A copy of the kernels' compiled function ``name`` that Python can call (the helpers and
    parts have no Python wrapper), compiled once for every test (once per signature)."""
    return njit(**{**kernels.POLICY, "cache": False})(getattr(kernels, name).py_func)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k, n, m", [(2, 5, 64), (5, 2, 63), (3, 1, 45), (4, 1, 10), (1, 1, 7)])
def test_weight_gradient_loops_keep_the_bits_of_dot_rows(k, n, m, dtype, rng):
    # The loops compute two entries at a time (_dot_rows_twice); fit_many's member kernel
    # mirrors _dot_rows, so each entry must be its bits exactly (odd n, n = 1, odd k, m % 4).
    product = callable_from_python("_product_into")
    dot_rows = callable_from_python("_dot_rows")
    P = rng.normal(size=(k, m)).astype(dtype)
    Q = rng.normal(size=(n, m)).astype(dtype)
    out = np.empty((k, n), dtype)
    product(kernels.WEIGHT_GRAD, P, Q, out, np.int64(1), np.int64(1))
    expected = np.array([[dot_rows(P, p, Q, j, m) for j in range(n)] for p in range(k)], dtype)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_allclose(out, P.astype(np.float64) @ Q.T.astype(np.float64), rtol=1e-4)


@njit(cache=False)
def _lane_dot_rows(P, p, Q, j, count, m, out, row, first):
    kernels._compiled_lane_dot_rows(P, p, Q, j, count, m, out, row, first)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [64, 61, 3, 0])
@pytest.mark.parametrize("count", kernels.BLOCKS)
def test_a_vector_of_members_weight_gradients_keeps_the_bits_of_dot_rows(count, m, dtype, rng):
    # fit_many's weight gradients, 1, 2 or 4 sums sharing P's row, one SIMD vector of lanes at a
    # time (_compiled_lane_dot_rows, hand-written LLVM vectors): each lane must be _dot_rows of
    # that lane's rows (m % 4 rows left over, none at all), and the debug build's NumPy twin the
    # same bits; the other lanes and rows of the output stay as they were.
    dot_rows = callable_from_python("_dot_rows")
    width = kernels.VECTOR_BYTES // np.dtype(dtype).itemsize
    lanes = 2 * width
    P = rng.normal(size=(3, m, lanes)).astype(dtype)
    Q = rng.normal(size=(count + 2, m, lanes)).astype(dtype)
    out = np.full((count + 4, lanes), 7.0, dtype)
    twin = out.copy()
    _lane_dot_rows(P, 2, Q, 1, count, m, out, 3, width)
    kernels._python_lane_dot_rows(P, 2, Q, 1, count, m, twin, 3, width)
    expected = np.full(out.shape, 7.0, dtype)
    for c in range(count):
        for k in range(width, lanes):
            expected[3 + c, k] = dot_rows(np.ascontiguousarray(P[:, :, k]), 2,
                                          np.ascontiguousarray(Q[:, :, k]), 1 + c, m)  # fmt: skip
    np.testing.assert_array_equal(out, expected, strict=True)
    np.testing.assert_array_equal(twin, expected, strict=True)


@njit(cache=False)
def _lane_terms_into(thetas, at, step, next_row, rows, P, q, terms, first, out, r, finish, b_at,
                     A, lane):  # fmt: skip
    kernels._compiled_lane_terms_into(thetas, at, step, next_row, rows, P, q, terms, first, out, r,
                                      finish, b_at, A, lane)  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("finish", ["none", "forward", "backprop"])
def test_a_vector_of_members_product_passes_keeps_the_bits_of_the_scalar_sums(finish, dtype, rng):
    # fit_many's forward products and errors sent down, a block of 1, 2 or 4 rows of out by 1, 2
    # or 4 terms a pass, one SIMD vector of lanes at a time (_compiled_lane_terms_into,
    # hand-written LLVM vectors): each value must be the scalar sum's, term after term, then
    # the relu's finish (A's zeros and -0.0 included), and the debug build's NumPy twin the same
    # bits; the other lanes and rows stay as they were.
    code = {"none": kernels.NO_FINISH, "forward": kernels.FORWARD, "backprop": kernels.BACKPROP}
    finish_code = code[finish]
    width = kernels.VECTOR_BYTES // np.dtype(dtype).itemsize
    lanes, m, r, q, b_at, step, next_row = 2 * width, 5, 1, 2, 3, 7, 2
    thetas = rng.normal(size=(64, lanes)).astype(dtype)
    P = rng.normal(size=(q + 5, m, lanes)).astype(dtype)
    for rows in kernels.BLOCKS:
        for terms in kernels.BLOCKS:
            for first in (False, True):
                out = rng.normal(size=(r + rows + 1, m, lanes)).astype(dtype)
                A = rng.normal(size=out.shape).astype(dtype)
                A[:, 0], A[:, 1] = 0.0, -0.0
                at = 11
                expected_out, expected_A = out.copy(), A.copy()
                for u in range(r, r + rows):
                    for i in range(m):
                        for k in range(width, lanes):
                            total = dtype(0) if first else out[u, i, k]
                            for t in range(terms):
                                w = thetas[at + (u - r) * next_row + t * step, k]
                                total = total + w * P[q + t, i, k]
                            if finish == "forward":
                                z = total + thetas[b_at + u, k]
                                expected_A[u, i, k] = z if z > 0 else dtype(0)
                            elif finish == "backprop":
                                expected_out[u, i, k] = total if A[u, i, k] > 0 else dtype(0)
                            else:
                                expected_out[u, i, k] = total
                arguments = (thetas, at, step, next_row, rows, P, q, terms, first)
                twin_out, twin_A = out.copy(), A.copy()
                _lane_terms_into(*arguments, out, r, finish_code, b_at, A, width)
                kernels._python_lane_terms_into(*arguments, twin_out, r, finish_code, b_at,
                                                twin_A, width)  # fmt: skip
                bits = np.dtype(f"u{np.dtype(dtype).itemsize}")
                for got in (out, twin_out):
                    np.testing.assert_array_equal(got.view(bits), expected_out.view(bits))
                for got in (A, twin_A):
                    np.testing.assert_array_equal(got.view(bits), expected_A.view(bits))


@pytest.mark.parametrize("small_tn", [0, 1], ids=["whole", "small-tn"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["forward", "weight_grad", "backprop"])
@pytest.mark.parametrize(
    "k, n, m",
    # (1100, 3, 300), (5, 300, 1100), (5, 1100, 300): each kind's output in parts of its
    # columns (_product_parts) once; the last two: a weight gradient in parts for the BLAS's
    # small-matrix kernel (_small_weight_grad_parts) when small_tn
    [(600, 3, 5), (3, 1100, 4), (700, 600, 9), (2, 40, 7), (1100, 3, 300), (5, 300, 1100),
     (5, 1100, 300), (50, 50, 113), (16, 360, 64)],
)  # fmt: skip
def test_products_in_parts_are_the_products(kind, k, n, m, dtype, small_tn, rng):
    """A layer's product, by the loops below SMALL_MATMUL multiply-adds or else by one BLAS
    gemm per part of its output (equal parts of its rows, or of its columns, or for a small
    weight gradient with ``small_tn``, parts of at most SMALL_TN_OUTPUTS values), is NumPy's
    product in float64; any block of it by one gemm is that block, and nothing else."""
    product = callable_from_python("_product_into")
    part = callable_from_python("_gemm_part")
    code = getattr(kernels, kind.upper())
    if kind == "forward":  # W (k, n), A^T (k, m) -> Z^T (n, m)
        P, Q = rng.normal(size=(k, n)).astype(dtype), rng.normal(size=(k, m)).astype(dtype)
        want = P.T.astype(np.float64) @ Q
    elif kind == "weight_grad":  # A^T (k, m), D^T (n, m) -> dW (k, n)
        P, Q = rng.normal(size=(k, m)).astype(dtype), rng.normal(size=(n, m)).astype(dtype)
        want = P.astype(np.float64) @ Q.T
    else:  # W (k, n), D^T (n, m) -> dA^T (k, m)
        P, Q = rng.normal(size=(k, n)).astype(dtype), rng.normal(size=(n, m)).astype(dtype)
        want = P.astype(np.float64) @ Q
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    close = dict(rtol=rtol, atol=rtol * np.abs(want).max())
    out = np.full(want.shape, np.nan, dtype)
    product(code, P, Q, out, np.int64(1), np.int64(small_tn))
    np.testing.assert_allclose(out, want, **close)
    rows, cols = out.shape
    blocks = [((0, 1), (0, cols)), ((1, rows // 2), (0, cols)), ((rows // 2, rows), (0, cols)),
              ((0, rows), (1, cols - 1)), ((rows // 2, rows), (cols // 2, cols))]  # fmt: skip
    for (first, last), (left, right) in blocks:  # cuts of no fixed size
        cut = np.full(want.shape, np.nan, dtype)
        part(code, P, Q, cut, first, last, left, right)
        np.testing.assert_allclose(cut[first:last, left:right], want[first:last, left:right],
                                   **close)  # fmt: skip
        outside = np.ones(want.shape, bool)
        outside[first:last, left:right] = False
        assert np.isnan(cut[outside]).all()  # nothing else


@pytest.mark.parametrize("rows", [1, 511, 512, 513, 784, 1024, 1100, 2048, 5000])
def test_the_parts_of_a_product_are_equal_and_cover_its_rows(rows):
    parts = -(-rows // kernels.PART_ROWS)
    bounds = [kernels._part_rows.py_func(part, parts, rows) for part in range(parts)]
    assert bounds[0][0] == 0 and bounds[-1][1] == rows
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))  # contiguous, in order
    sizes = [last - first for first, last in bounds]
    assert max(sizes) <= kernels.PART_ROWS and max(sizes) - min(sizes) <= parts


def test_a_product_is_cut_by_its_shape_alone():
    parts = kernels._product_parts.py_func
    assert parts(1024, 256, 784) == (4, 1)  # wide-f32's first layer: its 1024 units' rows
    assert parts(128, 256, 2048) == (1, 2)  # wide-first's 2048 -> 128: its 256 rows' columns
    assert parts(10, 256, 1024) == (1, 2)  # an output layer after 1024 units
    assert parts(128, 256, 784) == (1, 1)  # mnist-shaped: sums too short to cut
    assert parts(1100, 512, 16) == (5, 1)


def test_a_small_weight_gradient_is_cut_for_the_blas_small_kernel_by_its_shape_alone():
    parts = kernels._small_weight_grad_parts.py_func  # (rows, cols) of dW, terms summed
    assert parts(50, 50, 113) == 3  # moons-gd's 50 -> 50 layer, shards of 113 rows
    assert parts(25, 50, 113) == 2 and parts(50, 25, 113) == 2
    assert parts(64, 64, 32) == 4  # digits' 64 -> 64 layer, batches of 32
    assert parts(24, 50, 113) == 1  # 1,200 outputs: small already
    assert parts(50, 50, 31) == 1  # too few terms for the small kernel
    assert parts(100, 100, 101) == 1  # over SMALL_GEMM multiply-adds: not small
    assert parts(2, 1300, 40) == 1  # a row of more than SMALL_TN_OUTPUTS outputs
    for rows, cols, terms in [(50, 50, 113), (16, 360, 64), (360, 4, 64), (64, 64, 32)]:
        count = parts(rows, cols, terms)
        assert -(-rows // count) * cols <= kernels.SMALL_TN_OUTPUTS < rows * cols


def test_permutation_is_a_deterministic_permutation():
    first = kernels.permutation(np.uint64(7), 1000)
    np.testing.assert_array_equal(np.sort(first), np.arange(1000))
    np.testing.assert_array_equal(first, kernels.permutation(np.uint64(7), 1000))
    assert not np.array_equal(first, kernels.permutation(np.uint64(8), 1000))


def test_permutation_is_roughly_uniform():
    # Position of element 0 over many seeds: each of 5 slots about 1/5 of the time.
    hits = np.zeros(5)
    for seed in range(2000):
        hits[np.argmax(kernels.permutation(np.uint64(seed), 5) == 0)] += 1
    assert np.all(np.abs(hits / 2000 - 0.2) < 0.04)


# The dispatches as Python (NUMBA_DISABLE_JIT=1, where kernels.DEBUG is on): every registered
# code reaches a branch of its own, and an unknown one raises instead of computing a neighbour's
# function. A tiny network and one batch of 4 rows: the kernels run as plain Python here.
_DEBUG_SCRIPT = """
import numpy as np

import fnn
from fnn import kernels
from fnn.registry import ACTIVATIONS, HIDDEN_ACTIVATIONS, LOSSES

assert kernels.DEBUG
calls = {}
engine_kernel, members_kernel = kernels.train_and_evaluate, kernels.train_members


def recorded(name, kernel):
    def record(*args):
        calls[name] = args
        return kernel(*args)

    return record


kernels.train_and_evaluate = recorded("engine", engine_kernel)
kernels.train_members = recorded("members", members_kernel)
X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.5]])
labels = {"binary": np.array([1, 1, 0, 0]), "classes": np.array([0, 1, 2, 1])}
for hidden in HIDDEN_ACTIVATIONS:
    net = fnn.mlp([2, 2, 1], hidden=hidden)
    fnn.fit(net, fnn.init(net, key=0), fnn.adam(0.1), X, labels["binary"], epochs=1)
for loss, entry in LOSSES.items():
    for output in entry.outputs:
        units = max(1, ACTIVATIONS[output].min_units, 3 if entry.labels == "classes" else 1)
        y = labels.get(entry.labels, np.full((4, units), 0.25))
        net = fnn.mlp([2, 2, units], output=output, loss=loss)
        fnn.fit(net, fnn.init(net, key=0), fnn.sgd(0.1), X, y, epochs=1)
net = fnn.mlp([2, 2, 1])
for opt in (fnn.sgd(0.1), fnn.momentum(0.1), fnn.rmsprop(0.1), fnn.adamw(0.1), fnn.adam(0.1)):
    fnn.fit(net, fnn.init(net, key=0), opt, X, labels["binary"], epochs=1)
members = [fnn.init(net, key=k) for k in range(2)]
fnn.fit_many(net, members, fnn.adam(0.1), X, labels["binary"], epochs=1)
# Side by side with softmax and validation too: the members' evaluation runs the engine's
# chunk, with buffers of their own, which an index out of range in Python shows too small.
softmax_net = fnn.mlp([2, 2, 3], output="softmax")
members = [fnn.init(softmax_net, key=k) for k in range(2)]
fnn.fit_many(softmax_net, members, fnn.adam(0.1), X, labels["classes"], epochs=1,
             validation=(X, labels["classes"]))  # fmt: skip
print("registered codes ran", "members" in calls)

LAYERS, PLAN = 3, 4  # train_and_evaluate's arguments (see its docstring)
unknown = 99
for what, index, change in (
    ("activation", LAYERS, lambda layers: layers[0].__setitem__(4, unknown)),
    ("loss", PLAN, lambda plan: plan.__setitem__(kernels.LOSS, unknown)),
    ("optimizer", PLAN, lambda plan: plan.__setitem__(kernels.OPTIMIZER, unknown)),
):
    args = list(calls["engine"])
    args[index] = args[index].copy()
    change(args[index])
    try:
        engine_kernel(*args)
    except ValueError as error:
        print(what, "->", error)
args = list(calls["members"])
args[5] = args[5].copy()  # train_members' plan
args[5][kernels.OPTIMIZER] = unknown
try:
    members_kernel(*args)
except ValueError as error:
    print("members optimizer ->", error)
"""


def test_every_dispatch_names_its_codes_and_an_unknown_one_raises_in_a_debug_run():
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _DEBUG_SCRIPT], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "registered codes ran True",
        "activation -> unknown activation code",
        "loss -> unknown loss code",
        "optimizer -> unknown optimizer code",
        "members optimizer -> unknown optimizer code",
    ], run.stdout + run.stderr

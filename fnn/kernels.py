"""Every Numba kernel of fnn: one feature-major batch engine, and the shuffles.

All of it lives in one module because Numba's on-disk cache only notices edits to the file
a kernel is defined in.

Conventions
-----------
* Parameters travel as one flat vector ``theta``; ``layers`` is an int64 array of shape
  (n_layers, 5) holding ``n_in, n_out, W offset, b offset, activation code`` per layer. ``W``
  is stored row-major with shape (n_in, n_out), followed by ``b`` of shape (n_out,).
* Inside the engine a batch of ``m`` rows is feature-major: layer ``l``'s ``Z`` and ``A`` are
  (n_out, m) blocks of flat buffers, so every loop runs along the rows of the batch,
  contiguously, whatever the layer widths. ``abuf`` holds ``[X^T | A_1 | ... | A_L]``,
  ``zbuf`` and ``dbuf`` (the errors dLoss/dZ) hold ``[Z_1 | ... | Z_L]``.
* Activations, losses and optimizers are integer codes defined here; :mod:`fnn.registry`
  gives them names and properties.
* The engine (:func:`train_and_evaluate` and its variants ``train_and_evaluate_full`` and
  ``train_and_evaluate_threaded``, one source), opt_step's :func:`update`, fit_many's
  :func:`train_members` and the shuffles are the entry points. They take arrays and scalars only,
  allocate what they return and never write into their arguments (which the Python side
  passes writable and C-contiguous, so that each entry has one compiled version per dtype).
  Helpers ending in ``_into`` write only into buffers their caller allocated.
* Compile time is a user-visible cost: Numba compiles every function once per signature and
  re-optimises callees inside their caller, so the engine is one entry with one call site per
  helper where it can, every helper sees one signature, and what few calls use (dropout,
  gradient clipping, the smooth activations, the losses beyond bce, ce and mse, threads)
  compiles only into the variants that have it (see :func:`_variant`; the figures:
  benchmarks/README.md, "Compile time of a first call").
"""

import math
import types

import numpy as np
from llvmlite import ir as llvm_ir
from numba import config, njit, prange
from numba import types as numba_types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from fnn.compile_notice import disk_cache_usable
from fnn.shipped import attach

# One decorator policy: cached on disk, no GIL, NumPy's error model (x / 0 gives inf or nan, as
# in NumPy, instead of a ZeroDivisionError check on every division, which keeps loops with a
# division from vectorising), and of fast maths only the freedom over the sign of zero. No
# reassociation, reciprocals, approximate functions or fused multiply-adds (LLVM picks which
# product of ``a * b + c * d`` to fuse by the order of its instruction graph, which changes from
# one compilation to the next): every value is computed by the operations written, in the order
# written, whichever loop it sits in and however LLVM vectorises that loop, so the member-
# interleaved kernel of fit_many (train_members) computes each member's bits exactly as the engine
# does for one fit (and no bit depends on whether the CPU has FMA instructions). Reductions along
# the rows of a batch keep their speed by summing in ROW_LANES explicit partial sums (see
# _dot_rows). No C-callable wrapper (``cfunc``-style, which nothing of fnn calls): one less function
# to lower and compile for every kernel and helper.
POLICY = dict(
    cache=disk_cache_usable(),
    nogil=True,
    error_model="numpy",
    fastmath={"nsz"},
    no_cfunc_wrapper=True,
)


def kernel(function):
    """An entry kernel, called from Python: compiled on first use, or loaded from the kernels a
    wheel ships (:mod:`fnn.shipped`) or from Numba's disk cache."""
    return attach(njit(**POLICY)(function))


# Helpers called only from compiled code need no Python wrapper (less to compile).
helper = njit(no_cpython_wrapper=True, **POLICY)
# Parts of the engine with one call site are inlined into it by Numba, not compiled on their own
# and again inside their caller (LLVM re-optimises a callee within every caller).
part = njit(inline="always", no_cpython_wrapper=True, **POLICY)
# Helpers given arrays that neither allocate nor return one run without Numba's reference
# counting (_nrt=False): counting every array in and out of each call (atomic adds) took about
# a fifth of a tiny network's batch, which makes tens of such calls. Numba refuses to compile an
# allocation in them.
uncounted = njit(no_cpython_wrapper=True, _nrt=False, **POLICY)

# Every dispatch on a code (activation, loss, optimizer) names each of its codes and ends with
# ``if DEBUG: raise``: where the kernels run as Python (NUMBA_DISABLE_JIT=1, the debug build), an
# unknown code is an error; compiled, the constant folds the check away (the callers pass the
# registry's codes) and an unknown code computes nothing.
DEBUG = bool(config.DISABLE_JIT)

# Activation codes (softmax couples the units of a row; the others are elementwise).
IDENTITY, RELU, SIGMOID, TANH, SOFTMAX = 0, 1, 2, 3, 4
LEAKY_RELU, ELU, GELU, SILU, SOFTPLUS = 5, 6, 7, 8, 9
LEAKY_SLOPE = 0.01  # leaky_relu's slope for z < 0 (PyTorch's and Keras' default)
SQRT_HALF = 0.7071067811865476  # 1 / sqrt(2), for the normal CDF of gelu
INV_SQRT_2PI = 0.3989422804014327  # 1 / sqrt(2 pi), for the normal density of gelu'
# Loss codes.
BCE, CE, MSE, HUBER, MAE, POISSON, QUANTILE = 0, 1, 2, 3, 4, 5, 6
# Optimizer codes; NO_UPDATE runs the batches without changing the parameters.
NO_UPDATE, SGD, MOMENTUM, RMSPROP, ADAM, ADAMW = -1, 0, 1, 2, 3, 4

# Entries of the int64 ``plan`` vector that tells :func:`train_and_evaluate` what to do.
LOSS, CHAIN_RULE, OPTIMIZER, STEP, FIRST_EPOCH, EPOCHS, BATCH, CHUNK, STORE, DROPOUT = range(10)
# plan[STOP] is 0; another thread sets it to 1 to stop a running call (Ctrl-C, fnn.engine).
STOP = 10
# Sharding of training batches (see shard_rows) and the threads that run the shards.
SHARD_WORK, MAX_SHARDS, THREADS = 11, 12, 13
# 1 when the BLAS runs small products with A transposed in a kernel of its own (see
# _small_weight_grad_parts), else 0.
SMALL_TN = 14
PLAN_SIZE = 15
# Dropout modes (plan[DROPOUT]): none; fit's (training batches only, each with its own masks,
# drawn from the update's number); a given key's (every batch and chunk, one seed).
NO_DROPOUT, PER_UPDATE, KEYED = np.int64(0), np.int64(1), np.int64(2)
# fit's dropout stream: fold_in(key, DROPOUT_STREAM), which no epoch number reaches.
DROPOUT_STREAM = np.uint64(2**64 - 1)

# Matrix products run as plain loops below SMALL_MATMUL multiply-adds, or when a dimension
# of W is at most SKINNY (BLAS packs such products slowly); above, BLAS. Chosen by measuring
# both on the benchmark shapes (benchmarks/README.md, "Measurements behind the kernel's
# constants").
SMALL_MATMUL = 8192
SKINNY = 2
# OpenBLAS's rule (its SkylakeX kernels', which the Cooperlake and Sapphire Rapids ones include)
# for a product small enough for its small-matrix kernels, which skip the packing copies: at most
# SMALL_GEMM multiply-adds, and when A is transposed (as in every weight gradient here) an
# output of at most SMALL_TN_OUTPUTS values and sums over at least SMALL_TN_TERMS terms.
SMALL_GEMM = 1_000_000
SMALL_TN_OUTPUTS = 1200
SMALL_TN_TERMS = 32
GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# A training batch of m rows is cut into a power of two of equal shards, as many as hold
# plan[SHARD_WORK] multiply-adds of forward pass (m times the parameter count) and MIN_SHARD_ROWS
# rows each, at most plan[MAX_SHARDS] (see shard_rows): a power of two, so that 2, 4, 8 or 16
# threads share them evenly. Each shard's gradient is computed on its own buffers, by whichever
# thread, and the shards' gradients are summed in shard order: the bits depend on the batch and
# the network only, never on the thread count. Smaller shards, or shards of a smaller batch, cost
# more than threads gain (each writes and sums a whole gradient): the measurements are in
# benchmarks/README.md ("Measurements behind the kernel's constants").
DEFAULT_SHARD_WORK = 1 << 19
DEFAULT_MAX_SHARDS = 16
MIN_SHARD_ROWS = 64

# NumPy scalars, not ints: Numba would compile one specialisation per literal int (a variable
# first assigned a literal int too, as typing meets it before the loop that changes it).
FORWARD, WEIGHT_GRAD, BACKPROP = np.int64(0), np.int64(1), np.int64(2)
NO_FINISH = np.int64(-1)  # a members' product pass with nothing after its sums
ORIGIN, ONE_THREAD, ONE_SHARD = np.int64(0), np.int64(1), np.int64(1)


# -- randomness: counter-based, so that a key alone fixes every shuffle ----------------------------


@helper
def _mix64(z):
    """SplitMix64's finaliser: a bijective scramble of 64 bits."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@kernel
def fold_in(seed, data):
    """A new 64-bit seed from ``seed`` and an integer ``data`` (as ``jax.random.fold_in``)."""
    return _mix64(seed ^ _mix64(np.uint64(data) + GOLDEN))


@part
def _shuffle_into(seed, values, draws):
    """Fisher-Yates shuffle of ``values`` (n,) in place, driven by a SplitMix64 stream: step
    ``t = 1, ..., n - 1`` swaps ``i = n - t`` with ``j = floor(u * (i + 1))``, ``u`` the top 53
    bits of ``_mix64(seed + t * GOLDEN)`` as a fraction. ``values`` then holds its old
    ``values[perm]``, ``perm`` the same shuffle of ``0..n-1`` (:func:`_permutation_into`). The
    draws go into ``draws`` (n,) first, in a loop of their own, which vectorises (the swaps,
    one after another, do not)."""
    n = values.shape[0]
    for i in range(1, n):
        state = seed + np.uint64(n - i) * GOLDEN
        unit = float(_mix64(state) >> np.uint64(11)) * 2.0**-53
        draws[i] = min(int(unit * (i + 1)), i)
    for i in range(n - 1, 0, -1):
        j = draws[i]
        values[i], values[j] = values[j], values[i]


@uncounted
def _permutation_into(seed, perm, draws):
    """``perm`` = ``0..n-1`` shuffled by :func:`_shuffle_into`."""
    for i in range(perm.shape[0]):
        perm[i] = i
    _shuffle_into(seed, perm, draws)


@uncounted
def _dropout_mask_into(seed, rate, first_row, M):
    """The inverted-dropout mask of a feature-major (units, rows) block: ``1 / (1 - rate)``
    for a kept unit, 0 for a dropped one.

    Units ``2p`` and ``2p + 1`` of row ``r = first_row + i`` read the low and the high 32 bits
    of ``_mix64(seed + (r * ceil(units / 2) + p + 1) * GOLDEN)`` (SplitMix64's output
    number ``r * ceil(units / 2) + p`` of the stream ``seed``), and are kept when theirs are
    at least ``ceil(rate * 2**32)``: with probability ``1 - rate``, to 2**-32. The mask is a
    function of (seed, row, unit) alone.
    """
    n, m = M.shape
    threshold = np.uint64(math.ceil(rate * 2.0**32))
    scale = M.dtype.type(1.0 / (1.0 - rate))
    zero = M.dtype.type(0)
    low, shift = np.uint64(0xFFFFFFFF), np.uint64(32)
    pairs = np.uint64((n + 1) // 2)
    for p in range((n + 1) // 2):
        j = 2 * p
        counter = np.uint64(first_row) * pairs + np.uint64(p + 1)
        if j + 1 < n:
            for i in range(m):
                bits = _mix64(seed + counter * GOLDEN)
                M[j, i] = scale if (bits & low) >= threshold else zero
                M[j + 1, i] = scale if (bits >> shift) >= threshold else zero
                counter += pairs
        else:
            for i in range(m):
                bits = _mix64(seed + counter * GOLDEN)
                M[j, i] = scale if (bits & low) >= threshold else zero
                counter += pairs


@uncounted
def _times_into(P, Q, out):
    """``out = P * Q`` elementwise (2-D, same shapes); ``out`` may be ``P``."""
    n, m = P.shape
    for j in range(n):
        for i in range(m):
            out[j, i] = P[j, i] * Q[j, i]


@kernel
def permutation(seed, n):
    """A permutation of ``range(n)`` fixed by the 64-bit ``seed``."""
    perm = np.empty(n, np.int64)
    _permutation_into(seed, perm, np.empty(n, np.int64))
    return perm


# -- elementary functions: the same bits on every CPU, and loops that vectorise --------------------
#
# exp, expm1, log1p and tanh as polynomials in +, -, * and / alone (no fused multiply-add: see
# POLICY), which IEEE 754 rounds the same way on every CPU and in every SIMD lane. libm's are calls
# that no loop vectorises (glibc's tanh and the expm1 it calls took 45 % of small-tanh's time:
# benchmarks/README.md), and glibc picks an FMA or a plain variant by the CPU. They compute in
# float64 whatever the argument's dtype (a float32 result is that value rounded once more), within
# 1 ulp of the exact value (tanh: 3 ulp), as tests/test_elementary.py checks against NumPy and
# mpmath. The exponent 2**n is put together from its bits: _float64_from_bits and
# _bits_of_float64 reinterpret 8 bytes, one instruction compiled, NumPy's view as Python.

INV_LN2 = 1.4426950408889634  # 1 / ln 2
# ln 2 in two parts: LN2_HI has 32 significant bits, so n * LN2_HI is exact for |n| < 2**21.
LN2_HI = 0.6931471803691238
LN2_LO = 1.9082149292705877e-10
# x + 1.5 * 2**52 rounds x (|x| < 2**51) to an integer held in the low bits of the sum.
ROUNDING_SHIFT = 6755399441055744.0
ROUNDING_SHIFT_BITS = 0x4338000000000000
EXPONENT_BIAS = 1023
FRACTION_BITS = 52
FRACTION_MASK = (1 << FRACTION_BITS) - 1
SQRT_HALF_BITS = 0x3FE6A09E667F3BCD  # the bits of sqrt(1/2)
ONE_BITS = 0x3FF0000000000000  # the bits of 1.0
# exp(x) overflows above 709.79 and is 0 below -745.14; these bounds keep 2**n's bits valid.
EXP_LOWEST, EXP_HIGHEST = -746.0, 710.0
# expm1(x) is -1 in float64 below -37.5: the bound keeps 2**n normal.
EXPM1_LOWEST = -40.0
# Taylor coefficients, highest power first: 1 / k! of (expm1(r) - r) / r**2 (k = 13 .. 2), and
# 2 / (2 j + 1) of (2 atanh(s) - 2 s) / s**3 in s**2 (j = 9 .. 1).
EXPM1_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(13, 1, -1))
ATANH_TAYLOR = tuple(2.0 / (2 * j + 1) for j in range(9, 0, -1))


def _python_float64_from_bits(bits):
    return np.int64(bits).view(np.float64)


def _python_bits_of_float64(value):
    return np.float64(value).view(np.int64)


@intrinsic
def _compiled_float64_from_bits(typingctx, bits):
    if bits != numba_types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.DoubleType())

    return numba_types.float64(numba_types.int64), codegen


@intrinsic
def _compiled_bits_of_float64(typingctx, value):
    if value != numba_types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.IntType(64))

    return numba_types.int64(numba_types.float64), codegen


def _python_view(buffer, at, shape):
    """:func:`_compiled_view` in NumPy (the debug build), checked: a view past the buffer's
    end raises."""
    return buffer.reshape(buffer.size)[at : at + math.prod(shape)].reshape(shape)


@intrinsic
def _compiled_view(typingctx, buffer, at, shape):
    """The C-ordered view of the given ``shape`` on a C-contiguous ``buffer``'s values from
    the ``at``-th on (an element offset; unchecked: the caller's to keep within the buffer).
    ``reshape`` would do, but calls a C helper of Numba's that costs about 30 ns: tens of
    views per batch made a third of a tiny network's batch."""
    if not (
        isinstance(buffer, numba_types.Array) and buffer.layout == "C"
        and isinstance(at, numba_types.Integer) and isinstance(shape, numba_types.UniTuple)
        and isinstance(shape.dtype, numba_types.Integer)
    ):  # fmt: skip
        return None
    view_type = buffer.copy(ndim=shape.count, layout="C")

    def codegen(context, builder, signature, args):
        buffer_type, at_type, shape_type = signature.args
        array = make_array(buffer_type)(context, builder, args[0])
        start = context.cast(builder, args[1], at_type, numba_types.intp)
        extents = [
            context.cast(builder, extent, shape_type.dtype, numba_types.intp)
            for extent in cgutils.unpack_tuple(builder, args[2], shape_type.count)
        ]
        strides, stride = [], array.itemsize
        for extent in reversed(extents):
            strides.insert(0, stride)
            stride = builder.mul(stride, extent)
        view = make_array(view_type)(context, builder)
        populate_array(view, data=builder.gep(array.data, [start]), shape=extents,
                       strides=strides, itemsize=array.itemsize, meminfo=array.meminfo,
                       parent=array.parent)  # fmt: skip
        return impl_ret_borrowed(context, builder, view_type, view._getvalue())

    return view_type(buffer, at, shape), codegen


# The bytes of one SIMD vector of a member's lanes (train_members pads its lanes to whole vectors
# of this size: 8 float64 or 16 float32).
VECTOR_BYTES = 64


# The counts of a members' product's rows, or weight gradient's sums, and of its terms that one
# pass of _compiled_lane_terms_into or _compiled_lane_dot_rows runs: its weights (at most 16
# vectors), its terms of a row and its sums stay in registers (32 vectors with AVX-512).
BLOCKS = (1, 2, 4)


def _python_lane_dot_rows(P, p, Q, j, count, m, out, row, first):
    """:func:`_compiled_lane_dot_rows` in NumPy (the debug build): the same operations, lane
    by lane."""
    lanes = slice(first, first + VECTOR_BYTES // P.itemsize)
    whole = m - m % ROW_LANES
    for c in range(count):
        sums = [np.zeros(VECTOR_BYTES // P.itemsize, P.dtype) for _ in range(ROW_LANES)]
        for i in range(0, whole, ROW_LANES):
            for lane in range(ROW_LANES):
                sums[lane] = sums[lane] + P[p, i + lane, lanes] * Q[j + c, i + lane, lanes]
        total = (sums[0] + sums[1]) + (sums[2] + sums[3])
        for i in range(whole, m):
            total = total + P[p, i, lanes] * Q[j + c, i, lanes]
        out[row + c, lanes] = total


def _vector_pointer(builder, array, index, lane, vector):
    """In an intrinsic's code: the address of the SIMD ``vector`` at ``array[*index, lane:]``
    of a C-contiguous array (``index``: LLVM integers, one fewer than its dimensions)."""
    shape = cgutils.unpack_tuple(builder, array.shape, len(index) + 1)
    flat = index[0]
    for i, extent in zip((*index[1:], lane), shape[1:]):
        flat = builder.add(builder.mul(flat, extent), i)
    return builder.bitcast(builder.gep(array.data, [flat]), vector.as_pointer())


@intrinsic
def _compiled_lane_dot_rows(typingctx, P, p, Q, j, count, m, out, row, first):
    """``out[row + c, k] = sum_i P[p, i, k] * Q[j + c, i, k]`` (i < m) for c < ``count`` (1, 2
    or 4: BLOCKS) and the lanes ``k`` of one SIMD vector from ``first`` (VECTOR_BYTES), in the
    order of :func:`_dot_rows`: ROW_LANES partial sums over the rows i = lane mod ROW_LANES
    from zero, ``(s0 + s1) + (s2 + s3)``, then the rows past the last whole ROW_LANES one by
    one; each lane's multiplications and additions are IEEE operations of its own, so each lane
    gets the bits of the scalar loop. P, Q: (n, m, lanes), out: (rows, lanes), C-contiguous, of
    one float dtype; unchecked indices. The partial sums stay in registers: written as loops
    over the lanes in Numba, each was loaded and stored at every row (1.3-1.7 times slower,
    benchmarks/README.md); and P's row is loaded once for the ``count`` sums."""
    arrays = (P, Q, out)
    if not (
        all(isinstance(a, numba_types.Array) and a.layout == "C" for a in arrays)
        and P.ndim == 3 and Q.ndim == 3 and out.ndim == 2
        and P.dtype in (numba_types.float32, numba_types.float64)
        and Q.dtype == P.dtype and out.dtype == P.dtype
        and all(isinstance(n, numba_types.Integer) for n in (p, j, count, m, row, first))
    ):  # fmt: skip
        return None
    width = VECTOR_BYTES // (P.dtype.bitwidth // 8)

    def codegen(context, builder, signature, args):
        P_array, Q_array, out_array = (
            make_array(signature.args[at])(context, builder, args[at]) for at in (0, 2, 6)
        )
        p_at, j_at, n_sums, m_rows, out_row, lane = (
            context.cast(builder, args[at], signature.args[at], numba_types.intp)
            for at in (1, 3, 4, 5, 7, 8)
        )
        intp = context.get_value_type(numba_types.intp)
        vector = llvm_ir.VectorType(context.get_value_type(P.dtype), width)
        align = P.dtype.bitwidth // 8
        zero = llvm_ir.Constant(vector, None)

        def constant(value):
            return llvm_ir.Constant(intp, value)

        def pointer(array, *index):  # the vector at array[*index, lane:]
            return _vector_pointer(builder, array, index, lane, vector)

        def add_terms(sums, i):  # sums[c] += P[p, i] * Q[j + c, i]
            row_of_P = builder.load(pointer(P_array, p_at, i), align=align)
            for c, partial in enumerate(sums):
                row_of_Q = builder.load(pointer(Q_array, builder.add(j_at, constant(c)), i),
                                        align=align)  # fmt: skip
                term = builder.fmul(row_of_P, row_of_Q)
                builder.store(builder.fadd(builder.load(partial), term), partial)

        def sums_of(block):
            partials = [[cgutils.alloca_once_value(builder, zero) for _ in range(ROW_LANES)]
                        for _ in range(block)]  # fmt: skip
            step = constant(ROW_LANES)
            whole = builder.sub(m_rows, builder.srem(m_rows, step))
            with cgutils.for_range_slice(builder, constant(0), whole, step) as (i, _):
                for k in range(ROW_LANES):
                    add_terms([sums[k] for sums in partials], builder.add(i, constant(k)))
            totals = []
            for sums in partials:
                s0, s1, s2, s3 = (builder.load(partial) for partial in sums)
                totals.append(cgutils.alloca_once_value(
                    builder, builder.fadd(builder.fadd(s0, s1), builder.fadd(s2, s3))
                ))  # fmt: skip
            with cgutils.for_range_slice(builder, whole, m_rows, constant(1)) as (i, _):
                add_terms(totals, i)
            for c, total in enumerate(totals):
                at = pointer(out_array, builder.add(out_row, constant(c)))
                builder.store(builder.load(total), at, align=align)

        for block in BLOCKS:
            with builder.if_then(builder.icmp_signed("==", n_sums, constant(block))):
                sums_of(block)
        return context.get_dummy_value()

    return numba_types.void(P, p, Q, j, count, m, out, row, first), codegen


def _python_lane_terms_into(thetas, at, step, next_row, rows, P, q, terms, first, out, r, finish,
                            b_at, A, lane):  # fmt: skip
    """:func:`_compiled_lane_terms_into` in NumPy (the debug build): the same operations, lane
    by lane."""
    lanes = slice(lane, lane + VECTOR_BYTES // P.itemsize)
    zero = np.zeros(VECTOR_BYTES // P.itemsize, P.dtype)
    for u in range(r, r + rows):
        w_at = at + (u - r) * next_row
        for i in range(out.shape[1]):
            total = zero if first else out[u, i, lanes]
            for t in range(terms):
                total = total + thetas[w_at + t * step, lanes] * P[q + t, i, lanes]
            if finish == FORWARD:
                z = total + thetas[b_at + u, lanes]
                A[u, i, lanes] = np.where(z > zero, z, zero)
            elif finish == BACKPROP:
                out[u, i, lanes] = np.where(A[u, i, lanes] > zero, total, zero)
            else:
                out[u, i, lanes] = total


@intrinsic
def _compiled_lane_terms_into(
    typingctx, thetas, at, step, next_row, rows, P, q, terms, first, out, r, finish, b_at, A, lane
):
    """One pass of :func:`_member_product_into` over the rows u = r .. r + ``rows`` - 1 of
    ``out``, for the lanes k of one SIMD vector from ``lane`` (VECTOR_BYTES): ``out[u, i, k]``
    (0 if ``first``) ``+ W_ut P[q + t, i, k]`` for t < ``terms``, in the order of t, where
    ``W_ut = thetas[at + (u - r) next_row + t step, k]``; then the relu's ``finish`` (FORWARD:
    ``A[u, i, k] = relu(out + thetas[b_at + u, k])``, out not written; BACKPROP: ``out = 0``
    where ``A[u, i, k]`` is not above 0; NO_FINISH: none). ``rows`` and ``terms`` are each 1,
    2 or 4 (BLOCKS). Each lane's operations are IEEE operations of its own, those of the scalar
    loop. thetas: (n, lanes), P, out, A: (rows, m, lanes), C-contiguous, of one float dtype;
    unchecked indices.

    A row's terms P[q + t, i] are loaded once for the block's ``rows`` sums, and the weights
    stay in registers across the m rows: the loops over the lanes in Numba loaded each again
    for every row of ``out`` and every i (LLVM cannot tell that ``out`` does not alias them).
    """
    arrays = (thetas, P, out, A)
    if not (
        all(isinstance(a, numba_types.Array) and a.layout == "C" for a in arrays)
        and thetas.ndim == 2 and P.ndim == 3 and out.ndim == 3 and A.ndim == 3
        and P.dtype in (numba_types.float32, numba_types.float64)
        and all(a.dtype == P.dtype for a in arrays)
        and all(isinstance(n, numba_types.Integer)
                for n in (at, step, next_row, rows, q, terms, r, finish, b_at, lane))
        and isinstance(first, numba_types.Boolean)
    ):  # fmt: skip
        return None
    width = VECTOR_BYTES // (P.dtype.bitwidth // 8)
    signature = numba_types.void(thetas, at, step, next_row, rows, P, q, terms, first, out, r,
                                 finish, b_at, A, lane)  # fmt: skip

    def codegen(context, builder, signature, args):
        theta_array, P_array, out_array, A_array = (
            make_array(signature.args[k])(context, builder, args[k]) for k in (0, 5, 9, 13)
        )
        w_at, w_step, w_next_row, n_rows, p_at, n_terms, row, finish_code, bias_at, first_lane = (
            context.cast(builder, args[k], signature.args[k], numba_types.intp)
            for k in (1, 2, 3, 4, 6, 7, 10, 11, 12, 14)
        )
        from_zero = args[8]
        intp = context.get_value_type(numba_types.intp)
        vector = llvm_ir.VectorType(context.get_value_type(P.dtype), width)
        align = P.dtype.bitwidth // 8
        zero = llvm_ir.Constant(vector, None)

        def constant(value):
            return llvm_ir.Constant(intp, int(value))

        def plus(a, b):
            return builder.add(a, constant(b) if isinstance(b, int) else b)

        def load(array, *index):  # the vector at array[*index, lane:]
            return builder.load(_vector_pointer(builder, array, index, first_lane, vector),
                                align=align)  # fmt: skip

        def store(value, array, *index):
            pointer = _vector_pointer(builder, array, index, first_lane, vector)
            builder.store(value, pointer, align=align)

        def relu_positive(value):
            return builder.fcmp_ordered(">", value, zero)

        def block_loop(block_rows, block_terms, starts_at_zero, kind):
            weights = [
                [load(theta_array, plus(builder.add(w_at, builder.mul(constant(u), w_next_row)),
                                        builder.mul(constant(t), w_step)))
                 for t in range(block_terms)]
                for u in range(block_rows)
            ]  # fmt: skip
            if kind == FORWARD:
                biases = [load(theta_array, plus(plus(bias_at, row), u)) for u in range(block_rows)]
            _, m_rows, _ = cgutils.unpack_tuple(builder, out_array.shape, 3)
            with cgutils.for_range(builder, m_rows, intp=intp) as loop:
                i = loop.index
                terms_i = [load(P_array, plus(p_at, t), i) for t in range(block_terms)]
                for u in range(block_rows):
                    out_row = plus(row, u)
                    total = zero if starts_at_zero else load(out_array, out_row, i)
                    for weight, term in zip(weights[u], terms_i):
                        total = builder.fadd(total, builder.fmul(weight, term))
                    if kind == FORWARD:
                        z = builder.fadd(total, biases[u])
                        store(builder.select(relu_positive(z), z, zero), A_array, out_row, i)
                    elif kind == BACKPROP:
                        active = relu_positive(load(A_array, out_row, i))
                        store(builder.select(active, total, zero), out_array, out_row, i)
                    else:
                        store(total, out_array, out_row, i)

        # One loop for each count of rows and terms, start and finish, chosen once per call.
        for block_rows in BLOCKS:
            for block_terms in BLOCKS:
                for starts_at_zero in (False, True):
                    for kind in (NO_FINISH, FORWARD, BACKPROP):
                        chosen = [
                            builder.icmp_signed("==", n_rows, constant(block_rows)),
                            builder.icmp_signed("==", n_terms, constant(block_terms)),
                            builder.icmp_signed("==", finish_code, constant(kind)),
                            builder.icmp_unsigned(
                                "==", from_zero, llvm_ir.Constant(from_zero.type, starts_at_zero)
                            ),
                        ]
                        all_chosen = chosen[0]
                        for condition in chosen[1:]:
                            all_chosen = builder.and_(all_chosen, condition)
                        with builder.if_then(all_chosen):
                            block_loop(block_rows, block_terms, starts_at_zero, kind)
        return context.get_dummy_value()

    return signature, codegen


# The kernels run as Python when DEBUG, where an intrinsic cannot be called.
_float64_from_bits = _python_float64_from_bits if DEBUG else _compiled_float64_from_bits
_bits_of_float64 = _python_bits_of_float64 if DEBUG else _compiled_bits_of_float64
_view = _python_view if DEBUG else _compiled_view
_lane_dot_rows = _python_lane_dot_rows if DEBUG else _compiled_lane_dot_rows
_lane_terms_into = _python_lane_terms_into if DEBUG else _compiled_lane_terms_into


@part
def _horner(x, coefficients):
    """``c[0] x**(d - 1) + ... + c[d - 1]`` of a tuple of d coefficients, by Horner's rule."""
    total = coefficients[0]
    for c in coefficients[1:]:
        total = total * x + c
    return total


@part
def _power_of_two(n):
    """``2.0**n`` for an int64 ``-1022 <= n <= 1023``, from its bits."""
    return _float64_from_bits((n + EXPONENT_BIAS) << FRACTION_BITS)


@part
def _exp_reduced(x):
    """``(p, n)`` with ``exp(x) = (1 + p) 2**n``: ``n = round(x / ln 2)`` (an int64) and
    ``p = expm1(r)`` of the rest ``r = x - n ln 2``, ``|r| <= ln(2) / 2``, by its Taylor series
    to ``r**13 / 13!`` (the next term is below 2**-56 of ``r``), ``|x| < 2**20``."""
    shifted = x * INV_LN2 + ROUNDING_SHIFT
    n_float = shifted - ROUNDING_SHIFT
    n = _bits_of_float64(shifted) - ROUNDING_SHIFT_BITS
    r = (x - n_float * LN2_HI) - n_float * LN2_LO
    return r + (r * r) * _horner(r, EXPM1_TAYLOR), n


@part
def _exp(x):
    """``exp(x)`` in float64, within 1 ulp; inf above 709.79, 0 (or subnormal) below -708.4.
    ``2**n`` is applied in two halves, so that each is a normal number and a subnormal result
    is rounded once."""
    x = np.float64(x)
    x = EXP_LOWEST if x < EXP_LOWEST else (EXP_HIGHEST if x > EXP_HIGHEST else x)  # NaN stays
    p, n = _exp_reduced(x)
    half = n >> 1
    return ((1.0 + p) * _power_of_two(half)) * _power_of_two(n - half)


@part
def _expm1(x):
    """``exp(x) - 1`` in float64 for ``x <= 0``, within 1 ulp: ``2**n p + (2**n - 1)``, where
    ``2**n - 1`` is exact and so is the product."""
    x = np.float64(x)
    x = EXPM1_LOWEST if x < EXPM1_LOWEST else x
    p, n = _exp_reduced(x)
    scale = _power_of_two(n)
    return scale * p + (scale - 1.0)


@part
def _tanh(x):
    """``tanh(x)`` in float64, within 3 ulp: ``-t / (t + 2)`` with ``t = expm1(-2 |x|)``, which
    neither overflows nor cancels, and the sign of x."""
    t = _expm1(-2.0 * abs(np.float64(x)))
    return math.copysign(-t / (t + 2.0), x)


@part
def _log1p(x):
    """``log(1 + x)`` in float64 for finite ``x >= 0``, within 1 ulp.

    ``u = 1 + x`` rounded is ``2**k m`` with ``sqrt(1/2) <= m < sqrt 2``; ``lost = (x - (u -
    1)) / u`` is what the rounding lost (``1 - (u - x)`` once u is 4 or more). With ``f = m -
    1`` and ``s = f / (2 + f)``, ``log m = 2 atanh s = f - f**2 / 2 + s (f**2 / 2 + R)``,
    ``R = sum 2 s**2j / (2j + 1)`` to ``j = 9`` (``s**2 < 0.0295``: the next term is below
    2**-56 of the sum), and ``log(1 + x) = k ln 2 + log m + lost``.
    """
    x = np.float64(x)
    u = 1.0 + x
    shifted = _bits_of_float64(u) + (ONE_BITS - SQRT_HALF_BITS)
    k = (shifted >> FRACTION_BITS) - EXPONENT_BIAS
    m = _float64_from_bits((shifted & FRACTION_MASK) + SQRT_HALF_BITS)
    lost = (x - (u - 1.0) if k < 2 else 1.0 - (u - x)) / u
    k_float = np.float64(k)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    r = _horner(z, ATANH_TAYLOR) * z
    half_f_squared = 0.5 * f * f
    log_m_rest = s * (half_f_squared + r) + (k_float * LN2_LO + lost)
    return k_float * LN2_HI - ((half_f_squared - log_m_rest) - f)


# -- one layer, feature-major ----------------------------------------------------------------------
#
# Constants are cast to the array's dtype (``Z.dtype.type(1)``) so that float32 work stays
# float32 and vectorises; a float64 literal would widen every element and back.


@part
def _block(buffer, at, rows, cols):
    """The (rows, cols) C-ordered view of ``buffer[at : at + rows * cols]``."""
    return _view(buffer, at, (rows, cols))


# Partial sums of a reduction along the rows of a batch (see _dot_rows).
ROW_LANES = 4


@part
def _dot_rows(P, p, Q, j, m):
    """``sum_i P[p, i] * Q[j, i]`` over ``i < m``, in P's dtype, in a fixed order: ROW_LANES
    partial sums (row i into sum ``i % 4``) over the first ``m - m % 4`` rows, combined as
    ``(s0 + s1) + (s2 + s3)``, then the remaining rows one by one. Four independent sums run
    as one SIMD register; the order is the one :func:`_member_dot_rows` keeps per member."""
    s0 = s1 = s2 = s3 = P.dtype.type(0)
    whole = m - m % ROW_LANES
    for i in range(0, whole, ROW_LANES):
        s0 += P[p, i] * Q[j, i]
        s1 += P[p, i + 1] * Q[j, i + 1]
        s2 += P[p, i + 2] * Q[j, i + 2]
        s3 += P[p, i + 3] * Q[j, i + 3]
    total = (s0 + s1) + (s2 + s3)
    for i in range(whole, m):
        total += P[p, i] * Q[j, i]
    return total


@part
def _dot_rows_twice(P, p, q, Q, j, k, m):
    """``(_dot_rows(P, p, Q, j, m), _dot_rows(P, q, Q, k, m))``, the same operations in one
    loop: with ``p == q`` (or ``j == k``) the two sums share each load of P's row (Q's), so
    a product costs 1.5 loads instead of 2 (these scalar sums are load-bound)."""
    s0 = s1 = s2 = s3 = t0 = t1 = t2 = t3 = P.dtype.type(0)
    whole = m - m % ROW_LANES
    for i in range(0, whole, ROW_LANES):
        s0 += P[p, i] * Q[j, i]
        t0 += P[q, i] * Q[k, i]
        s1 += P[p, i + 1] * Q[j, i + 1]
        t1 += P[q, i + 1] * Q[k, i + 1]
        s2 += P[p, i + 2] * Q[j, i + 2]
        t2 += P[q, i + 2] * Q[k, i + 2]
        s3 += P[p, i + 3] * Q[j, i + 3]
        t3 += P[q, i + 3] * Q[k, i + 3]
    first = (s0 + s1) + (s2 + s3)
    second = (t0 + t1) + (t2 + t3)
    for i in range(whole, m):
        first += P[p, i] * Q[j, i]
        second += P[q, i] * Q[k, i]
    return first, second


@part
def _sum_row(D, j, m):
    """``sum_i D[j, i]`` over ``i < m``, in the order of :func:`_dot_rows`."""
    s0 = s1 = s2 = s3 = D.dtype.type(0)
    whole = m - m % ROW_LANES
    for i in range(0, whole, ROW_LANES):
        s0 += D[j, i]
        s1 += D[j, i + 1]
        s2 += D[j, i + 2]
        s3 += D[j, i + 3]
    total = (s0 + s1) + (s2 + s3)
    for i in range(whole, m):
        total += D[j, i]
    return total


@uncounted
def _sum_squares(vector, start, stop):
    """``sum vector[start:stop]**2`` in float64 (each square in the vector's dtype), in the
    order of :func:`_dot_rows`."""
    s0 = s1 = s2 = s3 = 0.0
    whole = stop - (stop - start) % ROW_LANES
    for i in range(start, whole, ROW_LANES):
        s0 += vector[i] * vector[i]
        s1 += vector[i + 1] * vector[i + 1]
        s2 += vector[i + 2] * vector[i + 2]
        s3 += vector[i + 3] * vector[i + 3]
    total = (s0 + s1) + (s2 + s3)
    for i in range(whole, stop):
        total += vector[i] * vector[i]
    return total


@part
def _gather_features(source, rows, out, first, last):
    """``out[first:last] = source[rows, first:last].T``, four rows at a time, their indices
    held in locals: read from ``rows`` in the loop, LLVM reloads each index for every value (a
    store to ``out`` might have changed it), which made the gather 2-4 times slower."""
    m = rows.shape[0]
    whole = m - m % 4
    for start in range(0, whole, 4):
        r0, r1, r2, r3 = rows[start], rows[start + 1], rows[start + 2], rows[start + 3]
        for j in range(first, last):
            out[j, start] = source[r0, j]
            out[j, start + 1] = source[r1, j]
            out[j, start + 2] = source[r2, j]
            out[j, start + 3] = source[r3, j]
    for i in range(whole, m):
        row = rows[i]
        for j in range(first, last):
            out[j, i] = source[row, j]


@uncounted
def _gather_into(source, rows, out):
    """``out = source[rows].T``: out has shape (source.shape[1], len(rows))."""
    _gather_features(source, rows, out, 0, source.shape[1])


@kernel
def in_loops(m, n_in, n_out):
    """Whether the products of a layer of W (n_in, n_out) on m rows run as plain loops (below
    SMALL_MATMUL multiply-adds, or a side of W at most SKINNY) rather than BLAS; the rule of
    :func:`_product_into`, which fit_many also reads (its members side by side run loops)."""
    return m * n_in * n_out < SMALL_MATMUL or min(n_in, n_out) <= SKINNY


# BLAS's gemm (C = alpha op(A) op(B) + beta C, column-major) through the C entry Numba's own
# np.dot calls (``numba_xxgemm``, which loads SciPy's BLAS on first use): by pointer and leading
# dimension, so that a product runs in parts of a matrix without copies. Each pointer is a
# ``.ctypes`` of a 1-D view starting at the part's first value.
_pointer = numba_types.voidptr
_GEMM = numba_types.ExternalFunction(
    "numba_xxgemm",
    numba_types.intc(numba_types.char, numba_types.char, numba_types.char, numba_types.intp,
                     numba_types.intp, numba_types.intp, _pointer, _pointer, numba_types.intp,
                     _pointer, numba_types.intp, _pointer, _pointer, numba_types.intp),
)  # fmt: skip
# The most rows of the output of a product per part (see _product_into), which cuts the rows
# into equal parts: a fixed cut, so that every variant, on any number of threads, computes each
# value by the same BLAS call; equal, so that the threads finish together. A network with a
# layer of at least PARTS_FROM units or inputs shares the threads by these parts, a narrower
# one by shards of its batches (see shard_rows). Both chosen by measurement (benchmarks/
# README.md, "Measurements behind the kernel's constants").
PART_ROWS = 256
PARTS_FROM = 1024
# A product of a wide layer whose output has one part of rows (a narrow layer after a wide one:
# wide-first's 2048 -> 128 units) is cut along its output's columns instead, in equal parts of at
# most COLUMN_PART, when its sums run over at least PARTS_FROM terms: it would keep one thread
# busy and the others waiting.
COLUMN_PART = 128
_N, _T = ord("N"), ord("T")
# gemm's alpha 1 and beta 0 as float64 (bytes 0-15) and as float32 (16-23): a constant the
# compiled code points into, where an array made per call would cost a heap allocation.
_ALPHA_BETA = np.concatenate(
    [np.array([1.0, 0.0]).view(np.uint8), np.array([1.0, 0.0], np.float32).view(np.uint8)]
)


@uncounted
def _gemm_part(kind, P, Q, out, first, last, left, right):
    """Rows ``first:last`` and columns ``left:right`` of ``out`` of :func:`_product_into`'s
    BLAS products, by one gemm.

    Row-major (r, c) is column-major (c, r) with leading dimension c, so the rows of ``out``
    are columns to BLAS: FORWARD ``Z = A W`` (m x n), WEIGHT_GRAD ``dW^T = D^T A`` (n x k),
    BACKPROP ``dA = D W^T`` (m x k), the part being their columns ``first:last`` and rows
    ``left:right``.
    """
    at = 0 if out.itemsize == 8 else 16  # alpha 1 and beta 0 in out's dtype (_ALPHA_BETA)
    one, zero = _ALPHA_BETA[at:].ctypes, _ALPHA_BETA[at + out.itemsize :].ctypes
    code = ord("s") if out.itemsize == 4 else ord("d")
    cols, width = last - first, right - left
    flat_P, flat_Q = _view(P, 0, (P.size,)), _view(Q, 0, (Q.size,))
    flat_out = _view(out, 0, (out.size,))
    if kind == FORWARD:  # P = W (k, n), Q = A^T (k, m), out = Z^T (n, m)
        k, n = P.shape
        m = Q.shape[1]
        _GEMM(code, _N, _T, width, cols, k, one, flat_Q[left:].ctypes, m, flat_P[first:].ctypes,
              n, zero, flat_out[first * m + left :].ctypes, m)  # fmt: skip
    elif kind == WEIGHT_GRAD:  # P = A^T (k, m), Q = D^T (n, m), out = dW (k, n)
        k, m = P.shape
        n = Q.shape[0]
        _GEMM(code, _T, _N, width, cols, m, one, flat_Q[left * m :].ctypes, m,
              flat_P[first * m :].ctypes, m, zero, flat_out[first * n + left :].ctypes,
              n)  # fmt: skip
    else:  # BACKPROP: P = W (k, n), Q = D^T (n, m), out = dA^T (k, m)
        k, n = P.shape
        m = Q.shape[1]
        _GEMM(code, _N, _N, width, cols, n, one, flat_Q[left:].ctypes, m,
              flat_P[first * n :].ctypes, n, zero, flat_out[first * m + left :].ctypes,
              m)  # fmt: skip


@helper
def _part_rows(part, parts, rows):
    """The first and last (excluded) of ``rows`` rows in part number ``part`` of ``parts``
    equal parts (the last may be shorter)."""
    size = (rows + parts - 1) // parts
    first = min(rows, part * size)
    return first, min(rows, first + size)


@part
def _product_parts(rows, cols, terms):
    """``(row parts, column parts)`` of a BLAS product whose output is (rows, cols) and whose
    sums run over ``terms`` values: rows in equal parts of at most PART_ROWS; when that is one
    part and ``terms`` is at least PARTS_FROM, columns in equal parts of at most COLUMN_PART.
    A function of the shapes alone: the same cut on any number of threads."""
    row_parts = (rows + PART_ROWS - 1) // PART_ROWS
    if row_parts == 1 and terms >= PARTS_FROM:
        return row_parts, (cols + COLUMN_PART - 1) // COLUMN_PART
    return row_parts, 1


@part
def _small_weight_grad_parts(rows, cols, terms):
    """Row parts of a weight gradient product ``dW`` (rows, cols) summed over ``terms`` rows
    that OpenBLAS would run in its packing kernel only because its output is larger than
    SMALL_TN_OUTPUTS, cut so that each part runs in its small-matrix kernel: equal parts of at
    most SMALL_TN_OUTPUTS // cols rows; else 1. A function of the shapes alone: the same cut
    on any number of threads. moons-gd's fit (shards of 113 rows, 25 x 50 and 50 x 50 weights)
    takes 7-10 % less CPU time so (benchmarks/README.md, "Weight gradients in OpenBLAS's
    small-matrix kernel")."""
    outputs = rows * cols
    if outputs <= SMALL_TN_OUTPUTS or cols > SMALL_TN_OUTPUTS or terms < SMALL_TN_TERMS:
        return 1
    if outputs * terms > SMALL_GEMM:
        return 1
    per_part = SMALL_TN_OUTPUTS // cols
    return (rows + per_part - 1) // per_part


@part
def _gemm_block(kind, P, Q, out, block, row_parts, col_parts):
    """Part number ``block`` of a product cut into ``row_parts`` x ``col_parts`` (rows
    first), by :func:`_gemm_part`."""
    first, last = _part_rows(block // col_parts, row_parts, out.shape[0])
    left, right = _part_rows(block % col_parts, col_parts, out.shape[1])
    _gemm_part(kind, P, Q, out, first, last, left, right)


@njit(parallel=True, no_cpython_wrapper=True, **POLICY)
def _gemm_parts_in_parallel(kind, P, Q, out, row_parts, col_parts):
    """Every part of a product (:func:`_gemm_block`) on Numba's threads."""
    for block in prange(row_parts * col_parts):
        _gemm_block(kind, P, Q, out, block, row_parts, col_parts)


# A batch in parts (see _product_into) shares the threads in its elementwise passes too: the gather
# of its inputs and each layer's passes, where they hold at least PARALLEL_VALUES values (a
# parallel region costs microseconds), in parts of ELEMENTWISE_PART rows of a feature-major
# block. Each value depends on its own row's values only: any cut gives the same bits.
PARALLEL_VALUES = 1 << 16
ELEMENTWISE_PART = 64
# The passes of _rows_in_parallel.
GATHER, ACTIVATE, DERIVE = np.int64(0), np.int64(1), np.int64(2)


@njit(parallel=True, no_cpython_wrapper=True, **POLICY)
def _rows_in_parallel(step, ZT, b, code, AT, DT, bias_grads, source, rows):
    """A pass over the rows of a feature-major block (n, m) in parts of ELEMENTWISE_PART rows,
    on Numba's threads; one parallel region for three passes (each region compiles for
    seconds), reading only the arguments it names:

    GATHER: ``ZT = source[rows].T`` (:func:`_gather_into`); ACTIVATE: ``ZT += b``,
    ``AT = f(ZT)`` (:func:`_bias_activate_into`, any activation but softmax, which couples the
    units of a column); DERIVE: ``DT *= f'(ZT)`` (:func:`_activation_grad_into`, none for
    IDENTITY), then ``bias_grads[j] = sum_i DT[j, i]``.
    """
    n, m = ZT.shape
    for part in prange((n + ELEMENTWISE_PART - 1) // ELEMENTWISE_PART):
        first = part * ELEMENTWISE_PART
        last = min(n, first + ELEMENTWISE_PART)
        if step == GATHER:
            _gather_features(source, rows, ZT, first, last)
        elif step == ACTIVATE:
            _bias_activate_into(ZT[first:last], b[first:last], code, AT[first:last])
        else:
            _activation_grad_into(DT[first:last], ZT[first:last], AT[first:last], code)
            for j in range(first, last):
                bias_grads[j] = _sum_row(DT, j, m)


@uncounted
def _product_into(kind, P, Q, out, threads, small_tn):
    """The three products of a layer, feature-major; P, Q and out are C-contiguous.

    FORWARD: ``out = P.T @ Q`` (W (k, n), A^T (k, m) -> Z^T (n, m));
    WEIGHT_GRAD: ``out = P @ Q.T`` (A^T (k, m), D^T (n, m) -> dW (k, n));
    BACKPROP: ``out = P @ Q`` (W (k, n), D^T (n, m) -> dA_prev^T (k, m)).
    Plain loops along the m rows below SMALL_MATMUL multiply-adds or when a side of W is at
    most SKINNY; above, BLAS, one gemm per part of ``out`` (:func:`_product_parts`), on
    ``threads`` threads in the threaded variant: the parts change no bit. With ``small_tn``
    (plan[SMALL_TN]), a small WEIGHT_GRAD product of one part is cut for the BLAS's
    small-matrix kernel (:func:`_small_weight_grad_parts`), in this thread.
    """
    if kind == WEIGHT_GRAD:
        k, m = P.shape
        n = Q.shape[0]
    else:
        k, n = P.shape
        m = Q.shape[1]
    zero = out.dtype.type(0)
    if not in_loops(m, k, n):
        terms = m if kind == WEIGHT_GRAD else (k if kind == FORWARD else n)
        row_parts, col_parts = _product_parts(out.shape[0], out.shape[1], terms)
        small = kind == WEIGHT_GRAD and small_tn != 0 and row_parts * col_parts == 1
        if small:  # its parts are too small for the threads
            row_parts = _small_weight_grad_parts(out.shape[0], out.shape[1], terms)
        if THREADED and threads > 1 and row_parts * col_parts > 1 and not small:
            _gemm_parts_in_parallel(kind, P, Q, out, row_parts, col_parts)
        else:
            for block in range(row_parts * col_parts):
                _gemm_block(kind, P, Q, out, block, row_parts, col_parts)
    elif kind == FORWARD:  # each sum's first term stored, not added to a zero stored first
        for j in range(n):
            w = P[0, j]
            for i in range(m):
                out[j, i] = zero + w * Q[0, i]
            for p in range(1, k):
                w = P[p, j]
                for i in range(m):
                    out[j, i] += w * Q[p, i]
    elif kind == WEIGHT_GRAD:  # two sums at a time, sharing a row: see _dot_rows_twice
        if n >= 2:
            for p in range(k):
                for j in range(0, n - 1, 2):
                    out[p, j], out[p, j + 1] = _dot_rows_twice(P, p, p, Q, j, j + 1, m)
                if n % 2 == 1:
                    out[p, n - 1] = _dot_rows(P, p, Q, n - 1, m)
        else:
            for p in range(0, k - 1, 2):
                out[p, 0], out[p + 1, 0] = _dot_rows_twice(P, p, p + 1, Q, 0, 0, m)
            if k % 2 == 1:
                out[k - 1, 0] = _dot_rows(P, k - 1, Q, 0, m)
    else:
        for p in range(k):
            w = P[p, 0]
            for i in range(m):
                out[p, i] = zero + w * Q[0, i]
            for j in range(1, n):
                w = P[p, j]
                for i in range(m):
                    out[p, i] += w * Q[j, i]


@uncounted
def _bias_activate_into(ZT, b, code, AT):
    """``ZT += b`` (row j gets b[j]), then ``AT = f(ZT)``.

    relu ``max(z, 0)``; sigmoid ``1 / (1 + exp(-z))`` in two branches, so that exp never
    overflows; tanh; identity ``z``; softmax ``exp(z - max z) / sum exp(z - max z)``;
    leaky_relu ``z`` or ``0.01 z``; elu ``z`` or ``expm1(z)``; gelu ``z Phi(z)`` with the
    normal CDF ``Phi(z) = erfc(-z / sqrt 2) / 2`` (erfc, not ``1 + erf``, keeps its relative
    accuracy for z << 0); silu ``z sigmoid(z)``; softplus ``max(z, 0) + log1p(exp(-|z|))``.
    Every branch is exact to rounding at any finite z: no exp overflows. Softmax couples the
    units of a column: here ``AT = ZT``, which :func:`_softmax_into` then normalises.
    """
    # The common cases as loops of their own, where the code is a constant: they vectorise.
    if code == RELU:
        _bias_activate_rows(ZT, b, RELU, AT)
    elif code == TANH:
        _bias_activate_rows(ZT, b, TANH, AT)
    elif code == SIGMOID:
        _bias_activate_rows(ZT, b, SIGMOID, AT)
    else:
        _bias_activate_rows(ZT, b, code, AT)


@uncounted
def _softmax_into(ZT, AT, work):
    """``AT = exp(ZT - max ZT) / sum exp(ZT - max ZT)`` down each column of ``ZT`` (n, m), in
    loops along the rows, which vectorise; each column's maximum and sum in the order of its
    units, in ZT's dtype. ``work`` holds at least 2 m float64 values (each float32 value held
    there is exact)."""
    n, m = ZT.shape
    like = ZT.dtype.type
    top, total = work[:m], work[m : 2 * m]
    for i in range(m):
        top[i] = ZT[0, i]
        total[i] = 0.0
    for j in range(1, n):
        for i in range(m):
            top[i] = max(like(top[i]), ZT[j, i])
    for j in range(n):
        for i in range(m):
            AT[j, i] = _exp(ZT[j, i] - like(top[i]))
            total[i] = like(total[i]) + AT[j, i]
    for i in range(m):
        total[i] = like(1) / like(total[i])
    for j in range(n):
        for i in range(m):
            AT[j, i] *= like(total[i])


@part
def _bias_activate_rows(ZT, b, code, AT):
    """``ZT += b``, ``AT = f(ZT)`` elementwise (softmax: ``AT = ZT``); see
    :func:`_bias_activate_into`."""
    n, m = ZT.shape
    for j in range(n):
        bias = b[j]
        for i in range(m):
            z = ZT[j, i] + bias
            ZT[j, i] = z
            AT[j, i] = _activation(z, code, ZT)


@part
def _activation(z, code, like):
    """``f(z)`` in the dtype of the array ``like`` (softmax: ``z``, which its caller
    normalises; see :func:`_bias_activate_into`)."""
    zero = like.dtype.type(0)
    if code == RELU:
        return z if z > zero else zero
    if code == SIGMOID:
        return _sigmoid_of(z, like.dtype.type(_exp(-abs(z))), like)
    if code == TANH:
        return like.dtype.type(_tanh(z))
    # One comparison: two slow a small network (benchmarks/README.md). The smooth activations'
    # constant is False in the engine's variant without them (see _variant).
    if code < LEAKY_RELU or not WITH_SMOOTH_ACTIVATIONS:
        if DEBUG and code != IDENTITY and code != SOFTMAX:
            raise ValueError("unknown activation code")
        return z
    return _smooth_activation(z, code, like)


@part
def _sigmoid_of(z, e, like):
    """``sigmoid(z)`` from ``e = exp(-|z|)`` in the dtype of the array ``like``, in two
    branches, so that exp never overflows."""
    zero, one = like.dtype.type(0), like.dtype.type(1)
    return one / (one + e) if z >= zero else e / (one + e)


@part
def _times_derivative(D, Z, A, at, code):
    """``D[at] * f'(Z[at])`` given ``A = f(Z)``, for every activation but softmax (see
    :func:`_activation_grad_into`). relu reads ``D[at]`` only where ``z > 0``: its loop then
    loads D under a mask and stores every element, where a read of every ``D[at]`` would
    become a masked store of the zeros (microcoded on AMD: see benchmarks/README.md)."""
    zero, one = Z.dtype.type(0), Z.dtype.type(1)
    z, a = Z[at], A[at]
    if code == RELU:
        return D[at] if z > zero else zero
    d = D[at]
    if code == SIGMOID:
        return d * (a * (one - a))
    if code == TANH:
        return d * (one - a * a)
    if code < LEAKY_RELU or not WITH_SMOOTH_ACTIVATIONS:
        if DEBUG and code != IDENTITY:  # softmax's is _activation_grad_into's
            raise ValueError("unknown activation code")
        return d
    return d * _smooth_derivative(z, code, Z)


@helper
def _smooth_activation(z, code, like):
    """``f(z)`` of the activations from LEAKY_RELU on (see :func:`_bias_activate_into`), in
    the dtype of the array ``like``."""
    cast = like.dtype.type
    zero, one = cast(0), cast(1)
    if code == LEAKY_RELU:
        return z if z > zero else cast(LEAKY_SLOPE) * z
    if code == ELU:
        return z if z > zero else cast(_expm1(z))
    if code == GELU:
        return z * (cast(0.5) * math.erfc(-z * cast(SQRT_HALF)))
    e = cast(_exp(-abs(z)))  # silu and softplus: never overflows
    if code == SILU:
        return z * (one / (one + e) if z >= zero else e / (one + e))
    if DEBUG and code != SOFTPLUS:
        raise ValueError("unknown activation code")
    return max(z, zero) + cast(_log1p(e))  # softplus


@helper
def _smooth_derivative(z, code, like):
    """``f'(z)`` of the activations from LEAKY_RELU on, in the dtype of the array ``like``.

    leaky_relu 1 or 0.01 (0.01 at z = 0, as PyTorch); elu 1 or ``exp(z)`` (from z, not as
    ``a + 1``, which would lose exp(z)'s relative accuracy for z << 0); gelu
    ``Phi(z) + z phi(z)``, phi the normal density; silu ``s (1 + z (1 - s))`` with
    ``s = sigmoid(z)`` and ``1 - s = sigmoid(-z)`` computed apart; softplus ``sigmoid(z)``.
    """
    cast = like.dtype.type
    zero, one = cast(0), cast(1)
    if code == LEAKY_RELU:
        return one if z > zero else cast(LEAKY_SLOPE)
    if code == ELU:
        return one if z > zero else cast(_exp(z))
    if code == GELU:
        cdf = cast(0.5) * math.erfc(-z * cast(SQRT_HALF))
        return cdf + z * cast(INV_SQRT_2PI) * cast(_exp(cast(-0.5) * z * z))
    e = cast(_exp(-abs(z)))
    up, down = (one / (one + e), e / (one + e)) if z >= zero else (e / (one + e), one / (one + e))
    if code == SILU:
        return up * (one + z * down)  # s (1 + z (1 - s)), 1 - s = sigmoid(-z)
    if DEBUG and code != SOFTPLUS:
        raise ValueError("unknown activation code")
    return up  # softplus


@uncounted
def _activation_grad_into(DT, ZT, AT, code):
    """``DT *= f'(ZT)`` in place, given ``AT = f(ZT)``.

    relu ``z > 0``; sigmoid ``a (1 - a)``; tanh ``1 - a**2``; identity 1; softmax the
    vector-Jacobian product ``A * (D - sum(D * A))`` per column; the others in
    :func:`_smooth_derivative`.
    """
    n, m = ZT.shape
    zero = ZT.dtype.type(0)
    if code == SOFTMAX:
        for i in range(m):
            dot = zero
            for j in range(n):
                dot += DT[j, i] * AT[j, i]
            for j in range(n):
                DT[j, i] = AT[j, i] * (DT[j, i] - dot)
    elif code == RELU:  # the common case, as a loop of its own: it vectorises
        _times_derivative_rows(DT, ZT, AT, RELU)
    elif code != IDENTITY:
        _times_derivative_rows(DT, ZT, AT, code)


@part
def _times_derivative_rows(DT, ZT, AT, code):
    """``DT *= f'(ZT)`` elementwise, for every activation but softmax."""
    n, m = ZT.shape
    for j in range(n):
        for i in range(m):
            DT[j, i] = _times_derivative(DT, ZT, AT, (j, i), code)


# -- the output layer and the penalty --------------------------------------------------------------


@part
def _bce_term(z, y, e):
    """bce of a sigmoid unit with logit ``z`` and target ``y``: ``softplus(z) - y z``, given
    ``e = exp(-|z|)``."""
    return max(z, 0) - y * z + _log1p(e)


@part
def _squared_term(a, y):
    """mse of an output ``a`` with target ``y``: ``(a - y)**2 / 2``."""
    diff = a - y
    return 0.5 * diff * diff


# float64 values per row of _output_into's work: each row's right mark, maximum, sum of exps and
# argmaxes (with their values) of output and target.
WORK_PER_ROW = 7


@uncounted
def _output_into(ZT, AT, YT, weight, loss_code, scale, loss_params, DT, work, error):
    """Loss, accuracy and (if ``error``) error of the output layer, feature-major.

    Returns ``(summed loss, rows classified right)``, each row's terms times its ``weight``
    (ones when unweighted: a product with 1 is exact, so those bits are the unweighted ones),
    with ``r = a - y``:
    bce ``sum softplus(z) - y z`` (= -[y log p + (1-y) log(1-p)], p = sigmoid(z)); ce
    ``sum_i sum_j y_ij (logsumexp(z_i) - z_ij)``; mse ``sum 1/2 r**2``; huber ``sum 1/2 r**2``
    where ``|r| <= delta``, else ``delta (|r| - delta / 2)``; mae ``sum |r|``; poisson
    ``sum exp(a) - y a`` (a the log-rate); quantile ``sum (1 - q_j) r if r > 0 else -q_j r``
    (pinball, q_j of output unit j). A row is right when every sigmoid unit is on the right
    side of z = 0 (bce) or argmax z is the label (ce); the regression losses count none.
    With ``error`` it sets ``DT = scale * weight * dloss/dA``: ``A - Y`` for bce, ce and mse
    (dLoss/dZ of the canonical pairs sigmoid + bce, softmax + ce), ``clip(r, -delta, delta)``
    for huber, ``sign(r)`` for mae, ``exp(A) - Y`` for poisson, ``1 - q_j`` if ``r > 0``,
    ``-q_j`` if ``r < 0`` and 0 at ``r = 0`` for quantile. ``work`` holds WORK_PER_ROW m
    float64 values. ``loss_params`` holds the loss's own parameters (huber's ``delta``;
    quantile's q, one value or one per output unit: q_j is ``loss_params[j]`` when it holds n
    values, else ``loss_params[0]``).
    """
    n, m = ZT.shape
    zero = ZT.dtype.type(0)
    one = ZT.dtype.type(1)
    total = 0.0
    right, top = work[:m], work[m : 2 * m]
    for i in range(m):
        right[i] = 1.0
        top[i] = ZT[0, i]
    if loss_code == BCE:
        # The terms in a loop of their own, which vectorises (a sum in order does not), then
        # their sum in the same order as one loop would. top is free: bce needs no maximum.
        terms = top
        for j in range(n):
            for i in range(m):
                z = ZT[j, i]
                terms[i] = _bce_term(z, YT[j, i], ZT.dtype.type(_exp(-abs(z)))) * weight[i]
            for i in range(m):
                total += terms[i]
                if (ZT[j, i] > zero) != (YT[j, i] > 0.5):
                    right[i] = 0.0
    elif loss_code == CE:
        # Each row's maximum, sum of exps and argmaxes in loops along the rows, which vectorise,
        # each in the order a loop down the row's units would take; then the loss's sum in that
        # order, row by row.
        sums, best, best_at = work[2 * m : 3 * m], work[3 * m : 4 * m], work[4 * m : 5 * m]
        label, label_at = work[5 * m : 6 * m], work[6 * m : 7 * m]
        for i in range(m):
            best[i], best_at[i] = ZT[0, i], 0.0
            label[i], label_at[i] = YT[0, i], 0.0
            sums[i] = 0.0
        for j in range(1, n):
            for i in range(m):
                z = ZT[j, i]
                top[i] = max(top[i], z)
                if z > best[i]:
                    best[i], best_at[i] = z, j
                if YT[j, i] > label[i]:
                    label[i], label_at[i] = YT[j, i], j
        for j in range(n):
            for i in range(m):
                sums[i] += _exp(ZT[j, i] - ZT.dtype.type(top[i]))
        log_norms = sums
        for i in range(m):  # sums[i] >= 1
            log_norms[i] = ZT.dtype.type(top[i]) + _log1p(sums[i] - 1.0)
            if best_at[i] != label_at[i]:
                right[i] = 0.0
        for i in range(m):
            for j in range(n):
                total += YT[j, i] * (log_norms[i] - ZT[j, i]) * weight[i]
    elif WITH_OTHER_LOSSES and loss_code == HUBER:
        d = ZT.dtype.type(loss_params[0])
        for j in range(n):
            for i in range(m):
                size = abs(AT[j, i] - YT[j, i])
                part = 0.5 * size * size if size <= d else d * (size - 0.5 * d)
                total += part * weight[i]
    elif WITH_OTHER_LOSSES and loss_code == MAE:
        for j in range(n):
            for i in range(m):
                total += abs(AT[j, i] - YT[j, i]) * weight[i]
    elif WITH_OTHER_LOSSES and loss_code == POISSON:
        for j in range(n):
            for i in range(m):
                total += (_exp(AT[j, i]) - YT[j, i] * AT[j, i]) * weight[i]
    elif WITH_OTHER_LOSSES and loss_code == QUANTILE:
        for j in range(n):
            q = loss_params[j] if loss_params.shape[0] == n else loss_params[0]
            below, above = ZT.dtype.type(q), ZT.dtype.type(1.0 - q)
            for i in range(m):
                r = AT[j, i] - YT[j, i]
                total += (above * r if r > zero else -below * r) * weight[i]
    elif loss_code == MSE:
        for j in range(n):
            for i in range(m):
                total += _squared_term(AT[j, i], YT[j, i]) * weight[i]
    elif DEBUG:
        raise ValueError("unknown loss code")
    correct = 0.0
    if loss_code == BCE or loss_code == CE:
        for i in range(m):
            if right[i] > 0.0:
                correct += weight[i]
    if error:
        s = ZT.dtype.type(scale)
        if WITH_OTHER_LOSSES and loss_code == HUBER:
            d = ZT.dtype.type(loss_params[0])
            for j in range(n):
                for i in range(m):
                    DT[j, i] = s * weight[i] * min(max(AT[j, i] - YT[j, i], -d), d)
        elif WITH_OTHER_LOSSES and loss_code == MAE:
            for j in range(n):
                for i in range(m):
                    diff = AT[j, i] - YT[j, i]
                    sign = one if diff > zero else (-one if diff < zero else zero)
                    DT[j, i] = s * weight[i] * sign
        elif WITH_OTHER_LOSSES and loss_code == POISSON:
            for j in range(n):
                for i in range(m):
                    DT[j, i] = s * weight[i] * (ZT.dtype.type(_exp(AT[j, i])) - YT[j, i])
        elif WITH_OTHER_LOSSES and loss_code == QUANTILE:
            for j in range(n):
                q = loss_params[j] if loss_params.shape[0] == n else loss_params[0]
                below, above = ZT.dtype.type(q), ZT.dtype.type(1.0 - q)
                for i in range(m):
                    r = AT[j, i] - YT[j, i]
                    slope = above if r > zero else (-below if r < zero else zero)
                    DT[j, i] = s * weight[i] * slope
        elif loss_code == BCE or loss_code == CE or loss_code == MSE:
            for j in range(n):
                for i in range(m):
                    DT[j, i] = s * weight[i] * (AT[j, i] - YT[j, i])
        elif DEBUG:
            raise ValueError("unknown loss code")
    return total, correct


@uncounted
def _penalty(theta, layers):
    """``sum_l ||W_l||**2`` (biases excluded), summed in float64."""
    total = 0.0
    for layer in range(layers.shape[0]):
        start = layers[layer, 2]
        total += _sum_squares(theta, start, start + layers[layer, 0] * layers[layer, 1])
    return total


# -- the optimizer update -------------------------------------------------------------------------


@uncounted
def _clip_into(grads, clip_norm, out):
    """``out = grads * min(1, clip_norm / (||grads|| + 1e-6))``, the global L2 norm summed in
    float64 (``torch.nn.utils.clip_grad_norm_``'s formula, eps included)."""
    total = _sum_squares(grads, ORIGIN, grads.shape[0])
    factor = out.dtype.type(min(1.0, clip_norm / (np.sqrt(total) + 1e-6)))
    for i in range(grads.shape[0]):
        out[i] = grads[i] * factor


@helper
def _update_constants(opt_code, hyper, step, lr, like):
    """The scalars of update number ``step + 1`` with learning rate ``lr``, computed in
    float64 and cast to the dtype of the array ``like``: ``(rate, beta1, 1 - beta1, beta2,
    1 - beta2, 1 / (1 - beta1**t), 1 / (1 - beta2**t), eps, lr * weight_decay, tiny)``, the
    entries an optimizer does not use 0 (momentum's and rmsprop's beta sit in the beta1
    places, eps third from last), ``tiny`` the dtype's smallest normal number. ``hyper`` holds
    the optimizer's hyperparameters in the order of its registry entry: momentum (beta,),
    rmsprop (beta, eps), adam (b1, b2, eps), adamw (b1, b2, eps, weight_decay)."""
    cast = like.dtype.type
    zero = cast(0)
    rate = cast(lr)
    tiny = cast(np.finfo(like.dtype).tiny)
    if opt_code == SGD or opt_code == NO_UPDATE:
        return rate, zero, zero, zero, zero, zero, zero, zero, zero, tiny
    beta1, rest1 = cast(hyper[0]), cast(1.0 - hyper[0])
    if opt_code == MOMENTUM:
        return rate, beta1, rest1, zero, zero, zero, zero, zero, zero, tiny
    if opt_code == RMSPROP:
        return rate, beta1, rest1, zero, zero, zero, zero, cast(hyper[1]), zero, tiny
    if DEBUG and opt_code != ADAM and opt_code != ADAMW:
        raise ValueError("unknown optimizer code")
    t = step + 1
    decay = cast(lr * hyper[3]) if opt_code == ADAMW else zero
    return (rate, beta1, rest1, cast(hyper[1]), cast(1.0 - hyper[1]),
            cast(1.0 / (1.0 - hyper[0] ** t)), cast(1.0 / (1.0 - hyper[1] ** t)),
            cast(hyper[2]), decay, tiny)  # fmt: skip


@part
def _updated(opt_code, constants, theta, slot0, slot1, g):
    """One parameter's update: ``(theta, slot0, slot1)`` after it, given its gradient ``g``
    and the update's :func:`_update_constants`.

    sgd ``theta -= lr g``; momentum ``v = beta v + (1 - beta) g``, ``theta -= lr v``;
    rmsprop ``s = beta s + (1 - beta) g**2``, ``theta -= lr g / (sqrt(s) + eps)``; adam
    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g**2``, ``theta -= lr m_hat /
    (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1**t)``, ``v_hat = v / (1 - b2**t)``;
    adamw also ``theta -= lr weight_decay theta`` (decoupled, from theta before the step).

    A moment (v, s, m or v) below the dtype's smallest normal number (``tiny``) becomes 0:
    a parameter whose gradient stays 0 (a dead unit's) has moments that decay through the
    subnormal numbers, where every operation on them is tens of times slower on x86 CPUs;
    such a moment moves the parameter by less than its last bit.
    """
    rate, beta1, rest1, beta2, rest2, correct1, correct2, eps, decay, tiny = constants
    if opt_code == SGD:
        return theta - rate * g, slot0, slot1
    if opt_code == MOMENTUM:
        velocity = _normal_or_zero(beta1 * slot0 + rest1 * g, tiny)
        return theta - rate * velocity, velocity, slot1
    if opt_code == RMSPROP:
        mean_square = _normal_or_zero(beta1 * slot0 + rest1 * g * g, tiny)
        return theta - rate * g / (np.sqrt(mean_square) + eps), mean_square, slot1
    if DEBUG and opt_code != ADAM and opt_code != ADAMW:
        raise ValueError("unknown optimizer code")
    first = _normal_or_zero(beta1 * slot0 + rest1 * g, tiny)  # adam and adamw (no decay: 0)
    second = _normal_or_zero(beta2 * slot1 + rest2 * g * g, tiny)
    m_hat = first * correct1
    v_hat = second * correct2
    return theta - (decay * theta + rate * m_hat / (np.sqrt(v_hat) + eps)), first, second


@part
def _normal_or_zero(x, tiny):
    """``x``, or 0 where ``|x| < tiny`` (a subnormal number)."""
    return x if abs(x) >= tiny else tiny - tiny


@part
def _gradient(grads, last_shard, add_last, i):
    """Value i of the gradient :func:`_update_into` applies: ``grads[i]``, plus
    ``last_shard[i]`` with ``add_last``."""
    return grads[i] + last_shard[i] if add_last else grads[i]


@uncounted
def _update_into(opt_code, hyper, theta, grads, slots, step, lr, start, stop, last_shard,
                 add_last):  # fmt: skip
    """Apply update number ``step + 1`` in place to ``theta[start:stop]`` and the same values
    of ``slots`` (rows of moments: momentum (v,), rmsprop (s,), adam and adamw (m, v)); see
    :func:`_updated`. The gradient is ``grads``, or with ``add_last`` ``grads + last_shard``
    (a batch's last shard, added as the update reads it: the sum is not stored, which spares
    a pass over memory). Each value's update reads only its own values: any cut gives the
    same bits."""
    constants = _update_constants(opt_code, hyper, step, lr, theta)
    zero = theta.dtype.type(0)
    # A part's values as views, looped over from 0 (a loop from ``start`` over the whole vectors
    # vectorised less well: benchmarks/README.md, "Measurements behind the kernel's constants").
    whole = start == 0 and stop == theta.shape[0]
    if not whole:
        theta, grads = theta[start:stop], grads[start:stop]
        if add_last:
            last_shard = last_shard[start:stop]
    if opt_code == SGD:
        for i in range(theta.shape[0]):
            g = _gradient(grads, last_shard, add_last, i)
            theta[i], _, _ = _updated(SGD, constants, theta[i], zero, zero, g)
    elif opt_code == MOMENTUM or opt_code == RMSPROP:
        state = slots[0] if whole else slots[0][start:stop]
        for i in range(theta.shape[0]):
            g = _gradient(grads, last_shard, add_last, i)
            theta[i], state[i], _ = _updated(opt_code, constants, theta[i], state[i], zero, g)
    elif opt_code == ADAM or opt_code == ADAMW:
        first, second = slots[0], slots[1]
        if not whole:
            first, second = first[start:stop], second[start:stop]
        for i in range(theta.shape[0]):
            g = _gradient(grads, last_shard, add_last, i)
            theta[i], first[i], second[i] = _updated(opt_code, constants, theta[i], first[i],
                                                     second[i], g)  # fmt: skip
    elif DEBUG:
        raise ValueError("unknown optimizer code")


# Parameters per part of an update on Numba's threads (benchmarks/README.md, "Measurements
# behind the kernel's constants").
UPDATE_PART = 1 << 16


@part
def _complete_and_update(layers, shard_grads, n_shards, penalised, decay, opt_code, hyper, theta,
                         grads, slots, step, lr, start, stop):  # fmt: skip
    """``grads[start:stop]`` completed (:func:`_complete_gradient`; theta holds the parameters
    before the update), then :func:`_update_into` of the same values: a part's gradient is
    still in cache when its update reads it. Without a penalty, the last shard's gradient is
    added by the update itself, in the same order: ``grads`` then holds the sum of the others
    (mnist-shaped's update, two shards: benchmarks/README.md, "The update adds the last
    shard")."""
    if penalised:  # the penalty's term comes after every shard's
        _complete_gradient(theta, layers, grads, shard_grads, n_shards, penalised, decay, start,
                           stop)  # fmt: skip
        _update_into(opt_code, hyper, theta, grads, slots, step, lr, start, stop, grads, False)
    elif n_shards > 1:
        if n_shards > 2:
            _complete_gradient(theta, layers, grads, shard_grads, n_shards - 1, False, decay,
                               start, stop)  # fmt: skip
        _update_into(opt_code, hyper, theta, grads, slots, step, lr, start, stop,
                     shard_grads[n_shards - 2], True)  # fmt: skip
    else:  # nothing to add (a small network's batch)
        _update_into(opt_code, hyper, theta, grads, slots, step, lr, start, stop, grads, False)


@njit(parallel=True, no_cpython_wrapper=True, **POLICY)
def _update_in_parallel(layers, shard_grads, n_shards, penalised, decay, opt_code, hyper, theta,
                        grads, slots, step, lr, threads):  # fmt: skip
    """:func:`_complete_and_update` of every parameter on ``threads`` of Numba's threads, in
    equal parts of at most UPDATE_PART, as many for each thread (a part left over kept one
    thread busy while the others waited). Each value's update reads only its own values, so
    the cut, unlike a product's, may depend on the threads."""
    n = theta.shape[0]
    parts = threads * ((n + threads * UPDATE_PART - 1) // (threads * UPDATE_PART))
    size = (n + parts - 1) // parts
    for part in prange(parts):
        start = min(n, part * size)
        _complete_and_update(layers, shard_grads, n_shards, penalised, decay, opt_code, hyper,
                             theta, grads, slots, step, lr, start,
                             min(n, start + size))  # fmt: skip


@kernel
def update(theta, grads, slots, opt_code, hyper, lr, step):
    """One update from a given gradient: :func:`train_and_evaluate`'s update of a training batch
    (the same helpers, so the same bits), on copies of ``theta`` and ``slots``.

    ``theta``, ``grads``: (n_params,); ``slots``: (n_slots, n_params); ``opt_code`` and
    ``hyper``: the optimizer (clip_norm last, 0 for none); the update is number ``step + 1``,
    with learning rate ``lr``. Returns the new ``theta`` and ``slots``. Apart from the engine,
    so that ``opt_step`` compiles only this and the engine compiles no path for a given gradient.
    """
    new_theta, new_slots = theta.copy(), slots.copy()
    clip_norm = hyper[hyper.shape[0] - 1]
    clipped = np.empty(grads.shape[0] if clip_norm > 0.0 else 0, grads.dtype)
    if clip_norm > 0.0:
        _clip_into(grads, clip_norm, clipped)
    given = clipped if clip_norm > 0.0 else grads
    _update_into(opt_code, hyper, new_theta, given, new_slots, step, lr, ORIGIN,
                 new_theta.shape[0], given, False)  # fmt: skip
    return new_theta, new_slots


# -- one batch, in shards -------------------------------------------------------------------------


@helper
def _widest(layers):
    """The most units or inputs of a layer of the network."""
    widest = layers[0, 0]
    for layer in range(layers.shape[0]):
        widest = max(widest, layers[layer, 1])
    return widest


@kernel
def shard_rows(m, n_params, widest, shard_work, max_shards):
    """Rows per shard of a training batch of ``m`` rows, ``ceil(m / shards)``: ``shards`` the
    largest power of two of at most ``max_shards`` shards that each hold ``shard_work``
    multiply-adds of forward pass (``n_params`` per row) and MIN_SHARD_ROWS rows (the last
    shard may be shorter); ``m`` itself (one shard) when the batch holds fewer than two such
    shards, or when the network's widest layer has at least PARTS_FROM units or inputs
    (``widest``): its products run in parts, which share the threads without a gradient per
    shard (see :func:`_product_into`). A function of the batch and the network alone: fit and a
    hand-written loop of ``grad`` cut a batch alike."""
    if widest >= PARTS_FROM:
        return max(m, 1)
    shards = 1
    while (
        2 * shards <= max_shards
        and m >= 2 * shards * MIN_SHARD_ROWS
        and m * n_params >= 2 * shards * shard_work
    ):
        shards *= 2
    return (m + shards - 1) // shards if m > 0 else 1


# Bundles the parts below take, as tuples built once per call where they can be (a tuple of
# arrays built for every batch slows a small network: benchmarks/README.md, "Measurements behind
# the kernel's constants"):
#   net = (params, layers); data = (X, Y, X_eval, Y_eval), the rows batches and chunks choose;
#   scratch = (zbuf, abuf, zs_in, as_in, dbuf, ybuf, work, masks, dropped, wbuf), buffers 1-D in
#   theta's dtype but work, float64 (see _allocate; zs_in and as_in a given forward pass, or
#   empty);
#   dropout = (drop, rates, seed); loss = (scale, loss_params); out = (grads, shard_grads, stats),
#   where a batch's shards leave their results.


@part
def _forward_into(net, plan, threads, source_X, chosen, zbuf, abuf, dropout, first_row, masks,
                  dropped, work):  # fmt: skip
    """The forward pass of the ``m`` rows ``source_X[chosen]``, feature-major.

    ``abuf`` gets ``[X^T | A_1 | ... | A_L]`` and ``zbuf`` ``[Z_1 | ... | Z_L]``, with
    ``Z_l = W_l^T A_{l-1} + b_l`` and ``A_l = f_l(Z_l)``. With ``drop``, each layer with a
    dropout rate draws its mask (``fold_in(seed, layer)``, rows numbered from ``first_row``)
    into ``masks`` and keeps ``A_l * mask``, which the next layer reads, in ``dropped``.
    ``work``: float64 scratch of at least 2 m values, for softmax.
    """
    params, layers = net
    drop, rates, seed = dropout
    m = chosen.shape[0]
    n_features = layers[0, 0]
    A_prev = _block(abuf, ORIGIN, n_features, m)  # what the next layer reads
    if THREADED and threads > 1 and n_features * m >= PARALLEL_VALUES:
        _rows_in_parallel(GATHER, A_prev, params[:0], ORIGIN, A_prev, A_prev, params[:0],
                          source_X, chosen)  # fmt: skip
    else:
        _gather_into(source_X, chosen, A_prev)
    z_at, a_at = ORIGIN, ORIGIN  # not 0: typing would first compile _block for a literal 0
    for layer in range(layers.shape[0]):
        if plan[STOP] != 0:  # what is left of this batch is cheap and discarded
            break
        n_in, n_out = layers[layer, 0], layers[layer, 1]
        w_at, b_at = layers[layer, 2], layers[layer, 3]
        Z_new = _block(zbuf, z_at, n_out, m)
        A_new = _block(abuf, a_at + m * n_in, n_out, m)
        _product_into(FORWARD, _block(params, w_at, n_in, n_out), A_prev, Z_new, threads,
                      plan[SMALL_TN])  # fmt: skip
        b, code = params[b_at : b_at + n_out], layers[layer, 4]
        if THREADED and threads > 1 and code != SOFTMAX and n_out * m >= PARALLEL_VALUES:
            _rows_in_parallel(ACTIVATE, Z_new, b, code, A_new, Z_new, b, source_X, chosen)
        else:
            _bias_activate_into(Z_new, b, code, A_new)
        if code == SOFTMAX:
            _softmax_into(Z_new, A_new, work)
        A_prev = A_new
        if WITH_DROPOUT and drop and rates[layer] > 0.0:
            M = _block(masks, z_at, n_out, m)
            A_prev = _block(dropped, z_at, n_out, m)
            _dropout_mask_into(fold_in(seed, layer), rates[layer], first_row, M)
            _times_into(A_new, M, A_prev)
        z_at += m * n_out
        a_at += m * n_in


@part
def _backward_into(net, plan, threads, m, Zs, As, dbuf, dropout, masks, dropped, grads):
    """The gradient of a batch of ``m`` rows from its output error (dbuf's last block).

    Layer by layer down: ``D_l = dLoss/dA_l * f'(Z_l)`` (not for a canonical output, whose
    error is dLoss/dZ already: plan[CHAIN_RULE] 0), times the layer's dropout mask first where
    it has one; ``dW_l = A_{l-1} D_l^T``, ``db_l`` = the row sums of ``D_l`` into ``grads``; and
    ``dLoss/dA_{l-1} = W_l D_l`` into dbuf. The penalty's term is the caller's.
    """
    params, layers = net
    drop, rates, _ = dropout
    chain = plan[CHAIN_RULE] != 0
    n_layers = layers.shape[0]
    n_features = layers[0, 0]
    width = 0
    for layer in range(n_layers):
        width += layers[layer, 1]
    z_at = m * width
    a_at = m * (n_features + width)
    for layer in range(n_layers - 1, -1, -1):
        if plan[STOP] != 0:
            break
        n_in, n_out = layers[layer, 0], layers[layer, 1]
        w_at, b_at = layers[layer, 2], layers[layer, 3]
        z_at -= m * n_out
        a_at -= m * n_out
        DT = _block(dbuf, z_at, n_out, m)
        if WITH_DROPOUT and drop and rates[layer] > 0.0:  # dLoss/dA = dLoss/d(dropped A) * mask
            _times_into(DT, _block(masks, z_at, n_out, m), DT)
        ZT, AT = _block(Zs, z_at, n_out, m), _block(As, a_at, n_out, m)
        code = layers[layer, 4] if layer < n_layers - 1 or chain else IDENTITY  # no f' at all
        bias_grads = grads[b_at : b_at + n_out]
        if THREADED and threads > 1 and code != SOFTMAX and n_out * m >= PARALLEL_VALUES:
            # (layers[layer] for the rows the pass does not read: the types of the forward pass's
            # calls, so that the region compiles once)
            _rows_in_parallel(DERIVE, ZT, bias_grads, code, AT, DT, bias_grads, ZT, layers[layer])
        else:
            _activation_grad_into(DT, ZT, AT, code)
            for j in range(n_out):
                bias_grads[j] = _sum_row(DT, j, m)
        A_prev = _block(As, a_at - m * n_in, n_in, m)
        if WITH_DROPOUT and drop and layer > 0 and rates[layer - 1] > 0.0:
            A_prev = _block(dropped, z_at - m * n_in, n_in, m)
        W = _block(params, w_at, n_in, n_out)
        _product_into(WEIGHT_GRAD, A_prev, DT, _block(grads, w_at, n_in, n_out), threads,
                      plan[SMALL_TN])  # fmt: skip
        if layer > 0:
            _product_into(BACKPROP, W, DT, _block(dbuf, z_at - m * n_in, n_in, m), threads,
                          plan[SMALL_TN])  # fmt: skip


@part
def _shard_into(shard, rows, threads, training, first_row, use_given, net, plan, data, chosen,
                scratch, dropout, loss, out):  # fmt: skip
    """Shard number ``shard`` of a batch of the rows ``chosen`` of X (``training``) or X_eval
    (its rows ``shard * rows`` onwards, at most ``rows``): forward pass (unless ``use_given``:
    already in zs_in and as_in, which then stand for zbuf and abuf), then, when the
    targets have rows, its summed loss and weight of rows right into ``stats[:, shard]``, and
    for a ``training`` batch its output error (``scale`` times each row's ``wbuf`` weight
    times dLoss/dA) and gradient into ``grads`` (shard 0) or ``shard_grads[shard - 1]``.

    Dropout masks number the rows from ``first_row`` (the batch's first row in the data for
    an evaluation chunk, 0 for a training batch). Every buffer is the whole batch's; the
    shard's part of each starts at its first row times the values per row, so shards write
    disjoint parts and may run at once. An evaluation chunk is one shard: the network's one
    call site, for the compile time.
    """
    params, layers = net
    X, Y, X_eval, Y_eval = data
    source_X, source_Y = (X, Y) if training else (X_eval, Y_eval)
    zbuf, abuf, zs_in, as_in, dbuf, ybuf, work, masks, dropped, wbuf = scratch
    if use_given:
        zbuf, abuf = zs_in, as_in
    scale, loss_params = loss
    grads, shard_grads, stats = out
    m = chosen.shape[0]
    first = shard * rows
    size = min(rows, m - first)
    n_features, n_outputs = layers[0, 0], layers[layers.shape[0] - 1, 1]
    width = 0
    for layer in range(layers.shape[0]):
        width += layers[layer, 1]
    hidden = width - n_outputs
    Zs = zbuf[first * width : (first + size) * width]
    As = abuf[first * (n_features + width) : (first + size) * (n_features + width)]
    Ms = masks[first * hidden : (first + size) * hidden]
    dropped_part = dropped[first * hidden : (first + size) * hidden]
    rows_chosen = chosen[first : first + size]
    shard_work = work[WORK_PER_ROW * first : WORK_PER_ROW * (first + size)]
    if not use_given:
        _forward_into(net, plan, threads, source_X, rows_chosen, Zs, As, dropout,
                      first_row + first, Ms, dropped_part, shard_work)  # fmt: skip
    stats[0, shard], stats[1, shard] = 0.0, 0.0
    if source_Y.shape[0] == 0:
        return
    YT = _block(ybuf, first * n_outputs, n_outputs, size)
    _gather_into(source_Y, rows_chosen, YT)
    Ds = dbuf[first * width : (first + size) * width] if training else dbuf[:0]
    stats[0, shard], stats[1, shard] = _output_into(
        _block(Zs, size * hidden, n_outputs, size),
        _block(As, size * (n_features + hidden), n_outputs, size),
        YT, wbuf[first : first + size], plan[LOSS], scale, loss_params,
        _block(Ds, size * hidden if training else 0, n_outputs, size if training else 0),
        shard_work, training,
    )  # fmt: skip
    if training:
        _backward_into(net, plan, threads, size, Zs, As, Ds, dropout, Ms, dropped_part,
                       grads if shard == 0 else shard_grads[shard - 1])  # fmt: skip


@njit(parallel=True, no_cpython_wrapper=True, **POLICY)
def _shards_in_parallel(n_shards, rows, training, use_given, net, plan, data, chosen, scratch,
                        dropout, loss, out):  # fmt: skip
    """:func:`_shard_into` for every shard of a training batch (``training`` is True and
    ``use_given`` False: a given forward pass serves a batch of one shard), on Numba's threads
    (as many as the calling thread's ``numba.set_num_threads``)."""
    # The bundles go into the loop as they are: Numba passes a captured tuple's items to the
    # threads one by one, and the loop's body stays small (rebuilding the tuples in it made the
    # parallel region compile slower: benchmarks/README.md). training and use_given come in as
    # the serial loop's variables, not as the literals True and False: a literal argument would
    # compile each helper they reach (_output_into, the products) a second time for it.
    for shard in prange(n_shards):
        _shard_into(shard, rows, ONE_THREAD, training, 0, use_given, net, plan, data, chosen,
                    scratch, dropout, loss, out)  # fmt: skip


# -- the engine: a loop over epochs, and in each over training batches then evaluation chunks ----
#
# Its steps outside the shards are helpers, compiled once for both variants of the engine, not
# inlined parts, which compiled measurably slower for the same speed; but for _choose_rows, run
# for every batch, whose call (its arrays' reference counts) slowed small networks and which
# compiles as fast inlined (benchmarks/README.md, "Measurements behind the kernel's constants").


@helper
def _allocate(theta, slots, layers, plan, n, n_eval, batch, chunk, given_forward, clip_norm):
    """Everything :func:`train_and_evaluate` writes, for ``n`` training rows in batches of
    ``batch`` and ``n_eval`` evaluated rows in chunks of ``chunk``: ``(buffers, grads,
    shard_grads, stats, new_theta, new_slots, outputs, records, perm, eval_rows, clipped)``,
    ``buffers`` the batch's scratch ``(zbuf, abuf, dbuf, ybuf, work, masks, dropped, wbuf)``,
    ``wbuf`` all ones.

    Every float buffer comes from one form of np.empty (1-D, theta's dtype), and the index
    arrays are filled by loops: each other form of an allocation is one more function for
    Numba to compile.
    """
    dtype = theta.dtype
    n_params = theta.shape[0]
    n_layers = layers.shape[0]
    n_features, n_outputs = layers[0, 0], layers[n_layers - 1, 1]
    width = 0
    for layer in range(n_layers):
        width += layers[layer, 1]
    updating = plan[OPTIMIZER] != NO_UPDATE
    store = plan[STORE] != 0
    n_epochs = plan[EPOCHS]
    # The most shards of a training batch (shorter batches have no more: shard_rows grows
    # with the batch), each with a gradient of its own when there are several.
    rows = shard_rows(batch, n_params, _widest(layers), plan[SHARD_WORK], plan[MAX_SHARDS])
    most_shards = (batch + rows - 1) // rows
    buffer_rows = max(0 if given_forward and most_shards == 1 else batch, chunk)
    zbuf = np.empty(buffer_rows * width, dtype)
    abuf = np.empty(buffer_rows * (n_features + width), dtype)
    dropping = plan[DROPOUT] != NO_DROPOUT
    dropped = np.empty((buffer_rows if dropping else 0) * (width - n_outputs), dtype)
    masks = np.empty(dropped.shape[0], dtype)
    dbuf = np.empty(batch * width, dtype)
    ybuf = np.empty(max(batch, chunk) * n_outputs, dtype)
    work = np.empty(WORK_PER_ROW * max(batch, chunk))  # float64: _output_into's row sums
    # Each row's weight in the batch: ones, unless the rows come with weights.
    wbuf = np.empty(max(batch, chunk), dtype)
    for i in range(wbuf.shape[0]):
        wbuf[i] = 1.0
    # Shard 0's gradient goes to grads, each other shard's to a row of its own.
    shard_grads = np.empty(max(most_shards - 1, 0) * n_params, dtype).reshape(
        (max(most_shards - 1, 0), n_params)
    )
    stats = np.empty((2, max(most_shards, 1)))
    grads = np.empty(0 if n == 0 else n_params, dtype)
    new_theta = theta.copy() if updating else np.empty(0, dtype)
    new_slots = slots.copy() if updating else np.empty(0, dtype).reshape((0, 0))
    outputs = np.empty(2 * (n_eval if store else 0) * n_outputs, dtype).reshape(
        (2, n_eval if store else 0, n_outputs)
    )
    records = np.empty((4, n_epochs))
    for i in range(n_epochs):
        for j in range(4):
            records[j, i] = 0.0
    perm = np.empty(n, np.int64)
    eval_rows = np.empty(n_eval, np.int64)
    for i in range(max(n, n_eval)):
        if i < n:
            perm[i] = i
        if i < n_eval:
            eval_rows[i] = i
    clipped = np.empty(n_params if clip_norm > 0.0 else 0, dtype)
    buffers = (zbuf, abuf, dbuf, ybuf, work, masks, dropped, wbuf)
    return (buffers, grads, shard_grads, stats, new_theta, new_slots, outputs, records, perm,
            eval_rows, clipped)  # fmt: skip


@part
def _choose_rows(index, n_batches, batch, chunk, perm, eval_rows, source_W, any_weights, wbuf):
    """Batch number ``index`` (a training batch below ``n_batches``, else an evaluation
    chunk): ``(start, m, chosen, norm)``, its first row's place in the epoch's order, its row
    count, its rows (``perm`` or ``eval_rows`` from ``start``) and its total weight ``norm``:
    ``m``, or the sum of its rows' weights ``source_W[chosen]``, which go into ``wbuf`` (ones
    again when only the other rows are weighted, ``any_weights``)."""
    if index < n_batches:
        start = index * batch
        m = min(batch, perm.shape[0] - start)
        chosen = perm[start : start + m]
    else:
        start = (index - n_batches) * chunk
        m = min(chunk, eval_rows.shape[0] - start)
        chosen = eval_rows[start : start + m]
    norm = float(m)
    if source_W.shape[0] > 0:
        norm = 0.0
        for i in range(m):
            wbuf[i] = source_W[chosen[i]]
            norm += wbuf[i]
    elif any_weights:
        for i in range(m):
            wbuf[i] = 1.0
    return start, m, chosen, norm


@part
def _complete_gradient(params, layers, grads, shard_grads, n_shards, penalised, decay, start,
                       stop):  # fmt: skip
    """``grads[start:stop]`` of a training batch from its shards': shard 0's (in ``grads``)
    plus the others' in shard order, then, when ``penalised``, the penalty's term ``decay W``
    (``decay = l2 / norm``) of the weights among them. Each value's sum reads only its own
    values: any cut into parts gives the same bits."""
    for shard in range(1, n_shards):
        g, other = grads[start:stop], shard_grads[shard - 1, start:stop]  # views: they vectorise
        for i in range(g.shape[0]):
            g[i] += other[i]
    if penalised:
        for layer in range(layers.shape[0]):
            w_at = layers[layer, 2]
            for i in range(max(start, w_at), min(stop, w_at + layers[layer, 0] * layers[layer, 1])):
                grads[i] += decay * params[i]


@uncounted
def _store_chunk(Zs, As, layers, start, m, outputs):
    """An evaluation chunk's output-layer Z and A (the last blocks of ``Zs`` and ``As``, m
    rows from ``start``) into ``outputs[0]`` and ``outputs[1]``, row-major."""
    n_outputs = outputs.shape[2]
    width = 0
    for layer in range(layers.shape[0]):
        width += layers[layer, 1]
    Z_last = _block(Zs, m * (width - n_outputs), n_outputs, m)
    A_last = _block(As, m * (layers[0, 0] + width - n_outputs), n_outputs, m)
    for j in range(n_outputs):
        for i in range(m):
            outputs[0, start + i, j] = Z_last[j, i]
            outputs[1, start + i, j] = A_last[j, i]


@helper
def _watch_best(rule, marks, watched, epoch):
    """:func:`fnn.epochs.watch_best` in place on one run's ``marks`` (best score, epochs
    waited, best epoch) after epoch ``epoch`` of this call, whose monitored value is
    ``watched``; ``rule``: patience, min_delta, the sign of the score, the records' row
    watched, this call's first epoch in its fit. Returns 1 when the epoch is the best so far,
    -1 when patience has run out, else 0."""
    score = rule[2] * watched
    if score < marks[0] - rule[1]:
        marks[0], marks[1], marks[2] = score, 0.0, rule[4] + epoch
        return 1
    marks[1] += 1.0
    return -1 if marks[1] >= rule[0] else 0


def _train_and_evaluate(data, state, given, layers, plan, optimizer, l2, seed, rates, loss_params,
                        row_weights, watch):  # fmt: skip
    """The batch engine behind every computation of fnn: epochs of training batches, then
    evaluation chunks.

    The arrays of one dtype travel in tuples (``data``, ``state``, ``given``, ``row_weights``,
    each always of the same array types: absent ones are empty), so that each variant of the
    engine has one compiled version per dtype.

    Parameters (every array C-contiguous and writable; none is written)
    -------------------------------------------------------------------
    data : (X, Y, X_eval, Y_eval)
        X, Y (n, n_features), (n, n_outputs): training rows and targets, cut into batches of
        ``plan[BATCH]`` rows; epoch ``e`` is shuffled with ``fold_in(seed, plan[FIRST_EPOCH] +
        e)`` unless one batch holds every row; n = 0: no training batches. X_eval, Y_eval
        (n_eval, n_features), (n_eval, n_outputs): rows evaluated (forward pass and output
        layer, no gradient) after every epoch's training batches, ``plan[CHUNK]`` rows at a
        time; with ``plan[STORE]``, the output layer's Z and A of every row are kept in
        ``outputs``.
    state : (theta, slots)
        Parameters (n_params,) and optimizer state slots (n_slots, n_params) (``slots`` may be
        (0, 0) when nothing updates).
    given : (zs_in, as_in)
        Flat buffers or (0,): a given forward pass of the rows of Y (as
        returned in ``zbuf``/``abuf``), which one training batch reuses instead of running the
        network again, unless the batch is sharded: its shards then run the network on the
        rows of X (which the caller passes).
    layers : int64 (n_layers, 5)
    plan : int64 (PLAN_SIZE,)
        LOSS code; CHAIN_RULE (1 when the output activation is not the loss's canonical one,
        so dLoss/dA goes through f'); OPTIMIZER code (NO_UPDATE: gradients only); STEP, the
        updates already applied; FIRST_EPOCH; EPOCHS; BATCH; CHUNK; STORE; DROPOUT mode; STOP,
        read before every batch, chunk and layer: once another thread sets it, the call returns
        within one matrix product, its results meaningless but for ``records`` of the ``done``
        epochs; SHARD_WORK and MAX_SHARDS, which cut a training batch into shards (see
        :func:`shard_rows`; they change the bits of a sharded batch at rounding level); THREADS,
        the threads its shards, or the parts of its products and update, run on (the calling
        thread's ``numba.set_num_threads``; 1: this thread), which change no bit.
    optimizer : (hyper, lrs), float64 vectors
        The optimizer's hyperparameters, then its clip_norm (0: no clipping) last; the
        learning rate of each update of this call.
    l2 : float
        Weight of the penalty ``(l2 / 2m) sum_l ||W_l||**2`` of every batch and evaluation
        (m: the total weight of the batch with ``row_weights``).
    seed : uint64
    rates : float64 (n_layers,) or (0,)
        Dropout rate of each layer's activations (the output layer's is 0), read unless
        plan[DROPOUT] is NO_DROPOUT. Under PER_UPDATE, training batch number ``t`` (counting
        the updates before this call) drops with the seed ``fold_in(fold_in(seed,
        DROPOUT_STREAM), t)``; under KEYED, every batch and chunk drops with ``seed`` itself
        (rows numbered from the first of the batch, or of X_eval). Layer ``l``'s masks use
        ``fold_in(that seed, l)`` (see :func:`_dropout_mask_into`). Each mask is drawn once
        per batch, in the forward pass, and kept for the backward one; the next layer and
        the weight gradient read the dropped activations, kept in their own buffer;
        ``abuf`` keeps ``f(Z)``, which the derivatives read.
    loss_params : (k,) float64
        The loss's own parameters in the registry's order (``Net.loss_params`` or their
        defaults; huber's ``delta``), read only by the loss's branches of :func:`_output_into`.
    row_weights : (weights, weights_eval), (n,) or (0,) and (n_eval,) or (0,)
        Sample weights of the rows of X and X_eval (>= 0; (0,): every row weighs 1). A batch's
        loss, error, accuracy and penalty are normalised by its total weight instead of its
        row count m; a batch of total weight 0 contributes nothing (zero gradient).
    watch : (rule, marks, best_theta, best_slots)
        Early stopping after each epoch, as :func:`fnn.epochs.watch_best` decides it (see
        :func:`_watch_best`): ``rule`` float64 (5,): patience, min_delta, the sign of the
        score (1: mode "min", -1: "max"), the row of ``records`` watched (-1: no watch), the
        number of this call's first epoch in its fit; ``marks`` float64 (3,): the best score
        so far (inf before the first epoch), epochs waited since, the best epoch. After an
        epoch that improves, the parameters and slots go into ``best_theta`` and
        ``best_slots`` ((n_params,), (n_slots, n_params), or empty: not kept); once
        ``patience`` epochs have waited, the call returns after that epoch.

    Returns
    -------
    theta, slots
        After the updates (empty arrays under NO_UPDATE).
    grads : (n_params,)
        The gradient of the last training batch (empty without training rows), under
        NO_UPDATE; after an update of a batch in shards without a penalty, the sum of all
        shards' gradients but the last, which the update added itself.
    value : float
        The objective of the last training batch: mean loss plus penalty.
    zbuf, abuf
        The last forward pass (every row of X_eval when one chunk holds them all; a sharded
        training batch's are the shards' blocks one after the other).
    outputs : (2, n_eval, n_outputs) or empty
        Output-layer Z and A of every evaluated row, row-major, with STORE.
    records : (4, epochs)
        Per epoch: mean training loss (batches as trained, penalty included), training
        accuracy, evaluation loss (penalty included), evaluation accuracy.
    done : int
        Epochs finished; fewer than EPOCHS when an epoch's training loss was not finite,
        plan[STOP] was set, or the watch stopped training.
    watched : (marks, best_theta, best_slots)
        After the call, as ``watch`` holds them.
    """
    X, Y, X_eval, Y_eval = data
    theta, slots = state
    zs_in, as_in = given
    hyper, lrs = optimizer
    weights, weights_eval = row_weights
    # The call's shape: batches, then chunks, per epoch.
    n_params, widest = theta.shape[0], _widest(layers)
    opt_code = plan[OPTIMIZER]
    step, first_epoch, n_epochs = plan[STEP], plan[FIRST_EPOCH], plan[EPOCHS]
    given_forward = zs_in.shape[0] > 0
    updating = opt_code != NO_UPDATE
    n, n_eval = Y.shape[0], X_eval.shape[0]
    batch, chunk = min(plan[BATCH], n), min(plan[CHUNK], n_eval)
    shuffle = 0 < batch < n
    n_batches = 0 if n == 0 else (n + batch - 1) // batch
    n_chunks = 0 if n_eval == 0 else (n_eval + chunk - 1) // chunk
    clip_norm = 0.0
    if WITH_CLIPPING and updating:
        clip_norm = hyper[hyper.shape[0] - 1]
    any_weights = weights.shape[0] > 0 or weights_eval.shape[0] > 0
    # Each epoch's total weight: its row count, or the sum of its rows' weights.
    epoch_weight, eval_weight = float(n), float(n_eval)
    if weights.shape[0] > 0:
        epoch_weight = 0.0
        for i in range(n):
            epoch_weight += weights[i]
    if weights_eval.shape[0] > 0:
        eval_weight = 0.0
        for i in range(n_eval):
            eval_weight += weights_eval[i]

    (buffers, grads, shard_grads, stats, new_theta, new_slots, outputs, records, perm, eval_rows,
     clipped) = _allocate(theta, slots, layers, plan, n, n_eval, batch, chunk, given_forward,
                          clip_norm)  # fmt: skip
    zbuf, abuf, dbuf, ybuf, work, masks, dropped, wbuf = buffers
    params = new_theta if updating else theta  # what the forward and backward passes read
    net = (params, layers)
    scratch = (zbuf, abuf, zs_in, as_in, dbuf, ybuf, work, masks, dropped, wbuf)
    out = (grads, shard_grads, stats)
    G = clipped if clip_norm > 0.0 else grads  # what the update reads

    rule, marks, best_theta, best_slots = watch
    watched = (marks.copy(), best_theta.copy(), best_slots.copy())
    marks, best_theta, best_slots = watched
    watched_row = np.int64(rule[3])

    value = np.nan
    updates = 0
    batch_seed = seed  # the dropout masks' seed of each batch
    draws = np.empty(perm.shape[0] if shuffle else 0, np.int64)
    for epoch in range(n_epochs):
        if shuffle:
            _permutation_into(fold_in(seed, first_epoch + epoch), perm, draws)
        total, correct, eval_total, eval_correct, penalty = 0.0, 0.0, 0.0, 0.0, 0.0
        for index in range(n_batches + n_chunks):
            if plan[STOP] != 0:
                break
            training = index < n_batches
            start, m, chosen, norm = _choose_rows(
                index, n_batches, batch, chunk, perm, eval_rows,
                weights if training else weights_eval, any_weights, wbuf,
            )  # fmt: skip
            if training:
                rows = shard_rows(m, n_params, widest, plan[SHARD_WORK], plan[MAX_SHARDS])
            else:
                rows = m  # one shard
            n_shards = (m + rows - 1) // rows
            if l2 != 0.0 and (training or start == 0):
                penalty = _penalty(params, layers)
            drop = False
            if WITH_DROPOUT:  # a constant, as WITH_CLIPPING: see the variants below
                drop = plan[DROPOUT] == KEYED or (plan[DROPOUT] == PER_UPDATE and training)
                if training and plan[DROPOUT] == PER_UPDATE:
                    batch_seed = fold_in(fold_in(seed, DROPOUT_STREAM), step + updates)
            # A given forward pass serves one shard; shards run theirs from X again (it was
            # computed on all m rows at once, in other bits than a shard's).
            use_given = training and given_forward and n_shards == 1
            dropout = (drop, rates, batch_seed)
            loss = (1.0 / norm if norm > 0.0 else 0.0, loss_params)
            # THREADED is a constant, repeated in the `if` so that Numba prunes the parallel
            # region from the other variants; it comes after the serial loop, which types the
            # helpers first (typed inside the region, they compile slower).
            in_parallel = THREADED and n_shards > 1 and plan[THREADS] > 1
            for shard in range(0 if in_parallel else n_shards):
                _shard_into(shard, rows, plan[THREADS], training, 0 if training else start,
                            use_given, net, plan, data, chosen, scratch, dropout, loss,
                            out)  # fmt: skip
            if THREADED and in_parallel:
                _shards_in_parallel(n_shards, rows, training, use_given, net, plan, data, chosen,
                                    scratch, dropout, loss, out)  # fmt: skip
            # The shards' sums, in shard order.
            batch_loss, batch_correct = 0.0, 0.0
            for shard in range(n_shards):
                batch_loss += stats[0, shard]
                batch_correct += stats[1, shard]
            if not training:
                eval_total += batch_loss
                eval_correct += batch_correct
                if plan[STORE] != 0:
                    _store_chunk(zbuf, abuf, layers, start, m, outputs)
                if index == n_batches + n_chunks - 1:
                    records[2, epoch] = (eval_total + 0.5 * l2 * penalty) / eval_weight
                    records[3, epoch] = eval_correct / eval_weight
                continue
            # The summed objective: loss plus l2 / 2 times the penalty; 0 for a batch of weight 0
            # (no loss, no penalty, no gradient).
            objective = batch_loss + 0.5 * l2 * penalty if norm > 0.0 else 0.0
            value = objective / norm if norm > 0.0 else 0.0
            total += objective
            correct += batch_correct
            # The shards' gradients summed, plus the penalty's term: in the update's parts, part
            # by part, unless the update needs the whole gradient first (clipping by its norm)
            # or there is no update.
            decay = params.dtype.type(l2 / norm if norm > 0.0 else 0.0)
            shards_to_add, penalised = n_shards, l2 != 0.0
            if not updating or (WITH_CLIPPING and clip_norm > 0.0):
                _complete_gradient(params, layers, grads, shard_grads, n_shards, penalised, decay,
                                   ORIGIN, n_params)  # fmt: skip
                shards_to_add, penalised = ONE_SHARD, False
            if updating:
                if WITH_CLIPPING and clip_norm > 0.0:
                    _clip_into(grads, clip_norm, clipped)
                if THREADED and plan[THREADS] > 1 and n_params >= 2 * UPDATE_PART:
                    _update_in_parallel(layers, shard_grads, shards_to_add, penalised, decay,
                                        opt_code, hyper, new_theta, G, new_slots, step + updates,
                                        lrs[updates], plan[THREADS])  # fmt: skip
                else:
                    for first in range(0, n_params, UPDATE_PART):
                        _complete_and_update(layers, shard_grads, shards_to_add, penalised,
                                             decay, opt_code, hyper, new_theta, G, new_slots,
                                             step + updates, lrs[updates], first,
                                             min(n_params, first + UPDATE_PART))  # fmt: skip
                updates += 1
            if index == n_batches - 1:
                records[0, epoch] = total / epoch_weight
                records[1, epoch] = correct / epoch_weight
                if not np.isfinite(records[0, epoch]):
                    return (new_theta, new_slots, grads, value, zbuf, abuf, outputs, records,
                            epoch, watched)  # fmt: skip
        if plan[STOP] != 0:  # set during this epoch: it does not count as finished
            return (new_theta, new_slots, grads, value, zbuf, abuf, outputs, records, epoch,
                    watched)  # fmt: skip
        if watched_row >= 0:
            verdict = _watch_best(rule, marks, records[watched_row, epoch], epoch)
            if verdict == 1 and best_theta.shape[0] > 0:
                for i in range(n_params):  # (loops: a slice's assignment compiles slower)
                    best_theta[i] = new_theta[i]
                    for slot in range(best_slots.shape[0]):
                        best_slots[slot, i] = new_slots[slot, i]
            elif verdict == -1:
                return (new_theta, new_slots, grads, value, zbuf, abuf, outputs, records,
                        epoch + 1, watched)  # fmt: skip
    return (new_theta, new_slots, grads, value, zbuf, abuf, outputs, records, n_epochs,
            watched)  # fmt: skip


def _variant(function, name: str, **constants):
    """``function`` compiled as a kernel named ``name`` with some of its globals replaced by
    ``constants``, which Numba folds: the branches they turn off are not compiled at all. The
    helpers and parts it calls that read any of them, directly or through their own callees, are
    specialised alike, each a copy named after the variant (compiled for it alone); the others
    are shared by every variant."""
    variant = _specialised(function, name, name, constants, {})
    return kernel(variant if variant is not function else _renamed(function, name, {}))


def _specialised(function, name: str, variant: str, constants: dict, done: dict):
    """``function`` with ``constants`` for its globals, named ``name``, and its callees
    specialised alike (see :func:`_variant`; each named after the ``variant``, ``done`` maps
    those specialised so far to their copies); ``function`` itself where neither it nor its
    callees read any."""
    names = function.__code__.co_names
    replaced = {key: constants[key] for key in names if key in constants}
    for key in names:
        callee = function.__globals__.get(key)
        original = getattr(callee, "py_func", None)
        if original is None or original.__module__ != __name__:
            continue  # not a compiled function of this module (or the kernels run as Python)
        if original not in done:
            inner = _specialised(original, f"{original.__name__}_{variant}", variant, constants,
                                 done)  # fmt: skip
            options = dict(callee.targetoptions, cache=POLICY["cache"])
            options.pop("nopython")  # implied by njit, which warns when given it
            done[original] = callee if inner is original else njit(**options)(inner)
        if done[original] is not callee:
            replaced[key] = done[original]
    return _renamed(function, name, replaced) if replaced else function


def _renamed(function, name: str, globals_: dict):
    """A copy of ``function`` named ``name`` (which names its on-disk cache apart), with
    ``globals_`` over its own."""
    copy = types.FunctionType(
        function.__code__, {**function.__globals__, **globals_}, name, function.__defaults__
    )
    copy.__qualname__ = copy.__name__ = name
    copy.__doc__ = function.__doc__
    return copy


# The engine's variants, all of the same source (one computation: the same bits for any call
# that either can run). ``train_and_evaluate`` leaves out dropout, gradient clipping, the smooth
# activations and the losses beyond bce, ce and mse (most calls: a first grad, fit or predict;
# what that saves: benchmarks/README.md, "Compile time of a first call");
# ``train_and_evaluate_full`` has every feature; ``train_and_evaluate_threaded`` every feature
# too, and runs a batch's shards, or its products' and update's parts, on Numba's threads
# (plan[THREADS]), so that the parallel regions (a compile time of their own) compile only for a
# fit that has threads to use.
# fnn.engine picks the variant for each call.
THREADED = False
WITH_DROPOUT = WITH_CLIPPING = WITH_SMOOTH_ACTIVATIONS = WITH_OTHER_LOSSES = True
train_and_evaluate = _variant(
    _train_and_evaluate, "train_and_evaluate", WITH_DROPOUT=False, WITH_CLIPPING=False,
    WITH_SMOOTH_ACTIVATIONS=False, WITH_OTHER_LOSSES=False,
)  # fmt: skip
train_and_evaluate_full = _variant(_train_and_evaluate, "train_and_evaluate_full")
train_and_evaluate_threaded = _variant(
    _train_and_evaluate, "train_and_evaluate_threaded", THREADED=True
)


# -- many members of one small network, side by side in the SIMD lanes ----------------------------
#
# Member k of train_members computes, value by value, the operations train_and_evaluate computes
# for that member alone, in the same order (the policy allows no reassociation): its arrays hold
# the members innermost, (units, rows, members), so that every loop over members is elementwise
# and vectorises, where the engine's loops run along the rows of one member's batch.


@part
def _block3(buffer, at, rows, m, members):
    """The (rows, m, members) C-ordered view of ``buffer[at : at + rows * m * members]``."""
    return _view(buffer, at, (rows, m, members))


@part
def _block_from(start, stop):
    """The most of BLOCKS (4, 2 or 1) indices from ``start`` below ``stop``: the next block
    of a members' pass (:func:`_member_dot_rows`, :func:`_member_product_into`)."""
    return 4 if start + 4 <= stop else (2 if start + 2 <= stop else 1)


@uncounted
def _member_dot_rows(P, p, Q, m, out, row):
    """``out[row + j, k] = sum_i P[p, i, k] * Q[j, i, k]`` (i < m) for every row j of Q and
    member k, each in the order of :func:`_dot_rows`: up to four rows of Q a pass, one SIMD
    vector of lanes at a time (:func:`_compiled_lane_dot_rows`); the lanes are whole
    vectors."""
    j = 0
    while j < Q.shape[0]:
        count = _block_from(j, Q.shape[0])
        for first in range(0, P.shape[2], VECTOR_BYTES // P.itemsize):
            _lane_dot_rows(P, p, Q, j, count, m, out, row + j, first)
        j += count


@uncounted
def _member_sum_row(D, j, m, sums, out, row):
    """``out[row, k] = sum_i D[j, i, k]`` (i < m) for every member k, each in the order of
    :func:`_sum_row`."""
    members = D.shape[2]
    whole = m - m % ROW_LANES
    for lane in range(ROW_LANES):
        for k in range(members):
            sums[lane, k] = D.dtype.type(0)
    for i in range(0, whole, ROW_LANES):
        for lane in range(ROW_LANES):
            for k in range(members):
                sums[lane, k] += D[j, i + lane, k]
    for k in range(members):
        out[row, k] = (sums[0, k] + sums[1, k]) + (sums[2, k] + sums[3, k])
    for i in range(whole, m):
        for k in range(members):
            out[row, k] += D[j, i, k]


@uncounted
def _member_product_into(kind, thetas, w_at, P, out, relu, b_at, A):
    """The FORWARD and BACKPROP products of :func:`_product_into`'s loops, for every member:
    ``W`` is member k's ``thetas[w_at : w_at + n_in * n_out, k]`` as (n_in, n_out).

    FORWARD: ``out[j, i, k] = sum_p W[p, j] P[p, i, k]`` (P: A_prev (n_in, m, K));
    BACKPROP: ``out[p, i, k] = sum_j W[p, j] P[j, i, k]`` (P: D (n_out, m, K)); each sum from
    zero in the order of the index, as the engine's loops. It runs in passes over blocks of up
    to four rows of ``out`` and four terms (:func:`_compiled_lane_terms_into`, a SIMD vector
    of lanes at a time; the lanes are whole vectors): a block's passes add its terms in order.

    With ``relu`` (a hidden relu layer's product), the last pass over a row of ``out``
    finishes it as the separate passes would, with fewer loads and stores: FORWARD adds member
    k's bias ``thetas[b_at + j, k]`` and writes ``A = relu(out + b)`` only (as
    :func:`_member_activate_into`; ``out``, the layer's Z, keeps sums that nothing reads);
    BACKPROP sets ``out`` to 0 where the relu layer's ``A`` (out's shape) is not above 0, that
    is where its z is not (as :func:`_member_times_derivative_into`).
    """
    rows, inner = out.shape[0], P.shape[0]
    finish = kind if relu else NO_FINISH
    # W[q, r] forward (n_out = rows), W[r, q] backprop (n_out = inner)
    step = rows if kind == FORWARD else 1
    next_row = 1 if kind == FORWARD else inner
    r = 0
    while r < rows:
        block = _block_from(r, rows)
        q = 0
        while q < inner:
            terms = _block_from(q, inner)
            at = w_at + r * next_row + q * step
            last = finish if q + terms == inner else NO_FINISH
            for lane in range(0, out.shape[2], VECTOR_BYTES // out.itemsize):
                _lane_terms_into(thetas, at, step, next_row, block, P, q, terms, q == 0, out, r,
                                 last, b_at, A, lane)  # fmt: skip
            q += terms
        r += block


@part
def _same_bits(a, b, row_a, row_b):
    """Whether the floats ``a`` and ``b`` and the float64 rows ``row_a`` and ``row_b`` hold the
    same bits (not only equal values: 0.0 and -0.0 differ)."""
    if _bits_of_float64(a) != _bits_of_float64(b):
        return False
    for i in range(row_a.shape[0]):
        if _bits_of_float64(row_a[i]) != _bits_of_float64(row_b[i]):
            return False
    return True


@part
def _member_activate_into(Z, thetas, b_at, code, A):
    """``Z += b``, ``A = f(Z)`` for every member (as :func:`_bias_activate_into`); member
    k's ``b`` is ``thetas[b_at : b_at + n_out, k]``."""
    n_out, m, members = Z.shape
    for j in range(n_out):
        for i in range(m):
            for k in range(members):
                z = Z[j, i, k] + thetas[b_at + j, k]
                Z[j, i, k] = z
                A[j, i, k] = _activation(z, code, Z)


@part
def _member_column_max(Z, i, top):
    """``top[k] = max_j Z[j, i, k]`` for every member k, in ``top``'s dtype, in the order of
    j (as the engine's softmax and ce take their maximum)."""
    n_out, _, members = Z.shape
    for k in range(members):
        top[k] = Z[0, i, k]
    for j in range(1, n_out):
        for k in range(members):
            top[k] = max(top[k], Z[j, i, k])


@uncounted
def _member_softmax_into(Z, A, top, total):
    """``A = softmax(Z)`` down each column (units j of row i) of every member, as
    :func:`_bias_activate_into` computes it; ``top`` and ``total`` are (members,) scratch."""
    n_out, m, members = Z.shape
    one = Z.dtype.type(1)
    for i in range(m):
        _member_column_max(Z, i, top)
        for k in range(members):
            total[k] = Z.dtype.type(0)
        for j in range(n_out):
            for k in range(members):
                A[j, i, k] = _exp(Z[j, i, k] - top[k])
                total[k] += A[j, i, k]
        for k in range(members):
            total[k] = one / total[k]
        for j in range(n_out):
            for k in range(members):
                A[j, i, k] *= total[k]


@uncounted
def _member_ce_into(Z, Y, i, tops, sums, best, label, losses, right, weight):
    """Row ``i``'s ce terms and rightness of every member, as :func:`_output_into` computes
    them: ``losses[k] += sum_j y_j (logsumexp(z) - z_j) * weight``, ``right[i, k] = 0`` when
    argmax z is not the label; ``tops``, ``sums`` float64 and ``best``, ``label`` int64
    (members,) scratch."""
    n_out, m, members = Z.shape
    _member_column_max(Z, i, tops)
    for k in range(members):
        sums[k] = 0.0
    for j in range(n_out):
        for k in range(members):
            sums[k] += _exp(Z[j, i, k] - Z.dtype.type(tops[k]))
    for k in range(members):
        sums[k] = Z.dtype.type(tops[k]) + _log1p(sums[k] - 1.0)  # the log of the sum: sums >= 1
        best[k], label[k] = 0, 0
    for j in range(n_out):
        for k in range(members):
            losses[k] += Y[j, i, k] * (sums[k] - Z[j, i, k]) * weight
            if Z[j, i, k] > Z[best[k], i, k]:
                best[k] = j
            if Y[j, i, k] > Y[label[k], i, k]:
                label[k] = j
    for k in range(members):
        if best[k] != label[k]:
            right[i, k] = 0.0


@uncounted
def _member_bce_into(Z, Y, weights, A, terms):
    """``A = sigmoid(Z)`` and bce's terms ``terms = (softplus(z) - y z) * weight`` of every
    member, as :func:`_output_into` computes them (the two sharing ``exp(-|z|)``). A
    function of its own: inlined in train_members, LLVM leaves this loop scalar."""
    n_out, m, members = Z.shape
    for j in range(n_out):
        for i in range(m):
            for k in range(members):
                z = Z[j, i, k]
                e = Z.dtype.type(_exp(-abs(z)))
                A[j, i, k] = _sigmoid_of(z, e, Z)
                terms[j, i, k] = _bce_term(z, Y[j, i, k], e) * weights[i]


@part
def _member_sum_in_order(terms, totals):
    """``totals[k] += terms[j, i, k]`` in the order of j, then i (as :func:`_output_into`
    sums one member's terms), in float64."""
    n_out, m, members = terms.shape
    for j in range(n_out):
        for i in range(m):
            for k in range(members):
                totals[k] += terms[j, i, k]


@part
def _member_times_derivative_into(D, Z, A, code):
    """``D *= f'(Z)`` for every member (as :func:`_activation_grad_into`)."""
    n_out, m, members = Z.shape
    for j in range(n_out):
        for i in range(m):
            for k in range(members):
                D[j, i, k] = _times_derivative(D, Z, A, (j, i, k), code)


def _train_members(data, rows, thetas, slots, layers, plan, hypers, lrs, l2s, seeds, loss_params,
                  watch):  # fmt: skip
    """fit's epochs of training batches and evaluation chunks for K members of one network at
    once: member k's results are the bits :func:`train_and_evaluate` gives for it alone, its
    X, Y being ``X[train_rows[:, k]]``, ``Y[train_rows[:, k]]``, its X_eval, Y_eval
    ``X[eval_rows[k]]``, ``Y[eval_rows[k]]``, and its ``theta``, ``slots``, ``hyper``,
    ``lrs``, ``l2`` and ``seed`` ``thetas[:, k]``, ``slots[:, :, k]``, ``hypers[k]``,
    ``lrs[k]``, ``l2s[k]`` and ``seeds[k]`` (the plan's step and epochs shared).

    The training batches run side by side in the SIMD lanes, for what the caller has checked
    (``fnn.ensembles``): every product of a batch in loops (below SMALL_MATMUL multiply-adds,
    or a side of W at most SKINNY), a batch in one shard, the bce or mse loss without
    softmax or the ce loss with it, no dropout, sample weights or clipping. Each member's
    evaluation chunks, after each epoch, run the engine's own chunk (:func:`_shard_into`),
    member after member.

    Parameters (none is written)
    ----------------------------
    data : (X, Y), (n, n_features), (n, n_outputs)
        Every member's rows, training and evaluation.
    rows : (train_rows, eval_rows), int64 (n_train, K) and (K, n_eval)
        Each member's training rows (its order of them, which its shuffles permute), and its
        evaluation rows (n_eval = 0: none).
    thetas : (n_params, K)
    slots : (n_slots, n_params, K)
    layers, plan : as for :func:`train_and_evaluate` (LOSS, CHAIN_RULE, OPTIMIZER, STEP,
        FIRST_EPOCH, EPOCHS, BATCH, CHUNK and STOP read)
    hypers : float64 (K, n_hyper); lrs : float64 (K, updates + 1), unscaled (the last: the
        rate of the update after the call, which a plateau's cut reads); l2s : float64 (K,)
    seeds : uint64 (K,); loss_params : float64 (k,), as for :func:`train_and_evaluate`
    watch : (rule, marks, best_thetas, best_slots, plateau_rule, plateaus, best_plateaus)
        Early stopping, each member on its own, as :func:`fnn.epochs.watch_best` decides it:
        ``rule`` float64 (5,): patience, min_delta, the sign of the score (1: mode "min", -1:
        "max"), the records' row watched (-1: no early stopping), the number of this call's
        first epoch in its fit; ``marks`` float64 (K, 3): each member's best score so far
        (inf before the first epoch), epochs waited since, and its best epoch; after an
        epoch that improves, a member's parameters and slots go into ``best_thetas`` and
        ``best_slots`` ((n_params, K), (n_slots, n_params, K), or empty without early
        stopping), and once it has waited ``patience`` epochs it stops: its parameters and
        slots of that epoch are returned, and the members still running move down into the
        lanes of those stopped, so that every loop over lanes runs over running members only
        (their count rounded up to whole SIMD vectors: see ``padded``). The plateau
        watch, each member on its own, as :func:`fnn.epochs.watch_plateau` decides it:
        ``plateau_rule`` float64 (8,): factor, patience, min_delta, min_lr, cooldown, eps,
        the sign of the score, the records' row watched (-1: none); ``plateaus`` float64
        (K, 4): each member's :class:`fnn.types.Plateau` (scale, best, bad epochs, cooldown
        left), whose scale multiplies its learning rates; ``best_plateaus``: the same at
        each member's best epoch.

    Returns
    -------
    thetas, slots
        After each member's last epoch.
    records : (K, 4, epochs)
        Each member's records as :func:`train_and_evaluate`'s: mean training loss (penalty
        included) and accuracy, evaluation loss and accuracy, per epoch (meaningless after
        the member's last).
    done : int
        Epochs finished (fewer when plan[STOP] was set, or every member stopped).
    trained : int64 (K,)
        Each member's epochs.
    marks, best_thetas, best_slots, plateaus, best_plateaus
        After the call, as ``watch`` holds them.
    """
    X, Y = data
    train_rows, eval_rows = rows
    opt_code, loss_code = plan[OPTIMIZER], plan[LOSS]
    if DEBUG and loss_code != BCE and loss_code != MSE and loss_code != CE:
        raise ValueError("unknown loss code (side by side: bce, ce or mse)")
    step, first_epoch, n_epochs = plan[STEP], plan[FIRST_EPOCH], plan[EPOCHS]
    n_layers = layers.shape[0]
    n_features, n_outputs = layers[0, 0], layers[n_layers - 1, 1]
    width = 0
    for layer in range(n_layers):
        width += layers[layer, 1]
    hidden = width - n_outputs
    n_params, members = thetas.shape
    dtype = thetas.dtype
    zero = dtype.type(0)
    n, n_all, n_eval = train_rows.shape[0], Y.shape[0], eval_rows.shape[1]
    batch = min(plan[BATCH], n)
    shuffle = 0 < batch < n
    n_batches = 0 if n == 0 else (n + batch - 1) // batch
    chain = plan[CHAIN_RULE] != 0
    # The lanes the loops over lanes run: the members' rounded up to whole SIMD vectors of the
    # widest registers (VECTOR_BYTES), so that LLVM's vectorised loops have no scalar remainder
    # (which cost as much as the vectors: each of its lanes runs exp and log1p alone) and
    # _member_dot_rows runs whole vectors. The lanes past the members hold copies of a member's
    # values, computed and never read.
    block = VECTOR_BYTES // thetas.itemsize
    padded = (members + block - 1) // block * block

    zbuf = np.empty(batch * width * padded, dtype)
    abuf = np.empty(batch * (n_features + width) * padded, dtype)
    dbuf = np.empty(batch * width * padded, dtype)
    ybuf = np.empty(batch * n_outputs * padded, dtype)
    tbuf = np.empty(batch * n_outputs * padded)  # the loss's terms, float64 as _output_into's
    grads = np.empty(n_params * padded, dtype).reshape((n_params, padded))
    sums = np.empty(ROW_LANES * padded, dtype).reshape((ROW_LANES, padded))
    constants = np.empty(10 * members, dtype).reshape((10, members))
    new_thetas = _padded_lanes(thetas, padded)
    new_slots = _padded_lanes(slots, padded)
    records = np.zeros((members, 4, n_epochs))
    # Each member's shuffle of its training rows, as rows of X (rows, members) for the gathers;
    # and X and Y transposed (feature-major, as the batches), so that a gather reads one short
    # row. A shuffle runs on a copy of its member's rows (rows_of: member-major; empty when the
    # batches are not shuffled), a vector of lanes at a time (columns), which then go into perms
    # a row at a time: a lane's column written alone would store into a cache line of perms per
    # row.
    perms = _padded_lanes(train_rows, padded)
    rows_of = np.empty((members if shuffle else 0, n), np.int64)
    for i in range(n if shuffle else 0):
        for k in range(members):
            rows_of[k, i] = train_rows[i, k]
    columns, draws = np.empty((block, n), np.int64), np.empty(n, np.int64)
    XT = np.empty(n_features * n_all, dtype).reshape((n_features, n_all))
    YT = np.empty(n_outputs * n_all, dtype).reshape((n_outputs, n_all))
    for i in range(n_all):
        for f in range(n_features):
            XT[f, i] = X[i, f]
        for j in range(n_outputs):
            YT[j, i] = Y[i, j]
    # A member's evaluation: the engine's chunks, on a copy of its parameters, with the buffers
    # and bundles of train_and_evaluate's (one thread, no dropout, every row weighing 1).
    chunk = max(1, min(plan[CHUNK], n_eval))
    theta = np.empty(n_params if n_eval > 0 else 0, dtype)
    chunk_scratch = (
        np.empty(chunk * width, dtype), np.empty(chunk * (n_features + width), dtype),
        theta[:0], theta[:0], theta[:0], np.empty(chunk * n_outputs, dtype),
        np.empty(WORK_PER_ROW * chunk), theta[:0], theta[:0], np.ones(chunk, dtype),
    )  # fmt: skip
    chunk_out = (theta[:0], theta[:0].reshape((0, 0)), np.zeros((2, 1)))
    no_dropout = (False, np.empty(0), seeds[0])
    rule, marks, best_thetas, best_slots, plateau_rule, plateaus, best_plateaus = watch
    watched, plateau_watched = np.int64(rule[3]), np.int64(plateau_rule[7])
    marks, best_thetas, best_slots = marks.copy(), best_thetas.copy(), best_slots.copy()
    plateaus, best_plateaus = plateaus.copy(), best_plateaus.copy()
    end_thetas, end_slots = best_thetas.copy(), best_slots.copy()  # of the members stopped
    trained = np.zeros(members, np.int64)
    running = np.ones(members, np.bool_)
    # The lanes: member_of[k] is the member in lane k < live (every lane at first).
    member_of = np.arange(members)
    live = members
    vector_lanes = padded
    lanes = (member_of, live)
    result = (new_thetas, new_slots, records, 0, trained, marks, best_thetas, best_slots,
              plateaus, best_plateaus)  # fmt: skip
    # The rows' weights, all 1, multiplied in as train_and_evaluate multiplies its wbuf: a product
    # with a constant 1 would be folded away, and its operand then fused into the sum (other bits).
    ones = np.empty(batch, dtype)
    for i in range(batch):
        ones[i] = 1.0
    right, rights = np.empty((batch, padded)), np.empty(padded)
    totals, corrects = np.empty(members), np.empty(members)
    tops, log_sums = np.empty(padded), np.empty(padded)  # ce's, per lane
    best, label = np.empty(padded, np.int64), np.empty(padded, np.int64)
    top, total = np.empty(padded, dtype), np.empty(padded, dtype)  # softmax's
    losses, penalties = np.empty(padded), np.zeros(members)

    updates = 0
    for epoch in range(n_epochs):
        if shuffle:
            for first in range(0, live, block):
                lanes_here = min(block, live - first)
                for t in range(lanes_here):
                    member = member_of[first + t]
                    column = columns[t]
                    for i in range(n):
                        column[i] = rows_of[member, i]
                    _shuffle_into(fold_in(seeds[member], first_epoch + epoch), column, draws)
                for i in range(n):  # (an unsigned lane: a signed one is tested for wrapping)
                    for t in range(lanes_here):
                        perms[i, np.uint64(first + t)] = columns[t, i]
        for k in range(live):
            totals[k], corrects[k] = 0.0, 0.0
        for index in range(n_batches):
            if plan[STOP] != 0:
                return _members_result(result, epoch, lanes, end_thetas, end_slots)
            start = index * batch
            m = min(batch, n - start)
            for k in range(live):
                if l2s[member_of[k]] != 0.0:
                    penalties[k] = _penalty(new_thetas[:, k], layers)
            # Forward: gather each member's rows, then layer by layer.
            A_prev = _block3(abuf, 0, n_features, m, vector_lanes)
            Y_batch = _block3(ybuf, 0, n_outputs, m, vector_lanes)
            # (Rows as unsigned indices: a signed one is tested for wrapping around, which
            # keeps the gathers scalar.)
            for f in range(n_features):
                for i in range(m):
                    for k in range(vector_lanes):
                        A_prev[f, i, k] = XT[f, np.uint64(perms[start + i, k])]
            for j in range(n_outputs):
                for i in range(m):
                    for k in range(vector_lanes):
                        Y_batch[j, i, k] = YT[j, np.uint64(perms[start + i, k])]
            z_at, a_at = 0, m * n_features * vector_lanes
            for layer in range(n_layers):
                n_out, code = layers[layer, 1], layers[layer, 4]
                b_at = layers[layer, 3]
                Z = _block3(zbuf, z_at, n_out, m, vector_lanes)
                A = _block3(abuf, a_at, n_out, m, vector_lanes)
                relu = code == RELU and layer < n_layers - 1  # the product adds b, applies it
                _member_product_into(FORWARD, new_thetas, layers[layer, 2], A_prev, Z, relu, b_at,
                                     A)  # fmt: skip
                if layer == n_layers - 1 and loss_code == BCE:  # sigmoid: with the loss
                    _member_activate_into(Z, new_thetas, b_at, IDENTITY, A)
                elif not relu:
                    _member_activate_into(Z, new_thetas, b_at, code, A)
                if code == SOFTMAX:  # the output layer's, with ce
                    _member_softmax_into(Z, A, top, total)
                A_prev = A
                z_at += m * n_out * vector_lanes
                a_at += m * n_out * vector_lanes
            # The output layer: loss, rows right, error (as _output_into with unit weights).
            Z = _block3(zbuf, m * hidden * vector_lanes, n_outputs, m, vector_lanes)
            A = _block3(abuf, m * (n_features + hidden) * vector_lanes, n_outputs, m, vector_lanes)
            D = _block3(dbuf, m * hidden * vector_lanes, n_outputs, m, vector_lanes)
            s = dtype.type(1.0 / m)
            for k in range(vector_lanes):
                losses[k] = 0.0
            for i in range(m):
                for k in range(vector_lanes):
                    right[i, k] = 1.0
            if loss_code == CE:  # row by row, as _output_into
                for i in range(m):
                    _member_ce_into(Z, Y_batch, i, tops, log_sums, best, label, losses, right,
                                    ones[i])  # fmt: skip
            elif loss_code == BCE:
                # The sigmoid and bce's terms (sharing exp(-|z|)), then the terms' sums in
                # _output_into's order, in loops of their own: a sum in order does not
                # vectorise.
                terms = _block3(tbuf, 0, n_outputs, m, vector_lanes)
                _member_bce_into(Z, Y_batch, ones, A, terms)
                _member_sum_in_order(terms, losses)
                for j in range(n_outputs):
                    for i in range(m):
                        for k in range(vector_lanes):
                            if (Z[j, i, k] > zero) != (Y_batch[j, i, k] > 0.5):
                                right[i, k] = 0.0
            for j in range(n_outputs):
                for i in range(m):
                    for k in range(vector_lanes):
                        if loss_code == MSE:
                            losses[k] += _squared_term(A[j, i, k], Y_batch[j, i, k]) * ones[i]
                        D[j, i, k] = s * ones[i] * (A[j, i, k] - Y_batch[j, i, k])
            # The rows right, counted lane by lane (sums of ones: exact in any order).
            for k in range(vector_lanes):
                rights[k] = 0.0
            if loss_code == BCE or loss_code == CE:
                for i in range(m):
                    for k in range(vector_lanes):
                        rights[k] += right[i, k]
            for k in range(live):
                totals[k] += (0.0 + losses[k]) + 0.5 * l2s[member_of[k]] * penalties[k]
                corrects[k] += 0.0 + rights[k]
            # Backward, layer by layer down (as _backward_into).
            z_at = m * width * vector_lanes
            a_at = m * (n_features + width) * vector_lanes
            for layer in range(n_layers - 1, -1, -1):
                n_in, n_out, code = layers[layer, 0], layers[layer, 1], layers[layer, 4]
                w_at, b_at = layers[layer, 2], layers[layer, 3]
                z_at -= m * n_out * vector_lanes
                a_at -= m * n_out * vector_lanes
                D = _block3(dbuf, z_at, n_out, m, vector_lanes)
                # The derivative of a hidden layer, and of the output's under the chain rule
                # (a hidden relu layer's: applied by the product that made D).
                if (layer < n_layers - 1 and code != RELU) or (layer == n_layers - 1 and chain):
                    Z = _block3(zbuf, z_at, n_out, m, vector_lanes)
                    A = _block3(abuf, a_at, n_out, m, vector_lanes)
                    _member_times_derivative_into(D, Z, A, code)
                A_prev = _block3(abuf, a_at - m * n_in * vector_lanes, n_in, m, vector_lanes)
                for p in range(n_in):
                    _member_dot_rows(A_prev, p, D, m, grads, w_at + p * n_out)
                for j in range(n_out):
                    _member_sum_row(D, j, m, sums, grads, b_at + j)
                if layer > 0:
                    D_prev = _block3(dbuf, z_at - m * n_in * vector_lanes, n_in, m, vector_lanes)
                    relu = layers[layer - 1, 4] == RELU
                    _member_product_into(BACKPROP, new_thetas, w_at, D, D_prev, relu, ORIGIN,
                                         A_prev)  # fmt: skip
            # The penalty's term of dW, then the update (as train_and_evaluate and _update_into).
            for k in range(live):
                if l2s[member_of[k]] != 0.0:
                    decay = dtype.type(l2s[member_of[k]] / m)
                    for layer in range(n_layers):
                        w_at = layers[layer, 2]
                        for i in range(w_at, w_at + layers[layer, 0] * layers[layer, 1]):
                            grads[i, k] += decay * new_thetas[i, k]
            # Each lane's update constants; a lane whose member has the bits of the previous
            # lane's member's rate and hyperparameters copies them (computing the powers
            # b**t once per lane took 3.5 % of ensemble-64's fit_many).
            rate_before = np.nan
            for k in range(live):
                member = member_of[k]
                rate = lrs[member, updates] * plateaus[member, 0]  # its plateau watch's scale
                if k > 0 and _same_bits(
                    rate, rate_before, hypers[member], hypers[member_of[k - 1]]
                ):
                    for entry in range(10):
                        constants[entry, k] = constants[entry, k - 1]
                else:
                    c = _update_constants(opt_code, hypers[member], step + updates, rate, thetas)
                    for entry in range(10):
                        constants[entry, k] = c[entry]
                rate_before = rate
            _member_update_into(opt_code, constants, new_thetas, grads, new_slots, live)
            updates += 1
        for k in range(live):
            records[member_of[k], 0, epoch] = totals[k] / float(n)
            records[member_of[k], 1, epoch] = corrects[k] / float(n)
        for k in range(live if n_eval > 0 else 0):  # as train_and_evaluate's chunks
            member = member_of[k]
            for i in range(n_params):
                theta[i] = new_thetas[i, k]
            penalty = 0.0
            if l2s[member] != 0.0:
                penalty = _penalty(theta, layers)
            eval_total, eval_correct = 0.0, 0.0
            for start in range(0, n_eval, chunk):
                if plan[STOP] != 0:
                    return _members_result(result, epoch, lanes, end_thetas, end_slots)
                m = min(chunk, n_eval - start)
                _shard_into(0, m, ONE_THREAD, False, start, False, (theta, layers), plan,
                            (X, Y, X, Y), eval_rows[member, start : start + m], chunk_scratch,
                            no_dropout, (1.0 / m, loss_params), chunk_out)  # fmt: skip
                eval_total += chunk_out[2][0, 0]
                eval_correct += chunk_out[2][1, 0]
            records[member, 2, epoch] = (eval_total + 0.5 * l2s[member] * penalty) / float(n_eval)
            records[member, 3, epoch] = eval_correct / float(n_eval)
        for k in range(live):
            member = member_of[k]
            trained[member] += 1
            if plateau_watched >= 0:
                _watch_plateau(plateau_rule, plateaus[member],
                               records[member, plateau_watched, epoch],
                               lrs[member, updates])  # fmt: skip
            if watched < 0:
                continue
            verdict = _watch_best(rule, marks[member], records[member, watched, epoch], epoch)
            if verdict == 1:  # an improvement: the best epoch
                _lane_into((new_thetas, new_slots), k, (best_thetas, best_slots), member)
                for entry in range(plateaus.shape[1]):
                    best_plateaus[member, entry] = plateaus[member, entry]
            elif verdict == -1:  # patience has run out: the member stops
                running[member] = False
                _lane_into((new_thetas, new_slots), k, (end_thetas, end_slots), member)
        # The members still running move down into the lanes of those stopped, so that the
        # loops over lanes run over the running members only, rounded up to whole vectors
        # (each member's bits do not depend on its lane).
        lane = 0
        while lane < live:
            if running[member_of[lane]]:
                lane += 1
                continue
            live -= 1
            if lane < live:
                member_of[lane] = member_of[live]
                for i in range(n):
                    perms[i, lane] = perms[i, live]
                _lane_into((new_thetas, new_slots), live, (new_thetas, new_slots), lane)
        lanes = (member_of, live)
        vector_lanes = (live + block - 1) // block * block
        if live == 0:
            return _members_result(result, epoch + 1, lanes, end_thetas, end_slots)
    return _members_result(result, n_epochs, lanes, end_thetas, end_slots)


@helper
def _padded_lanes(array, padded):
    """A copy of the C-contiguous ``array`` (..., K) with ``padded - K`` more lanes, each a copy
    of lane 0. (Loops, here and in :func:`_lane_into`: an assignment of slices compiles
    slower, by about a second each.)"""
    members = array.shape[-1]
    rows = array.reshape((array.size // members, members))
    out = np.empty((rows.shape[0], padded), array.dtype)
    for i in range(rows.shape[0]):
        for k in range(padded):
            out[i, k] = rows[i, k if k < members else 0]
    return out.reshape(array.shape[:-1] + (padded,))


@uncounted
def _lane_into(source, k, target, j):
    """Lane ``k`` of ``source`` = (thetas (n_params, lanes), slots (n_slots, n_params,
    lanes)) into lane ``j`` of ``target`` (the same, other lanes)."""
    thetas, slots = source
    into_thetas, into_slots = target
    for i in range(thetas.shape[0]):
        into_thetas[i, j] = thetas[i, k]
    for slot in range(slots.shape[0]):
        for i in range(slots.shape[1]):
            into_slots[slot, i, j] = slots[slot, i, k]


@helper
def _members_result(result, done, lanes, end_thetas, end_slots):
    """:func:`train_members`' results after ``done`` epochs, in the members' order: a member
    in a lane (``lanes``: member_of, live) has that lane's parameters and slots; a member
    stopped, those of its last epoch (``end_thetas``, ``end_slots``)."""
    new_thetas, new_slots, records, _, trained, marks, best_thetas, best_slots = result[:8]
    member_of, live = lanes
    thetas, slots = end_thetas.copy(), end_slots.copy()
    if thetas.size == 0:  # no early stopping: every member in a lane still (set below)
        members = records.shape[0]
        thetas = np.empty((new_thetas.shape[0], members), new_thetas.dtype)
        slots = np.empty(new_slots.shape[:2] + (members,), new_slots.dtype)
    for k in range(live):
        _lane_into((new_thetas, new_slots), k, (thetas, slots), member_of[k])
    return (thetas, slots, records, done, trained, marks, best_thetas, best_slots, result[8],
            result[9])  # fmt: skip


@uncounted
def _watch_plateau(rule, plateau, watched, next_rate):
    """:func:`fnn.epochs.watch_plateau` in place on one member's ``plateau`` (scale, best,
    bad epochs, cooldown left) after an epoch whose monitored value is ``watched``;
    ``next_rate``: the unscaled rate of the next update; ``rule`` as in
    :func:`train_members`."""
    factor, patience, min_delta, min_lr, cooldown, eps, sign = rule[:7]
    value = sign * watched
    if value < plateau[1] - min_delta:
        plateau[1], plateau[2] = value, 0.0
    else:
        plateau[2] += 1.0
    if plateau[3] > 0.0:
        plateau[3], plateau[2] = plateau[3] - 1.0, 0.0
    if plateau[2] > patience:
        rate = next_rate * plateau[0]
        cut = max(rate * factor, min_lr)
        if rate - cut > eps:
            plateau[0] = plateau[0] * factor if cut > min_lr else min_lr / next_rate
        plateau[3], plateau[2] = cooldown, 0.0


@uncounted
def _member_update_into(opt_code, constants, thetas, grads, slots, live):
    """:func:`_update_into` for the members in the first ``live`` lanes: (n_params, K)
    ``thetas`` and ``grads``, (n_slots, n_params, K) ``slots``, lane k's
    :func:`_update_constants` in ``constants[:, k]``."""
    n_params, members = thetas.shape[0], live
    zero = thetas.dtype.type(0)
    for i in range(n_params):
        for k in range(members):
            c = (constants[0, k], constants[1, k], constants[2, k], constants[3, k],
                 constants[4, k], constants[5, k], constants[6, k], constants[7, k],
                 constants[8, k], constants[9, k])  # fmt: skip
            if opt_code == SGD:
                thetas[i, k], _, _ = _updated(SGD, c, thetas[i, k], zero, zero, grads[i, k])
            elif opt_code == MOMENTUM or opt_code == RMSPROP:
                thetas[i, k], slots[0, i, k], _ = _updated(
                    opt_code, c, thetas[i, k], slots[0, i, k], zero, grads[i, k]
                )
            elif opt_code == ADAM or opt_code == ADAMW:
                thetas[i, k], slots[0, i, k], slots[1, i, k] = _updated(
                    opt_code, c, thetas[i, k], slots[0, i, k], slots[1, i, k], grads[i, k]
                )
            elif DEBUG:
                raise ValueError("unknown optimizer code")


# train_members' evaluation chunks run the engine's code (_shard_into) for the bce, ce and mse
# losses only, without dropout or clipping: the other branches are left out, as the engine's
# common variant leaves them out.
train_members = _variant(
    _train_members, "train_members", WITH_DROPOUT=False, WITH_CLIPPING=False,
    WITH_OTHER_LOSSES=False,
)  # fmt: skip


#: Every entry kernel (what a wheel ships compiled: :mod:`fnn.build_shipped`).
ENTRIES = (fold_in, permutation, in_loops, shard_rows, train_and_evaluate, train_and_evaluate_full,
           train_and_evaluate_threaded, update, train_members)  # fmt: skip

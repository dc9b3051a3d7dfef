"""Every Numba kernel of fnn (one module, because Numba's on-disk cache misses edits elsewhere).

Conventions
-----------
* Samples are rows. Parameters travel as one flat vector ``theta`` described by ``layout``,
  an int64 array of shape (n_layers, 4) holding ``n_in, n_out, W offset, b offset`` per layer;
  ``W`` is stored row-major with shape (n_in, n_out), then ``b`` with shape (n_out,).
* Per-layer activations of a batch of ``m`` rows live in flat buffers (``zbuf``, ``abuf``,
  ``dbuf``): layer ``l`` occupies ``m * n_out`` entries after those of the layers before it.
* Activations, losses and optimizers are passed as the integer codes below; the name registries
  (``fnn.model.ACTIVATIONS``, ``fnn.losses.LOSSES``, ``fnn.optim.OPTIMIZERS``) map names to them.
* Public kernels (no leading underscore) allocate their results and never write into their
  arguments. Helpers ending in ``_into`` write only into buffers their caller allocated.
"""

import numpy as np
from numba import njit

# One decorator policy: cached on disk, no GIL, fast maths that keeps NaN/inf semantics, and
# NumPy's error model (x / 0 gives inf or nan, as in NumPy, instead of a ZeroDivisionError
# check on every division, which keeps loops with a division from vectorising).
kernel = njit(
    cache=True,
    nogil=True,
    error_model="numpy",
    fastmath={"nsz", "arcp", "contract", "afn", "reassoc"},
)

IDENTITY, RELU, SIGMOID, TANH, SOFTMAX = 0, 1, 2, 3, 4
BCE, CE, MSE = 0, 1, 2
SGD, MOMENTUM, RMSPROP, ADAM, ADAMW = 0, 1, 2, 3, 4

# Matrix products run as plain loops below SMALL_MATMUL multiply-adds, or when a dimension
# of W is at most SKINNY (BLAS packs such products slowly); above, BLAS. Chosen by measuring
# both on the benchmark shapes (benchmarks/README.md).
SMALL_MATMUL = 8192
SKINNY = 2
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


# -- linear algebra ------------------------------------------------------------------------------


@kernel
def _matmul_into(A, B, out):
    """``out = A @ B``; A or B may be transposed views (Fortran-ordered), which BLAS reads as is."""
    m, k = A.shape
    n = B.shape[1]
    if m * k * n >= SMALL_MATMUL:
        np.dot(A, B, out)
        return
    for i in range(m):
        for j in range(n):
            out[i, j] = 0.0
        for p in range(k):
            a = A[i, p]
            for j in range(n):
                out[i, j] += a * B[p, j]


@kernel
def _layer_params(theta, layout, layer):
    """Views ``(W, b)`` of one layer inside the flat parameter vector."""
    n_in, n_out, w_at, b_at = layout[layer, 0], layout[layer, 1], layout[layer, 2], layout[layer, 3]
    return theta[w_at : w_at + n_in * n_out].reshape((n_in, n_out)), theta[b_at : b_at + n_out]


@kernel
def _total_width(layout):
    width = 0
    for layer in range(layout.shape[0]):
        width += layout[layer, 1]
    return width


# -- activations: forward and backward side by side ----------------------------------------------
#
# Constants are cast to the array's dtype (``Z.dtype.type(1)``) so that float32 work stays
# float32 and vectorises; a float64 literal would widen every element and back. The fused loop
# stores a layer's activations feature-major, (n_out, m); the composable passes hand these
# kernels transposed views of their row-major (m, n_out) blocks: one kernel serves both.


@kernel
def _activate_value(z, code, zero, one):
    """``f(z)`` of one element for the elementwise activations (softmax is done per column)."""
    if code == RELU:
        return z if z > zero else zero
    if code == SIGMOID:
        e = np.exp(-abs(z))  # two branches: exp never overflows, exact at +-1000
        return one / (one + e) if z >= 0 else e / (one + e)
    if code == TANH:
        return np.tanh(z)
    return z


@kernel
def _derivative_times(d, z, a, code, zero, one):
    """``d * f'(z)`` of one element, given ``a = f(z)`` (elementwise activations)."""
    if code == RELU:
        return d if z > zero else zero
    if code == SIGMOID:
        return d * a * (one - a)
    if code == TANH:
        return d * (one - a * a)
    return d


@kernel
def _bias_activate_t_into(ZT, b, code, AT):
    """``ZT += b`` (row j gets b[j]) then ``AT = f(ZT)``; softmax runs down the columns.

    Walks the arrays in memory order: along rows for feature-major buffers, along columns for
    the transposed views of row-major blocks that the composable passes hand in.
    """
    n, m = ZT.shape
    zero = ZT.dtype.type(0)
    one = ZT.dtype.type(1)
    if ZT.flags.c_contiguous:
        for j in range(n):
            bias = b[j]
            for i in range(m):
                z = ZT[j, i] + bias
                ZT[j, i] = z
                AT[j, i] = _activate_value(z, code, zero, one)
    else:
        for i in range(m):
            for j in range(n):
                z = ZT[j, i] + b[j]
                ZT[j, i] = z
                AT[j, i] = _activate_value(z, code, zero, one)
    if code == SOFTMAX:
        for i in range(m):
            top = ZT[0, i]
            for j in range(1, n):
                top = max(top, ZT[j, i])
            total = zero
            for j in range(n):
                AT[j, i] = np.exp(ZT[j, i] - top)
                total += AT[j, i]
            inverse = one / total
            for j in range(n):
                AT[j, i] *= inverse


@kernel
def _activation_grad_t_into(DT, ZT, AT, code):
    """``DT *= f'(ZT)`` in place (softmax: ``A * (D - sum(D * A))`` per column)."""
    n, m = ZT.shape
    zero = ZT.dtype.type(0)
    one = ZT.dtype.type(1)
    if code == SOFTMAX:
        for i in range(m):
            dot = zero
            for j in range(n):
                dot += DT[j, i] * AT[j, i]
            for j in range(n):
                DT[j, i] = AT[j, i] * (DT[j, i] - dot)
    elif DT.flags.c_contiguous:  # memory order, as in _bias_activate_t_into
        for j in range(n):
            for i in range(m):
                DT[j, i] = _derivative_times(DT[j, i], ZT[j, i], AT[j, i], code, zero, one)
    else:
        for i in range(m):
            for j in range(n):
                DT[j, i] = _derivative_times(DT[j, i], ZT[j, i], AT[j, i], code, zero, one)


@kernel
def activation(Z, code):
    """Return ``f(Z)`` for the activation ``code``; Z has shape (m, n).

    Runs the forward passes' own loop (``_bias_activate_t_into`` on transposed views) with a
    zero bias.
    """
    Z = Z.copy()
    A = np.empty_like(Z)
    _bias_activate_t_into(Z.T, np.zeros(Z.shape[1], Z.dtype), code, A.T)
    return A


@kernel
def activation_grad(dA, Z, A, code):
    """Return ``dA * f'(Z)`` given ``A = f(Z)`` (the vector-Jacobian product for softmax)."""
    dZ = dA.copy()
    _activation_grad_t_into(dZ.T, Z.T, A.T, code)
    return dZ


# -- losses of the output layer --------------------------------------------------------------------


@kernel
def _output_layer(Z, A, Y, loss_code, code):
    """Output layer of a row-major batch: ``(summed loss, rows right, D = dLoss/dZ)``.

    The same arithmetic as the fused loop, which it calls: ``_output_t_into`` on transposed
    copies (the output layer is small), then the chain rule for non-canonical pairs. D has
    shape (n, m), feature-major.
    """
    m = Z.shape[0]
    ZT = np.ascontiguousarray(Z.T)
    AT = np.ascontiguousarray(A.T)
    DT = np.empty_like(ZT)
    loss, correct = _output_t_into(
        ZT, AT, np.ascontiguousarray(Y.T), loss_code, 1.0 / m, DT, np.empty(2 * m)
    )
    if loss_code == MSE and code != IDENTITY:  # not a canonical pair: chain rule
        _activation_grad_t_into(DT, ZT, AT, code)
    return loss, correct, DT


@kernel
def output_layer(Z, A, Y, loss_code, code):
    """``(summed data loss, rows classified right)`` of an output layer's Z, A and targets Y.

    bce: ``sum softplus(z) - y z`` (= -[y log p + (1-y) log(1-p)], p = sigmoid(z)); ce:
    ``sum_i sum_j y_ij (logsumexp(z_i) - z_ij)``; mse: ``sum 1/2 (a - y)**2``. A row is right
    when every sigmoid unit is on the right side of z = 0 (bce) or argmax z is the label (ce).
    """
    loss, correct, _ = _output_layer(Z, A, Y, loss_code, code)
    return loss, correct


@kernel
def l2_penalty(theta, layout):
    """``sum_l ||W_l||**2`` (biases excluded), summed in float64."""
    total = 0.0
    for layer in range(layout.shape[0]):
        start = layout[layer, 2]
        for index in range(start, start + layout[layer, 0] * layout[layer, 1]):
            total += theta[index] * theta[index]
    return total


# -- forward and backward passes of the whole network ---------------------------------------------


@kernel
def _forward_into(X, theta, layout, acts, zbuf, abuf, n_layers):
    """Fill ``zbuf``/``abuf`` with Z and A of the first ``n_layers`` layers for the batch X."""
    m = X.shape[0]
    A_prev = X
    at = 0
    for layer in range(n_layers):
        W, b = _layer_params(theta, layout, layer)
        n_out = W.shape[1]
        Z = zbuf[at : at + m * n_out].reshape((m, n_out))
        A = abuf[at : at + m * n_out].reshape((m, n_out))
        _matmul_into(A_prev, W, Z)
        _bias_activate_t_into(Z.T, b, acts[layer], A.T)
        A_prev = A
        at += m * n_out


@kernel
def _backprop_into(X, theta, layout, acts, l2, zbuf, abuf, dbuf, grads, m):
    """Gradients of every layer into ``grads``, from the output error already in ``dbuf``.

    Returns ``sum_l ||W_l||**2`` when ``l2`` is nonzero (read while adding the decay), else 0.
    """
    n_layers = layout.shape[0]
    scale = 1.0 / m
    decay = theta.dtype.type(l2 * scale)
    penalty = 0.0
    at = m * _total_width(layout)
    for layer in range(n_layers - 1, -1, -1):
        n_in, n_out = layout[layer, 0], layout[layer, 1]
        at -= m * n_out
        D = dbuf[at : at + m * n_out].reshape((m, n_out))
        A_prev = X if layer == 0 else abuf[at - m * n_in : at].reshape((m, n_in))
        W, _ = _layer_params(theta, layout, layer)
        gW, gb = _layer_params(grads, layout, layer)
        _matmul_into(A_prev.T, D, gW)
        if l2 != 0.0:
            for i in range(n_in):
                for j in range(n_out):
                    w = W[i, j]
                    gW[i, j] += decay * w
                    penalty += w * w
        for j in range(n_out):
            gb[j] = D[0, j]
        for i in range(1, m):
            for j in range(n_out):
                gb[j] += D[i, j]
        if layer > 0:
            Z_prev = zbuf[at - m * n_in : at].reshape((m, n_in))
            D_prev = dbuf[at - m * n_in : at].reshape((m, n_in))
            _matmul_into(D, W.T, D_prev)
            _activation_grad_t_into(D_prev.T, Z_prev.T, A_prev.T, acts[layer - 1])
    return penalty


@kernel
def _backward_into(X, Y, theta, layout, acts, loss_code, l2, zbuf, abuf, dbuf, grads):
    """Write the gradient of the batch objective into ``grads``; return the summed data loss.

    Objective: ``(1/m) * sum of sample losses + (l2 / 2m) * sum_l ||W_l||**2``.
    ``dbuf`` (same size as ``zbuf``) receives every layer's dLoss/dZ.
    """
    m = X.shape[0]
    n_out = layout[layout.shape[0] - 1, 1]
    at = m * (_total_width(layout) - n_out)
    Z = zbuf[at : at + m * n_out].reshape((m, n_out))
    A = abuf[at : at + m * n_out].reshape((m, n_out))
    D = dbuf[at : at + m * n_out].reshape((m, n_out))
    loss, _, DT = _output_layer(Z, A, Y, loss_code, acts[acts.shape[0] - 1])
    for i in range(m):
        for j in range(n_out):
            D[i, j] = DT[j, i]
    _backprop_into(X, theta, layout, acts, l2, zbuf, abuf, dbuf, grads, m)
    return loss


@kernel
def forward_pass(X, theta, layout, acts):
    """Return flat ``(zbuf, abuf)`` holding every layer's Z and A for the rows of X."""
    size = X.shape[0] * _total_width(layout)
    zbuf = np.empty(size, X.dtype)
    abuf = np.empty(size, X.dtype)
    _forward_into(X, theta, layout, acts, zbuf, abuf, layout.shape[0])
    return zbuf, abuf


@kernel
def backward_pass(X, Y, theta, layout, acts, loss_code, l2, zbuf, abuf):
    """Return ``(summed data loss, flat gradient)`` from a forward pass's buffers."""
    grads = np.empty_like(theta)
    dbuf = np.empty_like(zbuf)
    loss = _backward_into(X, Y, theta, layout, acts, loss_code, l2, zbuf, abuf, dbuf, grads)
    return loss, grads


# -- optimizers ----------------------------------------------------------------------------------


@kernel
def _update_into(opt_code, hyper, theta, grads, slots, step, lr):
    """Apply update number ``step + 1`` in place to ``theta`` and ``slots`` (rows of moments).

    ``hyper`` holds the optimizer's fields after the learning rate: momentum (beta,),
    rmsprop (beta, eps), adam (b1, b2, eps), adamw (b1, b2, eps, weight_decay). Scalars are
    computed in float64 once per update, then cast to theta's dtype for the loop.
    """
    size = theta.shape[0]
    cast = theta.dtype.type
    rate = cast(lr)
    if opt_code == SGD:
        for i in range(size):
            theta[i] -= rate * grads[i]
    elif opt_code == MOMENTUM:
        beta, rest = cast(hyper[0]), cast(1.0 - hyper[0])
        velocity = slots[0]
        for i in range(size):
            velocity[i] = beta * velocity[i] + rest * grads[i]
            theta[i] -= rate * velocity[i]
    elif opt_code == RMSPROP:
        beta, rest, eps = cast(hyper[0]), cast(1.0 - hyper[0]), cast(hyper[1])
        mean_square = slots[0]
        for i in range(size):
            g = grads[i]
            mean_square[i] = beta * mean_square[i] + rest * g * g
            theta[i] -= rate * g / (np.sqrt(mean_square[i]) + eps)
    else:
        t = step + 1
        b1, rest1 = cast(hyper[0]), cast(1.0 - hyper[0])
        b2, rest2 = cast(hyper[1]), cast(1.0 - hyper[1])
        eps = cast(hyper[2])
        decay = cast(lr * hyper[3]) if opt_code == ADAMW else cast(0.0)
        correction1 = cast(1.0 - hyper[0] ** t)
        correction2 = cast(1.0 - hyper[1] ** t)
        first, second = slots[0], slots[1]
        for i in range(size):
            g = grads[i]
            first[i] = b1 * first[i] + rest1 * g
            second[i] = b2 * second[i] + rest2 * g * g
            m_hat = first[i] / correction1
            v_hat = second[i] / correction2
            theta[i] -= decay * theta[i] + rate * m_hat / (np.sqrt(v_hat) + eps)


@kernel
def opt_update(opt_code, hyper, theta, grads, slots, step, lr):
    """Return ``(theta, slots)`` after one update; the arguments are left untouched."""
    theta = theta.copy()
    slots = slots.copy()
    _update_into(opt_code, hyper, theta, grads, slots, step, lr)
    return theta, slots


# -- randomness: counter-based, so that a key alone fixes every shuffle ----------------------------


@kernel
def _mix64(z):
    """SplitMix64's finaliser: a bijective scramble of 64 bits."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@kernel
def fold_in(seed, data):
    """A new 64-bit seed from ``seed`` and an integer ``data`` (as ``jax.random.fold_in``)."""
    return _mix64(seed ^ _mix64(np.uint64(data) + GOLDEN))


@kernel
def _permutation_into(seed, perm):
    """Fisher-Yates shuffle of ``0..n-1`` into ``perm``, driven by a SplitMix64 stream."""
    n = perm.shape[0]
    for i in range(n):
        perm[i] = i
    state = seed
    for i in range(n - 1, 0, -1):
        state += GOLDEN
        unit = float(_mix64(state) >> np.uint64(11)) * 2.0**-53
        j = min(int(unit * (i + 1)), i)
        perm[i], perm[j] = perm[j], perm[i]


@kernel
def permutation(seed, n):
    """A permutation of ``range(n)`` fixed by the 64-bit ``seed``."""
    perm = np.empty(n, np.int64)
    _permutation_into(seed, perm)
    return perm


# -- the fused training loop -----------------------------------------------------------------------
#
# Inside ``train_epochs`` a batch's activations are stored feature-major: layer l's Z and A
# are (n_out, m) blocks, so every loop runs along the m rows of the batch, contiguously,
# whatever the layer widths (2-5-2-1 networks vectorise as well as wide ones). Activations and
# the output layer use the same kernels as the composable passes; only the products and the
# order of sums differ.
#
# Compile time is part of the cost (DESIGN §6): Numba compiles every function separately and
# re-optimises each callee inside every caller, so this part has few functions, one signature
# each (all 2-D arguments C-contiguous), and a shallow call tree.

# NumPy scalars, not ints: Numba would compile one specialisation per literal int.
FORWARD, WEIGHT_GRAD, BACKPROP = np.int64(0), np.int64(1), np.int64(2)


@kernel
def _product_t_into(kind, P, Q, out):
    """The three products of a layer, feature-major; P, Q and out are C-contiguous.

    FORWARD: ``out = P.T @ Q`` (W (k, n), A^T (k, m) -> Z^T (n, m));
    WEIGHT_GRAD: ``out = P @ Q.T`` (A^T (k, m), D^T (n, m) -> dW (k, n));
    BACKPROP: ``out = P @ Q`` (W (k, n), D^T (n, m) -> D_prev^T (k, m)).
    Plain loops along the m rows below SMALL_MATMUL multiply-adds or when a side of W is at
    most SKINNY; BLAS (np.dot on transposed views, no copies) above.
    """
    if kind == WEIGHT_GRAD:
        k, m = P.shape
        n = Q.shape[0]
    else:
        k, n = P.shape
        m = Q.shape[1]
    zero = out.dtype.type(0)
    if m * k * n >= SMALL_MATMUL and min(k, n) > SKINNY:
        if kind == FORWARD:
            np.dot(P.T, Q, out)
        elif kind == WEIGHT_GRAD:
            np.dot(P, Q.T, out)
        else:
            np.dot(P, Q, out)
    elif kind == FORWARD:
        for j in range(n):
            for i in range(m):
                out[j, i] = zero
            for p in range(k):
                w = P[p, j]
                for i in range(m):
                    out[j, i] += w * Q[p, i]
    elif kind == WEIGHT_GRAD:
        for p in range(k):
            for j in range(n):
                total = zero
                for i in range(m):
                    total += P[p, i] * Q[j, i]
                out[p, j] = total
    else:
        for p in range(k):
            for i in range(m):
                out[p, i] = zero
            for j in range(n):
                w = P[p, j]
                for i in range(m):
                    out[p, i] += w * Q[j, i]


@kernel
def _output_t_into(ZT, AT, YT, loss_code, scale, DT, work):
    """Output layer, feature-major, from its Z and A = f(Z): loss, accuracy and error.

    Returns ``(summed loss, rows classified right)`` (formulas in ``output_layer``) and sets
    ``DT = scale * (A - Y)``, the error of the canonical pairs (the caller applies f' for the
    others). ``work`` holds 2 * m values.
    """
    n, m = ZT.shape
    zero = ZT.dtype.type(0)
    total = 0.0
    right, top = work[:m], work[m : 2 * m]
    for i in range(m):
        right[i] = 1.0
        top[i] = ZT[0, i]
    if loss_code == BCE:
        for j in range(n):
            for i in range(m):
                z = ZT[j, i]
                y = YT[j, i]
                total += max(z, 0) - y * z + np.log1p(np.exp(-abs(z)))
                if (z > zero) != (y > 0.5):
                    right[i] = 0.0
    elif loss_code == CE:
        for j in range(1, n):
            for i in range(m):
                top[i] = max(top[i], ZT[j, i])
        for i in range(m):
            top_i = ZT.dtype.type(top[i])
            sum_exp = 0.0
            for j in range(n):
                sum_exp += np.exp(ZT[j, i] - top_i)
            log_norm = top_i + np.log(sum_exp)
            best = 0
            label = 0
            for j in range(n):
                total += YT[j, i] * (log_norm - ZT[j, i])
                if ZT[j, i] > ZT[best, i]:
                    best = j
                if YT[j, i] > YT[label, i]:
                    label = j
            if best != label:
                right[i] = 0.0
    else:
        for j in range(n):
            for i in range(m):
                diff = AT[j, i] - YT[j, i]
                total += 0.5 * diff * diff
    correct = 0
    if loss_code != MSE:
        for i in range(m):
            correct += right[i] > 0.0
    s = ZT.dtype.type(scale)
    for j in range(n):
        for i in range(m):
            DT[j, i] = s * (AT[j, i] - YT[j, i])
    return total, correct


@kernel
def _gather_t_into(X, rows, XT):
    """``XT = X[rows].T``: XT has shape (X.shape[1], len(rows)).

    Blocks of 16 rows, so that each write fills a cache line of XT instead of touching one
    line per element.
    """
    n = X.shape[1]
    m = rows.shape[0]
    for start in range(0, m, 16):
        stop = min(start + 16, m)
        for j in range(n):
            for i in range(start, stop):
                XT[j, i] = X[rows[i], j]


@kernel
def train_epochs(
    X, Y, theta, layout, acts, loss_code, opt_code, hyper, slots, step, lrs, l2,
    seed, first_epoch, n_epochs, batch_size, X_val, Y_val,
):  # fmt: skip
    """Run ``n_epochs`` epochs of mini-batch training entirely in compiled code.

    Epoch ``e`` shuffles with ``fold_in(seed, first_epoch + e)`` unless one batch holds every
    row; update ``step + s`` uses learning rate ``lrs[s]``. Returns ``(theta, slots, loss,
    accuracy, val_loss, val_accuracy, epochs_done)``; ``epochs_done < n_epochs`` means the
    loss of epoch ``epochs_done`` was not finite and training stopped there.

    Every buffer is allocated once per call (a full batch and the validation set are
    transposed once); a step allocates nothing. A step computes ``forward_pass`` +
    ``backward_pass`` + ``opt_update`` of the composable path, feature-major.
    """
    theta = theta.copy()
    slots = slots.copy()
    n, n_features = X.shape
    n_layers = layout.shape[0]
    n_targets = Y.shape[1]
    out_code = acts[n_layers - 1]
    width = 0
    for layer in range(n_layers):
        width += layout[layer, 1]
    out_at = width - n_targets
    batch = min(batch_size, n)
    shuffle = batch < n
    n_val = X_val.shape[0]
    rows = max(batch, n_val)
    zbuf = np.empty(rows * width, X.dtype)
    abuf = np.empty(rows * width, X.dtype)
    dbuf = np.empty(rows * width, X.dtype)
    work = np.empty(2 * rows)
    grads = np.empty_like(theta)
    x_buf = np.empty(n_features * batch, X.dtype)
    y_buf = np.empty(n_targets * batch, X.dtype)
    perm = np.arange(n)
    val_rows = np.arange(n_val)
    XT_val = np.empty((n_features, n_val), X.dtype)
    YT_val = np.empty((n_targets, n_val), X.dtype)
    _gather_t_into(X_val, val_rows[0:n_val], XT_val)
    _gather_t_into(Y_val, val_rows[0:n_val], YT_val)
    if not shuffle:
        _gather_t_into(X, perm[0:n], x_buf.reshape((n_features, n)))
        _gather_t_into(Y, perm[0:n], y_buf.reshape((n_targets, n)))
    losses = np.zeros(n_epochs)
    accuracies = np.zeros(n_epochs)
    val_losses = np.zeros(n_epochs)
    val_accuracies = np.zeros(n_epochs)
    updates = 0
    n_batches = (n + batch - 1) // batch
    # One loop body serves the training batches and, after them, the validation set (forward
    # and output layer only): a single copy of the forward code compiles faster.
    passes = n_batches + (1 if n_val > 0 else 0)
    for epoch in range(n_epochs):
        if shuffle:
            _permutation_into(fold_in(seed, first_epoch + epoch), perm)
        total_loss = 0.0
        correct = 0
        for index in range(passes):
            validating = index == n_batches
            if validating:
                m = n_val
                XT, YT = XT_val, YT_val
            else:
                start = index * batch
                m = min(batch, n - start)
                XT = x_buf[: n_features * m].reshape((n_features, m))
                YT = y_buf[: n_targets * m].reshape((n_targets, m))
                if shuffle:
                    _gather_t_into(X, perm[start : start + m], XT)
                    _gather_t_into(Y, perm[start : start + m], YT)
            # Forward, then the output layer's loss, accuracy and error.
            AT_prev = XT
            at = 0
            for layer in range(n_layers):
                k, n_out, w_at, b_at = (
                    layout[layer, 0], layout[layer, 1], layout[layer, 2], layout[layer, 3]
                )  # fmt: skip
                W = theta[w_at : w_at + k * n_out].reshape((k, n_out))
                ZT = zbuf[at : at + m * n_out].reshape((n_out, m))
                AT = abuf[at : at + m * n_out].reshape((n_out, m))
                _product_t_into(FORWARD, W, AT_prev, ZT)
                _bias_activate_t_into(ZT, theta[b_at : b_at + n_out], acts[layer], AT)
                AT_prev = AT
                at += m * n_out
            at = m * out_at
            ZT = zbuf[at : at + m * n_targets].reshape((n_targets, m))
            AT = abuf[at : at + m * n_targets].reshape((n_targets, m))
            DT = dbuf[at : at + m * n_targets].reshape((n_targets, m))
            batch_loss, batch_correct = _output_t_into(ZT, AT, YT, loss_code, 1.0 / m, DT, work)
            if validating:
                if l2 != 0.0:
                    penalty = 0.0
                    for layer in range(n_layers):
                        w_at = layout[layer, 2]
                        for i in range(w_at, w_at + layout[layer, 0] * layout[layer, 1]):
                            penalty += theta[i] * theta[i]
                    batch_loss += 0.5 * l2 * penalty
                val_losses[epoch] = batch_loss / n_val
                val_accuracies[epoch] = batch_correct / n_val
                continue
            if loss_code == MSE and out_code != IDENTITY:  # not a canonical pair: chain rule
                _activation_grad_t_into(DT, ZT, AT, out_code)
            # Backward: dW = A_prev^T D + (l2/m) W, db = row sums of D^T, D_prev = W D^T f'.
            decay = theta.dtype.type(l2 / m)
            penalty = 0.0
            at = m * width
            for layer in range(n_layers - 1, -1, -1):
                n_in, n_out, w_at, b_at = (
                    layout[layer, 0], layout[layer, 1], layout[layer, 2], layout[layer, 3]
                )  # fmt: skip
                at -= m * n_out
                DT = dbuf[at : at + m * n_out].reshape((n_out, m))
                AT_prev = XT if layer == 0 else abuf[at - m * n_in : at].reshape((n_in, m))
                W = theta[w_at : w_at + n_in * n_out].reshape((n_in, n_out))
                gW = grads[w_at : w_at + n_in * n_out].reshape((n_in, n_out))
                _product_t_into(WEIGHT_GRAD, AT_prev, DT, gW)
                if l2 != 0.0:
                    for p in range(n_in):
                        for j in range(n_out):
                            w = W[p, j]
                            gW[p, j] += decay * w
                            penalty += w * w
                for j in range(n_out):
                    total = grads.dtype.type(0)
                    for i in range(m):
                        total += DT[j, i]
                    grads[b_at + j] = total
                if layer > 0:
                    DT_prev = dbuf[at - m * n_in : at].reshape((n_in, m))
                    _product_t_into(BACKPROP, W, DT, DT_prev)
                    ZT_prev = zbuf[at - m * n_in : at].reshape((n_in, m))
                    _activation_grad_t_into(DT_prev, ZT_prev, AT_prev, acts[layer - 1])
            total_loss += batch_loss + 0.5 * l2 * penalty
            correct += batch_correct
            _update_into(opt_code, hyper, theta, grads, slots, step + updates, lrs[updates])
            updates += 1
            if index == n_batches - 1:
                losses[epoch] = total_loss / n
                accuracies[epoch] = correct / n
                if not np.isfinite(losses[epoch]):
                    return theta, slots, losses, accuracies, val_losses, val_accuracies, epoch
    return theta, slots, losses, accuracies, val_losses, val_accuracies, n_epochs

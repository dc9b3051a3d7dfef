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

# One decorator policy: cached on disk, no GIL, fast maths that keeps NaN/inf semantics.
kernel = njit(cache=True, nogil=True, fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})

IDENTITY, RELU, SIGMOID, TANH, SOFTMAX = 0, 1, 2, 3, 4
BCE, CE, MSE = 0, 1, 2
SGD, MOMENTUM, RMSPROP, ADAM, ADAMW = 0, 1, 2, 3, 4

# Below this many multiply-adds a plain loop beats the overhead of a BLAS call.
SMALL_MATMUL = 8192
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


@kernel
def _sigmoid(z):
    # Two branches so that exp never overflows: exact for z = +-1000.
    if z >= 0.0:
        return 1.0 / (1.0 + np.exp(-z))
    e = np.exp(z)
    return e / (1.0 + e)


@kernel
def _activate_into(Z, code, A):
    """``A = f(Z)`` row by row (softmax shifts each row by its maximum)."""
    m, n = Z.shape
    for i in range(m):
        if code == SOFTMAX:
            top = Z[i, 0]
            for j in range(1, n):
                top = max(top, Z[i, j])
            total = 0.0
            for j in range(n):
                A[i, j] = np.exp(Z[i, j] - top)
                total += A[i, j]
            for j in range(n):
                A[i, j] /= total
        elif code == RELU:
            for j in range(n):
                A[i, j] = max(Z[i, j], 0.0)
        elif code == SIGMOID:
            for j in range(n):
                A[i, j] = _sigmoid(Z[i, j])
        elif code == TANH:
            for j in range(n):
                A[i, j] = np.tanh(Z[i, j])
        else:
            for j in range(n):
                A[i, j] = Z[i, j]


@kernel
def _activation_grad_into(dA, Z, A, code, dZ):
    """``dZ = dA * f'(Z)`` (softmax: ``A * (dA - sum(dA * A))`` per row). dZ may alias dA."""
    m, n = Z.shape
    for i in range(m):
        if code == SOFTMAX:
            dot = 0.0
            for j in range(n):
                dot += dA[i, j] * A[i, j]
            for j in range(n):
                dZ[i, j] = A[i, j] * (dA[i, j] - dot)
        elif code == RELU:
            for j in range(n):
                dZ[i, j] = dA[i, j] if Z[i, j] > 0.0 else 0.0
        elif code == SIGMOID:
            for j in range(n):
                dZ[i, j] = dA[i, j] * A[i, j] * (1.0 - A[i, j])
        elif code == TANH:
            for j in range(n):
                dZ[i, j] = dA[i, j] * (1.0 - A[i, j] * A[i, j])
        else:
            for j in range(n):
                dZ[i, j] = dA[i, j]


@kernel
def activation(Z, code):
    """Return ``f(Z)`` for the activation ``code``; Z has shape (m, n)."""
    A = np.empty_like(Z)
    _activate_into(Z, code, A)
    return A


@kernel
def activation_grad(dA, Z, A, code):
    """Return ``dA * f'(Z)`` given ``A = f(Z)`` (the vector-Jacobian product for softmax)."""
    dZ = np.empty_like(Z)
    _activation_grad_into(dA, Z, A, code, dZ)
    return dZ


# -- losses of the output layer --------------------------------------------------------------------


@kernel
def _output_loss(Z, A, Y, loss_code):
    """Summed (not averaged) data loss of a batch, from the logits Z where it matters.

    bce: ``sum softplus(z) - y z`` (= -[y log p + (1-y) log(1-p)], p = sigmoid(z));
    ce: ``sum_i sum_j y_ij (logsumexp(z_i) - z_ij)``; mse: ``sum 1/2 (a - y)**2``.
    """
    m, n = Z.shape
    total = 0.0
    for i in range(m):
        if loss_code == BCE:
            for j in range(n):
                z = Z[i, j]
                total += max(z, 0.0) - Y[i, j] * z + np.log1p(np.exp(-abs(z)))
        elif loss_code == CE:
            top = Z[i, 0]
            for j in range(1, n):
                top = max(top, Z[i, j])
            sum_exp = 0.0
            for j in range(n):
                sum_exp += np.exp(Z[i, j] - top)
            log_norm = top + np.log(sum_exp)
            for j in range(n):
                total += Y[i, j] * (log_norm - Z[i, j])
        else:
            for j in range(n):
                diff = A[i, j] - Y[i, j]
                total += 0.5 * diff * diff
    return total


@kernel
def _output_delta_into(Z, A, Y, loss_code, code, scale, dZ):
    """``dZ = scale * dLoss/dZ`` for the output layer.

    The canonical pairs (sigmoid+bce, softmax+ce, identity+mse) share the fused error
    ``A - Y``; any other pairing (only mse allows one) goes through the chain rule.
    """
    m, n = Z.shape
    for i in range(m):
        for j in range(n):
            dZ[i, j] = scale * (A[i, j] - Y[i, j])
    canonical = (
        (loss_code == BCE and code == SIGMOID)
        or (loss_code == CE and code == SOFTMAX)
        or (loss_code == MSE and code == IDENTITY)
    )
    if not canonical:
        _activation_grad_into(dZ, Z, A, code, dZ)


@kernel
def _count_correct(Z, Y, loss_code):
    """Rows classified right: every sigmoid unit on the right side of 0.5 (bce), argmax (ce)."""
    m, n = Z.shape
    correct = 0
    for i in range(m):
        if loss_code == BCE:
            right = True
            for j in range(n):
                right = right and ((Z[i, j] > 0.0) == (Y[i, j] > 0.5))
            correct += right
        elif loss_code == CE:
            best = 0
            label = 0
            for j in range(1, n):
                if Z[i, j] > Z[i, best]:
                    best = j
                if Y[i, j] > Y[i, label]:
                    label = j
            correct += best == label
    return correct


@kernel
def count_correct(Z, Y, loss_code):
    """Rows of the batch classified right, from the output logits Z (see ``_count_correct``)."""
    return _count_correct(Z, Y, loss_code)


@kernel
def l2_penalty(theta, layout):
    """``sum_l ||W_l||**2`` (biases excluded)."""
    total = 0.0
    for layer in range(layout.shape[0]):
        W, _ = _layer_params(theta, layout, layer)
        for value in W.ravel():
            total += value * value
    return total


# -- forward and backward passes of the whole network ---------------------------------------------


@kernel
def _forward_into(X, theta, layout, acts, zbuf, abuf):
    """Fill ``zbuf``/``abuf`` with every layer's Z and A for the batch X (shape (m, n_in))."""
    m = X.shape[0]
    A_prev = X
    at = 0
    for layer in range(layout.shape[0]):
        W, b = _layer_params(theta, layout, layer)
        n_out = W.shape[1]
        Z = zbuf[at : at + m * n_out].reshape((m, n_out))
        A = abuf[at : at + m * n_out].reshape((m, n_out))
        _matmul_into(A_prev, W, Z)
        for i in range(m):
            for j in range(n_out):
                Z[i, j] += b[j]
        _activate_into(Z, acts[layer], A)
        A_prev = A
        at += m * n_out


@kernel
def _backward_into(X, Y, theta, layout, acts, loss_code, l2, zbuf, abuf, dbuf, grads):
    """Write the gradient of the batch objective into ``grads``; return the summed data loss.

    Objective: ``(1/m) * sum of sample losses + (l2 / 2m) * sum_l ||W_l||**2``.
    ``dbuf`` (same size as ``zbuf``) receives every layer's dLoss/dZ.
    """
    m = X.shape[0]
    n_layers = layout.shape[0]
    scale = 1.0 / m
    at = m * _total_width(layout)
    loss = 0.0
    for layer in range(n_layers - 1, -1, -1):
        n_in, n_out = layout[layer, 0], layout[layer, 1]
        at -= m * n_out
        Z = zbuf[at : at + m * n_out].reshape((m, n_out))
        A = abuf[at : at + m * n_out].reshape((m, n_out))
        D = dbuf[at : at + m * n_out].reshape((m, n_out))
        if layer == n_layers - 1:
            loss = _output_loss(Z, A, Y, loss_code)
            _output_delta_into(Z, A, Y, loss_code, acts[layer], scale, D)
        A_prev = X if layer == 0 else abuf[at - m * n_in : at].reshape((m, n_in))
        W, _ = _layer_params(theta, layout, layer)
        gW, gb = _layer_params(grads, layout, layer)
        _matmul_into(A_prev.T, D, gW)
        if l2 != 0.0:
            decay = l2 * scale
            for i in range(n_in):
                for j in range(n_out):
                    gW[i, j] += decay * W[i, j]
        for j in range(n_out):
            gb[j] = 0.0
        for i in range(m):
            for j in range(n_out):
                gb[j] += D[i, j]
        if layer > 0:
            Z_prev = zbuf[at - m * n_in : at].reshape((m, n_in))
            D_prev = dbuf[at - m * n_in : at].reshape((m, n_in))
            _matmul_into(D, W.T, D_prev)
            _activation_grad_into(D_prev, Z_prev, A_prev, acts[layer - 1], D_prev)
    return loss


@kernel
def forward_pass(X, theta, layout, acts):
    """Return flat ``(zbuf, abuf)`` holding every layer's Z and A for the rows of X."""
    size = X.shape[0] * _total_width(layout)
    zbuf = np.empty(size, X.dtype)
    abuf = np.empty(size, X.dtype)
    _forward_into(X, theta, layout, acts, zbuf, abuf)
    return zbuf, abuf


@kernel
def output_loss(Z, A, Y, loss_code):
    """Summed data loss of the output layer (see ``_output_loss``)."""
    return _output_loss(Z, A, Y, loss_code)


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
    rmsprop (beta, eps), adam (b1, b2, eps), adamw (b1, b2, eps, weight_decay).
    """
    size = theta.shape[0]
    if opt_code == SGD:
        for i in range(size):
            theta[i] -= lr * grads[i]
    elif opt_code == MOMENTUM:
        beta = hyper[0]
        velocity = slots[0]
        for i in range(size):
            velocity[i] = beta * velocity[i] + (1.0 - beta) * grads[i]
            theta[i] -= lr * velocity[i]
    elif opt_code == RMSPROP:
        beta, eps = hyper[0], hyper[1]
        mean_square = slots[0]
        for i in range(size):
            g = grads[i]
            mean_square[i] = beta * mean_square[i] + (1.0 - beta) * g * g
            theta[i] -= lr * g / (np.sqrt(mean_square[i]) + eps)
    else:
        b1, b2, eps = hyper[0], hyper[1], hyper[2]
        decay = lr * hyper[3] if opt_code == ADAMW else 0.0
        t = step + 1
        correction1 = 1.0 - b1**t
        correction2 = 1.0 - b2**t
        first, second = slots[0], slots[1]
        for i in range(size):
            g = grads[i]
            first[i] = b1 * first[i] + (1.0 - b1) * g
            second[i] = b2 * second[i] + (1.0 - b2) * g * g
            m_hat = first[i] / correction1
            v_hat = second[i] / correction2
            theta[i] -= decay * theta[i] + lr * m_hat / (np.sqrt(v_hat) + eps)


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
    """
    theta = theta.copy()
    slots = slots.copy()
    n, n_features = X.shape
    n_targets = Y.shape[1]
    width = _total_width(layout)
    out_at = width - layout[layout.shape[0] - 1, 1]
    batch = min(batch_size, n)
    shuffle = batch < n
    zbuf = np.empty(batch * width, X.dtype)
    abuf = np.empty(batch * width, X.dtype)
    dbuf = np.empty(batch * width, X.dtype)
    grads = np.empty_like(theta)
    x_buf = np.empty(batch * n_features, X.dtype)
    y_buf = np.empty(batch * n_targets, X.dtype)
    perm = np.empty(n, np.int64)
    n_val = X_val.shape[0]
    zbuf_val = np.empty(n_val * width, X.dtype)
    abuf_val = np.empty(n_val * width, X.dtype)
    losses = np.zeros(n_epochs)
    accuracies = np.zeros(n_epochs)
    val_losses = np.zeros(n_epochs)
    val_accuracies = np.zeros(n_epochs)
    updates = 0
    for epoch in range(n_epochs):
        if shuffle:
            _permutation_into(fold_in(seed, first_epoch + epoch), perm)
        total_loss = 0.0
        correct = 0
        for start in range(0, n, batch):
            m = min(batch, n - start)
            X_batch, Y_batch = X, Y
            if shuffle:
                X_batch = x_buf[: m * n_features].reshape((m, n_features))
                Y_batch = y_buf[: m * n_targets].reshape((m, n_targets))
                for i in range(m):
                    X_batch[i, :] = X[perm[start + i], :]
                    Y_batch[i, :] = Y[perm[start + i], :]
            _forward_into(X_batch, theta, layout, acts, zbuf, abuf)
            total_loss += _backward_into(
                X_batch, Y_batch, theta, layout, acts, loss_code, l2, zbuf, abuf, dbuf, grads
            )
            if l2 != 0.0:
                total_loss += 0.5 * l2 * l2_penalty(theta, layout)
            Z_out = zbuf[m * out_at : m * width].reshape((m, n_targets))
            correct += _count_correct(Z_out, Y_batch, loss_code)
            _update_into(opt_code, hyper, theta, grads, slots, step + updates, lrs[updates])
            updates += 1
        losses[epoch] = total_loss / n
        accuracies[epoch] = correct / n
        if not np.isfinite(losses[epoch]):
            return theta, slots, losses, accuracies, val_losses, val_accuracies, epoch
        if n_val > 0:
            _forward_into(X_val, theta, layout, acts, zbuf_val, abuf_val)
            Z_out = zbuf_val[n_val * out_at :].reshape((n_val, n_targets))
            A_out = abuf_val[n_val * out_at :].reshape((n_val, n_targets))
            val_loss = _output_loss(Z_out, A_out, Y_val, loss_code)
            if l2 != 0.0:
                val_loss += 0.5 * l2 * l2_penalty(theta, layout)
            val_losses[epoch] = val_loss / n_val
            val_accuracies[epoch] = _count_correct(Z_out, Y_val, loss_code) / n_val
    return theta, slots, losses, accuracies, val_losses, val_accuracies, n_epochs

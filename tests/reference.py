"""Slow, obvious NumPy transcriptions of the maths, for tests to compare the kernels with."""

import numpy as np
from scipy.special import erfc, expit


def activation(name, Z):
    if name == "identity":
        return Z.copy()
    if name == "relu":
        return np.where(Z > 0, Z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-Z))
    if name == "tanh":
        return np.tanh(Z)
    if name == "softmax":
        shifted = np.exp(Z - Z.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, 0.01 * Z)
    if name == "elu":
        return np.where(Z > 0, Z, np.expm1(np.minimum(Z, 0)))
    if name == "gelu":
        return Z * 0.5 * erfc(-Z / np.sqrt(2))
    if name == "silu":
        return Z * expit(Z)
    if name == "softplus":
        return np.logaddexp(0, Z)
    raise ValueError(name)


def activation_grad(name, dA, Z):
    """dA * f'(Z), with the Jacobian written out in full for softmax."""
    A = activation(name, Z)
    if name == "identity":
        return dA.copy()
    if name == "relu":
        return dA * (Z > 0)
    if name == "sigmoid":
        return dA * A * (1 - A)
    if name == "tanh":
        return dA * (1 - A**2)
    if name == "leaky_relu":
        return dA * np.where(Z > 0, 1, 0.01)
    if name == "elu":
        return dA * np.where(Z > 0, 1, np.exp(np.minimum(Z, 0)))
    if name == "gelu":
        return dA * (0.5 * erfc(-Z / np.sqrt(2)) + Z * np.exp(-(Z**2) / 2) / np.sqrt(2 * np.pi))
    if name == "silu":
        return dA * (expit(Z) + Z * expit(Z) * expit(-Z))
    if name == "softplus":
        return dA * expit(Z)
    jacobians = np.einsum("ij,jk->ijk", A, np.eye(A.shape[1])) - np.einsum("ij,ik->ijk", A, A)
    return np.einsum("ij,ijk->ik", dA, jacobians)


def forward(net, params, X, masks=()):
    """Lists (A_0..A_L) and (Z_1..Z_L); hidden layer l's A times masks[l] when given (dropout)."""
    As, Zs = [X], []
    for index, (layer, name) in enumerate(zip(params.layers, net.activations)):
        Zs.append(As[-1] @ layer.W + layer.b)
        As.append(activation(name, Zs[-1]) * (masks[index] if index < len(masks) else 1.0))
    return As, Zs


def loss(net, params, X, Y, l2=0.0, masks=()):
    """The mean losses of the conventions in docs/guide.md, written from probabilities (fine for moderate logits)."""
    As, _ = forward(net, params, X, masks)
    P, m = As[-1], X.shape[0]
    if net.loss == "bce":
        data = -np.sum(Y * np.log(P) + (1 - Y) * np.log(1 - P)) / m
    elif net.loss == "ce":
        data = -np.sum(Y * np.log(P)) / m
    elif net.loss == "huber":
        size = np.abs(P - Y)
        d = delta(net)
        data = np.sum(np.where(size <= d, 0.5 * size**2, d * (size - 0.5 * d))) / m
    elif net.loss == "mae":
        data = np.sum(np.abs(P - Y)) / m
    elif net.loss == "poisson":
        data = np.sum(np.exp(P) - Y * P) / m
    elif net.loss == "quantile":
        data = np.sum(pinball(P - Y, levels(net, P.shape[1]))) / m
    else:
        data = np.sum(0.5 * (P - Y) ** 2) / m
    return data + l2 / (2 * m) * sum(np.sum(layer.W**2) for layer in params.layers)


def delta(net):
    """Huber's threshold: Net.loss_params holds it, () when it is the default 1."""
    return net.loss_params[0] if net.loss_params else 1.0


def levels(net, k):
    """Quantile's q of each of the k output units: Net.loss_params holds one q or one per unit,
    () when it is the default 0.5."""
    return np.broadcast_to(np.asarray(net.loss_params[0] if net.loss_params else 0.5), (k,))


def pinball(r, q):
    """The pinball loss of residuals r = y_hat - y at levels q (broadcast over r's rows)."""
    return np.where(r > 0, (1 - q) * r, -q * r)


def pinball_slope(r, q):
    """d pinball / d y_hat: 1 - q above, -q below, 0 at r = 0 (mae's choice there)."""
    return np.where(r > 0, 1 - q, np.where(r < 0, -q, 0.0))


def grad(net, params, X, Y, l2=0.0, masks=()):
    """Backpropagation through dLoss/dA_L and each layer's full chain rule, as lists (dW, db);
    with dropout masks, dLoss/dA_l = dLoss/d(A_l * mask) * mask."""
    As, Zs = forward(net, params, X, masks)
    P, m = As[-1], X.shape[0]
    if net.loss == "bce":
        dA = (-(Y / P) + (1 - Y) / (1 - P)) / m
    elif net.loss == "ce":
        dA = -(Y / P) / m
    elif net.loss == "huber":
        dA = np.clip(P - Y, -delta(net), delta(net)) / m
    elif net.loss == "mae":
        dA = np.sign(P - Y) / m
    elif net.loss == "poisson":
        dA = (np.exp(P) - Y) / m
    elif net.loss == "quantile":
        dA = pinball_slope(P - Y, levels(net, P.shape[1])) / m
    else:
        dA = (P - Y) / m
    grads = []
    for index in range(len(params.layers) - 1, -1, -1):
        if index < len(masks):
            dA = dA * masks[index]
        dZ = activation_grad(net.activations[index], dA, Zs[index])
        W = params.layers[index].W
        grads.append((As[index].T @ dZ + l2 / m * W, dZ.sum(axis=0)))
        dA = dZ @ W.T
    return grads[::-1]


def one_hot(labels, k):
    return np.eye(k)[labels]


# -- dropout masks, from the hash documented in fnn.value_and_grad ------------------------------

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(z):
    """SplitMix64's finaliser on uint64 arrays (multiplications wrap modulo 2**64)."""
    z = np.asarray(z, np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def fold_in(seed, data):
    return mix64(np.uint64(seed) ^ mix64(np.array([data], np.uint64) + GOLDEN))[0]


def dropout_masks(net, seed, m):
    """Hidden layer l's (m, width_l) mask: 1 / (1 - rate) where kept, 0 where dropped."""
    masks = []
    for layer, (width, rate) in enumerate(zip(net.sizes[1:-1], net.dropout)):
        pairs = (width + 1) // 2
        counters = np.arange(1, m * pairs + 1, dtype=np.uint64).reshape(m, pairs)
        bits = mix64(fold_in(seed, layer) + counters * GOLDEN)
        halves = np.stack([bits & np.uint64(0xFFFFFFFF), bits >> np.uint64(32)], axis=2)
        kept = halves.reshape(m, 2 * pairs)[:, :width] >= np.uint64(np.ceil(rate * 2.0**32))
        masks.append(kept / (1.0 - rate))
    return masks

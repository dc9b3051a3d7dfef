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


def forward(net, params, X):
    """Lists (A_0..A_L) and (Z_1..Z_L)."""
    As, Zs = [X], []
    for layer, name in zip(params.layers, net.activations):
        Zs.append(As[-1] @ layer.W + layer.b)
        As.append(activation(name, Zs[-1]))
    return As, Zs


def loss(net, params, X, Y, l2=0.0):
    """The mean losses of the README's conventions, written from probabilities (fine for moderate logits)."""
    As, _ = forward(net, params, X)
    P, m = As[-1], X.shape[0]
    if net.loss == "bce":
        data = -np.sum(Y * np.log(P) + (1 - Y) * np.log(1 - P)) / m
    elif net.loss == "ce":
        data = -np.sum(Y * np.log(P)) / m
    else:
        data = np.sum(0.5 * (P - Y) ** 2) / m
    return data + l2 / (2 * m) * sum(np.sum(layer.W**2) for layer in params.layers)


def grad(net, params, X, Y, l2=0.0):
    """Backpropagation through dLoss/dA_L and each layer's full chain rule, as lists (dW, db)."""
    As, Zs = forward(net, params, X)
    P, m = As[-1], X.shape[0]
    if net.loss == "bce":
        dA = (-(Y / P) + (1 - Y) / (1 - P)) / m
    elif net.loss == "ce":
        dA = -(Y / P) / m
    else:
        dA = (P - Y) / m
    grads = []
    for index in range(len(params.layers) - 1, -1, -1):
        dZ = activation_grad(net.activations[index], dA, Zs[index])
        W = params.layers[index].W
        grads.append((As[index].T @ dZ + l2 / m * W, dZ.sum(axis=0)))
        dA = dZ @ W.T
    return grads[::-1]


def one_hot(labels, k):
    return np.eye(k)[labels]

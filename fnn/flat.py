"""Flat parameter vectors: pack a Params into one 1-D array for the kernels, and back.

The kernels see a network's parameters as one vector ``theta`` plus an int64 ``layout``
(see :mod:`fnn.kernels`); users see ``Params(layers=(Layer(W, b), ...))``. The views
returned by :func:`unpack` share one read-only buffer, so unpacking costs no copy.
"""

from __future__ import annotations

import numpy as np

from fnn.types import Layer, Params


def layout_of(sizes: tuple[int, ...]) -> np.ndarray:
    """Int64 array (n_layers, 4): ``n_in, n_out, W offset, b offset`` of each layer in theta."""
    rows = []
    at = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        rows.append((n_in, n_out, at, at + n_in * n_out))
        at += n_in * n_out + n_out
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def pack(params: Params, dtype) -> np.ndarray:
    """One new writable C-contiguous vector holding every W (row-major) and b, layer by layer."""
    parts = [part.ravel() for layer in params.layers for part in layer]
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)


def unpack(theta: np.ndarray, sizes: tuple[int, ...]) -> Params:
    """Params of read-only views into ``theta`` (which is itself made read-only)."""
    theta.setflags(write=False)
    layers, at = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):  # plain ints: this runs on every grad call
        W = theta[at : at + n_in * n_out].reshape(n_in, n_out)
        at += n_in * n_out
        layers.append(Layer(W, theta[at : at + n_out]))
        at += n_out
    return Params(tuple(layers))


def pack_slots(slots: tuple[Params, ...], n_params: int, dtype) -> np.ndarray:
    """Optimizer moments as a new writable (n_slots, n_params) array."""
    packed = np.empty((len(slots), n_params), dtype)
    for row, slot in enumerate(slots):
        packed[row] = pack(slot, dtype)
    return packed


def unpack_slots(packed: np.ndarray, sizes: tuple[int, ...]) -> tuple[Params, ...]:
    """Inverse of :func:`pack_slots`, as read-only views."""
    packed.setflags(write=False)
    return tuple(unpack(row, sizes) for row in packed)


def frozen(array: np.ndarray) -> np.ndarray:
    """Mark an array the caller owns as read-only and return it."""
    array.setflags(write=False)
    return array

"""The engine's memory layout: Params <-> one flat vector, networks as an int array, caches.

The kernels see a network's parameters as one vector ``theta`` plus an int64 array
``layers`` (see :mod:`fnn.kernels`); users see ``Params(layers=(Layer(W, b), ...))``. The
read-only views :func:`unpack` returns share one buffer, and :func:`pack` hands that buffer
back without a copy (for networks large enough for a copy to cost more than finding out), so
parameters, gradients and optimizer moments cross the boundary in both directions without
being copied twice. A forward :class:`fnn.Cache` is a set of read-only transposed views of
the engine's feature-major buffers, which :func:`cache_buffers` recovers for ``backward``.

The buffers themselves stay writable: Numba types read-only and writable arrays apart, so
every kernel argument is writable (one compiled version per dtype, and Numba's fast argument
dispatch), and the kernels never write into their arguments. Users only see read-only views.
"""

from __future__ import annotations

import numpy as np

from fnn.registry import ACTIVATIONS
from fnn.types import Cache, Layer, Params

#: Below this many parameters :func:`pack` copies: finding out whether Params are views of one
#: buffer (two address lookups per layer) costs more than copying a small network.
ZERO_COPY_MIN = 1 << 14


def frozen(array: np.ndarray) -> np.ndarray:
    """Mark an array the caller owns as read-only and return it."""
    array.setflags(write=False)
    return array


def n_params(sizes: tuple[int, ...]) -> int:
    """Number of parameters (every W and b) of a network with layer ``sizes``."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def layers_of(sizes: tuple[int, ...], activations: tuple[str, ...] | None = None) -> np.ndarray:
    """Int64 (n_layers, 5): ``n_in, n_out, W offset, b offset, activation code`` per layer of
    a network of layer ``sizes``; the code is -1 without ``activations`` (for a call that runs
    no layer: one update from a given gradient)."""
    codes = [-1] * (len(sizes) - 1) if activations is None else [
        ACTIVATIONS[name].code for name in activations
    ]  # fmt: skip
    rows = []
    at = 0
    for n_in, n_out, code in zip(sizes[:-1], sizes[1:], codes):
        rows.append((n_in, n_out, at, at + n_in * n_out, code))
        at += n_in * n_out + n_out
    return np.array(rows, dtype=np.int64).reshape(-1, 5)


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def _is_laid_out(params: Params, base: np.ndarray, start: int) -> bool:
    """True when every W and b of ``params`` is the view :func:`unpack` makes of ``base``,
    starting ``start`` bytes into it."""
    at = _address(base) + start
    size = base.itemsize
    for W, b in params.layers:
        if W.base is not base or b.base is not base or _address(W) != at:
            return False
        at += W.size * size
        if _address(b) != at or not (W.flags.c_contiguous and b.flags.c_contiguous):
            return False
        at += b.size * size
    return True


def pack(params: Params, dtype) -> np.ndarray:
    """Every W (row-major) and b, layer by layer, as one read-only vector of ``dtype``.

    Params that :func:`unpack` made (everything fnn returns) give back their buffer, without a
    copy, when they hold at least ZERO_COPY_MIN values; any other Params are copied once. The
    caller must not write into the result.
    """
    base = params.layers[0].W.base
    if (
        type(base) is np.ndarray
        and base.ndim == 1
        and base.size >= ZERO_COPY_MIN
        and base.flags.writeable  # one compiled version: kernels take writable arrays
        and base.dtype == dtype
        and base.size == sum(W.size + b.size for W, b in params.layers)
        and _is_laid_out(params, base, 0)
    ):
        return base
    parts = [part.ravel() for layer in params.layers for part in layer]
    return np.concatenate(parts).astype(dtype, copy=False)


def unpack(theta: np.ndarray, sizes: tuple[int, ...]) -> Params:
    """Params of read-only views into ``theta``, which the caller hands over (and never
    writes into again)."""
    layers, at = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):  # plain ints: this runs on every grad call
        W = frozen(theta[at : at + n_in * n_out].reshape(n_in, n_out))
        at += n_in * n_out
        layers.append(Layer(W, frozen(theta[at : at + n_out])))
        at += n_out
    return Params(tuple(layers))


def pack_slots(slots: tuple[Params, ...], size: int, dtype) -> np.ndarray:
    """Optimizer moments as one (n_slots, size) array (no copy when they are the rows
    :func:`unpack_slots` made, as for :func:`pack`). The caller must not write into it."""
    if slots and size >= ZERO_COPY_MIN:
        base = slots[0].layers[0].W.base
        if (
            type(base) is np.ndarray
            and base.shape == (len(slots), size)
            and base.dtype == dtype
            and base.flags.c_contiguous
            and base.flags.writeable
            and all(
                _is_laid_out(slot, base, row * size * base.itemsize)
                for row, slot in enumerate(slots)
            )
        ):
            return base
    packed = np.empty((len(slots), size), dtype)
    for row, slot in enumerate(slots):
        packed[row] = pack(slot, dtype)
    return packed


def unpack_slots(packed: np.ndarray, sizes: tuple[int, ...]) -> tuple[Params, ...]:
    """Inverse of :func:`pack_slots`, as read-only views."""
    return tuple(unpack(row, sizes) for row in packed)


def cache_of_buffers(zbuf: np.ndarray, abuf: np.ndarray, sizes: tuple[int, ...], m: int) -> Cache:
    """The Cache of a forward pass over ``m`` rows: (m, width) transposed views of the
    engine's feature-major buffers ``abuf = [X^T | A_1 | ...]`` and ``zbuf = [Z_1 | ...]``."""
    activations, at = [], 0
    for width in sizes:
        activations.append(frozen(abuf[at : at + m * width].reshape(width, m).T))
        at += m * width
    preactivations, at = [], 0
    for width in sizes[1:]:
        preactivations.append(frozen(zbuf[at : at + m * width].reshape(width, m).T))
        at += m * width
    return Cache(tuple(activations), tuple(preactivations))


def cache_buffers(cache: Cache, sizes: tuple[int, ...], m: int, dtype):
    """``(zbuf, abuf)`` behind a Cache that :func:`cache_of_buffers` made, else None (also
    for a Cache holding lists or None, which :func:`fnn.checks.cache_of` then reports)."""
    zbuf = getattr(cache.preactivations[0], "base", None)
    abuf = getattr(cache.activations[0], "base", None)
    for buffer, arrays, widths in (
        (abuf, cache.activations, sizes),
        (zbuf, cache.preactivations, sizes[1:]),
    ):
        if (
            type(buffer) is not np.ndarray
            or buffer.dtype != dtype
            or buffer.ndim != 1
            or not buffer.flags.writeable
        ):
            return None
        if buffer.size != m * sum(widths):
            return None
        at = _address(buffer)
        for array, width in zip(arrays, widths):
            if (
                type(array) is not np.ndarray
                or array.base is not buffer
                or _address(array) != at
                or array.shape != (m, width)
                or array.strides != (buffer.itemsize, m * buffer.itemsize)
            ):
                return None
            at += m * width * buffer.itemsize
    return zbuf, abuf

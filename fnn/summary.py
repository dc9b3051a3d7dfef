"""A network's shape and size at a glance: n_params and summary."""

from __future__ import annotations

import numpy as np

from fnn import checks, flat
from fnn.registry import LOSSES
from fnn.types import Net, Params


def n_params(net: Net) -> int:
    """Number of parameters of the network: every weight and bias.

    Parameters
    ----------
    net : Net

    Returns
    -------
    int
        ``sum_l (sizes[l] * sizes[l+1] + sizes[l+1])``.

    Examples
    --------
    >>> import fnn
    >>> fnn.n_params(fnn.mlp([2, 25, 50, 50, 25, 1]))  # 75 + 1300 + 2550 + 1275 + 26
    5226
    """
    return flat.n_params(checks.network(net).sizes)


def summary(net: Net, params: Params | None = None) -> str:
    """A plain-text table of the network's layers, like Keras' ``model.summary()``.

    One row per weight layer (its index in ``params.layers``): its shape ``(n_in, n_out)``
    (that of ``W``; ``b`` has ``n_out``), activation, dropout rate (only for a network with
    dropout), number of parameters ``n_in * n_out + n_out``, and with ``params`` their
    dtype and size in bytes; then the totals and the loss. The table is returned, not
    printed: ``print(fnn.summary(net, params))``. Without ``params`` the last line gives the
    size in float64 and in float32 instead of a dtype column.

    Parameters
    ----------
    net : Net
    params : Params or None
        Checked against ``net``; they give the dtype and bytes columns.

    Returns
    -------
    str
        The table, lines separated by ``"\\n"``, without a final newline.

    Examples
    --------
    >>> import fnn, numpy as np
    >>> net = fnn.mlp([2, 16, 16, 1], dropout=0.1)
    >>> print(fnn.summary(net, fnn.init(net, dtype=np.float32)))
    layer  shape     activation  dropout  parameters  dtype    bytes
    0      (2, 16)   relu        0.1              48  float32    192
    1      (16, 16)  relu        0.1             272  float32  1,088
    2      (16, 1)   sigmoid     -                17  float32     68
    total                                        337  float32  1,348
    loss: bce
    >>> print(fnn.summary(fnn.mlp([4, 3], output="identity", loss="huber", delta=0.5)))
    layer  shape   activation  parameters
    0      (4, 3)  identity            15
    total                              15
    loss: huber (delta=0.5); 120 bytes in float64, 60 in float32
    """
    net = checks.network(net)
    dtype = None if params is None else checks.params_of(net.sizes, params)
    pairs = list(zip(net.sizes[:-1], net.sizes[1:]))
    counts = [n_in * n_out + n_out for n_in, n_out in pairs]
    total = sum(counts)
    header = ["layer", "shape", "activation"]
    rows = [[str(index), f"({n_in}, {n_out})", name]
            for index, ((n_in, n_out), name) in enumerate(zip(pairs, net.activations))]  # fmt: skip
    last = ["total", "", ""]
    if net.dropout:
        header.append("dropout")
        for row, rate in zip(rows, (*net.dropout, None)):
            row.append("-" if rate is None else f"{rate:g}")
        last.append("")
    header.append("parameters")
    for row, count in zip(rows, counts):
        row.append(f"{count:,}")
    last.append(f"{total:,}")
    if dtype is not None:
        size = np.dtype(dtype).itemsize
        header += ["dtype", "bytes"]
        for row, count in zip(rows, counts):
            row += [str(dtype), f"{count * size:,}"]
        last += [str(dtype), f"{total * size:,}"]
    table = [header, *rows, last]
    right = {"parameters", "bytes"}  # numbers line up on the right
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(width) if name in right else cell.ljust(width)
            for cell, width, name in zip(line, widths, header)
        ).rstrip()
        for line in table
    ]
    names = LOSSES[net.loss].parameters
    values = net.loss_params or tuple(entry.default for entry in names.values())
    settings = ", ".join(f"{name}={value:g}" for name, value in zip(names, values))
    footer = f"loss: {net.loss}" + (f" ({settings})" if settings else "")
    if dtype is None:
        footer += f"; {total * 8:,} bytes in float64, {total * 4:,} in float32"
    return "\n".join([*lines, footer])

"""Saving and loading networks as ``.npz`` archives (never pickle)."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from fnn import checks
from fnn.flat import frozen
from fnn.model import _net
from fnn.types import Layer, Net, Params

#: Version of the archive layout written by :func:`save`.
FORMAT_VERSION = 1


def save(path: str | os.PathLike, net: Net, params: Params) -> None:
    """Write ``net`` and ``params`` to ``path`` (an ``.npz`` archive, loadable without pickle).

    The archive holds ``fnn_meta`` (JSON text: format version, sizes, activations, loss) and
    ``W0, b0, W1, b1, ...``; values round-trip bit for bit.
    """
    checks.network(net)
    checks.params_of(net.sizes, params)
    meta = {"format": "fnn", "version": FORMAT_VERSION, **net._asdict()}
    arrays = {"fnn_meta": np.array(json.dumps(meta))}
    for index, layer in enumerate(params.layers):
        arrays[f"W{index}"], arrays[f"b{index}"] = layer.W, layer.b
    with open(path, "wb") as file:
        np.savez(file, **arrays)


def load(path: str | os.PathLike) -> tuple[Net, Params]:
    """Read what :func:`save` wrote; ValueError for any other file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"path {os.fspath(path)!r} is not an fnn archive: {error}") from error
    try:
        meta = json.loads(str(contents.pop("fnn_meta")))
        if meta.get("format") != "fnn" or meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported format {meta.get('format')!r} {meta.get('version')!r}")
        sizes = tuple(checks.integer("sizes", size, minimum=1) for size in meta["sizes"])
        net = _net(sizes, tuple(meta["activations"]), meta["loss"])
        layers = tuple(
            Layer(frozen(contents[f"W{i}"]), frozen(contents[f"b{i}"]))
            for i in range(len(net.sizes) - 1)
        )
        params = Params(layers)
        checks.params_of(net.sizes, params)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as error:
        raise ValueError(f"path {os.fspath(path)!r} is not a valid fnn archive: {error}") from error
    return net, params

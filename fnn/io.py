"""Saving and loading networks (and optionally optimizer state) as ``.npz`` archives.

An archive is a plain, uncompressed NumPy ``.npz`` file that never needs pickle:

* ``fnn_meta``: a 0-d unicode array holding JSON text ``{"format": "fnn", "version": 1,
  "sizes": [...], "activations": [...], "loss": "...", "dtype": "float64"}``, plus
  ``"optimizer"`` and ``"step"`` when an optimizer state was saved;
* ``W0, b0, W1, b1, ...``: the parameters, bit for bit;
* ``s0_W0, s0_b0, ...``: moment slot ``k`` of the optimizer state as ``s{k}_W{l}``,
  ``s{k}_b{l}`` (only with an optimizer state).

:func:`load` and :func:`load_state` read it with ``allow_pickle=False`` and raise
``ValueError`` for anything else (a pickle, a truncated or foreign file, another format
version, arrays that do not fit the network).
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from fnn import checks
from fnn.flat import pack, unpack
from fnn.model import _net
from fnn.optim import OPTIMIZERS
from fnn.types import Layer, Net, OptState, Params

#: Version of the archive layout written by :func:`save`; :func:`load` reads only this one.
FORMAT_VERSION = 1


def save(path: str | os.PathLike, net: Net, params: Params, opt_state: OptState | None = None):
    """Write ``net`` and ``params`` (and ``opt_state`` if given) to the ``.npz`` file ``path``.

    The file is written to a temporary name and renamed, so an interrupted save never leaves
    a half-written archive under ``path``. Values round-trip bit for bit; with ``opt_state``,
    ``fit(..., opt_state=fnn.load_state(path))`` resumes exactly where training stopped.

    Examples
    --------
    >>> import fnn, os, tempfile
    >>> net = fnn.mlp([2, 3, 1])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> fnn.save(path, net, fnn.init(net, key=0))
    >>> fnn.load(path)[0] == net
    True
    """
    path = checks.path("path", path, ".npz")
    checks.network(net)
    dtype = checks.params_of(net.sizes, params)
    meta = {"format": "fnn", "version": FORMAT_VERSION, **net._asdict(), "dtype": dtype.name}
    arrays = {}
    for index, layer in enumerate(params.layers):
        arrays[f"W{index}"], arrays[f"b{index}"] = layer.W, layer.b
    if opt_state is not None:
        name = getattr(opt_state, "optimizer", None)
        if isinstance(opt_state, OptState):
            checks.one_of("opt_state.optimizer", name, OPTIMIZERS)
        n_slots = OPTIMIZERS[name].n_slots if name in OPTIMIZERS else 0
        state = checks.opt_state_of("opt_state", opt_state, name, n_slots, net.sizes, dtype)
        meta["optimizer"], meta["step"] = state.optimizer, state.step
        for slot_index, slot in enumerate(state.slots):
            for index, layer in enumerate(slot.layers):
                arrays[f"s{slot_index}_W{index}"] = layer.W
                arrays[f"s{slot_index}_b{index}"] = layer.b
    arrays["fnn_meta"] = np.array(json.dumps(meta))
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"path {path!r}: the directory {directory!r} does not exist")
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".npz.tmp", delete=False) as file:
        temporary = file.name
        try:
            np.savez(file, **arrays)
        except BaseException:
            file.close()
            os.unlink(temporary)
            raise
    os.replace(temporary, path)


def load(path: str | os.PathLike) -> tuple[Net, Params]:
    """Read the network and parameters that :func:`save` wrote; ValueError for any other file.

    A missing file raises ``FileNotFoundError`` as ``open`` would.
    """
    net, params, _ = _read(path)
    return net, params


def load_state(path: str | os.PathLike) -> OptState:
    """Read the optimizer state saved with ``fnn.save(path, net, params, opt_state=...)``.

    ValueError when the archive holds no optimizer state (or is not a valid fnn archive).
    """
    _, _, state = _read(path)
    if state is None:
        raise ValueError(
            f"path {os.fspath(path)!r} holds no optimizer state; save one with "
            "fnn.save(path, net, params, opt_state=state)"
        )
    return state


def _read(path) -> tuple[Net, Params, OptState | None]:
    path = checks.path("path", path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a bare .npy array
            raise ValueError(f"it holds a single {checks.describe(archive)}, not an .npz archive")
        with archive:
            contents = {name: archive[name] for name in archive.files}
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as error:  # pickle payloads, truncated or corrupt zips, foreign formats
        raise ValueError(f"path {path!r} is not an fnn archive: {error}") from error
    try:
        return _parse(contents)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"path {path!r} is not a valid fnn archive: {error}") from error


def _parse(contents: dict) -> tuple[Net, Params, OptState | None]:
    text = contents.get("fnn_meta")
    if not isinstance(text, np.ndarray) or text.dtype.kind != "U" or text.ndim != 0:
        raise ValueError("no fnn_meta entry (not written by fnn.save)")
    meta = json.loads(str(text))
    if not isinstance(meta, dict) or meta.get("format") != "fnn":
        raise ValueError("fnn_meta does not describe an fnn archive")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"format version {meta.get('version')!r} is not supported (this fnn reads version "
            f"{FORMAT_VERSION})"
        )
    sizes, activations = checks.spec(meta.get("sizes"), meta.get("activations"), meta.get("loss"))
    net = _net(sizes, activations, meta["loss"])
    n_layers = len(sizes) - 1

    def params_named(prefix: str, what: str) -> Params:
        missing = [f"{prefix}{f}{i}" for i in range(n_layers) for f in "Wb"]
        missing = [name for name in missing if name not in contents]
        if missing:
            raise ValueError(f"missing entries {missing[:5]} for sizes {sizes}")
        pairs = ((contents[f"{prefix}W{i}"], contents[f"{prefix}b{i}"]) for i in range(n_layers))
        layers = Params(tuple(Layer(W, b) for W, b in pairs))
        dtype = checks.params_of(sizes, layers, what)
        return unpack(pack(layers, dtype), sizes)  # one read-only buffer, as fnn.init gives

    params = params_named("", "params")
    expected = {"fnn_meta"} | {f"{f}{i}" for f in "Wb" for i in range(n_layers)}
    state = None
    if "optimizer" in meta:
        name = checks.one_of("optimizer", meta["optimizer"], OPTIMIZERS)
        step = checks.integer("step", meta.get("step"), minimum=0)
        slots = tuple(
            params_named(f"s{k}_", f"opt_state.slots[{k}]") for k in range(OPTIMIZERS[name].n_slots)
        )
        dtype = params.layers[0].W.dtype
        state = checks.opt_state_of("opt_state", OptState(name, step, slots), name, len(slots),
                                    sizes, dtype)  # fmt: skip
        expected |= {
            f"s{k}_{f}{i}" for k in range(len(slots)) for f in "Wb" for i in range(n_layers)
        }
    unexpected = sorted(set(contents) - expected)
    if unexpected:
        raise ValueError(f"unexpected entries {unexpected[:5]}")
    return net, params, state

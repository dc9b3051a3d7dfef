"""Saving and loading networks (and optionally optimizer state) as ``.npz`` archives.

An archive is a plain, uncompressed NumPy ``.npz`` file that never needs pickle:

* ``fnn_meta``: a 0-d unicode array holding JSON text ``{"format": "fnn", "version": 1,
  "sizes": [...], "activations": [...], "loss": "...", "dtype": "float64"}``, plus
  ``"dropout"`` (rates per hidden layer) for a net with dropout, each of the loss's parameters
  by name (``fnn.LOSSES[loss].parameters``: huber's ``"delta"``, quantile's ``"q"``, a number
  or a list of one per output unit) when they are not the defaults, ``"optimizer"`` and
  ``"step"`` when an optimizer state was saved (and ``"plateau"``, ``[scale, best,
  bad_epochs, cooldown_left]``, when it holds a reduce-on-plateau watcher);
* ``W0, b0, W1, b1, ...``: the parameters, bit for bit;
* ``s0_W0, s0_b0, ...``: moment slot ``k`` of the optimizer state as ``s{k}_W{l}``,
  ``s{k}_b{l}`` (only with an optimizer state);
* ``x_mean, x_scale`` and ``y_mean, y_scale``: the input and target :class:`fnn.Scaler`
  (only when saved; the metadata then says ``"x_scaler": true``, ``"y_scaler": true``);
* ``x_feature_names``, ``y_feature_names``: a scaler's ``feature_names`` as a 1-D str array
  (only for a saved scaler that has names; the metadata then says ``"x_feature_names": true``,
  ``"y_feature_names": true``);
* ``classes``: the classes of a classifier's codes (:func:`fnn.encode_labels`) as a 1-D array
  of their own dtype, never an object array (only when saved: ``"classes": true``);
* the training record, each part only when saved (``save(..., opt=, settings=, history=)``):
  the metadata's ``"opt"`` (the optimizer config as an object of its fields with
  ``"type"`` its class name, e.g. ``{"type": "Adam", "learning_rate": ..., "b1": 0.9,
  ...}``, a schedule nested the same way), ``"settings"`` (``fnn.FitSettings``'s fields;
  a SeedSequence key as ``{"entropy", "spawn_key", "pool_size"}``, the watchers as
  objects) and ``"history"`` (``{"stopped_epoch", "params_epoch"}``) with the members
  ``history_loss``, ``history_accuracy``, ``history_val_loss``, ``history_val_accuracy``
  and ``history_monitor`` (1-D float64, possibly empty). An archive without a record is
  what earlier versions wrote; they read one with ``"opt"`` or ``"settings"`` too (they
  ignore those keys), not one with a history (its members are unknown to them).

Loading treats the file as hostile until proven otherwise. It checks the size of the zip
directory before zipfile reads it, then every member's name, uniqueness, storage (uncompressed:
nothing is ever decompressed) and declared size against the bytes the file holds; it reads the
metadata within a size bound, then each array's ``.npy`` header, and checks the shape against
the network before allocating the array. Memory therefore stays within the arrays of the
declared network (never more than the file's own size) plus a few megabytes at most; anything
else is a one-line ``ValueError``.

Saving writes a temporary file ``.{name}.fnn-tmp-{pid}-{random}`` next to the target, flushes
it to disk and renames it over the target, so the path holds the old archive or the new one,
never a partial one; every failure removes the temporary file, and the next save to a path
removes the temporary files that killed saves left there.
"""

from __future__ import annotations

import errno
import io
import json
import math
import numbers
import os
import re
import stat
import zipfile
from typing import NamedTuple

import numpy as np

from fnn import checks
from fnn.flat import frozen, unpack
from fnn.labels import check_classes
from fnn.lbfgs import NAME as LBFGS_NAME
from fnn.lbfgs import lbfgs
from fnn.model import net_of
from fnn.optim import OPTIMIZERS, optimizer_name
from fnn.registry import ACTIVATIONS, LOSSES
from fnn.schedules import SCHEDULES
from fnn.types import (
    LBFGS,
    EarlyStopping,
    FitSettings,
    History,
    Net,
    OptState,
    Params,
    Plateau,
    ReduceOnPlateau,
    Scaler,
    TrainingRecord,
)

try:  # POSIX: a saver holds a lock on its temporary file, which tells live files from stale
    import fcntl
except ImportError:  # Windows: stale temporary files are left alone
    fcntl = None

#: Version of the archive layout written by :func:`save`; :func:`load` reads only this one.
FORMAT_VERSION = 1

#: Most weight layers an archive may hold: it bounds the zip directory and the metadata that
#: :func:`load` reads before it knows the network (far deeper than any trainable MLP).
MAX_LAYERS = 1024

# Bounds on what load reads before it knows the network. zipfile holds an object of ~500 bytes
# per directory entry, ~10x the entry; an fnn entry takes < 128 bytes, and the metadata of
# MAX_LAYERS layers < 160 KiB (4 bytes per character).
# At most: fnn_meta, 4 scaler arrays (x_/y_ mean and scale), 2 feature-name arrays, classes
# and 5 history arrays (a training record), then W and b per layer for params and 2 slots
_MAX_MEMBERS = 13 + 6 * MAX_LAYERS
_MAX_DIRECTORY_BYTES = 128 * _MAX_MEMBERS
_MAX_META_BYTES = 256 * 1024
_MAX_HEADER_BYTES = 4096  # an .npy header of a float array takes 128
# '[' and '{' in the metadata: about 5, and 15 more with a training record (nested
# schedules, a SeedSequence key); bounds json's recursion
_MAX_BRACKETS = 32
_CHUNK_BYTES = 1 << 20  # arrays are read in pieces of this size, straight into their buffer

_MEMBER_NAME = re.compile(
    r"(fnn_meta|(?:s\d{1,4}_)?[Wb]\d{1,6}|[xy]_(?:mean|scale|feature_names)|classes"
    r"|history_(?:loss|accuracy|val_loss|val_accuracy|monitor))\.npy"
)
#: The History arrays of a training record, each stored as ``history_{field}``.
_HISTORY_ARRAYS = ("loss", "accuracy", "val_loss", "val_accuracy", "monitor")
#: The scalers an archive may hold: (metadata flag, member prefix, what they scale).
_SCALERS = (("x_scaler", "x_", "inputs"), ("y_scaler", "y_", "targets"))
_TEMPORARY_SUFFIX = re.compile(r"([1-9]\d{0,9})-[0-9a-f]{12}")
_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def save(
    path: str | os.PathLike,
    net: Net,
    params: Params,
    opt_state: OptState | None = None,
    x_scaler: Scaler | None = None,
    y_scaler: Scaler | None = None,
    classes=None,
    opt=None,
    settings: FitSettings | None = None,
    history: History | None = None,
):
    """Write ``net`` and ``params`` (and ``opt_state``, scalers if given) to the ``.npz`` ``path``.

    ``x_scaler`` (of the inputs, ``sizes[0]`` features) and ``y_scaler`` (of regression
    targets, ``sizes[-1]`` outputs) are :class:`fnn.Scaler` values from
    :func:`fnn.standardizer`, kept with their ``feature_names``; :func:`load_scalers` reads
    them back, so that a loaded model predicts on raw data: ``fnn.unstandardize(y_scaler,
    fnn.predict(net, params, fnn.standardize(x_scaler, X_raw)))``.

    ``classes`` (of a classifier, from :func:`fnn.encode_labels`: one per code that
    :func:`fnn.predict` returns, so 2 for a sigmoid output and ``sizes[-1]`` for softmax) is
    read back by :func:`load_classes`: ``fnn.decode_labels(fnn.predict(net, params, X),
    classes)`` gives the labels as the user had them. Text, bool, integer and float classes
    are kept in their own dtype (object arrays of text as str arrays), bit for bit.

    The training record is opt-in (:func:`load_record` reads it back): ``opt``, the optimizer
    config with its hyperparameters and learning-rate schedule (an fnn schedule: a plain
    function is code, which an archive never holds); ``settings``, a :class:`fnn.FitSettings`
    of ``fit``'s epochs, batch size, key, l2, early stopping and plateau watch (monitoring
    None or a History field's name); ``history``, the :class:`fnn.History` that ``fit``
    returned. With ``opt`` and ``opt_state`` both, :func:`load_state` returns the state with
    the config in ``state.config``, and ``fit`` and ``opt_step`` refuse to resume it with
    other hyperparameters; a state that already holds a config (it was loaded so) keeps it,
    saved as ``opt``. Archives without a record are those older fnn versions wrote and read.

    The archive is written to a temporary file in the same directory (so saving needs write
    permission on the directory, as any atomic replacement does), flushed to disk and renamed
    over ``path``: ``path`` holds the old archive or the new one, never a partial one,
    and no temporary file survives a failure (a full disk, a Ctrl-C, a rename refused).
    Temporary files that killed processes left behind are removed by the next save to the
    same path. A new file gets the mode ``np.savez`` would give it (``0o666`` less the umask);
    a file that is replaced keeps its permission bits. When ``path`` is a symbolic link, the
    file it points to is replaced and the link kept, as ``open(path, "w")`` would write
    through it. Errors name ``path``. Values round-trip bit for bit; with ``opt_state``,
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
    net = checks.network(net)  # sizes as Python ints, for JSON
    if len(net.sizes) - 1 > MAX_LAYERS:
        raise ValueError(
            f"net has {len(net.sizes) - 1} weight layers; an fnn archive holds at most {MAX_LAYERS}"
        )
    dtype = checks.params_of(net.sizes, params)
    meta = {"format": "fnn", "version": FORMAT_VERSION, **net._asdict(), "dtype": dtype.name}
    if not net.dropout:  # archives of nets without dropout stay as they were
        del meta["dropout"]
    # A loss's parameters, each under its own name, only when not the defaults (as huber's
    # "delta" always was: archives of every version read alike)
    del meta["loss_params"]
    meta.update(zip(LOSSES[net.loss].parameters, net.loss_params))
    arrays = {}
    for index, layer in enumerate(params.layers):
        arrays[f"W{index}"], arrays[f"b{index}"] = layer.W, layer.b
    for (flag, prefix, _), scaler, width in zip(
        _SCALERS, (x_scaler, y_scaler), (net.sizes[0], net.sizes[-1])
    ):
        if scaler is None:
            continue
        mean, scale, _ = checks.scaler_of(flag, scaler)
        if mean.shape != (width,):
            raise ValueError(
                f"{flag} must scale {width} columns for sizes {net.sizes}, got {mean.shape[0]}"
            )
        meta[flag] = True
        arrays[f"{prefix}mean"], arrays[f"{prefix}scale"] = mean, scale
    _save_labels(meta, arrays, net, (x_scaler, y_scaler), classes)
    if opt_state is not None:
        name = getattr(opt_state, "optimizer", None)
        if isinstance(opt_state, OptState):
            checks.one_of("opt_state.optimizer", name, OPTIMIZERS)
        n_slots = OPTIMIZERS[name].n_slots if name in OPTIMIZERS else 0
        state = checks.opt_state_of("opt_state", opt_state, name, n_slots, net.sizes, dtype)
        meta["optimizer"], meta["step"] = state.optimizer, state.step
        if state.plateau is not None:  # JSON keeps floats bit for bit (inf as Infinity)
            meta["plateau"] = list(state.plateau)
        for slot_index, slot in enumerate(state.slots):
            for index, layer in enumerate(slot.layers):
                arrays[f"s{slot_index}_W{index}"] = layer.W
                arrays[f"s{slot_index}_b{index}"] = layer.b
    if opt is None and opt_state is not None:
        opt = opt_state.config  # a loaded state keeps the optimizer it was saved with
    meta.update(_record_meta(opt, settings, history, opt_state, arrays))
    arrays["fnn_meta"] = np.array(json.dumps(meta))
    _write_atomically(path, arrays)


def load(path: str | os.PathLike) -> tuple[Net, Params]:
    """Read the network and parameters that :func:`save` wrote; ValueError for any other file.

    A missing file raises ``FileNotFoundError`` and an unreadable one ``PermissionError``, as
    ``open`` would. Anything else that is not an fnn archive raises ``ValueError`` naming
    ``path``: a directory, a FIFO or a device (refused without opening it for reading), a
    pickle, a foreign, truncated or corrupted file, a compressed, duplicated or oversized
    member, arrays that do not fit the network. The file is checked piece by piece before
    anything is allocated: loading costs the memory of the arrays the file declares for its
    network (never more than the file's size) plus a few megabytes at most.
    """
    archive = _read(path)
    return archive.net, archive.params


def load_state(path: str | os.PathLike) -> OptState:
    """Read the optimizer state saved with ``fnn.save(path, net, params, opt_state=...)``.

    ValueError when the archive holds no optimizer state (or is not a valid fnn archive), with
    the checks and memory bound of :func:`load`. When the archive holds the optimizer too
    (``fnn.save(..., opt=...)``), the state carries it in ``config``: ``fit`` and
    ``opt_step`` then refuse to resume it with other hyperparameters (ValueError naming both).
    """
    archive = _read(path)
    state = archive.state
    if state is None:
        raise ValueError(
            f"path {os.fspath(path)!r} holds no optimizer state; save one with "
            "fnn.save(path, net, params, opt_state=state)"
        )
    opt = archive.record.opt
    return state if opt is None else state._replace(config=opt)


def load_scalers(path: str | os.PathLike) -> tuple[Scaler | None, Scaler | None]:
    """Read the ``(x_scaler, y_scaler)`` saved with ``fnn.save(path, ..., x_scaler=...,
    y_scaler=...)``; None for a scaler that was not saved.

    With the checks and memory bound of :func:`load`; the scalers' shapes are checked
    against the network (``sizes[0]`` inputs, ``sizes[-1]`` outputs).

    Examples
    --------
    >>> import fnn, numpy as np, os, tempfile
    >>> X = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> net = fnn.mlp([2, 3, 1], output="identity")
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> fnn.save(path, net, fnn.init(net), x_scaler=fnn.standardizer(X))
    >>> x_scaler, y_scaler = fnn.load_scalers(path)
    >>> x_scaler.mean.tolist(), y_scaler
    ([2.0, 20.0], None)
    """
    return _read(path).scalers


def load_classes(path: str | os.PathLike) -> np.ndarray | None:
    """Read the classes saved with ``fnn.save(path, ..., classes=classes)``; None if none were.

    With the checks and memory bound of :func:`load`; the classes are a read-only 1-D array
    of distinct labels, as many as the network's codes (2 for a sigmoid output, ``sizes[-1]``
    for softmax).

    Examples
    --------
    >>> import fnn, os, tempfile
    >>> codes, classes = fnn.encode_labels(["spam", "ham", "spam"])
    >>> net = fnn.mlp([2, 3, 1])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> fnn.save(path, net, fnn.init(net), classes=classes)
    >>> fnn.load_classes(path).tolist()
    ['ham', 'spam']
    """
    return _read(path).classes


def load_record(path: str | os.PathLike) -> TrainingRecord:
    """Read how the model in ``path`` was trained: ``TrainingRecord(opt, settings, history)``,
    each None when :func:`save` was not given it (always for archives of older versions).

    With the checks and memory bound of :func:`load`: the optimizer and settings are checked
    as their constructors check them, the History's arrays against one another.

    Examples
    --------
    >>> import fnn, numpy as np, os, tempfile
    >>> X, y = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), [0, 1, 1, 1]
    >>> net, opt = fnn.mlp([2, 4, 1]), fnn.adam(0.05)
    >>> settings = fnn.FitSettings(epochs=20, key=1)
    >>> result = fnn.fit(net, fnn.init(net), opt, X, y, **settings._asdict())
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> fnn.save(path, net, result.params, result.opt_state, opt=opt, settings=settings,
    ...          history=result.history)
    >>> record = fnn.load_record(path)
    >>> record.opt == opt, record.settings.epochs, len(record.history.loss)
    (True, 20, 20)
    """
    return _read(path).record


def _save_labels(meta: dict, arrays: dict, net: Net, scalers: tuple, classes) -> None:
    """Add the scalers' feature names and the classes to an archive's ``meta`` and ``arrays``
    (the scalers were checked by :func:`save`)."""
    for (flag, prefix, _), scaler in zip(_SCALERS, scalers):
        names = () if scaler is None else tuple(scaler.feature_names)
        if names:
            if any(name.endswith("\0") for name in names):  # .npy text drops trailing NULs
                raise ValueError(f"{flag}.feature_names must not end with a NUL character")
            meta[f"{prefix}feature_names"] = True
            arrays[f"{prefix}feature_names"] = np.array(names, dtype=str)
    if classes is not None:
        classes = check_classes("classes", classes)
        _check_class_count(classes, net)
        meta["classes"] = True
        arrays["classes"] = classes


def _check_class_count(classes: np.ndarray, net: Net) -> None:
    """ValueError unless there is one class per code of ``net``'s predictions."""
    decision = ACTIVATIONS[net.activations[-1]].decision
    if decision not in ("argmax", "threshold"):
        raise ValueError(
            f"classes are for classifiers; this net's {net.activations[-1]!r} output predicts "
            "values, not class codes"
        )
    count = net.sizes[-1] if decision == "argmax" else 2
    if classes.size != count:
        raise ValueError(
            f"classes must hold {count} classes (one per code of the net's "
            f"{net.activations[-1]} output with sizes[-1]={net.sizes[-1]}), got {classes.size}"
        )


# -- the training record -----------------------------------------------------------------------


def _record_meta(opt, settings, history, opt_state, arrays: dict) -> dict:
    """The metadata of a training record (keys ``"opt"``, ``"settings"``, ``"history"``, each
    only when given), checked; the History's arrays go into ``arrays``."""
    meta = {}
    if opt is not None:
        name = _optimizer_name(opt)
        if opt_state is not None and opt_state.optimizer != name:
            raise ValueError(
                f"opt is a {name!r} optimizer but opt_state belongs to "
                f"{opt_state.optimizer!r}: save the optimizer that the state belongs to"
            )
        if opt_state is not None:
            checks.same_optimizer("opt_state", opt_state, opt)
        meta["opt"] = _json_value("opt", opt)
    if settings is not None:
        settings = checks.fit_settings_of("settings", settings)
        fields = settings._asdict()
        key = fields["key"]
        if isinstance(key, np.random.SeedSequence):
            fields["key"] = {"entropy": key.entropy, "spawn_key": list(key.spawn_key),
                             "pool_size": key.pool_size}  # fmt: skip
        meta["settings"] = {name: _json_value(f"settings.{name}", value)
                            for name, value in fields.items()}  # fmt: skip
    if history is not None:
        history = _history_of("history", history)
        meta["history"] = {"stopped_epoch": history.stopped_epoch,
                           "params_epoch": history.params_epoch}  # fmt: skip
        for field in _HISTORY_ARRAYS:
            arrays[f"history_{field}"] = getattr(history, field)
    return meta


def _optimizer_name(opt) -> str:
    """The registry name of an optimizer config (or ``"lbfgs"``), the config checked."""
    if isinstance(opt, LBFGS):
        lbfgs(*opt)
        return LBFGS_NAME
    return optimizer_name(opt)


def _json_value(name: str, value):
    """``value`` in JSON: numbers, strings, None and lists as they are; a config or schedule
    (a NamedTuple) as an object of its fields, with ``"type"`` its class name. A function
    (a monitor, a plain learning-rate function) is refused: an archive holds no code."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, tuple) and _RECORD_TYPES.get(type(value).__name__) is type(value):
        fields = {field: _json_value(f"{name}.{field}", item)
                  for field, item in value._asdict().items()}  # fmt: skip
        return {"type": type(value).__name__, **fields}
    if isinstance(value, dict):  # a SeedSequence key, already in JSON's terms
        return {k: _json_value(f"{name}.{k}", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(f"{name}[{i}]", item) for i, item in enumerate(value)]
    raise ValueError(
        f"{name} is {checks.describe(value)}, which an fnn archive cannot hold (it never "
        "pickles code): use an fnn schedule for a learning rate, a History field's name for "
        "a monitor, or save without it"
    )


def _history_of(name: str, history) -> History:
    """A History whose arrays are 1-D float64 of one length (or empty where they may be),
    with its epoch indices inside them."""
    if not isinstance(history, History):
        raise TypeError(f"{name} must be an fnn.History (fit's result.history), got "
                        f"{checks.describe(history)}")  # fmt: skip
    columns = []
    for field in _HISTORY_ARRAYS:
        column = getattr(history, field)
        if not isinstance(column, np.ndarray) or column.ndim != 1 or column.dtype != np.float64:
            raise TypeError(
                f"{name}.{field} must be a 1-D float64 array, got {checks.describe(column)}"
            )
        columns.append(column)
    epochs = columns[0].size
    for field, column in zip(_HISTORY_ARRAYS[1:], columns[1:]):
        if column.size not in (0, epochs):
            raise ValueError(
                f"{name}.{field} must hold {epochs} epochs (as {name}.loss) or none, got "
                f"{column.size}"
            )
    if columns[3].size and not (columns[1].size and columns[2].size):
        raise ValueError(f"{name}.val_accuracy needs {name}.accuracy and {name}.val_loss")
    for field in ("stopped_epoch", "params_epoch"):
        value = getattr(history, field)
        if value is not None:
            checks.integer(f"{name}.{field}", value, 0, max(epochs - 1, 0))
            if not epochs:
                raise ValueError(f"{name}.{field} must be None without epochs, got {value}")
    return history


#: The NamedTuples a training record's metadata holds, by class name.
_RECORD_TYPES = {
    kind.__name__: kind
    for kind in (
        *(entry.config for entry in OPTIMIZERS.values()),
        LBFGS,
        *SCHEDULES,
        EarlyStopping,
        ReduceOnPlateau,
    )  # fmt: skip
}


def _record(meta: dict, history_arrays: dict) -> TrainingRecord:
    """The TrainingRecord of an archive's metadata and History arrays, checked."""
    opt = settings = history = None
    if meta.get("opt") is not None:
        opt = _from_json("opt", meta["opt"])
        _optimizer_name(opt)  # its fields in range, its schedule too
    if meta.get("settings") is not None:
        fields = meta["settings"]
        if not isinstance(fields, dict) or set(fields) != set(FitSettings._fields):
            raise ValueError(f"settings must name {list(FitSettings._fields)}")
        fields = {name: _from_json(f"settings.{name}", value) for name, value in fields.items()}
        key = fields["key"]
        if isinstance(key, dict):
            if set(key) != {"entropy", "spawn_key", "pool_size"}:
                raise ValueError("settings.key must be an int or a SeedSequence's fields")
            fields["key"] = np.random.SeedSequence(
                key["entropy"], spawn_key=tuple(key["spawn_key"]), pool_size=key["pool_size"]
            )
        settings = checks.fit_settings_of("settings", FitSettings(**fields))
    if meta.get("history") is not None:
        epochs = meta["history"]
        if not isinstance(epochs, dict) or set(epochs) != {"stopped_epoch", "params_epoch"}:
            raise ValueError("history must name stopped_epoch and params_epoch")
        columns = [history_arrays[field] for field in _HISTORY_ARRAYS]
        history = _history_of("history", History(*columns[:4], epochs["stopped_epoch"],
                                                 epochs["params_epoch"], columns[4]))  # fmt: skip
    return TrainingRecord(opt, settings, history)


def _from_json(name: str, value):
    """The value that :func:`_json_value` wrote: a NamedTuple of :data:`_RECORD_TYPES` for an
    object with a ``"type"``, each field in turn; numbers, strings, None as they are."""
    if isinstance(value, list):
        return [_from_json(f"{name}[{i}]", item) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if "type" not in value:
        return {k: _from_json(f"{name}.{k}", v) for k, v in value.items()}
    kind = _RECORD_TYPES.get(value["type"])
    if kind is None:
        raise ValueError(f"{name} has the type {value['type']!r:.40}, which fnn never saves")
    fields = {k: _from_json(f"{name}.{k}", v) for k, v in value.items() if k != "type"}
    if set(fields) != set(kind._fields):
        raise ValueError(f"{name} must have the fields {list(kind._fields)} of {kind.__name__}")
    return kind(**fields)


# -- saving ------------------------------------------------------------------------------------


def _write_atomically(path: str, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez(path, **arrays)``, all or nothing (see :func:`save`)."""
    _refuse_nul(path)
    target = os.path.realpath(path)  # through symbolic links, as open(path, "w") writes
    if os.path.islink(target):  # a loop of links: realpath gives up on it
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
    directory, name = os.path.split(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"path {path!r}: the directory {directory!r} does not exist")
    _remove_stale_temporaries(directory, name)
    temporary = os.path.join(
        directory, f"{_temporary_prefix(name)}{os.getpid()}-{os.urandom(6).hex()}"
    )
    try:
        file = open(temporary, "xb")  # mode 0o666 less the umask, as np.savez's open gives
    except OSError as error:
        raise _naming(path, error) from None
    try:
        if fcntl is not None:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)  # released by the kernel if we are killed
        _keep_permissions(target, file)
        np.savez(file, **arrays)
        file.flush()
        os.fsync(file.fileno())
        file.close()
        os.replace(temporary, target)
    except BaseException as error:
        try:
            file.close()
        except OSError:
            pass  # a full disk fails the flush again; the file is closed all the same
        finally:
            try:
                os.unlink(temporary)
            except OSError:
                pass  # already renamed, or the file system refuses: nothing more to do
        if isinstance(error, OSError) and error.errno is not None:
            raise _naming(path, error) from error
        raise


def _naming(path: str, error: OSError) -> OSError:
    """The same kind of OSError, naming the user's path rather than the temporary file."""
    return OSError(error.errno, error.strerror or str(error), path)


def _refuse_nul(path: str) -> None:
    if "\0" in path:
        raise ValueError(f"path must not contain a NUL character, got {path!r}")


def _temporary_prefix(name: str) -> str:
    """``.{name}.fnn-tmp-``, with ``name`` cut to 48 characters so that the temporary name
    fits wherever ``name`` does (at most 255 bytes on common file systems)."""
    return f".{name[:48]}.fnn-tmp-"


def _keep_permissions(target: str, file) -> None:
    """Give the temporary ``file`` the permission bits of the regular file it will replace."""
    try:
        status = os.stat(target)
    except OSError:
        return  # a new file keeps the mode open() gave it
    if stat.S_ISREG(status.st_mode):
        where = file.fileno() if os.chmod in os.supports_fd else file.name  # by descriptor: no race
        os.chmod(where, stat.S_IMODE(status.st_mode) & 0o777)


def _remove_stale_temporaries(directory: str, name: str) -> None:
    """Delete temporary files of saves to ``name`` whose process was killed.

    A temporary file is stale when its name carries the id of a process that no longer runs
    and no process holds its lock (the lock also covers savers on other machines or in other
    PID namespaces sharing the directory). Files that cannot be checked are left alone.
    """
    if fcntl is None:
        return
    prefix = _temporary_prefix(name)
    try:
        with os.scandir(directory) as entries:
            candidates = [entry.name for entry in entries if entry.name.startswith(prefix)]
    except OSError:
        return
    for candidate in candidates:
        match = _TEMPORARY_SUFFIX.fullmatch(candidate, len(prefix))
        if match is None or _process_exists(int(match[1])):
            continue
        candidate = os.path.join(directory, candidate)
        try:
            descriptor = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)  # fails while a saver holds it
            os.unlink(candidate)
        except OSError:
            pass
        finally:
            os.close(descriptor)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):  # no such process (or beyond any process id)
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


# -- loading -----------------------------------------------------------------------------------

#: What a hostile or damaged file can raise while it is read; each becomes a ValueError.
_MALFORMED = (ValueError, KeyError, TypeError, EOFError, NotImplementedError, zipfile.BadZipFile)


class _Archive(NamedTuple):
    """All that an archive holds, as :func:`_read` gives it; each ``load_*`` returns a part."""

    net: Net
    params: Params
    state: OptState | None
    scalers: tuple[Scaler | None, Scaler | None]
    classes: np.ndarray | None
    record: TrainingRecord


def _read(path) -> _Archive:
    path = checks.path("path", path)
    with _open_regular_file(path) as file:
        try:
            return _read_archive(file, os.fstat(file.fileno()).st_size)
        except _MALFORMED as error:
            raise ValueError(f"path {path!r} is not a valid fnn archive: {error}") from error


def _open_regular_file(path: str):
    """Open ``path`` for reading in binary mode if it is a regular file.

    The kind is checked before opening (a FIFO would block, a device never end), and again
    on the open descriptor (opened non-blocking) in case the path changed in between.
    """
    _refuse_nul(path)
    kind = stat.S_IFMT(os.stat(path).st_mode)  # FileNotFoundError, PermissionError as open()
    if kind != stat.S_IFREG:
        raise ValueError(
            f"path {path!r} is {_FILE_KINDS.get(kind, 'not a regular file')}, not an fnn archive"
        )
    descriptor = os.open(
        path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    )
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ValueError(f"path {path!r} stopped being a regular file while it was opened")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _read_archive(file, file_size: int) -> _Archive:
    directory_bytes = _directory_size(file, file_size)
    if directory_bytes > _MAX_DIRECTORY_BYTES:
        raise ValueError(
            f"its zip directory declares {directory_bytes} bytes; an fnn archive's takes at "
            f"most {_MAX_DIRECTORY_BYTES}"
        )
    with zipfile.ZipFile(file) as archive:
        members = _members(archive, file_size)
        if "fnn_meta" not in members:
            raise ValueError("no fnn_meta entry (not written by fnn.save)")
        meta = _metadata(archive, members["fnn_meta"])
        sizes, activations = checks.spec(
            meta.get("sizes"), meta.get("activations"), meta.get("loss")
        )
        parameters = LOSSES[meta["loss"]].parameters
        given = {k: meta[k] for k in parameters if k in meta}
        net = net_of(sizes, activations, meta["loss"], given)
        if meta.get("dropout"):
            net = net._replace(dropout=checks.dropout_rates("dropout", meta["dropout"], sizes))
        n_slots = 0
        if "optimizer" in meta:
            name = checks.one_of("optimizer", meta["optimizer"], OPTIMIZERS)
            step = checks.integer("step", meta.get("step"), 0, checks.MAX_STEPS)
            plateau = meta.get("plateau")
            if plateau is not None:
                if not isinstance(plateau, list) or len(plateau) != len(Plateau._fields):
                    raise ValueError(f"plateau must be a list of 4 numbers, got {plateau!r:.80}")
                plateau = checks.plateau_of("plateau", Plateau(*plateau))
            n_slots = OPTIMIZERS[name].n_slots
        prefixes = [""] + [f"s{k}_" for k in range(n_slots)]
        n_layers = len(sizes) - 1
        expected = [f"{p}{f}{i}" for p in prefixes for i in range(n_layers) for f in "Wb"]
        for flag, prefix, _ in _SCALERS:
            if meta.get(flag, False) is not False:
                if meta[flag] is not True:
                    raise ValueError(f"{flag} must be true or absent, got {meta[flag]!r}")
                expected += [f"{prefix}mean", f"{prefix}scale"]
        expected += _label_members(meta)
        if meta.get("history") is not None:
            expected += [f"history_{field}" for field in _HISTORY_ARRAYS]
        unexpected = sorted(set(members) - set(expected) - {"fnn_meta"})
        if unexpected:
            raise ValueError(f"unexpected entries {unexpected[:5]}")
        missing = [name for name in expected if name not in members]
        if missing:
            raise ValueError(f"missing entries {missing[:5]} for sizes {sizes}")
        params, *slots = (_params(archive, members, prefix, sizes) for prefix in prefixes)
        scalers = tuple(
            _scaler(archive, members, prefix, width) if meta.get(flag) else None
            for (flag, prefix, _), width in zip(_SCALERS, (sizes[0], sizes[-1]))
        )
        scalers, classes = _read_labels(archive, members, meta, net, scalers)
        history_arrays = {}
        if meta.get("history") is not None:
            history_arrays = {
                field: _vector(
                    archive, members, f"history_{field}", None, "f", "float64", (8,), empty=True
                )
                for field in _HISTORY_ARRAYS
            }
    record = _record(meta, history_arrays)
    state = None
    if "optimizer" in meta:
        if record.opt is not None and _optimizer_name(record.opt) != name:
            raise ValueError(f"its opt is {_optimizer_name(record.opt)!r}, its state {name!r}'s")
        dtype = params.layers[0].W.dtype
        state = checks.opt_state_of("opt_state", OptState(name, step, tuple(slots), plateau),
                                    name, n_slots, sizes, dtype)  # fmt: skip
    return _Archive(net, params, state, scalers, classes, record)


def _label_members(meta: dict) -> list[str]:
    """The feature-name and class members that ``meta``'s flags announce."""
    names = []
    for flag, prefix, _ in _SCALERS:
        key = f"{prefix}feature_names"
        if meta.get(key, False) is not False:
            if meta[key] is not True:
                raise ValueError(f"{key} must be true or absent, got {meta[key]!r}")
            if meta.get(flag) is not True:
                raise ValueError(f"{key} is true but the archive holds no {flag}")
            names.append(key)
    if meta.get("classes", False) is not False:
        if meta["classes"] is not True:
            raise ValueError(f"classes must be true or absent, got {meta['classes']!r}")
        names.append("classes")
    return names


def _read_labels(archive, members: dict, meta: dict, net: Net, scalers: tuple):
    """``(scalers with their feature names, classes or None)`` from the members that
    :func:`_label_members` announced."""
    named = []
    for (flag, prefix, _), scaler in zip(_SCALERS, scalers):
        key = f"{prefix}feature_names"
        if meta.get(key):
            width = scaler.mean.shape[0]
            names = _vector(archive, members, key, width, "U", "str")
            scaler = checks.scaler_of(flag, scaler._replace(feature_names=tuple(names.tolist())))
        named.append(scaler)
    classes = None
    if meta.get("classes"):
        classes = check_classes("classes", _vector(archive, members, "classes", None, "biufUS",
                                                   "bool, integer, float or text"))  # fmt: skip
        _check_class_count(classes, net)
    return tuple(named), classes


def _directory_size(file, file_size: int) -> int:
    """Bytes of the zip's central directory, from its end record, found as zipfile finds it.

    zipfile reads the whole directory and builds an object per entry before anything can be
    checked, so the size the end record declares is checked first (0 when there is none:
    zipfile then refuses the file without reading more).
    """
    start = max(file_size - 22 - 0xFFFF - 76, 0)  # end record, its comment, zip64 records
    file.seek(start)
    tail = file.read()
    at = len(tail) - 22
    if at < 0 or tail[at : at + 4] != b"PK\x05\x06" or tail[-2:] != b"\0\0":
        at = tail.rfind(b"PK\x05\x06")  # an end record followed by a comment
    if at < 0 or len(tail) - at < 22:
        return 0
    size = int.from_bytes(tail[at + 12 : at + 16], "little")
    if (
        at >= 76
        and tail[at - 20 : at - 16] == b"PK\x06\x07"
        and tail[at - 76 : at - 72] == b"PK\x06\x06"
    ):
        size = int.from_bytes(tail[at - 36 : at - 28], "little")  # the zip64 record's size
    return size


def _members(archive: zipfile.ZipFile, file_size: int) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name (without ``.npy``), each checked from the directory:
    a name fnn writes, no duplicate, stored uncompressed, bytes that lie within the file."""
    members = {}
    total = 0
    for info in archive.infolist():
        match = _MEMBER_NAME.fullmatch(info.filename)
        if match is None:
            raise ValueError(f"unexpected member {info.filename[:80]!r}")
        name = match[1]
        if name in members:
            raise ValueError(f"member {info.filename!r} appears more than once")
        if info.flag_bits & 0x1:
            raise ValueError(f"member {info.filename!r} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(
                f"member {info.filename!r} is compressed; fnn archives are stored uncompressed, "
                "as fnn.save writes them"
            )
        if (
            info.file_size != info.compress_size
            or info.header_offset < 0
            or info.header_offset + info.compress_size > file_size
        ):
            raise ValueError(
                f"member {info.filename!r} declares {info.file_size} bytes at offset "
                f"{info.header_offset} of a file of {file_size} bytes"
            )
        total += info.compress_size
        members[name] = info
    if total > file_size:
        raise ValueError(f"its members declare {total} bytes, more than the file's {file_size}")
    return members


def _metadata(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict:
    """The JSON object in ``fnn_meta``, read within :data:`_MAX_META_BYTES`."""
    if info.file_size > _MAX_META_BYTES:
        raise ValueError(
            f"fnn_meta declares {info.file_size} bytes; an fnn archive's takes at most "
            f"{_MAX_META_BYTES}"
        )
    shape, _, file_dtype, offset = _npy_header(archive, info)
    if shape != () or file_dtype.kind != "U":
        raise ValueError("fnn_meta is not a text entry (not written by fnn.save)")
    _check_data_size(info, offset, file_dtype.itemsize)
    text = np.empty((), file_dtype.newbyteorder("="))
    _read_data(archive, info, offset, text, file_dtype, False)
    text = str(text)
    brackets = text.count("[") + text.count("{")
    if brackets > _MAX_BRACKETS:  # nesting depth <= brackets: json.loads cannot recurse deeply
        raise ValueError(f"fnn_meta holds {brackets} '[' or '{{'; an fnn archive's holds 3")
    meta = json.loads(text)
    if not isinstance(meta, dict) or meta.get("format") != "fnn":
        raise ValueError("fnn_meta does not describe an fnn archive")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"format version {meta.get('version')!r} is not supported (this fnn reads version "
            f"{FORMAT_VERSION})"
        )
    return meta


def _params(archive: zipfile.ZipFile, members: dict, prefix: str, sizes: tuple) -> Params:
    """The ``{prefix}W{i}``, ``{prefix}b{i}`` members as Params of read-only views into one
    buffer (as fnn.init gives). Every header is checked against ``sizes`` first; the buffer,
    no larger than the members' bytes, is then filled straight from the file."""
    layers = range(len(sizes) - 1)
    names = [f"{prefix}{f}{i}" for i in layers for f in "Wb"]
    shapes = [shape for i in layers for shape in ((sizes[i], sizes[i + 1]), (sizes[i + 1],))]
    headers, dtype = [], None
    for name, shape in zip(names, shapes):
        found, fortran, file_dtype, offset = _npy_header(archive, members[name])
        if found != shape:
            raise ValueError(f"{name} has shape {found}, expected {shape} for sizes {sizes}")
        if file_dtype.kind != "f" or file_dtype.itemsize not in (4, 8):
            raise ValueError(f"{name} has dtype {file_dtype}, expected float32 or float64")
        dtype = dtype or file_dtype.newbyteorder("=")  # big-endian archives load as native
        if file_dtype.newbyteorder("=") != dtype:
            raise ValueError(f"{name} has dtype {file_dtype}, {names[0]} has {dtype}")
        _check_data_size(members[name], offset, math.prod(shape) * file_dtype.itemsize)
        headers.append((fortran, file_dtype, offset))
    theta = np.empty(sum(map(math.prod, shapes)), dtype)
    at = 0
    for name, shape, (fortran, file_dtype, offset) in zip(names, shapes, headers):
        count = math.prod(shape)
        out = theta[at : at + count].reshape(shape)
        _read_data(archive, members[name], offset, out, file_dtype, fortran)
        at += count
    return unpack(theta, sizes)


def _scaler(archive: zipfile.ZipFile, members: dict, prefix: str, width: int) -> Scaler:
    """The ``{prefix}mean``, ``{prefix}scale`` members as a checked Scaler of ``width``
    features; each header is checked before its array is allocated."""
    arrays = (
        _vector(archive, members, f"{prefix}{field}", width, "f", "float32 or float64", (4, 8))
        for field in ("mean", "scale")
    )
    return checks.scaler_of(f"{prefix}scaler", Scaler(*arrays))


def _vector(
    archive,
    members: dict,
    name: str,
    length: int | None,
    kinds: str,
    expected: str,
    itemsizes: tuple[int, ...] | None = None,
    empty: bool = False,
) -> np.ndarray:
    """The 1-D member ``name`` (``length`` entries, or any number when None: at least one
    unless ``empty``) of a dtype of ``kinds`` (and ``itemsizes``), read-only; its header is
    checked before the array is allocated (the file bounds its size)."""
    shape, fortran, file_dtype, offset = _npy_header(archive, members[name])
    if length is None:
        wrong, wanted = len(shape) != 1 or not (shape[0] or empty), "k" if empty else "k >= 1"
    else:
        wrong, wanted = shape != (length,), length
    if wrong:
        raise ValueError(f"{name} has shape {shape}, expected ({wanted},)")
    if file_dtype.kind not in kinds or (itemsizes and file_dtype.itemsize not in itemsizes):
        raise ValueError(f"{name} has dtype {file_dtype}, expected {expected}")
    _check_data_size(members[name], offset, shape[0] * file_dtype.itemsize)
    out = np.empty(shape, file_dtype.newbyteorder("="))
    _read_data(archive, members[name], offset, out, file_dtype, fortran)
    return frozen(out)


def _npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """``(shape, fortran_order, dtype, data offset)`` from the ``.npy`` header of a member,
    parsed from its first few kilobytes. Refuses object and structured dtypes: nothing is
    ever unpickled."""
    with archive.open(info) as member:
        start = io.BytesIO(member.read(16 + _MAX_HEADER_BYTES))
    version = np.lib.format.read_magic(start)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(start, _MAX_HEADER_BYTES)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(start, _MAX_HEADER_BYTES)
    else:
        raise ValueError(f"{_entry(info)} has .npy format version {version}, not 1.0 or 2.0")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{_entry(info)} has dtype {dtype}, which fnn never writes")
    return shape, fortran, dtype, start.tell()


def _entry(info: zipfile.ZipInfo) -> str:
    return info.filename.removesuffix(".npy")


def _check_data_size(info: zipfile.ZipInfo, offset: int, nbytes: int) -> None:
    if info.file_size != offset + nbytes:
        raise ValueError(
            f"{_entry(info)} holds {info.file_size - offset} bytes of data, expected {nbytes}"
        )


def _read_data(archive, info, offset: int, out: np.ndarray, file_dtype, fortran: bool) -> None:
    """Fill the C-contiguous native-order ``out`` from the data of a member (whose header
    ends at ``offset``; ``file_dtype`` gives the byte order), in pieces of ``_CHUNK_BYTES``.
    Reading to the member's end makes zipfile check its CRC."""
    raw = out.reshape(-1).view(np.uint8)
    with archive.open(info) as member:
        member.read(offset)
        for start in range(0, raw.size, _CHUNK_BYTES):
            piece = member.read(min(_CHUNK_BYTES, raw.size - start))
            if not piece:
                raise EOFError(f"{_entry(info)} is truncated")
            raw[start : start + len(piece)] = np.frombuffer(piece, np.uint8)
    if not file_dtype.isnative:
        out.byteswap(inplace=True)
    if fortran:  # the bytes are those of the transpose
        out[...] = out.reshape(out.shape[::-1]).T.copy()

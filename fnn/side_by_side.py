"""Members side by side: many fits of one small network in one compiled kernel.

Member ``k`` trains on its own rows of one copy of the data, evaluates its own validation rows
after each epoch and stops early on its own, bit for bit as the single ``fit`` it stands for
(:func:`fnn.kernels.train_members`: member k in SIMD lane k, every value computed by the
engine's operations in the engine's order; each evaluation chunk by the engine's own code).
:func:`fnn.fit_many` trains its members this way, and :func:`fnn.sweep` its trials, whenever
the kernel does what their fits ask (:func:`eligible`).

Early stopping and the plateau watch run inside the kernel, by the rules of
:func:`fnn.epochs.watch_best` and :func:`fnn.epochs.watch_plateau`: after each epoch every
member's monitored value is watched, its learning rate cut on a plateau, its best parameters
kept, and a member whose patience has run out stops. The members still running then move
down into the lanes of those stopped, so that the loops run over fewer lanes (a lane is not
refilled: another member would have to be at the same step of the same data); a call ends
early once every member has stopped, and the next call, if any, holds only the members still
training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from fnn import engine
from fnn.data import seed_of
from fnn.epochs import Watching, history_of, sign_of
from fnn.flat import pack, pack_slots, unpack, unpack_slots
from fnn.optim import hyperparameters, learning_rates, opt_init, optimizer_name
from fnn.registry import OPTIMIZERS
from fnn.train import MAX_UPDATES_PER_CALL
from fnn.types import (
    LBFGS,
    EarlyStopping,
    FitResult,
    Net,
    OptState,
    Params,
    Plateau,
    ReduceOnPlateau,
)

#: Bytes of batch buffers one call of train_members may keep, and members per call at least and
#: at most: groups of about 32 members trained fastest per member, smaller ones (a call's
#: per-batch work) and much larger ones (the cache) slower (benchmarks/README.md, "Groups of
#: 32 members").
GROUP_BYTES = 1 << 21
GROUP_MEMBERS = (8, 32)
#: Multiply-adds of a batch's product up to which members side by side beat a fit per member
#: on the threads (with early stopping or a plateau watch too: a fit runs those epochs at a
#: time, as side by side does): measured in benchmarks/README.md, "Where side by side pays".
PAYING_PRODUCT = 2048


class Members(NamedTuple):
    """K fits of one network, side by side: what differs between them.

    ``params``, ``opts``, ``states``, ``keys`` and ``l2s`` hold one entry per member (a state
    may be None: the optimizer's initial one); member k trains on the rows ``train_rows[:,
    k]`` of the data (int64 (n_train, K), in the order its shuffles permute) and is evaluated
    on ``eval_rows[k]`` (int64 (K, n_eval); n_eval = 0 without validation).
    """

    params: Sequence[Params]
    opts: Sequence
    states: Sequence[OptState | None]
    keys: Sequence
    l2s: Sequence[float]
    train_rows: np.ndarray
    eval_rows: np.ndarray


def eligible(net: Net, opts, states, n_train: int, batch_size, *others) -> bool:
    """Whether :func:`fnn.kernels.train_members` can train these fits together: a network whose
    every product of a batch runs in the engine's loops (not BLAS) and whose batches are not
    cut into shards, the bce or mse loss without softmax or the ce loss with it, one kind of
    optimizer without clipping, every member at the same step, and nothing else between
    epochs or beyond the rows: ``others`` (dropout is the network's; sample or class
    weights, validation weights, a callback, a progress display, a monitored function) all
    None or False."""
    if any(value is not None and value is not False for value in others) or any(net.dropout):
        return False
    if net.loss not in ("bce", "ce", "mse") or ("softmax" in net.activations) != (net.loss == "ce"):
        return False
    if isinstance(opts[0], LBFGS) or any(type(opt) is not type(opts[0]) for opt in opts):
        return False
    if any(opt.clip_norm is not None for opt in opts):
        return False
    if len({0 if state is None else state.step for state in states}) > 1:
        return False
    return engine.members_side_by_side(net.sizes, _batch(n_train, batch_size))


def pays(net: Net, n_train: int, batch_size) -> bool:
    """Whether training side by side (where :func:`eligible`) is faster than a fit per member:
    while every product of a batch is at most PAYING_PRODUCT multiply-adds."""
    batch = _batch(n_train, batch_size)
    return all(
        batch * n_in * n_out <= PAYING_PRODUCT for n_in, n_out in zip(net.sizes, net.sizes[1:])
    )


def _batch(n_train: int, batch_size: int | None) -> int:
    """Rows per training batch, as ``fit`` takes them."""
    return n_train if batch_size is None else min(batch_size, n_train)


def train(
    net: Net,
    X: np.ndarray,
    Y: np.ndarray,
    members: Members,
    *,
    epochs: int,
    batch_size: int | None,
    early_stopping: EarlyStopping | None,
    reduce_on_plateau: ReduceOnPlateau | None,
    watch: Watching,
    threads: int,
    purpose: str,
) -> list[FitResult | None]:
    """Train ``members`` side by side (see :func:`eligible` for what they may ask).

    Member k's FitResult is the bits of ``fit(net, params[k], opts[k], X[train_rows[:, k]],
    y[train_rows[:, k]], epochs, batch_size, key=keys[k], l2=l2s[k], validation=(X[eval_rows[k]],
    y[eval_rows[k]]) if n_eval else None, opt_state=states[k], early_stopping=early_stopping,
    reduce_on_plateau=reduce_on_plateau)``; None for a member whose loss, validation loss or
    parameters stopped being finite (that ``fit`` raises: the caller's to run it). X and Y
    (the engine's form, of the parameters' dtype) hold every member's rows; ``watch``: the
    records' rows the watchers read (:func:`fnn.epochs.watching`); the groups of members run
    on ``threads`` threads.
    """
    count = len(members.params)
    dtype = X.dtype
    name = optimizer_name(members.opts[0])
    # A member without a state starts from opt_init's (step 0, zero slots: one optimizer and
    # one network, so the same read-only state for every such member).
    fresh = opt_init(members.opts[0], members.params[0])
    states = [fresh if state is None else state for state in members.states]
    n = members.train_rows.shape[0]
    batch = _batch(n, batch_size)
    batches_per_epoch = -(-n // batch)
    first_step = states[0].step
    has_val = members.eval_rows.shape[1] > 0
    thetas = np.stack([pack(p, dtype) for p in members.params], axis=1)
    slots = np.stack([pack_slots(s.slots, thetas.shape[0], dtype) for s in states], axis=2)
    hypers = np.stack([hyperparameters(opt) for opt in members.opts])
    seeds = np.array([seed_of(key) for key in members.keys], np.uint64)
    l2s = np.array(members.l2s, np.float64)
    records = np.zeros((count, 4, epochs))
    trained = np.zeros(count, np.int64)  # each member's epochs
    failed = np.zeros(count, bool)
    # The watchers' rules, and what the kernel carries from call to call for each member:
    # early stopping's marks (best score, epochs waited, best epoch), best parameters and
    # slots; the plateau watch's state (with its scale: 1 without one), and at the best epoch.
    stopping = early_stopping is not None
    rule = np.array([
        early_stopping.patience, early_stopping.min_delta, sign_of(early_stopping.mode),
        watch.early_row, 0.0,
    ] if stopping else [0.0, 0.0, 1.0, -1.0, 0.0])  # fmt: skip
    marks = np.zeros((count, 3))
    marks[:, 0], marks[:, 2] = np.inf, -1.0
    best_thetas = np.zeros_like(thetas if stopping else thetas[:0])
    best_slots = np.zeros_like(slots if stopping else slots[:, :0])
    plateau_rule = np.array([0.0] * 6 + [1.0, -1.0])
    if reduce_on_plateau is not None:
        config = reduce_on_plateau
        plateau_rule = np.array([
            config.factor, config.patience, config.min_delta, config.min_lr, config.cooldown,
            config.eps, sign_of(config.mode), watch.plateau_row,
        ], np.float64)  # fmt: skip
    plateaus = np.array([_plateau_of(s.plateau, reduce_on_plateau) for s in states], np.float64)
    best_plateaus = plateaus.copy()
    active = np.arange(count)
    done = 0
    while done < epochs and active.size:  # stretches of at most MAX_UPDATES_PER_CALL rates
        per_call = max(1, MAX_UPDATES_PER_CALL // (batches_per_epoch * active.size))
        epochs_now = min(epochs - done, per_call)
        at = first_step + done * batches_per_epoch
        updates = epochs_now * batches_per_epoch
        lrs = np.stack([learning_rates(members.opts[k], at, updates + 1) for k in active])
        rule[4] = done
        groups = _groups(active.size, threads, batch, net.sizes, dtype.itemsize)
        carried = (rule, marks[active], best_thetas[:, active], best_slots[:, :, active],
                   plateau_rule, plateaus[active], best_plateaus[active])  # fmt: skip
        (new_thetas, new_slots, new_records, new_trained, marks[active], best_thetas[:, active],
         best_slots[:, :, active], plateaus[active], best_plateaus[active]) = engine.train_members(
            net, X, Y, thetas[:, active], slots[:, :, active], groups,
            train_rows=members.train_rows[:, active], eval_rows=members.eval_rows[active],
            opt_code=OPTIMIZERS[name].code, hypers=hypers[active], lrs=lrs, l2s=l2s[active],
            seeds=seeds[active], watch=carried, step=at, first_epoch=at // batches_per_epoch,
            epochs=epochs_now, batch=batch, threads=threads, purpose=purpose,
        )  # fmt: skip
        thetas[:, active], slots[:, :, active] = new_thetas, new_slots
        records[active, :, done : done + epochs_now] = new_records
        trained[active] += new_trained
        done += epochs_now
        for i, k in enumerate(active):  # each member's epochs, its last parameters: finite?
            epochs_run = new_records[i, :, : new_trained[i]]
            finite = np.isfinite(epochs_run[0]).all() and np.isfinite(new_thetas[:, i]).all()
            if has_val:
                finite = finite and np.isfinite(epochs_run[2]).all()
            failed[k] = not finite
        active = active[(new_trained == epochs_now) & ~failed[active]]
    results: list[FitResult | None] = []
    for k in range(count):
        if failed[k]:
            results.append(None)
            continue
        theta, member_slots, plateau = thetas[:, k], slots[:, :, k], plateaus[k]
        step = first_step + trained[k] * batches_per_epoch
        params_epoch = trained[k] - 1 if trained[k] else None
        best_epoch = int(marks[k, 2])
        if stopping and early_stopping.restore_best and best_epoch >= 0:
            theta, member_slots, plateau = best_thetas[:, k], best_slots[:, :, k], best_plateaus[k]
            step = first_step + (best_epoch + 1) * batches_per_epoch
            params_epoch = best_epoch
        stopped_epoch = trained[k] - 1 if trained[k] < epochs else None
        kept = states[k].plateau
        if reduce_on_plateau is not None:
            kept = Plateau(float(plateau[0]), float(plateau[1]), int(plateau[2]), int(plateau[3]))
        results.append(FitResult(
            unpack(np.ascontiguousarray(theta), net.sizes),
            OptState(name, int(step), unpack_slots(np.ascontiguousarray(member_slots), net.sizes),
                     kept, states[k].config),
            history_of(net, records[k, :, : trained[k]], has_val, _int(stopped_epoch),
                       _int(params_epoch)),
        ))  # fmt: skip
    return results


def _plateau_of(plateau: Plateau | None, config: ReduceOnPlateau | None) -> list[float]:
    """A member's plateau watch as the kernel holds it: (scale, best, bad epochs, cooldown
    left), as ``fit`` starts it (a new watch when it has a config and the state none)."""
    if plateau is None:
        plateau = Plateau() if config is not None else Plateau(1.0)
    return [plateau.scale, plateau.best, plateau.bad_epochs, plateau.cooldown_left]


def _int(value) -> int | None:
    return None if value is None else int(value)


def _groups(
    count: int, threads: int, batch: int, sizes: tuple[int, ...], itemsize: int
) -> list[np.ndarray]:
    """The members' indices dealt into groups of near-equal size, one call of train_members
    each: each group's batch buffers (every layer's Z, A and error, X and Y, of a batch)
    within GROUP_BYTES, or GROUP_MEMBERS' bounds, and as many groups as a multiple of
    ``threads``, so that the threads share the work evenly (at most one group per member).
    Member k goes to group ``k % groups``: neighbours in a grid (the same learning rate) tend
    to stop early together, and dealt apart they leave every group about as much work."""
    per_member = batch * (sizes[0] + 3 * sum(sizes[1:]) + sizes[-1]) * itemsize
    low, high = GROUP_MEMBERS
    members = min(high, max(low, GROUP_BYTES // max(per_member, 1)))
    calls = -(-count // members)
    calls = min(-(-calls // threads) * threads, count)
    return [np.arange(group, count, calls) for group in range(calls)]


def raise_for(results: list[FitResult | None], fit_member: Callable[[int], object]) -> None:
    """Run ``fit_member(k)`` for the first member that was not finite side by side: its
    ``fit`` raises the error (FloatingPointError) that member would raise alone."""
    for k, result in enumerate(results):
        if result is None:
            fit_member(k)
            raise RuntimeError(f"member {k}: not finite side by side, but finite alone (a bug)")

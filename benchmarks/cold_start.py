"""Cold start: how long a fresh process takes to its first result, fnn against PyTorch and JAX.

Usage (from the repository root, after ``pip install -e ".[bench]"``)::

    python benchmarks/cold_start.py                      # every figure but the wheel's, best of 3
    python benchmarks/cold_start.py --repeat 2 --installed /tmp/wheel-venv/bin/python --json c.json
    python benchmarks/cold_start.py --smoke              # one round, fewer compiles (CI)

Every figure is measured in fresh processes: ``--repeat`` of each (default 3), taken in rounds
(one process of every figure per round, so that a change of load falls on all of them alike),
reported as the best and the median. The clock starts once the interpreter is up and the data
are built ("beyond interpreter + data"): the driver writes every figure's arrays to one file,
each process loads them with NumPy (the only library imported before the clock), then starts.

Figures (``--worker`` names):

* ``fit``: ``import fnn``, the two-moons 2-25-50-50-25-1 relu/sigmoid network of ``run.py``'s
  moons-gd (``from_architecture``, ``init(key=2, scheme="scaled")``), one full-batch
  ``fit`` epoch of ``sgd(0.01)`` on its 900 training points, float64; the part spent in
  ``import fnn`` is kept too.
* ``grad``: ``import fnn``, the README quickstart's ``mlp([2, 16, 16, 1])`` (relu, sigmoid),
  ``init(key=0)``, one ``fnn.grad`` on its 200 rows.
* ``import``: ``import fnn`` alone, in a process that has imported numpy and numba.
* ``warm``: ``fnn.warm`` run as ``python -m fnn.warm`` does, with an empty cache: the
  process's wall time (interpreter included) and the size of the cache it wrote.
* ``numba-cached`` and ``numba-compile``: Numba alone, the floors under fnn's figures (see
  :data:`NUMBA_FLOOR_SOURCE`): ``import numba`` and the first call of a tiny kernel that Numba's
  disk cache holds; ``import numba`` and compiling a minimal two-layer gradient-descent loop.
* ``torch``: ``import torch``, the moons network in float64, one ``SGD`` step (``zero_grad``,
  ``BCEWithLogitsLoss`` backward, ``step``).
* ``jax``: ``import jax`` and ``optax``, the moons network (N(0, 0.1²) weights), the first call
  of a jitted gradient-descent step, its compilation included.

fnn starts three ways. *Checkout*: this repository's ``fnn`` (its root first on ``PYTHONPATH``),
with an *empty cache* (``NUMBA_CACHE_DIR`` a new empty folder: everything compiles) or a *warm*
one (whatever cache Numba finds, after one untimed process of each figure). *Shipped kernels*:
``--installed PYTHON``, the interpreter of a venv where fnn is installed from a wheel, run
from a temporary folder without ``PYTHONPATH`` (so that fnn comes from its site-packages; the
``fnn.__file__`` used is printed) and with an empty ``NUMBA_CACHE_DIR`` as well. PyTorch and
JAX run with ``--peer-python`` (default: this interpreter) after one untimed process each.
Every process runs with Python's bytecode cache on (``PYTHONDONTWRITEBYTECODE`` removed from
its environment), so that the untimed processes leave the ``.pyc`` files an installed package
has. Without them (a venv installed with ``pip --no-compile``, that variable set) every process
compiles numba's, torch's and jax's sources to bytecode again: here ``import torch`` then took
3.3 s instead of 1.2 s, ``import jax, optax`` 2.8 s instead of 1.1 s, ``import numba`` 0.7 s
instead of 0.2 s.

Each fnn figure is divided by the faster of PyTorch's and JAX's best (the ratio column); the
targets are the project's first-run goals. A Markdown table goes to stdout, progress to
stderr, every run's record to ``--json PATH``. The exit status is 1 when a measurement failed.
``run.py``'s cold-start workload is the ``fit`` figure with a warm and an empty cache and the
peers', measured by :func:`measure` below.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from run import architecture, best, load_workloads, machine, run_json, versions

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: The README quickstart's network and rows.
QUICKSTART_SIZES = [2, 16, 16, 1]
QUICKSTART_ROWS = 200
#: How a figure's process starts: the checkout with an empty or a warm Numba cache, the wheel's
#: install (``--installed``), or a peer.
MODES = {
    "empty": "checkout, empty cache",
    "warm": "checkout, warm cache",
    "installed": "shipped kernels",
    "peer": "peer",
}
#: The figures, in the table's order: key, label, worker, mode, target in seconds (None: no
#: target), whether the target also asks for no more than JAX's first step.
FIGURES = (
    ("shipped-fit", "shipped kernels, empty cache: first `fit` epoch", "fit", "installed", 1.0, 1),
    ("shipped-grad", "shipped kernels, empty cache: first `grad`", "grad", "installed", 1.0, 0),
    ("empty-fit", "checkout, empty cache: first `fit` epoch", "fit", "empty", None, 1),
    ("empty-grad", "checkout, empty cache: first `grad`", "grad", "empty", None, 0),
    ("warm-fit", "checkout, warm cache: first `fit` epoch", "fit", "warm", 0.3, 0),
    ("warm-grad", "checkout, warm cache: first `grad`", "grad", "warm", None, 0),
    ("import", "`import fnn` beyond `import numpy, numba`", "import", "warm", 0.1, 0),
    ("fnn.warm", "`python -m fnn.warm`, empty cache", "warm", "empty", 30.0, 0),
    (
        "numba-cached",
        "Numba alone, warm cache: first call of a tiny kernel",
        "numba-cached",
        "warm",
        None,
        0,
    ),
    (
        "numba-compile",
        "Numba alone: compile of a minimal two-layer training loop",
        "numba-compile",
        "empty",
        None,
        0,
    ),
    ("torch", "PyTorch: first optimisation step", "torch", "peer", None, 0),
    ("jax", "JAX + optax: first jitted step", "jax", "peer", None, 0),
)
PEERS = ("torch", "jax")
#: The figures --smoke leaves out: the two longest compiles into an empty cache (every kernel;
#: a first fit, 47 s in a local CI run on 2 cores). A checkout's first fit still compiles in CI:
#: the README's example is one.
SMOKE_SKIPS = ("fnn.warm", "empty-fit")


# -- the measurements (each runs inside a fresh worker process) ----------------------------------


def fnn_first_epoch(w, data):
    """Seconds to the end of the first ``fit`` epoch of the moons network, ``import fnn``'s
    part of them, and the fnn imported."""
    ready = time.perf_counter()
    import fnn

    imported = time.perf_counter()
    net = fnn.from_architecture(architecture(w.MOONS_GD_SIZES))
    params = fnn.init(net, key=2, scheme="scaled")
    opt = fnn.sgd(w.MOONS_GD_LEARNING_RATE)
    fnn.fit(net, params, opt, data["X_moons"], data["y_moons"], epochs=1)
    done = time.perf_counter()
    return {"seconds": done - ready, "import_seconds": imported - ready, "fnn": fnn.__file__}


def fnn_first_grad(w, data):
    """Seconds to the first ``fnn.grad`` of the quickstart network, as :func:`fnn_first_epoch`."""
    ready = time.perf_counter()
    import fnn

    imported = time.perf_counter()
    net = fnn.mlp(QUICKSTART_SIZES, hidden="relu", output="sigmoid")
    params = fnn.init(net, key=0)
    fnn.grad(net, params, data["X_quick"], data["y_quick"])
    done = time.perf_counter()
    return {"seconds": done - ready, "import_seconds": imported - ready, "fnn": fnn.__file__}


def fnn_import(w, data):
    """Seconds of ``import fnn`` once numpy and numba are imported."""
    import numba  # noqa: F401

    ready = time.perf_counter()
    import fnn

    return {"seconds": time.perf_counter() - ready, "fnn": fnn.__file__}


def fnn_warm(w, data):
    """``python -m fnn.warm`` in this process; the driver times the whole process."""
    import runpy

    ready = time.perf_counter()
    runpy.run_module("fnn.warm", run_name="__main__", alter_sys=True)
    import fnn

    return {"in_process_seconds": time.perf_counter() - ready, "fnn": fnn.__file__}


#: Numba's own floors, without fnn: the module the two ``numba-*`` figures import (written
#: beside the data, so that Numba can cache the tiny kernel there).
NUMBA_FLOOR_SOURCE = """
import numpy as np
from numba import njit


@njit(cache=True)
def tiny(a):
    return (a * a).sum()


@njit(error_model="numpy")
def two_layer_loop(X, y, W1, b1, W2, b2, lr, epochs):
    for _ in range(epochs):
        Z1 = np.dot(X, W1) + b1
        A1 = np.maximum(Z1, 0.0)
        A2 = 1.0 / (1.0 + np.exp(-(np.dot(A1, W2) + b2)))
        D2 = (A2 - y) / X.shape[0]
        D1 = np.dot(D2, W2.T) * (Z1 > 0)
        W2 -= lr * np.dot(A1.T, D2)
        b2 -= lr * D2.sum(axis=0)
        W1 -= lr * np.dot(X.T, D1)
        b1 -= lr * D1.sum(axis=0)
"""


def numba_floor_module(data):
    """The module of :data:`NUMBA_FLOOR_SOURCE`, imported from the data's folder."""
    import importlib

    sys.path.insert(0, str(data["folder"]))
    return importlib.import_module("numba_floor")


def numba_first_cached_call(w, data):
    """Seconds of ``import numba`` and the first call of a tiny kernel in Numba's disk cache:
    what any cached Numba function costs a fresh process (Numba's registries and its BLAS
    check, which imports SciPy's linalg), the floor under the warm-cache figures."""
    ready = time.perf_counter()
    numba_floor_module(data).tiny(data["X_quick"])
    return {"seconds": time.perf_counter() - ready}


def numba_minimal_compile(w, data):
    """Seconds of ``import numba`` and compiling (then running one epoch of) a two-layer relu
    and sigmoid network's gradient-descent loop written with NumPy arrays: the least a
    training loop compiled by Numba costs, the floor under the empty-cache figures."""
    import numpy as np

    ready = time.perf_counter()
    rng = np.random.default_rng(0)
    X, y = data["X_moons"], data["y_moons"].reshape(-1, 1).astype(np.float64)
    W1, W2 = rng.normal(size=(X.shape[1], 25)), rng.normal(size=(25, 1))
    module = numba_floor_module(data)
    module.two_layer_loop(X, y, W1, np.zeros(25), W2, np.zeros(1), 0.01, 1)
    return {"seconds": time.perf_counter() - ready}


def torch_first_step(w, data):
    """Seconds to the end of PyTorch's first SGD step of the moons network (import included)."""
    ready = time.perf_counter()
    import torch

    X = torch.tensor(data["X_moons"], dtype=torch.float64)
    Y = torch.tensor(data["y_moons"], dtype=torch.float64).reshape(-1, 1)
    layers = []
    for n_in, n_out in zip(w.MOONS_GD_SIZES[:-1], w.MOONS_GD_SIZES[1:]):
        layers += [torch.nn.Linear(n_in, n_out, dtype=torch.float64), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(net.parameters(), lr=w.MOONS_GD_LEARNING_RATE)
    opt.zero_grad()
    torch.nn.BCEWithLogitsLoss()(net(X), Y).backward()
    opt.step()
    return {"seconds": time.perf_counter() - ready}


def jax_first_step(w, data):
    """Seconds to the end of JAX's first jitted gradient step (import and compilation included)."""
    ready = time.perf_counter()
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    X, Y = jnp.asarray(data["X_moons"]), jnp.asarray(data["y_moons"], jnp.float64)
    key = jax.random.key(2)
    params = []
    for n_in, n_out in zip(w.MOONS_GD_SIZES[:-1], w.MOONS_GD_SIZES[1:]):
        key, key_W, key_b = jax.random.split(key, 3)
        scale = w.MOONS_GD_INIT_SCALE
        params.append(
            (
                scale * jax.random.normal(key_W, (n_in, n_out), jnp.float64),
                scale * jax.random.normal(key_b, (n_out,), jnp.float64),
            )
        )

    def loss(params, X, Y):
        for W, b in params[:-1]:
            X = jax.nn.relu(X @ W + b)
        W, b = params[-1]
        return jnp.mean(optax.sigmoid_binary_cross_entropy((X @ W + b)[:, 0], Y))

    @jax.jit
    def step(params):
        grads = jax.grad(loss)(params, X, Y)
        return jax.tree_util.tree_map(lambda p, g: p - w.MOONS_GD_LEARNING_RATE * g, params, grads)

    jax.block_until_ready(step(params))
    return {"seconds": time.perf_counter() - ready}


WORKERS = {
    "fit": fnn_first_epoch,
    "grad": fnn_first_grad,
    "import": fnn_import,
    "warm": fnn_warm,
    "numba-cached": numba_first_cached_call,
    "numba-compile": numba_minimal_compile,
    "torch": torch_first_step,
    "jax": jax_first_step,
}


def worker(name, data_path):
    """Load the data (NumPy only), run one measurement, print one JSON line."""
    import numpy as np

    w = load_workloads(HERE / "peers")
    with np.load(data_path) as archive:
        data = {key: archive[key] for key in archive.files}  # read now, not behind the clock
    data["folder"] = Path(data_path).parent
    print(json.dumps({"worker": name, "python": sys.executable, **WORKERS[name](w, data)}))


# -- the driver ----------------------------------------------------------------------------------


def write_data(folder):
    """Every figure's arrays in one ``.npz`` file of ``folder``; its path.

    Built once here rather than in each process: the moons come from scikit-learn, which the
    venv of an installed wheel need not have.
    """
    import numpy as np

    X_moons, _, y_moons, _ = load_workloads(HERE / "peers").moons_gd_data()
    rng = np.random.default_rng(0)  # the quickstart's data, as the README builds it
    X_quick = rng.normal(size=(QUICKSTART_ROWS, 2))
    y_quick = (X_quick[:, 0] * X_quick[:, 1] > 0).astype(int)
    path = Path(folder) / "data.npz"
    np.savez(path, X_moons=X_moons, y_moons=y_moons, X_quick=X_quick, y_quick=y_quick)
    (Path(folder) / "numba_floor.py").write_text(NUMBA_FLOOR_SOURCE)
    return path


def folder_bytes(folder):
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())


def measure(name, mode, python, data, env, timeout):
    """One fresh process of worker ``name`` started the ``mode`` way (one of MODES).

    Returns its record: ``seconds`` (for ``warm``, the process's wall time, and ``cache_mb``,
    what it wrote into the empty cache), ``process_seconds``, the 1-minute ``load`` at its start,
    or ``error``, also when fnn came from elsewhere than the mode's fnn.
    """
    # Bytecode caching on, as by default: a process that must compile every module's source
    # (numba's, torch's, jax's: up to seconds) measures the venv, not the library.
    env = {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    if mode == "installed":
        env.pop("PYTHONPATH", None)
    elif mode != "peer":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="fnn-cold-start-") as scratch:
        cache = Path(scratch) / "numba-cache"
        if mode in ("empty", "installed"):
            cache.mkdir()
            env["NUMBA_CACHE_DIR"] = str(cache)
        command = [python, str(Path(__file__).resolve()), "--worker", name, str(data)]
        load = os.getloadavg()[0]
        record, wall = run_json(command, scratch, env, timeout)
        record.update(load=round(load, 2), process_seconds=wall)
        if name == "warm" and "error" not in record:
            record.update(seconds=wall, cache_mb=folder_bytes(cache) / 1e6)
    # The checkout's package is REPO/fnn; a venv may live inside REPO (CI's .ci-bare does).
    from_checkout = Path(record.get("fnn", REPO / "fnn")).resolve().is_relative_to(REPO / "fnn")
    if mode == "installed" and from_checkout:
        record["error"] = f"fnn came from the checkout ({record['fnn']}), not the install"
    elif mode in ("empty", "warm") and not from_checkout:
        record["error"] = f"fnn came from {record['fnn']}, not the checkout {REPO}"
    return record


def measure_all(args, figures, data):
    """Every figure's runs, in rounds, after an untimed process of each warm one."""
    env = dict(os.environ)
    python = {"installed": args.installed, "peer": args.peer_python}
    warm_up = {(name, mode) for _, _, name, mode, *_ in figures if mode in ("warm", "peer")}
    for name, mode in sorted(warm_up - {("import", "warm")}):
        print(f"untimed first run: {name} ({mode})", file=sys.stderr, flush=True)
        measure(name, mode, python.get(mode, sys.executable), data, env, args.timeout)
    runs = {key: [] for key, *_ in figures}
    for round_ in range(args.repeat):
        for key, _, name, mode, *_ in figures:
            record = measure(name, mode, python.get(mode, sys.executable), data, env, args.timeout)
            runs[key].append(record)
            shown = record.get("error") or f"{record['seconds']:.3f} s"
            note = f", cache {record['cache_mb']:.1f} MB" if "cache_mb" in record else ""
            where = f"round {round_ + 1}/{args.repeat}  {key:13}"
            print(f"{where} {shown}{note}  (load {record['load']})", file=sys.stderr, flush=True)
    return {key: best(records) for key, records in runs.items()}  # with the median


def rate(results):
    """Add each fnn figure's ratio to the faster peer and whether it meets its target."""
    peers = {key: results[key]["seconds"] for key in PEERS if "seconds" in results.get(key, {})}
    fastest = min(peers, key=peers.get) if peers else None
    for key, _, _, _, target, below_jax in FIGURES:
        record = results.get(key)
        if key in PEERS or record is None or "seconds" not in record:
            continue
        if fastest is not None:
            record["ratio"] = record["seconds"] / peers[fastest]
            record["fastest_peer"] = fastest
        if target is not None or below_jax:
            met = target is None or record["seconds"] <= target
            if below_jax:
                met = met and "jax" in peers and record["seconds"] <= peers["jax"]
            record["met"] = met
    return fastest


def target_text(target, below_jax):
    parts = ([f"≤ {target} s"] if target is not None else []) + (["≤ JAX"] if below_jax else [])
    return ", ".join(parts) or "—"


def table(results):
    """The Markdown table, one row per figure."""
    lines = [
        "| figure | best (s) | median (s) | best / faster peer | target | note |",
        "|---|---|---|---|---|---|",
    ]
    for key, label, _, _, target, below_jax in FIGURES:
        record = results.get(key)
        aim = target_text(target, below_jax) if key not in PEERS else "—"
        if record is None:
            why = "pass --installed" if key.startswith("shipped") else "--smoke"
            lines.append(f"| {label} | not measured ({why}) | | | {aim} | |")
            continue
        if "error" in record:
            lines.append(f"| {label} | error | | | {aim} | {record['error']} |")
            continue
        ratio = f"{record['ratio']:.2f}" if "ratio" in record else "—"
        if "met" in record:
            aim += " ✓" if record["met"] else " ✗"
        note = []
        if "import_seconds" in record:
            note.append(f"`import fnn` {record['import_seconds']:.2f} s")
        if "cache_mb" in record:
            note.append(f"cache {record['cache_mb']:.1f} MB")
        cells = [label, f"{record['seconds']:.2f}", f"{record['median']:.2f}", ratio, aim]
        lines.append("| " + " | ".join(cells + ["; ".join(note)]) + " |")
    return lines


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per figure")
    parser.add_argument(
        "--installed",
        metavar="PYTHON",
        help="the python of a venv where fnn is installed from a wheel: the shipped-kernel rows",
    )
    parser.add_argument("--peer-python", default=os.environ.get("FNN_PEER_PYTHON", sys.executable))
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every record here")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one round, without fnn.warm and the checkout's first fit: does it all run?",
    )
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--worker", nargs=2, metavar=("NAME", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeat = 1
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return
    figures = [
        figure
        for figure in FIGURES
        if (args.installed or figure[3] != "installed")
        and not (args.smoke and figure[0] in SMOKE_SKIPS)
    ]
    load_before = [round(load, 2) for load in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="fnn-cold-start-data-") as folder:
        results = measure_all(args, figures, write_data(folder))
    fastest = rate(results)
    load_after = [round(load, 2) for load in os.getloadavg()]
    info = machine()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    command = " ".join(["python", "benchmarks/cold_start.py"] + (argv or sys.argv[1:]))
    imported = {mode: set() for mode in MODES}
    for key, _, _, mode, *_ in figures:
        imported[mode].add(results[key].get("fnn"))
    print(f"{date}  {info.get('cpu')}  {info['cores']} cores  `{command}`")
    print(f"best and median of {args.repeat} fresh process(es) per figure")
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_after}")
    for mode, paths in imported.items():
        for path in sorted(filter(None, paths)):
            print(f"fnn imported ({MODES[mode]}): {path}")
    print(f"ratios: fnn's best / the best of the faster peer ({fastest or 'none measured'})")
    print()
    print("\n".join(table(results)))
    if args.json is not None:
        record = {
            "date": date,
            "command": command,
            "machine": info,
            "versions": versions(args),
            "repeat": args.repeat,
            "load_average": {"before": load_before, "after": load_after},
            "installed": args.installed,
            "fastest_peer": fastest,
            "figures": {key: {"label": label, **results[key]} for key, label, *_ in figures},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        print(f"\nwritten to {args.json}")
    failed = [f"{key}: {record['error']}" for key, record in results.items() if "error" in record]
    if failed:
        print("\nfailed:\n  " + "\n  ".join(failed), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()

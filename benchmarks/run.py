"""Benchmark fnn against its peers on every workload, side by side in one run.

Usage (from the repository root, after ``pip install -e ".[bench]"``)::

    python benchmarks/run.py                       # every workload, every system, one run each
    python benchmarks/run.py --repeat 2 --native-blas --threads 1 --markdown  # benchmarks/README.md
    python benchmarks/run.py --quick --repeat 3    # fewer epochs for moons-*, small-tanh; medians
    python benchmarks/run.py --smoke               # every system, a few epochs, 6 workloads (CI)
    python benchmarks/run.py --workloads moons-adam,cold-start --systems fnn,jax
    python benchmarks/run.py --epochs moons-gd=500
    python benchmarks/run.py --workloads ensemble-64 --threads 1   # the ensemble rows alone
    python benchmarks/run.py --workloads wide-f32,mnist-shaped --systems fnn,fnn-1,torch
    python benchmarks/run.py --workloads wide-first,wide-middle,wide-batch512,small-tanh --repeat 3

The workloads (data, network, optimizer, epochs) are defined once, in
``benchmarks/peers/workloads.py``; the peers are the scripts next to it: plain textbook NumPy
code, scikit-learn's ``MLPClassifier``, PyTorch on the CPU and JAX + optax (``jit``, training
fused with ``lax.scan``). Every measurement runs in a fresh subprocess, ``--repeat`` times;
every figure of the table is the best and the median of those runs (``best / median``): times,
ratios (fnn's best over the fastest peer's best, fnn's median over the fastest peer's median,
where the fastest peer may differ), shares of the peak and speed-ups. fnn runs with this
interpreter; the peers (``peer_*.py`` in ``--peers``, default ``benchmarks/peers``) run with
``--peer-python`` (default: ``$FNN_PEER_PYTHON`` or this interpreter), which needs the
``[bench]`` extra (torch pinned to 2.13.0, a CPU build).

Times exclude data generation and one-time compilation (fnn loads or compiles its kernels
with a one-epoch warm-up fit; JAX compiles its training function ahead of time for the same
arrays). ``cold-start`` times a fresh process from just after the data is built to the end of
the first epoch of moons-gd: ``import fnn``, build, init, one ``fit`` epoch; once with a warm
Numba cache and once with an empty one (``NUMBA_CACHE_DIR`` set to a new temporary
directory). PyTorch and JAX get the same measurement (import, build, first epoch,
compilation included) for comparison. These are the ``fit`` figures of ``cold_start.py``,
measured by its code (fnn from this checkout); it has the other first-run figures too.

fnn runs twice on every training workload: ``fnn`` with ``fit``'s default ``threads=None``
(a batch large enough is cut into shards computed on Numba's threads) and ``fnn-1`` with
``threads=1`` (serial). The table's ``fnn-1 / fnn`` column is fnn's thread speed-up
(2 at best on 2 cores; in brackets the threads ``threads=None`` chose) and ``fnn / fastest
peer`` compares ``fnn`` with the peers. Both fnn runs must end with the same parameters, bit
for bit (compared by a digest; a difference fails the run). ``--threads N`` caps fnn's
``threads=None`` too (through ``OMP_NUM_THREADS``), so with ``--threads 1`` the two coincide.

``ensemble-64`` trains 64 members of moons-adam's network (init and shuffle keys 0..63) five
ways: ``fnn.fit_many`` on 1 and on 2 threads, 64 sequential ``fnn.fit`` calls, JAX's training
loop under ``jit(vmap(...))`` and a PyTorch ``bmm`` ensemble (all members' weights stacked in
one tensor, one Adam); its ratios compare fnn with itself and with JAX.

The same run measures the machine's large-matrix GEMM peak first (``floor.py``, in a fresh
process with the runs' OpenBLAS environment: NumPy ``n × n`` products, float32 and float64, on
1 thread and on all cores, the best of 1 s of products each; ``n`` is 2048, 256 for
``--smoke``) and prints it at the top. Each training workload's floor is its multiply-adds
(forward, weight gradients, back-propagated errors; rows × epochs as run) at the all-cores
peak of its dtype; a system's share of the peak is floor / its time, best and median
(``shares`` in the JSON, fnn's and the fastest peer's in the table).

Before and after every measured run, ``core_to_core.py`` takes one sample of the time a cache
line takes between the first two CPUs (``core_to_core_ns`` of each record, ``cores_apart`` of
the run, and a line above the table): on a virtual machine whose host moves its CPUs, a
two-thread time is the code's only when the cores were near (benchmarks/README.md, "Two
threads on cores that move").

Results are printed as a table and written as JSON (``--json``; default
``benchmarks/results.json``, not written by ``--smoke`` unless asked); ``--markdown`` prints
the table as Markdown. The exit status is 1 when any measurement failed.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import hashlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import core_to_core
from floor import describe, floor_seconds, multiply_adds

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: Workload names, in the order of the table (data, network and default epochs: workloads.py;
#: every one but moons-gd is a row of its table ``MINI_BATCH``).
WORKLOADS = (
    "moons-gd",
    "moons-adam",
    "small-tanh",
    "mnist-shaped",
    "wide-f32",
    "wide-first",
    "wide-middle",
    "wide-batch512",
)
#: The wide float32 workloads (PyTorch and JAX are their only peers).
WIDE = ("wide-f32", "wide-first", "wide-middle", "wide-batch512")
COLD_START = "cold-start"
ENSEMBLE = "ensemble-64"
#: The ensemble's systems: fnn's three ways (``fnn-many-N``: fit_many on N threads; ``fnn-fits``:
#: one fit per member in a loop) and the peers that train all members at once.
ENSEMBLE_SYSTEMS = ("fnn-many-1", "fnn-many-2", "fnn-fits", "jax", "torch")
#: The ensemble's ratios: (name, numerator, denominator, target, whether the ratio must be >=);
#: fit_many / JAX's vmap at most 0.05 (issues 24 and 26).
ENSEMBLE_RATIOS = (
    ("fnn fit_many (2 threads) / jax vmap", "fnn-many-2", "jax", 0.05, False),
    ("fnn fit_many (2 threads) / 64 fnn.fit", "fnn-many-2", "fnn-fits", 0.3, False),
    ("fit_many speed-up, 2 threads vs 1", "fnn-many-1", "fnn-many-2", 1.8, True),
)
PEERS = ("numpy-seed", "sklearn", "torch", "jax")
#: fnn's systems: the ``threads`` each passes to ``fit`` (None: fit decides).
FNN_THREADS = {"fnn": None, "fnn-1": 1}
SYSTEMS = tuple(FNN_THREADS) + PEERS
#: Peers without a script for a workload.
MISSING = {("numpy-seed", "mnist-shaped")} | {
    (peer, name) for peer in ("numpy-seed", "sklearn") for name in WIDE
}
#: Cold-start peers (the others have no compilation or import cost worth comparing).
COLD_PEERS = ("torch", "jax")
#: Targets: fnn time / fastest peer time; cold start in seconds.
TARGETS = {
    "moons-gd": 0.5,
    "moons-adam": 0.2,
    "mnist-shaped": 0.8,
    "wide-f32": 0.8,
    "wide-first": 0.8,
    "wide-middle": 0.8,
    "wide-batch512": 0.8,
    "small-tanh": 0.2,
    "cold-start warm": 1.0,
    "cold-start empty": 4.0,
}
#: Targets for fnn's share of the machine's GEMM peak on all threads (floor / fnn's time).
SHARE_TARGETS = {"moons-gd": 0.5} | {name: 0.7 for name in ("mnist-shaped", *WIDE)}
#: Epochs of --quick and --smoke (workloads not named keep their defaults).
QUICK_EPOCHS = {"moons-gd": 2000, "moons-adam": 2000, "small-tanh": 80}
SMOKE_EPOCHS = {"moons-gd": 20, "moons-adam": 5, "small-tanh": 2, "mnist-shaped": 1, ENSEMBLE: 5}
SMOKE_EPOCHS |= dict.fromkeys(WIDE, 1)
SMOKE_ROWS = 512
#: --smoke's workloads: one of each kind each script runs (full batch, tiny mini-batches, softmax
#: with scikit-learn, wide float32, the ensemble, the cold start). small-tanh and the other wide
#: shapes run the same code on other sizes; each took 20-25 s of CI's smoke run, mostly
#: starting the peers' processes.
SMOKE_WORKLOADS = ("moons-gd", "moons-adam", "mnist-shaped", "wide-f32", ENSEMBLE, COLD_START)
#: The GEMM peak's matrix size and seconds per dtype and thread count (floor.py): large enough
#: for the peak, small for --smoke.
PEAK = {"n": 2048, "seconds": 1.0}
SMOKE_PEAK = {"n": 256, "seconds": 0.2}
#: Environment variables that --threads sets (OpenMP: PyTorch and the cap of fnn's threads=None;
#: OpenBLAS: NumPy and scikit-learn).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: The statistics of a measurement's --repeat runs, and the key of each in its record (best's).
STATISTICS = {"best": "seconds", "median": "median"}


def architecture(sizes):
    """The list of layer dicts ``fnn.from_architecture`` reads: relu hidden, sigmoid output."""
    return [
        {"input_dim": n_in, "output_dim": n_out, "activation": "relu"}
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1])
    ] + [{"input_dim": sizes[-2], "output_dim": sizes[-1], "activation": "sigmoid"}]


# -- the fnn side (runs inside a worker process) ---------------------------------------------


def fit_threads(threads):
    """``fit``'s keywords for ``threads``: none for None, the default, so that ``ab.py`` can run
    the runners on an fnn from before ``fit`` had threads."""
    return {} if threads is None else {"threads": threads}


def threads_used(net, batch, threads):
    """The threads ``fit(..., threads=threads)`` gives the shards of a batch of ``batch`` rows
    (1 for an fnn from before ``fit`` had threads)."""
    try:
        from fnn.engine import batch_threads
    except ImportError:
        return 1
    return batch_threads(net, batch, threads)


#: The clock of fnn's timed runs: wall seconds, or with ``--worker ... --cpu-time`` the
#: process's CPU seconds (every thread's), which other processes' load disturbs less (ab.py).
CLOCK = time.perf_counter


def fnn_moons_gd(w, epochs, rows, threads):
    """(seconds, test accuracy, trained params, threads used); the runners below alike."""
    import fnn

    X_train, X_test, y_train, y_test = w.moons_gd_data(rows)
    net = fnn.from_architecture(architecture(w.MOONS_GD_SIZES))
    params = fnn.init(net, key=2, scheme="scaled")
    opt = fnn.sgd(w.MOONS_GD_LEARNING_RATE)
    fit = functools.partial(fnn.fit, net, params, opt, X_train, y_train, **fit_threads(threads))
    fit(epochs=1)  # load or compile the kernels (and start the threads)
    started = CLOCK()
    result = fit(epochs=epochs)
    seconds = CLOCK() - started
    accuracy = fnn.accuracy(net, result.params, X_test, y_test)
    return seconds, accuracy, result.params, threads_used(net, len(X_train), threads)


def fnn_mini_batch(w, epochs, rows, threads, name):
    """A workload of ``w.MINI_BATCH``: Adam on shuffled mini-batches, training accuracy."""
    import numpy as np

    import fnn

    spec = w.MINI_BATCH[name]
    X, y = spec.data(rows)
    net = fnn.mlp(list(spec.sizes), hidden=spec.hidden, output=spec.output)
    params = fnn.init(net, key=spec.init_key, scheme=spec.scheme, dtype=np.dtype(spec.dtype))
    opt = fnn.adam(spec.learning_rate)
    batch = spec.batch
    fit = functools.partial(fnn.fit, net, params, opt, batch_size=batch, **fit_threads(threads))
    fit(X[: 2 * batch], y[: 2 * batch], epochs=1)  # load or compile the kernels (and threads)
    started = CLOCK()
    result = fit(X, y, epochs=epochs, key=spec.shuffle_key)
    seconds = CLOCK() - started
    assert result.params.layers[0].W.dtype == spec.dtype
    accuracy = fnn.accuracy(net, result.params, X, y)
    return seconds, accuracy, result.params, threads_used(net, batch, threads)


def fnn_ensemble(w, epochs, rows, way):
    """64 members of moons-adam: ``way`` is ``fits`` (a loop of fit) or ``many-N`` (N threads)."""
    import fnn

    X, y = w.moons_adam_data(rows)
    net = fnn.mlp(list(w.MOONS_ADAM_SIZES), hidden="relu", output="sigmoid")
    keys = range(w.ENSEMBLE_MEMBERS)
    starts = [fnn.init(net, key=k, scheme="he") for k in keys]
    opt = fnn.adam(w.MOONS_ADAM_LEARNING_RATE)
    batch = w.MOONS_ADAM_BATCH
    threads = None if way == "fits" else int(way.removeprefix("many-"))

    def train(epochs):
        if way == "fits":
            return [
                fnn.fit(net, starts[k], opt, X, y, epochs=epochs, batch_size=batch, key=k)
                for k in keys
            ]
        return fnn.fit_many(
            net, starts, opt, X, y, epochs=epochs, batch_size=batch, keys=keys, threads=threads
        )

    train(1)  # load or compile the kernels (fit_many's side-by-side one too)
    started = CLOCK()
    results = train(epochs)
    seconds = CLOCK() - started
    return seconds, sum(fnn.accuracy(net, r.params, X, y) for r in results) / len(results)


def digest(params):
    """A short hash of every parameter's bytes: equal digests, bit-identical parameters."""
    sha = hashlib.sha1()
    for layer in params.layers:
        sha.update(layer.W.tobytes())
        sha.update(layer.b.tobytes())
    return sha.hexdigest()[:16]


def blas_cores():
    """Core names of the OpenBLAS libraries loaded in this process (Linux), e.g. Haswell."""
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1]}
    except OSError:
        return {}
    cores = {}
    for path in sorted(paths):
        library = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_corename", "openblas_get_corename"):
            if hasattr(library, name):
                function = getattr(library, name)
                function.restype = ctypes.c_char_p
                cores[Path(path).name] = function().decode()
                break
    return cores


def load_workloads(peers):
    """The ``workloads`` module of the peer directory (data, hyperparameters, default epochs)."""
    sys.path.insert(0, str(peers))
    import workloads

    return workloads


def worker(system, workload, epochs, args):
    """Run one measurement in this process and print one JSON line."""
    w = load_workloads(args.peers)

    record = {"system": system, "workload": workload}
    if workload == ENSEMBLE:
        seconds, accuracy = fnn_ensemble(w, epochs, args.rows, system.removeprefix("fnn-"))
        record.update(seconds=seconds, accuracy=float(accuracy))
    else:
        runner = (
            fnn_moons_gd
            if workload == "moons-gd"
            else functools.partial(fnn_mini_batch, name=workload)
        )
        seconds, accuracy, params, threads = runner(w, epochs, args.rows, FNN_THREADS[system])
        record.update(seconds=seconds, accuracy=float(accuracy), threads=threads)
        record.update(params_digest=digest(params), blas=blas_cores())
    print(json.dumps(record))


# -- the driver ---------------------------------------------------------------------------------


def run_json(command, cwd, env, timeout):
    """Run a command that prints one JSON line last; return (record or None, wall seconds)."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}, time.perf_counter() - started
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit {done.returncode}"}, wall
    return json.loads(lines[-1]), wall


def measure(system, workload, epochs, args, env):
    """One fresh-process measurement: ``{"seconds", "accuracy"}`` or ``{"error"}``."""
    if system.startswith("fnn"):
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", system, workload]
        command += [str(epochs), "--peers", str(args.peers)]
        python = sys.executable
    else:
        script = args.peers / f"peer_{system.replace('-', '_')}.py"
        command = [args.peer_python, script.name, workload, str(epochs)]
        python = args.peer_python
    if args.rows is not None:
        command += ["--rows", str(args.rows)]
    before = core_to_core.sample_here()
    record, _ = run_json(command, args.peers, env, args.timeout)
    record["python"] = python
    record["core_to_core_ns"] = [before, core_to_core.sample_here()]
    return record


def best(records):
    """The fastest good record, with every good run's ``seconds`` (``runs``) and their
    ``median``; the last record (an error) when none is good."""
    good = [record for record in records if "error" not in record]
    if not good:
        return records[-1]
    chosen = dict(min(good, key=lambda record: record["seconds"]))
    chosen["median"] = statistics.median(record["seconds"] for record in good)
    chosen["runs"] = [round(record["seconds"], 4) for record in good]
    chosen["runs_core_to_core_ns"] = [record.get("core_to_core_ns") for record in good]
    return chosen


def cores_apart(results):
    """The core-to-core samples taken before and after every measured run (core_to_core.py):
    ``{"samples", "far", "near_median_ns", "far_median_ns"}``; a two-thread time is the code's
    only when its run's cores were near."""
    records = [r for w in results["workloads"].values() for r in w["systems"].values()]
    records += list(results.get("ensemble", {}).get("systems", {}).values())
    samples = [
        ns
        for record in records
        for run_samples in record.get("runs_core_to_core_ns", [])
        for ns in run_samples or ()
        if ns is not None and ns == ns  # NaN: the other thread never answered
    ]
    far = [ns for ns in samples if ns >= core_to_core.FAR_NS]
    near = [ns for ns in samples if ns < core_to_core.FAR_NS]
    summary = {"samples": len(samples), "far": len(far)}
    for name, group in (("near_median_ns", near), ("far_median_ns", far)):
        if group:
            summary[name] = round(statistics.median(group), 1)
    return summary


def seconds_of(record):
    """``{"best": seconds, "median": seconds}`` of a record of ``best``."""
    return {statistic: record[key] for statistic, key in STATISTICS.items()}


def quotient(top, bottom):
    """``{"best": top's best / bottom's best, "median": top's median / bottom's median}`` of two
    records of ``best``."""
    return {statistic: top[key] / bottom[key] for statistic, key in STATISTICS.items()}


def machine():
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
    }
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
            flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
        info["cpu"] = names[0] if names else platform.processor()
        info["avx512"] = "avx512f" in flags
    except OSError:
        info["cpu"] = platform.processor()
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(meminfo.readline().split()[1])
        info["memory_gib"] = round(kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def versions(args):
    """Package versions of both interpreters."""
    ours = (
        "import numpy, numba, scipy; print(numpy.__version__, numba.__version__, scipy.__version__)"
    )
    done = subprocess.run([sys.executable, "-c", ours], capture_output=True, text=True)
    found = dict(zip(("numpy", "numba", "scipy"), done.stdout.split()))
    theirs = (
        "import importlib.metadata as m\n"
        "for name in ('numpy', 'scikit-learn', 'torch', 'jax', 'jaxlib', 'optax'):\n"
        "    try: print(name, m.version(name))\n"
        "    except m.PackageNotFoundError: print(name, '-')\n"
    )
    done = subprocess.run([args.peer_python, "-c", theirs], capture_output=True, text=True)
    for line in done.stdout.splitlines():
        name, version = line.split()
        found[name if name not in found else f"peer-{name}"] = version
    return found


def pair(values, spec):
    """``"best / median"`` of ``{"best": ..., "median": ...}``, each formatted with ``spec``."""
    return " / ".join(format(values[statistic], spec) for statistic in STATISTICS)


def timings(record):
    """A record's cell: ``"best / median s (accuracy %)"``, ``"error"`` or ``"—"`` (None)."""
    if record is None or "error" in record:
        return "—" if record is None else "error"
    return f"{pair(seconds_of(record), '.3f')} s ({100 * record['accuracy']:.1f} %)"


def percents(shares):
    """Shares of the peak as ``"best / median %"``, one decimal below 10 %."""
    return " / ".join(f"{100 * share:.{share < 0.1:d}f}" for share in shares.values()) + " %"


def report(results, markdown):
    """The results table as text lines (Markdown when asked): every figure as best / median."""
    lines = []
    systems = [s for s in SYSTEMS if any(s in w["systems"] for w in results["workloads"].values())]
    if results["workloads"]:
        header = ["workload", "epochs"] + systems
        header += ["fnn-1 / fnn (threads)", "fnn / fastest peer", "target"]
        header += ["floor (all threads)", "fnn's share of the peak", "fastest peer's share"]
        lines.append(header)
        for name, entry in results["workloads"].items():
            row = [name, str(entry["epochs"])]
            row += [timings(entry["systems"].get(system)) for system in systems]
            if "thread_speedup" in entry:
                row.append(f"{pair(entry['thread_speedup'], '.2f')} ({entry['threads']})")
            else:
                row.append("—")
            fastest = entry.get("fastest_peer")
            if fastest is None:
                row.append("—")
            elif fastest["best"] == fastest["median"]:
                row.append(f"{pair(entry['ratio'], '.2f')} (vs {fastest['best']})")
            else:
                row.append(
                    " / ".join(f"{entry['ratio'][k]:.2f} (vs {fastest[k]})" for k in fastest)
                )
            row.append(f"≤ {TARGETS[name]}")
            floors, shares = entry.get("floor_seconds", {}), entry.get("shares", {})
            row.append("—" if "all" not in floors else f"{floors['all']:.3g} s")
            aim = f" (≥ {SHARE_TARGETS[name]:.0%})" if name in SHARE_TARGETS else ""
            row.append(percents(shares["fnn"]) + aim if "fnn" in shares else "—")
            if fastest and shares:
                row.append(percents({k: shares[peer][k] for k, peer in fastest.items()}))
            else:
                row.append("—")
            lines.append(row)
    ensemble = results.get("ensemble")
    if ensemble:
        lines.append(None)
        lines.append([f"{ENSEMBLE} ({ensemble['epochs']} epochs)", "seconds (mean accuracy)", ""])
        for system, record in ensemble["systems"].items():
            cell = f"error: {record['error']}" if "error" in record else timings(record)
            lines.append([system, cell, ""])
        lines += [None, [f"{ENSEMBLE} ratios", "ratio", "target"]]
        for name, entry in ensemble["ratios"].items():
            sign = "≥" if entry["at_least"] else "≤"
            lines.append([name, pair(entry["ratio"], ".3f"), f"{sign} {entry['target']}"])
    cold = results.get("cold_start")
    if cold:
        lines.append(None)
        lines.append(["cold start (first epoch of moons-gd)", "seconds", "target"])
        for name, record in cold.items():
            if "error" in record:
                lines.append([name, "error: " + record["error"], ""])
                continue
            target = record.get("target")
            aim = "—" if target is None else f"≤ {target}"
            lines.append([name, pair(seconds_of(record), ".3f"), aim])
    out = []
    for gap, block in itertools.groupby(lines, key=lambda line: line is None):
        block = list(block)
        if gap:
            out += [""] * len(block)
        elif markdown:
            for line in block:
                out.append("| " + " | ".join(line) + " |")
                if line is block[0]:
                    out.append("|" + "---|" * len(line))
        else:  # each column as wide as its widest cell in the block
            widths = [max(map(len, cells)) for cells in itertools.zip_longest(*block, fillvalue="")]
            out += ["  ".join(map(str.ljust, line, widths)).rstrip() for line in block]
    return out


def parse_epochs(args, defaults):
    """Epochs per workload: the defaults, then --quick or --smoke, then each --epochs W=N."""
    epochs = dict(defaults)
    epochs.update(SMOKE_EPOCHS if args.smoke else QUICK_EPOCHS if args.quick else {})
    for item in args.epochs:
        name, _, value = item.partition("=")
        if name not in WORKLOADS + (ENSEMBLE,) or not value.isdigit() or int(value) < 1:
            known = list(WORKLOADS + (ENSEMBLE,))
            raise SystemExit(f"--epochs wants WORKLOAD=N with WORKLOAD in {known}")
        epochs[name] = int(value)
    return epochs


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workloads",
        help="comma-separated (default: every workload; with --smoke, "
        + ",".join(SMOKE_WORKLOADS)
        + ")",
    )
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per measurement: best and median kept"
    )
    parser.add_argument("--epochs", action="append", default=[], metavar="WORKLOAD=N")
    quick = ", ".join(f"{epochs} for {name}" for name, epochs in QUICK_EPOCHS.items())
    parser.add_argument("--quick", action="store_true", help=f"fewer epochs: {quick}")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"every system on {SMOKE_ROWS} rows for a few epochs of one workload of each kind, "
        "one thread each, once, and the cold start with a warm cache only (checks that "
        "everything runs; a few minutes, most of them starting processes)",
    )
    parser.add_argument("--rows", type=int, help="train on the first ROWS rows of each data set")
    parser.add_argument(
        "--threads",
        type=int,
        help="set OMP_NUM_THREADS and OPENBLAS_NUM_THREADS for every system (NumPy, scikit-learn, "
        "PyTorch; JAX keeps its own pool): one thread each is the fair and steady comparison on "
        "a busy machine, where waiting worker threads slow the peers down 10-100x",
    )
    parser.add_argument("--peers", type=Path, default=HERE / "peers")
    parser.add_argument("--peer-python", default=os.environ.get("FNN_PEER_PYTHON", sys.executable))
    parser.add_argument("--json", type=Path, help="default: benchmarks/results.json")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--native-blas",
        action="store_true",
        help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for every system of this run, so that "
        "OpenBLAS picks the kernels of this CPU (left as they are by default)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--worker", nargs=3, metavar=("SYSTEM", "WORKLOAD", "EPOCHS"))
    parser.add_argument("--cpu-time", action="store_true", help="a worker's fnn runs in CPU s")
    args = parser.parse_args(argv)
    args.peers = args.peers.resolve()
    if args.workloads is None:
        args.workloads = ",".join(
            SMOKE_WORKLOADS if args.smoke else WORKLOADS + (ENSEMBLE, COLD_START)
        )
    if args.smoke:
        args.repeat = 1
        args.rows = args.rows or SMOKE_ROWS
        args.threads = args.threads or 1
    if args.json is None and not args.smoke:
        args.json = HERE / "results.json"
    return args


def measure_peak(args, env):
    """The machine's GEMM peaks (floor.py, a fresh process) on this run's BLAS kernels.

    The thread variables of --threads are left out: the peak is the machine's, on 1 and on all
    of its cores, whatever threads the systems get.
    """
    env = {k: v for k, v in env.items() if k not in THREAD_VARIABLES}
    command = [sys.executable, str(HERE / "floor.py")]
    for option, value in (SMOKE_PEAK if args.smoke else PEAK).items():
        command += [f"--{option}", str(value)]
    record, _ = run_json(command, HERE, env, args.timeout)
    return record


def run_workload(name, epochs, systems, args, env, peak):
    """Every system on one workload, best and median of --repeat, fnn's ratios to the fastest
    peer (by best and by median), and every system's share of the ``peak`` (measure_peak's) at
    the workload's dtype, of its best and of its median."""
    w = load_workloads(args.peers)
    if name == "moons-gd":
        sizes, dtype, data = w.MOONS_GD_SIZES, "float64", w.moons_gd_data
    else:
        spec = w.MINI_BATCH[name]
        sizes, dtype, data = spec.sizes, spec.dtype, spec.data
    rows = len(data(args.rows)[0])  # the training rows as run (--rows included)
    madds = multiply_adds(sizes, rows * epochs)
    entry = {"epochs": epochs, "rows": rows, "dtype": dtype, "multiply_adds": madds, "systems": {}}
    for system in systems:
        if (system, name) in MISSING:
            continue
        runs = [measure(system, name, epochs, args, env) for _ in range(args.repeat)]
        entry["systems"][system] = best(runs)
        print(f"{name:14} {system:11} {json.dumps(entry['systems'][system])}", flush=True)
    good = {system: record for system, record in entry["systems"].items() if "error" not in record}
    peers = {system: record for system, record in good.items() if system in PEERS}
    fnn_record, serial_record = good.get("fnn"), good.get("fnn-1")
    if peers and fnn_record:
        # The fastest peer by best and by median (not always the same peer), fnn's ratio to each.
        entry["fastest_peer"], entry["ratio"] = {}, {}
        for statistic, key in STATISTICS.items():
            times = {system: record[key] for system, record in peers.items()}
            peer = min(times, key=times.get)
            entry["fastest_peer"][statistic] = peer
            entry["ratio"][statistic] = fnn_record[key] / peers[peer][key]
        entry["target"] = TARGETS[name]
        entry["met"] = {statistic: r <= TARGETS[name] for statistic, r in entry["ratio"].items()}
    if "gflops" in peak:
        rates = peak["gflops"][dtype]
        floors = {threads: floor_seconds(madds, rate) for threads, rate in rates.items()}
        entry["floor_seconds"] = floors
        if name in SHARE_TARGETS:
            entry["share_target"] = SHARE_TARGETS[name]
        entry["shares"] = {
            system: {k: floors["all"] / seconds for k, seconds in seconds_of(record).items()}
            for system, record in good.items()
        }
    if fnn_record and serial_record:
        entry["thread_speedup"] = quotient(serial_record, fnn_record)
        entry["threads"] = fnn_record["threads"]
        if fnn_record["params_digest"] != serial_record["params_digest"]:
            entry["error"] = "threads=None and threads=1 trained different parameters"
    return entry


def run_cold_start(systems, args, env):
    """fnn's cold start (cold_start.py's ``fit``) with a warm and an empty Numba cache, then the
    peers' first step; each the best and median of --repeat fresh processes."""
    import cold_start  # not at the top: it imports this module

    chosen = [("fnn warm cache", "fit", "warm")] + (
        [] if args.smoke else [("fnn empty cache", "fit", "empty")]
    )
    chosen = [row for row in chosen if "fnn" in systems]
    chosen += [(system, system, "peer") for system in COLD_PEERS if system in systems]
    cold = {}
    with tempfile.TemporaryDirectory(prefix="fnn-cold-start-data-") as folder:
        data = cold_start.write_data(folder)
        for label, name, mode in chosen:
            python = args.peer_python if mode == "peer" else sys.executable
            if label == "fnn warm cache" and not args.smoke:  # the smoke run's workloads warmed it
                cold_start.measure(name, mode, python, data, env, args.timeout)
            runs = [
                cold_start.measure(name, mode, python, data, env, args.timeout)
                for _ in range(args.repeat)
            ]
            cold[label] = best(runs)
            print(f"{COLD_START:14} {label:15} {json.dumps(cold[label])}", flush=True)
    for label, target in (
        ("fnn warm cache", TARGETS["cold-start warm"]),
        ("fnn empty cache", TARGETS["cold-start empty"]),
    ):
        if label in cold and "seconds" in cold[label]:
            cold[label]["target"] = target
            cold[label]["met"] = {k: t <= target for k, t in seconds_of(cold[label]).items()}
    return cold


def run_ensemble(epochs, systems, args, env):
    """Every way of training the 64 members, best and median of --repeat, and the ensemble's
    ratios (of the bests and of the medians)."""
    chosen = [s for s in ENSEMBLE_SYSTEMS if (s if s in PEERS else "fnn") in systems]
    entry = {"epochs": epochs, "systems": {}, "ratios": {}}
    for system in chosen:
        runs = [measure(system, ENSEMBLE, epochs, args, env) for _ in range(args.repeat)]
        entry["systems"][system] = best(runs)
        print(f"{ENSEMBLE:14} {system:11} {json.dumps(entry['systems'][system])}", flush=True)
    good = {s: r for s, r in entry["systems"].items() if "error" not in r}
    for name, top, bottom, target, at_least in ENSEMBLE_RATIOS:
        if top in good and bottom in good:
            ratio = quotient(good[top], good[bottom])
            met = {k: r >= target if at_least else r <= target for k, r in ratio.items()}
            entry["ratios"][name] = {"ratio": ratio, "target": target, "at_least": at_least}
            entry["ratios"][name]["met"] = met
    return entry


def failures(results):
    """'workload system: error' for every measurement that failed."""
    records = [
        (name, system, record)
        for name, entry in results["workloads"].items()
        for system, record in entry["systems"].items()
    ] + [(COLD_START, label, record) for label, record in results["cold_start"].items()]
    records.append(("GEMM peak", "floor.py", results["peak"]))
    records += [
        (ENSEMBLE, system, record)
        for system, record in results.get("ensemble", {}).get("systems", {}).items()
    ]
    failed = [f"{name} {system}: {r['error']}" for name, system, r in records if "error" in r]
    return failed + [
        f"{name}: {entry['error']}"
        for name, entry in results["workloads"].items()
        if "error" in entry
    ]


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        global CLOCK
        if args.cpu_time:
            CLOCK = time.process_time
        system, workload, epochs = args.worker
        worker(system, workload, int(epochs), args)
        return
    if not (args.peers / "workloads.py").exists():
        raise SystemExit(f"no peer scripts in {args.peers} (use --peers DIR)")
    workloads = [name.strip() for name in args.workloads.split(",") if name.strip()]
    systems = [name.strip() for name in args.systems.split(",") if name.strip()]
    for name in workloads:
        if name not in WORKLOADS + (COLD_START, ENSEMBLE):
            known = list(WORKLOADS + (COLD_START, ENSEMBLE))
            raise SystemExit(f"unknown workload {name!r}; choose from {known}")
    for name in systems:
        if name not in SYSTEMS:
            raise SystemExit(f"unknown system {name!r}; choose from {list(SYSTEMS)}")
    epochs = parse_epochs(args, load_workloads(args.peers).EPOCHS)
    env = dict(os.environ)
    if args.native_blas:
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            env.pop(name, None)
    if args.threads is not None:
        env.update({name: str(args.threads) for name in THREAD_VARIABLES})
    load_before = [round(load, 2) for load in os.getloadavg()]
    peak = measure_peak(args, env)
    print(describe(peak) if "gflops" in peak else f"GEMM peak: {peak['error']}", flush=True)
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/run.py"] + (argv or sys.argv[1:])),
        "machine": machine(),
        "versions": versions(args),
        "repeat": args.repeat,
        "rows": args.rows,
        "openblas_env_of_the_runs": {k: v for k, v in env.items() if k.startswith("OPENBLAS")},
        "threads_env_of_the_runs": {k: v for k, v in env.items() if k in THREAD_VARIABLES},
        "peak": peak,
        "workloads": {},
        "cold_start": {},
    }
    for name in workloads:
        if name in WORKLOADS:
            entry = run_workload(name, epochs[name], systems, args, env, peak)
            results["workloads"][name] = entry
    if ENSEMBLE in workloads:
        results["ensemble"] = run_ensemble(epochs[ENSEMBLE], systems, args, env)
    if COLD_START in workloads:
        results["cold_start"] = run_cold_start(systems, args, env)
    load_after = [round(load, 2) for load in os.getloadavg()]
    results["load_average"] = {"before": load_before, "after": load_after}
    results["cores_apart"] = cores_apart(results)
    print()
    print(
        f"{results['date']}  {results['machine'].get('cpu')}  {results['machine']['cores']} cores"
    )
    used = results["openblas_env_of_the_runs"] or "unset"
    rows = "all rows" if args.rows is None else f"first {args.rows} rows"
    threads = "default threads" if args.threads is None else f"{args.threads} thread(s) each"
    runs = f"best / median of {args.repeat} run{'s' * (args.repeat > 1)}"
    print(f"OPENBLAS env of the runs: {used}; {runs}; {rows}; {threads}")
    load = results["load_average"]
    print(f"load average (1, 5, 15 min): before {load['before']}, after {load['after']}")
    apart = results["cores_apart"]
    if apart["samples"]:
        medians = ", ".join(
            f"{k[:-3].replace('_', ' ')} {v:g} ns" for k, v in apart.items() if k.endswith("_ns")
        )
        print(
            f"cores (core_to_core.py before and after each run): {apart['far']} of "
            f"{apart['samples']} samples far apart (>= {core_to_core.FAR_NS:g} ns); {medians}"
        )
    if "gflops" in peak:
        print(describe(peak))
    print("\n".join(report(results, args.markdown)))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwritten to {args.json}")
    failed = failures(results)
    if failed:
        print("\nfailed:\n  " + "\n  ".join(failed), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Benchmark fnn against its peers on every workload of DESIGN §8, side by side in one run.

Usage (from the repository root)::

    python benchmarks/run.py                       # every workload, every system, best of 1
    python benchmarks/run.py --repeat 3            # best of 3 runs per system and workload
    python benchmarks/run.py --quick               # 2,000 epochs for the moons workloads
    python benchmarks/run.py --workloads moons-adam,cold-start --systems fnn,jax
    python benchmarks/run.py --epochs moons-gd=500 --peers ../shared/peers

Every measurement runs in a fresh subprocess. fnn runs with this interpreter; the peers
(``peer_*.py`` in ``--peers``, default ``../shared/peers`` next to the repository) run with
``--peer-python`` (default: ``$FNN_PEER_PYTHON`` or this interpreter), which needs the
``[bench]`` extra: ``pip install -e ".[bench]"`` (torch pinned to 2.13.0, a CPU build).

Times exclude data generation and one-time compilation (fnn loads or compiles its kernels
with a one-epoch warm-up fit; JAX compiles before its timer starts), as the peer scripts do.
``cold-start`` times a fresh process from just after the data is built to the end of the
first epoch of moons-gd: ``import fnn``, build, init, one ``fit`` epoch; once with a warm
Numba cache and once with an empty one (``NUMBA_CACHE_DIR`` set to a new temporary
directory). PyTorch and JAX get the same measurement (import, build, first epoch,
compilation included) for comparison.

Results are printed as a table and written as JSON (``--json``, default
``benchmarks/results.json``); ``--markdown`` prints the table as Markdown for the README.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: Workload names (DESIGN §8), the peer scripts' names for them, and default epochs.
WORKLOADS = {
    "moons-gd": ("moons", 10_000),
    "moons-adam": ("adam", 10_000),
    "mnist-shaped": ("mnist", 1),
}
COLD_START = "cold-start"
PEERS = ("numpy-seed", "sklearn", "torch", "jax")
SYSTEMS = ("fnn",) + PEERS
#: Peers without a script for a workload.
MISSING = {("numpy-seed", "mnist-shaped")}
#: Cold-start peers (the others have no compilation or import cost worth comparing).
COLD_PEERS = ("torch", "jax")
#: Targets of issue 4: fnn time / fastest peer time; cold start in seconds.
TARGETS = {
    "moons-gd": 0.8,
    "moons-adam": 0.3,
    "mnist-shaped": 0.8,
    "cold-start warm": 1.0,
    "cold-start empty": 4.0,
}

# Seed 003's architecture list, as its users write it.
NN_ARCHITECTURE = [
    {"input_dim": 2, "output_dim": 25, "activation": "relu"},
    {"input_dim": 25, "output_dim": 50, "activation": "relu"},
    {"input_dim": 50, "output_dim": 50, "activation": "relu"},
    {"input_dim": 50, "output_dim": 25, "activation": "relu"},
    {"input_dim": 25, "output_dim": 1, "activation": "sigmoid"},
]


# -- the fnn side (runs inside a worker process) ---------------------------------------------


def fnn_moons_gd(workloads, epochs):
    import fnn

    X_train, X_test, y_train, y_test = workloads.moons_seed3()
    net = fnn.from_architecture(NN_ARCHITECTURE)
    params = fnn.init(net, key=2, scheme="scaled")
    opt = fnn.sgd(0.01)
    fnn.fit(net, params, opt, X_train, y_train, epochs=1)  # load or compile the kernels
    started = time.perf_counter()
    result = fnn.fit(net, params, opt, X_train, y_train, epochs=epochs)
    seconds = time.perf_counter() - started
    return seconds, fnn.accuracy(net, result.params, X_test, y_test)


def fnn_moons_adam(workloads, epochs):
    import fnn

    X, y = workloads.moons_seed4()
    net = fnn.mlp([2, 5, 2, 1], hidden="relu", output="sigmoid")
    params = fnn.init(net, key=3, scheme="he")
    opt = fnn.adam(0.0007, eps=1e-8)
    fnn.fit(net, params, opt, X, y, epochs=1, batch_size=64, key=10)
    started = time.perf_counter()
    result = fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=64, key=10)
    seconds = time.perf_counter() - started
    return seconds, fnn.accuracy(net, result.params, X, y)


def fnn_mnist_shaped(workloads, epochs):
    import numpy as np

    import fnn

    X, y = workloads.mnist_shaped()
    net = fnn.mlp([784, 256, 128, 10], hidden="relu", output="softmax")
    params = fnn.init(net, key=0, scheme="he", dtype=np.float32)
    opt = fnn.adam(1e-3)
    fnn.fit(net, params, opt, X[:256], y[:256], epochs=1, batch_size=128)
    started = time.perf_counter()
    result = fnn.fit(net, params, opt, X, y, epochs=epochs, batch_size=128, key=0)
    seconds = time.perf_counter() - started
    assert result.params.layers[0].W.dtype == np.float32
    return seconds, fnn.accuracy(net, result.params, X, y)


def fnn_cold_start(workloads, started):
    """Seconds from the data being ready to the first finished epoch (imports included)."""
    X_train, _, y_train, _ = workloads.moons_seed3()
    ready = time.perf_counter()
    import fnn

    net = fnn.from_architecture(NN_ARCHITECTURE)
    params = fnn.init(net, key=2, scheme="scaled")
    fnn.fit(net, params, fnn.sgd(0.01), X_train, y_train, epochs=1)
    done = time.perf_counter()
    return done - ready, ready - started


def torch_cold_start(workloads, started):
    X_train, _, y_train, _ = workloads.moons_seed3()
    ready = time.perf_counter()
    import torch

    X = torch.tensor(X_train, dtype=torch.float64)
    Y = torch.tensor(y_train, dtype=torch.float64).reshape(-1, 1)
    layers = []
    for layer in NN_ARCHITECTURE:
        layers.append(torch.nn.Linear(layer["input_dim"], layer["output_dim"]))
        layers.append(torch.nn.ReLU() if layer["activation"] == "relu" else torch.nn.Sigmoid())
    net = torch.nn.Sequential(*layers).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    opt.zero_grad()
    loss = torch.nn.BCELoss()(net(X), Y)
    loss.backward()
    opt.step()
    done = time.perf_counter()
    return done - ready, ready - started


def jax_cold_start(workloads, started):
    X_train, _, y_train, _ = workloads.moons_seed3()
    ready = time.perf_counter()
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    X, Y = jnp.asarray(X_train), jnp.asarray(y_train, jnp.float64)
    key = jax.random.PRNGKey(2)
    params = []
    for layer in NN_ARCHITECTURE:
        key, k_w, k_b = jax.random.split(key, 3)
        shape = (layer["input_dim"], layer["output_dim"])
        params.append(
            (0.1 * jax.random.normal(k_w, shape), 0.1 * jax.random.normal(k_b, shape[1:]))
        )

    def loss(params, X, Y):
        for W, b in params[:-1]:
            X = jax.nn.relu(X @ W + b)
        W, b = params[-1]
        return jnp.mean(optax.sigmoid_binary_cross_entropy((X @ W + b)[:, 0], Y))

    @jax.jit
    def step(params):
        grads = jax.grad(loss)(params, X, Y)
        return jax.tree_util.tree_map(lambda p, g: p - 0.01 * g, params, grads)

    jax.block_until_ready(step(params))
    done = time.perf_counter()
    return done - ready, ready - started


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


def worker(system, workload, epochs, peers):
    """Run one measurement in this process and print one JSON line."""
    started = time.perf_counter()
    sys.path.insert(0, str(peers))
    import workloads

    record = {"system": system, "workload": workload}
    if workload == COLD_START:
        runner = {"fnn": fnn_cold_start, "torch": torch_cold_start, "jax": jax_cold_start}[system]
        seconds, data_seconds = runner(workloads, started)
        record.update(seconds=seconds, data_seconds=data_seconds)
    else:
        runner = {
            "moons-gd": fnn_moons_gd,
            "moons-adam": fnn_moons_adam,
            "mnist-shaped": fnn_mnist_shaped,
        }[workload]
        seconds, accuracy = runner(workloads, epochs)
        record.update(seconds=seconds, accuracy=float(accuracy), blas=blas_cores())
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
    if system == "fnn":
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", system, workload]
        command += [str(epochs), "--peers", str(args.peers)]
        python = sys.executable
    else:
        script = args.peers / f"peer_{system.replace('-', '_')}.py"
        command = [args.peer_python, script.name, WORKLOADS[workload][0], str(epochs)]
        python = args.peer_python
    record, _ = run_json(command, args.peers, env, args.timeout)
    record["python"] = python
    return record


def measure_cold(system, args, env, empty_cache):
    python = sys.executable if system == "fnn" else args.peer_python
    command = [python, str(Path(__file__).resolve()), "--worker", system, COLD_START, "1"]
    command += ["--peers", str(args.peers)]
    env = dict(env)
    scratch = None
    if empty_cache:
        scratch = tempfile.TemporaryDirectory(prefix="fnn-numba-cache-")
        env["NUMBA_CACHE_DIR"] = scratch.name
    try:
        record, wall = run_json(command, args.peers, env, args.timeout)
    finally:
        if scratch is not None:
            scratch.cleanup()
    record["process_seconds"] = wall
    return record


def best(records):
    good = [record for record in records if "error" not in record]
    if not good:
        return records[-1]
    chosen = dict(min(good, key=lambda record: record["seconds"]))
    chosen["runs"] = [round(record["seconds"], 4) for record in good]
    return chosen


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


def fmt(value, digits=3):
    return "—" if value is None else f"{value:.{digits}f}"


def report(results, markdown):
    """The results table as text lines (Markdown when asked)."""
    lines = []
    systems = [s for s in SYSTEMS if any(s in w["systems"] for w in results["workloads"].values())]
    if results["workloads"]:
        header = ["workload", "epochs"] + systems + ["fnn / fastest peer", "target"]
        lines.append(header)
        for name, entry in results["workloads"].items():
            row = [name, str(entry["epochs"])]
            for system in systems:
                record = entry["systems"].get(system)
                if record is None:
                    row.append("—")
                elif "error" in record:
                    row.append("error")
                else:
                    row.append(f"{record['seconds']:.3f} s ({100 * record['accuracy']:.1f} %)")
            ratio = entry.get("ratio")
            row.append("—" if ratio is None else f"{ratio:.2f} (vs {entry['fastest_peer']})")
            row.append(f"≤ {TARGETS[name]}")
            lines.append(row)
    cold = results.get("cold_start")
    if cold:
        lines.append(None)
        lines.append(["cold start (first epoch of moons-gd)", "seconds", "target"])
        for name, record in cold.items():
            if "error" in record:
                lines.append([name, "error: " + record["error"], ""])
                continue
            target = record.get("target")
            lines.append(
                [name, f"{record['seconds']:.3f}", "—" if target is None else f"≤ {target}"]
            )
    out = []
    for line in lines:
        if line is None:
            out.append("")
            continue
        if markdown:
            out.append("| " + " | ".join(line) + " |")
            if line[0] in ("workload", "cold start (first epoch of moons-gd)"):
                out.append("|" + "---|" * len(line))
        else:
            out.append("  ".join(cell.ljust(22 if i else 40) for i, cell in enumerate(line)))
    return out


def parse_epochs(items):
    epochs = {name: default for name, (_, default) in WORKLOADS.items()}
    for item in items:
        name, _, value = item.partition("=")
        if name not in WORKLOADS or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"--epochs wants WORKLOAD=N with WORKLOAD in {list(WORKLOADS)}")
        epochs[name] = int(value)
    return epochs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join(list(WORKLOADS) + [COLD_START]))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; best kept")
    parser.add_argument("--epochs", action="append", default=[], metavar="WORKLOAD=N")
    parser.add_argument("--quick", action="store_true", help="2,000 epochs for moons workloads")
    parser.add_argument("--peers", type=Path, default=REPO.parent / "shared" / "peers")
    parser.add_argument("--peer-python", default=os.environ.get("FNN_PEER_PYTHON", sys.executable))
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--native-blas",
        action="store_true",
        help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for every system of this run, so that "
        "OpenBLAS picks the kernels of this CPU (left as they are by default)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--worker", nargs=3, metavar=("SYSTEM", "WORKLOAD", "EPOCHS"))
    args = parser.parse_args(argv)
    args.peers = args.peers.resolve()
    if args.worker:
        system, workload, epochs = args.worker
        worker(system, workload, int(epochs), args.peers)
        return
    if not (args.peers / "workloads.py").exists():
        raise SystemExit(f"no peer scripts in {args.peers} (use --peers DIR)")
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for name in workloads:
        if name not in WORKLOADS and name != COLD_START:
            raise SystemExit(f"unknown workload {name!r}; choose from {list(WORKLOADS)}")
    for name in systems:
        if name not in SYSTEMS:
            raise SystemExit(f"unknown system {name!r}; choose from {list(SYSTEMS)}")
    epochs = parse_epochs(args.epochs)
    if args.quick:
        for name in ("moons-gd", "moons-adam"):
            if not any(item.startswith(name + "=") for item in args.epochs):
                epochs[name] = 2000
    env = dict(os.environ)
    if args.native_blas:
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            env.pop(name, None)
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/run.py"] + (argv or sys.argv[1:])),
        "machine": machine(),
        "versions": versions(args),
        "repeat": args.repeat,
        "openblas_env_of_the_runs": {k: v for k, v in env.items() if k.startswith("OPENBLAS")},
        "workloads": {},
        "cold_start": {},
    }
    for name in workloads:
        if name == COLD_START:
            continue
        entry = {"epochs": epochs[name], "systems": {}}
        for system in systems:
            if (system, name) in MISSING:
                continue
            runs = [measure(system, name, epochs[name], args, env) for _ in range(args.repeat)]
            entry["systems"][system] = best(runs)
            print(f"{name:14} {system:11} {json.dumps(entry['systems'][system])}", flush=True)
        peers = {
            s: r["seconds"] for s, r in entry["systems"].items() if s != "fnn" and "error" not in r
        }
        fnn_record = entry["systems"].get("fnn", {})
        if peers and "seconds" in fnn_record:
            fastest = min(peers, key=peers.get)
            entry["fastest_peer"] = fastest
            entry["ratio"] = fnn_record["seconds"] / peers[fastest]
            entry["target"] = TARGETS[name]
            entry["met"] = entry["ratio"] <= TARGETS[name]
        results["workloads"][name] = entry
    if COLD_START in workloads:
        cold = results["cold_start"]
        if "fnn" in systems:
            measure_cold("fnn", args, env, empty_cache=False)  # make sure the cache is warm
            for label, empty in (("fnn warm cache", False), ("fnn empty cache", True)):
                cold[label] = best(
                    [measure_cold("fnn", args, env, empty) for _ in range(args.repeat)]
                )
                print(f"{COLD_START:14} {label:15} {json.dumps(cold[label])}", flush=True)
        for system in COLD_PEERS:
            if system in systems:
                cold[system] = best(
                    [measure_cold(system, args, env, False) for _ in range(args.repeat)]
                )
                print(f"{COLD_START:14} {system:15} {json.dumps(cold[system])}", flush=True)
        for label, target in (
            ("fnn warm cache", TARGETS["cold-start warm"]),
            ("fnn empty cache", TARGETS["cold-start empty"]),
        ):
            if label in cold and "seconds" in cold[label]:
                cold[label]["target"] = target
                cold[label]["met"] = cold[label]["seconds"] <= target
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(
        f"{results['date']}  {results['machine'].get('cpu')}  {results['machine']['cores']} cores"
    )
    used = results["openblas_env_of_the_runs"] or "unset"
    print(f"OPENBLAS env of the runs: {used}; best of {args.repeat}")
    print("\n".join(report(results, args.markdown)))
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()

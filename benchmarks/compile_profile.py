"""Where a first call's compile time goes: per function and per phase of Numba's compiler.

Usage (``PYTHONPATH`` at the tree whose ``fnn`` to profile)::

    PYTHONPATH=. python benchmarks/compile_profile.py grad
    PYTHONPATH=. python benchmarks/compile_profile.py fit --top 30

Each figure runs in a fresh process with an empty Numba cache (``NUMBA_CACHE_DIR`` a new
temporary folder), which listens to Numba's compiler events (``numba.core.event``): every
compiler pass (``numba:run_pass``), every compile of a function (``numba:compile``) and every
hold of the LLVM lock (``numba:llvm_lock``: LLVM's optimisation and code generation). Each
event's own time (its span less the events nested in it: a caller's type inference compiles
its callees) goes to the function it ran for and to a phase:

* ``untyped``: the passes before type inference, the inlining of ``inline="always"``
  functions (:func:`fnn.kernels.part`) included, which runs the inlined function's own untyped
  passes again at every call site;
* ``typing``: type inference (an inlined part's body is typed inside each caller);
* ``typed``: the passes between typing and lowering (parfors, typed inlining, rewrites);
* ``lowering``: Numba IR to LLVM IR (an inlined part is lowered in each caller);
* ``llvm-fn``: LLVM's function passes over each module Numba adds to a function's library;
* ``llvm-mod``: LLVM's module passes over the function's final module, where the modules of
  the helpers it calls are linked in (optimised again there, and inlined where LLVM likes);
* ``llvm-mc``: machine code of that final module (helpers included, again);
* ``llvm``: the rest of LLVM's work (parsing, verifying, linking modules);
* ``other``: the rest of a compile (the dispatcher's own work).

A compile of a helper is all of these once for the helper, then its ``llvm-mod`` and
``llvm-mc`` again inside every function whose final module links it.

Figures: ``grad`` (the README quickstart's ``mlp([2, 16, 16, 1])``, one ``fnn.grad`` on 200
rows), ``fit`` (the same network, one ``fit`` epoch of ``sgd`` on those rows), ``predict``
(its ``predict`` alone), ``fit-adam`` (``fit`` with ``adam``), and ``full``, ``threaded`` and
``members``: ``fnn.warm``'s float64 calls that compile the engine's full and threaded variants
and ``fit_many``'s kernel. It prints the process CPU and
wall seconds of the call, then a table of the functions by their total own time. With
``PROFILE_NO_GC=1`` the profiled process runs with Python's garbage collector off (steadier
figures: a full collection is charged to whatever compiles when it comes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

PHASES = ("untyped", "typing", "typed", "lowering", "llvm-fn", "llvm-mod", "llvm-mc", "llvm",
          "other")  # fmt: skip
#: The CPU code library's LLVM steps, timed apart: function passes as a module is added,
#: module passes of the final module (its callees linked in), machine code.
LLVM_STEPS = {
    "_optimize_functions": "llvm-fn",
    "_optimize_final_module": "llvm-mod",
    "_finalize_final_module": "llvm-mc",
}
TYPING = {"nopython_type_inference", "partial_type_inference"}
LOWERING = {"native_lowering", "native_parfor_lowering"}
#: Passes from type inference on that are not typing or lowering.
AFTER_TYPING = {
    "annotate_types", "nopython_rewrites", "pre_parfor_pass", "parfor_pass", "parfor_fusion_pass",
    "parfor_prelowering_pass", "dump_parfor_diagnostics", "nopython_supported_feature_validation",
    "ir_legalization", "nopython_backend", "inline_overloads", "dead_code_elimination",
    "strip_phis",
}  # fmt: skip


class Profile:
    """A numba event listener: own seconds per (function, phase) and per compiler pass (the
    LLVM lock's as "llvm"), compiles per function."""

    def __init__(self):
        self.stack = []  # [phase, function, pass, start, children's seconds]
        self.own = defaultdict(float)
        self.passes = defaultdict(float)
        self.compiles = defaultdict(int)

    def on_event(self, event):
        import time

        now = time.process_time()  # CPU: less disturbed by the load than wall time
        if event.is_start:
            self.stack.append([*self.classify(event), now, 0.0])
            return
        phase, function, name, start, children = self.stack.pop()
        span = now - start
        self.own[function, phase] += span - children
        self.passes[name] += span - children
        if self.stack:
            self.stack[-1][4] += span
        if event.kind == "numba:compile":
            self.compiles[function] += 1

    def classify(self, event):
        if event.kind == "numba:llvm_lock":  # LLVM work for the innermost compile or pass
            if not self.stack:
                return "llvm", "?", "llvm"
            phase, function = self.stack[-1][:2]
            phase = phase if phase.startswith("llvm") else "llvm"
            return phase, function, phase
        if event.kind == "llvm-step":
            return event.data, self.stack[-1][1] if self.stack else "?", event.data
        if event.kind == "numba:compile":
            return "other", event.data["dispatcher"].py_func.__qualname__, "compile"
        name = event.data["name"].rsplit(" [", 1)[0]
        function = event.data["qualname"]
        if name in TYPING:
            return "typing", function, name
        if name in LOWERING:
            return "lowering", function, name
        if name in AFTER_TYPING:
            return "typed", function, name
        return "untyped", function, name


def wrap_llvm_steps(profile: Profile) -> None:
    """Time the LLVM steps of Numba's CPU code library (see LLVM_STEPS) as events of their own."""
    from types import SimpleNamespace

    from numba.core import codegen

    def wrapped(method, phase):
        def step(self, *args, **kwargs):
            profile.on_event(SimpleNamespace(is_start=True, kind="llvm-step", data=phase))
            try:
                return method(self, *args, **kwargs)
            finally:
                profile.on_event(SimpleNamespace(is_start=False, kind="llvm-step", data=phase))

        return step

    for name, phase in LLVM_STEPS.items():
        setattr(codegen.CPUCodeLibrary, name, wrapped(getattr(codegen.CPUCodeLibrary, name), phase))


def run_figure(figure: str):
    """The figure's fnn calls in this process."""
    import numpy as np

    import fnn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    net = fnn.mlp([2, 16, 16, 1], hidden="relu", output="sigmoid")
    params = fnn.init(net, key=0)
    if figure == "grad":
        fnn.grad(net, params, X, y)
    elif figure == "fit":
        fnn.fit(net, params, fnn.sgd(0.1), X, y, epochs=1)
    elif figure == "fit-adam":
        fnn.fit(net, params, fnn.adam(0.01), X, y, epochs=1)
    elif figure == "predict":
        fnn.predict(net, params, X)
    elif figure in ("full", "threaded", "members"):  # fnn.warm's calls of these kernels
        from fnn import warm

        getattr(warm, f"_{figure}")("float64")
    else:
        raise SystemExit(f"unknown figure {figure!r}")


def worker(figure: str) -> None:
    """Profile ``figure`` in this process; print one JSON line."""
    import time

    import numba  # noqa: F401  (imported before the clock, as the package's import)
    from numba.core import event

    import fnn  # noqa: F401

    profile = Profile()

    class Forward(event.Listener):
        def on_start(self, e):
            profile.on_event(e)

        def on_end(self, e):
            profile.on_event(e)

    listener = Forward()
    wrap_llvm_steps(profile)
    for kind in ("numba:run_pass", "numba:compile", "numba:llvm_lock"):
        event.register(kind, listener)
    if os.environ.get("PROFILE_NO_GC"):
        import gc

        gc.disable()
    wall, cpu = time.perf_counter(), time.process_time()
    run_figure(figure)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows = defaultdict(dict)
    for (function, phase), seconds in profile.own.items():
        rows[function][phase] = seconds
    print(json.dumps({"figure": figure, "wall": wall, "cpu": cpu, "rows": rows,
                      "compiles": profile.compiles, "passes": profile.passes}))  # fmt: skip


def report(record: dict, top: int) -> None:
    rows, compiles = record["rows"], record["compiles"]
    totals = {phase: sum(row.get(phase, 0.0) for row in rows.values()) for phase in PHASES}
    print(f"{record['figure']}: {record['cpu']:.2f} s CPU, {record['wall']:.2f} s wall; "
          f"events {sum(totals.values()):.2f} s")  # fmt: skip
    print(f"{'function':36} {'n':>3} " + " ".join(f"{p:>8}" for p in PHASES) + "    total")
    ordered = sorted(rows.items(), key=lambda item: -sum(item[1].values()))
    for function, row in ordered[:top]:
        cells = " ".join(f"{row.get(phase, 0.0):8.2f}" for phase in PHASES)
        print(f"{function[:36]:36} {compiles.get(function, 0):3} {cells} {sum(row.values()):8.2f}")
    cells = " ".join(f"{totals[phase]:8.2f}" for phase in PHASES)
    print(f"{'all':36} {sum(compiles.values()):3} {cells} {sum(totals.values()):8.2f}")
    passes = sorted(record["passes"].items(), key=lambda item: -item[1])
    print("passes: " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in passes[:12]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", nargs="+")
    parser.add_argument("--top", type=int, default=25, help="functions shown")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the records here")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.figures[0])
        return
    records = []
    for figure in args.figures:
        with tempfile.TemporaryDirectory(prefix="profile-numba-cache-") as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", figure]
            done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{figure}: {done.stderr}")
        record = json.loads(done.stdout.strip().splitlines()[-1])
        records.append(record)
        report(record, args.top)
    if args.json:
        Path(args.json).write_text(json.dumps(records))


if __name__ == "__main__":
    main()

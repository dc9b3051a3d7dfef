"""fnn's threads under contention: ``fit(threads=None)`` against ``fit(threads=1)``, one core busy.

The target: with another process saturating one core, ``fit(threads=None)`` takes at most
1.25 × the time of the serial ``fit(threads=1)`` in the same conditions (threads whose
waiting spins, as OpenBLAS's do, made fits 10-30 × slower there). This script starts that
other process itself, a busy loop (``while True: pass``) of this interpreter, and kills it
after each pair of measurements. The same pair without it gives the thread speed-up
(``threads=1`` / ``threads=None``: 2 at best on 2 cores).

Every measurement is a fresh process running ``run.py --worker`` (``fnn``: ``threads=None``,
``fnn-1``: ``threads=1``; kernels loaded by a warm-up fit, not timed), the two taking turns
(which goes first alternates from round to round) so that both see the same machine; the
best of ``--rounds`` is kept for each. Both must train the same parameters, bit for bit.

    python benchmarks/contention.py               # 3 rounds, a few minutes on 2 idle cores
    python benchmarks/contention.py --markdown    # the table in benchmarks/README.md
    python benchmarks/contention.py --smoke       # 1 round of tiny runs: does it work?
    python benchmarks/contention.py --workloads moons-gd --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from pathlib import Path

from run import FNN_THREADS, run_json

HERE = Path(__file__).resolve().parent
#: Workload: (epochs, rows; None: all). mnist-shaped on its first 15,000 rows to keep it short.
WORKLOADS = {"mnist-shaped": (1, 15_000), "wide-f32": (1, None), "moons-gd": (2_000, None)}
SMOKE = {"mnist-shaped": (1, 512), "wide-f32": (1, 512), "moons-gd": (20, None)}
#: threads=None / threads=1 with one core busy: at most this.
TARGET = 1.25
BUSY_LOOP = "while True: pass"


@contextlib.contextmanager
def busy_core(busy: bool):
    """Another process saturating one core while the block runs (when ``busy``)."""
    if not busy:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def measure(system: str, workload: str, epochs: int, rows: int | None) -> dict:
    """One fresh-process run of fnn's worker: its JSON record (seconds, params_digest, ...)."""
    command = [sys.executable, str(HERE / "run.py"), "--worker", system, workload, str(epochs)]
    command += ["--peers", str(HERE / "peers")]
    if rows is not None:
        command += ["--rows", str(rows)]
    record, _ = run_json(command, HERE / "peers", dict(os.environ), timeout=1800)
    if "error" in record:
        raise SystemExit(f"{workload} {system}: {record['error']}")
    return record


def compare(workload: str, epochs: int, rows: int | None, rounds: int) -> dict:
    """Best seconds of each system, idle and with one core busy, over alternating rounds."""
    best = {(busy, system): None for busy in (False, True) for system in FNN_THREADS}
    for round_ in range(rounds):
        for busy in (False, True):
            order = list(FNN_THREADS)[:: -1 if round_ % 2 else 1]
            with busy_core(busy):
                records = {system: measure(system, workload, epochs, rows) for system in order}
            digests = {record["params_digest"] for record in records.values()}
            if len(digests) != 1:
                raise SystemExit(f"{workload}: threads=None and threads=1 trained different params")
            for system, record in records.items():
                kept = best[busy, system]
                if kept is None or record["seconds"] < kept["seconds"]:
                    best[busy, system] = record
            seconds = "  ".join(f"{s} {r['seconds']:.3f} s" for s, r in records.items())
            print(f"{workload:13} round {round_ + 1} {'busy' if busy else 'idle'}: {seconds}")
    seconds = {key: record["seconds"] for key, record in best.items()}
    return {
        "epochs": epochs,
        "rows": rows,
        "threads": best[False, "fnn"]["threads"],
        "seconds": seconds,
        "speedup": seconds[False, "fnn-1"] / seconds[False, "fnn"],
        "contention": seconds[True, "fnn"] / seconds[True, "fnn-1"],
    }


def table(results: dict, markdown: bool) -> list[str]:
    header = [
        "workload",
        "epochs, rows",
        "idle: threads=None",
        "idle: threads=1",
        "speed-up (1 / None)",
        "one core busy: threads=None",
        "one core busy: threads=1",
        "busy: None / 1",
        "target",
    ]
    lines = [header]
    for name, r in results.items():
        s = r["seconds"]
        lines.append(
            [
                name,
                f"{r['epochs']}, {'all' if r['rows'] is None else r['rows']}",
                f"{s[False, 'fnn']:.3f} s ({r['threads']} threads)",
                f"{s[False, 'fnn-1']:.3f} s",
                f"{r['speedup']:.2f}",
                f"{s[True, 'fnn']:.3f} s",
                f"{s[True, 'fnn-1']:.3f} s",
                f"{r['contention']:.2f}",
                f"≤ {TARGET} {'✓' if r['contention'] <= TARGET else '✗'}",
            ]
        )
    if markdown:
        out = ["| " + " | ".join(line) + " |" for line in lines]
        return out[:1] + ["|" + "---|" * len(header)] + out[1:]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in lines]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per workload; best kept")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="one round of tiny runs")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else WORKLOADS
    names = [name.strip() for name in args.workloads.split(",") if name.strip()]
    for name in names:
        if name not in sizes:
            raise SystemExit(f"unknown workload {name!r}; choose from {list(sizes)}")
    rounds = 1 if args.smoke else args.rounds
    before = os.getloadavg()
    results = {name: compare(name, *sizes[name], rounds) for name in names}
    after = os.getloadavg()
    print(
        f"\n{os.cpu_count()} cores; best of {rounds} round(s); load average (1, 5, 15 min) "
        f"before {before[0]:.1f} {before[1]:.1f} {before[2]:.1f}, "
        f"after {after[0]:.1f} {after[1]:.1f} {after[2]:.1f}"
    )
    print("\n".join(table(results, args.markdown)))


if __name__ == "__main__":
    main()

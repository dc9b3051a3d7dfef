"""A/B: fnn at an earlier commit against the working tree, on the benchmark workloads.

Each measurement is a fresh process running ``run.py --worker fnn WORKLOAD EPOCHS`` with
``PYTHONPATH`` pointing at one of the two ``fnn`` packages (the earlier one extracted with
``git archive``), alternating base and head so that both see the same machine load; the
best of the rounds is kept for each side. It answers "did this change make fnn slower?"
without the peers, which an A/B does not need. A tiny network's time varies by up to 1.5x
from one process to the next on the same tree (seen on both sides: where the process and its
buffers land), so keep several rounds and compare the bests.

    python benchmarks/ab.py --base a292b42
    python benchmarks/ab.py --base main --workloads moons-adam --epochs 2000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from run import run_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: Epochs per workload: long enough to dwarf process start-up, short enough for 4 rounds.
EPOCHS = {"moons-adam": 2000, "moons-gd": 2000, "mnist-shaped": 1}


def extract(revision: str, into: str) -> None:
    """``fnn/`` as it was at ``revision``, written below ``into``."""
    archive = subprocess.run(
        ["git", "archive", revision, "fnn"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)


def seconds(tree: str, workload: str, epochs: int) -> float:
    """One fresh-process measurement of fnn from ``tree``."""
    env = dict(os.environ, PYTHONPATH=tree)
    command = [sys.executable, str(HERE / "run.py"), "--worker", "fnn", workload, str(epochs)]
    record, _ = run_json(command, HERE / "peers", env, timeout=1800)
    if "error" in record:
        raise SystemExit(f"{workload} with fnn from {tree}: {record['error']}")
    return record["seconds"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--workloads", default=",".join(EPOCHS))
    parser.add_argument("--epochs", type=int, help="override every workload's epochs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as base:
        extract(args.base, base)
        trees = {"base": base, "head": str(ROOT)}
        print(f"{'workload':14} {'base s':>8} {'head s':>8} {'head / base':>11}  (best of "
              f"{args.rounds} alternating rounds; base = {args.base})")  # fmt: skip
        for workload in args.workloads.split(","):
            epochs = args.epochs or EPOCHS[workload]
            best = {"base": float("inf"), "head": float("inf")}
            for _ in range(args.rounds):
                for side, tree in trees.items():
                    best[side] = min(best[side], seconds(tree, workload, epochs))
            ratio = best["head"] / best["base"]
            print(f"{workload:14} {best['base']:8.4f} {best['head']:8.4f} {ratio:11.2f}")


if __name__ == "__main__":
    main()

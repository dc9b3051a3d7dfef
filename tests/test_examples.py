"""Every script in examples/ runs: in fast mode with its figures, and moons/optimizers at full length.

The scripts run as subprocesses, all started together on first use (they are independent and
mostly wait on their own kernels), so the module costs about as long as the slowest run.
The full-length runs make the accuracy claims of the docs part of CI: each script exits with
status 1 when it misses its target.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


class Case(NamedTuple):
    script: str
    args: tuple[str, ...]  # "{out}" stands for a fresh folder
    lines: tuple[str, ...]  # regular expressions, each matching a whole line of stdout
    figures: tuple[str, ...] = ()


CASES = {
    "moons-fast": Case(
        "moons.py",
        ("--fast", "--out", "{out}"),
        (r"epochs 1000 .*train accuracy 0\.\d+.*", r"test accuracy 0\.\d+"),
        ("moons_boundary.png", "moons_history.png"),
    ),
    "optimizers-fast": Case(
        "optimizers.py",
        ("--fast", "--out", "{out}"),
        tuple(
            rf"{name} +train accuracy 0\.\d+ .*" for name in ("mini-batch GD", "momentum", "adam")
        ),
        ("optimizers_loss.png",),
    ),
    "digits-fast": Case(
        "digits.py",
        ("--fast", "--out", "{out}"),
        (r"train 1221  validation 216  test 360 images", r"test accuracy 0\.\d+"),
        ("digits_history.png", "digits_confusion.png"),
    ),
    "sweep-fast": Case(
        "sweep.py",
        ("--fast", "--executor", "dask", "--out", "{out}"),
        (
            r"fast run: 5 epochs per trial instead of 100, .*",
            r"45 trials .* on a local Dask cluster of 2 worker processes: .* s",
            r"best setting: learning rate .*: 0\.\d+ ± 0\.\d+",
            r"best trial: .*",
        ),
        ("sweep_accuracy.png",),
    ),
    "regularized-fast": Case("regularized.py", ("--fast",), (r".*test accuracy 0\.\d+.*",)),
    "xor": Case("xor.py", (), (r"0 xor 0 = 0 .*", r"0 xor 1 = 1 .*", r"1 xor 1 = 0 .*")),
    # Full length: the scripts exit 1 below their targets (moons test accuracy 0.95, Adam 0.94,
    # digits test accuracy 0.96).
    "moons-full": Case("moons.py", (), (r"epochs 10000 .*", r"test accuracy (0\.\d+)")),
    "optimizers-full": Case("optimizers.py", (), (r"adam +train accuracy (0\.\d+) .*",)),
    "digits-full": Case("digits.py", (), (r"test accuracy (0\.\d+)",)),
}
# A written figure must be at least this big: a blank or broken figure is much smaller.
MIN_PNG_BYTES = 10_000
MIN_PNG_SIDE = 300


class Run(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    out: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start every case at once; return {case name: Run}."""
    started = {}
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "MPLBACKEND")}
    for name, case in CASES.items():
        folder = tmp_path_factory.mktemp(name)
        out = folder / "figures"
        args = [arg.replace("{out}", str(out)) for arg in case.args]
        stdout = open(folder / "stdout.txt", "w+")  # files, not pipes: no pipe can fill up
        stderr = open(folder / "stderr.txt", "w+")
        process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / case.script), *args],
            cwd=folder,
            env=env,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
        started[name] = (process, stdout, stderr, out)
    results = {}
    for name, (process, stdout, stderr, out) in started.items():
        process.wait(timeout=900)
        stdout.seek(0)
        stderr.seek(0)
        results[name] = Run(process.returncode, stdout.read(), stderr.read(), out)
        stdout.close()
        stderr.close()
    return results


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_every_example_is_covered():
    scripts = {path.name for path in EXAMPLES.glob("*.py")}
    assert scripts == {case.script for case in CASES.values()}, (
        "add the new example to CASES in tests/test_examples.py"
    )


@pytest.mark.parametrize("name", list(CASES))
def test_example_runs(runs, name):
    case, run = CASES[name], runs[name]
    assert run.returncode == 0, (
        f"{case.script} exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    )
    lines = run.stdout.splitlines()
    for pattern in case.lines:
        assert any(re.fullmatch(pattern, line) for line in lines), (
            f"no line of {case.script} matches {pattern!r}:\n{run.stdout}"
        )
    for figure in case.figures:
        path = run.out / figure
        assert path.is_file(), f"{case.script} did not write {figure}"
        width, height = png_size(path)
        assert width >= MIN_PNG_SIDE and height >= MIN_PNG_SIDE
        assert path.stat().st_size >= MIN_PNG_BYTES


def _score(run: Run, pattern: str) -> float:
    return max(float(m.group(1)) for m in re.finditer(pattern, run.stdout, flags=re.MULTILINE))


def test_moons_full_length_reaches_seed_003_accuracy(runs):
    assert _score(runs["moons-full"], r"^test accuracy (0\.\d+)$") >= 0.95


def test_optimizers_full_length_adam_reaches_seed_004_accuracy(runs):
    assert _score(runs["optimizers-full"], r"^adam +train accuracy (0\.\d+)") >= 0.94


def test_digits_full_length_reaches_its_target(runs):
    assert _score(runs["digits-full"], r"^test accuracy (0\.\d+)$") >= 0.96

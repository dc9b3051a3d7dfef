"""Every script in examples/ runs: in fast mode with its figures, and at full length.

The scripts run as subprocesses, all started together on first use (they are independent and
mostly wait on their own kernels), so the module costs about as long as the slowest run.
The full-length runs make the accuracy claims of the docs part of CI: each script exits with
status 1 when it misses its target. The fast runs must still learn: they are checked against
looser targets.
"""

import importlib.util
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


ACCURACY = r"[01]\.\d+"
FIT_USAGE = r"usage: {} \[-h\] \[--fast\] \[--out DIR\] \[--progress\]"
CASES = {
    # Every example takes the same flags (--progress where it trains with fit).
    **{
        f"{name}-help": Case(f"{name}.py", ("--help",), (FIT_USAGE.format(rf"{name}\.py"),))
        for name in ("moons", "optimizers", "regularized", "digits")
    },
    "xor-help": Case("xor.py", ("--help",), (r"usage: xor\.py \[-h\] \[--fast\] \[--out DIR\]",)),
    "sweep-help": Case(
        "sweep.py",
        ("--help",),
        (
            r"usage: sweep\.py \[-h\] \[--fast\] \[--out DIR\] \[--executor \{threads,joblib,dask\}\]",
        ),
    ),
    "ensemble-help": Case(
        "ensemble.py",
        ("--help",),
        (r"usage: ensemble\.py \[-h\] \[--fast\] \[--out DIR\] \[--threads THREADS\]",),
    ),
    "ensemble-fast": Case(
        "ensemble.py",
        ("--fast", "--out", "{out}"),
        (
            r"fast run: .*",
            r"64 members, 1,000 epochs each: .* s",
            rf"member train accuracy: min {ACCURACY}  median {ACCURACY}  max {ACCURACY}  .*",
            rf"ensemble train accuracy ({ACCURACY})",
            rf"on 1,000 new points: ensemble accuracy {ACCURACY}, .*",
        ),
        ("ensemble_boundary.png",),
    ),
    "moons-fast": Case(
        "moons.py",
        ("--fast", "--out", "{out}", "--progress"),
        (
            r"fast run: .*",
            rf"epochs 1000 .*train accuracy {ACCURACY}.*",
            rf"test accuracy ({ACCURACY})",
        ),
        ("moons_boundary.png", "moons_history.png"),
    ),
    "optimizers-fast": Case(
        "optimizers.py",
        ("--fast", "--out", "{out}", "--progress"),
        (
            r"fast run: .*",
            *(
                rf"{name} +train accuracy {ACCURACY} .*"
                for name in ("mini-batch GD", "momentum", "adam")
            ),
        ),
        ("optimizers_loss.png",),
    ),
    "digits-fast": Case(
        "digits.py",
        ("--fast", "--out", "{out}", "--progress"),
        (
            r"fast run: .*",
            r"train 1221  validation 216  test 360 images",
            rf"test accuracy {ACCURACY}",
        ),
        ("digits_history.png", "digits_confusion.png"),
    ),
    "regularized-fast": Case(
        "regularized.py",
        ("--fast", "--out", "{out}", "--progress"),
        (
            r"fast run: .*",
            rf"lambda = 0 +train accuracy {ACCURACY}  test accuracy {ACCURACY}",
            r"parameters stay float32",
        ),
        ("regularized_lambda.png", "regularized_validation.png"),
    ),
    "xor-fast": Case(
        "xor.py",
        ("--fast", "--out", "{out}"),
        (
            r"fast run: .*",
            r"0 xor 0 = 0 .*",
            r"0 xor 1 = 1 .*",
            r"1 xor 0 = 1 .*",
            r"1 xor 1 = 0 .*",
        ),
        ("xor.png",),
    ),
    "sweep-fast": Case(
        "sweep.py",
        ("--fast", "--executor", "dask", "--out", "{out}"),
        (
            r"fast run: 5 epochs per trial instead of 100, .*",
            r"45 trials .* on a local Dask cluster of 2 worker processes: .* s",
            rf"best setting: learning rate .*: ({ACCURACY}) ± {ACCURACY}",
            r"best trial: .*",
        ),
        ("sweep_accuracy.png",),
    ),
    # Full length: the scripts exit 1 below their targets (moons test accuracy 0.95, Adam and
    # the ensemble of 64 members 0.94, digits test accuracy 0.96, xor's four predictions).
    "moons-full": Case("moons.py", (), (r"epochs 10000 .*", rf"test accuracy ({ACCURACY})")),
    "optimizers-full": Case("optimizers.py", (), (rf"adam +train accuracy ({ACCURACY}) .*",)),
    "digits-full": Case("digits.py", (), (rf"test accuracy ({ACCURACY})",)),
    "regularized-full": Case("regularized.py", (), (r"lambda chosen on the validation rows: .*",)),
    "ensemble-full": Case("ensemble.py", (), (rf"ensemble train accuracy ({ACCURACY})",)),
    "xor-full": Case("xor.py", (), (r"0 xor 0 = 0 .*", r"0 xor 1 = 1 .*", r"1 xor 1 = 0 .*")),
    # sweep: the best setting's mean validation accuracy over 5 folds, at least 0.96.
    "sweep-full": Case("sweep.py", (), (rf"best setting: learning rate .*: ({ACCURACY}) ± .*",)),
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
    scripts = {path.name for path in EXAMPLES.glob("*.py") if not path.name.startswith("_")}
    assert scripts == {case.script for case in CASES.values()}, (
        "add the new example to CASES in tests/test_examples.py"
    )
    for script in scripts:  # a help, a fast and a full-length run of each
        runs = [name for name, case in CASES.items() if case.script == script]
        assert {name.rsplit("-", 1)[1] for name in runs} == {"help", "fast", "full"}, script


def test_out_without_matplotlib_fails_before_training(monkeypatch, capsys):
    """``--out`` without matplotlib stops at the command line, naming the extra to install."""
    spec = importlib.util.spec_from_file_location("_cli", EXAMPLES / "_cli.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert cli.parse("doc", ["--fast", "--out", "x"], fast="f").out == Path("x")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(SystemExit) as exit_:
        cli.parse("doc", ["--fast", "--out", "x"], fast="f")
    assert exit_.value.code == 2
    assert "--out needs matplotlib" in capsys.readouterr().err
    assert cli.parse("doc", ["--fast"], fast="f").out is None  # no --out, no matplotlib needed


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
    if "--progress" in case.args:  # the bar (or its plain line) shows the metrics on stderr
        assert "loss" in run.stderr, f"{case.script} --progress showed nothing:\n{run.stderr}"


def _score(run: Run, pattern: str) -> float:
    return max(float(m.group(1)) for m in re.finditer(pattern, run.stdout, flags=re.MULTILINE))


def test_moons_full_length_reaches_95_percent_test_accuracy(runs):
    assert _score(runs["moons-full"], r"^test accuracy (\S+)$") >= 0.95


def test_moons_fast_run_learns(runs):
    assert _score(runs["moons-fast"], r"^test accuracy (\S+)$") >= 0.9


def test_optimizers_full_length_adam_reaches_94_percent_train_accuracy(runs):
    assert _score(runs["optimizers-full"], r"^adam +train accuracy (\S+)") >= 0.94


def test_optimizers_fast_run_ranks_adam_first(runs):
    adam = _score(runs["optimizers-fast"], r"^adam +train accuracy (\S+)")
    sgd = _score(runs["optimizers-fast"], r"^mini-batch GD +train accuracy (\S+)")
    assert adam >= 0.9 and adam > sgd


def test_digits_full_length_reaches_its_target(runs):
    assert _score(runs["digits-full"], r"^test accuracy (\S+)$") >= 0.96


def test_sweep_full_length_reaches_its_target(runs):
    assert _score(runs["sweep-full"], r"^best setting: .*: (\S+) ± \S+$") >= 0.96


def test_sweep_fast_run_learns(runs):
    assert _score(runs["sweep-fast"], r"^best setting: .*: (\S+) ± \S+$") >= 0.9


def test_ensemble_full_length_reaches_94_percent_train_accuracy(runs):
    assert _score(runs["ensemble-full"], r"^ensemble train accuracy (\S+)$") >= 0.94


def test_ensemble_fast_run_learns(runs):
    assert _score(runs["ensemble-fast"], r"^ensemble train accuracy (\S+)$") >= 0.9


def test_digits_fast_run_learns(runs):
    assert _score(runs["digits-fast"], r"^test accuracy (\S+)$") >= 0.9


@pytest.mark.parametrize("length", ["fast", "full"])
def test_regularized_l2_raises_test_accuracy(runs, length):
    """The lambda chosen on validation rows tests higher than lambda = 0, on the same split."""
    stdout = runs[f"regularized-{length}"].stdout
    chosen = re.search(r"^lambda chosen on the validation rows: (\S+)$", stdout, re.MULTILINE)
    assert chosen and float(chosen.group(1)) > 0, stdout
    test = {
        float(m.group(1)): float(m.group(2))
        for m in re.finditer(
            r"^lambda = (\S+) +train accuracy \S+  test accuracy (\S+)$", stdout, re.MULTILINE
        )
    }
    assert set(test) == {0.0, float(chosen.group(1))}, stdout
    assert test[float(chosen.group(1))] > test[0.0], stdout

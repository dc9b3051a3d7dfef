"""Say so, once, when a kernel is about to be compiled (its first use with an empty disk cache).

Numba compiles a kernel for each new combination of argument types, which takes seconds, and
keeps the result on disk (``fnn/__pycache__``). A process whose call finds the machine code
neither in memory nor on disk would otherwise sit silent for that long, so the call sites of
the entry kernels ask :func:`announce` first: one line on stderr, nothing when the cache is warm.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

from fnn import shipped


def disk_cache_usable() -> bool:
    """Whether Numba can keep fnn's kernels on disk; if not, warn (one line) and say how.

    Numba caches a function in the first of ``$NUMBA_CACHE_DIR``, the package's
    ``__pycache__`` and ``~/.cache/numba`` that it can write to (it tries to create a file),
    and refuses to define a cached function when there is none: a deployment with all three
    read-only would fail at ``import fnn``. The kernels then go uncached (compiled in every
    process) instead; no warning when the kernels a wheel ships serve (:mod:`fnn.shipped`:
    they load from a read-only package, and nothing compiles). The probe is a function of
    this directory, as the kernels are, so Numba looks in the same places for both.
    """
    from numba import njit

    def probe():  # pragma: no cover - never called, only given a cache
        pass

    try:
        njit(cache=True)(probe)
    except RuntimeError as error:
        if "no locator available" not in str(error):
            raise
        if shipped.why_not_served() is None:  # nothing to compile: the wheel's kernels serve
            return False
        warnings.warn(
            "fnn: Numba can write its cache nowhere (NUMBA_CACHE_DIR, the package's __pycache__ "
            "and ~/.cache/numba are read-only), so every process compiles the kernels "
            "(seconds each); set NUMBA_CACHE_DIR to a writable directory, ideally "
            "a copy of one warmed with `python -m fnn.warm`",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return True


def will_compile(kernel, args: tuple, dtype_arg: int) -> bool:
    """True when ``kernel(*args)`` must compile: its code is neither in memory nor on disk.

    ``args[dtype_arg]`` is the float array whose dtype selects the compiled version, or a
    tuple of such arrays (the first is read); the API normalises every other argument, so
    that dtype is what distinguishes the versions.
    A dispatcher that looks unfamiliar (``NUMBA_DISABLE_JIT``, another Numba) gives False:
    better no notice than a wrong one.
    """
    overloads = getattr(kernel, "overloads", None)
    if overloads is None:
        return False
    dtype = _first(args[dtype_arg]).dtype.name
    # In memory already: the common, fast case. dict.keys, not the OrderedDict's own
    # iteration, which hashes every key again (costly for the engine's types: benchmarks/
    # README.md, "Measurements behind the kernel's constants").
    for types in dict.keys(overloads):
        if str(getattr(_first(types[dtype_arg]), "dtype", "")) == dtype:
            return False
    cache = getattr(kernel, "_cache", None)
    layers = getattr(cache, "layers", (cache,))  # the shipped kernels, then Numba's own cache
    try:
        signature = tuple(kernel.typeof_pyval(arg) for arg in args)
        codegen = kernel.targetctx.codegen()
        return not any(_holds(layer, signature, codegen) for layer in layers)
    except Exception:  # noqa: BLE001 - any surprise means "unknown", which stays silent
        return False


def _holds(cache, signature, codegen) -> bool:
    """Whether one of Numba's per-function disk caches (private API, hence the callers'
    guard) holds the code of ``signature``; a NullCache (no disk cache) holds nothing."""
    if type(cache).__name__ == "NullCache":
        return False
    return cache._index_key(signature, codegen) in cache._cache_file._load_index()


def _first(value):
    """``value``, or the first item of a bundle: a tuple of arrays, or Numba's type of one."""
    while isinstance(value, tuple) or hasattr(value, "types"):
        value = value[0]
    return value


def announce(kernel, args: tuple, dtype_arg: int, purpose: str, on_compile=None, file=None) -> bool:
    """When ``kernel(*args)`` must compile first, say so in one line on stderr and compile it
    now, timed (the time is kept for the next notices); return whether it compiled.

    Parameters
    ----------
    kernel : numba dispatcher
    args : tuple
        The arguments of the coming call.
    dtype_arg : int
        Index of the float array (or tuple of arrays, the first read) that fixes the dtype of
        the compiled version.
    purpose : str
        What the user called, e.g. ``"fit"``, ``"grad"``.
    on_compile : callable, optional
        Called after the notice, before compiling (a progress display says "compiling").
    file : text stream, optional
        Default ``sys.stderr``.
    """
    if not will_compile(kernel, args, dtype_arg):
        return False
    dtype = _first(args[dtype_arg]).dtype.name
    name = getattr(kernel, "__name__", "a kernel")
    own_cache = getattr(getattr(kernel, "_cache", None), "cache_path", None)
    kept = "once: then kept in Numba's disk cache" if own_cache else "no disk cache: every process"
    why_not = shipped.why_not_served() if shipped.PRESENT else None
    unserved = f"; the kernels shipped with fnn cannot serve: {why_not}" if why_not else ""
    print(
        f"fnn: compiling {KERNELS.get(name, name)} ({dtype}) for {purpose}, about "
        f"{expected_seconds(name, dtype, own_cache):.0f} s on this machine ({kept}{unserved})",
        file=sys.stderr if file is None else file,
        flush=True,
    )
    if on_compile is not None:
        on_compile()
    started = time.perf_counter()
    kernel.compile(tuple(kernel.typeof_pyval(arg) for arg in args))
    _remember(own_cache, name, dtype, time.perf_counter() - started)
    return True


#: What the notice calls each entry kernel.
KERNELS = {
    "train_and_evaluate": "the engine",
    "train_and_evaluate_full": "the engine's full variant",
    "train_and_evaluate_threaded": "the engine's threaded variant",
    "update": "opt_step's update",
    "train_members": "fit_many's kernel of members side by side",
}
#: Seconds each entry kernel took to compile into an empty cache on the reference machine, and
#: that machine's time for :func:`_probe` in the same process (benchmarks/README.md, "Compile
#: times"): where this machine has compiled nothing yet, the notice scales them by its probe.
REFERENCE_SECONDS = {
    "train_and_evaluate": 10.0,
    "train_and_evaluate_full": 13.0,
    "train_and_evaluate_threaded": 27.0,
    "update": 1.5,
    "train_members": 21.0,
}
REFERENCE_PROBE = 0.0037
#: The file, in Numba's cache folder of the kernels, that keeps their measured compile times.
RECORD = "fnn-compile-seconds.json"


def expected_seconds(name: str, dtype: str, cache_folder: str | None) -> float:
    """How long kernel ``name`` should take to compile in ``dtype`` here: the time it took
    last on this machine (in either dtype), else the reference machine's time scaled by how
    fast this machine runs :func:`_probe` now."""
    times = _record(cache_folder).get(name, {})
    if times:
        return times.get(dtype, max(times.values()))
    return REFERENCE_SECONDS.get(name, max(REFERENCE_SECONDS.values())) * _probe() / REFERENCE_PROBE


def _probe() -> float:
    """Seconds this machine takes now for a fixed piece of pure-Python work (best of 3): most
    of a Numba compile is Python (typing and lowering), so its time scales with this."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(100_000):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return best


def _record(cache_folder: str | None) -> dict:
    if not cache_folder:
        return {}
    try:
        return json.loads((Path(cache_folder) / RECORD).read_text())
    except (OSError, ValueError):
        return {}


def _remember(cache_folder: str | None, name: str, dtype: str, seconds: float) -> None:
    """Keep ``seconds`` as kernel ``name``'s compile time in ``dtype``, beside its cache;
    silently nothing where that folder cannot be written (the notice then estimates)."""
    if not cache_folder or Path(cache_folder) == shipped.FOLDER:  # the wheel's build: no record
        return
    record = _record(cache_folder)
    record.setdefault(name, {})[dtype] = round(seconds, 2)
    path = Path(cache_folder) / RECORD
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(record, indent=1, sort_keys=True))
        os.replace(temporary, path)  # whole, even with another process writing it
    except OSError:
        pass

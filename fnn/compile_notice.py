"""Say so, once, when a kernel is about to be compiled (its first use with an empty disk cache).

Numba compiles a kernel for each new combination of argument types, which takes seconds, and
keeps the result on disk (``fnn/__pycache__``). A process whose call finds the machine code
neither in memory nor on disk would otherwise sit silent for that long, so the call sites of
the entry kernels ask :func:`announce` first: one line on stderr, nothing when the cache is warm.
"""

from __future__ import annotations

import sys
import warnings

from fnn import shipped

#: A rough first-use compile time of one entry kernel on a 2-core machine, for the notice.
ROUGH_SECONDS = "10-30 s"


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
            f"({ROUGH_SECONDS} per dtype); set NUMBA_CACHE_DIR to a writable directory, ideally "
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


def announce(kernel, args: tuple, dtype_arg: int, purpose: str, file=None) -> bool:
    """Print one line on stderr when ``kernel(*args)`` is about to compile; return whether.

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
    file : text stream, optional
        Default ``sys.stderr``.
    """
    if not will_compile(kernel, args, dtype_arg):
        return False
    dtype = _first(args[dtype_arg]).dtype.name
    why_not = shipped.why_not_served() if shipped.PRESENT else None
    unserved = f"; the kernels shipped with fnn cannot serve: {why_not}" if why_not else ""
    print(
        f"fnn: compiling the {dtype} kernels for {purpose} (first use with an empty cache, "
        f"roughly {ROUGH_SECONDS}; cached on disk for later runs{unserved})",
        file=sys.stderr if file is None else file,
        flush=True,
    )
    return True

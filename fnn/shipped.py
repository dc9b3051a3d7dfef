"""Kernels compiled when the wheel is built and shipped inside it, loaded instead of compiling.

A wheel built from the repository (``python -m build --wheel``, or ``pip install .``, which
builds one) runs :func:`fnn.build_shipped.build` in its build environment: every entry kernel of
:mod:`fnn.kernels` is compiled for both dtypes, for a portable x86-64 CPU with AVX2
(LLVM's ``x86-64-v3``: Intel since Haswell, 2013; AMD since Zen, 2017), into Numba's own cache
format, in ``fnn/_shipped/`` of the wheel. At run time each entry kernel looks there first
(:func:`attach`), then in Numba's usual cache, and compiles only when neither has its code.

Why a Numba cache and not ``numba.pycc``: pycc compiles one signature per function and no
parallel loop, returns no tuples of arrays, and its functions hold the GIL (fnn's Ctrl-C
watcher and ``fit_many``'s threads need it released); a cache keeps the same dispatchers, the
same compiled code (hence the same bits) and every kernel, threaded ones included.

Numba keys its cache by the host CPU's name and features. The shipped code is compiled for
``x86-64-v3`` and filed under that target (:data:`TARGET`); it is served wherever the host CPU
has every feature of the target, whatever the host is called, and only to fnn's own kernels
(this module sets no Numba option for the process: the user's own Numba code compiles for
the host as before). Where the shipped code cannot serve (another CPU, Numba or Python
version, or an editable install, which has no ``_shipped`` folder), the kernels compile as
before and the compile notice says why (:func:`why_not_served`).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from numba.core import caching, codegen, config

#: Where the wheel keeps the shipped kernels (absent in a checkout and an editable install).
FOLDER = Path(__file__).resolve().parent / "_shipped"
#: The Python and Numba versions the shipped kernels were compiled with (Numba's cache serves
#: only those: its index is stamped with the Numba version, its file names with Python's).
STAMP = FOLDER / "BUILT_FOR"
#: Whether this install has shipped kernels (a wheel's; not a checkout's, nor an editable
#: install's; nor, in the build that makes them, before they are made).
PRESENT = STAMP.is_file()
#: The CPU the shipped code is compiled for: LLVM's x86-64-v3 (AVX2, FMA, BMI1/2, F16C, LZCNT,
#: MOVBE, and SSE up to 4.2), with exactly these features, so that the build is the same on
#: any build machine. (The kernels' fast-maths policy allows no fused multiply-add, so FMA
#: changes no bit.)
CPU = "x86-64-v3"
FEATURES = (
    "+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+crc32,+cx16,+cx8,+f16c,+fma,+fxsr,+lzcnt,+mmx,+movbe,"
    "+popcnt,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave"
)
TRIPLE = "x86_64-unknown-linux-gnu"
#: Numba's description of a code generator (its cache key's "magic tuple") for that target.
TARGET = (TRIPLE, CPU, FEATURES)


@functools.cache
def why_not_served() -> str | None:
    """Why the shipped kernels cannot serve this process, or None when they can."""
    if not PRESENT:
        return "this install has no shipped kernels (a checkout or an editable install)"
    if config.CACHE_LOCATOR_CLASSES:
        return "NUMBA_CACHE_LOCATOR_CLASSES is set"
    if config.DISABLE_JIT:
        return "NUMBA_DISABLE_JIT is set"
    from llvmlite import binding

    triple = binding.get_process_triple()
    if triple.split("-")[0] != TRIPLE.split("-")[0] or "linux" not in triple:
        return f"they are built for {TRIPLE}, this is {triple}"
    host = set(codegen.get_host_cpu_features().split(","))
    missing = [feature[1:] for feature in FEATURES.split(",") if feature not in host]
    if missing:
        return f"this CPU lacks {', '.join(missing)} (they need an x86-64 CPU with AVX2)"
    built_for = _built_for()
    here = this_process()
    if built_for != here:
        return f"they are built for {built_for}, this is {here}"
    return None


def this_process() -> str:
    import numba

    return f"Python {sys.version_info[0]}.{sys.version_info[1]}, Numba {numba.__version__}"


def _built_for() -> str:
    return STAMP.read_text().strip() if STAMP.is_file() else "an unknown Python and Numba"


class _Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """The wheel's ``fnn/_shipped`` folder, which may be read-only: nothing is created there
    but by the wheel's build (:mod:`fnn.build_shipped`)."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno

    def ensure_cache_path(self):
        os.makedirs(FOLDER, exist_ok=True)  # called only when saving, which only the build does

    def get_cache_path(self):
        return str(FOLDER)

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file)


class _Impl(caching.CompileResultCacheImpl):
    _locator_classes = [_Locator]


class ShippedCache(caching.FunctionCache):
    """Numba's cache of one kernel, in the shipped folder and filed under :data:`TARGET`
    whatever the host CPU is called (:func:`attach` has checked the host has its features;
    the build, that Numba generates code for that target)."""

    _impl_class = _Impl

    def _index_key(self, sig, codegen):
        sig, _host, hashes = super()._index_key(sig, codegen)
        return sig, TARGET, hashes


class _ShippedThenOwn(caching._Cache):
    """A kernel's cache: the shipped code first, then Numba's own cache, which alone is
    written (the shipped folder is read-only at run time)."""

    def __init__(self, shipped: ShippedCache, own: caching._Cache):
        self.shipped, self.own = shipped, own
        self.layers = (shipped, own)  # where a kernel's code may be, in the order looked

    @property
    def cache_path(self):
        return self.own.cache_path

    def load_overload(self, sig, target_context):
        loaded = self.shipped.load_overload(sig, target_context)
        return loaded if loaded is not None else self.own.load_overload(sig, target_context)

    def save_overload(self, sig, data):
        self.own.save_overload(sig, data)

    def enable(self):
        self.own.enable()

    def disable(self):
        self.own.disable()

    def flush(self):
        self.own.flush()


def attach(dispatcher):
    """Let ``dispatcher`` (an entry kernel) load its code from the shipped folder first;
    returns it. Without shipped kernels that serve this process, it is left as it is."""
    if why_not_served() is None:
        dispatcher._cache = _ShippedThenOwn(ShippedCache(dispatcher.py_func), dispatcher._cache)
    return dispatcher

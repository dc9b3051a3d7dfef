"""Compile fnn's entry kernels into the shipped folder: ``python -m fnn.build_shipped``.

The wheel's build (``setup.py``) runs it on the copy of the package that goes into the wheel.
It compiles in a child process with the environment :func:`environment` gives: Numba
generating code for :data:`fnn.shipped.TARGET` (never for the build machine's own CPU), and
its own cache in a scratch folder, so that the helpers' cache files stay out of the package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from numba.core.registry import cpu_target

from fnn import kernels, shipped, warm


def build() -> None:
    """Run every entry kernel once per dtype (:func:`fnn.warm.warm`) with its cache in
    :data:`fnn.shipped.FOLDER`, then stamp the folder with the Python and Numba versions."""
    generating_for = cpu_target.target_context.codegen().magic_tuple()
    if generating_for != shipped.TARGET:
        raise SystemExit(
            f"fnn.build_shipped: Numba generates code for {generating_for}, not for "
            f"{shipped.TARGET}; run it with the environment fnn.build_shipped.environment() gives"
        )
    for kernel in kernels.ENTRIES:
        kernel._cache = shipped.ShippedCache(kernel.py_func)  # Numba's per-kernel cache
    warm.warm(threaded=True)
    shipped.STAMP.write_text(shipped.this_process() + "\n")


def environment(scratch_cache: str) -> dict[str, str]:
    """The environment of :func:`build`'s process: Numba generating code for
    :data:`fnn.shipped.TARGET`, with its own cache in the folder ``scratch_cache``."""
    return {
        **os.environ,
        "NUMBA_CPU_NAME": shipped.CPU,
        "NUMBA_CPU_FEATURES": shipped.FEATURES,
        "NUMBA_CACHE_DIR": scratch_cache,
    }


def main() -> None:
    """Build in a child process with :func:`environment` (this process's Numba has read its
    configuration already), then say where the kernels went."""
    if os.environ.get("NUMBA_CPU_NAME") == shipped.CPU:  # the child
        build()
        return
    with tempfile.TemporaryDirectory() as scratch:
        env = {**environment(scratch), "PYTHONDONTWRITEBYTECODE": "1"}
        subprocess.run([sys.executable, "-m", "fnn.build_shipped"], env=env, check=True)
    size = sum(path.stat().st_size for path in shipped.FOLDER.iterdir()) / 1e6
    print(f"fnn: kernels compiled for {shipped.CPU} into {shipped.FOLDER} ({size:.1f} MB)")


if __name__ == "__main__":
    main()

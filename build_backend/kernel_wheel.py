"""fnn's build backend: setuptools', plus the kernels compiled into every wheel.

A wheel (``python -m build --wheel``, or ``pip install .``, which builds one) carries fnn's
entry kernels compiled for any x86-64 CPU with AVX2 (:mod:`fnn.shipped`), so that its users
train without compiling; such a wheel is tagged for the Python and platform it was built on.
Compiling them needs fnn's runtime dependencies in the build environment, so only a wheel's
build asks for them: an editable install (which ships nothing: its kernels compile on first
use, into the checkout) builds as fast as a plain setuptools project. ``FNN_SHIP_KERNELS=0``
builds a pure wheel without kernels.
"""

import os
import subprocess
import sys
from pathlib import Path

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F403 - every hook of setuptools' backend
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py

#: fnn's runtime dependencies, needed to compile its kernels (pyproject.toml's
#: ``dependencies``; tests/test_shipped.py checks the two lists agree).
RUNTIME = ["numpy>=2.0", "numba>=0.60", "scipy>=1.11"]


def shipping() -> bool:
    """Whether a wheel built here ships compiled kernels (on Linux, unless turned off)."""
    return os.environ.get("FNN_SHIP_KERNELS", "1") != "0" and sys.platform == "linux"


def get_requires_for_build_wheel(config_settings=None):
    extra = RUNTIME if shipping() else []
    return build_meta.get_requires_for_build_wheel(config_settings) + extra


class BuildPyWithKernels(build_py):
    """build_py, then ``python -m fnn.build_shipped`` on the package copied into the build."""

    def run(self):
        super().run()
        if self.editable_mode or not shipping():
            return
        # From the build's copy: ``python -m`` puts the working directory first on the path,
        # so from the project root the checkout's own fnn/ would be imported.
        build_lib = str(Path(self.build_lib).resolve())
        subprocess.run([sys.executable, "-m", "fnn.build_shipped"], cwd=build_lib, check=True)


class PlatformWheel(bdist_wheel):
    """A wheel that ships compiled kernels is tagged for its Python and platform."""

    def finalize_options(self):
        super().finalize_options()
        if shipping():
            self.root_is_pure = False

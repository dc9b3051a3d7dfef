"""The wheel's build step beyond pyproject.toml: ship the kernels compiled.

A wheel (``python -m build --wheel``, or ``pip install .``, which builds one) carries fnn's
entry kernels compiled for any x86-64 CPU with AVX2 (:mod:`fnn.shipped`), so that its users
train without compiling; such a wheel is tagged for the Python and platform it was built on.
An editable install, or ``FNN_SHIP_KERNELS=0``, builds a pure wheel without them: its kernels
compile on first use, as a checkout's do.
"""

import os
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py


def shipping() -> bool:
    return os.environ.get("FNN_SHIP_KERNELS", "1") != "0" and sys.platform == "linux"


class BuildWithKernels(build_py):
    """build_py, then ``python -m fnn.build_shipped`` on the package copied into the build."""

    def run(self):
        super().run()
        if self.editable_mode or not shipping():
            return
        build_lib = str(Path(self.build_lib).resolve())
        # Run from the build's copy (``python -m`` puts the working directory first on the
        # path, so the checkout's own fnn/ would be imported from the project root).
        subprocess.run([sys.executable, "-m", "fnn.build_shipped"], cwd=build_lib, check=True)


class WithCompiledCode(Distribution):
    """A wheel that ships compiled kernels is tagged for its Python and platform."""

    def has_ext_modules(self):
        return shipping()


setup(cmdclass={"build_py": BuildWithKernels}, distclass=WithCompiledCode)

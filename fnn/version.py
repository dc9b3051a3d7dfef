"""The version of fnn (``fnn.__version__``; pyproject.toml states the same)."""

__version__ = "0.1.0"

"""The documentation: docs/api.md is current and complete; every ```python block runs as written."""

import importlib.util
import inspect
import re
import textwrap
from pathlib import Path

import pytest

import fnn

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^( *)```python[ \t]*\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)


def _make_api():
    spec = importlib.util.spec_from_file_location("make_api", ROOT / "docs" / "make_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_current():
    current = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert current == _make_api().render(), "docs/api.md is stale: run python docs/make_api.py"


def _documented_names():
    names = [f"fnn.{name}" for name in fnn.__all__ if not inspect.ismodule(getattr(fnn, name))]
    pytest.importorskip("matplotlib")
    from fnn import plot

    for module in (fnn.testing, plot):
        names += [
            f"{module.__name__}.{name}"
            for name, obj in vars(module).items()
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and name[0] != "_"
        ]
    return names


def test_api_reference_covers_every_public_name():
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    missing = [name for name in _documented_names() if f"### `{name}`" not in text]
    assert not missing, f"docs/api.md lacks {missing}"
    for name in ("plot.history", "plot.decision_boundary", "testing.check_grads"):
        assert f"### `fnn.{name}`" in text


def test_every_public_name_has_a_docstring():
    objects = {name: getattr(fnn, name) for name in fnn.__all__}
    bare = [name for name, obj in objects.items() if callable(obj) and not inspect.getdoc(obj)]
    assert not bare, f"public names without a docstring: {bare}"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, code) of every ```python block of a Markdown text."""
    return [
        (text.count("\n", 0, match.start(2)) + 1, textwrap.dedent(match.group(2)))
        for match in FENCE.finditer(text)
    ]


def test_block_extraction():
    sample = "text\n```python\nx = 1\n```\n\n  ```python\n  y = 2\n  ```\n```bash\nls\n```\n"
    assert python_blocks(sample) == [(3, "x = 1\n"), (7, "y = 2\n")]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_markdown_python_blocks_run_as_written(path, tmp_path, monkeypatch):
    """The blocks of one file run in order in one namespace, as a reader pastes them."""
    if not path.exists():
        pytest.skip(f"{path.name} does not exist")
    monkeypatch.chdir(tmp_path)  # blocks may write files (figures, saved networks)
    namespace = {"__name__": "__main__"}
    for line, code in python_blocks(path.read_text(encoding="utf-8")):
        compiled = compile(code, f"{path.name}, block at line {line}", "exec")
        try:
            exec(compiled, namespace)
        except Exception as error:
            raise AssertionError(
                f"{path.name}: the block at line {line} fails: {error!r}"
            ) from error

"""The package's walls, read from the source with ``ast``: no module of fnn uses a private name
of another, none imports the package top (only ``fnn/__init__.py`` gathers the public names),
and the imports between fnn's modules, at the top or inside functions, form no cycle."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fnn"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _modules(package: Path) -> dict[str, ast.Module]:
    """{module name: syntax tree} of every ``.py`` file of the package directory."""
    return {
        "fnn" if path.stem == "__init__" else f"fnn.{path.stem}": ast.parse(
            path.read_text(encoding="utf-8"), filename=str(path)
        )
        for path in sorted(package.glob("*.py"))
    }


def _imports(module: str, tree: ast.Module, modules: set[str]):
    """``(line, importer's local name or None, imported fnn module, imported name or None)``
    for every import of fnn in ``tree`` (at the top or inside a function); the imported module
    is ``"fnn"`` for the package top's re-exported names."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "fnn" or alias.name.startswith("fnn."):
                    local = alias.asname or alias.name.split(".")[0]
                    target = alias.name if alias.asname else "fnn"  # ``import fnn.x`` binds fnn
                    yield node.lineno, local, target, None
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:  # relative: fnn has no subpackages, so every level names fnn
                source = "fnn" + (f".{source}" if source else "")
            if source != "fnn" and not source.startswith("fnn."):
                continue
            for alias in node.names:
                local = alias.asname or alias.name
                submodule = f"{source}.{alias.name}"
                if source == "fnn" and submodule in modules:  # ``from fnn import checks``
                    yield node.lineno, local, submodule, None
                else:
                    yield node.lineno, local, source, alias.name


def _findings(package: Path = PACKAGE) -> dict[str, list[str]]:
    """The breaches of the walls, by kind: ``private``, ``top`` and ``cycles``."""
    trees = _modules(package)
    names = set(trees)
    private, top, graph = [], [], {name: set() for name in names}
    for module, tree in trees.items():
        bound = {}  # local name -> the fnn module it stands for
        for line, local, target, name in _imports(module, tree, names):
            where = f"{module}:{line}"
            if target != module:
                graph[module].add(target)
            if target == "fnn" and module != "fnn":
                top.append(f"{where} imports {'fnn' if name is None else f'{name} from fnn'}")
            if name is not None and _is_private(name) and target != module:
                private.append(f"{where} {target}.{name}")
            if name is None:
                bound[local] = target
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and bound[node.value.id] != module
                and _is_private(node.attr)
            ):
                private.append(f"{module}:{node.lineno} {bound[node.value.id]}.{node.attr}")
    return {"private": private, "top": top, "cycles": _cycles(graph)}


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """The import cycles of ``graph``: each strongly connected component of two or more
    modules (Tarjan's algorithm), as its sorted module names."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(" <-> ".join(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_scan_sees_every_kind_of_breach(tmp_path):
    """The checks below can fail: a made-up package with one breach of each kind."""
    (tmp_path / "__init__.py").write_text("from fnn.a import f\n")
    (tmp_path / "a.py").write_text("from fnn import b\n\ndef f():\n    return b._g()\n")
    (tmp_path / "b.py").write_text(
        "import fnn\nfrom fnn.a import _h\n\ndef _g():\n    from fnn import a\n    return a\n"
    )
    found = _findings(tmp_path)
    assert found["private"] == ["fnn.a:4 fnn.b._g", "fnn.b:2 fnn.a._h"]
    assert found["top"] == ["fnn.b:1 imports fnn"]
    assert found["cycles"] == ["fnn <-> fnn.a <-> fnn.b"]


def test_no_module_uses_a_private_name_of_another():
    assert _findings()["private"] == []


def test_no_module_imports_the_package_top():
    assert _findings()["top"] == []


def test_the_modules_import_one_another_without_a_cycle():
    assert _findings()["cycles"] == []

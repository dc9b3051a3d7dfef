"""Write docs/api.md, the API reference, from the docstrings of fnn.

    python docs/make_api.py          # rewrite docs/api.md
    python docs/make_api.py --check  # exit 1 if docs/api.md is out of date

Covers every name in ``fnn.__all__`` plus the public functions of ``fnn.testing`` and
``fnn.plot``, grouped by the module that defines them, in source order. Numpydoc sections
become small headings and bullet lists, doctest examples become ``pycon`` code blocks, and
Sphinx roles (``:func:`fnn.fit```) become links within the page. tests/test_docs.py fails
when the file is stale.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
import types
from collections.abc import Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "api.md"

#: Sections of the page: (module, title, lead sentence). Every public name lands in the
#: section of the module that defines it.
SECTIONS = (
    ("fnn.model", "Networks", "Specify a network, draw its parameters and run it forward."),
    ("fnn.summary", "Summaries", "A network's layers, parameters and bytes at a glance."),
    ("fnn.losses", "Losses and gradients", "Mean losses, accuracy and gradients over a batch."),
    ("fnn.optim", "Optimizers", "Optimizer configs, their state and updates."),
    ("fnn.schedules", "Schedules", "Learning rates as functions of the update count."),
    ("fnn.train", "Training", "`fit`: mini-batches, whole epochs at a time in the engine."),
    ("fnn.epochs", "Between epochs", "Early stopping and reduce-on-plateau, watched every epoch."),
    ("fnn.lbfgs", "L-BFGS", "Full-batch L-BFGS for `fit`, through SciPy."),
    ("fnn.data", "Data", "Keys, mini-batches and standardisation."),
    ("fnn.labels", "Labels", "Class labels of any kind to and from the codes 0 .. k-1."),
    ("fnn.registry", "Registries", "The names of every activation, loss, optimizer and scheme."),
    ("fnn.metrics", "Metrics", "scikit-learn's evaluation metrics as pure functions."),
    ("fnn.folds", "Cross-validation folds", "Validation folds of k or of a scikit-learn splitter."),
    ("fnn.sweeps", "Sweeps", "Settings x keys x folds of `fit` on threads, joblib, Dask or Ray."),
    ("fnn.tuning", "Ray Tune", "A trainable that reports every epoch, for `ray.tune.Tuner`."),
    ("fnn.ensembles", "Ensembles", "Many members of one network in one call, and their mean."),
    ("fnn.io", "Saving and loading", "Networks as `.npz` archives, never pickle."),
    ("fnn.export", "Deploying", "ONNX models, PyTorch modules and C headers of a trained network."),
    ("fnn.sklearn_interop", "scikit-learn", "Fitted scikit-learn MLPs from a network, and back."),
    ("fnn.types", "Data types", "Immutable NamedTuples holding read-only arrays."),
    ("fnn.testing", "fnn.testing", None),
    ("fnn.plot", "fnn.plot", None),
)
SECTION_HEADERS = {
    "Parameters", "Returns", "Yields", "Raises", "Attributes", "Examples", "Notes",
    "See Also", "References", "Warns", "Other Parameters",
}  # fmt: skip
LIST_SECTIONS = {"Parameters", "Returns", "Yields", "Raises", "Attributes", "Other Parameters"}


def public_names(fnn) -> dict[str, list[tuple[str, object]]]:
    """{module name: [(qualified name, object), ...]} in source order."""
    grouped: dict[str, list[tuple[int, str, object]]] = {module: [] for module, _, _ in SECTIONS}
    for name in fnn.__all__:
        obj = getattr(fnn, name)
        if isinstance(obj, types.ModuleType):
            continue  # fnn.testing: documented as its own section
        module = defining_module(fnn, name, obj)
        grouped.setdefault(module, []).append((source_line(module, name, obj), f"fnn.{name}", obj))
    for module_name in ("fnn.testing", "fnn.plot"):
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if (
                not name.startswith("_")
                and inspect.isfunction(obj)
                and obj.__module__ == module_name
            ):
                grouped[module_name].append((source_line(module_name, name, obj),
                                             f"{module_name}.{name}", obj))  # fmt: skip
    return {module: [(q, o) for _, q, o in sorted(items)] for module, items in grouped.items()}


def defining_module(fnn, name: str, obj) -> str:
    """The fnn submodule defining ``obj`` (for data: the one holding it under ``name``)."""
    module = getattr(obj, "__module__", None)
    is_definition = inspect.isroutine(obj) or inspect.isclass(obj)
    if is_definition and isinstance(module, str) and module.startswith("fnn."):
        return module
    candidates = sorted((c for c, _, _ in SECTIONS), key=lambda c: c != "fnn.registry")
    for candidate in candidates:  # a registry is defined in fnn.registry, imported elsewhere
        if getattr(importlib.import_module(candidate), name, None) is obj:
            return candidate
    raise LookupError(f"cannot tell which module defines fnn.{name}")


def source_line(module: str, name: str, obj) -> int:
    """Line of the definition, to keep source order; data: the line assigning ``name``."""
    try:
        return inspect.getsourcelines(obj)[1]
    except (TypeError, OSError):
        pass
    lines = inspect.getsource(importlib.import_module(module)).splitlines()
    for number, line in enumerate(lines, 1):
        if re.match(rf"{re.escape(name)}\s*[:=]", line):
            return number
    return 10**9


def data_comment(module: str, name: str) -> str:
    """The ``#:`` comment lines right above ``name = ...`` in ``module``."""
    lines = inspect.getsource(importlib.import_module(module)).splitlines()
    for index, line in enumerate(lines):
        if re.match(rf"{re.escape(name)}\s*[:=]", line):
            comment = []
            while index > 0 and lines[index - 1].startswith("#:"):
                index -= 1
                comment.insert(0, lines[index][2:].strip())
            return " ".join(comment)
    return ""


def signature(qualified: str, obj) -> str:
    """``fnn.fit(net, params, opt, X, y, epochs=100, ...)`` without type annotations."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return qualified
    parts, star_done = [], False
    for param in sig.parameters.values():
        if param.kind is param.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if param.kind is param.VAR_POSITIONAL:
            star_done = True
            parts.append(f"*{param.name}")
        elif param.kind is param.VAR_KEYWORD:
            parts.append(f"**{param.name}")
        elif param.default is param.empty:
            parts.append(param.name)
        else:
            parts.append(f"{param.name}={default_text(param.default)}")
    text = f"{qualified}({', '.join(parts)})"
    if len(text) <= 88:
        return text
    return f"{qualified}(\n" + "".join(f"    {part},\n" for part in parts) + ")"


def default_text(value) -> str:
    if isinstance(value, type) and value.__module__ == "numpy":
        return f"np.{value.__name__}"
    return repr(value)


def inline(text: str) -> str:
    """reST inline markup as Markdown: roles to links, double backticks to single."""

    def role(match: re.Match) -> str:
        target = match.group(2).lstrip("~")
        anchor = target if target.startswith("fnn.") else f"fnn.{target}"
        if match.group(1) == "mod":
            return f"[`{target}`](#{section_id(anchor)})"
        return f"[`{target}`](#{anchor_id(anchor)})"

    text = re.sub(r":(func|class|data|mod|meth|attr):`([^`]+)`", role, text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def anchor_id(qualified: str) -> str:
    """Anchor of a name (case kept: ``fnn.SGD`` and ``fnn.sgd`` are different names)."""
    return qualified.replace(".", "-")


def section_id(module: str) -> str:
    return "section-" + module.replace(".", "-")


def docstring_markdown(doc: str) -> str:
    """A numpydoc docstring as Markdown."""
    lines = doc.splitlines()
    out: list[str] = []
    section = None
    example: list[str] = []
    items: list[list[str]] = []  # [head, description lines...] of a Parameters-like list

    def flush():
        if example:
            while example and not example[-1].strip():
                example.pop()
            out.extend(["```pycon", *example, "```", ""])
            example.clear()
        if items:
            for head, *description in items:
                text = " ".join(inline(part) for part in description)
                out.append(f"- {head}" + (f": {text}" if text else ""))
            out.append("")
            items.clear()

    index = 0
    while index < len(lines):
        line = lines[index]
        underline = lines[index + 1] if index + 1 < len(lines) else ""
        if line.strip() in SECTION_HEADERS and re.fullmatch(r"\s*-{3,}\s*", underline):
            flush()
            section = line.strip()
            if out and out[-1]:
                out.append("")
            out.extend([f"**{section}**", ""])
            index += 2
            continue
        index += 1
        if section == "Examples" and (line.startswith(">>>") or (example and line.strip())):
            example.append(line)
            continue
        if section in LIST_SECTIONS:
            if not line.strip():
                continue
            if not line.startswith(" "):
                name, _, kind = line.partition(" : ")
                head = f"`{name.strip()}`" + (f" ({inline(kind.strip())})" if kind else "")
                items.append([head])
            elif items:
                items[-1].append(line.strip())
            continue
        flush()
        out.append(inline(line))
    flush()
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def entry(module: str, qualified: str, obj) -> str:
    """The Markdown of one public name."""
    short = qualified.rsplit(".", 1)[1]
    heading = f'<a id="{anchor_id(qualified)}"></a>\n### `{qualified}`\n'
    if callable(obj) and not isinstance(obj, Mapping):
        body = f"```text\n{signature(qualified, obj)}\n```\n\n"
        doc = inspect.getdoc(obj) or ""
        if inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, "_fields"):
            if doc.startswith(f"{obj.__name__}("):
                doc = ""  # namedtuple's generated docstring says nothing new
            body += f"A NamedTuple with fields {', '.join(f'`{f}`' for f in obj._fields)}.\n\n"
        body += docstring_markdown(doc) if doc else ""
        return heading + "\n" + body
    comment = inline(data_comment(module, short))
    if isinstance(obj, Mapping):
        body = registry_table(obj)
    else:
        body = f"`{obj!r}`"
    return heading + "\n" + (f"{comment}\n\n" if comment else "") + body + "\n"


def registry_table(registry: Mapping) -> str:
    """A Markdown table of a name registry: one row per name, one column per property."""

    def cell(value) -> str:
        if isinstance(value, Mapping):
            return ", ".join(value) or "-"
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # an export form's own text
            value = str(value)
        if isinstance(value, tuple):
            return ", ".join(map(str, value)) or "-"
        if inspect.isclass(value):
            return f"`{value.__name__}`"
        return f"`{' '.join(str(value).split())}`".replace("|", "\\|")  # code on one line

    first = next(iter(registry.values()))
    if not hasattr(first, "_fields"):
        return "A mapping keyed by name: " + ", ".join(f"`{key!r}`" for key in registry) + "."
    fields = [
        f
        for f in first._fields
        if not callable(getattr(first, f)) or inspect.isclass(getattr(first, f))
    ]
    lines = ["| name | " + " | ".join(fields) + " |", "|---" * (len(fields) + 1) + "|"]
    for name, value in registry.items():
        lines.append(f"| `{name}` | " + " | ".join(cell(getattr(value, f)) for f in fields) + " |")
    return "\n".join(lines)


def render() -> str:
    sys.path.insert(0, str(HERE.parent))
    import fnn

    grouped = public_names(fnn)
    parts = [
        "# API reference\n",
        "<!-- Generated by docs/make_api.py from the docstrings: do not edit by hand. -->\n",
        "Every public name of `fnn` (`fnn.__all__`), of `fnn.testing` and of the optional "
        "`fnn.plot` (`pip install 'fnn[plot]'`). Regenerate this page with "
        "`python docs/make_api.py` after changing a docstring; the tests fail while it is "
        "out of date.\n",
    ]
    toc = []
    for module, title, _ in SECTIONS:
        links = ", ".join(f"[`{q.rsplit('.', 1)[1]}`](#{anchor_id(q)})" for q, _ in grouped[module])
        toc.append(f"- **[{title}](#{section_id(module)})**: {links}")
    parts.append("\n".join(toc) + "\n")
    for module, title, lead in SECTIONS:
        parts.append(f'<a id="{section_id(module)}"></a>\n## {title}\n')
        if lead is None:
            doc = inspect.getdoc(importlib.import_module(module)) or ""
            parts.append(docstring_markdown(doc))
        else:
            parts.append(f"{lead} Defined in `{module}`.\n")
        for qualified, obj in grouped[module]:
            parts.append(entry(module, qualified, obj))
    text = "\n".join(parts).rstrip() + "\n"
    # Links to names this page does not document (private helpers, other modules) become
    # plain code.
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))

    def unlink(match: re.Match) -> str:
        return match.group(0) if match.group(2) in anchors else match.group(1)

    return re.sub(r"\[(`[^`]+`)\]\(#([^)]+)\)", unlink, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if api.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run python docs/make_api.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

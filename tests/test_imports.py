"""No import cycles in lazyllm/ or app/: the graph of the project's own imports, read from the source.

Every ``import`` statement counts, at module level and inside functions (a deferred import still ties
two modules together: whichever loads first, the other must not need it half-initialised). An edge
goes to the module an import names (``from . import speed`` in ``lazyllm.eval`` is
``lazyllm.eval.speed``; ``from .config import X`` is ``lazyllm.config``), not to the packages above
it, which Python initialises first anyway. Importing ``lazyllm`` itself pulls neither plotly nor
gradio: tests/eval/test_harness_cli.py checks that in a fresh interpreter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lazyllm", "app")


def module_name(path: Path, root: Path) -> str:
    """lazyllm/eval/tasks/__init__.py -> lazyllm.eval.tasks; app/ui.py -> app.ui."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_sources(root: Path = ROOT, packages=PACKAGES) -> dict[str, tuple[str, bool]]:
    """module -> (source, is a package) for every .py file of the packages."""
    out = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            out[module_name(path, root)] = (path.read_text(encoding="utf-8"), path.name == "__init__.py")
    return out


def imported_modules(module: str, source: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules that `module` imports anywhere in its source."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {_known_prefix(alias.name, known) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else _known_prefix(base, known))
    found.discard(None)
    found.discard(module)
    return found


def _absolute(name: str | None, level: int, package: str) -> str:
    if level == 0:
        return name or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{name}" if name else base


def _known_prefix(name: str, known: set[str]) -> str | None:
    """The longest project module that `name` is or lies in (None for a module of another project)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in known:
            return ".".join(parts[:i])
    return None


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    known = set(sources)
    return {m: imported_modules(m, src, pkg, known) for m, (src, pkg) in sources.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> b -> ... -> a) through every strongly connected group of modules (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(group, graph) for group in groups]


def _cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle in {group}")


def test_the_walker_sees_relative_deferred_and_aliased_imports():
    sources = {
        "pkg": ("", True),
        "pkg.cli": ("from .extras import f\ndef main():\n    from .sub import commands\n", False),
        "pkg.extras": ("import os\n", False),
        "pkg.sub": ("", True),
        "pkg.sub.commands": ("from ..cli import main\nimport pkg.extras as e\nfrom . import tool\n", False),
        "pkg.sub.tool": ("from pkg import extras\nimport numpy\n", False),
    }
    graph = import_graph(sources)
    assert graph["pkg.cli"] == {"pkg.extras", "pkg.sub.commands"}
    assert graph["pkg.sub.commands"] == {"pkg.cli", "pkg.extras", "pkg.sub.tool"}
    assert graph["pkg.sub.tool"] == {"pkg.extras"}
    assert cycles(graph) == [["pkg.cli", "pkg.sub.commands", "pkg.cli"]]
    sources["pkg.cli"] = ("from .extras import f\n", False)
    assert cycles(import_graph(sources)) == []


def test_the_graph_covers_every_module():
    graph = import_graph(project_sources())
    assert {"lazyllm", "lazyllm.cli", "lazyllm.eval.commands", "lazyllm.eval.tasks.passkey", "app.ui"} <= set(
        graph
    )
    assert "lazyllm.extras" in graph["lazyllm.eval.commands"]  # require_extra, shared with lazyllm.cli
    assert "lazyllm.eval.commands" in graph["lazyllm.cli"]  # the deferred import in build_parser


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package):
    found = [c for c in cycles(import_graph(project_sources())) if any(m.split(".")[0] == package for m in c)]
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)

"""The package's layers: dependencies point one way, each library sits in one layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pts_optimiser"
# Each layer may import these layers of ours (docs/architecture.md).
MAY_IMPORT = {
    "domain": {"domain"},
    "io": {"domain", "io"},
    "engine": {"domain", "io", "engine"},
    "check": {"domain", "io", "check"},
    "views": {"domain", "io", "views"},
    "services": {"domain", "io", "engine", "check", "views", "services"},
    "cli": {"domain", "io", "engine", "check", "views", "services", "cli"},
}
# Third-party libraries that live behind one layer (or one service).
LIBRARY_HOME = {"ortools": "engine", "pandas": "io", "folium": "views", "openpyxl": "views",
                "fastapi": "services.web", "starlette": "services.web",
                "uvicorn": "services.web", "dask": "services.sweep", "distributed":
                "services.sweep", "geopy": "check", "numba": "engine.kernels"}
LONGEST_FUNCTION = 100


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_vendor" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in MAY_IMPORT else "cli"


def _imports(tree: ast.Module, top_level_only: bool = False) -> set[str]:
    names: set[str] = set()
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


MODULES = _modules()


def _ours(module: str, names: set[str]) -> set[str]:
    return {n for n in names if n in MODULES and n != module and n != "pts_optimiser"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module: str) -> None:
    """A module imports only its own layer and those below it (lazy imports included)."""
    wrong = sorted(n for n in _ours(module, _imports(MODULES[module]))
                   if _layer(n) not in MAY_IMPORT[_layer(module)])
    assert wrong == [], f"{module} ({_layer(module)}) imports {wrong}"


def test_no_import_cycles() -> None:
    """No two modules import each other, directly or round a longer loop."""
    graph = {m: _ours(m, _imports(tree)) for m, tree in MODULES.items()}
    # A package's __init__ importing its own submodules is not a cycle of design.
    graph = {m: {n for n in deps if not n.startswith(m + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle.extend([*path[path.index(nxt):], nxt] if nxt in path else [node, nxt])
                return True
            if nxt not in state and visit(nxt, [*path, nxt]):
                return True
        state[node] = 2
        return False

    assert not any(visit(m, [m]) for m in sorted(graph) if m not in state), " -> ".join(cycle)


@pytest.mark.parametrize("library", sorted(LIBRARY_HOME))
def test_each_library_sits_behind_one_layer(library: str) -> None:
    """The engine alone imports ortools, io alone pandas, the views alone folium, and so on."""
    home = "pts_optimiser." + LIBRARY_HOME[library]
    users = sorted(m for m, tree in MODULES.items()
                   if any(n == library or n.startswith(library + ".")
                          for n in _imports(tree))
                   and not (m == home or m.startswith(home + ".")))
    assert users == [], f"{library} is imported outside {home}: {users}"


def test_no_function_is_longer_than_a_screen() -> None:
    """No function or method is longer than about 100 lines."""
    long = []
    for module, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > LONGEST_FUNCTION:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert long == [], long

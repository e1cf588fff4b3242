"""Import arrows point down: no import circles between modules, and each package imports only
packages of a lower layer (docs/architecture.md, "Layers"). Read from the source with ``ast``,
imports inside functions included, so a deferred import cannot hide an upward arrow."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import wavetag

ROOT = Path(wavetag.__file__).parent

# Lowest first. A package may import its own modules and any package of a lower layer; packages in
# the same layer never import each other, except in the first (the foundation modules, whose order
# the no-cycle test keeps).
LAYERS = [
    {"wavetag", "errors", "lazy", "registry", "jsonfile", "outputs", "config", "audio", "tasks", "metric_names"},
    {"frontends"},
    {"augment", "data"},
    {"models"},
    {"inference"},
    {"evaluate"},
    {"train"},
    {"export", "semi", "explore"},
    {"serve", "demo"},
    {"cli"},
    {"__main__"},
]
LAYER = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "wavetag"


def _under_type_checking(tree: ast.Module) -> set[int]:
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            inside.update(id(n) for n in ast.walk(node))
    return inside


def import_graph() -> dict[str, set[str]]:
    """Module -> the wavetag modules it imports (anywhere in the file, TYPE_CHECKING blocks aside)."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _under_type_checking(tree)
        for node in ast.walk(tree):
            if id(node) in skip or not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles(import_graph()) == []


def test_every_package_has_a_layer():
    packages = {_package(m) for m in import_graph()} | {p.stem for p in ROOT.glob("*.py")} - {"__init__"}
    assert packages <= set(LAYER), f"add {sorted(packages - set(LAYER))} to LAYERS"


def test_imports_point_down_the_layers():
    upward = sorted(
        f"{a} -> {b}" for a, targets in import_graph().items() for b in targets if _upward(_package(a), _package(b))
    )
    assert upward == []


def _upward(a: str, b: str) -> bool:
    return a != b and (LAYER[b] > LAYER[a] or (LAYER[b] == LAYER[a] and LAYER[a] > 0))


def test_the_checker_sees_a_circle_and_an_upward_arrow():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _upward("evaluate", "train") and _upward("export", "semi") and not _upward("train", "evaluate")
    assert not _upward("config", "registry")

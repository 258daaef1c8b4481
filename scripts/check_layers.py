#!/usr/bin/env python3
"""Checks the package's architecture from its source: no import cycle between modules or between packages, and
no import from a lower layer to a higher one (docs/architecture.md; the README's layout section).

Every `import` and `from … import` in `otel_honeyhive/` counts, wherever it is (module level, inside a function,
under `TYPE_CHECKING`): a lazy import is still a dependency. Prints what it finds and exits 1 on a violation.

    python scripts/check_layers.py [--graph]
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = "otel_honeyhive"

LAYERS: dict[str, int] = {
    "core": 0,
    "mapper": 1,
    "shipping": 1,
    "outputs": 2,
    "pipeline": 3,
    "inputs": 4,
    "server": 5,
    "cli": 6,
    "<root>": 7,
}
"""A layer may import its own package and the layers with a lower number; packages on the same level (the
mapper and shipping) may not import each other. `<root>` is the package's `__init__` (the public API, loaded
lazily) and `_version`, which every layer may read."""

SHARED = {f"{PACKAGE}._version"}
"""Modules any layer may import (the version string)."""


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, modules: Mapping[str, Path]) -> set[str]:
    """The package's modules that `path` imports (a `from pkg import mod` names the module `pkg.mod`)."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            candidates = [target, *(f"{target}.{alias.name}" for alias in node.names)]
        else:
            continue
        for candidate in candidates:
            # `import a.b.c` depends on the deepest of a.b.c, a.b, a that is one of our modules
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "<root>"


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def check(root: Path) -> tuple[list[str], dict[str, set[str]]]:
    """Violations (empty when the architecture holds) and the module graph."""
    modules = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph = {name: imports_of(path, name, modules) for name, path in modules.items()}
    problems: list[str] = []
    for component in cycles(graph):
        problems.append("import cycle between modules: " + " ↔ ".join(component))
    packages: dict[str, set[str]] = defaultdict(set)
    for name, targets in graph.items():
        for target in targets:
            if target in SHARED:
                continue
            source_layer, target_layer = layer_of(name), layer_of(target)
            if source_layer != target_layer:
                packages[source_layer].add(target_layer)
            if source_layer == target_layer or source_layer == "<root>":
                continue
            if LAYERS[target_layer] >= LAYERS[source_layer]:
                problems.append(
                    f"{name} imports {target}: {source_layer} (layer {LAYERS[source_layer]}) may not import "
                    f"{target_layer} (layer {LAYERS[target_layer]})"
                )
    for component in cycles(packages):
        problems.append("import cycle between packages: " + " ↔ ".join(component))
    return problems, graph


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="also print which layer imports which")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent / PACKAGE
    problems, graph = check(root)
    if args.graph:
        edges: dict[str, set[str]] = defaultdict(set)
        for name, targets in graph.items():
            for target in targets - SHARED:
                if layer_of(name) != layer_of(target):
                    edges[layer_of(name)].add(layer_of(target))
        for layer in sorted(edges, key=lambda name: -LAYERS[name]):
            print(f"{layer:>9} → {', '.join(sorted(edges[layer], key=lambda name: -LAYERS[name]))}")
    for problem in problems:
        print(problem)
    print(f"{len(graph)} modules: " + ("no cycles, every import downward" if not problems
                                        else f"{len(problems)} violations"))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

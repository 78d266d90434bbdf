"""The layer rules of docs/design.md §1, checked on the source: every import (function-level ones
included) points down the layers, the import graph has no cycle, and no module uses another
module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("benchmark", "datasets", "methods")

# Lowest first. A module may import its own layer and the layers below, never above.
LAYERS = [
    ("core", ("benchmark", "benchmark.core", "benchmark.specs")),
    ("models", ("benchmark.models",)),
    ("datasets", ("datasets",)),
    ("methods", ("methods",)),
    ("training", ("benchmark.training",)),
    ("evaluation", ("benchmark.evaluation",)),
    ("orchestration", ("benchmark.orchestration",)),
    ("reporting", ("benchmark.reporting",)),
    ("cli", ("benchmark.cli",)),
]
# Same rank: datasets and methods do not know each other (both sit on core + models).
RANK = {
    "core": 0,
    "models": 1,
    "datasets": 2,
    "methods": 2,
    "training": 3,
    "evaluation": 4,
    "orchestration": 5,
    "reporting": 6,
    "cli": 7,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def layer_of(mod: str) -> str:
    best = ("", "")
    for layer, prefixes in LAYERS:
        for pre in prefixes:
            if (mod == pre or mod.startswith(pre + ".")) and len(pre) > len(best[1]):
                best = (layer, pre)
    assert best[0], f"{mod} is in no layer; add it to LAYERS"
    return best[0]


def resolve(name: str, known: set[str]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(mod: str, path: Path, known: set[str]) -> list[tuple[str, str, int]]:
    """(imported module, imported name or '', line) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                target = resolve(a.name, known)
                if target:
                    out.append((target, "", node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in known:
                    out.append((sub, "", node.lineno))
                else:
                    target = resolve(base, known)
                    if target:
                        out.append((target, a.name, node.lineno))
    return [(t, n, line) for t, n, line in out if t != mod]


@pytest.fixture(scope="module")
def graph():
    mods = modules()
    known = set(mods)
    return mods, {m: imports(m, p, known) for m, p in mods.items()}


def test_every_import_points_down_the_layers(graph):
    _, edges = graph
    bad = []
    for src, targets in edges.items():
        for dst, _, line in targets:
            ls, ld = layer_of(src), layer_of(dst)
            if RANK[ld] > RANK[ls] or (RANK[ld] == RANK[ls] and ls != ld):
                bad.append(f"{src}:{line} ({ls}) imports {dst} ({ld})")
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_import_graph_has_no_cycle(graph):
    _, edges = graph
    cycles = strongly_connected({m: {d for d, _, _ in t} for m, t in edges.items()})
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_imports_another_modules_private_names(graph):
    mods, edges = graph
    bad = [
        f"{src}:{line} imports {dst}.{name}"
        for src, targets in edges.items()
        for dst, name, line in targets
        if name.startswith("_") and not name.startswith("__")
    ]
    for src, path in mods.items():  # `module._name` on an imported project module
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in mods:
                        aliases[a.asname or a.name] = a.name
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    if f"{node.module}.{a.name}" in mods:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                bad.append(f"{src}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def test_the_checker_sees_a_planted_upward_import_and_cycle():
    # The rules must be able to fail: an upward import and a two-module cycle are both reported.
    assert RANK[layer_of("datasets.base")] < RANK[layer_of("benchmark.orchestration.runner")]
    assert strongly_connected({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert layer_of("benchmark.specs") == "core" and layer_of("benchmark.models.tokens") == "models"

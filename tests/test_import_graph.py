"""The import graph of pgjax: no cycles, and no module imports from a layer above its own.

Every module under ``pgjax/`` is parsed with :mod:`ast` (nothing is imported), and every ``import`` and
``from ... import`` in it counts, at module level or inside a function (a lazy import is still a dependency),
with relative imports resolved. ``from pgjax import io`` counts as an import of ``pgjax.io``;
``from pgjax.x import name`` as an import of ``pgjax.x`` (or of ``pgjax.x.name`` when that is a module).
``pgjax/__init__.py`` is left out of the graph: it only re-exports lazily, and every ``from pgjax import y``
is read as an import of ``pgjax.y``.

Layers, lowest first; a module may import modules of its own layer or of lower layers only:

0. foundations, which import no other layer: ``errors`` (the user-facing error classes),
   ``tree_util`` (pytree helpers), ``returns`` (discounted returns and rewards-to-go, which problems and
   estimators both compute), ``cli_support`` (what every command shares: the one-line error, tyro parsing,
   the compilation cache), ``threefry`` (the fast path's key implementation, which estimators recognise);
1. ``problems``: the objectives with exact gradients (bandits, LQR, test functions, environments), and
   ``envs``: the environments in JAX that ``problems.environment`` turns into objectives, with ``brax_envs``
   (brax's environments behind the same protocol);
2. ``estimators``: the gradient estimators, which work on problems, and ``mc``: optax.monte_carlo's interface
   (per-sample Jacobians, control variates), built on the estimators;
3. what works on numbers and files only, never on problems or estimators: ``analysis`` (``stats`` and
   ``bootstrap``: tables and intervals) and ``io`` (the results folder: atomic writes, table schema and renderings, raw
   estimates, manifest and provenance), so the machinery above can save and read without the reverse;
4. the machinery that runs estimators: ``engine`` (``sweep``: sweeps; ``grid``: sweeps over named axes;
   ``cells``: resumable cells), ``styles`` (figure styles), ``policies`` (the policy networks of training);
5. what is built from that machinery: ``experiment`` (the contract and saving), ``plotting`` (figures),
   ``training`` (training loops), ``bench`` (the benchmarks package);
6. ``explain``: the worked walkthrough of ``pgjax explain``, and ``experiments``: the built-in experiments
   (found through their entry point, never imported by the library below them);
7. ``cli``: the ``pgjax`` command, which may import everything.

Besides modules, the units of the table (a subpackage such as ``problems`` counted as one) must not import
each other in a cycle either, so a subpackage can be read, tested and moved as a whole.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "pgjax"

#: The layer of each module, by the first name below ``pgjax`` (a package covers its submodules; a name ending
#: in ``*`` covers every module whose name starts with it).
LAYERS = {
    "errors": 0,
    "tree_util": 0,
    "returns": 0,
    "cli_support": 0,
    "threefry": 0,
    "problems": 1,
    "envs": 1,
    "brax_envs": 1,
    "estimators": 2,
    "mc": 2,
    "analysis": 3,
    "io": 3,
    "engine": 4,
    "styles": 4,
    "policies": 4,
    "experiment": 5,
    "plotting": 5,
    "training": 5,
    "bench": 5,
    "explain": 6,
    "experiments": 6,
    "launch": 6,
    "cli": 7,
}


def module_name(path: Path) -> str:
    parts = ["pgjax", *path.relative_to(ROOT).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The pgjax modules that the module ``name`` (at ``path``) imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import pgjax.a.b.c` where c is a name: its module
                target = target.rpartition(".")[0]
            if target and target != "pgjax" and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items() if name != "pgjax"}


def layer(name: str) -> int:
    first = unit(name)
    for key, value in LAYERS.items():
        if key == first or (key.endswith("*") and first.startswith(key[:-1])):
            return value
    raise AssertionError(f"{name} has no layer: add it to LAYERS (and the docstring) in {__file__}")


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def unit(name: str) -> str:
    """The unit of the layer table a module belongs to: its first name below ``pgjax``."""
    return name.split(".")[1]


def unit_graph(edges: dict[str, set[str]]) -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]:
    """(unit -> units it imports, (unit, unit) -> the module imports behind that edge)."""
    units: dict[str, set[str]] = {}
    behind: dict[tuple[str, str], list[str]] = {}
    for source, targets in sorted(edges.items()):
        units.setdefault(unit(source), set())
        for target in sorted(targets):
            if unit(source) != unit(target):
                units[unit(source)].add(unit(target))
                behind.setdefault((unit(source), unit(target)), []).append(f"{source} -> {target}")
    return units, behind


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{source} (layer {layer(source)}) -> {target} (layer {layer(target)})"
        for source, targets in sorted(edges.items())
        for target in sorted(targets)
        if layer(target) > layer(source)
    ]


def test_the_graph_is_read():
    edges = graph()
    assert "pgjax.cli" in edges and "pgjax.experiment" in edges["pgjax.cli"]  # a function-level import
    assert "pgjax.errors" in edges["pgjax.experiment"]  # a module-level import
    assert "pgjax.explain.numbers" in edges["pgjax.explain.command"]


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_cycle_between_units():
    units, behind = unit_graph(graph())
    cycle = find_cycle(units)
    if cycle is not None:
        steps = [f"{a} -> {b} ({'; '.join(behind[a, b])})" for a, b in zip(cycle, cycle[1:])]
        raise AssertionError("import cycle between units: " + " -> ".join(cycle) + "\n  " + "\n  ".join(steps))


def test_every_module_has_a_layer():
    for name in graph():
        layer(name)


def test_no_module_imports_from_a_higher_layer():
    violations = upward_imports(graph())
    assert not violations, "imports from a higher layer:\n  " + "\n  ".join(violations)

"""The import graph of the project's packages: no cycle among module-level imports.

Function-local imports are counted apart: they hide cycles from the interpreter, not from a
reader. ``python -m pytest tests/test_imports.py -s`` prints the strongly connected components of
the whole graph (function-local imports included) and how many imports are local.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dppmg", "baselines", "benchmark")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _targets(name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules importing ``name`` runs: the module it refers to (a name inside a module
    refers to that module) and every package above it, whose ``__init__`` runs first."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    out = set()
    while name:
        if name in modules:
            out.add(name)
        name = name.rpartition(".")[0]
    return out


def import_graph(module_level_only: bool) -> tuple[dict[str, set[str]], int, int]:
    """(module -> the project modules it imports, imports between project modules, of them inside functions)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    total = local = 0
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        top = {id(node) for node in tree.body}
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from a.b import c`: the submodule a.b.c where there is one, else a.b.
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            targets = set().union(*(_targets(n, modules) for n in names if n.split(".")[0] in PACKAGES)) - {name}
            # A module's own packages have run before it: importing them is no edge.
            targets -= {name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)}
            if not targets:
                continue
            total += 1
            local += id(node) not in top
            if id(node) in top or not module_level_only:
                edges |= targets
        graph[name] = edges
    return graph, total, local


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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


def test_no_cycle_among_module_level_imports():
    graph, _, _ = import_graph(module_level_only=True)
    assert len(graph) > 100
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_cycle_even_through_function_local_imports():
    graph, total, local = import_graph(module_level_only=False)
    hidden = cycles(graph)
    print(f"\n{total} imports between project modules, {local} inside functions; cycles through them: "
          + ("; ".join(f"{len(c)} modules: {', '.join(c)}" for c in hidden) or "none"))
    assert hidden == [], "a function-local import hides an import cycle (printed above)"


# The entry modules resolve a run's config and hand it down; the stage packages take their config.
ENTRY_MODULES = {"dppmg.config", "dppmg.registry", "dppmg.methods", "dppmg.train", "dppmg.interface", "dppmg.cli"}
STAGE_PACKAGES = ("dppmg.infra.", "dppmg.data.", "dppmg.preference.", "dppmg.generation.", "dppmg.reward.",
                  "dppmg.evaluation.")
# What is left of the old loop: name-based conveniences inside a stage that resolve the preset
# table themselves (each a public function a notebook or plugin calls by name), and the
# evaluation driver, which instantiates a method by name. No new entry may join them.
STAGE_TO_ENTRY_LEFT = {
    ("dppmg.generation.backbones", "dppmg.config"),  # load_backbones(name, preset, seed), the plugins' API
    ("dppmg.generation.prerequisites", "dppmg.config"),  # require_image_backbone(name, preset), for notebooks
    ("dppmg.reward.model", "dppmg.config"),  # load_or_train_reward_model(data, preset)
    ("dppmg.evaluation.evaluator", "dppmg.config"),  # load_or_train_evaluator(data, preset)
    ("dppmg.evaluation.evaluate", "dppmg.config"), ("dppmg.evaluation.evaluate", "dppmg.registry"),
}


def test_stages_do_not_import_the_entry_modules():
    graph, _, _ = import_graph(module_level_only=False)
    found = {(m, t) for m, targets in graph.items() if m.startswith(STAGE_PACKAGES)
             for t in targets if t in ENTRY_MODULES}
    assert found <= STAGE_TO_ENTRY_LEFT, f"a stage imports an entry module: {sorted(found - STAGE_TO_ENTRY_LEFT)}"

"""The import graph of the project's packages: no cycle among module-level imports.

Function-local imports are counted apart: they hide cycles from the interpreter, not from a
reader. ``python -m pytest tests/test_imports.py -s`` prints the strongly connected components of
the whole graph (function-local imports included) and how many imports are local.
"""

from __future__ import annotations

import ast
import subprocess
import sys
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


def _imported(node: ast.AST) -> list[str] | None:
    """The dotted names an import statement imports (``None`` for any other node, and for a
    relative import): ``from a.b import c`` is the submodule a.b.c where there is one, else a.b."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [f"{node.module}.{a.name}" for a in node.names]
    return None


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
            names = _imported(node)
            if names is None:
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


# Third-party libraries whose import costs real time (torch alone about a second and a half); a
# function-local import of a project module is there to keep one of them out of its importer.
HEAVY = {"torch", "torchvision", "transformers", "diffusers", "sentence_transformers", "tokenizers", "safetensors",
         "huggingface_hub", "llama_cpp", "gguf", "efficientnet_lite_pytorch", "torch_geometric", "numpy", "pandas",
         "scipy", "sklearn", "skimage", "PIL", "matplotlib", "seaborn", "tqdm", "filelock", "yaml", "jinja2",
         "fastapi", "starlette", "pydantic", "uvicorn", "httpx", "multipart", "nbformat", "papermill", "nbclient",
         "jupyter_client", "IPython", "ipywidgets", "submitit", "selenium", "psutil"}
# The command lines import each command's stage inside the command, so that `--help` and a light
# command stay fast (hoisting them put FastAPI, through the study app, on every `dppmg` call).
COMMAND_LINES = {"dppmg.cli", "benchmark.cli"}


def _module_level(modules: dict[str, Path]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per module, the project modules and the third-party top-level packages its module-level
    statements import (inside top-level ``if`` / ``try`` blocks too, not inside functions)."""
    project, external = {}, {}
    for name, path in modules.items():
        tree, mine, theirs = ast.parse(path.read_text()), set(), set()
        for stmt in tree.body:
            if not isinstance(stmt, (ast.Import, ast.ImportFrom, ast.If, ast.Try)):
                continue
            for names in filter(None, map(_imported, ast.walk(stmt))):
                mine |= set().union(*(_targets(n, modules) for n in names if n.split(".")[0] in PACKAGES)) - {name}
                theirs |= {n.split(".")[0] for n in names if n.split(".")[0] not in PACKAGES}
        project[name], external[name] = mine, theirs
    return project, external


def _loaded_by(name: str, project: dict[str, set[str]]) -> set[str]:
    """The project modules importing ``name`` runs at module level (its packages' included)."""
    parts = name.split(".")
    out = {name} | {".".join(parts[:k]) for k in range(1, len(parts)) if ".".join(parts[:k]) in project}
    todo = list(out)
    while todo:
        for target in project.get(todo.pop(), ()):
            if target not in out:
                out.add(target)
                todo.append(target)
    return out


def test_function_local_imports_keep_a_heavy_library_out_of_their_module():
    modules = _modules()
    project, external = _module_level(modules)
    heavy = lambda loaded: {lib for m in loaded for lib in external[m]} & HEAVY  # noqa: E731
    needless = []
    for name, path in modules.items():
        if name in COMMAND_LINES:
            continue
        tree = ast.parse(path.read_text())
        mine = _loaded_by(name, project)
        for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in (n for n in ast.walk(func) if isinstance(n, ast.ImportFrom) and n.module and not n.level):
                targets = set().union(*(_targets(f"{node.module}.{a.name}", modules) for a in node.names)) - {name}
                if node.module.split(".")[0] not in PACKAGES or not targets:
                    continue
                brings = set().union(*(_loaded_by(t, project) for t in targets)) - mine
                if not heavy(brings) - heavy(mine):
                    needless.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import ...")
    assert not needless, "function-local imports that keep no heavy library out (move them to the top):\n" + \
        "\n".join(sorted(set(needless)))


def test_import_blocks_are_sorted_as_pyproject_says():
    """Standard library, third party, then this project, each sorted (``[tool.ruff.lint.isort]``);
    ``ruff check --fix`` sorts a block that is not."""
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr

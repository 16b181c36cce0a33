"""The import rule of docs/architecture.md, checked on the code itself.

Homes, from the top down (a module may import its own home and any lower layer):
    app     wit_pipeline.cli, wit_pipeline.run   (the dispatcher, and `wit run`/`demo`/`report` on top of it)
    stages  queries, dedup, wit_pipeline.harvest, wit_pipeline.download, wit_pipeline.train
    clip    wit_pipeline.clip
    shards  shards
    core    wit_pipeline.core (and the package's own `__version__`)
A stage reaches another stage only through that stage's `schema` module. Plain logic
modules (everything but `command.py`, `pipeline.py` and core's Beam glue) do not import
apache_beam. No import cycles. Modules stay readable (line limit below).
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("wit_pipeline", "queries", "dedup", "shards")
STAGE = 4
HOMES = {  # home -> layer rank (higher imports lower)
    "wit_pipeline.cli": 5, "wit_pipeline.run": 5,
    "queries": STAGE, "dedup": STAGE, "wit_pipeline.harvest": STAGE, "wit_pipeline.download": STAGE,
    "wit_pipeline.train": STAGE,
    "wit_pipeline.clip": 3,  # reads eval sets stored as shards
    "shards": 2,
    "wit_pipeline.core": 1, "wit_pipeline": 1,
}
# Same-layer imports that are the design, not an accident.
SAME_LAYER = {
    ("wit_pipeline.run", "wit_pipeline.cli"),  # `wit run` chains the stages through the dispatcher
    ("wit_pipeline.core", "wit_pipeline"),  # the package's __version__ (User-Agent)
}
# Core's Beam glue: filesystems, pipeline options and metrics are Beam's own APIs.
BEAM_GLUE = {"wit_pipeline.core.files", "wit_pipeline.core.options", "wit_pipeline.core.counters"}
BEAM_MODULE_NAMES = {"command", "pipeline"}
MAX_LINES = 450


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def home_of(module: str) -> str:
    best = ""
    for home in HOMES:
        if (module == home or module.startswith(home + ".")) and len(home) > len(best):
            best = home
    return best


def _imports(module: str, path: pathlib.Path) -> set[str]:
    """Our modules that `module` imports anywhere in its body (function-level imports too)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & MODULES.keys()
            names.update(submodules)  # `from pkg import module` needs the module, not pkg's other names
            if len(submodules) < len(node.names):
                names.add(base)
    ours = set()
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module:
            ours.add(name)
    return ours


def _beam_imported(path: pathlib.Path) -> bool:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "apache_beam" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "apache_beam":
            return True
    return False


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def test_every_module_has_a_home():
    assert [m for m in MODULES if not home_of(m)] == []


def test_dependencies_run_one_way():
    wrong = []
    for module, imported in GRAPH.items():
        source = home_of(module)
        for target in imported:
            home = home_of(target)
            if home == source or HOMES[home] < HOMES[source] or (source, home) in SAME_LAYER:
                continue
            if HOMES[home] == HOMES[source] == STAGE and target.rpartition(".")[2] == "schema":
                continue  # a stage reads another stage's output format
            wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_plain_logic_modules_do_not_import_beam():
    wrong = [module for module, path in MODULES.items()
             if _beam_imported(path) and module not in BEAM_GLUE
             and module.rpartition(".")[2] not in BEAM_MODULE_NAMES]
    assert wrong == []


def test_no_import_cycles():
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_readable(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(ROOT)} has {lines} lines"

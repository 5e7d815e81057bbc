"""The package layout keeps its promises: imports point one way, no cycles, small files.

Walks every ``import`` in ``src/restorelab`` (top-level and inside functions alike, since a
lazy import is still a dependency) and checks the direction documented in
``docs/architecture.md``: commands -> training / runs -> archs, losses, degradations, data,
metrics, inference -> ops.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import SRC

PACKAGE = SRC / "restorelab"

#: Folders that must not reach up into the training, run-bookkeeping or command layers.
LOWER = ("archs", "losses", "degradations", "data", "metrics", "ops")
UPPER = ("training", "runs", "commands")
#: Old ``_target_`` paths kept for saved run configs: thin re-exports, outside the layering.
SHIMS = {
    "restorelab.callbacks",
    "restorelab.callbacks.val_table",
    "restorelab.callbacks.resume_state",
    "restorelab.schedulers",
    "restorelab.loggers",
    "restorelab.sweeps",
}
#: Network files that follow their papers' reference code may be longer.
LONG_NETWORK_FILES = {"archs/swinir.py"}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every ``restorelab`` module ``path`` imports (``from X import y`` counts X, and X.y)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("restorelab")}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("restorelab")
        ):
            found.add(str(node.module))
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {dep for dep in imports_of(path) if dep in modules and dep != name}
        for name, path in modules.items()
    }


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("lower", LOWER)
def test_lower_layers_import_nothing_above_them(lower: str) -> None:
    wrong = sorted(
        f"{mod} imports {dep}"
        for mod, deps in graph().items()
        if layer(mod) == lower and mod not in SHIMS
        for dep in deps
        if layer(dep) in UPPER or dep in SHIMS
    )
    assert wrong == []


def test_ops_import_only_ops_and_errors() -> None:
    wrong = sorted(
        f"{mod} imports {dep}"
        for mod, deps in graph().items()
        if layer(mod) == "ops"
        for dep in deps
        if layer(dep) not in ("ops", "errors")
    )
    assert wrong == []


def test_runs_do_not_import_training_or_commands() -> None:
    """training/ builds on runs/ (run info, resume, DDP); the reverse would be a cycle."""
    wrong = sorted(
        f"{mod} imports {dep}"
        for mod, deps in graph().items()
        if layer(mod) == "runs"
        for dep in deps
        if layer(dep) in ("training", "commands")
    )
    assert wrong == []


def test_only_commands_import_commands() -> None:
    wrong = sorted(
        f"{mod} imports {dep}"
        for mod, deps in graph().items()
        if layer(mod) != "commands"
        for dep in deps
        if layer(dep) == "commands"
    )
    assert wrong == []


def test_archs_hold_networks_only() -> None:
    """No Hydra, no Lightning and no weight-file code under ``archs/`` (its docstring says so)."""
    wrong = []
    for path in (PACKAGE / "archs").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            wrong += [
                f"{path.name} imports {n}"
                for n in names
                if n.split(".")[0] in ("hydra", "omegaconf", "lightning", "safetensors")
                or n.startswith("restorelab.weights")
            ]
    assert wrong == []


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_find_cycle_reports_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    """No module reaches itself through imports.

    The top-level ``restorelab`` package is left out: it holds ``__version__`` (read by the
    writers of checkpoints and exported files) and imports ``Enhancer`` only on attribute
    access, so it is no module's dependency in the import order.
    """
    edges = {m: deps - {"restorelab"} for m, deps in graph().items() if m != "restorelab"}
    assert find_cycle(edges) is None


def test_no_file_over_400_lines() -> None:
    long = sorted(
        f"{path.relative_to(PACKAGE)}: {n} lines"
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
        and str(path.relative_to(PACKAGE)) not in LONG_NETWORK_FILES
    )
    assert long == []


TESTS = SRC.parent / "tests"
#: Test folders that mirror no package folder: committed inputs and the benchmark scripts.
TEST_ONLY_FOLDERS = {"fixtures", "benchmarks"}


def test_tests_mirror_the_package() -> None:
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    folders -= {p for p in folders if p.startswith(".")}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert folders - TEST_ONLY_FOLDERS <= packages, sorted(folders - TEST_ONLY_FOLDERS - packages)
    # the package folders that hold tests; a test folder without __init__.py would clash on names
    assert {"archs", "training", "runs", "commands", "inference"} <= folders
    assert all((TESTS / f / "__init__.py").exists() for f in folders - {"fixtures"})


def imports_of_file(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_tests_share_code_only_through_helpers() -> None:
    """A test file imports from ``tests.helpers`` only, never from another test file."""
    offenders = {}
    for path in TESTS.rglob("*.py"):
        tests_imports = {
            name for name in imports_of_file(path) if name.split(".")[0] == "tests"
        } - {"tests.helpers", "tests"}
        if tests_imports:
            offenders[str(path.relative_to(TESTS))] = sorted(tests_imports)
    assert offenders == {}

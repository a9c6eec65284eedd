"""The import layering of the packages: a module may import only its own layer and the
layers below it (see ``bench/__init__.py``). Imports inside functions count too, so a
cycle cannot hide in a late import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("blocks", "bench", "reports", "blockbench")

# Each layer and the layers it may import (besides itself and third-party packages).
ALLOWED: dict[str, set[str]] = {
    "blocks": set(),
    "bench.spec": {"blocks", "bench.data"},
    "bench.data": {"blocks"},
    "bench.results": {"bench.spec"},
    "bench.measure": {"blocks", "bench.spec", "bench.results"},
    "bench.fit": {"blocks", "bench.spec", "bench.data", "bench.results", "bench.measure"},
    "bench.worker": {"blocks", "bench.spec", "bench.data", "bench.results", "bench.measure",
                     "bench.fit"},
    "bench.orchestrate": {"bench.spec", "bench.results"},
    "bench.tools": {"bench.results"},
    "reports": {"bench.spec", "bench.results"},
    "blockbench": {"blocks", "bench.spec", "bench.data", "bench.results", "bench.orchestrate",
                  "bench.tools", "reports"},
}  # fmt: skip
# Layers that never import TensorFlow; the last four import no Keras either (``blocks``
# is Keras layers, and the CLI reaches Keras only through it).
TENSORFLOW_FREE = ("blocks", "bench.spec", "bench.data", "blockbench", "bench.results",
                   "bench.orchestrate", "bench.tools", "reports")  # fmt: skip
KERAS_FREE = TENSORFLOW_FREE[4:]


def layer_of(module: str) -> str | None:
    """The layer a module belongs to: the longest key of ``ALLOWED`` it starts with."""
    matches = [k for k in ALLOWED if module == k or module.startswith(k + ".")]
    return max(matches, key=len) if matches else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """Every module a file imports, at any depth of the code, with its line."""
    found = []
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # `from bench import results` imports the sub-package bench.results
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def violations(path: Path, text: str | None = None) -> list[str]:
    own = layer_of(module_name(path))
    problems = []
    for line, target in imports(path, text):
        where = f"{path.relative_to(ROOT)}:{line}: {own} imports {target}"
        top = target.split(".")[0]
        if (own in TENSORFLOW_FREE and top == "tensorflow") or (
            own in KERAS_FREE and top == "keras"
        ):
            problems.append(where)
            continue
        target_layer = layer_of(target)
        if target_layer is None or own is None or target_layer == own:
            continue
        if target_layer not in ALLOWED[own] and not own.startswith(target_layer + "."):
            problems.append(where)
    return problems


def test_every_module_has_a_layer():
    assert [module_name(p) for p in sources() if layer_of(module_name(p)) is None] == ["bench"]


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path):
    assert violations(path) == []


def test_the_checker_catches_a_late_upward_import():
    probe = ROOT / "bench" / "results" / "probe.py"
    text = "def f():\n    from reports.report import write_report\n    import tensorflow\n"
    assert violations(probe, text) == [
        "bench/results/probe.py:2: bench.results imports reports.report",
        "bench/results/probe.py:2: bench.results imports reports.report.write_report",
        "bench/results/probe.py:3: bench.results imports tensorflow",
    ]


def test_the_checker_allows_the_layers_below():
    probe = ROOT / "reports" / "probe.py"
    assert violations(probe, "from bench.results.store import Store\nimport pandas\n") == []


# Modules of TensorFlow layers that a JAX or PyTorch worker imports: loading them (their
# module-level imports, followed through the project) must never import TensorFlow.
# tests/backends/test_tensorflow_free.py checks the same in a real interpreter.
BACKEND_NEUTRAL = (
    "bench.measure.rounds", "bench.measure.keras_step", "bench.measure.memory",
    "bench.measure.profiling", "bench.measure.model", "bench.measure.backends",
    "bench.measure.backends.base", "bench.measure.backends.jax_backend",
    "bench.measure.backends.torch_backend", "bench.worker.execute",
)  # fmt: skip


def module_level_imports(path: Path) -> list[str]:
    """Modules imported when the file is loaded: statements outside functions and classes."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = ast.Module(body=[node], type_ignores=[])
                found.extend(target for _, target in imports(path, ast.unparse(module)))
            for field in ("body", "orelse", "finalbody", "handlers"):
                visit([n for n in getattr(node, field, []) if isinstance(n, ast.stmt)])

    visit(tree.body)
    return found


def loaded_on_import(module: str, paths: dict[str, Path]) -> set[str]:
    """Every module (project and third-party) loading ``module`` loads, transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c loads a and a.b first
            prefix = ".".join(parts[:depth])
            if prefix in paths and prefix not in seen:
                todo.append(prefix)
        if name in paths:
            todo.extend(module_level_imports(paths[name]))
    return seen


@pytest.mark.parametrize("module", BACKEND_NEUTRAL)
def test_backend_neutral_modules_load_no_tensorflow(module):
    paths = {module_name(p): p for p in sources()}
    assert module in paths
    loaded = loaded_on_import(module, paths)
    assert not {m for m in loaded if m.split(".")[0] == "tensorflow"}


def test_the_neutrality_check_sees_tensorflow_through_the_project():
    paths = {module_name(p): p for p in sources()}
    assert "tensorflow" in loaded_on_import("bench.measure.backends.tf_backend", paths)

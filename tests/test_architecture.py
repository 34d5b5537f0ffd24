"""The import graph of ``ecalib``, read from the source: layers point down, no import circles, and the package
holds the library (``import ecalib`` loads no build tooling).

Layers, lowest first (the developers' guide): ground (layers, checkpoint I/O, reference data, small utilities)
-> models and data -> engine, detection, reports, complexity and speed tools -> recipes -> tasks -> the CLI
and other entry points. A module's top-of-file imports may point to its own layer or lower ones; imports
inside functions (deferred until called) may point anywhere but must not close a circle. Violations that
exist today are listed once in ``KNOWN_UPWARD`` and ``KNOWN_CIRCLES``, each with the item of issue 22 that
removes it; a new one fails, and so does an entry that no longer occurs (delete it then).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ecalib"

# module prefix -> layer (0 = ground); the longest matching prefix decides
LAYERS = {
    "ecalib.errors": 0,
    "ecalib.limits": 0,
    "ecalib.validation": 0,
    "ecalib.atomic": 0,
    "ecalib.paths": 0,
    "ecalib.provenance": 0,
    "ecalib.params": 0,
    "ecalib.devices": 0,
    "ecalib.layers": 0,
    "ecalib.checkpoint": 0,
    "ecalib.version": 0,
    "ecalib.reference": 0,
    "ecalib": 1,  # the package's own namespace: create_model, the layers, official checkpoints
    "ecalib.models": 1,
    "ecalib.data": 1,
    "ecalib.engine": 2,
    "ecalib.detection": 2,
    "ecalib.reports": 2,
    "ecalib.complexity": 2,
    "ecalib.inference": 2,
    "ecalib.export": 2,
    "ecalib.benchmark": 2,
    "ecalib.bench_budget": 2,
    "ecalib.bench_results": 2,
    "ecalib.bench_suite": 2,
    "ecalib.mmdet": 2,  # the backbone MMDetection registers
    "ecalib.recipes": 3,
    "ecalib.tasks": 4,
    "ecalib.mmdet.train": 4,  # a task: trains a recipe with MMDetection's runner
    "ecalib.sweep": 5,
    "ecalib.cli": 5,
    "ecalib.cli_help": 5,
    "ecalib.__main__": 5,
}
LAYER_NAMES = ["ground", "models/data", "engine/detection/reports", "recipes", "tasks", "entry points"]

# Top-of-file imports that point up today, (importer, imported) -> what removes it (none since issue 22).
KNOWN_UPWARD: dict[tuple[str, str], str] = {}
# Import circles (all imports, deferred ones too) as sets of modules -> what removes it. The lazy Triton import
# (ECA's fused kernels, loaded when first asked for) is the one circle the design keeps.
KNOWN_CIRCLES = {
    frozenset({"ecalib.layers.eca", "ecalib.layers.eca_triton"}): "kept: the lazy Triton import",
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "configs" not in p.parts}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str) -> dict[str, set[str]]:
    """``{"top": ..., "deferred": ...}``: the ecalib modules ``name`` imports at the top of the file (run on
    import, also under ``try``/``if``, not under ``TYPE_CHECKING``) and inside functions or classes."""
    path = modules()[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = {"top": set(), "deferred": set()}

    def targets(node) -> set[str]:
        if isinstance(node, ast.Import):
            return {a.name for a in node.names}
        base = package[: len(package) - node.level + 1] if node.level else []
        module = ".".join(base + ([node.module] if node.module else []))
        submodules = {f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in modules()}
        names_only = len(submodules) < len(node.names)
        return submodules | ({module} if names_only else set())

    def add(node, where: str) -> None:
        found[where].update(t for t in targets(node) if t == "ecalib" or t.startswith("ecalib."))

    def visit(nodes, where: str) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                add(node, where)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        add(inner, "deferred")
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                continue
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                visit(ast.iter_child_nodes(node), where)

    visit(ast.parse(path.read_text(encoding="utf-8")).body, "top")
    for where in found:
        found[where] = {t if t in modules() else t.rsplit(".", 1)[0] for t in found[where]} - {name}
    return found


def layer(name: str) -> int:
    prefixes = [p for p in LAYERS if name == p or name.startswith(p + ".")]
    assert prefixes, f"{name} has no layer: add it to LAYERS in {Path(__file__).name}"
    return LAYERS[max(prefixes, key=len)]


def graph(kinds=("top", "deferred")) -> nx.DiGraph:
    g = nx.DiGraph()
    for name in modules():
        g.add_node(name)
        for kind in kinds:
            g.add_edges_from((name, target) for target in imports(name)[kind])
    return g


def test_every_module_has_a_layer_and_every_import_is_found():
    for name in modules():
        layer(name)
        for target in set().union(*imports(name).values()):
            assert target in modules(), f"{name} imports {target}, which is not a module of ecalib"


def test_top_level_imports_point_down():
    upward = {
        (a, b): f"{a} ({LAYER_NAMES[layer(a)]}) imports {b} ({LAYER_NAMES[layer(b)]})"
        for a, b in graph(("top",)).edges
        if layer(b) > layer(a)
    }
    new = {edge: text for edge, text in upward.items() if edge not in KNOWN_UPWARD}
    assert not new, "imports that point up a layer:\n" + "\n".join(new.values())
    gone = set(KNOWN_UPWARD) - set(upward)
    assert not gone, f"no longer imported: remove {sorted(gone)} from KNOWN_UPWARD"


def test_at_most_the_known_import_circles():
    # A circle may shrink as its item is worked on (still inside its entry); one that reaches a module outside
    # every entry, or a new one, fails.
    circles = [set(c) for c in nx.strongly_connected_components(graph()) if len(c) > 1]
    new = [c for c in circles if not any(c <= known for known in KNOWN_CIRCLES)]
    assert not new, "import circles (top-of-file and deferred imports):\n" + "\n".join(
        " <-> ".join(sorted(c)) for c in new
    )
    gone = [known for known in KNOWN_CIRCLES if not any(c <= known for c in circles)]
    assert not gone, f"no longer a circle: remove {[sorted(c) for c in gone]} from KNOWN_CIRCLES"


def test_the_checker_sees_top_deferred_and_relative_imports():
    # Independent of the layer table: a few imports as they are written in the source.
    assert "ecalib.models.zoo" in imports("ecalib.models.registry")["top"]  # from ecalib.models import zoo
    assert "ecalib.layers.eca_triton" in imports("ecalib.layers.eca")["deferred"]
    assert "ecalib.bench_suite" in imports("ecalib.cli")["deferred"]
    assert {"ecalib.checkpoint", "ecalib.layers", "ecalib.models"} <= imports("ecalib")["top"]


BUILD_TOOLING = ("ecalib.benchmark", "ecalib.bench_suite", "ecalib.bench_results", "ecalib.reports")


@pytest.mark.parametrize("name", ["ecalib", "ecalib.reference"])
def test_importing_the_library_loads_no_build_tooling(name):
    # A fresh interpreter: what importing the package (or its reference data) actually loads.
    code = f"import sys, {name}; print('\\n'.join(m for m in sys.modules if m.startswith('ecalib')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    names = set(loaded.stdout.split())
    assert name in names
    assert not {m for m in names if m.startswith(BUILD_TOOLING) or "digitis" in m}, sorted(names)
    assert not (PACKAGE / "reference" / "digitise.py").exists()


def test_building_a_model_reads_no_reference_data():
    # The models describe themselves from their code and the released files; the paper's tables are read
    # by whoever asks for them (model_info(...).reference_metrics(), the reports), never at import or build.
    code = (
        "import sys, ecalib, torch; from ecalib.models import create_model\n"
        "with torch.device('meta'): create_model('eca_resnet50'), create_model('eca_mobilenet_v2')\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('ecalib')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert "ecalib.models" in loaded.stdout.split() and "ecalib.reference" not in loaded.stdout.split()

"""The package's import arrows: each layer imports only layers below it (or itself), and no
two modules import each other, directly or round a cycle. Imports inside functions count
(they run too); imports under ``if TYPE_CHECKING:`` do not (they never run)."""
from __future__ import annotations

import ast
from pathlib import Path

import sertk

PACKAGE = Path(sertk.__file__).parent

# lowest first; a module's layer is the longest prefix listed
LAYERS = [
    ("sertk.fileio", "sertk.tables", "sertk.configfields", "sertk.devices", "sertk.audio", "sertk.padding",
     "sertk.features",
     "sertk.vad"),
    ("sertk.data",),
    ("sertk.models", "sertk.quantize"),
    ("sertk.eval",),
    ("sertk.train", "sertk.infer", "sertk.classical"),
    ("sertk.export", "sertk.serve"),
    ("sertk.cli", "sertk.__main__"),
]


def layer_of(module: str) -> int:
    ranks = [(len(prefix), rank) for rank, prefixes in enumerate(LAYERS) for prefix in prefixes
             if module == prefix or module.startswith(prefix + ".")]
    assert ranks, f"{module} is in no layer: add it to LAYERS"
    return max(ranks)[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path) -> set[str]:
    """The sertk modules ``path`` imports anywhere (functions included), resolved to modules."""
    found: set[str] = set()
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # submodules
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in found if name in MODULES}


FILES = sorted(PACKAGE.rglob("*.py"))
MODULES = {module_name(path) for path in FILES}
GRAPH = {module_name(path): imports_of(path) - {module_name(path)} for path in FILES}


def test_no_module_imports_a_higher_layer():
    upward = sorted(f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
                    for a, targets in GRAPH.items() if a != "sertk"
                    for b in targets if b != "sertk" and layer_of(b) > layer_of(a))
    assert upward == []


def test_no_import_cycles():
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if nxt.rpartition(".")[0] == node or node.rpartition(".")[0] == nxt:
                continue  # a package and its own modules (re-exports in __init__)
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            walk(module)
    assert cycles == []


def test_the_scan_sees_lazy_imports():
    """Imports inside functions are found (sertk.cli.train imports training inside run)."""
    assert "sertk.train.fitting" in GRAPH["sertk.cli.train"]

"""The folder tree is the architecture: packages import downwards only, and nothing in a circle.

Bottom to top: the foundation modules (minidl/_rng.py, _validation.py, ...), functional, layers,
the network stack (nn, optim), compression, conformance, and the entry points (minidl/__init__,
__main__, check). The data (datasets) and the classical models (linear_model, decomposition)
sit beside the stack: they import only the foundation and their own group, and only the
network stack and what is above it import them. Every import counts, including the ones inside
functions, since a lazy import is still a dependency.
"""

import ast
import pathlib

import pytest

import minidl

PKG = pathlib.Path(minidl.__file__).parent
FOUNDATION = {"_rng", "_validation", "_version", "exceptions", "atomic", "archive", "gradcheck"}
LEVELS = {"functional": 1, "layers": 2, "nn": 3, "optim": 3, "compression": 4, "conformance": 5}
ENTRY = 6  # minidl/__init__, __main__ and check: the command lines and the top-level names
BESIDE = {"datasets": "data", "linear_model": "classical", "decomposition": "classical"}


def module_name(path):
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path):
    """The minidl modules ``path`` imports, each resolved to a module (``from minidl.nn import
    training`` is the module minidl.nn.training, ``from minidl.nn import fit`` the package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "minidl"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "minidl":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (PKG.parent / (sub.replace(".", "/") + ".py")).is_file() or (
                    PKG.parent / sub.replace(".", "/") / "__init__.py"
                ).is_file()
                found.add(sub if is_module else node.module)
    return found


GRAPH = {module_name(p): imports_of(p) for p in sorted(PKG.rglob("*.py"))}


def place(module):
    """``(level, group)`` of a module: group is 'data' / 'classical' for the side packages."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in {"__main__", "check"}:
        return ENTRY, "stack"
    if parts[1] in FOUNDATION:
        return 0, "foundation"
    if parts[1] in BESIDE:
        return None, BESIDE[parts[1]]
    return LEVELS[parts[1]], "stack"


def test_every_module_has_a_place():
    for module in GRAPH:
        place(module)  # raises KeyError for a module in no package of the picture


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_down(module):
    level, group = place(module)
    wrong = []
    for target in sorted(GRAPH[module]):
        t_level, t_group = place(target)
        if group in {"data", "classical"}:
            ok = t_group in {"foundation", group}
        elif t_group in {"data", "classical"}:
            ok = level >= LEVELS["nn"]  # the network stack and above may use data and models
        else:
            ok = t_level <= level
        if not ok:
            wrong.append(target)
    assert wrong == [], f"{module} ({group}, level {level}) imports from above or aside: {wrong}"


def test_no_import_circles():
    """Tarjan's strongly connected components of the module graph: each must be one module."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH:
                continue
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
                circles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert circles == []


def test_a_submodule_imported_from_its_package_is_that_module():
    # "from minidl.nn import training" is an edge to minidl.nn.training, not to minidl.nn (whose
    # __init__ imports minidl.nn.model, which would read as a circle that is not there).
    assert "minidl.nn.training" in GRAPH["minidl.nn.model"]
    assert "minidl.nn" not in GRAPH["minidl.nn.model"]

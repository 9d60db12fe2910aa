"""The registry's rooms stay apart: no import circle among registry/'s modules, no module
reaching into another's private (underscore) names, no module much over 600 lines.

Read from the source with ast (nothing imported), lazy imports inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

REGISTRY = Path(__file__).resolve().parent.parent / "registry"
MAX_LINES = 650  # "one module per concern": a file past this holds two


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def scan(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """The package's import graph (module -> package modules it imports) and every use of
    another module's private name, as 'module:line: what'."""
    package = root.name
    files = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in files}
    crossings: list[str] = []
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        aliases: set[str] = set()  # local names bound to a module of the package
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == package:
                        graph[name].add(a.name)
                        aliases.add(a.asname or a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == package:
                for a in node.names:
                    target = f"{node.module}.{a.name}"
                    if target in files:  # `from registry import online`: a module
                        graph[name].add(target)
                        aliases.add(a.asname or a.name)
                    else:
                        graph[name].add(node.module)
                        if _private(a.name) and node.module != name:
                            crossings.append(f"{name}:{node.lineno}: imports {a.name} from {node.module}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name)
                    and (node.value.id in aliases or node.value.id == package)):
                crossings.append(f"{name}:{node.lineno}: uses {node.value.id}.{node.attr}")
    for name in graph:
        graph[name] = {t for t in graph[name] if t in files and t != name and t != package}
    return graph, crossings


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle found by a depth-first walk (each as the path that closes it)."""
    found, state = [], {}

    def walk(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return found


def test_the_registry_has_no_import_circle():
    graph, _ = scan(REGISTRY)
    assert "registry.service" in graph and graph["registry.service"], "the scan found the facade's imports"
    assert cycles(graph) == []


def test_no_registry_module_uses_another_ones_private_names():
    _, crossings = scan(REGISTRY)
    assert crossings == []


def test_only_callers_outside_the_registry_use_its_facade():
    graph, _ = scan(REGISTRY)
    assert [name for name, imports in graph.items() if "registry.service" in imports] == []


def test_no_registry_module_is_much_over_600_lines():
    long = {p.name: n for p in REGISTRY.glob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_checks_catch_a_circle_and_a_private_import(tmp_path):
    """The scanner itself, on a made-up package: it must see what it is there to refuse."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import helper\n")
    (pkg / "b.py").write_text("def helper():\n    from pkg import c\n    return c._secret\n")
    (pkg / "c.py").write_text("from pkg.a import nothing\nfrom pkg.d import _hidden\n_secret = 1\n")
    (pkg / "d.py").write_text("_hidden = 2\n")
    graph, crossings = scan(pkg)
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    assert crossings == ["pkg.b:3: uses c._secret", "pkg.c:2: imports _hidden from pkg.d"]

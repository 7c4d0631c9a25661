"""No import cycles inside ``tui``: counting the imports made inside functions, which the
app uses to start fast and which import-linter's layers do not see."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports anywhere in its body (``from a import b`` counts a and a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parents = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parents, base] if base else parents)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def tui_import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in (ROOT / "tui").rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = {other for other in imports_of(path, package) if other in paths and other != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle as a path from a module back to itself (one per module that lies on one)."""
    found = []
    for start in sorted(graph):
        paths = [[start]]
        seen = {start}
        while paths:
            path = paths.pop()
            for following in sorted(graph[path[-1]]):
                if following == start:
                    found.append([*path, start])
                    paths.clear()
                    break
                if following not in seen:
                    seen.add(following)
                    paths.append([*path, following])
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import():
    graph = {"tui.app": {"tui.screens.help"}, "tui.screens.help": {"tui.app"}, "tui.cli": {"tui.app"}}
    assert cycles(graph) == [["tui.app", "tui.screens.help", "tui.app"],
                             ["tui.screens.help", "tui.app", "tui.screens.help"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_tui_imports_itself_back():
    graph = tui_import_graph()
    assert "tui.screens.help" in graph["tui.app"]  # the graph does see imports inside functions
    assert cycles(graph) == []

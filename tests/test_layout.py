"""The package's layout: no import circle at all (lazy and ``TYPE_CHECKING`` imports
included, inside a package too), no arrow from a lower floor up, no path from the study
to the command line, no reaching into another package's private modules, short modules
and command functions, and honest ``__all__`` lists."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cnas

SRC = Path(cnas.__file__).parent

# Each top-level part of cnas sits on a floor; a module imports only its own floor or
# lower ones (../shared/DESIGN.md: "a lower floor never imports a higher one").
FLOORS: dict[str, int] = {
    **dict.fromkeys(
        [
            *("_version", "_io", "_deprecation", "_validation", "errors", "_registry", "_progress"),
            *("utils", "_schema", "_memory", "_config", "_config_fields"),
        ],
        0,
    ),
    "_mixed_weights": 0,
    "kernels": 1,
    "ops": 2,
    **dict.fromkeys(
        [
            "distributed",
            "_genotype",
            "_genotype_formats",
            "viz",
            "genotypes",
            "space",
            "curriculum",
            "data",
            "_metrics",
            "_run",
        ],
        3,
    ),
    **dict.fromkeys(["supernet", "_reach", "_supernet_paths", "models"], 4),
    **dict.fromkeys(["search", "training", "costs"], 5),
    "study": 6,
    **dict.fromkeys(["cli", "__main__", "_config_docs", ""], 7),
}
LONG_MODULE_LINES = 530  # "about 500"; longer ones are listed below with their reason
LONG_MODULES = {
    "cnas.kernels._triton": "the Triton kernels and their launchers: one backend, one file",
}
SEARCHER_LINES = 500  # the loop and nothing else
COMMAND_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The cnas modules ``name`` imports, lazily in functions and under ``if
    TYPE_CHECKING:`` included, each with the packages that importing it runs (but its own
    packages: importing a sibling does not run them again)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        while target not in MODULES and "." in target:
            target = target.rpartition(".")[0]
        parts = target.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            found.add(".".join(parts[:i]))

    def visit(nodes: list[ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "cnas":
                        add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                if prefix.split(".")[0] == "cnas":
                    for alias in node.names:
                        full = f"{prefix}.{alias.name}"
                        add(full if full in MODULES else prefix)
            visit(list(ast.iter_child_nodes(node)))

    visit(list(ast.parse(path.read_text()).body))
    return {m for m in found if m != name and not name.startswith(m + ".")}


GRAPH = {name: _imports(name) for name in MODULES}


def test_no_module_imports_itself_back_through_others() -> None:
    done: set[str] = set()

    def walk(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, "import circle: " + " -> ".join([*path, module])
        if module in done:
            return
        for dep in sorted(GRAPH[module]):
            walk(dep, (*path, module))
        done.add(module)

    for module in MODULES:
        walk(module, ())


def _floor(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    assert part in FLOORS, f"{module}: give it a floor in FLOORS"
    return FLOORS[part]


def test_no_module_imports_a_higher_floor() -> None:
    upward = [
        f"{m} (floor {_floor(m)}) -> {d} (floor {_floor(d)})"
        for m, deps in GRAPH.items()
        for d in deps
        if d != "cnas" and _floor(d) > _floor(m)
    ]
    assert not upward, upward


def test_packages_use_each_other_through_their_exported_names() -> None:
    reaching = []
    for module, deps in GRAPH.items():
        for dep in deps:
            parts = dep.split(".")
            private = [i for i, p in enumerate(parts) if p.startswith("_") and i > 0]
            if not private or private[0] == 1:
                continue  # cnas._io and friends are shared by the whole package
            owner = ".".join(parts[: private[0]])
            if not (module == owner or module.startswith(owner + ".")):
                reaching.append(f"{module} -> {dep}")
    assert not reaching, reaching


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        for dep in GRAPH[module]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("cnas.study")))
def test_no_path_leads_from_the_study_to_the_command_line(name: str) -> None:
    reached = sorted(
        m for m in _reachable(name) if m.startswith("cnas.cli") or m == "cnas.__main__"
    )
    assert not reached, f"{name} reaches {reached}"
    text = MODULES[name].read_text()
    assert "runpy" not in text and '"-m", "cnas"' not in text, f"{name} runs the command line"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_are_short_or_listed_with_their_reason(name: str) -> None:
    lines = MODULES[name].read_text().count("\n")
    if name == "cnas.search._searcher":
        assert lines < SEARCHER_LINES, f"{name}: {lines} lines; the loop and nothing else"
    if lines > LONG_MODULE_LINES:
        assert name in LONG_MODULES, f"{name}: {lines} lines; split it by concern"


def test_the_list_of_long_modules_holds_only_long_ones() -> None:
    for name in LONG_MODULES:
        assert MODULES[name].read_text().count("\n") > LONG_MODULE_LINES, name


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("cnas.cli")))
def test_command_functions_are_short(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > COMMAND_FUNCTION_LINES
    ]
    assert not long, long


def _defined_and_listed(path: Path) -> tuple[set[str], set[str], list[str]]:
    """What a module defines, what it re-exports as ``from x import y as y``, and its
    ``__all__``."""
    defined: set[str] = set()
    reexported: set[str] = set()
    listed: list[str] = []
    body = list(ast.parse(path.read_text()).body)
    for node in list(body):  # a lazy package names its re-exports under TYPE_CHECKING
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            body += node.body
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            reexported.update(a.name for a in node.names if a.asname == a.name)
            reexported.update(a.asname for a in node.names if a.asname and a.asname != a.name)
        elif isinstance(node, ast.Import):
            reexported.update(a.asname for a in node.names if a.asname)
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        for target in targets:
            if isinstance(target, ast.Name):
                defined.add(target.id)
                if target.id == "__all__" and node.value is not None:
                    listed = ast.literal_eval(node.value)
    return defined, reexported, listed


@pytest.mark.parametrize("name", sorted(MODULES))
def test_all_lists_what_a_module_defines_or_deliberately_reexports(name: str) -> None:
    defined, reexported, listed = _defined_and_listed(MODULES[name])
    private = (
        name.rpartition(".")[2].startswith("_")
        and not name.endswith("__main__")
        and MODULES[name].name != "__init__.py"  # a private package re-exports its parts
    )
    allowed = defined if private else defined | reexported
    assert set(listed) <= allowed, sorted(set(listed) - allowed)
    module = __import__(name, fromlist=["_"])
    for item in listed:
        assert hasattr(module, item), f"{name}.__all__ lists {item!r}, which it lacks"

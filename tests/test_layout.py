"""The package's layout: no import circle, no arrow from a lower floor up, no reaching into
another package's private modules, short modules, and honest ``__all__`` lists."""

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
            *("_version", "_io", "_deprecation", "_validation", "errors", "_registry"),
            *("utils", "_schema", "_memory"),
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
    **dict.fromkeys(["supernet", "models"], 4),
    **dict.fromkeys(["search", "training", "controller", "costs"], 5),
    "study": 6,
    **dict.fromkeys(["cli", "__main__", ""], 7),
}
LONG_MODULE_LINES = 530  # "about 500"; longer ones say why in their docstring


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The cnas modules ``name`` imports, lazily in functions included (``if
    TYPE_CHECKING:`` blocks excluded), each with the packages that importing it runs."""
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
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(list(node.orelse))
                continue
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


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_are_short_or_say_why(name: str) -> None:
    path = MODULES[name]
    lines = path.read_text().count("\n")
    if lines > LONG_MODULE_LINES:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert "lines" in doc and "on purpose" in doc, f"{name}: {lines} lines, no reason given"


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
    private = name.rpartition(".")[2].startswith("_") and not name.endswith("__main__")
    allowed = defined if private else defined | reexported
    assert set(listed) <= allowed, sorted(set(listed) - allowed)
    module = __import__(name, fromlist=["_"])
    for item in listed:
        assert hasattr(module, item), f"{name}.__all__ lists {item!r}, which it lacks"

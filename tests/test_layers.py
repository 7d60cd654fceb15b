"""kassa's walls (docs/architecture.md, "Layers and contexts"), held on every `make test`:

- packages import only downwards (common < loyalty, smartcard, sync < central | pos_node <
  demo < cli), and the domain rules and the wire contract import neither Flask nor SQLAlchemy:
  import-linter's contracts in pyproject.toml, which count imports inside functions too;
- no two modules import each other, directly or round a longer circle;
- no folder grows past about a dozen modules, and a module's file name says which one it is.
"""

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kassa"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_MODULES = 12
# The same concept on each side of the wire may share a name: each app's factory and tables.
SHARED_NAMES = {"app.py", "models.py"}


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_the_layer_contract_sees_an_upward_import_inside_a_function(tmp_path):
    """The contract is worth something only if it fails: plant one and watch it."""
    shutil.copytree(PACKAGE, tmp_path / "kassa",
                    ignore=shutil.ignore_patterns("__pycache__", "static", "templates",
                                                  "translations", "*.mako"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "kassa" / "sync" / "protocol.py").open("a") as module:
        module.write("\n\ndef _planted():\n    from kassa.central import app  # noqa: F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "kassa.sync.protocol -> kassa.central.app" in result.stdout


def cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that reach each other through imports (Tarjan's strongly
    connected components of more than one module, or one importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(imports.get(module, ())):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                other = stack.pop()
                group.append(other)
                if other == module:
                    break
            if len(group) > 1 or module in imports.get(module, ()):
                found.append(sorted(group))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return found


def test_cycles_are_found_however_long():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_round_a_circle():
    graph = grimp.build_graph("kassa", cache_dir=None)
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    found = cycles(imports)
    assert found == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def modules():
    """The tree's Python modules, migrations left out (their chains are Alembic's)."""
    return [p for p in PACKAGE.rglob("*.py")
            if "migrations" not in p.parts and p.name != "__init__.py"]


def test_no_folder_holds_more_than_a_dozen_modules():
    per_folder = Counter(p.parent.relative_to(ROOT) for p in modules())
    crowded = {str(folder): n for folder, n in per_folder.items() if n > MAX_MODULES}
    assert crowded == {}


def test_a_module_file_name_names_one_module():
    by_name: dict[str, list[str]] = {}
    for p in modules():
        by_name.setdefault(p.name, []).append(str(p.relative_to(ROOT)))
    shared = {name: paths for name, paths in by_name.items()
              if len(paths) > 1 and name not in SHARED_NAMES}
    assert shared == {}

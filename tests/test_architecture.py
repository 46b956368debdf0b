"""The architecture's rules, held against the code's own imports (see tests/architecture.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("sf_architecture", Path(__file__).with_name("architecture.py"))
arch = importlib.util.module_from_spec(_spec)
sys.modules["sf_architecture"] = arch  # dataclasses resolve their module through sys.modules
_spec.loader.exec_module(arch)


@pytest.fixture(scope="module")
def found():
    return arch.modules()


@pytest.fixture(scope="module")
def graph(found):
    return arch.imports(found)


def test_the_reader_sees_every_folder(found, graph):
    # Guards the rules below against passing on an empty or misread tree.
    folders = {module.path.split("/")[0] for module in found.values()}
    assert folders == set(arch.FOLDERS)
    assert len(found) > 50
    assert sum(len(edges) for edges in graph.values()) > 100


def test_no_module_over_the_limit(found):
    over = sorted(f"{m.path} ({m.lines} lines)" for m in found.values() if m.lines > arch.MAX_LINES)
    assert not over, f"modules over {arch.MAX_LINES} lines: split them by responsibility: {over}"


def test_every_module_has_a_layer(found):
    unplaced = sorted(m.path for m in found.values() if arch.layer_of(m.path)[0] == 0)
    assert not unplaced, f"add these to a layer in tests/architecture.py LAYERS: {unplaced}"


def test_no_import_cycle(graph):
    assert arch.cycles(graph) == []


def test_imports_only_go_down(found, graph):
    assert arch.upward_imports(found, graph) == []


def test_only_flows_import_prefect(found):
    users = sorted(m.path for m in found.values() if "prefect" in arch.third_party(m) and not m.path.startswith("flows/"))
    assert not users, f"only flows/ may import prefect: {users}"


def test_storage_knows_nothing_above_it(found, graph):
    for name, edges in graph.items():
        if found[name].path.startswith("storage/"):
            assert all(found[t].path.startswith("storage/") for t in edges), (found[name].path, sorted(edges))


def test_flows_only_orchestrate(found):
    """Every module of flows/ is a flow or task module, the CLI, the Prefect settings or the bench."""
    for module in found.values():
        if not module.path.startswith("flows/"):
            continue
        kind_ok = (
            module.path in arch.FLOWS_SUPPORT
            or module.path.startswith(arch.FLOWS_PREFIXES)
            or arch.is_flow_module(module)
        )
        assert kind_ok, f"{module.path} is neither a flow/task module, the CLI, the Prefect settings nor the bench"


def test_the_reader_finds_a_real_cycle_and_an_upward_import(tmp_path):
    # The rules above must be able to fail: a two-module loop and an upward import are seen.
    src = "from soccerfactory.flows.b import x\n"
    a = arch.Module("storage/a.py", "soccerfactory.storage.a", 1, arch.ast.parse(src))
    b = arch.Module("flows/b.py", "soccerfactory.flows.b", 1, arch.ast.parse("import soccerfactory.storage.a\n"))
    found = {a.name: a, b.name: b}
    graph = arch.imports(found)
    assert graph == {a.name: {b.name: 1}, b.name: {a.name: 1}}
    assert arch.cycles(graph) == [[b.name, a.name]] or arch.cycles(graph) == [sorted([a.name, b.name])]
    assert arch.upward_imports(found, graph) == ["storage/a.py:1 (layer 1) imports flows/b.py (layer 7)"]


def test_tests_mirror_the_source_tree(found):
    """``tests/<folder>/test_<module>[_<aspect>].py`` names a module (or subpackage) of ``<folder>``."""
    tests = Path(__file__).resolve().parent
    names: dict[str, set[str]] = {}
    for m in found.values():
        path = Path(m.path)
        if path.name == "__init__.py":  # a package is a name in its parent folder
            names.setdefault(path.parent.parent.as_posix(), set()).add(path.parent.name)
        else:
            names.setdefault(path.parent.as_posix(), set()).add(path.stem)
    strays = []
    for test in sorted(tests.rglob("test_*.py")):
        rel = test.relative_to(tests)
        if len(rel.parts) == 1:  # tests/test_*.py are about the whole project (this file)
            continue
        subject = test.stem[len("test_"):]
        if not any(subject == name or subject.startswith(name + "_") for name in names.get(rel.parent.as_posix(), ())):
            strays.append(rel.as_posix())
    assert not strays, f"test files that name no module of their folder: {strays}"


def test_every_package_ships(found):
    """Each source folder with an ``__init__.py`` is listed in pyproject.toml's packages (else a wheel drops it)."""
    import tomllib

    config = tomllib.loads((arch.ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    packages = {m.name for m in found.values() if m.path.endswith("__init__.py")}
    assert packages - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - packages == set(), "pyproject.toml lists packages that no longer exist"

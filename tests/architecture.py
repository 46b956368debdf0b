"""The project's architecture as rules over its source, read from the code's own imports.

``tests/test_architecture.py`` asserts the rules; run this file to see the house::

    python tests/architecture.py            # the tree: one line per module, its layer and line count
    python tests/architecture.py --imports  # plus every import between modules, by layer
    python tests/architecture.py --trace    # curate a 2 s synthetic clip; list the calls that climb a layer

Layers, lowest first. A module may import its own layer or lower ones, never a higher one, so a
change low in the house never needs to know who stands above it:

1. ``storage``: Parquet schemas, shards, run records, the DuckDB catalog (knows no curation).
2. curation base: the typed currency (``types``, ``arrays``, ``camera``), the pitch model and
   its colours, masks, hashing, weights, the settings machinery and the runtime.
3. curation stages: ``video/``, ``detection/``, ``tracking/``, ``calibration/``, ``refine``,
   ``attribute/``, ``vote`` and ``layout`` (the one codec between the currency and shard rows).
4. curation assembly: ``config`` (the curation config), ``stages`` (the stage builder) and
   ``pipeline`` (one clip through the stages).
5. curation around it: ``quality/`` (measurements), ``preview/``, ``synth/`` (the renderer),
   ``training/`` (the project's own models), ``testing``.
6. ``model``: the multi-task model over the shards.
7. ``flows``: orchestration only (Prefect flows and tasks, the CLI, Prefect settings, progress display, the bench).
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "soccerfactory"
FOLDERS = ("storage", "curation", "model", "flows")
MAX_LINES = 600

#: (layer, name, module-path prefixes relative to the project root). The longest matching prefix wins.
LAYERS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "storage", ("storage/",)),
    (2, "curation base", (
        "curation/__init__.py", "curation/types.py", "curation/arrays.py", "curation/camera.py", "curation/pitch.py",
        "curation/pitch_colour.py", "curation/masks.py", "curation/hashing.py", "curation/registry.py",
        "curation/allocator.py", "curation/bundled.py", "curation/devices.py", "curation/runtime.py", "curation/runtimes.py", "curation/safe_load.py", "curation/settings.py",
    )),
    (3, "curation stages", (
        "curation/video/", "curation/detection/", "curation/tracking/", "curation/calibration/", "curation/refine.py",
        "curation/attribute/", "curation/vote.py", "curation/layout.py",
    )),
    (4, "curation assembly", ("curation/config.py", "curation/config_calibrate.py", "curation/chain.py", "curation/stages.py", "curation/pipeline.py", "curation/spatial.py",
                                   "curation/spatial_cache.py")),
    (5, "curation around it", (
        "curation/quality/", "curation/preview/", "curation/synth/", "curation/training/",
        "curation/testing.py",
    )),
    (6, "model", ("model/",)),
    (7, "flows", ("flows/",)),
)

#: What a module of flows/ may be: the CLI, the Prefect settings, the progress display (how flows
#: show their work), the bench, or flows and tasks.
FLOWS_SUPPORT = ("flows/__init__.py", "flows/prefect_env.py", "flows/progress.py", "flows/task_runners.py", "flows/concurrency.py")
FLOWS_PREFIXES = ("flows/cli", "flows/bench", "flows/gpu_check")


@dataclass(frozen=True)
class Module:
    """One source file of the four folders."""

    path: str  #: relative to the project root, posix, e.g. ``curation/video/decode.py``
    name: str  #: dotted, e.g. ``soccerfactory.curation.video.decode``
    lines: int
    tree: ast.Module


def modules() -> dict[str, Module]:
    """Every ``.py`` file of the four folders, by dotted module name."""
    found = {}
    for folder in FOLDERS:
        for file in sorted((ROOT / folder).rglob("*.py")):
            rel = file.relative_to(ROOT).as_posix()
            parts = rel[: -len(".py")].split("/")
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([PACKAGE, *parts])
            text = file.read_text(encoding="utf-8")
            found[name] = Module(rel, name, text.count("\n"), ast.parse(text, filename=rel))
    return found


def layer_of(path: str) -> tuple[int, str]:
    """The layer number and name of a module path; ``(0, "unplaced")`` for a path no layer names."""
    best: tuple[int, int, str] = (-1, 0, "unplaced")
    for number, name, prefixes in LAYERS:
        for prefix in prefixes:
            if path.startswith(prefix) and len(prefix) > best[0]:
                best = (len(prefix), number, name)
    return best[1], best[2]


def _imported_names(module: Module) -> Iterator[tuple[str, int]]:
    """(dotted name, line) of every import in the module, at any depth (lazy imports count too)."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                base = module.name.split(".")
                if not module.path.endswith("__init__.py"):
                    base = base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:
                yield f"{target}.{alias.name}", node.lineno


def imports(found: dict[str, Module]) -> dict[str, dict[str, int]]:
    """``{importer: {imported: first line}}`` between the project's own modules."""
    graph: dict[str, dict[str, int]] = {}
    for name, module in found.items():
        edges: dict[str, int] = {}
        for target, line in _imported_names(module):
            # `from pkg import sub` names a module; `from mod import func` names mod.
            while target and target not in found:
                target = target.rpartition(".")[0]
            if target and target != name and target != PACKAGE:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def third_party(module: Module) -> set[str]:
    """Top-level names of the packages a module imports (``prefect``, ``torch`` ...)."""
    return {target.split(".")[0] for target, _ in _imported_names(module) if not target.startswith(PACKAGE)}


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def upward_imports(found: dict[str, Module], graph: dict[str, dict[str, int]]) -> list[str]:
    """One line per import from a lower layer up to a higher one."""
    lines = []
    for name, edges in sorted(graph.items()):
        mine = layer_of(found[name].path)[0]
        for target, line in sorted(edges.items()):
            theirs = layer_of(found[target].path)[0]
            if theirs > mine:
                lines.append(f"{found[name].path}:{line} (layer {mine}) imports {found[target].path} (layer {theirs})")
    return lines


def is_flow_module(module: Module) -> bool:
    """A module of flows/ that defines a Prefect flow or task."""
    for node in ast.walk(module.tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                call = decorator.func if isinstance(decorator, ast.Call) else decorator
                label = call.attr if isinstance(call, ast.Attribute) else getattr(call, "id", "")
                if label in {"flow", "task"}:
                    return True
    return False


def trace_upward_calls(run: Callable[[], object], found: dict[str, Module] | None = None) -> Counter:
    """Run ``run()`` and count the calls that climb: from a project function to one in a higher layer.

    An import can only go down, so a call up is a callback (a progress hook, a waiting hook, a
    protocol implemented above): each is a place where a lower layer's control flow depends on a
    higher one. Third-party frames in between (Prefect, torch) are skipped: the caller is the
    nearest project frame. Every thread is traced (Prefect runs tasks on worker threads).

    Returns:
        ``Counter`` of ``(caller path:function, callee path:function)`` -> number of calls; the
        key ``("entered", path)`` counts the calls into each project module.
    """
    import threading

    found = found or modules()
    by_file = {str(ROOT / m.path): m.path for m in found.values()}
    layers = {path: layer_of(path)[0] for path in by_file.values()}
    climbs: Counter = Counter()

    def profile(frame, event, arg):  # noqa: ARG001 - the sys.setprofile signature
        if event != "call":
            return
        callee = by_file.get(frame.f_code.co_filename)
        if callee is None:
            return
        climbs[("entered", callee)] += 1
        back = frame.f_back
        while back is not None and back.f_code.co_filename not in by_file:
            back = back.f_back
        if back is None:
            return
        caller = by_file[back.f_code.co_filename]
        if layers[caller] < layers[callee]:
            climbs[(f"{caller}:{back.f_code.co_name}", f"{callee}:{frame.f_code.co_name}")] += 1

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return climbs


def _curate_a_synthetic_clip() -> None:
    """The curate flow, as ``soccerfactory curate`` runs it, on a 2 s 640x360 synthetic clip."""
    import tempfile

    from soccerfactory.curation.synth.config import SynthConfig
    from soccerfactory.curation.synth.render import render_clip
    from soccerfactory.flows.prefect_env import embedded_prefect

    folder = Path(tempfile.mkdtemp(prefix="sf-trace-"))
    render_clip(SynthConfig(seconds=2, seed=3, width=640, height=360), folder / "clip")
    with embedded_prefect(folder):
        from soccerfactory.flows.curate import run_curate

        run_curate(str(folder / "clip" / "video.mp4"), output=str(folder / "out"))


def main(argv: list[str]) -> int:
    if "--trace" in argv:
        sys.path.insert(0, str(ROOT))
        counts = trace_upward_calls(_curate_a_synthetic_clip)
        entered = sorted((layer_of(path)[0], path) for kind, path in counts if kind == "entered")
        print(f"modules the curate run entered: {len(entered)}")
        for number, path in entered:
            print(f"  {number} {path}")
        climbs = {key: n for key, n in counts.items() if key[0] != "entered"}
        print(f"calls that climb a layer: {len(climbs)} ({sum(climbs.values())} times)")
        for (caller, callee), n in sorted(climbs.items()):
            print(f"  {caller} -> {callee}  x{n}")
        return 0
    found = modules()
    graph = imports(found)
    for name, module in sorted(found.items(), key=lambda item: (layer_of(item[1].path)[0], item[1].path)):
        number, layer = layer_of(module.path)
        flag = "  OVER" if module.lines > MAX_LINES else ""
        print(f"{number} {layer:<19} {module.path:<45} {module.lines:>5}{flag}")
        if "--imports" in argv:
            for target in sorted(graph[name]):
                print(f"{'':24}-> {found[target].path} (layer {layer_of(found[target].path)[0]})")
    problems = upward_imports(found, graph) + [" <-> ".join(group) for group in cycles(graph)]
    print(f"\n{len(found)} modules, {sum(m.lines for m in found.values())} lines; {len(problems)} problems")
    for problem in problems:
        print("  " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

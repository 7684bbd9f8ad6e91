"""The folders show the architecture: imports point down, and features load only when used."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"sss_emulator": REPO / "sss_emulator",
         "pytest_sss_emulator": REPO / "pytest_plugin" / "pytest_sss_emulator"}


def _modules() -> dict[str, Path]:
    modules = {}
    for package, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """Every module this one imports (lazy and TYPE_CHECKING imports included)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join([*base, *([node.module] if node.module else [])])
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def _own(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        edges = set()
        for target in _imports(name):
            own = _own(target)
            # a module reaching its own package's __init__ is not an edge of the design
            if own and own != name and not name.startswith(own + "."):
                edges.add(own)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_scan_sees_the_packages() -> None:
    """The graph covers core, backend and the plugin (an empty graph would have no cycles)."""
    assert {"sss_emulator.core.emulator", "sss_emulator.backend.store",
            "pytest_sss_emulator.plugin"} <= set(MODULES)


def test_there_are_no_import_cycles() -> None:
    """Arrows point down: no module reaches itself through its imports."""
    assert _cycles(_graph()) == []


#: What each layer must not import: front ends above it, and features it must not carry.
FORBIDDEN = {
    "sss_emulator.core": ("sss_emulator.cli", "sss_emulator.watch", "sss_emulator.serve",
                          "sss_emulator.backend", "sss_emulator.connect",
                          "sss_emulator.invocation", "sss_emulator.config", "click",
                          "werkzeug", "watchdog", "aiosmtpd"),
    "sss_emulator.backend": ("sss_emulator.core", "sss_emulator.cli", "sss_emulator.watch",
                             "sss_emulator.serve", "sss_emulator.connect",
                             "sss_emulator.invocation", "sss_emulator.config", "click"),
    "sss_emulator.config": ("sss_emulator.cli", "sss_emulator.watch", "sss_emulator.serve",
                            "sss_emulator.backend", "sss_emulator.connect",
                            "sss_emulator.invocation", "click"),
    "sss_emulator.invocation": ("sss_emulator.cli", "sss_emulator.watch", "sss_emulator.serve",
                                "click"),
    "sss_emulator.watch": ("sss_emulator.cli", "sss_emulator.serve", "click"),
    "sss_emulator.serve": ("sss_emulator.cli", "sss_emulator.watch", "click"),
    "sss_emulator.devtools": ("sss_emulator.cli", "sss_emulator.watch", "sss_emulator.serve",
                              "sss_emulator.backend", "sss_emulator.connect",
                              "sss_emulator.invocation", "sss_emulator.config", "click"),
    "sss_emulator.connect": ("sss_emulator.cli", "sss_emulator.watch", "sss_emulator.serve",
                             "sss_emulator.invocation", "click"),
    "sss_emulator.fidelity": ("sss_emulator.cli", "sss_emulator.watch", "click"),
    "sss_emulator.callfile": ("sss_emulator.cli", "sss_emulator.serve", "sss_emulator.invocation",
                              "click", "pytest"),
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_what_is_below_them(layer: str) -> None:
    """Each layer knows only what lies below it (docs/architecture.md draws the picture)."""
    wrong = sorted(
        f"{name} imports {target}"
        for name in MODULES if name == layer or name.startswith(layer + ".")
        for target in _imports(name)
        for banned in FORBIDDEN[layer]
        if target == banned or target.startswith(banned + ".")
    )
    assert wrong == []


def _loaded_after(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    return {line.split(".")[0] for line in out.stdout.splitlines()}


@pytest.mark.parametrize("statement", ["import sss_emulator", "import sss_emulator.cli"])
def test_starting_up_loads_no_server_or_watcher(statement: str) -> None:
    """Running a script pays only for what it uses: no HTTP server, watcher or mail sink."""
    assert _loaded_after(statement) & {"werkzeug", "watchdog", "aiosmtpd", "asyncio"} == set()


#: Modules that may name ``/proc`` although they are not ``core/processes.py``, and why: neither
#: looks at other processes.
PROC_ALLOWED = {
    # kernel knobs (/proc/sys/...) that say whether unprivileged user namespaces work
    "sss_emulator.connect.mounts": "reads /proc/sys kernel settings, not processes",
    # the child writes its own uid_map/setgroups and opens its own fds before exec
    "sss_emulator.connect.nsexec": "sets up its own namespace through /proc/self",
}
PROCESS_SCANNER = "sss_emulator.core.processes"


def _proc_mentions(path: Path) -> list[int]:
    """Lines of string literals (docstrings aside) that name ``/proc``, f-strings included."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return sorted(
        node.lineno for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings and "/proc" in node.value
    )


def test_only_the_process_scanner_reads_proc() -> None:
    """Finding processes is written once, in core/processes.py (issue 10): another module that
    reads ``/proc`` for a pid, a port or a working directory should ask it instead."""
    assert PROCESS_SCANNER in MODULES and _proc_mentions(MODULES[PROCESS_SCANNER])
    assert set(PROC_ALLOWED) <= set(MODULES), "an allowed module was moved or renamed"
    wrong = {
        name: lines for name, path in MODULES.items()
        if name != PROCESS_SCANNER and name not in PROC_ALLOWED
        for lines in [_proc_mentions(path)] if lines
    }
    assert wrong == {}, f"/proc read outside {PROCESS_SCANNER}: {wrong}"

"""The house rules, checked on the source: layers that point one way (parsed with ast), no import
hidden in a function to dodge a cycle, no cycle at all, a pure domain library that loads no I/O
library, and one clock."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

PACKAGES = ("monitor", "probes", "reports")
# what each layer may import of the project
ALLOWED = {"probes": {"probes"}, "reports": {"reports"}, "monitor": {"monitor", "reports", "probes"}}
# the pure domain library: no network, no database, no processes, no clock
FORBIDDEN_IN_REPORTS = {"aiohttp", "asyncio", "sqlite3", "sqlite_utils", "psycopg", "socket", "subprocess",
                        "multiprocessing", "threading", "prometheus_client", "uvloop", "time", "urllib", "http",
                        "monitor", "probes"}


def modules() -> dict[str, Path]:
    """Every module of the three packages by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import statement of a file; relative
    imports resolved against `module`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                found.append((target, child.lineno, in_function))
                # `from pkg import module` imports that module too
                found.extend((f"{target}.{alias.name}", child.lineno, in_function) for alias in child.names
                             if f"{target}.{alias.name}" in MODULES)
            visit(child, nested)

    visit(tree, False)
    return found


MODULES = modules()


def project_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _, _ in imports(path, name):
            if target in MODULES and target != name:
                edges[name].add(target)
    return edges


def test_the_packages_are_found():
    assert {"monitor.daemon", "monitor.cli", "reports.accounting", "reports.minutes", "probes.http"} <= set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_arrow_points_down(module):
    layer = module.split(".")[0]
    wrong = [(target, line) for target, line, _ in imports(MODULES[module], module)
             if target.split(".")[0] in PACKAGES and target.split(".")[0] not in ALLOWED[layer]]
    assert not wrong, f"{module} imports {wrong} (a {layer} module may import {sorted(ALLOWED[layer])})"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("reports")))
def test_the_domain_library_imports_no_io_and_no_clock(module):
    wrong = [(target, line) for target, line, _ in imports(MODULES[module], module)
             if target.split(".")[0] in FORBIDDEN_IN_REPORTS]
    assert not wrong, f"{module} imports {wrong}: reports/ is pure (time comes in as arguments)"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_project_import_inside_a_function(module):
    hidden = [(target, line) for target, line, in_function in imports(MODULES[module], module)
              if in_function and target.split(".")[0] in PACKAGES]
    assert not hidden, f"{module} imports {hidden} inside a function: import at the top, break the cycle instead"


def test_no_import_cycle():
    edges = project_edges()
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_importing_the_accounting_loads_no_network_database_or_event_loop():
    """Transitively, not only the direct imports: a fresh interpreter imports the domain library
    and lists what came with it."""
    code = ("import sys, reports.accounting, reports.formats, reports.html, reports.verify, reports.revisions; "
            "print(' '.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.split())
    assert not loaded & {"aiohttp", "sqlite3", "sqlite_utils", "monitor", "probes", "prometheus_client", "uvloop"}


# --- one clock ----------------------------------------------------------------------------------

CLOCK_READS = re.compile(r"\btime\.(time|monotonic|perf_counter|time_ns|monotonic_ns)\s*\(|"
                         r"\b(datetime|date)\.(now|utcnow|today)\s*\(|\bloop\.time\s*\(|\.time\(\)")
CLOCK_MODULES = {REPO / "monitor" / "clock.py", REPO / "probes" / "stopwatch.py"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_clock_reads_the_clock(module):
    path = MODULES[module]
    if path in CLOCK_MODULES:
        return
    found = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if CLOCK_READS.search(line.split("#", 1)[0])]
    assert not found, "reads the clock outside monitor/clock.py and probes/stopwatch.py:\n" + "\n".join(found)


def test_the_clock_pattern_finds_what_it_is_for():
    """Guards the test above: the pattern matches each way of reading a clock."""
    for line in ("time.time()", "x = time.monotonic()", "datetime.now(timezone.utc)", "date.today()",
                 "datetime.utcnow()", "loop.time()", "asyncio.get_running_loop().time()"):
        assert CLOCK_READS.search(line), line
    for line in ("datetime.fromtimestamp(t)", "clock.wall()", "time.sleep(1)", "now_utc(clock)"):
        assert not CLOCK_READS.search(line), line

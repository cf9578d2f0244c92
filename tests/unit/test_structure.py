"""The shape of src/paysys: no import cycle (imports under TYPE_CHECKING and inside functions
count), small modules, a core free of vendor libraries, and roles that load no dev tooling."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import paysys

SRC = Path(paysys.__file__).parent
MAX_LINES = 300
# The core is the domain, its ports and use cases: vendor types stop at the adapters.
CORE_FORBIDDEN = (
    "aiohttp",
    "aiobotocore",
    "aiodynamo",
    "botocore",
    "boto3",
    "types_aiobotocore_sns",
    "types_aiobotocore_sqs",
    "prometheus_client",
    "moto",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imported_names(module: str) -> Iterator[str]:
    """Every module ``module`` imports, anywhere in its body: ``from pkg import name`` is
    ``pkg.name`` when that is a paysys module, else ``pkg``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                name = f"{base}.{alias.name}"
                yield name if name in MODULES else base


def paysys_imports(module: str) -> set[str]:
    """The paysys modules ``module`` depends on."""
    return {name for name in imported_names(module) if name in MODULES and name != module}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (top := stack.pop()) != node:
                component.append(top)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_paysys() -> None:
    graph = {module: paysys_imports(module) for module in MODULES}
    assert graph["paysys.cli"], "the checker resolves imports"
    assert cycles(graph) == []


def test_no_module_is_over_300_lines() -> None:
    sizes = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def test_the_core_imports_no_vendor_library() -> None:
    core = [m for m in MODULES if m.startswith("paysys.core")]
    assert core
    used = {
        (module, name)
        for module in core
        for name in imported_names(module)
        if name.split(".")[0] in CORE_FORBIDDEN
    }
    assert used == set()


BUILD_ROLES = textwrap.dedent(
    """
    import sys
    from types import SimpleNamespace

    import paysys.cli
    import paysys.runtime.roles
    from paysys.api.app import create_app
    from paysys.config import Settings
    from paysys.core.queries import StatusReader
    from paysys.core.service import PaymentService
    from paysys.runtime.roles import build_worker, worker_health_app

    settings = Settings.from_env({})
    inert = SimpleNamespace(ping=None)  # never called: nothing is served
    service = PaymentService(inert, inert, inert)
    create_app(settings, service, [], StatusReader(inert, inert, inert))
    clients = SimpleNamespace(calls=SimpleNamespace(calls={}, entries={}))
    resources = SimpleNamespace(
        queue=inert, service=service, payments=inert, events=inert, clients=clients
    )
    worker, metrics = build_worker(settings, resources)
    worker_health_app(settings, worker, resources, metrics)
    print("built")
    for name in sorted(sys.modules):
        if name.startswith("paysys_tools") or name == "moto" or name.startswith("moto."):
            print(name)
    """
)


def test_building_the_roles_loads_no_dev_tooling() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", BUILD_ROLES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.splitlines() == ["built"]

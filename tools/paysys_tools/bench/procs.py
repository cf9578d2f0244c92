"""The processes of a benchmark run: the emulator backends, the latency proxies, the paysys
roles, and the CPU time each of them uses.

The API and the workers run as real ``python -m paysys --role ...`` children configured only
through ``PAYSYS_*`` variables, exactly as a container runs them; their JSON logs go to files
that are read after the run, and their CPU time is read from ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

from paysys.errors import BackendUnavailable
from paysys.local.emulator import MOTO_MODULE, moto_server
from paysys.local.procs import LOOPBACK, Child, free_port, start_ready, stop
from paysys_tools.dynalite import dynalite_server
from paysys_tools.latency_proxy import latency_proxy
from paysys_tools.localstack import localstack_server, localstack_with_moto
from paysys_tools.stub.server import STUB_MODULE, stub_server
from paysys_tools.worker_log import read_worker_logs as read_worker_logs  # noqa: PLC0414 - tests/system/test_bench.py imports it from here

log = structlog.get_logger(__name__)

Backend = Literal["moto", "split", "fast", "localstack", "keepalive", "stub", "endpoint"]
BACKENDS: tuple[Backend, ...] = (
    "moto",
    "split",
    "fast",
    "localstack",
    "keepalive",
    "stub",
    "endpoint",
)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class Endpoints:
    aws: str  # SNS and SQS (they must share one emulator process)
    dynamodb: str


@contextlib.asynccontextmanager
async def start_backend(
    backend: Backend, endpoint: str | None, dynamodb_endpoint: str | None
) -> AsyncIterator[Endpoints]:
    """Start the emulator process(es) of ``backend`` (or attach, for ``endpoint``)."""
    async with contextlib.AsyncExitStack() as stack:
        if backend == "endpoint":
            if not endpoint:
                raise BackendUnavailable("--backend endpoint needs --endpoint URL")
            yield Endpoints(endpoint, dynamodb_endpoint or endpoint)
            return
        if backend == "localstack":  # LocalStack's own SNS and SQS, DynamoDB on moto
            yield Endpoints(*await stack.enter_async_context(localstack_with_moto()))
            return
        if backend == "stub":  # instant answers from memory: paysys's own CPU, no emulator's
            stub = await stack.enter_async_context(stub_server())
            yield Endpoints(stub, stub)
            return
        if backend == "keepalive":  # LocalStack's SNS and SQS, dynalite: both keep connections
            aws = await stack.enter_async_context(localstack_server())
            yield Endpoints(aws, await stack.enter_async_context(dynalite_server()))
            return
        aws = await stack.enter_async_context(moto_server())
        if backend == "moto":
            dynamodb = aws
        elif backend == "split":
            dynamodb = await stack.enter_async_context(moto_server())
        else:
            dynamodb = await stack.enter_async_context(dynalite_server())
        yield Endpoints(aws, dynamodb)


@contextlib.asynccontextmanager
async def with_latency(endpoints: Endpoints, delay_ms: float) -> AsyncIterator[Endpoints]:
    """Put a delaying proxy in front of each distinct endpoint (none when ``delay_ms`` is 0)."""
    if delay_ms <= 0:
        yield endpoints
        return
    async with contextlib.AsyncExitStack() as stack:
        aws = await stack.enter_async_context(latency_proxy(endpoints.aws, delay_ms))
        dynamodb = aws
        if endpoints.dynamodb != endpoints.aws:
            dynamodb = await stack.enter_async_context(latency_proxy(endpoints.dynamodb, delay_ms))
        log.info("bench.latency_proxy", delay_ms=delay_ms, aws=aws, dynamodb=dynamodb)
        yield Endpoints(aws, dynamodb)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux ``/proc``); 0.0 where unavailable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state) of proc(5)
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def child_pids() -> list[int]:
    """Direct children of this process (the emulators, proxies and paysys roles)."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path("/proc/self/task").iterdir():
            pids.extend(int(p) for p in (task / "children").read_text().split())
    return pids


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


_EMULATORS = (MOTO_MODULE, "dynalite", "localstack.runtime.main", STUB_MODULE)


def emulator_pids() -> list[int]:
    return [p for p in child_pids() if any(e in command_line(p) for e in _EMULATORS)]


@dataclass(frozen=True, slots=True)
class Role:
    """One running ``paysys --role`` child."""

    child: Child
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.child.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.child.pid)


async def start_role(
    role: Literal["api", "worker"], name: str, env: Mapping[str, str], log_dir: Path
) -> Role:
    """Start ``python -m paysys --role <role>`` on a free port; return once it is ready."""
    port = free_port()
    child_env = dict(env)
    child_env["PAYSYS_API_PORT" if role == "api" else "PAYSYS_WORKER_PORT"] = str(port)
    base_url = f"http://{LOOPBACK}:{port}"
    log_path = log_dir / f"{name}.log"
    child = await start_ready(
        name,
        [sys.executable, "-m", "paysys", "--role", role],
        f"{base_url}/readyz",
        60.0,
        env=child_env,
        log_path=log_path,
        new_session=True,  # a terminal's Ctrl-C reaches only the bench, which stops us
    )
    return Role(child, base_url, log_path)


async def stop_roles(roles: Iterable[Role], grace_s: float = 30.0) -> None:
    """SIGTERM every role at once, wait for a graceful exit, kill what is left."""
    await asyncio.gather(*(stop(r.child, grace_seconds=grace_s) for r in roles))


class CpuWindow:
    """CPU seconds used by some roles (and the emulators) from now on."""

    def __init__(self, roles: Sequence[Role]) -> None:
        self._start = {r.pid: r.cpu_seconds() for r in roles}
        self._emulators = {p: cpu_seconds(p) for p in emulator_pids()}
        self._began = time.perf_counter()

    def used(self, role: Role) -> float:
        return role.cpu_seconds() - self._start[role.pid]

    def emulator_pct(self) -> float:
        """CPU of the emulator processes over the window, in % of one core."""
        used = sum(cpu_seconds(p) - c for p, c in self._emulators.items())
        return round(100 * used / max(time.perf_counter() - self._began, 1e-9), 1)

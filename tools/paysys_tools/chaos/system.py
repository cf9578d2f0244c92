"""The system under test for one seed: fresh resources on the emulator, the fault proxy in
front of it, and the API and the workers as real ``python -m paysys --role`` processes that
reach AWS only through the proxy. The campaign's own reads go to the emulator directly.

Process faults: :meth:`System.kill_worker` (SIGKILL or SIGTERM, then a new worker) and
:meth:`System.restart_api` (SIGTERM, then a new API on the same port).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from paysys.api.auth import new_key
from paysys.config import Settings, env_name
from paysys.errors import BackendUnavailable
from paysys.local.procs import LOOPBACK, Child, free_port, start_ready, stop
from paysys.ops.provision import Provisioned, provision
from paysys.runtime.resources import Clients, open_clients
from paysys_tools.names import per_run

READY_SECONDS = 60.0
START_TRIES = 3  # a role whose start-up lookups all hit faults exits: start it again


@dataclass(frozen=True, slots=True)
class Merchant:
    id: str
    api_key: str
    entry: str  # its PAYSYS_API_KEYS entry: <merchant>:<sha256 of the key>


def role_env(settings: Settings, merchants: list[Merchant], **extra: object) -> dict[str, str]:
    """The environment of a role process: every setting that differs from its default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSYS_")}
    for f in dataclasses.fields(Settings):
        value = getattr(settings, f.name)
        if value is not None and value != f.default:
            env[env_name(f.name)] = str(value)
    env[env_name("log_format")] = "json"
    env[env_name("auth")] = "required"
    env[env_name("api_keys")] = ",".join(m.entry for m in merchants)
    env.update({env_name(k): str(v) for k, v in extra.items()})
    return env


def merchants_for(ids: list[str]) -> list[Merchant]:
    return [Merchant(m, *new_key(m)) for m in ids]


@dataclass
class System:
    settings: Settings  # what the roles get: AWS through the proxy
    clients: Clients  # the campaign's own, straight to the emulator
    provisioned: Provisioned
    merchants: list[Merchant]
    log_dir: Path
    api_port: int = field(default_factory=free_port)
    api: Child | None = None
    workers: list[Child] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)  # a role's name → its HTTP port
    started: int = 0  # roles started so far (names their logs)
    events: list[str] = field(default_factory=list)  # the process faults, in order

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    async def _start(self, role: str, port: int) -> Child:
        env = role_env(self.settings, self.merchants, **{f"{role}_port": port})
        for attempt in range(1, START_TRIES + 1):
            self.started += 1
            name = f"{role}-{self.started}"
            self.ports[name] = port
            try:
                return await start_ready(
                    name,
                    [sys.executable, "-m", "paysys", "--role", role],
                    f"http://{LOOPBACK}:{port}/healthz",
                    READY_SECONDS,
                    env=env,
                    log_path=self.log_dir / f"{name}.log",
                    new_session=True,
                )
            except BackendUnavailable:
                if attempt == START_TRIES:
                    raise
                self.events.append(f"{name} failed to start, again")
        raise AssertionError("unreachable")

    async def start_api(self) -> None:
        self.api = await self._start("api", self.api_port)

    async def start_worker(self) -> None:
        self.workers.append(await self._start("worker", free_port()))

    async def kill_worker(self, index: int, sig: signal.Signals) -> None:
        """Stop one worker with ``sig`` (SIGKILL: no drain at all) and start a new one."""
        worker = self.workers.pop(index % len(self.workers))
        code = await stop(worker, sig, grace_seconds=30)
        self.events.append(f"{sig.name} {worker.name}: exit {code}")
        await self.start_worker()

    def ready_urls(self) -> list[str]:
        """Every running role's /readyz (its checks call DescribeTable, GetTopicAttributes
        and GetQueueAttributes, as an orchestrator's probes would)."""
        roles = [r for r in (self.api, *self.workers) if r is not None and r.running]
        return [f"http://{LOOPBACK}:{self.ports[r.name]}/readyz" for r in roles]

    async def restart_api(self) -> None:
        if self.api is not None:
            code = await stop(self.api, signal.SIGTERM, grace_seconds=30)
            self.events.append(f"SIGTERM {self.api.name}: exit {code}")
        await self.start_api()

    async def stop_all(self) -> list[str]:
        """SIGTERM every role; the names of those that did not exit 0."""
        roles = [r for r in (self.api, *self.workers) if r is not None]
        codes = await asyncio.gather(*(stop(r, signal.SIGTERM, grace_seconds=30) for r in roles))
        return [f"{r.name} exited {code}" for r, code in zip(roles, codes, strict=True) if code]


@contextlib.asynccontextmanager
async def system_for(
    emulator: str, proxy: str, base: Settings, merchant_ids: list[str], log_dir: Path
) -> AsyncIterator[System]:
    """Fresh resources named for this run; the roles' settings point at ``proxy``."""
    direct = per_run(base, f"chaos{uuid.uuid4().hex[:8]}").replace(
        aws_endpoint_url=emulator, dynamodb_endpoint_url=emulator
    )
    async with open_clients(direct.replace(aws_timeout_seconds=60)) as clients:
        provisioned = await provision(clients)
        roles = direct.replace(aws_endpoint_url=proxy, dynamodb_endpoint_url=proxy)
        await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
        system = System(roles, clients, provisioned, merchants_for(merchant_ids), log_dir)
        try:
            yield system
        finally:
            for role in [system.api, *system.workers]:
                if role is not None and role.running:
                    await stop(role, signal.SIGKILL)

"""Breaking things on purpose: real processes, the real emulator, bounded in time.

Every test ends with the same audit: every payment `Approved`, none approved twice (the
workers' own log lines count the successful approval writes per payment), and nothing left
in the queue or the DLQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import pytest

from paysys.adapters.sqs import SqsQueue
from paysys.config import Settings
from paysys.local.procs import free_port, wait_ready
from paysys.ops.provision import Provisioned, provision
from paysys.runtime.resources import Clients, open_clients
from paysys_tools.worker_log import parse_worker_log

from ..backends import Backend
from ..client import create
from ..conftest import fresh_settings
from ..faults import FaultProxy
from ..processes import RoleProcess, role_env, start_role, stop_role


@dataclass
class System:
    settings: Settings
    clients: Clients
    provisioned: Provisioned
    base: str = ""
    api: RoleProcess | None = None
    workers: list[RoleProcess] = field(default_factory=list)
    worker_logs: list[str] = field(default_factory=list)

    async def start_api(self, **env: object) -> None:
        port = free_port()
        self.api = await start_role("api", role_env(self.settings, api_port=port, **env))
        self.base = f"http://127.0.0.1:{port}"
        await wait_ready(f"{self.base}/healthz")

    async def start_worker(self, **env: object) -> RoleProcess:
        port = free_port()
        worker = await start_role("worker", role_env(self.settings, worker_port=port, **env))
        await wait_ready(f"http://127.0.0.1:{port}/healthz")
        self.workers.append(worker)
        return worker

    async def stop_worker(self, worker: RoleProcess, sig: signal.Signals = signal.SIGTERM) -> int:
        code, log = await stop_role(worker, sig)
        self.worker_logs.append(log)
        return code

    async def post_many(self, count: int, concurrency: int) -> list[str]:
        limit = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession() as http:

            async def post(i: int) -> str:
                async with limit:
                    body = {"amount": f"{i % 97 + 1}.00", "currency": "BRL"}
                    return await create(http, self.base, body)

            return list(await asyncio.gather(*(post(i) for i in range(count))))

    async def statuses(self) -> Counter[str]:
        table = self.settings.table_name
        items = self.clients.dynamodb.scan(table)
        # payments only (counters, leases and velocity items have a kind and no status; an
        # item moto is still creating may show neither yet)
        return Counter([i["status"] async for i in items if "status" in i and "kind" not in i])

    async def wait_approved(self, count: int, guard_seconds: float = 60) -> None:
        async with asyncio.timeout(guard_seconds):  # a hang guard, not a speed check
            while (await self.statuses())["Approved"] < count:  # noqa: ASYNC110 - polling AWS
                await asyncio.sleep(0.2)

    async def wait_final(self, count: int, guard_seconds: float = 60) -> None:
        async with asyncio.timeout(guard_seconds):  # a hang guard, not a speed check
            while (await self.statuses()).total() - (await self.statuses())["Pending"] < count:  # noqa: ASYNC110
                await asyncio.sleep(0.2)

    async def wait_drained(self, guard_seconds: float = 30) -> None:
        async with asyncio.timeout(guard_seconds):  # a hang guard, not a speed check
            while await SqsQueue(self.clients.sqs, self.provisioned.queue_url).depth() != (0, 0):  # noqa: ASYNC110
                await asyncio.sleep(0.2)

    async def audit(self, ids: list[str], *, killed: bool = False) -> None:
        """All approved exactly once, queues empty. Stops every process first.

        A SIGKILLed worker may die between its approval write and its log line (the line
        comes after the outcome event's publish, which lingers), so with ``killed`` the logs
        must show no payment twice but may miss what it held in flight."""
        for worker in self.workers:
            if worker.running:
                assert await self.stop_worker(worker) == 0
        assert await self.statuses() == Counter({"Approved": len(ids)})
        approvals = Counter[str]()
        unknown: set[str] = set()  # an attempt that failed: its write may have committed
        for log in self.worker_logs:
            parsed = parse_worker_log(log.splitlines())
            approvals.update(parsed.finals)
            unknown |= parsed.retried
        assert max(approvals.values()) == 1, "a payment was approved twice"
        assert set(approvals) <= set(ids)
        # An approval whose reply was lost (a timeout on a loaded emulator) is logged as a
        # retry, then its redelivery as a duplicate: no approved line, never two.
        unlogged = set(ids) - set(approvals) - unknown
        if killed:
            # at most what the killed worker held: a slot is freed only after the log line
            assert len(unlogged) <= KILLED_IN_FLIGHT
        else:
            assert unlogged == set(), "approved with no log line and no failed attempt"
        assert await SqsQueue(self.clients.sqs, self.provisioned.queue_url).depth() == (0, 0)
        assert await SqsQueue(self.clients.sqs, self.provisioned.dlq_url).depth() == (0, 0)


KILLED_IN_FLIGHT = 20  # what the worker that is SIGKILLed may hold at once


@contextlib.asynccontextmanager
async def system_for(settings: Settings) -> AsyncIterator[System]:
    # The harness's own reads (a scan of every item) must outlast a loaded emulator.
    async with open_clients(settings.replace(aws_timeout_seconds=60)) as clients:
        system = System(settings, clients, await provision(clients))
        try:
            yield system
        finally:
            for role in [system.api, *system.workers]:
                if role is not None and role.running:
                    await role.stop(signal.SIGKILL)


@pytest.fixture
async def system(backend: Backend) -> AsyncIterator[System]:
    async with system_for(fresh_settings(backend, visibility_timeout_seconds=3)) as running:
        yield running


async def test_500_payments_two_workers_none_lost_none_twice(system: System) -> None:
    await system.start_api()
    for _ in range(2):
        await system.start_worker(worker_loops=4)
    ids = await system.post_many(500, concurrency=16)
    assert len(set(ids)) == 500
    await system.wait_approved(500, guard_seconds=180)  # a loaded 2-core machine: be patient
    # A message whose approval committed but timed out comes back once more, as a duplicate.
    await system.wait_drained(guard_seconds=60)
    await system.audit(ids)


async def test_worker_killed_mid_stream_and_replaced(system: System) -> None:
    await system.start_api()
    first = await system.start_worker(worker_loops=2, worker_max_in_flight=KILLED_IN_FLIGHT)
    ids = await system.post_many(120, concurrency=8)
    await system.wait_approved(20)
    # SIGKILL: no drain; whatever it held is stranded until its visibility timeout.
    await system.stop_worker(first, signal.SIGKILL)
    await system.start_worker(worker_loops=2)
    await system.wait_approved(120)
    # What the killed worker approved but never deleted comes back after the visibility
    # timeout and is acknowledged as a duplicate: wait for the queue to drain.
    await system.wait_drained()
    await system.audit(ids, killed=True)


async def test_sigterm_during_load_drains_and_loses_nothing(system: System) -> None:
    await system.start_api()
    worker = await system.start_worker(worker_loops=4)
    load = asyncio.create_task(system.post_many(150, concurrency=8))
    await system.wait_approved(10)
    assert await system.stop_worker(worker) == 0  # within the 30 s guard
    assert '"event": "worker.stopped"' in system.worker_logs[-1]
    ids = await load
    _, in_flight = await SqsQueue(system.clients.sqs, system.provisioned.queue_url).depth()
    assert in_flight == 0  # handed back, not stranded
    await system.start_worker(worker_loops=4)
    await system.wait_approved(150)
    await system.wait_drained(guard_seconds=60)
    await system.audit(ids)


async def test_sns_outage_window_is_healed_by_the_reconciler(backend: Backend) -> None:
    """Three workers, each with a reconciler; the API cannot reach SNS for a window. Every
    payment ends Approved, and none is republished twice within a reconcile window."""
    window = 2
    async with FaultProxy(backend.aws) as proxy:
        # The API reaches SNS through the proxy; DynamoDB and the workers go direct.
        settings = fresh_settings(
            backend, reconcile_after_seconds=window, reconcile_interval_seconds=0.5
        )
        async with system_for(settings) as system:
            await system.start_api(aws_endpoint_url=proxy.url)
            for _ in range(3):
                await system.start_worker()
            before = await system.post_many(10, concurrency=4)
            proxy.down()
            during = await system.post_many(20, concurrency=4)  # still 202: stored, deferred
            assert proxy.refused > 0
            pending = (await system.statuses())["Pending"]
            assert pending >= 1  # their events were never published
            await asyncio.sleep(window * 2)  # the outage outlasts a reconcile window
            proxy.restore()
            await system.wait_approved(30)
            for worker in list(system.workers):
                await system.stop_worker(worker)
            await system.audit(before + during)

    republished: dict[str, list[datetime]] = defaultdict(list)
    for log in system.worker_logs:
        for line in log.splitlines():
            if '"payment.republished"' in line:
                entry = json.loads(line)
                republished[entry["payment_id"]].append(datetime.fromisoformat(entry["timestamp"]))
    assert len(republished) >= pending  # each deferred payment was republished
    for payment_id, times in republished.items():
        times.sort()
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert all(gap >= window * 0.9 for gap in gaps), (payment_id, gaps)


async def test_worker_survives_the_backend_going_away(backend: Backend) -> None:
    async with FaultProxy(backend.aws) as proxy:
        # A receive whose response the outage swallowed hides its messages until the
        # visibility timeout: keep it short so the test shows recovery, not the wait.
        settings = fresh_settings(backend, visibility_timeout_seconds=3)
        async with system_for(settings) as system:
            await system.start_api()
            # SQS through the proxy (on moto DynamoDB too: one endpoint serves both).
            same = backend.dynamodb == backend.aws
            worker = await system.start_worker(
                aws_endpoint_url=proxy.url,
                dynamodb_endpoint_url=proxy.url if same else backend.dynamodb,
            )
            first = await system.post_many(20, concurrency=4)
            await system.wait_approved(20)
            proxy.down()
            second = await system.post_many(20, concurrency=4)
            await asyncio.sleep(3)  # the worker sees failures and backs off
            assert worker.running
            proxy.restore()
            await system.wait_approved(40)
            await system.stop_worker(worker)
            assert '"worker.receive_failed"' in system.worker_logs[-1]
            await system.audit(first + second)

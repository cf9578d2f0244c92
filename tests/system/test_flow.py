"""End to end through real processes: `paysys --role api` and `--role worker` as the
container runs them, talking to the emulator over HTTP; SIGTERM stops them cleanly."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from paysys.adapters.sqs import SqsQueue
from paysys.config import Settings
from paysys.local.procs import free_port, wait_ready
from paysys.ops.provision import Provisioned

from ..client import call, create
from ..conftest import wait_for_status
from ..processes import role_env, start_role, stop_role


@pytest.fixture
async def system(
    request: pytest.FixtureRequest, settings: Settings, provisioned: Provisioned
) -> AsyncIterator[dict[str, Any]]:
    """An API and a worker process; a test may give more worker settings as its param."""
    api_port, worker_port = free_port(), free_port()
    extra = getattr(request, "param", {})
    env = role_env(settings, api_port=api_port, worker_port=worker_port, worker_loops=3, **extra)
    api = await start_role("api", env)
    worker = await start_role("worker", env)
    base = f"http://127.0.0.1:{api_port}"
    roles = [api, worker]
    try:
        await wait_ready(f"{base}/readyz")
        await wait_ready(f"http://127.0.0.1:{worker_port}/readyz")
        yield {"base": base, "api": api, "worker": worker, "env": env, "roles": roles}
    finally:
        for role in roles:
            if role.running:
                await role.stop(signal.SIGKILL)


async def test_post_to_approved_through_real_processes(
    system: dict[str, Any], clients, provisioned: Provisioned
) -> None:
    async with aiohttp.ClientSession() as http:
        ids = []
        for i in range(10):
            async with http.post(
                f"{system['base']}/payments",
                json={"amount": f"{i + 1}.25", "currency": "BRL"},
                headers={"X-Request-ID": f"flow-{i}"},
            ) as response:
                assert response.status == 202
                ids.append((await response.json())["id"])
        for payment_id in ids:
            url = f"{system['base']}/payments/{payment_id}"
            body = await wait_for_status(http, url, "Approved")
            assert body["approved_at"] is not None
    # Deleted once the outcome event is out, a moment after the payment reads Approved.
    queue = SqsQueue(clients.sqs, provisioned.queue_url)
    async with asyncio.timeout(20):  # a hang guard, not a speed check
        while await queue.depth() != (0, 0):  # noqa: ASYNC110 - polling AWS
            await asyncio.sleep(0.2)

    api_code, api_log = await stop_role(system["api"])
    worker_code, worker_log = await stop_role(system["worker"])
    assert (api_code, worker_code) == (0, 0)
    # One correlation id follows a payment from the request to its approval.
    assert '"correlation_id": "flow-3"' in api_log
    assert '"correlation_id": "flow-3"' in worker_log
    assert f'"payment_id": "{ids[3]}"' in worker_log
    assert '"event": "worker.stopped"' in worker_log


@pytest.mark.parametrize(
    "system",
    [{}, {"shutdown_timeout_seconds": 0.01}],  # batches finish / are cut short by the bound
    ids=["drained", "cut-short"],
    indirect=True,
)
async def test_sigterm_during_load_loses_nothing(
    system: dict[str, Any], clients, provisioned: Provisioned
) -> None:
    queue = SqsQueue(clients.sqs, provisioned.queue_url)
    async with aiohttp.ClientSession() as http:

        async def post(i: int) -> str:
            return await create(http, system["base"], {"amount": "1.00", "currency": "USD"})

        ids = await asyncio.gather(*(post(i) for i in range(30)))
        worker_code, worker_log = await stop_role(system["worker"])
        assert worker_code == 0
        assert '"event": "worker.stopped"' in worker_log
        # Nothing is left hidden in flight: what the worker did not finish is visible at
        # once for the next worker (also a payment whose batch was cut short after its
        # decision was stored: the next worker acknowledges that one as a duplicate).
        visible, in_flight = await queue.depth()
        assert in_flight == 0, worker_log[-6000:]
        statuses = []
        for payment_id in ids:
            _, body = await call(http, "GET", f"{system['base']}/payments/{payment_id}")
            statuses.append(body["status"])
        assert statuses.count("Pending") <= visible

        # The next worker finishes the job: every payment approved, every message deleted.
        system["roles"].append(await start_role("worker", system["env"]))
        for payment_id in ids:
            await wait_for_status(http, f"{system['base']}/payments/{payment_id}", "Approved")
        async with asyncio.timeout(20):  # a hang guard, not a speed check
            while await queue.depth() != (0, 0):  # noqa: ASYNC110 - polling AWS
                await asyncio.sleep(0.2)


async def test_emulator_helper_reports_a_dead_endpoint() -> None:
    from paysys.errors import BackendUnavailable  # noqa: PLC0415

    with pytest.raises(BackendUnavailable):
        await wait_ready(f"http://127.0.0.1:{free_port()}", 0.5)

"""Tracing switched on by the OTEL_* variables in real role processes: both export over
OTLP/HTTP, flush on SIGTERM, and one trace runs from the API process into the worker's."""

from __future__ import annotations

import aiohttp

from paysys.config import Settings
from paysys.local.procs import free_port, wait_ready
from paysys.ops.provision import Provisioned
from paysys_tools.otlp_sink import otlp_sink

from ..conftest import wait_for_status
from ..processes import role_env, start_role, stop_role
from ..traces import TRACE_ID, TRACEPARENT


async def test_one_trace_from_the_api_process_to_the_worker_process(
    settings: Settings, provisioned: Provisioned
) -> None:
    async with otlp_sink() as sink:
        api_port, worker_port = free_port(), free_port()
        env = role_env(settings, api_port=api_port, worker_port=worker_port, worker_loops=1)
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.url  # the only switch: tracing on
        env.pop("OTEL_SERVICE_NAME", None)  # each role names itself
        api, worker = await start_role("api", env), await start_role("worker", env)
        base = f"http://127.0.0.1:{api_port}"
        await wait_ready(f"{base}/readyz")
        await wait_ready(f"http://127.0.0.1:{worker_port}/readyz")
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{base}/payments",
                json={"amount": "3.50", "currency": "EUR"},
                headers={"traceparent": TRACEPARENT},
            ) as response:
                assert response.status == 202
                payment_id = (await response.json())["id"]
            await wait_for_status(http, f"{base}/payments/{payment_id}", "Approved")
        # SIGTERM: each role flushes its batch processor before it exits.
        assert (await stop_role(api))[0] == 0
        assert (await stop_role(worker))[0] == 0

    traced = {(s.service, s.name) for s in sink.spans if s.trace_id == f"{TRACE_ID:032x}"}
    assert {
        ("paysys-api", "POST /payments"),
        ("paysys-api", "DynamoDB.PutItem"),
        ("paysys-api", "publish PaymentCreated"),
        ("paysys-api", "SNS.PublishBatch"),
        ("paysys-worker", "SQS.ReceiveMessage"),
        ("paysys-worker", "process PaymentCreated"),
        ("paysys-worker", "DynamoDB.UpdateItem"),
    } <= traced

"""A merchant's webhook end to end, through real role processes (`paysys --role api` and
`--role worker`) and the emulator over HTTP: it registers an endpoint (the answer has the
secret, once), creates a payment, and its receiver on loopback gets exactly one signed
delivery of the outcome. The merchant verifies it as the docs say: with the snippet of
docs/reference/webhooks.md, run by a bare Python (standard library only, no site-packages),
and with `paysys webhooks verify`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from paysys.adapters.sqs import SqsQueue
from paysys.api.auth import new_key
from paysys.core.webhook_signing import EVENT_ID_HEADER, SIGNATURE_HEADER
from paysys.local.procs import LOOPBACK, free_port
from paysys.runtime.resources import find_queue_url

from ..backends import Backend
from ..conftest import fresh_settings, wait_for_status
from ..processes import run_paysys
from .test_faults import system_for

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference" / "webhooks.md"
WEBHOOKS = {"webhook_key": "system-test-webhook-key", "webhook_mode": "local"}
# Runs the documented snippet, then prints what it says of argv's secret, header and body file.
VERIFY_RUNNER = """
import sys
print(verify_paysys_signature(sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()))
"""


def documented_snippet() -> str:
    """The docs' verification snippet, as a merchant would copy it."""
    found = re.search(r"## Verifying it.*?```python\n(.*?)```", DOCS.read_text(), re.S)
    assert found is not None, "docs/reference/webhooks.md lost its Python snippet"
    return found.group(1)


async def run_snippet(secret: str, header: str, body: Path) -> str:
    """The snippet's verdict, from ``python -I -S``: no site-packages, so stdlib only."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        "-c",
        documented_snippet() + VERIFY_RUNNER,
        secret,
        header,
        str(body),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode().strip()


@contextlib.asynccontextmanager
async def receiving(got: list[tuple[dict[str, str], bytes]]) -> AsyncIterator[str]:
    """The merchant's endpoint on loopback: records each POST, answers 200; its URL."""

    async def receive(request: web.Request) -> web.Response:
        got.append((dict(request.headers), await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/paysys", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    try:
        await web.TCPSite(runner, LOOPBACK, port).start()
        yield f"http://{LOOPBACK}:{port}/paysys"
    finally:
        await runner.cleanup()


async def test_a_merchant_receives_one_signed_delivery_and_verifies_it_as_documented(
    backend: Backend, tmp_path: Path
) -> None:
    key, entry = new_key("shop")
    settings = fresh_settings(backend)
    env = {**WEBHOOKS, "auth": "required", "api_keys": entry}
    got: list[tuple[dict[str, str], bytes]] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        system_for(settings) as system,
        receiving(got) as url,
        aiohttp.ClientSession(headers=headers) as http,
    ):
        await system.start_api(**env)
        async with http.post(f"{system.base}/webhook-endpoints", json={"url": url}) as answer:
            assert answer.status == 201, await answer.text()
            endpoint: dict[str, Any] = await answer.json()
        secret = endpoint["secret"]
        assert secret.startswith("whsec_")
        async with http.get(f"{system.base}/webhook-endpoints") as listed:
            [shown] = (await listed.json())["webhook_endpoints"]
        assert shown["id"] == endpoint["id"]
        assert "secret" not in shown  # answered once, at registration
        worker = await system.start_worker(**env)

        body = {"amount": "12.50", "currency": "BRL"}
        async with http.post(f"{system.base}/payments", json=body) as answer:
            assert answer.status == 202, await answer.text()
            payment_id = (await answer.json())["id"]
        await wait_for_status(http, f"{system.base}/payments/{payment_id}", "Approved")
        async with asyncio.timeout(60):  # a hang guard, not a speed check
            while not got:  # noqa: ASYNC110 - the receiver's task appends
                await asyncio.sleep(0.1)
        # The worker stops cleanly, and its delivery queue is empty: nothing is left that
        # could be delivered again, so what the receiver got is all it will get.
        assert await system.stop_worker(worker) == 0
        webhook_queue = await find_queue_url(system.clients.sqs, settings.webhook_queue_name)
        assert await SqsQueue(system.clients.sqs, webhook_queue).depth() == (0, 0)
        # The worker recorded the attempt; the API shows it in the payment's history.
        history = f"{system.base}/payments/{payment_id}/webhook-deliveries"
        async with http.get(history) as answer:
            [delivery] = (await answer.json())["webhook_deliveries"]
        assert (delivery["endpoint_id"], delivery["state"]) == (endpoint["id"], "delivered")
        [attempt] = delivery["attempts"]
        assert (attempt["attempt"], attempt["status_code"], attempt["result"]) == (
            1,
            200,
            "delivered",
        )

    [(received, raw)] = got  # exactly one delivery
    event = json.loads(raw)
    assert received[EVENT_ID_HEADER] == f"{payment_id}.PaymentApproved"
    assert (event["type"], event["payment_id"], event["merchant_id"], event["status"]) == (
        "PaymentApproved",
        payment_id,
        "shop",
        "Approved",
    )
    signature = received[SIGNATURE_HEADER]
    assert b'"amount":"12.50"' in raw
    saved, changed = tmp_path / "body.json", tmp_path / "changed.json"
    saved.write_bytes(raw)
    changed.write_bytes(raw.replace(b'"amount":"12.50"', b'"amount":"99.50"'))

    # The documented snippet, run as a merchant would: standard library only.
    assert await run_snippet(secret, signature, saved) == "True"
    assert await run_snippet(secret, signature, changed) == "False"
    assert await run_snippet("whsec_other", signature, saved) == "False"

    # `paysys webhooks verify`: exit 0 for the delivery, 1 for a changed body.
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSYS_")}
    verify = ["webhooks", "verify", "--secret", secret, "--header", signature, "--body"]
    code, out = await run_paysys(cli_env, *verify, str(saved))
    assert (code, out.split(":")[0]) == (0, "valid"), out
    code, out = await run_paysys(cli_env, *verify, str(changed))
    assert (code, out.split(":")[0]) == (1, "invalid"), out

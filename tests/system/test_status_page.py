"""The status page at / in a real headless Chromium (Debian's ``chromium``), driven over the
Chrome DevTools Protocol with aiohttp: a payment created through the API appears on the page
and turns ``Approved`` while a worker runs, without reloading the page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from paysys.config import Settings
from paysys.runtime.resources import Resources
from paysys.worker.options import WorkerOptions
from paysys.worker.worker import Worker

from ..browser import GUARD_SECONDS, chromium, keep_screenshot, needs_chromium
from ..conftest import KeyedApi, rolling_up

pytestmark = needs_chromium
BODY = {"amount": "12.50", "currency": "BRL", "description": "status page"}


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, resources: Resources) -> AsyncIterator[Worker]:
    worker = Worker(resources.queue, resources.service, WorkerOptions.from_settings(settings))
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        async with asyncio.timeout(GUARD_SECONDS):
            await task


def _status_of(payment_id: str) -> str:
    """A JS expression: the status shown in the row of ``payment_id``, or null."""
    selector = json.dumps(f'tr[data-payment-id="{payment_id}"] [data-status]')
    return f"document.querySelector({selector})?.dataset.status ?? null"


async def test_a_new_payment_appears_and_turns_approved_live(
    api: TestClient[Any, Any], settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    created = await api.post("/payments", json=BODY)
    assert created.status == 202
    payment_id = (await created.json())["id"]

    async with chromium(tmp_path) as browser, rolling_up(resources):
        await browser.open(str(api.make_url("/")))
        # No worker yet: the payment is on the page, Pending, and counted.
        assert await browser.wait_for(_status_of(payment_id), "the payment") == "Pending"
        await browser.wait_for(
            "document.getElementById('count-pending').textContent === '1'", "1 pending"
        )
        await browser.wait_for(
            "document.getElementById('queue-visible').textContent === '1'", "1 queued message"
        )
        page_id = await browser.evaluate("window.performance.timeOrigin")

        async with running_worker(settings, resources):
            await browser.wait_for(f"{_status_of(payment_id)} === 'Approved'", "it Approved")
            await browser.wait_for(
                "document.getElementById('count-approved').textContent === '1'", "1 approved"
            )
        # The same document, updated by polling: not a reload.
        assert await browser.evaluate("window.performance.timeOrigin") == page_id
        row = await browser.evaluate(
            f"document.querySelector('tr[data-payment-id=\"{payment_id}\"]').innerText"
        )
        assert "12.50 BRL" in row
        assert "status page" in row

        # A canceled payment shows as such, counted, without a reload.
        other = (await (await api.post("/payments", json=BODY)).json())["id"]
        assert (await api.post(f"/payments/{other}/cancel")).status == 202
        await browser.wait_for(f"{_status_of(other)} === 'Canceled'", "it Canceled")
        await browser.wait_for(
            "document.getElementById('count-canceled').textContent === '1'", "1 canceled"
        )
        assert await browser.evaluate("window.performance.timeOrigin") == page_id

        # The charts: the approval counted in the rate, its age in this pod's sample.
        await browser.wait_for(
            "window.paysysCharts.rate?.data[1].some(v => v > 0)", "an approval rate above 0"
        )
        await browser.wait_for(
            "window.paysysCharts.age?.data[1].some(v => v !== null && v >= 0)", "an age at decision"
        )
        for chart in ("rate", "age"):
            assert await browser.evaluate(_inked_pixels(chart)) > 0, chart
        await keep_screenshot(browser, "status-page.png", tmp_path)
        assert not browser.console, browser.console


def _inked_pixels(chart: str) -> str:
    """A JS expression: how many pixels of the uPlot canvas of ``chart`` are not blank."""
    return (
        f"(c => {{ const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        f" let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }})"
        f"(window.paysysCharts.{chart}.ctx.canvas)"
    )


async def test_the_page_asks_for_an_api_key_and_sends_it(
    keyed_api: KeyedApi, tmp_path: Path
) -> None:
    client, key = keyed_api.client, keyed_api.key
    created = await client.post("/payments", json=BODY)  # the client sends the key
    payment_id = (await created.json())["id"]

    async with chromium(tmp_path) as browser:
        await browser.open(str(client.make_url("/")))
        await browser.wait_for("!document.getElementById('auth').hidden", "the API key form")
        assert await browser.evaluate(_status_of(payment_id)) is None

        async def submit(value: str) -> None:
            await browser.evaluate(
                f"document.getElementById('api-key').value = {json.dumps(value)};"
                "document.getElementById('auth-form').requestSubmit(); true"
            )

        await submit("psk_wrong")
        await browser.wait_for(
            "!document.getElementById('auth').hidden && "
            "document.getElementById('auth-reason').textContent.includes('not accepted')",
            "the wrong key refused",
        )
        await submit(key)
        assert await browser.wait_for(_status_of(payment_id), "the payment") == "Pending"
        assert await browser.evaluate("sessionStorage.getItem('paysys.apiKey')") == key
        assert await browser.evaluate("document.getElementById('auth').hidden") is True

        # A reload keeps the key for the tab: no form, straight to the data.
        await browser.open(str(client.make_url("/")) + f"?reload={uuid.uuid4().hex}")
        assert await browser.wait_for(_status_of(payment_id), "the payment again") == "Pending"
        assert await browser.evaluate("document.getElementById('auth').hidden") is True

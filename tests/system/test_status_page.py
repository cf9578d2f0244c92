"""The status page at / in a real headless Chromium (Debian's ``chromium``), driven over the
Chrome DevTools Protocol with aiohttp: a payment created through the API appears on the page
and turns ``Approved`` while a worker runs, without reloading the page."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from paysys.config import Settings
from paysys.local.procs import stop
from paysys.runtime.resources import Resources
from paysys.worker.options import WorkerOptions
from paysys.worker.worker import Worker

from ..conftest import KeyedApi, rolling_up

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)
GUARD_SECONDS = 30.0  # a hang guard, not a speed check
BODY = {"amount": "12.50", "currency": "BRL", "description": "status page"}


class Browser:
    """One headless Chromium and a CDP session on its page."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._next_id = 0
        self.console: list[str] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        call_id = self._next_id
        await self._ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await self._ws.receive_json()
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
            self._note(message)

    def _note(self, event: dict[str, Any]) -> None:
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled":
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.console.append(f"console.{params['type']}: {args}")
        elif event.get("method") == "Runtime.exceptionThrown":
            self.console.append(f"exception: {params['exceptionDetails']}")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for(
            f"location.href === {json.dumps(url)} && document.readyState === 'complete'",
            f"{url} loaded",
        )

    async def wait_for(self, expression: str, what: str) -> Any:
        """Poll ``expression`` in the page until it is truthy; return its value."""
        try:
            async with asyncio.timeout(GUARD_SECONDS):
                while True:
                    value = await self.evaluate(expression)
                    if value:
                        return value
                    await asyncio.sleep(0.1)
        except TimeoutError:
            pytest.fail(f"the page never showed {what}; console: {self.console}")

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


@contextlib.asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[Browser]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    stderr_path = tmp_path / "chromium.log"
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--no-default-browser-check",
            "--no-pings",
            "--window-size=1280,900",
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        port = await _devtools_port(profile, process, stderr_path)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            [page] = [t for t in targets if t["type"] == "page"]
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                browser = Browser(ws)
                await browser.send("Runtime.enable")
                await browser.send("Page.enable")
                yield browser
    finally:
        await stop(process)


async def _devtools_port(profile: Path, process: Any, log: Path) -> int:
    """Chromium writes the port it bound (``--remote-debugging-port=0``) to this file."""
    async with asyncio.timeout(GUARD_SECONDS):
        while (port := _read_port(profile / "DevToolsActivePort")) is None:
            if process.returncode is not None:
                pytest.fail(f"chromium exited with {process.returncode}: {_tail(log)}")
            await asyncio.sleep(0.05)
    return port


def _tail(log: Path) -> str:
    return log.read_bytes()[-3000:].decode(errors="replace")


def _read_port(marker: Path) -> int | None:
    try:
        first = marker.read_text().split()
    except FileNotFoundError:
        return None
    return int(first[0]) if first else None


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
        if os.environ.get("PAYSYS_SCREENSHOTS"):
            await browser.screenshot(Path(os.environ["PAYSYS_SCREENSHOTS"]) / "status.png")


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


async def test_the_docs_page_renders_every_operation(
    api: TestClient[Any, Any], tmp_path: Path
) -> None:
    spec = await (await api.get("/openapi.json")).json()
    operation_ids = sorted(
        operation["operationId"] for item in spec["paths"].values() for operation in item.values()
    )
    async with chromium(tmp_path) as browser:
        await browser.open(str(api.make_url("/docs")))
        rendered = await browser.wait_for(
            "Array.from(document.querySelectorAll('section.card[id^=\"op-\"]'))"
            ".map(s => s.id.slice(3)).sort()",
            "the operations",
        )
        assert rendered == operation_ids
        text = await browser.evaluate("document.getElementById('op-createPayment').innerText")
        for expected in ("Idempotency-Key", "NewPayment", "202", "422", "needs apiKey"):
            assert expected in text
        assert not browser.console, browser.console

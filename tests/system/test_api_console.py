"""The API console at /docs (the vendored Swagger UI) in a real headless Chromium: it loads with
no other host than the API's, takes an API key through "Authorize", and sends a payment with
"Try it out" that the API accepts (202, shown in the page).

``PAYSYS_SCREENSHOTS=docs/images`` keeps the screenshot (docs/images/api-console.png)."""

from __future__ import annotations

import json
from pathlib import Path

from ..browser import chromium, keep_screenshot, needs_chromium
from ..conftest import KeyedApi

pytestmark = needs_chromium
OPERATION = "#operations-payments-createPayment"
BODY = {"amount": "42.00", "currency": "BRL", "description": "sent from the API console"}


async def test_the_console_sends_a_payment_with_a_bearer_key(
    keyed_api: KeyedApi, tmp_path: Path
) -> None:
    client = keyed_api.client
    async with chromium(tmp_path) as browser:
        await browser.open(str(client.make_url("/docs")))
        await browser.wait_for(
            f"document.querySelector('{OPERATION}') !== null", "the createPayment operation"
        )
        operations = await browser.evaluate(
            "Array.from(document.querySelectorAll('.opblock')).map(o => o.id).sort()"
        )
        assert "operations-payments-cancelPayment" in operations  # none is cut off

        # Authorize: the Bearer scheme of openapi.json, given the merchant's key.
        await browser.click(".auth-wrapper .authorize")
        await browser.type_into(".auth-container input", keyed_api.key)
        await browser.click(".auth-btn-wrapper .authorize")
        await browser.click(".auth-btn-wrapper .btn-done")

        # Try it out → the body → Execute.
        await browser.click(f"{OPERATION} .opblock-summary-control")
        await browser.click(f"{OPERATION} .try-out__btn")
        await browser.type_into(f"{OPERATION} textarea.body-param__text", json.dumps(BODY))
        await browser.click(f"{OPERATION} .execute")
        status = await browser.wait_for(
            f"document.querySelector('{OPERATION} .live-responses-table "
            ".response .response-col_status')?.textContent.trim()",
            "the response",
        )
        assert status.startswith("202"), status
        curl = await browser.evaluate(f"document.querySelector('{OPERATION} .curl').textContent")
        assert "Authorization: Bearer" in curl

        # The API has it, under the key's merchant.
        listed = await (await client.get("/payments")).json()
        assert [p["description"] for p in listed["payments"]] == [BODY["description"]]

        await browser.evaluate(
            f"document.querySelector('{OPERATION} .curl-command')"
            ".scrollIntoView({block: 'start'}); true"
        )
        await keep_screenshot(browser, "api-console.png", tmp_path)
        assert not browser.console, browser.console


async def test_the_console_reads_the_api_s_own_document_and_loads_nothing_else(
    keyed_api: KeyedApi, tmp_path: Path
) -> None:
    client = keyed_api.client
    async with chromium(tmp_path) as browser:
        await browser.open(str(client.make_url("/docs")))
        await browser.wait_for("document.querySelector('.opblock') !== null", "the operations")
        origin = str(client.make_url("/")).rstrip("/")
        loaded = await browser.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        assert f"{origin}/openapi.json" in loaded
        assert [url for url in loaded if not url.startswith(origin)] == []
        title = await browser.evaluate("document.querySelector('.info .title').textContent")
        assert title.startswith("paysys")
        assert not browser.console, browser.console

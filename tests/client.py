"""A test's HTTP client does what the API asks of its clients: an answer of 503 ("retry later",
with Retry-After) or 409 ``idempotency_conflict`` is tried again, a new payment with the same
Idempotency-Key, so a retry can never store a payment twice. Tests that put real processes under
load use it: on a loaded emulator a backend call can time out, and the API then answers 503
honestly; what such a test checks is that nothing is lost or doubled, not that the emulator was
fast."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp

RETRIED = {503, 409}


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    guard_seconds: float = 120.0,
) -> tuple[int, Any]:
    """``(status, JSON body)`` of the first answer that is not "retry later"."""
    sent = dict(headers or {})
    if method == "POST" and url.endswith("/payments"):
        sent.setdefault("Idempotency-Key", str(uuid.uuid4()))
    async with asyncio.timeout(guard_seconds):  # a hang guard, not a speed check
        while True:
            async with http.request(method, url, json=json, headers=sent) as response:
                body = await response.json()
                if not _retry_later(response.status, body):
                    return response.status, body
                delay = float(response.headers.get("Retry-After", "1"))
            await asyncio.sleep(delay)  # the server's own Retry-After, as a client honours it


def _retry_later(status: int, body: Any) -> bool:
    if status not in RETRIED:
        return False
    return status == 503 or body["error"]["code"] == "idempotency_conflict"


async def create(http: aiohttp.ClientSession, base: str, body: dict[str, Any]) -> str:
    """A new payment's id; anything but 202 fails the test."""
    status, answer = await call(http, "POST", f"{base}/payments", json=body)
    assert status == 202, answer
    return str(answer["id"])

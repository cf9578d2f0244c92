"""The campaign's clients: they follow the API's retry rules and record every answer.

- create: a 503 (or no answer at all: the API restarting) is retried after its
  ``Retry-After``; with an Idempotency-Key the retry is the same request (same key, same
  body), a 409 ``idempotency_conflict`` is retried the same way; without a key a retry is a
  new request (its description names the attempt). Some keyed creates are sent twice at once
  (two clients, the same key and body);
- cancel: sent some time after the create's 202, retried after a 503 or no answer, until a
  202, a 409 ``payment_final`` or a 404;
- get: once after the create, retried after a 503, then ``GET /stats`` once.

Every intent (what one client wants done) is drawn from the seed: merchant, amount,
currency, key or not, twin or not, cancel or not, and when it starts.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

from paysys_tools.chaos.history import NO_ANSWER, Answer, Op
from paysys_tools.chaos.system import Merchant

MAX_ATTEMPTS = 8  # per operation of an intent
GUARD_SECONDS = 45.0  # per operation of an intent: then the client gives up
ANSWER_SECONDS = 40.0  # one HTTP exchange: longer is "no answer"
CURRENCIES = ("BRL", "BRL", "BRL", "USD")


@dataclass(frozen=True, slots=True)
class Intent:
    name: str  # s<seed>-i<n>
    start: float  # seconds after the load began
    merchant: Merchant
    amount: Decimal
    currency: str
    key: str | None
    twin: bool  # a second client sends the same keyed create at the same time
    cancel_after: float | None  # seconds after the 202; None: no cancel
    get: bool


def intents(seed: int, count: int, seconds: float, merchants: list[Merchant]) -> list[Intent]:
    draw = random.Random(f"{seed}:workload")  # noqa: S311 - a workload, not a secret
    found = []
    for n in range(count):
        keyed = draw.random() < 0.6
        found.append(
            Intent(
                name=f"s{seed}-i{n}",
                start=round(draw.uniform(0, seconds), 3),
                merchant=draw.choice(merchants),
                amount=Decimal(draw.randint(100, 15000)) / 100,
                currency=draw.choice(CURRENCIES),
                key=f"ck-{seed}-{n}" if keyed else None,
                twin=keyed and draw.random() < 0.2,
                cancel_after=round(draw.uniform(0, 1.5), 3) if draw.random() < 0.3 else None,
                get=draw.random() < 0.3,
            )
        )
    return sorted(found, key=lambda i: i.start)


class Client:
    def __init__(self, http: aiohttp.ClientSession, base: str, answers: list[Answer]) -> None:
        self._http = http
        self._base = base
        self._answers = answers

    async def run(self, intent: Intent, began: float) -> None:
        await asyncio.sleep(max(0.0, began + intent.start - time.monotonic()))
        sends = [self.create(intent, "a")]
        if intent.twin:
            sends.append(self.create(intent, "b"))
        ids = {i for i in await asyncio.gather(*sends) if i}
        for payment_id in sorted(ids):
            if intent.get:
                await self.follow(intent, "get", payment_id)
                await self.stats(intent.merchant)
            if intent.cancel_after is not None:
                await asyncio.sleep(intent.cancel_after)
                await self.follow(intent, "cancel", payment_id)

    async def create(self, intent: Intent, who: str) -> str | None:
        """Create until a 202 (its payment id) or the client gives up (None)."""
        headers = {"Authorization": f"Bearer {intent.merchant.api_key}"}
        if intent.key:
            headers["Idempotency-Key"] = intent.key
        deadline = time.monotonic() + GUARD_SECONDS
        for attempt in range(1, MAX_ATTEMPTS + 1):
            description = intent.name.replace("-", " ")
            if intent.key is None:
                description += f" a{attempt}"
            body = {"amount": str(intent.amount), "currency": intent.currency}
            body["description"] = description
            answer = await self._send(
                "create", intent, attempt=attempt, who=who, method="POST", path="/payments",
                headers=headers, body=body,
            )  # fmt: skip
            if answer.status == 202 and answer.body:
                return str(answer.body.get("id"))
            if not _retry(answer) or time.monotonic() > deadline:
                return None
            await asyncio.sleep(_wait(answer))
        return None

    async def follow(self, intent: Intent, op: Op, payment_id: str) -> None:
        """A get or a cancel of ``payment_id``, retried after a 503 or no answer."""
        headers = {"Authorization": f"Bearer {intent.merchant.api_key}"}
        path = f"/payments/{payment_id}" + ("/cancel" if op == "cancel" else "")
        method = "POST" if op == "cancel" else "GET"
        deadline = time.monotonic() + GUARD_SECONDS
        for attempt in range(1, MAX_ATTEMPTS + 1):
            answer = await self._send(
                op, intent, attempt=attempt, who="a", method=method, path=path, headers=headers
            )
            if answer.status not in (503, NO_ANSWER) or time.monotonic() > deadline:
                return
            await asyncio.sleep(_wait(answer))

    async def stats(self, merchant: Merchant) -> dict[str, int] | None:
        headers = {"Authorization": f"Bearer {merchant.api_key}"}
        intent = Intent("stats", 0, merchant, Decimal(0), "", None, False, None, False)
        answer = await self._send(
            "stats", intent, attempt=1, who="a", method="GET", path="/stats", headers=headers
        )
        if answer.status != 200 or not answer.body:
            return None
        return {str(k): int(v) for k, v in answer.body["payments"].items()}

    async def _send(
        self,
        op: Op,
        intent: Intent,
        *,
        attempt: int,
        who: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any] | None = None,
    ) -> Answer:
        payment_id = path.split("/")[2] if path.count("/") >= 2 else None
        common: dict[str, Any] = {
            "client": f"{intent.name}{who}",
            "intent": intent.name,
            "attempt": attempt,
            "op": op,
            "merchant": intent.merchant.id,
            "idempotency_key": intent.key if op == "create" else None,
            "description": body["description"] if body else None,
        }
        common["sent"] = time.monotonic()
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                async with self._http.request(
                    method, self._base + path, json=body, headers=headers
                ) as response:
                    payload = await response.json(content_type=None)
                    retry_after = response.headers.get("Retry-After")
                    status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            common["received"] = time.monotonic()
            answer = Answer(**common, status=NO_ANSWER, payment_id=payment_id, error=repr(exc))
        else:
            common["received"] = time.monotonic()
            if op == "create" and status == 202:
                payment_id = str(payload.get("id"))
            answer = Answer(
                **common, status=status, body=payload, retry_after=retry_after,
                payment_id=payment_id,
            )  # fmt: skip
        self._answers.append(answer)
        return answer


def _retry(answer: Answer) -> bool:
    if answer.status in (503, NO_ANSWER):
        return True
    return answer.status == 409 and answer.error_code == "idempotency_conflict"


def _wait(answer: Answer) -> float:
    try:
        return min(float(answer.retry_after or 1), 5.0)
    except ValueError:
        return 1.0

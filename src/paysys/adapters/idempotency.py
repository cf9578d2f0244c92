"""IdempotencyStore over DynamoDB: one item per key, expired by a TTL attribute.

A claim is a conditional put; a live claim is a lease (``locked_until``) so a request that
died mid-way does not block its key for a day: after the lease the next request with the same
key and body resumes it, with the same payment id.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed, ItemNotFound
from aiodynamo.expressions import F

from paysys.adapters.dynamodb_items import dynamo_translated
from paysys.core.ports import Claim, ClaimState
from paysys.errors import IdempotencyConflict, IdempotencyKeyReused

IN_PROGRESS = "in_progress"
DONE = "done"
TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True, slots=True)
class DynamoIdempotency:
    client: Client
    table: str
    ttl_seconds: int
    lock_seconds: int

    async def claim(self, key: str, fingerprint: str, payment_id: str, now: datetime) -> Claim:
        epoch = int(now.timestamp())
        item = {
            "key": key,
            "fingerprint": fingerprint,
            "payment_id": payment_id,
            "state": IN_PROGRESS,
            "locked_until": epoch + self.lock_seconds,
            TTL_ATTRIBUTE: epoch + self.ttl_seconds,
        }
        # TTL deletion is lazy: an expired record counts as absent.
        free = F("key").does_not_exist() | F(TTL_ATTRIBUTE).lt(epoch)
        try:
            async with dynamo_translated("PutItem"):
                await self.client.put_item(self.table, item, condition=free)
        except ConditionalCheckFailed:
            return await self._existing(key, fingerprint, epoch)
        return Claim(ClaimState.NEW, payment_id)

    async def _existing(self, key: str, fingerprint: str, epoch: int) -> Claim:
        try:
            async with dynamo_translated("GetItem"):
                record = await self.client.get_item(self.table, {"key": key}, consistent_read=True)
        except ItemNotFound:  # released between our put and this read
            raise IdempotencyConflict(
                "a request with this Idempotency-Key just failed; retry"
            ) from None
        if record["fingerprint"] != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request body"
            )
        if record["state"] == DONE:
            return Claim(ClaimState.DONE, record["payment_id"], json.loads(record["response"]))
        if int(record["locked_until"]) > epoch:
            raise IdempotencyConflict("a request with this Idempotency-Key is in progress")
        # The holder's lease ran out: take the key over, unless someone else just did.
        try:
            async with dynamo_translated("UpdateItem"):
                await self.client.update_item(
                    self.table,
                    {"key": key},
                    F("locked_until").set(epoch + self.lock_seconds),
                    condition=F("locked_until").equals(record["locked_until"])
                    & F("state").equals(IN_PROGRESS),
                )
        except ConditionalCheckFailed:
            raise IdempotencyConflict(
                "a request with this Idempotency-Key is in progress"
            ) from None
        return Claim(ClaimState.RESUMED, record["payment_id"])

    async def complete(self, key: str, response: dict[str, Any], now: datetime) -> None:
        async with dynamo_translated("UpdateItem"):
            await self.client.update_item(
                self.table,
                {"key": key},
                F("state").set(DONE)
                & F("response").set(json.dumps(response, separators=(",", ":")))
                & F(TTL_ATTRIBUTE).set(int(now.timestamp()) + self.ttl_seconds),
            )

    async def release(self, key: str) -> None:
        # End the lease but keep the record: the store may have happened even though we saw
        # an error, so the retry must resume with the same payment id, not mint a new one.
        with contextlib.suppress(ConditionalCheckFailed):  # completed after all: keep it
            async with dynamo_translated("UpdateItem"):
                await self.client.update_item(
                    self.table,
                    {"key": key},
                    F("locked_until").set(0),
                    condition=F("state").equals(IN_PROGRESS),
                )

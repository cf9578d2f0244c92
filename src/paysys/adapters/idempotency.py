"""IdempotencyStore over DynamoDB: one small item per key, expired by a TTL attribute.

The record holds the key, the request's fingerprint, the payment id, its state and lease
(``owner``, ``locked_until``) and its expiry: never the response, which a replay reads from
the payment itself. So it stays well within one write unit (``claim_item`` is its largest
form; ``tests/unit/test_item_sizes.py`` measures it).

A claim is a conditional put; a live claim is a lease (``locked_until``) so a request that
died mid-way does not block its key for a day: after the lease the next request with the same
key and body resumes it, with the same payment id. The record names its ``owner`` (a token per
request): a retry of the owner's own claim or resume whose reply was lost passes its condition,
and only the owner releases the lease, so a request overtaken after its lease ran out (another
pod resumed it; leases are compared against each pod's clock) never frees the new holder's.
"""

from __future__ import annotations

import contextlib
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
OWNER = "owner"  # the token of the request that holds (or last held) the lease


@dataclass(frozen=True, slots=True)
class DynamoIdempotency:
    client: Client
    table: str
    ttl_seconds: int
    lock_seconds: int

    async def claim(
        self, key: str, fingerprint: str, payment_id: str, now: datetime, owner: str = ""
    ) -> Claim:
        epoch = int(now.timestamp())
        item = claim_item(
            key, fingerprint, payment_id, epoch, owner=owner, durations=self.durations
        )
        # TTL deletion is lazy: an expired record counts as absent.
        free = F("key").does_not_exist() | F(TTL_ATTRIBUTE).lt(epoch)
        if owner:  # a retry of this very claim (its reply lost) is still this request's
            free = free | (
                F(OWNER).equals(owner)
                & F("payment_id").equals(payment_id)
                & F("state").equals(IN_PROGRESS)
            )
        try:
            async with dynamo_translated("PutItem"):
                await self.client.put_item(self.table, item, condition=free)
        except ConditionalCheckFailed:
            return await self._existing(key, fingerprint, epoch, owner)
        return Claim(ClaimState.NEW, payment_id)

    async def _existing(self, key: str, fingerprint: str, epoch: int, owner: str) -> Claim:
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
        if record["state"] == DONE:  # a record of an earlier release may hold a response too
            return Claim(ClaimState.DONE, record["payment_id"])
        if owner and record.get(OWNER) == owner:  # this request's own resume, retried
            return Claim(ClaimState.RESUMED, record["payment_id"])
        if int(record["locked_until"]) > epoch:
            raise IdempotencyConflict("a request with this Idempotency-Key is in progress")
        # The holder's lease ran out: take the key over, unless someone else just did.
        taken = F("locked_until").equals(record["locked_until"])
        update = F("locked_until").set(epoch + self.lock_seconds)
        if owner:
            update = update & F(OWNER).set(owner)
            taken = taken | F(OWNER).equals(owner)  # or this resume's own retry
        try:
            async with dynamo_translated("UpdateItem"):
                await self.client.update_item(
                    self.table,
                    {"key": key},
                    update,
                    condition=taken & F("state").equals(IN_PROGRESS),
                )
        except ConditionalCheckFailed:
            raise IdempotencyConflict(
                "a request with this Idempotency-Key is in progress"
            ) from None
        return Claim(ClaimState.RESUMED, record["payment_id"])

    @property
    def durations(self) -> tuple[int, int]:
        """(lease, TTL) in seconds."""
        return self.lock_seconds, self.ttl_seconds

    async def complete(self, key: str, now: datetime) -> None:
        async with dynamo_translated("UpdateItem"):
            await self.client.update_item(
                self.table,
                {"key": key},
                F("state").set(DONE)
                & F(TTL_ATTRIBUTE).set(int(now.timestamp()) + self.ttl_seconds),
            )

    async def release(self, key: str, owner: str = "") -> None:
        # End the lease but keep the record: the store may have happened even though we saw
        # an error, so the retry must resume with the same payment id, not mint a new one.
        # Only while this request still holds it: an overtaken request leaves it alone.
        holding = F("state").equals(IN_PROGRESS)
        if owner:
            holding = holding & F(OWNER).equals(owner)
        with contextlib.suppress(ConditionalCheckFailed):  # completed, or not ours: keep it
            async with dynamo_translated("UpdateItem"):
                await self.client.update_item(
                    self.table, {"key": key}, F("locked_until").set(0), condition=holding
                )


def claim_item(
    key: str,
    fingerprint: str,
    payment_id: str,
    epoch: int,
    *,
    owner: str,
    durations: tuple[int, int],
) -> dict[str, Any]:
    """The record a claim puts (``durations``: lease and TTL seconds); a resume and
    ``complete`` only set values of the same or smaller size on it."""
    lock_seconds, ttl_seconds = durations
    item: dict[str, Any] = {
        "key": key,
        "fingerprint": fingerprint,
        "payment_id": payment_id,
        "state": IN_PROGRESS,
        "locked_until": epoch + lock_seconds,
        TTL_ATTRIBUTE: epoch + ttl_seconds,
    }
    if owner:
        item[OWNER] = owner
    return item

"""One ``TransactWriteItems`` sent until it is decided: applied, or refused by a condition.

The caller names the transaction by a ``ClientRequestToken`` (at most 36 characters,
``request_token``) that is the same on every send of the same items: DynamoDB makes a
transaction idempotent per token for 10 minutes, so a send whose reply was lost, sent again,
gets success without being applied twice. A transaction cancelled by a condition (a
``ConditionalCheckFailed`` reason) is refused: ``transact`` answers False. One cancelled by a
conflicting transaction or by throttling is sent again a few times (with a growing, jittered
wait), then ``BackendUnavailable``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Sequence

from aiodynamo.client import Client
from aiodynamo.errors import TransactionCanceled, TransactionConflict, TransactionInProgress
from aiodynamo.operations import ConditionCheck, Delete, Put, Update

from paysys.adapters.dynamodb_items import dynamo_translated
from paysys.errors import BackendUnavailable

REFUSED = "ConditionalCheckFailed"
# Cancellation reasons that say "not now" (another transaction on the item, throttling).
TRANSIENT = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
TRY_AGAIN = 3  # more sends of one transaction cancelled for a transient reason
TRY_AGAIN_SECONDS = 0.02  # the first wait before one (doubled each time, jittered)
TOKEN_BYTES = 18  # 36 hex characters: DynamoDB's ClientRequestToken limit

Operation = Put | Update | Delete | ConditionCheck


def request_token(*parts: str) -> str:
    """A ClientRequestToken naming one transaction by what it is made of."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=TOKEN_BYTES).hexdigest()


async def transact(client: Client, items: Sequence[Operation], token: str) -> bool:
    """True when applied (now or by an earlier send of ``token``), False when refused."""
    for again in range(TRY_AGAIN + 1):
        if again:
            jitter = random.uniform(0.5, 1)  # noqa: S311 - a backoff, not a secret
            await asyncio.sleep(TRY_AGAIN_SECONDS * 2 ** (again - 1) * jitter)
        async with dynamo_translated("TransactWriteItems"):
            try:
                await client.transact_write_items(items, request_token=token)
            except TransactionCanceled as exc:
                codes = {r.code for r in exc.cancellation_reasons if r is not None}
                if REFUSED in codes:
                    return False
                if not codes <= TRANSIENT:
                    raise
                continue
            except (TransactionConflict, TransactionInProgress):
                continue  # the same token still in flight (a reset's first send)
            return True
    raise BackendUnavailable("DynamoDB TransactWriteItems: cancelled by conflicts")

"""The keys that spread payments over DynamoDB partitions: pure functions of a payment.

Every index key whose value many payments share is sharded (a ``#<n>`` suffix chosen by a
stable hash of the payment id), so at 10,000 payments/s, even from one merchant, no partition
key value takes more than a few hundred writes per second (``paysys capacity`` shows the
arithmetic from these same functions):

- the table: ``id`` (a uuid4): one item per payment, every value distinct;
- the sparse *pending* index: ``pending_shard`` = ``p#<n>``, sort key ``due_at`` (when the
  reconciler should look at it next); only payments not yet final carry the attributes;
- the *listing* index: ``list_pk`` = ``<merchant>#<month>#<n>``, sort key ``list_sk`` =
  ``<created_at>#<id>``: newest first per merchant, a page merges the month's shards;
- counter items ``#count#<merchant>#<n>`` in the table, one per shard, updated by the call
  that made each transition (``paysys.adapters.dynamodb``: why counts are near-exact).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

PENDING_PREFIX = "p#"
OUTBOX_PREFIX = "o#"
COUNTER_PREFIX = "#count#"


def shard_of(key: str, shards: int) -> int:
    """A stable, uniform shard for ``key`` (the same in every process and version)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def pending_shard(payment_id: str, shards: int) -> str:
    return f"{PENDING_PREFIX}{shard_of(payment_id, shards)}"


def outbox_shard(payment_id: str, shards: int) -> str:
    """The sparse *outbox* index (same shard count as the pending one): final payments whose
    outcome event is not known to be published."""
    return f"{OUTBOX_PREFIX}{shard_of(payment_id, shards)}"


def pending_shards(shards: int) -> list[str]:
    return [f"{PENDING_PREFIX}{n}" for n in range(shards)]


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def list_pk(merchant_id: str, month: str, shard: int) -> str:
    return f"{merchant_id}#{month}#{shard}"


def list_pk_of(merchant_id: str, created_at: datetime, payment_id: str, shards: int) -> str:
    return list_pk(merchant_id, month_of(created_at), shard_of(payment_id, shards))


def list_sk(created_at_text: str, payment_id: str) -> str:
    return f"{created_at_text}#{payment_id}"


def counter_id(merchant_id: str, shard: int) -> str:
    return f"{COUNTER_PREFIX}{merchant_id}#{shard}"


def counter_id_of(merchant_id: str, payment_id: str, shards: int) -> str:
    return counter_id(merchant_id, shard_of(payment_id, shards))


def previous_month(month: str) -> str:
    year, mon = (int(part) for part in month.split("-"))
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"

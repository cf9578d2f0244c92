"""Every item paysys stores fits one write request unit (1 KB) by construction.

Each test builds the LARGEST item of one kind with the code's own item builders: every
client-supplied field at its byte limit (``paysys.core.limits``), in 4-byte UTF-8 characters
where the field allows them, the longest merchant id, numbers of DynamoDB's 38 digits (an
amount, a counter: more than any bound the code has), every optional attribute set, shard
numbers of four digits, and measures it by DynamoDB's size rules (``dynamodb_size``). A
margin (``MARGIN_BYTES``) is kept under the limit for an attribute or two more.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from paysys.adapters import counter_journal as cj
from paysys.adapters.dynamodb import CREATED_BY, DECIDED_BY
from paysys.adapters.dynamodb_items import Layout, to_item
from paysys.adapters.dynamodb_leases import lease_item
from paysys.adapters.dynamodb_size import ITEM_LIMIT_BYTES, item_size, value_size, write_units
from paysys.adapters.idempotency import claim_item
from paysys.adapters.velocity import counter_changes as velocity_changes
from paysys.config import Settings
from paysys.core import partition_keys
from paysys.core.currencies import ISO_4217
from paysys.core.domain import (
    NewPayment,
    Payment,
    PaymentCreated,
    PaymentStatus,
    fingerprint,
    format_time,
    new_payment_id,
)
from paysys.core.limits import (
    DESCRIPTION_MAX_BYTES,
    IDEMPOTENCY_KEY_MAX_BYTES,
    MERCHANT_ID_MAX_BYTES,
    REQUEST_ID_MAX_BYTES,
    VELOCITY_CURRENCIES_MAX,
    utf8_size,
)
from paysys.core.rules import DeclineReason
from paysys.core.service import new_token
from paysys.core.velocity import Velocity, counter_key, minute_of, velocity_window

MARGIN_BYTES = 64  # kept free in every kind: room for a new attribute without a new limit
EMOJI = "\N{GRINNING FACE}"  # 4 bytes in UTF-8
BIGGEST_NUMBER = Decimal("9" * 38)  # DynamoDB's precision: the largest number, 20 bytes
LAST_SHARD = 9999  # shard numbers of 4 digits: far more shards than any setting uses
MERCHANT = "m" * MERCHANT_ID_MAX_BYTES
# 31 Dec 9999: the longest epoch (12 digits) any time attribute can hold.
LATEST = datetime(9999, 12, 31, 23, 58, 59, 999_999, tzinfo=UTC)
HOST_NAME_MAX = 64  # Linux: a reconciler's lease owner is <hostname>:<pid>:<8 hex>


def fits(item: dict[str, Any]) -> int:
    size = item_size(item)
    assert size <= ITEM_LIMIT_BYTES - MARGIN_BYTES, (size, item)
    assert write_units(size) == 1
    return size


def largest_payment_item() -> dict[str, Any]:
    """A payment with every attribute it can ever carry: its put (``to_item``, pending index
    keys, ``created_by``), its transition (final status, ``approved_at``, ``decline_reason``,
    ``decided_by``, the outbox index keys) and the reconciler's ``republished``. No payment
    has them all at once (a transition removes the pending keys): this bounds every one."""
    created = LATEST - timedelta(days=1)
    layout = Layout(pending_shards=LAST_SHARD + 1, list_shards=LAST_SHARD + 1)
    pending = Payment(
        id=new_payment_id(),
        merchant_id=MERCHANT,
        amount=BIGGEST_NUMBER,
        currency=max(ISO_4217, key=utf8_size),
        description=EMOJI * (DESCRIPTION_MAX_BYTES // utf8_size(EMOJI)),
        status=PaymentStatus.PENDING,
        created_at=created,
        updated_at=created,
        correlation_id="r" * REQUEST_ID_MAX_BYTES,  # X-Request-ID: ASCII only
    )
    final = dataclasses.replace(
        pending,
        status=max(PaymentStatus, key=lambda s: utf8_size(s.value)),
        updated_at=LATEST,
        approved_at=LATEST,  # no payment has both: each is bounded here
        decline_reason=max(DeclineReason, key=lambda r: utf8_size(r.value)).value,
    )
    item = to_item(pending, layout) | to_item(final, layout)
    item["pending_shard"] = f"{partition_keys.PENDING_PREFIX}{LAST_SHARD}"
    item["list_pk"] = partition_keys.list_pk(MERCHANT, partition_keys.month_of(created), LAST_SHARD)
    item[CREATED_BY] = new_token()
    item[DECIDED_BY] = new_token()  # a cancel's token; a worker's receive token is shorter
    item["outbox_shard"] = f"{partition_keys.OUTBOX_PREFIX}{LAST_SHARD}"
    item["outbox_at"] = format_time(LATEST)
    item["republished"] = BIGGEST_NUMBER
    return item


def test_the_largest_payment_item_fits_one_write_unit() -> None:
    item = largest_payment_item()
    assert {"description", "approved_at", "decline_reason", "due_at", "pending_shard"} <= set(item)
    assert utf8_size(item["description"]) == DESCRIPTION_MAX_BYTES
    fits(item)


def test_the_largest_idempotency_record_fits_one_write_unit() -> None:
    settings = Settings()
    new = NewPayment(Decimal("1000000.00"), "BRL", EMOJI)  # a fingerprint is 64 hex digits
    key = f"{MERCHANT}:{'k' * IDEMPOTENCY_KEY_MAX_BYTES}"  # as the service scopes it
    record = claim_item(
        key,
        fingerprint(new),
        new_payment_id(),
        int(LATEST.timestamp()),
        owner=new_token(),
        durations=(settings.idempotency_lock_seconds, settings.idempotency_ttl_seconds),
    )
    assert "response" not in record  # a replay reads the payment: the record stays small
    fits(record)


def test_the_largest_velocity_counter_item_fits_one_write_unit() -> None:
    """A merchant-minute counter with a count and the most amount limits the rules allow,
    every one taken in that minute (each adds its ``a_<currency>``)."""
    currencies = sorted(ISO_4217)[:VELOCITY_CURRENCIES_MAX]
    velocity = Velocity(
        payments_per_minute=10**9,
        amount_per_minute=dict.fromkeys(currencies, BIGGEST_NUMBER),
        shards=64,
    )
    item: dict[str, Any] = {"id": counter_key(MERCHANT, minute_of(LATEST), LAST_SHARD)}
    for currency in currencies:
        event = PaymentCreated(new_payment_id(), Decimal(1), currency, LATEST, MERCHANT)
        window = velocity_window(velocity, event)
        assert window is not None
        for attempt in window.tries:
            for part in attempt.parts:
                sets, adds = velocity_changes(window, part)
                item |= sets | dict.fromkeys(adds, BIGGEST_NUMBER)  # counters grow
    assert len([name for name in item if name.startswith("a_")]) == VELOCITY_CURRENCIES_MAX
    fits(item)


def test_a_velocity_take_without_an_amount_limit_adds_no_amount() -> None:
    event = PaymentCreated(new_payment_id(), Decimal(1), "BRL", LATEST, MERCHANT)
    window = velocity_window(Velocity(payments_per_minute=10), event)
    assert window is not None
    [part] = window.tries[0].parts
    assert velocity_changes(window, part)[1] == {"n": 1}


def test_the_counter_items_fit_one_write_unit() -> None:
    """The rollup's per-merchant and per-shard items hold one number per status, a round and
    the first month, however many processes counted: no attribute per writer."""
    counts = {f"n_{status.value}": BIGGEST_NUMBER for status in PaymentStatus}
    extra = {"kind": "counter", "rnd": BIGGEST_NUMBER, "first_month": "9999-12"}
    fits({"id": cj.merchant_counter_id(MERCHANT), **counts, **extra})
    fits({"id": cj.platform_counter_id(LAST_SHARD), **counts, **extra})


def test_a_journal_item_fits_one_write_unit_however_many_merchants() -> None:
    big = cj.Delta([10**15] * len(cj.STATUSES), "9999-12")
    deltas = {f"{MERCHANT[:-4]}{n:04d}": big for n in range(500)}
    bodies = cj.pack(deltas)
    assert len(bodies) > 1  # spread over several items, each within the limit
    writer = new_token()[:16]
    for body in bodies:
        fits({
            "id": cj.journal_id(LAST_SHARD, writer, 10**12), "kind": "journal", "e": body,
            "expires_at": BIGGEST_NUMBER,
        })  # fmt: skip
    registry = {
        "id": cj.registry_id(LAST_SHARD, writer), "kind": "journal_writer",
        "pending_shard": cj.registry_hash(LAST_SHARD), "due_at": writer,
        **dict.fromkeys(("upto", "from", "round", "closed", "seen_at", "expires_at"),
                        BIGGEST_NUMBER),
    }  # fmt: skip
    fits(registry)


def test_a_lease_item_fits_one_write_unit() -> None:
    owner = f"{'h' * HOST_NAME_MAX}:4194304:{new_token()[:8]}"  # the largest Linux pid
    fits(lease_item(f"reconcile#{LAST_SHARD}", owner, LATEST.timestamp() + 0.123456))


def test_numbers_are_sized_at_dynamodb_precision() -> None:
    """38 significant digits: 20 bytes (the default decimal context would round them to 28)."""
    assert value_size(BIGGEST_NUMBER) == 20
    assert [value_size(n) for n in (0, 10**9, Decimal("12.50"), Decimal("-1.005"))] == [
        2, 2, 3, 3,
    ]  # fmt: skip

"""What one payment costs in DynamoDB request units, step by step, from the items the code
builds (``to_item``) and DynamoDB's billing rules (``paysys.adapters.dynamodb_size``).

The billing rules are the emulator meter's (``paysys.local.billing``): a table write is billed
on the larger of the item before and after it; each index whose key attributes the item gains
or loses is written once, one whose key value changes twice (a delete and a put), one whose
projected attributes change once. The items are built by the
adapter's own functions, and ``tests/integration/test_cost_model.py`` compares them with the
items a real create and decision leave in the emulator, so this model cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from paysys.adapters.dynamodb import CREATED_BY, DECIDED_BY
from paysys.adapters.dynamodb_items import INDEXES, Layout, to_item
from paysys.adapters.dynamodb_size import item_size, write_units
from paysys.adapters.webhook_history import DynamoWebhookHistory
from paysys.core.deliveries import DeliveryAttempt
from paysys.core.domain import NewPayment, Payment, PaymentStatus
from paysys.core.webhooks import EVENT_TYPES, WebhookEndpoint
from paysys.local.billing import IndexShape
from paysys.local.billing import write_cost as billed_write

TOKEN = "0" * 32  # a write's token: uuid4().hex
SAMPLE_MERCHANT = "merchant-0001"
SAMPLE_ID = "3f2b6c1e-8d4a-4f7b-9c2e-5a1d0e6f7b8c"  # a uuid4, as ids are


@dataclass(frozen=True, slots=True)
class Step:
    """One DynamoDB request of a payment's life, and the share of payments that make it."""

    name: str
    operation: str
    wru: float
    rru: float = 0.0
    share: float = 1.0


def sample_payment(merchant_id: str = SAMPLE_MERCHANT) -> Payment:
    """A typical payment: a short description, a correlation id as the API makes one."""
    new = NewPayment(amount=Decimal("49.90"), currency="BRL", description="order 12345")
    now = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)
    return Payment.create(
        new, now, correlation_id="0" * 32, merchant_id=merchant_id, payment_id=SAMPLE_ID
    )


def created_item(payment: Payment, layout: Layout) -> dict[str, Any]:
    """The item ``DynamoPayments.add`` puts."""
    return to_item(payment, layout) | {CREATED_BY: TOKEN}


def decided_item(payment: Payment, layout: Layout) -> dict[str, Any]:
    """The item a worker's decision leaves: final, out of the pending index, no outbox mark."""
    moved = payment.moved_to(PaymentStatus.APPROVED, payment.created_at)
    return to_item(moved, layout) | {CREATED_BY: TOKEN, DECIDED_BY: TOKEN}


def history_item() -> dict[str, Any]:
    """The delivery history item of a first attempt that succeeded (the common case)."""
    at = datetime(2026, 12, 1, 12, 0, 1, tzinfo=UTC)
    endpoint = WebhookEndpoint(
        "we_" + "0" * 24, SAMPLE_MERCHANT, "https://shop.example/paysys", EVENT_TYPES, "0" * 32, at
    )
    attempt = DeliveryAttempt(1, at, 200, 120.0, "delivered")
    history = DynamoWebhookHistory(client=None, table="", ttl_seconds=2_592_000)  # type: ignore[arg-type]
    return history.first_item(SAMPLE_ID, endpoint, "PaymentApproved", attempt)


def python_size(item: Mapping[str, Any] | None) -> int:
    return item_size(item or {})


# The indexes as the bill sees them (the emulator's meter uses the same rules).
SHAPES = tuple(
    IndexShape(i.name, (i.hash_key, i.range_key), ("id",), i.projection, i.include) for i in INDEXES
)


def index_writes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> int:
    """The index writes of one table write that turns ``before`` into ``after``."""
    return write_cost(before, after) - write_units(max(python_size(before), python_size(after)))


def write_cost(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> int:
    """Write units of the table write plus its index writes."""
    return billed_write(before, after, SHAPES, applied=True, size=python_size).total


# A lookup of a merchant's webhook endpoints, eventually consistent: its index
# item (``adapters.webhook_index``, under 100 B), then only the slots it lists, 0.5 each.
# Modelled simply: a merchant with endpoints has one (it may have ``WEBHOOK_ENDPOINTS_MAX``).
ENDPOINT_INDEX_RRU = 0.5
ENDPOINT_SLOT_RRU = 0.5
NO_REQUEST = "none"  # a step that makes no DynamoDB request (shown for what it does not cost)


def steps(
    layout: Layout,
    *,
    key_share: float = 0.0,
    velocity: bool = False,
    endpoint_reads: float = 0.0,
    webhook_share: float = 0.0,
) -> list[Step]:
    """The DynamoDB requests of one payment in the common case (created, decided by a
    worker, its outcome published at once), with ``key_share`` of creates carrying an
    Idempotency-Key, with ``velocity`` a velocity rule on every merchant, ``endpoint_reads``
    webhook endpoint lookups per payment (cache misses) and ``webhook_share`` of payments whose
    merchant has an endpoint (one: its lookup reads the index and that slot; the others' the
    index alone)."""
    payment = sample_payment()
    created, decided = created_item(payment, layout), decided_item(payment, layout)
    made = [
        Step("create: put the payment", "PutItem", write_cost(None, created)),
        Step("decide: move it to its final state", "UpdateItem", write_cost(created, decided)),
    ]
    if key_share:
        made += [
            Step("idempotency: claim the key", "PutItem", 1, share=key_share),
            Step("idempotency: record the answer", "UpdateItem", 1, share=key_share),
        ]
    if velocity:
        made += [
            Step("velocity: read the payment (consistent)", "GetItem", 0, rru=1),
            Step("velocity: take the budget (transaction, 1 item)", "TransactWriteItems", 2),
        ]
    if endpoint_reads:  # the outcome's routing: does an endpoint of the merchant want it?
        index = Step(
            "webhooks: route: read the endpoint index (cached)",
            "GetItem",
            0,
            rru=ENDPOINT_INDEX_RRU,
            share=endpoint_reads,
        )
        made.append(index)
    if endpoint_reads and webhook_share:
        # A merchant with endpoints (one, modelled): routing reads its slot too, and the
        # delivery loop, in another process at worst, reads index and slot again.
        hooked = endpoint_reads * webhook_share
        made += [
            Step(
                "webhooks: route: read its listed endpoint (cached)",
                "BatchGetItem",
                0,
                rru=ENDPOINT_SLOT_RRU,
                share=hooked,
            ),
            Step(
                "webhooks: deliver: index and endpoint again (cached)",
                "BatchGetItem",
                0,
                rru=ENDPOINT_INDEX_RRU + ENDPOINT_SLOT_RRU,
                share=hooked,
            ),
        ]
    if webhook_share:  # the retry schedule lives in the SQS message; the history in a row
        made.append(
            Step(
                "webhooks: record the attempt (history)",
                "UpdateItem",
                write_units(python_size(history_item())),
                share=webhook_share,
            )
        )
    return made

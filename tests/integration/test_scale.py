"""Costs that do not grow with the table (counted in items DynamoDB reads: moto answers a
GSI query by scanning, so its latency grows; the items it reports reading do not), and the
migration from the first layout."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from aiodynamo.client import Client
from aiodynamo.http.types import Request, Response
from aiodynamo.models import BatchWriteRequest

from paysys.adapters.counter_rollup import CounterRollup
from paysys.adapters.dynamodb import DynamoPayments
from paysys.adapters.dynamodb_items import INDEXES, LEGACY_STATUS_INDEX, Layout, to_item
from paysys.config import Settings
from paysys.core import partition_keys
from paysys.core.domain import NewPayment, Payment, PaymentStatus, format_time, utcnow
from paysys.core.queries import StatusReader
from paysys.ops.provision import provision
from paysys.runtime.resources import Clients, Resources, layout, open_clients


@dataclass
class ItemsRead:
    """Wraps aiodynamo's HTTP transport; adds up the items each response says were read."""

    inner: Any
    items: int = 0
    calls: list[str] = field(default_factory=list)

    async def __call__(self, request: Request) -> Response:
        response: Response = await self.inner(request)
        target = dict(request.headers).get("X-Amz-Target", "").rpartition(".")[2]
        self.calls.append(target)
        body = json.loads(response.body or b"{}")
        if target in {"Query", "Scan"}:
            self.items += int(body.get("ScannedCount", body.get("Count", 0)))
        elif target == "BatchGetItem":
            self.items += sum(len(v) for v in body.get("Responses", {}).values())
        elif target == "GetItem":
            self.items += 1 if "Item" in body else 0
        return response

    def reset(self) -> None:
        self.items = 0
        self.calls.clear()


def recorded(clients: Clients) -> tuple[ItemsRead, Client]:
    d = clients.dynamodb
    recorder = ItemsRead(d.http)
    client = Client(recorder, d.credentials, d.region, d.endpoint, numeric_type=Decimal)
    return recorder, client


async def seed(client: Client, table: str, settings: Settings, merchant: str, count: int) -> None:
    """``count`` payments of one merchant, written in batches (their counters are not the
    point here: what a read costs is)."""
    now = utcnow()
    new = NewPayment(Decimal("1.00"), "BRL", "")
    items = [
        to_item(
            Payment.create(
                new, now - timedelta(seconds=n), correlation_id="s", merchant_id=merchant
            ),
            layout(settings),
        )
        for n in range(count)
    ]
    for start in range(0, len(items), 25):
        await client.batch_write({table: BatchWriteRequest(items_to_put=items[start : start + 25])})


async def test_stats_and_a_page_read_the_same_items_at_300_and_3000(
    settings: Settings, resources: Resources
) -> None:
    recorder, client = recorded(resources.clients)
    payments = DynamoPayments(client, settings.table_name, layout(settings))
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    reads: dict[int, tuple[int, int]] = {}
    for size in (300, 3000):
        await seed(client, settings.table_name, settings, merchant, size - len(reads) * 300)
        status = StatusReader(payments, resources.queue, resources.dlq, cache_seconds=0)
        recorder.reset()
        await status.stats(merchant)
        stats_items = recorder.items
        recorder.reset()
        page = await status.page(merchant, 20)
        assert len(page.payments) == 20
        reads[size] = (stats_items, recorder.items)
    assert reads[300][0] == reads[3000][0] <= settings.counter_shards  # counter items only
    # A page: about 20 + 2 x shards index keys, then 20 items by id, at both sizes.
    budget = 20 + 2 * settings.list_shards + settings.list_shards + 20 + settings.counter_shards
    assert reads[300][1] <= budget
    assert reads[3000][1] <= budget


async def test_provision_migrates_the_first_layout(settings: Settings) -> None:
    """A table as the first paysys made it (one status-created_at index, items without the
    merchant or the new keys): provision adds the indexes, backfills, drops the old index."""
    async with open_clients(settings) as clients:
        d = clients.dynamodb
        await d.send_request(
            action="CreateTable",
            payload={
                "TableName": settings.table_name,
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": n, "AttributeType": "S"}
                    for n in ("id", "status", "created_at")
                ],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": LEGACY_STATUS_INDEX,
                        "KeySchema": [
                            {"AttributeName": "status", "KeyType": "HASH"},
                            {"AttributeName": "created_at", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
            },
        )
        now = utcnow()
        old_items = []
        for n in range(12):
            status = PaymentStatus.APPROVED if n % 3 == 0 else PaymentStatus.PENDING
            old_items.append(
                {
                    "id": str(uuid.uuid4()),
                    "amount": Decimal("2.50"),
                    "currency": "EUR",
                    "status": status.value,
                    "created_at": format_time(now - timedelta(minutes=n)),
                    "updated_at": format_time(now - timedelta(minutes=n)),
                    "correlation_id": f"old-{n}",
                }
            )
        for item in old_items:
            await d.put_item(settings.table_name, item)

        first = await provision(clients)
        assert f"backfilled:{len(old_items)}" in first.created
        assert f"removed:{LEGACY_STATUS_INDEX}" in first.created
        again = await provision(clients)  # idempotent: nothing left to do
        assert not [c for c in again.created if c.startswith(("index:", "backfilled", "removed"))]

        table = (
            await d.send_request(action="DescribeTable", payload={"TableName": settings.table_name})
        )["Table"]
        assert {g["IndexName"] for g in table["GlobalSecondaryIndexes"]} == {
            s.name for s in INDEXES
        }
        payments = DynamoPayments(d, settings.table_name, layout(settings))
        for item in old_items:  # every one readable
            assert (await payments.get(item["id"])).merchant_id == "default"
        status = StatusReader(payments, _NoQueue(), _NoQueue(), cache_seconds=0)
        listed: list[str] = []
        page = await status.page("default", 5)
        listed += [p.id for p in page.payments]
        while page.next is not None:
            page = await status.page("default", 5, page.next)
            listed += [p.id for p in page.payments]
        assert sorted(listed) == sorted(i["id"] for i in old_items)
        rollup = CounterRollup(d, settings.table_name, settings.counter_shards)
        for shard in range(settings.counter_shards):  # the backfill's counts, journalled
            await rollup.shard_pass(shard)
        counts = await payments.counts("default")
        assert counts.by_status == dict.fromkeys(PaymentStatus, 0) | {
            PaymentStatus.PENDING: 8,
            PaymentStatus.APPROVED: 4,
        }
        assert counts.first_month == partition_keys.month_of(now - timedelta(minutes=11))


class _NoQueue:
    async def depth(self) -> tuple[int, int]:
        return (0, 0)


async def test_the_first_month_is_the_oldest_whatever_the_order(
    settings: Settings, resources: Resources
) -> None:
    """One counter shard, payments arriving out of month order (a backfill, or two pods'
    clocks across a month's end): the listing's floor is still the oldest month."""
    one_shard = DynamoPayments(
        resources.clients.dynamodb, settings.table_name, Layout(counter_shards=1)
    )
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    new = NewPayment(Decimal("1.00"), "BRL", "")
    now = utcnow()
    rollup = CounterRollup(resources.clients.dynamodb, settings.table_name, 1)
    for days in (0, 70, 35):  # a round each: the item's first month is lowered, not replaced
        when = now - timedelta(days=days)
        await one_shard.add(Payment.create(new, when, correlation_id="c", merchant_id=merchant))
        await rollup.shard_pass(0)
    counts = await one_shard.counts(merchant)
    assert counts.first_month == partition_keys.month_of(now - timedelta(days=70))
    assert counts.by_status[PaymentStatus.PENDING] == 3

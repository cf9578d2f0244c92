"""Coalesced counts on the real emulator: a process's transitions cost one counter write per
merchant and flush, the counts stay exact, and a stopping role writes what it holds."""

from __future__ import annotations

from decimal import Decimal

from paysys.adapters.dynamodb import DynamoPayments
from paysys.adapters.dynamodb_counts import CounterWriter
from paysys.config import Settings
from paysys.core.domain import NewPayment, Payment, PaymentStatus, utcnow
from paysys.ops.provision import Provisioned, provision
from paysys.runtime.resources import Clients, layout, open_clients, open_resources

from ..backends import Backend
from ..conftest import fresh_settings
from .test_scale import recorded

NEW = NewPayment(Decimal("3.00"), "BRL", "")


def payment(merchant: str = "m1") -> Payment:
    return Payment.create(NEW, utcnow(), correlation_id="c", merchant_id=merchant)


async def test_coalesced_counts_cost_one_write_per_merchant_and_flush(
    settings: Settings, clients: Clients, provisioned: Provisioned
) -> None:
    recorder, client = recorded(clients)
    # A long flush interval: only the explicit flush writes, so the calls can be counted.
    counters = CounterWriter(client, settings.table_name, settings.counter_shards, 3600)
    payments = DynamoPayments(client, settings.table_name, layout(settings), counters)
    made = [payment("m1") for _ in range(8)] + [payment("m2") for _ in range(4)]
    for p in made:
        assert await payments.add(p)
    for p in made[:5]:
        assert await payments.transition(p.id, PaymentStatus.APPROVED, utcnow())
    assert recorder.calls.count("UpdateItem") == 5  # the transitions; no counter write yet
    recorder.reset()
    await counters.flush()
    assert recorder.calls == ["UpdateItem", "UpdateItem"]  # one per merchant
    reader = DynamoPayments(clients.dynamodb, settings.table_name, layout(settings))
    m1 = (await reader.counts("m1")).by_status
    assert m1[PaymentStatus.PENDING] == 3
    assert m1[PaymentStatus.APPROVED] == 5
    assert (await reader.counts("m2")).by_status[PaymentStatus.PENDING] == 4
    assert (await reader.counts("m1")).first_month == made[0].created_at.strftime("%Y-%m")
    recorder.reset()
    await counters.flush()
    assert recorder.calls == []  # nothing buffered: no write


async def test_a_flush_that_fails_keeps_its_counts_for_the_next(
    settings: Settings, clients: Clients, provisioned: Provisioned
) -> None:
    counters = CounterWriter(clients.dynamodb, "no-such-table", settings.counter_shards, 3600)
    await counters.count("m1", "p1", utcnow(), {PaymentStatus.PENDING: 1}, first=True)
    await counters.count("m1", "p2", utcnow(), {PaymentStatus.PENDING: 1}, first=True)
    await counters.flush()  # the table is missing: logged, kept for the next flush
    assert counters.buffered == {"m1": {"n_Pending": 2}}
    await counters.count(
        "m1", "p1", utcnow(), {PaymentStatus.PENDING: -1, PaymentStatus.APPROVED: 1}
    )
    assert counters.buffered == {"m1": {"n_Pending": 1, "n_Approved": 1}}
    await counters.close()  # still failing: logged, never raised


async def test_counts_within_one_process_read_their_own_writes(
    settings: Settings, provisioned: Provisioned
) -> None:
    async with open_resources(settings.replace(counter_flush_seconds=3600)) as resources:
        created = await resources.service.create(NEW, "c-1")
        counts = await resources.payments.counts("default")
        assert counts.by_status[PaymentStatus.PENDING] >= 1  # flushed before reading
        assert created.payment_id


async def test_a_stopping_role_writes_the_counts_it_holds(backend: Backend) -> None:
    settings = fresh_settings(backend, counter_flush_seconds=3600)
    async with open_clients(settings) as clients:
        await provision(clients)
    async with open_resources(settings) as resources:
        for _ in range(3):
            await resources.service.create(NEW, "c")
    async with open_resources(settings.replace(counter_flush_seconds=0)) as reader:
        counts = await reader.payments.counts("default")
        assert counts.by_status[PaymentStatus.PENDING] == 3
        items = [i async for i in reader.clients.dynamodb.scan(settings.table_name)]
        counters = [i for i in items if i.get("kind") == "counter"]
        assert counters, "the counts were written to counter items"
        # A stopped writer took its sequence attribute off: items do not grow per process.
        assert not [name for i in counters for name in i if name.startswith("w#")]

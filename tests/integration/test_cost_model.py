"""The cost model's items are the items the code stores: a create and a worker's decision of
the model's sample payment, through the real adapter and the emulator, leave exactly the
items ``paysys.ops.capacity.units`` prices (so its write units cannot drift from the code)."""

from __future__ import annotations

import aiohttp
import pytest

from paysys.adapters.dynamodb import DynamoPayments
from paysys.adapters.dynamodb_counts import CounterWriter
from paysys.adapters.dynamodb_size import item_size, write_units
from paysys.core.domain import PaymentCreated, PaymentStatus
from paysys.ops.capacity.report import cost, layout_of
from paysys.ops.capacity.units import TOKEN, created_item, decided_item, sample_payment
from paysys.runtime.resources import Resources
from paysys_tools.meter import read_meter


async def test_the_model_prices_the_items_a_create_and_a_decision_store(
    resources: Resources,
) -> None:
    payments = resources.payments
    payment = sample_payment()
    layout = layout_of(resources.clients.settings)
    assert await payments.add(payment, TOKEN)
    stored = await payments._raw(payment.id)
    assert stored == created_item(payment, layout)
    moved = await payments.decide(
        PaymentCreated.of(payment), PaymentStatus.APPROVED, payment.created_at, token=TOKEN
    )
    assert moved is not None
    decided = await payments._raw(payment.id)
    assert decided == decided_item(payment, layout)
    assert write_units(max(item_size(stored), item_size(decided))) == 1


async def test_the_emulators_meter_bills_what_the_model_prices(resources: Resources) -> None:
    """A create and a decision of the model's payment, billed by the emulator's meter (the
    counts stay buffered: their journal is priced apart), cost the model's write units."""
    endpoint = resources.clients.settings.dynamodb_endpoint_url
    assert endpoint is not None
    try:
        before = await read_meter(endpoint)
    except aiohttp.ClientResponseError:
        pytest.skip("this backend's DynamoDB has no billing meter")
    table = resources.payments.table
    counters = CounterWriter(resources.payments.client, table, 4, flush_seconds=3600)
    payments = DynamoPayments(resources.payments.client, table, resources.payments.layout, counters)
    payment = sample_payment()
    assert await payments.add(payment, TOKEN)
    moved = await payments.decide(
        PaymentCreated.of(payment), PaymentStatus.APPROVED, payment.created_at, token=TOKEN
    )
    assert moved is not None
    after = await read_meter(endpoint)
    billed = sum(after["tables"][table]["wru"].values()) - sum(
        before["tables"].get(table, {}).get("wru", {}).values()
    )
    model = cost(resources.clients.settings, 1_000)
    assert billed == model.wru_per_payment == 5

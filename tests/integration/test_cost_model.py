"""The cost model's items are the items the code stores: a create and a worker's decision of
the model's sample payment, through the real adapter and the emulator, leave exactly the
items ``paysys.ops.capacity.units`` prices (so its write units cannot drift from the code)."""

from __future__ import annotations

from paysys.adapters.dynamodb_size import item_size, write_units
from paysys.core.domain import PaymentStatus
from paysys.ops.capacity.report import layout_of
from paysys.ops.capacity.units import TOKEN, created_item, decided_item, sample_payment
from paysys.runtime.resources import Resources


async def test_the_model_prices_the_items_a_create_and_a_decision_store(
    resources: Resources,
) -> None:
    payments = resources.payments
    payment = sample_payment()
    layout = layout_of(resources.clients.settings)
    assert await payments.add(payment, TOKEN)
    stored = await payments._raw(payment.id)
    assert stored == created_item(payment, layout)
    moved = await payments.transition(
        payment.id, PaymentStatus.APPROVED, payment.created_at, token=TOKEN, outbox=False
    )
    assert moved is not None
    decided = await payments._raw(payment.id)
    assert decided == decided_item(payment, layout)
    assert write_units(max(item_size(stored), item_size(decided))) == 1

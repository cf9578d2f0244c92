"""VelocityStore over DynamoDB: one counter item per merchant, minute (and shard) in the
payments table, taken with a conditional ``ADD`` so N workers never pass the limit together.

The item (``#velocity#<merchant>#<minute>#<shard>``, ``kind`` = ``velocity``) carries ``n``
(payments), ``a_<currency>`` (amounts) and ``expires_at`` (epoch seconds, the table's TTL
attribute: DynamoDB deletes it some time after its minute). It has no index key, so it is in no
index. A refused take (condition false) is a decline, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed
from aiodynamo.expressions import Condition, F

from paysys.adapters.dynamodb_items import dynamo_translated
from paysys.core.rules import VelocityWindow


@dataclass(frozen=True, slots=True)
class DynamoVelocity:
    client: Client
    table: str

    async def take(self, window: VelocityWindow) -> bool:
        amount_field = f"a_{window.currency}"
        update = (
            F("n").add(1)
            & F(amount_field).add(window.amount)
            & F("kind").set("velocity")
            & F("expires_at").set(window.expires_at)
        )
        condition: Condition | None = None
        if window.max_count is not None:
            condition = F("n").does_not_exist() | F("n").lt(window.max_count)
        if window.max_amount is not None:
            room = F(amount_field).does_not_exist() | F(amount_field).lte(
                window.max_amount - window.amount
            )
            condition = room if condition is None else condition & room
        try:
            async with dynamo_translated("UpdateItem"):
                await self.client.update_item(
                    self.table, {"id": window.key}, update, condition=condition
                )
        except ConditionalCheckFailed:
            return False
        return True

"""A decision's prepared update does to an item exactly what the general expression does."""

from __future__ import annotations

from typing import Any

import pytest
from aiodynamo.expressions import F, Parameters, UpdateExpression

from paysys.adapters.dynamodb_prepared import Prepared, decision_update
from paysys.core.domain import PaymentStatus
from paysys_tools.stub.expressions import apply_update


def _applied(update: UpdateExpression) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": {"S": "p"},
        "status": {"S": "Pending"},
        "pending_shard": {"S": "3"},
        "due_at": {"S": "t0"},
    }
    params = Parameters()
    text = update.encode(params)
    assert text
    condition = F("status").equals("Pending").encode(params)  # shares the parameters
    assert condition
    payload = params.to_request_payload()
    apply_update(
        item, text, payload["ExpressionAttributeNames"], payload["ExpressionAttributeValues"]
    )
    return item


@pytest.mark.parametrize(
    ("to", "reason", "token"),
    [
        (PaymentStatus.APPROVED, None, "tok"),
        (PaymentStatus.APPROVED, None, ""),
        (PaymentStatus.DECLINED, "limit", "tok"),
        (PaymentStatus.DECLINED, "limit", ""),
    ],
)
def test_prepared_matches_the_general_form(
    to: PaymentStatus, reason: str | None, token: str
) -> None:
    prepared = decision_update(to, "t1", reason, token, token_attribute="decided_by")
    assert isinstance(prepared, Prepared)
    general = decision_update(
        to, "t1", reason, token, token_attribute="decided_by", extra=F("x").set("y")
    )
    expected = _applied(general)
    del expected["x"]
    assert _applied(prepared) == expected
    assert expected["status"] == {"S": to.value}
    assert "pending_shard" not in expected

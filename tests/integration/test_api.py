"""The HTTP API against the real emulator: create, read, and every client mistake."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from paysys.core.domain import PaymentCreated
from paysys.core.limits import REQUEST_ID_MAX_BYTES
from paysys.core.service import Decision
from paysys.runtime.resources import Resources

from ..conftest import settle_counts

JSON = {"Content-Type": "application/json"}


async def test_create_then_read(api: TestClient[Any, Any], resources: Resources, logs) -> None:
    response = await api.post(
        "/payments",
        json={"amount": "12.50", "currency": "BRL", "description": "coffee"},
        headers={"X-Request-ID": "req-123"},
    )
    assert response.status == 202
    created = await response.json()
    assert created["status"] == "Pending"
    assert created["amount"] == "12.50"
    assert created["currency"] == "BRL"
    assert created["approved_at"] is None
    assert uuid.UUID(created["id"])
    assert response.headers["Location"] == f"/payments/{created['id']}"
    assert response.headers["X-Request-ID"] == "req-123"

    read = await api.get(response.headers["Location"])
    assert read.status == 200
    assert await read.json() == created

    # Stored as a DynamoDB number, read back as an exact Decimal.
    item = await resources.clients.dynamodb.get_item(
        resources.clients.settings.table_name, {"id": created["id"]}
    )
    assert item["amount"] == Decimal("12.50")
    assert isinstance(item["amount"], Decimal)

    [line] = [e for e in logs.events("http.request") if e["route"] == "/payments"]
    assert line["payment_id"] == created["id"]
    assert line["correlation_id"] == "req-123"
    assert line["status"] == 202
    assert "duration_ms" in line


async def test_cancel_a_pending_payment_then_it_stays_canceled(
    api: TestClient[Any, Any], resources: Resources
) -> None:
    created = await (await api.post("/payments", json={"amount": "3.00", "currency": "EUR"})).json()
    assert created["decline_reason"] is None
    response = await api.post(f"/payments/{created['id']}/cancel")
    assert response.status == 202
    canceled = await response.json()
    assert canceled["status"] == "Canceled"
    assert (canceled["approved_at"], canceled["decline_reason"]) == (None, None)
    assert await (await api.get(f"/payments/{created['id']}")).json() == canceled

    again = await api.post(f"/payments/{created['id']}/cancel")  # idempotent, unchanged
    assert (again.status, await again.json()) == (202, canceled)
    # The worker's late delivery of the creation event is acknowledged, changes nothing.
    approval = await resources.service.decide(
        PaymentCreated.of(await resources.payments.get(created["id"]))
    )
    assert approval is Decision.DUPLICATE
    assert await (await api.get(f"/payments/{created['id']}")).json() == canceled
    await settle_counts(resources)
    stats = await (await api.get("/stats")).json()
    assert stats["payments"]["Canceled"] == 1
    assert stats["platform"]["Canceled"] == 1  # the open API's operator: every merchant


async def test_cancel_of_an_approved_payment_is_409_with_its_status(
    api: TestClient[Any, Any], resources: Resources
) -> None:
    created = await (await api.post("/payments", json={"amount": "3.00", "currency": "EUR"})).json()
    await resources.service.decide(PaymentCreated.of(await resources.payments.get(created["id"])))
    response = await api.post(f"/payments/{created['id']}/cancel")
    assert response.status == 409
    assert (await response.json())["error"]["status"] == "Approved"
    assert (await api.post(f"/payments/{uuid.uuid4()}/cancel")).status == 404
    assert (await api.post("/payments/not-a-uuid/cancel")).status == 404


async def test_json_numbers_never_pass_through_float(api: TestClient[Any, Any]) -> None:
    # 0.1 + 0.2 style: a float parser would turn 1234567.89 into 1234567.8899999...
    response = await api.post(
        "/payments", data='{"amount": 999999.99, "currency": "USD"}', headers=JSON
    )
    assert response.status == 202
    assert (await response.json())["amount"] == "999999.99"


async def test_publishes_payment_created_event(
    api: TestClient[Any, Any], resources: Resources
) -> None:
    response = await api.post(
        "/payments", json={"amount": "5", "currency": "EUR"}, headers={"X-Request-ID": "trace-1"}
    )
    payment = await response.json()
    await resources.events.flush()  # the API answered once the event was queued for a batch
    [message] = await resources.queue.receive(10, 1)
    assert message.correlation_id == "trace-1"
    assert f'"payment_id":"{payment["id"]}"' in message.body
    assert '"type":"PaymentCreated"' in message.body


async def test_a_request_id_over_its_bytes_is_replaced_never_stored(
    api: TestClient[Any, Any],
) -> None:
    kept, long = "r" * REQUEST_ID_MAX_BYTES, "r" * (REQUEST_ID_MAX_BYTES + 1)
    paid = {"amount": "5", "currency": "EUR"}
    response = await api.post("/payments", json=paid, headers={"X-Request-ID": kept})
    assert response.headers["X-Request-ID"] == kept
    response = await api.post("/payments", json=paid, headers={"X-Request-ID": long})
    assert response.status == 202
    replaced = response.headers["X-Request-ID"]
    assert str(uuid.UUID(replaced)) == replaced  # a new UUID is its correlation id


async def test_amounts_follow_the_currency_minor_unit(
    api: TestClient[Any, Any], resources: Resources
) -> None:
    # JPY has no minor unit: 0.50 is refused, naming the field and the decimals allowed.
    refused = await api.post("/payments", json={"amount": "0.50", "currency": "JPY"})
    assert refused.status == 422
    [field] = (await refused.json())["error"]["fields"]
    assert field["field"] == "amount"
    assert "0 decimal places" in field["message"]

    # KWD's minor unit is 3: 1.005 is accepted, stored, rendered and published as it is.
    response = await api.post("/payments", json={"amount": "1.005", "currency": "KWD"})
    assert response.status == 202
    created = await response.json()
    assert created["amount"] == "1.005"
    assert (await (await api.get(f"/payments/{created['id']}")).json())["amount"] == "1.005"
    item = await resources.clients.dynamodb.get_item(
        resources.clients.settings.table_name, {"id": created["id"]}
    )
    assert item["amount"] == Decimal("1.005")
    await resources.events.flush()
    [message] = await resources.queue.receive(10, 1)
    assert '"amount":"1.005"' in message.body

    yen = await api.post("/payments", json={"amount": "1000", "currency": "JPY"})
    assert (yen.status, (await yen.json())["amount"]) == (202, "1000")


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ('{"amount": "1.001", "currency": "BRL"}', JSON, 422, "validation_error"),
        ('{"currency": "BRL"}', JSON, 422, "validation_error"),
        ("[]", JSON, 422, "validation_error"),
        ("null", JSON, 422, "validation_error"),
        ('{"amount": NaN, "currency": "BRL"}', JSON, 400, "malformed_json"),
        ('{"amount": "1", ', JSON, 400, "malformed_json"),
        (b"\xff\xfe", JSON, 400, "malformed_json"),
        (
            '{"amount": "1", "currency": "BRL"}',
            {"Content-Type": "text/plain"},
            415,
            "unsupported_media_type",
        ),
        ('{"amount": "1", "currency": "BRL"}', {}, 415, "unsupported_media_type"),
        ("x" * 20_000, JSON, 413, "payload_too_large"),
    ],
)
async def test_client_mistakes_get_a_json_error(
    api: TestClient[Any, Any], body: str | bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = await api.post("/payments", data=body, headers=headers)
    assert response.status == status
    error = (await response.json())["error"]
    assert error["code"] == code
    assert error["message"]


async def test_validation_error_lists_fields(api: TestClient[Any, Any]) -> None:
    response = await api.post("/payments", json={"amount": "-3", "currency": "bitcoin"})
    body = await response.json()
    fields = {f["field"]: f["message"] for f in body["error"]["fields"]}
    assert set(fields) == {"amount", "currency"}
    assert "greater than 0" in fields["amount"]


@pytest.mark.parametrize("payment_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_unknown_payment_is_404(api: TestClient[Any, Any], payment_id: str) -> None:
    response = await api.get(f"/payments/{payment_id}")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "payment_not_found"


async def test_unknown_route_and_method_are_json(api: TestClient[Any, Any]) -> None:
    missing = await api.get("/nothing-here")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    wrong = await api.delete("/payments")
    assert wrong.status == 405
    assert "POST" in wrong.headers["Allow"]
    assert (await wrong.json())["error"]["code"] == "method_not_allowed"


async def test_health_and_readiness(api: TestClient[Any, Any]) -> None:
    health = await api.get("/healthz")
    assert (health.status, await health.json()) == (200, {"status": "ok"})
    ready = await api.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"dynamodb": "ok", "sns": "ok", "sqs": "ok"}


async def test_backend_outage_is_a_503_not_a_crash(down_api: TestClient[Any, Any]) -> None:
    # Same resources, but every AWS call goes to a closed port.
    create = await down_api.post("/payments", json={"amount": "1", "currency": "BRL"})
    assert create.status == 503
    # no key: the 503 names the payment id it tried, which may not be assumed absent
    error = (await create.json())["error"]
    assert (error["code"], len(error["payment_id"])) == ("store_unconfirmed", 36)
    read = await down_api.get(f"/payments/{uuid.uuid4()}")
    assert read.status == 503
    ready = await down_api.get("/readyz")
    assert ready.status == 503
    checks = (await ready.json())["checks"]
    assert all(v.startswith("unavailable") for v in checks.values())

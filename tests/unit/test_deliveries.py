"""Delivery history and secret rotation: ids, states, the stored attempt, the rotation's
overlaps, and the largest history item within one write unit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from paysys.adapters.dynamodb_size import ITEM_LIMIT_BYTES, item_size
from paysys.adapters.webhook_history import (
    attempt_of,
    attempt_value,
    history_id,
)
from paysys.core.deliveries import (
    ERROR_MAX_CHARS,
    HISTORY_ATTEMPTS,
    Delivery,
    DeliveryAttempt,
    delivery_id,
    parse_delivery_id,
)
from paysys.core.limits import MERCHANT_ID_MAX_BYTES, WEBHOOK_ENDPOINTS_MAX
from paysys.core.webhooks import (
    ROTATION_OVERLAP_DEFAULT_SECONDS,
    ROTATION_OVERLAPS,
    WebhookEndpoint,
    derive_secret,
    new_endpoint_id,
    parse_rotation,
    rotated_previous,
    signing_secrets,
)
from paysys.errors import ValidationError, WebhookDeliveryNotFound

PAYMENT = "0b6f7c1e-3f0a-4d5e-9a55-1f2e3d4c5b6a"
AT = datetime(2026, 12, 5, 4, 30, 1, 250_000, tzinfo=UTC)
ENDPOINT = WebhookEndpoint("we_1", "alice", "https://x.example/h", ("PaymentApproved",), "s0", AT)


def test_a_delivery_id_names_its_payment_and_slot() -> None:
    assert parse_delivery_id(delivery_id(PAYMENT, 3)) == (PAYMENT, 3)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "wd_",
        f"wd_{PAYMENT}",
        f"wd_{PAYMENT}_x",
        f"wd_{PAYMENT}_9",
        f"xx_{PAYMENT}_1",
        f"wd_{PAYMENT}_\u00b2",  # a digit to str.isdigit, not to int()
        f"wd_{PAYMENT}_\u0661",  # Arabic-Indic one: int() takes it, but it is not an id
        f"wd_{PAYMENT}_01",
        f"wd_{PAYMENT.upper()}_1",  # one spelling per delivery
        "wd_x_1",
    ],
)
def test_anything_else_is_an_unknown_delivery(text: str) -> None:
    with pytest.raises(WebhookDeliveryNotFound):
        parse_delivery_id(text)


def attempt(n: int, result: str = "retry", error: str | None = None) -> DeliveryAttempt:
    return DeliveryAttempt(n, AT, 500, 10.0, result, AT, error)  # type: ignore[arg-type]


def test_the_state_is_the_last_attempts() -> None:
    def state(*attempts: DeliveryAttempt) -> str:
        return Delivery(PAYMENT, 0, "we_1", "PaymentApproved", attempts).state

    assert state() == "pending"
    assert state(attempt(1)) == "retrying"
    assert state(attempt(1), attempt(2, "delivered")) == "delivered"
    assert state(attempt(1), attempt(2, "failed")) == "failed"


def test_a_retry_is_scheduled_until_it_is_long_overdue() -> None:
    retrying = Delivery(PAYMENT, 0, "we_1", "PaymentApproved", (attempt(1),))  # next: AT
    assert retrying.scheduled(AT - timedelta(hours=1)) == AT
    assert retrying.scheduled(AT + timedelta(minutes=14)) == AT
    assert retrying.scheduled(AT + timedelta(minutes=16)) is None  # lost: a retry may go
    done = Delivery(PAYMENT, 0, "we_1", "PaymentApproved", (attempt(1), attempt(2, "failed")))
    assert done.scheduled(AT) is None


def test_an_attempt_is_stored_and_read_back_unchanged() -> None:
    full = attempt(7, error="ClientConnectorError: refused")
    bare = DeliveryAttempt(8, AT, None, 0.0, "delivered")
    assert attempt_of(attempt_value(full)) == full
    assert attempt_of(attempt_value(bare)) == bare
    long = attempt(9, error="x" * 500)
    assert attempt_value(long)["err"] == "x" * ERROR_MAX_CHARS
    wide = attempt(10, error="é" * 100)  # 2 bytes each: cut by bytes, never mid-character
    assert attempt_value(wide)["err"] == "é" * (ERROR_MAX_CHARS // 2)


def test_the_largest_history_item_fits_one_write_unit() -> None:
    """Every attempt place filled, each with the longest error and largest numbers, on the
    longest ids: the item an attempt's write rewrites stays one write unit."""
    item: dict[str, object] = {
        "id": history_id(PAYMENT, WEBHOOK_ENDPOINTS_MAX - 1),
        "kind": "webhook_delivery",
        "payment_id": PAYMENT,
        "merchant_id": "m" * MERCHANT_ID_MAX_BYTES,
        "endpoint_id": new_endpoint_id(),
        "event_type": "PaymentCanceled",
        "expires_at": 253_402_300_799,
    }
    late = datetime(9999, 12, 30, tzinfo=UTC)
    for n in range(1000, 1000 + HISTORY_ATTEMPTS):
        value = attempt_value(DeliveryAttempt(n, late, 599, 99_999.9, "retry", late, "e" * 99))
        item[f"a{n % HISTORY_ATTEMPTS}"] = value
    assert item_size(item) <= ITEM_LIMIT_BYTES - 64


def test_a_rotation_keeps_the_replaced_secret_and_earlier_overlaps() -> None:
    now = AT.timestamp()
    once = replace(ENDPOINT, salt="s1", previous=rotated_previous(ENDPOINT, int(now) + 60, now))
    assert once.previous == (("s0", int(now) + 60),)
    twice = replace(once, salt="s2", previous=rotated_previous(once, int(now) + 30, now))
    assert twice.previous == (("s0", int(now) + 60), ("s1", int(now) + 30))
    thrice = replace(twice, salt="s3", previous=rotated_previous(twice, int(now) + 90, now))
    assert len(thrice.previous) == ROTATION_OVERLAPS  # the oldest dropped
    assert thrice.previous[-1] == ("s2", int(now) + 90)
    later = now + 45  # s1's overlap has ended
    assert rotated_previous(twice, int(later) + 10, later) == (
        ("s0", int(now) + 60),
        ("s2", int(later) + 10),
    )


def test_a_delivery_signs_with_each_secret_still_in_its_overlap() -> None:
    now = AT.timestamp()
    rotated = replace(ENDPOINT, salt="s2", previous=(("s0", int(now) - 1), ("s1", int(now) + 5)))
    assert signing_secrets("k", rotated, now) == [
        derive_secret("k", "we_1", "s2"),
        derive_secret("k", "we_1", "s1"),
    ]
    assert signing_secrets("k", rotated, now + 10) == [derive_secret("k", "we_1", "s2")]


def test_a_rotation_body_is_optional_and_checked() -> None:
    assert parse_rotation({}) == ROTATION_OVERLAP_DEFAULT_SECONDS
    assert parse_rotation({"previous_secret_expires_in": 0}) == 0
    assert parse_rotation({"previous_secret_expires_in": Decimal("60.0")}) == 60
    with pytest.raises(ValidationError):  # a huge integer is out of range, not a crash
        parse_rotation({"previous_secret_expires_in": 10**400})
    for bad in (
        {"previous_secret_expires_in": -1},
        {"previous_secret_expires_in": True},
        [1],
        None,
    ):
        with pytest.raises(ValidationError):
            parse_rotation(bad)
    with pytest.raises(ValidationError) as refused:
        parse_rotation({"expires": 5})
    assert [e.field for e in refused.value.errors] == ["expires"]

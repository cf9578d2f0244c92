"""Validation and event rules of the pure domain (no I/O)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from paysys.core.domain import (
    NewPayment,
    Payment,
    PaymentCreated,
    PaymentStatus,
    fingerprint,
    parse_new_payment,
    utcnow,
)
from paysys.errors import MalformedMessage, ValidationError

MAX = Decimal("1000000.00")


def fields_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.50", Decimal("12.50")),
        ("12.5", Decimal("12.50")),
        (Decimal("0.1"), Decimal("0.10")),
        (7, Decimal("7.00")),
        (".5", Decimal("0.50")),
        ("1000000.00", MAX),
        ("12.500", Decimal("12.50")),
    ],
)
def test_valid_amounts_become_cents(raw: object, expected: Decimal) -> None:
    new = parse_new_payment({"amount": raw, "currency": "BRL"}, max_amount=MAX)
    assert new.amount == expected
    assert new.amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("0", "greater than 0"),
        (Decimal("-1.00"), "greater than 0"),
        ("-1.00", "greater than 0"),
        ("+1.00", "not a decimal"),
        ("12.345", "at most 2 decimal places"),
        ("1000000.01", "at most 1000000.00"),
        ("NaN", "not a decimal"),
        ("Infinity", "not a decimal"),
        ("abc", "not a decimal"),
        (" 3.00 ", "not a decimal"),
        ("1_000", "not a decimal"),
        ("1E+2", "not a decimal"),
        ("-", "not a decimal"),
        (".", "not a decimal"),
        (True, "decimal string or number"),
        (12.5, "decimal string or number"),  # a float never gets in
        ([], "decimal string or number"),
    ],
)
def test_invalid_amounts_are_named(raw: object, fragment: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_new_payment({"amount": raw, "currency": "BRL"}, max_amount=MAX)
    assert fragment in fields_of(exc)["amount"]


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_new_payment(
            {"amount": "1", "currency": "BRL", "description": "\ud800"}, max_amount=MAX
        )
    assert "Unicode" in fields_of(exc)["description"]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_new_payment({"currency": "brl", "description": 5, "extra": 1}, max_amount=MAX)
    assert set(fields_of(exc)) == {"amount", "currency", "description", "extra"}


@pytest.mark.parametrize("currency", ["XXX", "BR", "usd", "", 986])
def test_currency_must_be_iso_4217(currency: object) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_new_payment({"amount": "1", "currency": currency}, max_amount=MAX)
    assert "ISO 4217" in fields_of(exc)["currency"]


def test_body_must_be_an_object() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_new_payment([1, 2], max_amount=MAX)
    assert "body" in fields_of(exc)


def test_event_round_trip_keeps_money_exact() -> None:
    payment = Payment.create(
        parse_new_payment({"amount": "0.30", "currency": "EUR"}, max_amount=MAX),
        utcnow(),
        correlation_id="c-1",
    )
    event = PaymentCreated.from_message(PaymentCreated.of(payment).to_message())
    assert event == PaymentCreated.of(payment)
    assert event.amount == Decimal("0.30")
    assert '"amount":"0.30"' in PaymentCreated.of(payment).to_message()


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        '{"type": "Other"}',
        '{"type": "PaymentCreated"}',
        '{"type": "PaymentCreated", "payment_id": "x", "amount": "1", "currency": "BRL",'
        ' "created_at": "2026-01-01T00:00:00Z"}',
        '{"type": "PaymentCreated", "payment_id": 5, "amount": "1", "currency": "BRL",'
        ' "created_at": "2026-01-01T00:00:00Z"}',
    ],
)
def test_malformed_events_are_rejected(body: str) -> None:
    with pytest.raises(MalformedMessage):
        PaymentCreated.from_message(body)


def _other_value(value: object) -> object:
    """A value of the same type that differs from ``value``."""
    if isinstance(value, Decimal):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, datetime):
        return value + timedelta(seconds=1)
    if isinstance(value, PaymentStatus):
        return PaymentStatus.APPROVED
    return "changed"


def test_every_request_field_is_in_the_fingerprint() -> None:
    new = NewPayment(Decimal("12.50"), "BRL", "coffee")
    assert fingerprint(new) == fingerprint(NewPayment(Decimal("12.5"), "BRL", "coffee"))
    # pinned: records stored by earlier releases keep matching their requests
    stored = hashlib.sha256(json.dumps(["12.50", "BRL", "coffee"]).encode()).hexdigest()
    assert fingerprint(new) == stored
    for field in dataclasses.fields(NewPayment):
        changed = dataclasses.replace(new, **{field.name: _other_value(getattr(new, field.name))})
        assert fingerprint(changed) != fingerprint(new), field.name


def test_same_request_compares_every_field_but_what_a_transition_changes() -> None:
    new = NewPayment(Decimal("12.50"), "BRL", "coffee")
    payment = Payment.create(new, utcnow(), correlation_id="c-1")
    moved = payment.moved_to(PaymentStatus.APPROVED, utcnow())
    assert payment.same_request(moved), "a transition keeps it the same request's payment"
    changed_by_transition = {
        f.name
        for f in dataclasses.fields(Payment)
        if getattr(moved, f.name) != getattr(payment, f.name)
    }
    for field in dataclasses.fields(Payment):
        changed = dataclasses.replace(
            payment, **{field.name: _other_value(getattr(payment, field.name))}
        )
        expected_same = field.name in changed_by_transition | {"approved_at", "decline_reason"}
        assert payment.same_request(changed) is expected_same, field.name

"""Validation and event rules of the pure domain (no I/O)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paysys.core.domain import Payment, PaymentCreated, parse_new_payment, utcnow
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

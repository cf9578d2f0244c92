"""Validation and event rules of the pure domain (no I/O)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import json
from datetime import datetime, timedelta
from decimal import Decimal

import jsonschema
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
from paysys.core.outcomes import PaymentOutcome
from paysys.errors import MalformedMessage, ValidationError

MAX = Decimal("1000000.00")
OUTCOME_SCHEMA = json.loads(
    (importlib.resources.files("paysys.core") / "schemas/payment_outcome.v1.json").read_text()
)


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


def rendered(payment: Payment) -> set[str]:
    """The amount's text everywhere it is rendered: the API's JSON, the PaymentCreated event
    and the outcome event (checked against its JSON Schema)."""
    created = json.loads(PaymentCreated.of(payment).to_message())
    outcome = json.loads(
        PaymentOutcome.of(payment.moved_to(PaymentStatus.APPROVED, utcnow())).to_message()
    )
    jsonschema.validate(outcome, OUTCOME_SCHEMA)
    return {payment.to_json()["amount"], created["amount"], outcome["amount"]}


@pytest.mark.parametrize(
    ("raw", "currency", "text"),
    [
        ("1000", "JPY", "1000"),  # ISO 4217 minor unit 0
        ("1000.00", "JPY", "1000"),  # trailing zeros are no finer
        (7, "CLP", "7"),
        ("1.005", "KWD", "1.005"),  # minor unit 3
        ("1.5", "KWD", "1.500"),
        (Decimal("0.001"), "BHD", "0.001"),
        ("12.5", "BRL", "12.50"),  # minor unit 2
        ("12.500", "BRL", "12.50"),
    ],
)
def test_amounts_are_kept_and_rendered_at_the_currency_minor_unit(
    raw: object, currency: str, text: str
) -> None:
    new = parse_new_payment({"amount": raw, "currency": currency}, max_amount=MAX)
    assert str(new.amount) == text
    payment = Payment.create(new, utcnow(), correlation_id="c-1")
    assert rendered(payment) == {text}


@pytest.mark.parametrize(
    ("raw", "currency", "fragment"),
    [
        ("0.50", "JPY", "0 decimal places"),
        (Decimal("0.5"), "JPY", "0 decimal places"),  # a JSON number
        ("1000.1", "KRW", "0 decimal places"),
        ("1.0005", "KWD", "at most 3 decimal places"),
        ("0.0001", "OMR", "at most 3 decimal places"),
        ("12.345", "BRL", "at most 2 decimal places"),
    ],
)
def test_amounts_finer_than_the_currency_minor_unit_are_refused(
    raw: object, currency: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_new_payment({"amount": raw, "currency": currency}, max_amount=MAX)
    assert set(fields_of(exc)) == {"amount"}
    assert fragment in fields_of(exc)["amount"]
    assert currency in fields_of(exc)["amount"]


@pytest.mark.parametrize(
    ("currency", "bound"), [("JPY", "1000000"), ("BRL", "1000000.00"), ("KWD", "1000000.000")]
)
def test_the_bound_is_said_at_the_currency_minor_unit(currency: str, bound: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_new_payment({"amount": "1000001", "currency": currency}, max_amount=MAX)
    assert fields_of(exc)["amount"] == f"must be at most {bound}"


def test_an_amount_stored_before_minor_units_is_never_rounded() -> None:
    # A JPY 0.50 accepted by an earlier release (DynamoDB gives it back as 0.5): it is shown
    # with the 2 decimals it was accepted with, not rounded to a yen it was not paid in.
    new = NewPayment(Decimal("0.5"), "JPY", "")
    assert rendered(Payment.create(new, utcnow(), correlation_id="c-1")) == {"0.50"}


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


@pytest.mark.parametrize(
    ("amount", "currency", "hashed"),
    [
        ("1000", "JPY", "1000.00"),  # as every earlier release hashed it: old keys still match
        ("1.50", "KWD", "1.50"),
        ("1.005", "KWD", "1.005"),  # a third decimal place is part of the request
    ],
)
def test_the_fingerprint_of_every_currency(amount: str, currency: str, hashed: str) -> None:
    new = parse_new_payment({"amount": amount, "currency": currency}, max_amount=MAX)
    expected = hashlib.sha256(json.dumps([hashed, currency, ""]).encode()).hexdigest()
    assert fingerprint(new) == expected
    assert fingerprint(new) != fingerprint(dataclasses.replace(new, amount=Decimal("1.00")))


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

"""The byte limits of client-supplied values (``paysys.core.limits``): counted in UTF-8 bytes,
refused with a message naming the field and both sizes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from paysys.core.currencies import ISO_4217
from paysys.core.domain import (
    MERCHANT_ID,
    PaymentCreated,
    merchant_id_problem,
    parse_new_payment,
)
from paysys.core.limits import (
    CURRENCY_MAX_BYTES,
    DESCRIPTION_MAX_BYTES,
    MERCHANT_ID_MAX_BYTES,
    too_long,
    utf8_size,
)
from paysys.errors import MalformedMessage, ValidationError

MAX = Decimal("1000000.00")
EMOJI = "\N{GRINNING FACE}"  # 4 bytes in UTF-8
ACCENT = "\N{LATIN SMALL LETTER E WITH ACUTE}"  # 2 bytes


def description_problem(description: str) -> str | None:
    body = {"amount": "1", "currency": "BRL", "description": description}
    try:
        parse_new_payment(body, max_amount=MAX)
    except ValidationError as exc:
        return {e.field: e.message for e in exc.errors}["description"]
    return None


def test_sizes_are_utf8_bytes_and_the_message_names_both() -> None:
    assert [utf8_size(t) for t in ("a", ACCENT, "\N{EURO SIGN}", EMOJI, "\ud800")] == [
        1, 2, 3, 4, 3,
    ]  # fmt: skip
    assert too_long("a" * 10, 10) is None
    assert too_long(EMOJI * 300, 280) == "must be at most 280 bytes in UTF-8 (got 1,200)"


@pytest.mark.parametrize("char", ["a", ACCENT, EMOJI])
def test_a_description_is_limited_in_bytes_not_characters(char: str) -> None:
    fits = char * (DESCRIPTION_MAX_BYTES // utf8_size(char))
    assert description_problem(fits) is None
    over = fits + char
    assert description_problem(over) == (
        f"must be at most {DESCRIPTION_MAX_BYTES} bytes in UTF-8 (got {utf8_size(over):,})"
    )


def test_a_too_long_currency_says_so_and_every_iso_code_fits() -> None:
    assert {len(code.encode()) for code in ISO_4217} == {CURRENCY_MAX_BYTES}
    with pytest.raises(ValidationError) as exc:
        parse_new_payment({"amount": "1", "currency": "EURO" * 100}, max_amount=MAX)
    [error] = exc.value.errors
    assert (error.field, error.message) == (
        "currency",
        "must be at most 3 bytes in UTF-8 (got 400): an ISO 4217 code in upper case, e.g. BRL",
    )


def test_merchant_ids_are_bounded() -> None:
    longest = "m" * MERCHANT_ID_MAX_BYTES
    assert MERCHANT_ID.fullmatch(longest)
    assert merchant_id_problem(longest) is None
    assert merchant_id_problem(longest + "m") == (
        f"is {MERCHANT_ID_MAX_BYTES + 1} bytes long: at most {MERCHANT_ID_MAX_BYTES}"
    )
    assert "a-z, 0-9, _ and -" in str(merchant_id_problem("Acme Corp"))


def test_an_event_with_an_unbounded_merchant_id_is_malformed() -> None:
    body = {
        "type": "PaymentCreated",
        "payment_id": "8c8cabde-0000-4000-8000-000000000000",
        "merchant_id": "m" * (MERCHANT_ID_MAX_BYTES + 1),
        "amount": "1.00",
        "currency": "BRL",
        "created_at": "2026-03-01T12:00:00.000000Z",
    }
    with pytest.raises(MalformedMessage, match="merchant_id is"):
        PaymentCreated.from_message(json.dumps(body))
    body["merchant_id"] = "m" * MERCHANT_ID_MAX_BYTES
    assert PaymentCreated.from_message(json.dumps(body)).merchant_id == body["merchant_id"]

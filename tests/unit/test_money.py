"""The ISO 4217 minor units (core/currencies.py) and the money helpers (core/money.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paysys.core.currencies import ISO_4217, MINOR_UNITS, minor_unit
from paysys.core.money import canonical_amount, format_amount

# From the ISO 4217 list ("Minor unit"); every other listed code has 2.
WHOLE_UNITS = [
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
    "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
]  # fmt: skip
THREE_PLACES = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
NOT_TWO = dict.fromkeys(WHOLE_UNITS, 0) | dict.fromkeys(THREE_PLACES, 3)


def test_every_listed_currency_has_its_minor_unit() -> None:
    assert set(MINOR_UNITS) == ISO_4217
    assert {code: unit for code, unit in MINOR_UNITS.items() if unit != 2} == NOT_TWO
    assert (minor_unit("JPY"), minor_unit("BRL"), minor_unit("KWD")) == (0, 2, 3)


def test_a_code_outside_the_list_renders_at_2_places() -> None:
    # Never accepted by the API; an old event or a test may still carry one.
    assert minor_unit("XXX") == 2
    assert format_amount(Decimal("5"), "XXX") == "5.00"


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("1000", "JPY", "1000"),
        ("1E+3", "JPY", "1000"),  # as DynamoDB may give a round number back
        ("12.5", "BRL", "12.50"),
        ("1.005", "KWD", "1.005"),
        ("1.5", "KWD", "1.500"),
        ("0.5", "JPY", "0.50"),  # stored before minor units were checked: never rounded
    ],
)
def test_format_amount(amount: str, currency: str, text: str) -> None:
    assert format_amount(Decimal(amount), currency) == text


@pytest.mark.parametrize(
    ("amount", "text"),
    [("1000", "1000.00"), ("1E+3", "1000.00"), ("12.5", "12.50"), ("1.005", "1.005")],
)
def test_canonical_amount_is_2_places_or_more(amount: str, text: str) -> None:
    assert canonical_amount(Decimal(amount)) == text

"""Money: amounts parsed, checked and rendered. Decimal end to end, never float."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from paysys.core.currencies import ISO_4217
from paysys.errors import FieldError

_CENT = Decimal("0.01")
# Digits with an optional decimal point, and a minus so "-3" hears "must be greater than 0".
# No plus, exponent, spaces or "1_000": Decimal takes all of those, a payment API should not.
_AMOUNT_TEXT = re.compile(r"-?(?=\.?[0-9])[0-9]*(\.[0-9]*)?")


def format_amount(amount: Decimal) -> str:
    return str(amount.quantize(_CENT))


def parse_amount(raw: object, max_amount: Decimal, errors: list[FieldError]) -> Decimal | None:
    amount = _to_decimal(raw)
    if isinstance(amount, str):
        problem = amount
    elif amount <= 0:
        problem = "must be greater than 0"
    elif amount > max_amount:
        problem = f"must be at most {format_amount(max_amount)}"
    elif amount != amount.quantize(_CENT):
        problem = "must have at most 2 decimal places"
    else:
        return amount.quantize(_CENT)
    errors.append(FieldError("amount", problem))
    return None


def _to_decimal(raw: object) -> Decimal | str:
    """The amount as a finite Decimal, or what is wrong with it."""
    if raw is None:
        return "is required"
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        return 'must be a decimal string or number, e.g. "12.50"'
    if isinstance(raw, str) and not _AMOUNT_TEXT.fullmatch(raw):
        return f'{raw!r} is not a decimal number like "12.50"'
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        return f"{raw!r} is not a decimal number"
    if not amount.is_finite():
        return "must be a finite number"
    return amount


def parse_currency(raw: object, errors: list[FieldError]) -> str | None:
    if raw is None:
        errors.append(FieldError("currency", "is required"))
    elif not isinstance(raw, str) or raw not in ISO_4217:
        errors.append(FieldError("currency", "must be an ISO 4217 code in upper case, e.g. BRL"))
    else:
        return raw
    return None

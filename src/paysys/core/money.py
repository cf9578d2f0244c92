"""Money: amounts parsed, checked and rendered at their currency's ISO 4217 minor unit.

An amount has at most as many decimal places as its currency's minor unit
(``currencies.MINOR_UNITS``: JPY 0, BRL 2, KWD 3): a finer one is refused, never rounded;
trailing zeros are no finer ("12.500" BRL is 12.50, "1000.0" JPY is 1000). Amounts are
``Decimal`` end to end: JSON numbers arrive as Decimal (``parse_float=Decimal``), never float.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from paysys.core.currencies import DEFAULT_MINOR_UNIT, ISO_4217, minor_unit
from paysys.core.limits import CURRENCY_MAX_BYTES, too_long
from paysys.errors import FieldError

# Digits with an optional decimal point, and a minus so "-3" hears "must be greater than 0".
# No plus, exponent, spaces or "1_000": Decimal takes all of those, a payment API should not.
_AMOUNT_TEXT = re.compile(r"-?(?=\.?[0-9])[0-9]*(\.[0-9]*)?")


def quantum(places: int) -> Decimal:
    """One unit of the ``places``-th decimal place: 1, 0.01, 0.001."""
    return Decimal(1).scaleb(-places)


def format_amount(amount: Decimal, currency: str) -> str:
    """The public text of an amount, at its currency's minor unit: JPY "1000", BRL "12.50",
    KWD "1.005". An amount finer than that (a JPY 0.50 stored before minor units were checked)
    is never rounded: it keeps the 2 decimals every amount was accepted and rendered with then."""
    for places in (minor_unit(currency), DEFAULT_MINOR_UNIT):
        exact = amount.quantize(quantum(places))
        if exact == amount:
            return str(exact)
    return str(amount)


def canonical_amount(amount: Decimal) -> str:
    """The amount as the idempotency fingerprint hashes it: at 2 decimal places, or more when
    it has more (KWD "1.005"), whatever its currency. Every amount an earlier release accepted
    had at most 2, so a key stored then (JPY "1000.00" included) still matches its request."""
    return str(amount.quantize(quantum(max(DEFAULT_MINOR_UNIT, _decimal_places(amount)))))


def parse_money(
    raw_amount: object, raw_currency: object, max_amount: Decimal, errors: list[FieldError]
) -> tuple[Decimal | None, str | None]:
    """Validate an amount and its currency, appending each problem to ``errors`` (the amount's
    first). The amount comes back at its currency's minor unit ("12.5" BRL is 12.50)."""
    currency = raw_currency if isinstance(raw_currency, str) and raw_currency in ISO_4217 else None
    checked = _check_amount(raw_amount, currency, max_amount)
    if isinstance(checked, str):
        errors.append(FieldError("amount", checked))
    if raw_currency is None:
        errors.append(FieldError("currency", "is required"))
    elif currency is None:
        iso = "an ISO 4217 code in upper case, e.g. BRL"
        long = too_long(raw_currency, CURRENCY_MAX_BYTES) if isinstance(raw_currency, str) else None
        errors.append(FieldError("currency", f"{long}: {iso}" if long else f"must be {iso}"))
    return (checked if isinstance(checked, Decimal) else None), currency


def _check_amount(raw: object, currency: str | None, max_amount: Decimal) -> Decimal | str | None:
    """The amount at ``currency``'s minor unit, or what is wrong with it; None when only the
    currency is wrong (the decimals the amount may have are then unknown)."""
    amount = _to_decimal(raw)
    if isinstance(amount, str):
        return amount
    places = DEFAULT_MINOR_UNIT if currency is None else minor_unit(currency)
    if amount <= 0:
        problem = "must be greater than 0"
    elif amount > max_amount:  # the largest amount the currency can spell within the bound
        problem = f"must be at most {max_amount.quantize(quantum(places), ROUND_DOWN)}"
    elif currency is None:
        return None
    elif (exact := amount.quantize(quantum(places))) != amount:
        problem = _too_fine(currency, places)
    else:
        return exact
    return problem


def _too_fine(currency: str, places: int) -> str:
    if places == 0:
        return f"must be a whole number: {currency} has no minor unit (0 decimal places)"
    return f"must have at most {places} decimal places: the minor unit of {currency}"


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


def _decimal_places(amount: Decimal) -> int:
    """How many decimal places ``amount`` needs: 0 for 1000 and 12, 3 for 1.005."""
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0

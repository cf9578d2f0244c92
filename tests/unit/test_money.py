"""The ISO 4217 minor units (core/currencies.py)."""

from __future__ import annotations

from paysys.core.currencies import ISO_4217, MINOR_UNITS, minor_unit

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

"""ISO 4217 active alphabetic currency codes (fund and precious-metal codes excluded), and
each one's minor unit: the number of decimal places an amount in it has (JPY 0, BRL 2, KWD 3)."""

from collections.abc import Mapping
from types import MappingProxyType

_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER
ZAR ZMW ZWG
"""

ISO_4217: frozenset[str] = frozenset(_CODES.split())

# The minor unit of every code above, from the ISO 4217 list ("Minor unit" column): 2 but
# for these. The fund codes with other minor units (CLF 4, UYI 0, UYW 4) are not listed above.
DEFAULT_MINOR_UNIT = 2
_OTHER_MINOR_UNITS = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF",
    3: "BHD IQD JOD KWD LYD OMR TND",
}
MINOR_UNITS: Mapping[str, int] = MappingProxyType(
    dict.fromkeys(sorted(ISO_4217), DEFAULT_MINOR_UNIT)
    | {code: unit for unit, codes in _OTHER_MINOR_UNITS.items() for code in codes.split()}
)


def minor_unit(currency: str) -> int:
    """The decimal places of ``currency``'s minor unit. A code outside the list (never accepted
    by the API: an old event, a test) has 2, what every amount was rendered at before."""
    return MINOR_UNITS.get(currency, DEFAULT_MINOR_UNIT)

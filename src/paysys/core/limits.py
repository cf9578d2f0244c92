"""The byte limits of every value from outside that reaches a stored item: one place.

Every DynamoDB item paysys stores stays within one write request unit (1 KB) by
construction: the largest item of each kind, every field at its limit, is measured by
``tests/unit/test_item_sizes.py`` with DynamoDB's size rules. Limits are in UTF-8 bytes, what
DynamoDB bills, not characters (an emoji is 4 bytes). The payment item is the tight one: its
fixed part (ids, times, index keys, tokens) is about 600 bytes, so the merchant id (twice: the
item and its list key), the correlation id and the description share the rest, with a margin
for an attribute or two more.
"""

from __future__ import annotations

# POST /payments ``description``: any Unicode but control characters, so up to 4 bytes a
# character (50 emoji, 200 ASCII characters).
DESCRIPTION_MAX_BYTES = 200
# ``currency``: an ISO 4217 code (3 ASCII letters; anything longer is not one).
CURRENCY_MAX_BYTES = 3
# The merchant id of an API key (``PAYSYS_API_KEYS``, ``paysys keygen``): ASCII.
MERCHANT_ID_MAX_BYTES = 32
# ``X-Request-ID``, kept as the payment's correlation id (ASCII; a longer one is replaced).
REQUEST_ID_MAX_BYTES = 64
# The ``Idempotency-Key`` header; its record is small (no response body in it).
IDEMPOTENCY_KEY_MAX_BYTES = 255
# Currencies with a velocity amount limit: each is one ``a_<currency>`` attribute of a
# merchant-minute counter item.
VELOCITY_CURRENCIES_MAX = 16


def utf8_size(text: str) -> int:
    """``text``'s length in UTF-8 bytes (a lone surrogate counted as 3, never an error)."""
    return len(text.encode("utf-8", "surrogatepass"))


def too_long(text: str, limit: int) -> str | None:
    """What is wrong with ``text`` when it is over ``limit`` bytes in UTF-8, else None."""
    size = utf8_size(text)
    if size <= limit:
        return None
    return f"must be at most {limit} bytes in UTF-8 (got {size:,})"


# A webhook endpoint's URL (``POST /webhook-endpoints``): ASCII once parsed (IDNA host).
WEBHOOK_URL_MAX_BYTES = 400
# Endpoints per merchant: each is one item in a slot of its own (``#webhook#<merchant>#<n>``).
WEBHOOK_ENDPOINTS_MAX = 5

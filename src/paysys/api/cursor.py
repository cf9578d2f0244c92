"""List cursors: opaque to clients, tamper-evident, and bound to one merchant and filter.

A cursor is ``<payload>.<mac>``: the payload (base64url JSON: merchant, month bucket, last sort
key examined, status filter) and an HMAC-SHA256 of it under ``PAYSYS_CURSOR_SECRET``. An edited
cursor, one signed under another secret, or one made for another merchant or filter is a 400.
Even a forged position could not reach another merchant's data: the merchant of every index
key queried comes from the caller's API key, never from the cursor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets

from paysys.core.domain import PaymentStatus
from paysys.core.ports import ListPosition
from paysys.errors import RequestError


class InvalidCursor(RequestError):
    code = "invalid_cursor"


class Cursors:
    def __init__(self, secret: str | None) -> None:
        self._key = secret.encode() if secret else secrets.token_bytes(32)

    def encode(self, position: ListPosition, merchant_id: str, status: PaymentStatus | None) -> str:
        payload = json.dumps(
            {"m": merchant_id, "mo": position.month, "a": position.after, "s": _status(status)},
            separators=(",", ":"),
        ).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, cursor: str, merchant_id: str, status: PaymentStatus | None) -> ListPosition:
        try:
            body, _, mac = cursor.partition(".")
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(mac), self._mac(payload)):
                raise InvalidCursor("cursor is not valid (edited, or from another server)")
            data = json.loads(payload)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidCursor("cursor is not valid") from None
        if data.get("m") != merchant_id or data.get("s") != _status(status):
            raise InvalidCursor("cursor belongs to another listing (merchant or status filter)")
        return ListPosition(str(data["mo"]), data.get("a"))

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]


def _status(status: PaymentStatus | None) -> str | None:
    return status.value if status else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

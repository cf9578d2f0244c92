"""Signing and verifying webhook deliveries: pure, stdlib only (a merchant can copy it).

A delivery carries ``Paysys-Signature: t=<unix seconds>,v1=<hex>``, where ``<hex>`` is the
HMAC-SHA256, keyed by the endpoint's signing secret, of ``"<t>." + body`` (the raw request
body, bytes as sent). A receiver recomputes it over the body it read, compares in constant
time and refuses a timestamp older than its tolerance (a replayed delivery). During a secret's
rotation a header may carry two ``v1=`` values, one per secret: any one that matches is
enough.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Paysys-Signature"
EVENT_ID_HEADER = "Paysys-Event-Id"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The header is malformed, no signature matches, or its timestamp is too old."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` under ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secrets: list[str] | str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Paysys-Signature`` value of ``body`` at ``timestamp`` (now if None), one ``v1``
    per secret (two while a rotation overlaps)."""
    moment = int(time.time()) if timestamp is None else timestamp
    keys = [secrets] if isinstance(secrets, str) else secrets
    return ",".join([f"t={moment}", *(f"v1={signature(k, moment, body)}" for k in keys)])


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """The header's timestamp when one of its ``v1`` signatures is ``body``'s under
    ``secret`` and the timestamp is within ``tolerance_seconds`` of ``now``; else
    ``SignatureError`` saying why."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("the header needs t=<unix seconds> and at least one v1=<hex>")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no v1 signature matches this body and secret")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError(f"the timestamp is more than {tolerance_seconds} s from now")
    return timestamp

"""Webhook endpoints and deliveries: values and rules, no I/O.

An endpoint is a merchant's HTTPS URL and the outcome event types it wants. Its signing
secret is never stored: it is derived, ``whsec_`` + HMAC-SHA256(``PAYSYS_WEBHOOK_KEY``,
endpoint id and a random salt), so the table holds only the salt, and the secret exists where
the key does (the API, to answer it once; the worker, to sign). A delivery that fails is tried
again after an exponential, jittered delay, until the retry window has passed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

from paysys.core.domain import format_time
from paysys.core.limits import WEBHOOK_URL_MAX_BYTES, too_long
from paysys.core.outcomes import OUTCOME_TYPES
from paysys.errors import FieldError, ValidationError

EVENT_TYPES = tuple(sorted(OUTCOME_TYPES.values()))
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
# local: http and private addresses allowed (``paysys local``); strict: everywhere else.
WebhookMode = Literal["local", "strict"]
ROTATION_OVERLAPS = 2  # rotated-out secrets signing at once (three v1 values at most)
ROTATION_OVERLAP_MAX_SECONDS = 7 * 86_400
ROTATION_OVERLAP_DEFAULT_SECONDS = 86_400
ROTATION_FIELD = "previous_secret_expires_in"
# AWS/GCP/Azure instance metadata, and its IPv6 form on AWS (Nitro).
METADATA_ADDRESSES = frozenset({"169.254.169.254", "fd00:ec2::254", "100.100.100.200"})


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    url: str
    event_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    endpoint_id: str
    merchant_id: str
    url: str
    event_types: tuple[str, ...]
    salt: str  # the secret's derivation input, not a secret without PAYSYS_WEBHOOK_KEY
    created_at: datetime
    slot: int = 0  # where it is stored (its deliveries' history is found by it)
    # Rotated-out secrets still signing: (salt, until epoch seconds), oldest first.
    previous: tuple[tuple[str, int], ...] = ()

    def wants(self, event_type: str) -> bool:
        return event_type in self.event_types

    def to_json(self) -> dict[str, Any]:
        """What the API answers (never the secret: that is answered once, at creation)."""
        return {
            "id": self.endpoint_id,
            "url": self.url,
            "event_types": list(self.event_types),
            "created_at": format_time(self.created_at),
        }


def new_endpoint_id() -> str:
    return "we_" + secrets.token_hex(12)


def new_salt() -> str:
    return secrets.token_hex(16)


def derive_secret(key: str, endpoint_id: str, salt: str) -> str:
    """The endpoint's signing secret: the same in every process holding ``key``."""
    message = f"paysys-webhook-secret|{endpoint_id}|{salt}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return SECRET_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signing_secrets(key: str, endpoint: WebhookEndpoint, now: float) -> list[str]:
    """The secrets a delivery is signed with at ``now``: the current one, then each
    rotated-out one whose overlap has not ended (one ``v1`` each)."""
    current = derive_secret(key, endpoint.endpoint_id, endpoint.salt)
    return [
        current,
        *(
            derive_secret(key, endpoint.endpoint_id, s)
            for s, until in endpoint.previous
            if until > now
        ),
    ]


def rotated_previous(
    endpoint: WebhookEndpoint, until: int, now: float
) -> tuple[tuple[str, int], ...]:
    """The ``previous`` of ``endpoint`` after a rotation whose overlap ends at ``until``: the
    secret being replaced joins the ones still within their overlap, at most
    ``ROTATION_OVERLAPS`` kept (the oldest dropped). So a rotation whose answer was lost, done
    again, does not cut off the secret the merchant still holds."""
    kept = [(s, t) for s, t in endpoint.previous if t > now]
    return tuple([*kept, (endpoint.salt, until)][-ROTATION_OVERLAPS:])


def event_id(outcome_type: str, payment_id: str) -> str:
    """The ``Paysys-Event-Id``: the same for every delivery of one outcome (de-duplication)."""
    return f"{payment_id}.{outcome_type}"


def parse_new_endpoint(data: Any, mode: WebhookMode) -> NewEndpoint:
    """A registration's body: ``url`` (https, or http in local mode) and ``event_types`` (a
    non-empty list of outcome types; absent: all). Every problem is reported at once."""
    if not isinstance(data, Mapping):
        raise ValidationError([FieldError("body", "must be a JSON object")])
    errors: list[FieldError] = []
    url = data.get("url")
    if not isinstance(url, str):
        errors.append(FieldError("url", "must be a string"))
    elif problem := url_problem(url, mode):
        errors.append(FieldError("url", problem))
    types = data.get("event_types", list(EVENT_TYPES))
    if (
        not isinstance(types, list)
        or not types
        or not all(isinstance(t, str) and t in EVENT_TYPES for t in types)
    ):
        errors.append(FieldError("event_types", f"must be a non-empty list of {EVENT_TYPES}"))
    unknown = sorted(set(data) - {"url", "event_types"})
    errors += [FieldError(name, "is not a known field") for name in unknown]
    if errors:
        raise ValidationError(errors)
    return NewEndpoint(str(url), tuple(dict.fromkeys(types)))


def parse_rotation(data: Any) -> int:
    """A rotation's body (the body is optional: absent, the default applies):
    ``previous_secret_expires_in`` seconds, how long the replaced secret still signs (default
    a day, 0 ends it now, at most a week)."""
    if not isinstance(data, Mapping):
        raise ValidationError([FieldError("body", "must be a JSON object")])
    errors = [FieldError(n, "is not a known field") for n in sorted(set(data) - {ROTATION_FIELD})]
    seconds = _whole(data.get(ROTATION_FIELD, ROTATION_OVERLAP_DEFAULT_SECONDS))
    if seconds is None or not 0 <= seconds <= ROTATION_OVERLAP_MAX_SECONDS:
        errors.append(
            FieldError(
                ROTATION_FIELD, f"must be an integer from 0 to {ROTATION_OVERLAP_MAX_SECONDS}"
            )
        )
    if errors or seconds is None:
        raise ValidationError(errors)
    return seconds


def _whole(value: Any) -> int | None:
    """``value`` as an int if it is a whole JSON number (5.0 is one; true is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    if isinstance(value, int):  # any size: isfinite() of a huge int overflows
        return value
    if not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def url_problem(url: str, mode: WebhookMode) -> str | None:  # noqa: PLR0911 - one per rule
    """What is wrong with ``url`` as an endpoint, else None (its host's addresses are checked
    again when it is resolved: ``address_problem``)."""
    if problem := too_long(url, WEBHOOK_URL_MAX_BYTES):
        return problem
    if not url.isascii() or not url.isprintable() or " " in url:
        return "must be printable ASCII without spaces (an IDNA host, percent-encoded path)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a URL ({exc})"
    allowed = ("https", "http") if mode == "local" else ("https",)
    if parts.scheme not in allowed:
        return f"must use {' or '.join(allowed)}"
    if not parts.hostname or parts.username or parts.password or parts.fragment:
        return "must have a host, and no user, password or fragment"
    if port == 0:
        return "must not use port 0"
    labels = parts.hostname.rstrip(".").split(".")
    if len(parts.hostname) > 253 or not all(0 < len(label) <= 63 for label in labels):
        return "must have a valid host name (labels of 1-63 characters, 253 in all)"
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None if mode == "local" or parts.hostname != "localhost" else "must be public"
    return address_problem(str(literal), mode)


def address_problem(address: str, mode: WebhookMode) -> str | None:
    """Why a delivery must not connect to ``address`` (loopback, private, link-local,
    metadata and the like), else None; everything is allowed in local mode."""
    if mode == "local":
        return None
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if str(ip) in METADATA_ADDRESSES:
        return "must not be a cloud metadata address"
    if not ip.is_global or ip.is_multicast:
        return "must be a public address (not loopback, private, link-local or reserved)"
    return None


def retry_delay(
    attempt: int, base_seconds: float, max_seconds: float, rng: random.Random | None = None
) -> int:
    """Seconds before attempt ``attempt + 1`` after ``attempt`` failed (1-based): ``base``
    doubled per attempt, at most ``max_seconds``, jittered down by up to a quarter (so
    retries of many deliveries that failed together spread out). At least 1 s."""
    capped = min(max_seconds, base_seconds * 2 ** min(attempt - 1, 40))
    draw = rng.random() if rng else random.random()  # noqa: S311 - spreading, not secrecy
    jitter = 0.75 + 0.25 * draw
    return max(1, int(capped * jitter))

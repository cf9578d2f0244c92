"""The payment domain: values, rules and events. No I/O, no vendor imports."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from paysys.core.limits import DESCRIPTION_MAX_BYTES, MERCHANT_ID_MAX_BYTES, too_long
from paysys.core.money import canonical_amount, format_amount, parse_money
from paysys.errors import FieldError, MalformedMessage, ValidationError

DEFAULT_MERCHANT = "default"
# Lower-case letters, digits, "_" and "-": it is part of index keys, where "#" separates parts.
MERCHANT_ID_TEXT = re.compile(r"[a-z0-9][a-z0-9_-]*")
MERCHANT_ID = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MERCHANT_ID_MAX_BYTES - 1}}}")
EVENT_TYPE = "PaymentCreated"
# C0 and C1 control characters (NUL, newlines, escapes): never stored in a text field.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class PaymentStatus(enum.StrEnum):
    """``Pending → Approved | Declined``, ``Pending → Canceled``; a final state never changes."""

    PENDING = "Pending"
    APPROVED = "Approved"
    DECLINED = "Declined"
    CANCELED = "Canceled"

    @property
    def final(self) -> bool:
        return self is not PaymentStatus.PENDING


@dataclass(frozen=True, slots=True)
class NewPayment:
    """A validated request to create a payment."""

    amount: Decimal
    currency: str
    description: str


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    amount: Decimal
    currency: str
    description: str
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None = None
    correlation_id: str = ""
    merchant_id: str = DEFAULT_MERCHANT
    decline_reason: str | None = None

    @classmethod
    def create(
        cls,
        new: NewPayment,
        now: datetime,
        *,
        correlation_id: str,
        payment_id: str | None = None,
        merchant_id: str = DEFAULT_MERCHANT,
    ) -> Payment:
        return cls(
            id=payment_id or new_payment_id(),
            merchant_id=merchant_id,
            amount=new.amount,
            currency=new.currency,
            description=new.description,
            status=PaymentStatus.PENDING,
            created_at=now,
            updated_at=now,
            correlation_id=correlation_id,
        )

    def same_request(self, other: Payment) -> bool:
        """True when ``other`` was stored from the same request as this payment (an earlier
        attempt of our own write that committed although its reply was lost): every field
        but those a transition changes is equal, so a new field is compared by default."""
        return all(
            getattr(self, name) == getattr(other, name)
            for name in _FIELDS
            if name not in _TRANSITION_FIELDS
        )

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape: money as a string at its currency's minor unit, times as
        ISO 8601 UTC."""
        return {
            "id": self.id,
            "merchant_id": self.merchant_id,
            "amount": format_amount(self.amount, self.currency),
            "currency": self.currency,
            "description": self.description,
            "status": self.status.value,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
            "approved_at": format_time(self.approved_at) if self.approved_at else None,
            "decline_reason": self.decline_reason,
        }

    def moved_to(self, to: PaymentStatus, now: datetime, reason: str | None = None) -> Payment:
        """This payment after ``Pending → to`` (what the store writes, conditionally)."""
        check_transition(self.status, to, reason)
        return dataclasses.replace(
            self,
            status=to,
            updated_at=now,
            approved_at=now if to is PaymentStatus.APPROVED else None,
            decline_reason=reason,
        )


def check_transition(current: PaymentStatus, to: PaymentStatus, reason: str | None) -> None:
    """Raise ``ValueError`` for a move the state machine does not have (a programming error:
    a final state found at run time is a ``False`` from the store, not this)."""
    if current is not PaymentStatus.PENDING or not to.final:
        raise ValueError(f"no transition {current} → {to}")
    if (reason is not None) != (to is PaymentStatus.DECLINED):
        raise ValueError("a decline_reason goes with Declined, and only with it")


@dataclass(frozen=True, slots=True)
class PaymentCreated:
    """The event published to SNS after a payment is stored."""

    payment_id: str
    amount: Decimal
    currency: str
    created_at: datetime
    merchant_id: str = DEFAULT_MERCHANT

    @property
    def event_type(self) -> str:
        return EVENT_TYPE

    def routing_attributes(self) -> dict[str, str]:
        return {}  # every subscriber of the events topic takes every PaymentCreated

    @classmethod
    def of(cls, payment: Payment) -> PaymentCreated:
        return cls(
            payment.id, payment.amount, payment.currency, payment.created_at, payment.merchant_id
        )

    def to_message(self) -> str:
        return json.dumps(
            {
                "type": EVENT_TYPE,
                "payment_id": self.payment_id,
                "merchant_id": self.merchant_id,
                "amount": format_amount(self.amount, self.currency),
                "currency": self.currency,
                "created_at": format_time(self.created_at),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_message(cls, body: str) -> PaymentCreated:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise MalformedMessage(f"body is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("type") != EVENT_TYPE:
            raise MalformedMessage(f"not a {EVENT_TYPE} event")
        try:
            event = cls(
                payment_id=str(uuid.UUID(data["payment_id"])),
                amount=Decimal(data["amount"]),
                currency=str(data["currency"]),
                created_at=datetime.fromisoformat(data["created_at"]),
                merchant_id=str(data.get("merchant_id", DEFAULT_MERCHANT)),
            )
        except (ValueError, KeyError, TypeError, AttributeError, InvalidOperation) as exc:
            raise MalformedMessage(f"unparsable {EVENT_TYPE} event: {exc!r}") from exc
        # It names counter items the worker writes (velocity): never one of unbounded size.
        if problem := merchant_id_problem(event.merchant_id):
            raise MalformedMessage(f"{EVENT_TYPE} event: merchant_id {problem}")
        return event


# The fields ``Payment.moved_to`` may change: all others are fixed by the creating request.
_TRANSITION_FIELDS = frozenset({"status", "updated_at", "approved_at", "decline_reason"})
_FIELDS = tuple(f.name for f in dataclasses.fields(Payment))


def new_payment_id() -> str:
    return str(uuid.uuid4())


def fingerprint(new: NewPayment) -> str:
    """What makes two requests "the same" for an idempotency key: every field of the
    validated request, in declaration order (money as ``canonical_amount`` spells it)."""
    values = [getattr(new, f.name) for f in dataclasses.fields(NewPayment)]
    canonical = json.dumps([canonical_amount(v) if isinstance(v, Decimal) else v for v in values])
    return hashlib.sha256(canonical.encode()).hexdigest()


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_new_payment(data: object, *, max_amount: Decimal) -> NewPayment:
    """Validate a decoded JSON body. Numbers must arrive as Decimal (``parse_float=Decimal``)."""
    if not isinstance(data, Mapping):
        raise ValidationError([FieldError("body", "must be a JSON object")])
    errors: list[FieldError] = [
        FieldError(str(key), "unknown field")
        for key in data
        if key not in {"amount", "currency", "description"}
    ]
    amount, currency = parse_money(data.get("amount"), data.get("currency"), max_amount, errors)
    description = data.get("description", "")
    if not isinstance(description, str):
        errors.append(FieldError("description", "must be a string"))
    elif not _is_utf8(description):
        errors.append(FieldError("description", "must be valid Unicode text"))
    elif problem := too_long(description, DESCRIPTION_MAX_BYTES):
        errors.append(FieldError("description", problem))
    elif _CONTROL.search(description):
        errors.append(FieldError("description", "must not contain control characters"))
    if errors or amount is None or currency is None or not isinstance(description, str):
        raise ValidationError(errors)
    return NewPayment(amount=amount, currency=currency, description=description)


def merchant_id_problem(text: str) -> str | None:
    """What is wrong with ``text`` as a merchant id, else None."""
    if MERCHANT_ID.fullmatch(text):
        return None
    if MERCHANT_ID_TEXT.fullmatch(text):
        return f"is {len(text)} bytes long: at most {MERCHANT_ID_MAX_BYTES}"
    return f"is not 1-{MERCHANT_ID_MAX_BYTES} of a-z, 0-9, _ and -, starting with a-z or 0-9"


def _is_utf8(text: str) -> bool:
    """False for lone surrogates (JSON allows "\\ud800"; DynamoDB rightly refuses them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

"""What one seed's run leaves for the checker: every answer each client saw, and the truth
read after quiescence (the payments table, the velocity counters, the outcome events a
subscriber queue received, ``GET /stats`` per merchant, and the webhook deliveries the
campaign's receiver got for the endpoints it registered).

Every create carries a ``description`` that names its *intent* (one logical request of one
client: ``s<seed> i<n>``) and, when it has no Idempotency-Key, its attempt (``a<k>``): a retry
without a key is a new request. A stored payment is tied to the request that stored it by
that description alone, never by anything the API answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from paysys.core.velocity import Velocity

Op = Literal["create", "cancel", "get", "stats"]
FINAL = ("Approved", "Declined", "Canceled")
OUTCOME_TYPES = {  # a final status → its outcome event's type
    "Approved": "PaymentApproved",
    "Declined": "PaymentDeclined",
    "Canceled": "PaymentCanceled",
}
NO_ANSWER = 0  # an Answer's status when the connection failed or timed out


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP exchange a client made, and what it saw."""

    client: str
    intent: str
    attempt: int
    op: Op
    merchant: str
    status: int  # NO_ANSWER: no reply (connection refused or reset, client timeout)
    body: Mapping[str, Any] | None = None
    retry_after: str | None = None
    idempotency_key: str | None = None
    description: str | None = None  # create: the body's description
    payment_id: str | None = None  # cancel and get: the path's id; create: the answer's id
    error: str = ""  # the transport error, for NO_ANSWER
    sent: float = 0.0  # when the request went and its answer came (monotonic seconds)
    received: float = 0.0

    @property
    def reached_api(self) -> bool:
        """False only when the request surely never reached the API (connection refused)."""
        return self.status != NO_ANSWER or not self.error.startswith("ClientConnectorError")

    @property
    def error_code(self) -> str:
        error = (self.body or {}).get("error")
        return str(error.get("code", "")) if isinstance(error, dict) else ""

    @property
    def answered_status(self) -> str | None:
        """The payment status the answer states (a payment body, or 409 payment_final)."""
        body = self.body or {}
        error = body.get("error")
        if isinstance(error, dict):
            status = error.get("status")
            return str(status) if status is not None else None
        status = body.get("status")
        return str(status) if status is not None else None


@dataclass(frozen=True, slots=True)
class Stored:
    """A payment as the table holds it after quiescence."""

    id: str
    merchant_id: str
    amount: Decimal
    currency: str
    description: str
    status: str
    created_at: datetime
    updated_at: datetime
    decline_reason: str | None = None
    in_outbox: bool = False

    @property
    def final(self) -> bool:
        return self.status in FINAL


@dataclass(frozen=True, slots=True)
class Outcome:
    """One outcome event the subscriber queue received."""

    payment_id: str
    type: str
    status: str
    decline_reason: str | None = None


@dataclass(frozen=True, slots=True)
class VelocityCounter:
    """A velocity counter item: ``n`` takes (and amounts) of one merchant, minute and shard."""

    merchant: str
    minute: str  # YYYY-MM-DDTHH:MM, UTC
    shard: int
    n: int
    amounts: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A webhook endpoint the campaign registered and kept: the receiver's path for it, and
    the secret its registration answered."""

    merchant: str
    endpoint_id: str
    path: str
    secret: str
    event_types: frozenset[str]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST the campaign's webhook receiver got, and what it answered."""

    path: str
    signature: str  # the Paysys-Signature header ("" when absent)
    event_id: str  # the Paysys-Event-Id header ("" when absent)
    body: bytes
    answered: int  # the receiver's status: 2xx accepted it, else it was down (5xx)
    at: float  # when it came, Unix seconds (the signature's age is judged against it)


@dataclass(frozen=True, slots=True)
class Injected:
    """A fault the proxy injected, and the ids its request named (payment ids, keys)."""

    operation: str
    fault: str
    names: frozenset[str]


@dataclass(slots=True)
class History:
    seed: int
    answers: list[Answer] = field(default_factory=list)
    payments: list[Stored] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    counters: list[VelocityCounter] = field(default_factory=list)
    stats: dict[str, Mapping[str, int]] = field(default_factory=dict)  # merchant → by status
    velocity: Velocity = field(default_factory=Velocity)  # the rules the roles ran with
    deny_merchants: frozenset[str] = frozenset()
    quiescent: bool = True  # False: the guard ran out before everything settled
    killed: int = 0  # processes SIGKILLed during the run
    injected: list[Injected] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)  # webhooks: the kept endpoints
    deliveries: list[Delivery] = field(default_factory=list)  # every POST the receiver got
    delivered_in_time: bool = True  # False: the wait for every expected delivery ran out


@dataclass(frozen=True, slots=True)
class Violation:
    seed: int
    property: str
    detail: str
    payment_id: str | None = None
    intent: str | None = None
    merchant: str | None = None
    key: str | None = None  # the Idempotency-Key, or the velocity counter's item id
    faults: tuple[str, ...] = ()  # "<operation> <fault>" of the injected faults that named it

    def to_json(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields["faults"] = list(self.faults)
        return {k: v for k, v in fields.items() if v not in (None, [])}

"""Use cases: create and read payments, decide one from its event (rules), cancel one."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import structlog

from paysys.core.announcer import Announcer
from paysys.core.domain import (
    DEFAULT_MERCHANT,
    NewPayment,
    Payment,
    PaymentCreated,
    PaymentStatus,
    fingerprint,
    new_payment_id,
    utcnow,
)
from paysys.core.outcomes import PaymentOutcome
from paysys.core.ports import (
    Claim,
    ClaimState,
    EventPublisher,
    IdempotencyStore,
    PaymentRepository,
    VelocityStore,
)
from paysys.core.rules import DeclineReason, Rules, decide
from paysys.core.velocity import VelocityWindow
from paysys.errors import (
    BackendUnavailable,
    ConfigError,
    PaymentFinal,
    PaymentNotFound,
    StoreUnconfirmed,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")


async def _retried(call: Callable[[], Awaitable[T]], event: str) -> T:
    """``call``, and once more if it raises ``BackendUnavailable`` (each try is the client's
    whole retry budget). Safe for a write that carries a token: the retry recognises the
    first try's success."""
    try:
        return await call()
    except BackendUnavailable as exc:
        log.warning(event, error=str(exc))
    return await call()


class Decision(enum.StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    DUPLICATE = "duplicate"


def new_token() -> str:
    """A write's request token: its retries recognise their own earlier success by it."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Accepted:
    """What ``POST /payments`` answers: the payment as created, and whether it is a replay."""

    body: dict[str, Any]
    replayed: bool = False

    @property
    def payment_id(self) -> str:
        return str(self.body["id"])


@dataclass(frozen=True, slots=True)
class PaymentService:
    payments: PaymentRepository
    events: EventPublisher
    idempotency: IdempotencyStore
    clock: Callable[[], datetime] = utcnow
    rules: Rules = field(default_factory=Rules)
    velocity: VelocityStore | None = None  # needed when ``rules`` have a velocity limit
    outcomes: EventPublisher | None = None  # the outcomes topic; None: no outcome events
    announcer: Announcer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        announcer = Announcer(self.payments, self.outcomes, self.clock)
        object.__setattr__(self, "announcer", announcer)

    async def create(
        self,
        new: NewPayment,
        correlation_id: str,
        idempotency_key: str | None = None,
        merchant_id: str = DEFAULT_MERCHANT,
    ) -> Accepted:
        """Store the payment ``Pending`` (the commit point), then publish ``PaymentCreated``.

        Answers whenever the payment is stored, even when the store's reply was lost: the
        retried put recognises its own write by this request's token. Raises
        ``BackendUnavailable`` (503) when nothing was stored, or when no try of the put was
        answered: with an Idempotency-Key a retry with it is safe; without one the 503 is
        ``StoreUnconfirmed`` and names the payment id it may have stored. A failed publish
        after the store does not fail the request: the reconciler republishes it. With an
        idempotency key, a retry answers the same payment (as it is stored now, marked
        replayed) instead of a new one."""
        if idempotency_key is None:
            payment = Payment.create(
                new, self.clock(), correlation_id=correlation_id, merchant_id=merchant_id
            )
            return Accepted(await self._store_and_publish(payment, keyed=False))
        # Keys are scoped per merchant: two merchants never collide or read each other's answers.
        idempotency_key = f"{merchant_id}:{idempotency_key}"
        owner = new_token()
        claim = await self._claim(idempotency_key, fingerprint(new), owner)
        if claim.state is ClaimState.DONE:  # the record names the payment: answer it as it is
            structlog.contextvars.bind_contextvars(payment_id=claim.payment_id, replayed=True)
            return Accepted((await self.payments.get(claim.payment_id)).to_json(), replayed=True)
        payment = Payment.create(
            new,
            self.clock(),
            correlation_id=correlation_id,
            payment_id=claim.payment_id,
            merchant_id=merchant_id,
        )
        try:
            body = await self._store_and_publish(payment, keyed=True)
        except BackendUnavailable:
            await self._release(idempotency_key, owner)
            raise
        try:
            await self.idempotency.complete(idempotency_key, self.clock())
        except BackendUnavailable as exc:
            # The payment is stored: answer it. A retry with this key waits out the lease,
            # resumes with the same payment id and replays the stored payment.
            log.warning("idempotency.complete_failed", error=str(exc))
        return Accepted(body)

    async def _claim(self, key: str, print_: str, owner: str) -> Claim:
        """Claim the key (retried: a retry whose first try committed is still this request's
        claim, same owner and payment id). When no try is answered the claim may still have
        committed: it is released, so the client's retry is not told "in progress" for a
        whole lease while nothing runs."""
        payment_id = new_payment_id()
        try:
            return await _retried(
                lambda: self.idempotency.claim(key, print_, payment_id, self.clock(), owner),
                "idempotency.claim_retried",
            )
        except BackendUnavailable:
            await self._release(key, owner)
            raise

    async def _release(self, idempotency_key: str, owner: str) -> None:
        try:
            await self.idempotency.release(idempotency_key, owner)
        except BackendUnavailable as exc:  # the lease then simply runs out
            log.warning("idempotency.release_failed", error=str(exc))

    async def _store_and_publish(self, payment: Payment, *, keyed: bool) -> dict[str, Any]:
        structlog.contextvars.bind_contextvars(payment_id=payment.id)
        payment = await self._store(payment, keyed=keyed)
        try:  # the answer need not wait for SNS: the reconciler makes a lost event good
            await self.events.submit(PaymentCreated.of(payment), payment.correlation_id)
        except BackendUnavailable as exc:
            log.warning("payment.publish_deferred", error=str(exc))
        return payment.to_json()

    async def _store(self, payment: Payment, *, keyed: bool) -> Payment:
        """Store ``payment``; return what is stored under its id.

        A write whose reply is lost is retried, and the retry recognises its own earlier
        success: the put carries this request's token, and a put of the same token passes
        (the repository counts it once). A taken id is then another request's: one holding
        the same Idempotency-Key (a resumed or overtaken request), whose payment is read and
        answered; without a key the id is a fresh uuid4, so that cannot happen."""
        token = new_token()
        try:
            if await _retried(lambda: self.payments.add(payment, token), "payment.store_retried"):
                return payment
        except BackendUnavailable as exc:
            if keyed:
                raise  # a retry with the same Idempotency-Key resumes it safely
            raise StoreUnconfirmed(payment.id, str(exc)) from exc
        if not keyed:
            raise BackendUnavailable(f"payment id {payment.id} already exists")
        return await self.payments.get(payment.id)

    async def get(self, payment_id: str, merchant_id: str | None = None) -> Payment:
        """The payment; ``PaymentNotFound`` also when it belongs to another merchant (a 404,
        never a 403: ids of other merchants' payments are not confirmed)."""
        payment = await self.payments.get(payment_id)
        if merchant_id is not None and payment.merchant_id != merchant_id:
            raise PaymentNotFound(payment_id)
        return payment

    async def decide(
        self, event: PaymentCreated, correlation_id: str = "", token: str = ""
    ) -> Decision:
        """Apply the rules and move the payment ``Pending → Approved | Declined``. Idempotent:
        a delivery of an event whose payment is already final (decided before, or canceled
        meanwhile) is a ``DUPLICATE``, acknowledged. ``token`` names this attempt (the same
        for its retries): a retry whose earlier write committed although its reply was lost
        finishes that decision (counted, announced) instead of taking it for a duplicate.
        A duplicate of a decided payment announces its outcome again: the receive that
        decided it may have ended before publishing (at least once, maybe twice)."""
        now = self.clock()
        verdict = decide(self.rules, event)
        reason = verdict.reason
        if reason is None and verdict.velocity is not None:
            # Spend the merchant's budget only on a payment still to decide; a final one goes
            # to the transition, which tells this attempt's own write from a duplicate.
            final = (await self.payments.get(event.payment_id)).status.final
            if not final and not await self._take(verdict.velocity):
                reason = DeclineReason.VELOCITY_LIMIT
        to = PaymentStatus.APPROVED if reason is None else PaymentStatus.DECLINED
        # No outbox mark: this event's SQS message is the reminder to publish the outcome (it
        # is deleted only after ``announce``), which saves the outbox index's two writes. The
        # outcome comes from the event and what was written: the store sends nothing back.
        outcome = await self.payments.decide(event, to, now, reason, token)
        correlation_id = correlation_id or event.payment_id
        if outcome is None:
            await self.announcer.again(event.payment_id, correlation_id)
            return Decision.DUPLICATE
        await self.announcer.announce(outcome, correlation_id, in_outbox=False)
        if outcome.status is PaymentStatus.DECLINED:
            log.info("payment.declined", decline_reason=outcome.decline_reason)
            return Decision.DECLINED
        return Decision.APPROVED

    async def _take(self, window: VelocityWindow) -> bool:
        if self.velocity is None:
            raise ConfigError("velocity rules need a VelocityStore")
        return await self.velocity.take(window)

    async def cancel(self, payment_id: str, merchant_id: str | None = None) -> Payment:
        """``Pending → Canceled``: the canceled payment, also when it already was (a cancel
        is idempotent); ``PaymentFinal`` (409) when it is Approved or Declined,
        ``PaymentNotFound`` also for another merchant's payment. A cancel
        whose write committed although its reply was lost is recognised by its token when
        retried (202, not 409); the outcome event is sent in the background (the outbox and
        the reconciler make it good), so a slow SNS cannot turn a done cancel into a 503."""
        payment = await self.get(payment_id, merchant_id)
        if payment.status is PaymentStatus.CANCELED:
            return payment  # idempotent: a retry whose first try took effect is told so
        if not payment.status.final:
            token, now = new_token(), self.clock()
            moved = await _retried(
                lambda: self.payments.transition(
                    payment_id, PaymentStatus.CANCELED, now, token=token
                ),
                "payment.cancel_retried",
            )
            if moved is not None:
                log.info("payment.canceled")
                self.announcer.in_background(
                    PaymentOutcome.of(moved), moved.correlation_id or payment_id
                )
                return moved
            payment = await self.payments.get(payment_id)  # another transition won the race
            if payment.status is PaymentStatus.CANCELED:
                return payment  # another cancel of it won: canceled all the same
        raise PaymentFinal(payment_id, payment.status.value)

    async def settle(self) -> None:
        """Wait for the outcome events sent in the background (a stopping role, before it
        closes its clients); one that fails stays in the outbox for the reconciler."""
        await self.announcer.settle()

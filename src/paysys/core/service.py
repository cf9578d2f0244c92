"""Use cases: create and read payments, decide one from its event (rules), cancel one."""

from __future__ import annotations

import asyncio
import enum
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

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
    ClaimState,
    EventPublisher,
    IdempotencyStore,
    PaymentRepository,
    VelocityStore,
)
from paysys.core.rules import DeclineReason, Rules, VelocityWindow, decide
from paysys.errors import (
    BackendUnavailable,
    ConfigError,
    PaymentFinal,
    PaymentNotFound,
    StoreUnconfirmed,
)

log = structlog.get_logger(__name__)

# A create or a cancel tries its conditional write this often (each try is the client's whole
# retry budget); a retry recognises the earlier try's success.
STORE_ATTEMPTS = 2


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
    outcomes: EventPublisher | None = None  # the outcomes topic; None: events stay in the outbox
    _background: set[asyncio.Future[bool]] = field(
        default_factory=set, init=False, repr=False, compare=False
    )

    async def create(
        self,
        new: NewPayment,
        correlation_id: str,
        idempotency_key: str | None = None,
        merchant_id: str = DEFAULT_MERCHANT,
    ) -> Accepted:
        """Store the payment ``Pending`` (the commit point), then publish ``PaymentCreated``.

        Answers whenever the payment is stored, even when the store's reply was lost and the
        write is only confirmed by reading it back. Raises ``BackendUnavailable`` (503) only
        when nothing was stored, or when the store could not be confirmed either way (then a
        retry with the same Idempotency-Key is safe). A failed publish after the store does
        not fail the request: the reconciler republishes it. With an idempotency key, a
        retry returns the first answer instead of a new payment."""
        if idempotency_key is None:
            payment = Payment.create(
                new, self.clock(), correlation_id=correlation_id, merchant_id=merchant_id
            )
            return Accepted(await self._store_and_publish(payment, resumed=False, keyed=False))
        # Keys are scoped per merchant: two merchants never collide or read each other's answers.
        idempotency_key = f"{merchant_id}:{idempotency_key}"
        claim = await self.idempotency.claim(
            idempotency_key, fingerprint(new), new_payment_id(), self.clock()
        )
        if claim.response is not None:  # ClaimState.DONE
            structlog.contextvars.bind_contextvars(payment_id=claim.payment_id, replayed=True)
            return Accepted(claim.response, replayed=True)
        payment = Payment.create(
            new,
            self.clock(),
            correlation_id=correlation_id,
            payment_id=claim.payment_id,
            merchant_id=merchant_id,
        )
        try:
            resumed = claim.state is ClaimState.RESUMED
            body = await self._store_and_publish(payment, resumed=resumed, keyed=True)
        except BackendUnavailable:
            await self._release(idempotency_key)
            raise
        try:
            await self.idempotency.complete(idempotency_key, body, self.clock())
        except BackendUnavailable as exc:
            # The payment is stored: answer it. A retry with this key waits out the lease,
            # resumes with the same payment id and replays the stored payment.
            log.warning("idempotency.complete_failed", error=str(exc))
        return Accepted(body)

    async def _release(self, idempotency_key: str) -> None:
        try:
            await self.idempotency.release(idempotency_key)
        except BackendUnavailable as exc:  # the lease then simply runs out
            log.warning("idempotency.release_failed", error=str(exc))

    async def _store_and_publish(
        self, payment: Payment, *, resumed: bool, keyed: bool
    ) -> dict[str, Any]:
        structlog.contextvars.bind_contextvars(payment_id=payment.id)
        payment = await self._store(payment, resumed=resumed, keyed=keyed)
        try:  # the answer need not wait for SNS: the reconciler makes a lost event good
            await self.events.submit(PaymentCreated.of(payment), payment.correlation_id)
        except BackendUnavailable as exc:
            log.warning("payment.publish_deferred", error=str(exc))
        return payment.to_json()

    async def _store(self, payment: Payment, *, resumed: bool, keyed: bool) -> Payment:
        """Store ``payment``; return what is stored under its id.

        A write whose reply is lost is retried, and the retry recognises its own earlier
        success: the conditional put finds the id taken. A fresh request's id is a new uuid4,
        so a taken id is this request's own earlier attempt (an aiodynamo retry of a put that
        committed, or the service's own retry below); it is counted then, since the attempt
        that committed never returned to count it. A resumed idempotent request reads what
        the request it resumes stored."""
        for attempt in range(1, STORE_ATTEMPTS + 1):
            try:
                if await self.payments.add(payment):
                    return payment
                break
            except BackendUnavailable as exc:
                if attempt == STORE_ATTEMPTS:
                    if keyed:
                        raise  # a retry with the same Idempotency-Key resumes it safely
                    raise StoreUnconfirmed(payment.id, str(exc)) from exc
                log.warning("payment.store_retried", attempt=attempt, error=str(exc))
        if resumed:
            return await self.payments.get(payment.id)
        log.info("payment.store_confirmed", how="own_earlier_attempt")
        await self.payments.count_existing(payment)
        return payment

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
        finishes that decision (counted, announced) instead of taking it for a duplicate."""
        now = self.clock()
        verdict = decide(self.rules, event, now)
        reason = verdict.reason
        if reason is None and verdict.velocity is not None:
            # Spend the merchant's budget only on a payment still to decide; a final one goes
            # to the transition, which tells this attempt's own write from a duplicate.
            final = (await self.payments.get(event.payment_id)).status.final
            if not final and not await self._take(verdict.velocity):
                reason = DeclineReason.VELOCITY_LIMIT
        to = PaymentStatus.APPROVED if reason is None else PaymentStatus.DECLINED
        moved = await self.payments.transition(event.payment_id, to, now, reason, token)
        if moved is None:
            return Decision.DUPLICATE
        await self.announce(PaymentOutcome.of(moved), correlation_id or event.payment_id)
        if moved.status is PaymentStatus.DECLINED:
            log.info("payment.declined", decline_reason=moved.decline_reason)
            return Decision.DECLINED
        return Decision.APPROVED

    async def _take(self, window: VelocityWindow) -> bool:
        if self.velocity is None:
            raise ConfigError("velocity rules need a VelocityStore")
        return await self.velocity.take(window)

    async def cancel(self, payment_id: str, merchant_id: str | None = None) -> Payment:
        """``Pending → Canceled``: the canceled payment; ``PaymentFinal`` (409) when it was
        already final, ``PaymentNotFound`` also for another merchant's payment. A cancel
        whose write committed although its reply was lost is recognised by its token when
        retried (202, not 409); the outcome event is sent in the background (the outbox and
        the reconciler make it good), so a slow SNS cannot turn a done cancel into a 503."""
        payment = await self.get(payment_id, merchant_id)
        if not payment.status.final:
            token, now = new_token(), self.clock()
            for attempt in range(1, STORE_ATTEMPTS + 1):
                try:
                    moved = await self.payments.transition(
                        payment_id, PaymentStatus.CANCELED, now, token=token
                    )
                    break
                except BackendUnavailable as exc:
                    if attempt == STORE_ATTEMPTS:
                        raise
                    log.warning("payment.cancel_retried", attempt=attempt, error=str(exc))
            if moved is not None:
                log.info("payment.canceled")
                self._in_background(
                    self.announce(PaymentOutcome.of(moved), moved.correlation_id or payment_id)
                )
                return moved
            payment = await self.payments.get(payment_id)  # another transition won the race
        raise PaymentFinal(payment_id, payment.status.value)

    def _in_background(self, work: Coroutine[Any, Any, bool]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settle(self) -> None:
        """Wait for the outcome events sent in the background (a stopping role, before it
        closes its clients); one that fails stays in the outbox for the reconciler."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def announce(self, outcome: PaymentOutcome, correlation_id: str) -> bool:
        """Publish the outcome event, then take the payment out of the outbox. A failure
        leaves it there for the reconciler (at least once: never lost, maybe twice)."""
        if self.outcomes is None:
            return False
        try:
            await self.outcomes.publish(outcome, correlation_id)
            await self.payments.clear_outbox(outcome.payment_id)
        except BackendUnavailable as exc:
            log.warning("outcome.publish_deferred", payment_id=outcome.payment_id, error=str(exc))
            return False
        return True

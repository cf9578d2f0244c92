"""PaymentService on the fakes: create (with and without Idempotency-Key), approve."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from paysys.core.domain import (
    DEFAULT_MERCHANT,
    NewPayment,
    Payment,
    PaymentCreated,
    PaymentStatus,
    fingerprint,
)
from paysys.core.service import Decision
from paysys.errors import (
    BackendUnavailable,
    IdempotencyConflict,
    IdempotencyKeyReused,
    PaymentFinal,
    PaymentNotFound,
    StoreUnconfirmed,
)

from ..fakes import FakeSystem, Outage
from ..traces import TRACEPARENT, continuing

NEW = NewPayment(amount=Decimal("12.50"), currency="BRL", description="coffee")


async def test_create_stores_pending_then_publishes(fakes: FakeSystem) -> None:
    with continuing(TRACEPARENT):  # the request's trace context, which the event carries
        accepted = await fakes.service().create(NEW, "corr-1")
    assert not accepted.replayed
    stored = await fakes.payments.get(accepted.payment_id)
    assert accepted.body == stored.to_json()
    assert (stored.status, stored.created_at, stored.correlation_id) == (
        PaymentStatus.PENDING,
        fakes.clock.now(),
        "corr-1",
    )
    [message] = await fakes.queue.receive(10, 0)
    assert PaymentCreated.from_message(message.body) == PaymentCreated.of(stored)
    assert (message.correlation_id, message.traceparent) == ("corr-1", TRACEPARENT)


async def test_without_a_key_the_same_body_makes_two_payments(fakes: FakeSystem) -> None:
    service = fakes.service()
    first, second = [await service.create(NEW, "c") for _ in range(2)]
    assert first.payment_id != second.payment_id
    assert await fakes.queue.depth() == (2, 0)


async def test_with_a_key_a_retry_replays_the_first_answer(fakes: FakeSystem) -> None:
    service = fakes.service()
    first = await service.create(NEW, "c", idempotency_key="order-1")
    fakes.clock.advance(5)
    again = await service.create(NEW, "c-retry", idempotency_key="order-1")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.body == first.body
    assert (await fakes.payments.counts(DEFAULT_MERCHANT)).by_status[PaymentStatus.PENDING] == 1
    assert await fakes.queue.depth() == (1, 0)  # one payment, one event


async def test_a_replay_answers_the_payment_as_it_is_stored_now(fakes: FakeSystem) -> None:
    """The key's record names the payment, not the first answer: a replay after the decision
    answers the decided payment, with the replay marker."""
    service = fakes.service()
    first = await service.create(NEW, "c", idempotency_key="order-now")
    fakes.clock.advance(1)
    await fakes.payments.transition(first.payment_id, PaymentStatus.APPROVED, fakes.clock.now())
    again = await service.create(NEW, "c-retry", idempotency_key="order-now")
    assert again.replayed
    assert again.body == (await fakes.payments.get(first.payment_id)).to_json()
    assert (again.body["id"], again.body["status"]) == (first.payment_id, "Approved")


async def test_with_a_key_another_body_is_refused(fakes: FakeSystem) -> None:
    service = fakes.service()
    await service.create(NEW, "c", idempotency_key="order-2")
    other = NewPayment(amount=Decimal("13.00"), currency="BRL", description="coffee")
    with pytest.raises(IdempotencyKeyReused):
        await service.create(other, "c", idempotency_key="order-2")


async def test_a_dead_holder_is_resumed_with_its_payment_id(fakes: FakeSystem) -> None:
    # A request claimed the key, then died before storing anything.
    held = await fakes.idempotency.claim(
        "default:crashed", fingerprint(NEW), "p-dead", fakes.clock.now()
    )
    fakes.clock.advance(fakes.idempotency.lock_seconds + 1)
    accepted = await fakes.service().create(NEW, "retry", idempotency_key="crashed")
    assert accepted.payment_id == held.payment_id == "p-dead"
    assert (await fakes.payments.get("p-dead")).status is PaymentStatus.PENDING
    assert await fakes.queue.depth() == (1, 0)


async def test_a_resumed_request_keeps_what_the_dead_holder_stored(fakes: FakeSystem) -> None:
    # The holder stored its payment but died before publishing and completing the key.
    first_seen = fakes.clock.now()
    await fakes.idempotency.claim("default:half-done", fingerprint(NEW), "p-half", first_seen)
    stored = Payment.create(NEW, first_seen, correlation_id="first", payment_id="p-half")
    await fakes.payments.add(stored)
    fakes.clock.advance(fakes.idempotency.lock_seconds + 1)

    accepted = await fakes.service().create(NEW, "second", idempotency_key="half-done")
    assert accepted.body == stored.to_json()  # its time and correlation id, not the retry's
    [message] = await fakes.queue.receive(10, 0)
    assert message.correlation_id == "first"


async def test_a_failed_publish_still_accepts_the_payment(fakes: FakeSystem, logs) -> None:
    service = fakes.service(events=Outage(fakes.topic))
    accepted = await service.create(NEW, "c", idempotency_key="order-3")
    assert (await fakes.payments.get(accepted.payment_id)).status is PaymentStatus.PENDING
    assert await fakes.queue.depth() == (0, 0)  # the reconciler will publish it later
    [deferred] = logs.events("payment.publish_deferred")
    assert deferred["payment_id"] == accepted.payment_id
    # The key is completed: a retry replays the answer.
    assert (await service.create(NEW, "c", idempotency_key="order-3")).replayed


async def test_a_failed_store_is_unavailable_and_nothing_is_published(fakes: FakeSystem) -> None:
    service = fakes.service(payments=Outage(fakes.payments, "add"))
    with pytest.raises(BackendUnavailable):
        await service.create(NEW, "c")
    assert await fakes.queue.depth() == (0, 0)


async def test_a_failed_store_releases_the_key_for_an_immediate_retry(fakes: FakeSystem) -> None:
    payments = Outage(fakes.payments, "add")
    service = fakes.service(payments=payments)
    with pytest.raises(BackendUnavailable):
        await service.create(NEW, "c", idempotency_key="order-4")
    attempted = payments.refused[0][1][0]
    assert {args[0].id for _, args in payments.refused} == {attempted.id}  # retried, same id

    with payments.restored():  # no lease to wait out: the key was released
        accepted = await service.create(NEW, "c", idempotency_key="order-4")
    assert accepted.payment_id == attempted.id  # resumed: the same payment id
    assert not accepted.replayed
    assert await fakes.queue.depth() == (1, 0)


async def test_a_live_request_with_the_same_key_is_a_conflict(fakes: FakeSystem) -> None:
    await fakes.idempotency.claim("default:busy", fingerprint(NEW), "p-busy", fakes.clock.now())
    fakes.clock.advance(1)  # well inside the lease
    with pytest.raises(IdempotencyConflict):
        await fakes.service().create(NEW, "c", idempotency_key="busy")


async def test_approve_once_then_duplicate(fakes: FakeSystem) -> None:
    service = fakes.service()
    accepted = await service.create(NEW, "c")
    event = PaymentCreated.of(await service.get(accepted.payment_id))
    fakes.clock.advance(2)
    assert await service.decide(event) is Decision.APPROVED
    fakes.clock.advance(2)
    assert await service.decide(event) is Decision.DUPLICATE
    approved = await service.get(accepted.payment_id)
    assert approved.approved_at == approved.created_at + timedelta(seconds=2)  # the first time


async def test_cancel_moves_pending_to_canceled_once(fakes: FakeSystem) -> None:
    service = fakes.service()
    accepted = await service.create(NEW, "c", merchant_id="acme")
    with pytest.raises(PaymentNotFound):  # another merchant's payment
        await service.cancel(accepted.payment_id, "globex")
    fakes.clock.advance(1)
    canceled = await service.cancel(accepted.payment_id, "acme")
    assert canceled == await fakes.payments.get(accepted.payment_id)
    assert (canceled.status, canceled.updated_at) == (PaymentStatus.CANCELED, fakes.clock.now())
    fakes.clock.advance(1)
    # Idempotent: a retry whose first try took effect is told it is canceled, unchanged.
    assert await service.cancel(accepted.payment_id, "acme") == canceled
    await service.settle()  # the outcome goes in the background
    published = [e for e in fakes.outcomes.published if e.payment_id == accepted.payment_id]
    assert len(published) == 1, "announced once: a repeated cancel announces nothing again"
    event = PaymentCreated.of(canceled)
    assert await service.decide(event) is Decision.DUPLICATE  # acknowledged, nothing changes
    assert await fakes.payments.get(accepted.payment_id) == canceled


async def test_cancel_that_loses_the_race_to_approval_is_409_approved(fakes: FakeSystem) -> None:
    service = fakes.service()
    accepted = await service.create(NEW, "c")
    pending = await service.get(accepted.payment_id)

    class ApprovedMeanwhile:  # the worker approves between the cancel's read and its write
        def __getattr__(self, name: str) -> object:
            return getattr(fakes.payments, name)

        async def get(self, payment_id: str) -> Payment:
            found = await fakes.payments.get(payment_id)
            await fakes.payments.transition(payment_id, PaymentStatus.APPROVED, fakes.clock.now())
            return found if found.status.final else pending

    with pytest.raises(PaymentFinal) as final:
        await fakes.service(payments=ApprovedMeanwhile()).cancel(accepted.payment_id)
    assert final.value.current == "Approved"
    counts = (await fakes.payments.counts(DEFAULT_MERCHANT)).by_status
    assert (counts[PaymentStatus.APPROVED], counts[PaymentStatus.CANCELED]) == (1, 0)


async def test_keys_and_reads_are_scoped_per_merchant(fakes: FakeSystem) -> None:
    service = fakes.service()
    mine = await service.create(NEW, "c", idempotency_key="k", merchant_id="acme")
    theirs = await service.create(NEW, "c", idempotency_key="k", merchant_id="globex")
    assert mine.payment_id != theirs.payment_id  # the same key, two merchants: no collision
    assert not theirs.replayed
    assert (await service.get(mine.payment_id, "acme")).merchant_id == "acme"
    with pytest.raises(PaymentNotFound):  # another merchant's id is simply not found
        await service.get(mine.payment_id, "globex")


async def test_a_store_that_failed_after_committing_is_answered_from_the_item(
    fakes: FakeSystem, logs
) -> None:
    """The put committed but its answer was an error, and no read can confirm it: the retried
    put recognises its own write (202, counted once), never a 503 for a stored payment."""

    class CommitsThenFails:
        committed: ClassVar[set[str]] = set()

        def __getattr__(self, name: str) -> object:
            return getattr(fakes.payments, name)

        async def add(self, payment: Payment, token: str = "") -> bool:
            if payment.id in self.committed:  # the retry: its token's own write
                return await fakes.payments.add(payment, token)
            fakes.payments.commit_only(payment, token)
            self.committed.add(payment.id)
            raise BackendUnavailable("reply lost")

        async def get(self, payment_id: str) -> Payment:
            raise BackendUnavailable("GetItem failed")

    service = fakes.service(payments=CommitsThenFails())
    accepted = await service.create(NEW, "c")
    assert (await fakes.payments.get(accepted.payment_id)).status is PaymentStatus.PENDING
    assert await fakes.queue.depth() == (1, 0)
    assert (await fakes.payments.counts("default")).by_status[PaymentStatus.PENDING] == 1
    assert logs.events("payment.store_retried"), "the put was tried again, and recognised"


async def test_a_put_retried_inside_the_client_that_meets_its_own_write_is_accepted(
    fakes: FakeSystem,
) -> None:
    """aiodynamo re-sends a put whose reply was lost and meets its own write: the token makes
    it this request's (202, counted once, no read)."""

    class OwnWriteMet:
        def __getattr__(self, name: str) -> object:
            return getattr(fakes.payments, name)

        async def add(self, payment: Payment, token: str = "") -> bool:
            fakes.payments.commit_only(payment, token)  # the first request committed, reply lost
            return await fakes.payments.add(payment, token)  # the re-sent one: its own write

        async def get(self, payment_id: str) -> Payment:
            raise BackendUnavailable("GetItem failed")

    service = fakes.service(payments=OwnWriteMet())
    accepted = await service.create(NEW, "c")
    assert (await fakes.payments.get(accepted.payment_id)).status is PaymentStatus.PENDING
    assert (await fakes.payments.counts("default")).by_status[PaymentStatus.PENDING] == 1


async def test_a_store_never_answered_names_the_payment_it_may_have_stored(
    fakes: FakeSystem,
) -> None:
    payments = Outage(fakes.payments, "add")
    service = fakes.service(payments=payments)
    with pytest.raises(StoreUnconfirmed) as caught:
        await service.create(NEW, "c")
    attempted = payments.refused[0][1][0]
    assert caught.value.to_json()["error"]["payment_id"] == attempted.id
    assert len(payments.refused) == 2  # retried once before answering 503
    with pytest.raises(BackendUnavailable) as keyed:  # with a key: retrying it is safe
        await service.create(NEW, "c", idempotency_key="order-9")
    assert not isinstance(keyed.value, StoreUnconfirmed)


async def test_a_request_overtaken_after_its_lease_answers_the_stored_payment(
    fakes: FakeSystem,
) -> None:
    """A stalls past its lease; B (same key, same body) resumes, stores the payment with
    the same id and answers. A's put then finds the id taken by B: A answers what is stored
    (202, the same payment), never a 503 for a stored payment, and it is counted once."""
    answers: dict[str, Any] = {}

    class Stalls:
        def __getattr__(self, name: str) -> object:
            return getattr(fakes.payments, name)

        async def add(self, payment: Payment, token: str = "") -> bool:
            fakes.clock.advance(fakes.idempotency.lock_seconds + 1)
            answers["b"] = await fakes.service().create(NEW, "b", idempotency_key="order-x")
            return await fakes.payments.add(payment, token)

    a = await fakes.service(payments=Stalls()).create(NEW, "a", idempotency_key="order-x")
    b = answers["b"]
    assert a.payment_id == b.payment_id
    assert a.body == b.body  # both answer what is stored
    assert (await fakes.payments.counts("default")).by_status[PaymentStatus.PENDING] == 1

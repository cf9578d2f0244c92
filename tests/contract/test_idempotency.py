"""IdempotencyStore: claim, complete and release; leases and the TTL decided by ``now``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paysys.core.ports import ClaimState
from paysys.errors import IdempotencyConflict, IdempotencyKeyReused

from .conftest import Ports

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def later(ports: Ports, *, lease: int = 0, ttl: int = 0, seconds: int = 0) -> datetime:
    """``now`` after ``lease`` leases and ``ttl`` TTLs (plus ``seconds``) have run out."""
    settings = ports.settings
    return T0 + timedelta(
        seconds=lease * settings.idempotency_lock_seconds
        + ttl * settings.idempotency_ttl_seconds
        + seconds
    )


async def test_first_claim_is_new_with_the_given_payment_id(ports: Ports) -> None:
    claim = await ports.idempotency.claim("k", "fp", "p-1", T0)
    assert (claim.state, claim.payment_id) == (ClaimState.NEW, "p-1")


async def test_a_live_claim_is_a_conflict(ports: Ports) -> None:
    await ports.idempotency.claim("k", "fp", "p-1", T0)
    with pytest.raises(IdempotencyConflict):
        await ports.idempotency.claim("k", "fp", "p-2", later(ports, lease=1, seconds=-1))


async def test_another_body_is_key_reused_in_progress_and_done(ports: Ports) -> None:
    await ports.idempotency.claim("k", "fp", "p-1", T0)
    with pytest.raises(IdempotencyKeyReused):
        await ports.idempotency.claim("k", "other", "p-2", T0)
    await ports.idempotency.complete("k", T0)
    with pytest.raises(IdempotencyKeyReused):
        await ports.idempotency.claim("k", "other", "p-2", T0)


async def test_completed_claims_name_their_payment_for_the_replay(ports: Ports) -> None:
    await ports.idempotency.claim("k", "fp", "p-1", T0, owner="a")
    await ports.idempotency.complete("k", T0)
    await ports.idempotency.complete("k", T0)  # a retry of it (its reply lost): harmless
    for now in (T0, later(ports, lease=2)):
        claim = await ports.idempotency.claim("k", "fp", "p-2", now, owner="b")
        assert (claim.state, claim.payment_id) == (ClaimState.DONE, "p-1")
    # Its owner's retried claim after the completion is a replay too, not a new claim.
    again = await ports.idempotency.claim("k", "fp", "p-1", T0, owner="a")
    assert (again.state, again.payment_id) == (ClaimState.DONE, "p-1")


async def test_an_expired_lease_is_resumed_once_with_the_same_payment_id(ports: Ports) -> None:
    await ports.idempotency.claim("k", "fp", "p-1", T0)
    after = later(ports, lease=1, seconds=1)
    claim = await ports.idempotency.claim("k", "fp", "p-2", after)
    assert (claim.state, claim.payment_id) == (ClaimState.RESUMED, "p-1")
    with pytest.raises(IdempotencyConflict):  # the resumer holds a fresh lease
        await ports.idempotency.claim("k", "fp", "p-3", after)


async def test_release_lets_a_retry_resume_at_once(ports: Ports) -> None:
    await ports.idempotency.claim("k", "fp", "p-1", T0)
    await ports.idempotency.release("k")
    claim = await ports.idempotency.claim("k", "fp", "p-2", T0)
    assert (claim.state, claim.payment_id) == (ClaimState.RESUMED, "p-1")


async def test_release_keeps_a_completed_claim_and_ignores_unknown_keys(ports: Ports) -> None:
    await ports.idempotency.claim("k", "fp", "p-1", T0)
    await ports.idempotency.complete("k", T0)
    await ports.idempotency.release("k")
    assert (await ports.idempotency.claim("k", "fp", "p-2", T0)).state is ClaimState.DONE

    await ports.idempotency.release("never-seen")
    assert (await ports.idempotency.claim("never-seen", "fp", "p-3", T0)).state is ClaimState.NEW


@pytest.mark.parametrize("completed", [False, True], ids=["in_progress", "done"])
async def test_after_the_ttl_a_key_is_new_again(ports: Ports, completed: bool) -> None:
    await ports.idempotency.claim("k", "fp", "p-1", T0)
    if completed:
        await ports.idempotency.complete("k", T0)
    claim = await ports.idempotency.claim("k", "other body", "p-2", later(ports, ttl=1, seconds=1))
    assert (claim.state, claim.payment_id) == (ClaimState.NEW, "p-2")


async def test_a_claim_retried_by_its_owner_is_still_its_own(ports: Ports) -> None:
    """A claim whose reply was lost is tried again by the same request (same owner and
    payment id): its own claim, not "in progress"; another request is still refused."""
    first = await ports.idempotency.claim("k", "fp", "p-1", T0, owner="a")
    again = await ports.idempotency.claim("k", "fp", "p-1", T0, owner="a")
    assert (first.state, again.state, again.payment_id) == (ClaimState.NEW, ClaimState.NEW, "p-1")
    with pytest.raises(IdempotencyConflict):
        await ports.idempotency.claim("k", "fp", "p-2", T0, owner="b")


async def test_an_overtaken_request_cannot_release_the_new_holders_lease(ports: Ports) -> None:
    await ports.idempotency.claim("k", "fp", "p-1", T0, owner="a")
    after = later(ports, lease=1, seconds=1)  # a stalls past its lease: b resumes it
    resumed = await ports.idempotency.claim("k", "fp", "p-2", after, owner="b")
    assert (resumed.state, resumed.payment_id) == (ClaimState.RESUMED, "p-1")
    again = await ports.idempotency.claim("k", "fp", "p-2", after, owner="b")  # b's retry
    assert (again.state, again.payment_id) == (ClaimState.RESUMED, "p-1")
    await ports.idempotency.release("k", owner="a")  # a gives up: not its lease any more
    with pytest.raises(IdempotencyConflict):  # b's lease still holds
        await ports.idempotency.claim("k", "fp", "p-3", after, owner="c")
    await ports.idempotency.release("k", owner="b")
    claim = await ports.idempotency.claim("k", "fp", "p-3", after, owner="c")
    assert (claim.state, claim.payment_id) == (ClaimState.RESUMED, "p-1")

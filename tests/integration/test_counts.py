"""The counts journal and its rollup on the real emulator: writers journal per rollup shard
(a write per shard and flush, whatever the merchants), puts go in sequence and a lost reply
is sent again unchanged, and the rollup applies each journal item exactly once whatever step
a crash interrupts or whose reply is lost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import pytest

from paysys.adapters import counter_journal as cj
from paysys.adapters.counter_rollup import CounterRollup
from paysys.adapters.dynamodb import DynamoPayments
from paysys.adapters.dynamodb_counts import CounterWriter
from paysys.config import Settings
from paysys.core.domain import NewPayment, Payment, PaymentStatus, utcnow
from paysys.errors import BackendUnavailable
from paysys.ops.migrate import fold_counters
from paysys.ops.provision import Provisioned
from paysys.runtime.resources import Clients, layout

from .test_scale import recorded

NEW = NewPayment(Decimal("3.00"), "BRL", "")
P, A = PaymentStatus.PENDING, PaymentStatus.APPROVED
SHARDS = 2


def payment(merchant: str = "m1") -> Payment:
    return Payment.create(NEW, utcnow(), correlation_id="c", merchant_id=merchant)


class LostReplies:
    """Wraps the aiodynamo client: the next ``lose`` calls of ``method`` commit, then raise
    as if their reply was lost; ``refuse`` calls of it raise without committing."""

    def __init__(self, inner: Any, method: str, *, lose: int = 0, refuse: int = 0) -> None:
        self.inner, self.method, self.lose, self.refuse = inner, method, lose, refuse
        self.sent: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        answer = getattr(self.inner, name)
        if name != self.method:
            return answer

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.sent.append(args)
            if self.refuse:
                self.refuse -= 1
                raise BackendUnavailable("refused")
            result = await answer(*args, **kwargs)
            if self.lose:
                self.lose -= 1
                raise BackendUnavailable("reply lost")
            return result

        return call


def writer(clients: Clients, settings: Settings, client: Any = None) -> CounterWriter:
    return CounterWriter(client or clients.dynamodb, settings.table_name, SHARDS, 3600)


def rollup(clients: Clients, settings: Settings, client: Any = None) -> CounterRollup:
    return CounterRollup(client or clients.dynamodb, settings.table_name, SHARDS)


async def roll(r: CounterRollup) -> int:
    return sum([await r.shard_pass(s) for s in range(r.shards)])


async def counts(clients: Clients, settings: Settings, merchant: str) -> dict[PaymentStatus, int]:
    reader = DynamoPayments(clients.dynamodb, settings.table_name, layout(settings))
    return (await reader.counts(merchant)).by_status


async def made(w: CounterWriter, merchant: str, n: int, approved: int = 0) -> None:
    for i in range(n):
        await w.count(merchant, f"p{i}", utcnow(), {P: 1}, first=True)
    for i in range(approved):
        await w.count(merchant, f"p{i}", utcnow(), {P: -1, A: 1})


async def test_a_flush_writes_one_item_per_shard_whatever_the_merchants(
    settings: Settings, clients: Clients, provisioned: Provisioned
) -> None:
    recorder, client = recorded(clients)
    w = writer(clients, settings, client)
    merchants = [f"m{i}" for i in range(40)]
    for m in merchants:
        await made(w, m, 2, approved=1)
    await w.flush()
    shards = {cj.registry_id(0, w.writer_id), cj.registry_id(1, w.writer_id)}
    assert recorder.calls.count("PutItem") == len(shards)  # 40 merchants, 2 journal items
    assert recorder.calls.count("UpdateItem") == len(shards)  # the registries, once
    recorder.reset()
    await made(w, "m1", 1)
    await w.flush()
    assert recorder.calls == ["PutItem"]  # registered already: the journal item only
    assert await roll(rollup(clients, settings)) == 3
    assert await counts(clients, settings, "m7") == {P: 1, A: 1} | {
        s: 0 for s in PaymentStatus if s not in (P, A)
    }
    assert (await counts(clients, settings, "m1"))[P] == 2
    reader = DynamoPayments(clients.dynamodb, settings.table_name, layout(settings))
    platform = (await reader.platform_counts()).by_status
    assert (platform[P], platform[A]) == (41, 40)
    assert (await reader.counts("m1")).first_month == utcnow().strftime("%Y-%m")


async def test_an_unanswered_put_is_sent_again_unchanged_before_anything_newer(
    settings: Settings, clients: Clients, provisioned: Provisioned
) -> None:
    lossy = LostReplies(clients.dynamodb, "put_item", lose=1, refuse=0)
    w = CounterWriter(cast(Any, lossy), settings.table_name, 1, 3600)
    await made(w, "m1", 2)
    await w.flush()  # committed, reply lost: kept
    assert w.buffered == {"m1": {"n_Pending": 2}}
    lossy.refuse = 1
    await made(w, "m1", 1)
    await w.flush()  # refused: both wait
    await made(w, "m2", 1)
    await w.flush()
    ids = [args[1]["id"] for args in lossy.sent]
    seq = [int(i.rpartition("#")[2]) for i in ids]
    assert seq == [1, 1, 1, 2, 3]  # item 1 again (twice), then the newer ones in order
    bodies = [args[1]["e"] for args in lossy.sent]
    assert bodies[0] == bodies[1] == bodies[2]
    assert w.buffered == {}
    assert await roll(CounterRollup(clients.dynamodb, settings.table_name, 1)) == 3
    assert (await counts(clients, settings, "m1"))[P] == 3
    assert (await counts(clients, settings, "m2"))[P] == 1


async def test_several_writers_and_rounds_are_exact(
    settings: Settings, clients: Clients, provisioned: Provisioned
) -> None:
    writers = [writer(clients, settings) for _ in range(3)]
    r = rollup(clients, settings)
    for round_no in range(3):
        for n, w in enumerate(writers):
            await made(w, "a", 1 + n, approved=n)
            await made(w, "b", 2)
            await w.flush()
        await roll(r)
        a = await counts(clients, settings, "a")
        assert (a[P], a[A]) == (3 * (round_no + 1), 3 * (round_no + 1))
    assert await roll(r) == 0  # nothing new: nothing applied
    assert (await counts(clients, settings, "b"))[P] == 18


@pytest.mark.parametrize("step", ["bound", "apply", "state"])
async def test_a_round_interrupted_anywhere_is_finished_once(
    settings: Settings, clients: Clients, provisioned: Provisioned, step: str
) -> None:
    """The first owner stops after recording bounds (before the state), or mid-apply, or
    before ``done``: the next pass finishes the round, and counts are exact."""
    w = CounterWriter(clients.dynamodb, settings.table_name, 1, 3600)
    await made(w, "a", 4, approved=1)
    await made(w, "b", 3)
    await w.flush()
    # One shard's updates, in order: registry bounds, state round, a, b, platform, done.
    answered = {"bound": 1, "apply": 3, "state": 5}[step]
    failing = FailAfter(clients.dynamodb, "update_item", answered)
    with pytest.raises(BackendUnavailable):
        await roll(CounterRollup(cast(Any, failing), settings.table_name, 1))
    await made(w, "a", 1)
    await w.flush()
    r = CounterRollup(clients.dynamodb, settings.table_name, 1)
    await roll(r)
    await roll(r)
    a = await counts(clients, settings, "a")
    assert (a[P], a[A]) == (4, 1)
    assert (await counts(clients, settings, "b"))[P] == 3


class FailAfter:
    """Wraps the aiodynamo client: ``method`` answers ``after`` times, then is refused."""

    def __init__(self, inner: Any, method: str, after: int) -> None:
        self.inner, self.method, self.after = inner, method, after

    def __getattr__(self, name: str) -> Any:
        answer = getattr(self.inner, name)
        if name != self.method:
            return answer

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.after <= 0:
                raise BackendUnavailable("down")
            self.after -= 1
            return await answer(*args, **kwargs)

        return call


async def test_a_round_whose_replies_were_lost_is_applied_once(
    settings: Settings, clients: Clients, provisioned: Provisioned
) -> None:
    """Every update of a pass commits and loses its reply: the pass fails at its first one;
    the passes after it recognise each committed write (bounds, counter items)."""
    w = writer(clients, settings)
    await made(w, "a", 5, approved=2)
    await w.flush()
    for _ in range(8):  # a lost reply at each successive update of the rollup
        lossy = LostReplies(clients.dynamodb, "update_item", lose=1)
        try:
            await roll(rollup(clients, settings, lossy))
        except BackendUnavailable:
            continue
    await roll(rollup(clients, settings))
    a = await counts(clients, settings, "a")
    assert (a[P], a[A]) == (3, 2)


async def test_a_closed_writer_is_removed_once_applied(
    settings: Settings, clients: Clients, provisioned: Provisioned
) -> None:
    w = writer(clients, settings)
    await made(w, "a", 2)
    await w.close()
    r = rollup(clients, settings)
    shard = cj.registry_id(0, w.writer_id)
    assert [reg.closed for s in range(SHARDS) for reg in await r.registries(s)] == [1]
    await roll(r)
    assert [reg for s in range(SHARDS) for reg in await r.registries(s)] == []
    assert shard  # the registry is gone; the counts stay
    assert (await counts(clients, settings, "a"))[P] == 2


async def test_migrate_folds_the_old_counter_items_once(
    settings: Settings, clients: Clients, provisioned: Provisioned
) -> None:
    table = settings.table_name
    old = [
        {"id": "#count#m1#3", "kind": "counter", "n_Pending": 2, "n_Approved": 1},
        {"id": "#count#m1#5", "kind": "counter", "n_Pending": 1, "first_month": "2025-01"},
    ]
    for item in old:
        await clients.dynamodb.put_item(table, item)
    payments = DynamoPayments(clients.dynamodb, table, layout(settings))
    assert await fold_counters(payments) == 2
    assert await fold_counters(payments) == 0  # gone: folded once
    m1 = await payments.counts("m1")
    assert (m1.by_status[P], m1.by_status[A], m1.first_month) == (3, 1, "2025-01")
    assert (await payments.platform_counts()).by_status[P] == 3

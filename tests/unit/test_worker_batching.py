"""The worker's SQS calls per message on the fakes: at a trickle the active loops come down to
one that lingers and the deletes are coalesced; a backlog wakes every loop and drains in full
batches; stop flushes the acknowledgements; a failed delete only costs a duplicate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from paysys.config import Settings
from paysys.worker.metrics import WorkerMetrics
from paysys.worker.worker import Worker, WorkerOptions

from ..conftest import until
from ..fakes import FakeSystem, FakeTopic, Outage
from .conftest import GUARD_SECONDS
from .test_worker import NEW, create, held, send

LINGER = 0.05  # the default of both lingers: 50 ms


def make_worker(
    fakes: FakeSystem, queue: Any = None, observer: Any = None, **options: Any
) -> Worker:
    """A worker on the fakes that long-polls like the real one (for 1 s: ``stop`` lets a
    long poll under way end by itself, so this is also how long a stop may take)."""
    defaults: dict[str, Any] = {
        "loops": 4,
        "max_in_flight": 64,
        "wait_seconds": 1,
        "drain_seconds": GUARD_SECONDS,
        "visibility_timeout_seconds": fakes.visibility_timeout,
        "receive_linger_seconds": LINGER,
        "delete_linger_seconds": LINGER,
    }
    service = options.pop("service", None) or fakes.service()
    return Worker(queue or fakes.queue, service, WorkerOptions(**(defaults | options)), observer)


async def stopped(worker: Worker, running: asyncio.Task[Any]) -> None:
    worker.stop()
    await asyncio.wait_for(running, GUARD_SECONDS)  # parked loops too: a hang guard
    assert worker.running_loops == 0


async def test_a_trickle_takes_far_fewer_receives_and_deletes_than_messages(
    fakes: FakeSystem,
) -> None:
    worker = make_worker(fakes)
    running = asyncio.create_task(worker.run())
    service, loop = fakes.service(), asyncio.get_running_loop()
    start, count, every = loop.time(), 60, 0.01  # 100 payments/s, one at a time
    for i in range(count):
        # Paced by schedule, not by a sleep per message: a late wake-up only bunches them.
        await asyncio.sleep(max(0.0, start + i * every - loop.time()))
        await service.create(NEW, f"trickle-{i}")
    await until(lambda: worker.stats.deleted == count)
    await stopped(worker, running)

    receives = [n for n in fakes.queue.receives if n]
    assert sum(receives) == count
    # Each linger of 50 ms gathers about 5; the first few go to the loops still polling.
    assert len(receives) / count < 0.5, receives
    assert len(fakes.queue.deletes) / count < 0.5, [len(d) for d in fakes.queue.deletes]
    assert worker.stats.receive_calls == len(fakes.queue.receives)
    assert worker.stats.delete_calls == len(fakes.queue.deletes)
    assert await fakes.queue.depth() == (0, 0)


async def test_without_lingers_each_message_takes_its_own_receive_and_delete(
    fakes: FakeSystem,
) -> None:
    worker = make_worker(fakes, receive_linger_seconds=0, delete_linger_seconds=0)
    running = asyncio.create_task(worker.run())
    service = fakes.service()
    for i in range(8):  # strictly one at a time: the next once the last is deleted
        await service.create(NEW, f"one-{i}")
        await until(lambda i=i: worker.stats.deleted == i + 1)
    await stopped(worker, running)

    assert [n for n in fakes.queue.receives if n] == [1] * 8
    assert [len(d) for d in fakes.queue.deletes] == [1] * 8  # per batch, as before


async def test_a_backlog_wakes_every_loop_and_drains_in_full_batches(fakes: FakeSystem) -> None:
    seen: list[tuple[int, int]] = []  # (messages, active loops) after each receive

    class Watch:
        def received(self, seconds: float, count: int) -> None:
            seen.append((count, worker.pacing.active))

        def decided(self, created_at: datetime) -> None:
            pass

    # max_in_flight: slots never cut a receive short in this test.
    worker = make_worker(fakes, observer=Watch(), max_in_flight=200)
    running = asyncio.create_task(worker.run())
    service = fakes.service()
    # One message at a time until a single loop receives and the three others are parked.
    for i in range(50):
        await service.create(NEW, f"single-{i}")
        await until(lambda i=i: worker.stats.received == i + 1)
        if worker.pacing.active == 1 and worker.pacing.parked == 3:
            break
    await until(lambda: worker.pacing.parked == 3)
    singles, seen[:] = worker.stats.received, []
    received_before = len(fakes.queue.receives)

    # 200 payments whose events reach the queue at once.
    quiet = FakeTopic()  # delivers to no queue: the test delivers its events all at once
    created = fakes.service(events=quiet)
    for i in range(200):
        await created.create(NEW, f"backlog-{i}")
    for event in quiet.published:
        fakes.queue.deliver(event.to_message(), {"correlation_id": "backlog"})
    await until(lambda: worker.stats.deleted == singles + 200)
    await stopped(worker, running)

    backlog = [n for n in fakes.queue.receives[received_before:] if n]
    assert backlog == [10] * 20  # full batches, every one
    assert max(active for _, active in seen) == 4  # every loop took part
    assert worker.stats.approved == singles + 200
    assert await fakes.queue.depth() == (0, 0)


async def test_partial_receives_park_loops_and_a_burst_run_still_returns(
    fakes: FakeSystem,
) -> None:
    await create(fakes, 3)
    worker = make_worker(fakes, wait_seconds=0)
    stats = await asyncio.wait_for(worker.run(burst=True), GUARD_SECONDS)
    assert (stats.approved, stats.deleted) == (3, 3)
    assert worker.pacing.active == 3  # the partial receive of 3 (of 10) parked one loop
    assert worker.running_loops == 0


async def test_stop_deletes_every_acknowledged_message_still_buffered(fakes: FakeSystem) -> None:
    await create(fakes, 3)
    worker = make_worker(fakes, delete_linger_seconds=60)  # no timer flushes in this test
    running = asyncio.create_task(worker.run())
    await until(lambda: worker.stats.approved == 3)
    assert fakes.queue.deletes == []  # buffered: fewer than 10, not due
    assert worker.delete_pending == 3
    assert worker.stats.in_flight == 0  # processing ended: their slots are free

    await stopped(worker, running)
    assert [len(d) for d in fakes.queue.deletes] == [3]  # one call, on the way out
    assert (worker.stats.deleted, worker.delete_pending) == (3, 0)
    assert await fakes.queue.depth() == (0, 0)


async def test_a_full_buffer_is_deleted_without_waiting_for_the_linger(
    fakes: FakeSystem,
) -> None:
    await create(fakes, 25)
    worker = make_worker(fakes, delete_linger_seconds=60)
    running = asyncio.create_task(worker.run())
    await until(lambda: worker.stats.deleted == 20)
    assert [len(d) for d in fakes.queue.deletes] == [10, 10]
    assert worker.delete_pending == 5
    await stopped(worker, running)
    assert [len(d) for d in fakes.queue.deletes] == [10, 10, 5]


async def test_a_failed_delete_is_logged_and_its_redelivery_acknowledged_as_a_duplicate(
    fakes: FakeSystem, logs
) -> None:
    await create(fakes, 2)
    no_deletes = Outage(fakes.queue, "delete")
    stats = await make_worker(fakes, no_deletes, wait_seconds=0).run(burst=True)
    assert (stats.approved, stats.deleted, stats.delete_failed) == (2, 0, 2)
    [failed] = logs.events("worker.delete_failed")
    assert failed["count"] == 2
    assert await fakes.queue.depth() == (0, 2)  # not deleted: back after the timeout

    fakes.clock.advance(fakes.visibility_timeout)
    again = await make_worker(fakes, wait_seconds=0).run(burst=True)
    assert (again.received, again.approved, again.duplicates, again.deleted) == (2, 0, 2, 2)
    assert await fakes.queue.depth() == (0, 0)


async def test_a_slot_is_free_once_its_message_is_processed(fakes: FakeSystem) -> None:
    await create(fakes, 1)
    send(fakes, "garbage")  # malformed: processed at once, beside the held approval
    payments, service = held(fakes, held=True)
    worker = make_worker(fakes, loops=1, max_in_flight=2, service=service)
    running = asyncio.create_task(worker.run())
    await until(lambda: payments.running == 1 and worker.stats.malformed == 1)
    send(fakes, "more garbage")  # the garbage's slot takes it while the approval waits
    await until(lambda: worker.stats.malformed == 2)
    assert (payments.running, worker.stats.in_flight) == (1, 1)

    payments.released.set()
    await until(lambda: worker.stats.approved == 1)
    await stopped(worker, running)
    assert worker.stats.deleted == 1
    assert worker.stats.in_flight == 0


async def test_metrics_show_the_active_loops_and_the_delete_backlog(fakes: FakeSystem) -> None:
    await create(fakes, 12)
    # A clock far ahead of the payments' creation: each is decided at an age of a day or so.
    metrics = WorkerMetrics(CollectorRegistry(), clock=lambda: datetime.now(UTC) + timedelta(1))
    worker = make_worker(fakes, observer=metrics, wait_seconds=0, max_in_flight=48)
    metrics.watch(worker, WorkerOptions(max_in_flight=48))
    stats = await worker.run(burst=True)

    def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert sample("paysys_worker_active_loops") == worker.pacing.active
    assert stats.delete_calls == 2  # 10, then 2 (the AWS call counts are the clients')
    assert sample("paysys_worker_messages_deleted_total") == 12
    assert sample("paysys_worker_delete_pending") == 0
    assert sample("paysys_worker_max_in_flight") == 48
    assert sample("paysys_worker_decision_age_seconds_count") == 12  # every payment, decided once
    assert sample("paysys_worker_decision_age_seconds_bucket", {"le": "300.0"}) == 0  # > 1 day


def test_the_lingers_are_set_in_milliseconds() -> None:
    env = {"PAYSYS_WORKER_RECEIVE_LINGER_MS": "20", "PAYSYS_WORKER_DELETE_LINGER_MS": "0"}
    options = WorkerOptions.from_settings(Settings.from_env(env))
    assert (options.receive_linger_seconds, options.delete_linger_seconds) == (0.02, 0)
    defaults = WorkerOptions.from_settings(Settings())
    assert (defaults.receive_linger_seconds, defaults.delete_linger_seconds) == (LINGER, LINGER)


def test_the_options_defaults_are_the_settings_defaults() -> None:
    assert WorkerOptions() == WorkerOptions.from_settings(Settings())
    assert WorkerOptions().wait_seconds == Settings().worker_wait_seconds


class Staggered:
    """Wraps a repository: each approval takes 0-18 ms (simulated work, in turn), so the
    messages of a batch end one by one; counts how many run at once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = self.running = self.peak = 0

    async def decide(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(0.002 * (self.calls % 10))
            return await self.inner.decide(*args, **kwargs)
        finally:
            self.running -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_with_every_slot_busy_a_loop_waits_for_a_whole_batch_of_them(
    fakes: FakeSystem,
) -> None:
    await create(fakes, 100)
    payments = Staggered(fakes.payments)  # processing, not receiving, is the limit
    service = fakes.service(payments=payments)
    worker = make_worker(fakes, loops=2, max_in_flight=20, wait_seconds=0, service=service)
    stats = await asyncio.wait_for(worker.run(burst=True), GUARD_SECONDS)
    assert stats.approved == 100
    assert payments.peak == 20  # the bound was used, never passed
    # Slots come back one message at a time; a loop still waits for ten of them.
    assert [n for n in fakes.queue.receives if n] == [10] * 10

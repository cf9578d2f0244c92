"""core/cache.py's SingleFlight: concurrent callers share one load, ``forget`` (after a
write) is never undone by a load that was already running, and ``max_keys`` bounds it."""

from __future__ import annotations

import asyncio

from paysys.core.cache import SingleFlight


class Loads:
    """A loader that counts its calls, says when one starts (``started``) and waits for
    ``release`` before answering."""

    def __init__(self) -> None:
        self.calls = 0
        self.started: asyncio.Queue[int] = asyncio.Queue()
        self.release = asyncio.Event()
        self.release.set()

    async def load(self) -> int:
        self.calls += 1
        answer = self.calls
        self.started.put_nowait(answer)
        await self.release.wait()
        return answer


async def test_concurrent_callers_share_one_load_reused_for_its_seconds() -> None:
    now = [0.0]
    cache: SingleFlight[int] = SingleFlight(10.0, lambda: now[0])
    loads = Loads()
    loads.release.clear()
    waiting = [asyncio.ensure_future(cache.get("alice", loads.load)) for _ in range(5)]
    assert await loads.started.get() == 1  # the callers came first: all wait on this load
    loads.release.set()
    assert await asyncio.gather(*waiting) == [1] * 5
    assert await cache.get("alice", loads.load) == 1
    now[0] = 10.0
    assert await cache.get("alice", loads.load) == 2


async def test_a_forget_during_a_load_is_not_undone_by_it() -> None:
    cache: SingleFlight[int] = SingleFlight(60.0)
    loads = Loads()
    loads.release.clear()
    before = asyncio.ensure_future(cache.get("alice", loads.load))
    assert await loads.started.get() == 1  # this load read the old list
    cache.forget("alice")  # an endpoint was added meanwhile
    after = asyncio.ensure_future(cache.get("alice", loads.load))
    assert await loads.started.get() == 2
    loads.release.set()
    assert (await before, await after) == (1, 2)
    assert await cache.get("alice", loads.load) == 2  # the newer load is the one kept
    assert loads.calls == 2


async def test_past_max_keys_it_starts_over() -> None:
    cache: SingleFlight[int] = SingleFlight(60.0, max_keys=2)
    loads = Loads()
    for key in ("a", "b", "c"):
        await cache.get(key, loads.load)
    assert await cache.get("c", loads.load) == 3  # kept
    assert await cache.get("a", loads.load) == 4  # dropped when "c" came in

"""The steady benchmark's parts: the arrival schedule, the open-loop driver (latency from the
intended send time, so queueing is never hidden) and the reading of the roles' counters."""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from paysys_tools.bench.openloop import drive_open_loop, schedule
from paysys_tools.bench.scrape import CALLS, Scrape


def test_constant_schedule_spaces_arrivals_evenly() -> None:
    offsets = schedule(40, 2.0, "constant")
    assert len(offsets) == 80
    assert offsets[0] == 0.0
    assert {round(b - a, 9) for a, b in itertools.pairwise(offsets)} == {0.025}


def test_poisson_schedule_has_the_rate_on_average_and_is_repeatable() -> None:
    offsets = schedule(100, 50.0, "poisson", seed=7)
    assert offsets == schedule(100, 50.0, "poisson", seed=7)
    assert 4_700 < len(offsets) < 5_300  # 5,000 expected; sd ~71
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert statistics.pstdev(gaps) == pytest.approx(statistics.mean(gaps), rel=0.1)  # exponential
    assert all(0 <= o < 50.0 for o in offsets)


@pytest.fixture
async def serial_api() -> AsyncIterator[str]:
    """An API that answers one request at a time, 50 ms each: a queue forms at 100/s."""
    lock = asyncio.Lock()
    count = 0

    async def create(_: web.Request) -> web.Response:
        nonlocal count
        async with lock:
            await asyncio.sleep(0.05)  # the service time of this fake API
            count += 1
            return web.json_response({"id": f"p{count}"}, status=202)

    app = web.Application()
    app.router.add_post("/payments", create)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_open_loop_latency_counts_the_queue(serial_api: str) -> None:
    offsets = [i * 0.01 for i in range(10)]  # 100/s against a 20/s server
    result = await drive_open_loop(serial_api, offsets)
    assert result.errors == 0
    assert len(result.accepted) == 10
    latencies = sorted(s.latency_ms for s in result.sent)
    # The last request waits for the nine before it (9 x 50 ms of service) plus its own,
    # minus the 90 ms it was sent after the first: a closed loop would report ~50 ms here.
    assert latencies[-1] >= 10 * 50 - 90 - 5
    assert latencies[0] >= 45
    assert [s.offset for s in result.sent] == offsets


async def test_open_loop_counts_refused_requests_as_errors() -> None:
    result = await drive_open_loop("http://127.0.0.1:9", [0.0, 0.001], timeout_s=2)
    assert result.errors == 2
    assert result.accepted == []


def test_scrape_reads_counters_by_label_and_subtracts() -> None:
    text = (
        "# HELP paysys_aws_calls_total AWS calls.\n"
        "# TYPE paysys_aws_calls_total counter\n"
        'paysys_aws_calls_total{operation="dynamodb:PutItem"} 10.0\n'
        'paysys_aws_calls_total{operation="sns:PublishBatch"} 2.0\n'
    )
    later = text.replace("10.0", "25.0").replace("2.0\n", "4.0\n")
    delta = Scrape.parse(later) - Scrape.parse(text)
    assert delta.by_label(CALLS) == {"dynamodb:PutItem": 15.0, "sns:PublishBatch": 2.0}
    assert delta.total(CALLS) == 17.0

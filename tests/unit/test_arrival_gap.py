"""When a partial PublishBatch lingers: only while the next event is expected within the
linger (the moving average of the gaps between events, ``ArrivalGap``)."""

from __future__ import annotations

from paysys.adapters.sns import GAP_CAP_LINGERS, ArrivalGap

LINGER = 0.05
CAP = GAP_CAP_LINGERS * LINGER


def fed(gaps: list[float], start: ArrivalGap | None = None) -> ArrivalGap:
    arrivals = start or ArrivalGap()
    now = 1000.0
    arrivals.observe(now, CAP)
    for gap in gaps:
        now += gap
        arrivals.observe(now, CAP)
    return arrivals


def test_a_fresh_publisher_lingers_so_a_first_burst_is_batched() -> None:
    assert ArrivalGap().expects_company(LINGER)
    assert fed([0.0] * 20).expects_company(LINGER)


def test_events_more_than_two_lingers_apart_go_at_once() -> None:
    thin = fed([0.15] * 10)  # under 7 a second against a 50 ms linger
    assert not thin.expects_company(LINGER)
    assert 0.1 < thin.average <= 0.15  # the average comes up from 0 (busy) within a few


def test_events_within_two_lingers_keep_it() -> None:
    assert fed([0.02] * 50).expects_company(LINGER)  # 50 a second
    assert fed([0.09] * 50).expects_company(LINGER)  # 11 a second: half an event per linger


def test_a_long_idle_counts_as_the_cap_so_the_next_burst_is_believed_soon() -> None:
    after_idle = fed([3600.0])
    assert after_idle.average <= CAP
    burst = fed([0.001] * 8, start=after_idle)
    assert burst.expects_company(LINGER)

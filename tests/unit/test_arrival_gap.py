"""When a partial PublishBatch (or DeleteMessageBatch) lingers: only while the next event is
expected within the linger (the moving average of the gaps between events, ``ArrivalGap``),
and how long: widened towards the time a full batch is expected to take, within the max."""

from __future__ import annotations

import pytest

from paysys.core.lingers import GAP_CAP_LINGERS, ArrivalGap

LINGER = 0.05
WIDEST = 0.1
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


def test_the_linger_widens_to_the_max_while_a_full_batch_would_take_longer() -> None:
    at_45 = fed([1 / 45] * 50)  # 9 more take 200 ms: the max, 100 ms
    assert at_45.widened(LINGER, WIDEST, fill=10) == WIDEST
    at_12 = fed([1 / 12] * 50)  # just within two lingers: it still waits the max for company
    assert at_12.expects_company(LINGER)
    assert at_12.widened(LINGER, WIDEST, fill=10) == WIDEST


def test_the_linger_is_the_time_a_full_batch_is_expected_to_take_in_between() -> None:
    at_120 = fed([1 / 120] * 50)
    assert at_120.widened(LINGER, WIDEST, fill=10) == pytest.approx(9 * at_120.average)
    assert LINGER < at_120.widened(LINGER, WIDEST, fill=10) < WIDEST
    at_500 = fed([1 / 500] * 50)  # 9 more within the linger: never shorter than it
    assert at_500.widened(LINGER, WIDEST, fill=10) == LINGER
    assert ArrivalGap().widened(LINGER, WIDEST, fill=10) == LINGER  # a fresh process


def test_thin_traffic_and_a_max_at_or_below_the_linger_do_not_widen() -> None:
    thin = fed([0.15] * 10)
    assert thin.widened(LINGER, WIDEST, fill=10) == LINGER  # the publisher sends at once
    at_45 = fed([1 / 45] * 50)
    assert at_45.widened(LINGER, LINGER, fill=10) == LINGER
    assert at_45.widened(LINGER, 0.0, fill=10) == LINGER  # the max's 0: off

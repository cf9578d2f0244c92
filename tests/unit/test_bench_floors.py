"""How the bench prices a payment's calls at their floors (``--backend stub``): batch calls by
their entries, receives queue by queue by the messages they brought (an empty one at the
empty receive's floor), and each floor the lowest sample, one at a time or several in flight."""

from __future__ import annotations

import pytest

from paysys_tools.bench.floors import lowest
from paysys_tools.bench.pricing import (
    SERVER,
    call_floor_ms,
    floor_keys,
    queue_receives,
    receive_floor_ms,
)
from paysys_tools.bench.scrape import (
    CALLS,
    ENTRIES,
    NON_EMPTY,
    RECEIVED,
    RECEIVES,
    WEBHOOK_HANDLED,
    Scrape,
)

FLOORS = {
    SERVER: 0.5,
    "dynamodb:PutItem": 1.0,
    "dynamodb:GetItem": 0.5,
    "sns:PublishBatch@1": 2.0,
    "sns:PublishBatch@10": 11.0,
    "sqs:ReceiveMessage@0": 1.0,
    "sqs:ReceiveMessage@1": 2.0,
    "sqs:ReceiveMessage@10": 2.9,
    "sqs:DeleteMessageBatch@1": 1.0,
    "sqs:DeleteMessageBatch@10": 1.9,
    "sqs:SendMessage": 1.5,
}


def test_calls_are_priced_by_their_entries() -> None:
    assert call_floor_ms(FLOORS, "sns:PublishBatch", 4) == pytest.approx(5.0)
    assert call_floor_ms(FLOORS, "sqs:DeleteMessageBatch", 10) == pytest.approx(1.9)
    assert call_floor_ms(FLOORS, "dynamodb:Query", 1) == 0.5  # priced as the cheapest read
    assert call_floor_ms(FLOORS, "sqs:GetQueueAttributes", 1) == 1.0  # the cheapest SQS call


def test_an_empty_receive_is_priced_as_one_without_a_message() -> None:
    assert receive_floor_ms(FLOORS, 10, 0, 10) == pytest.approx(10.0)  # not 10 x @1 = 20
    # 4 empty, 6 bringing 15 messages: 4 x 1.0 + 6 x 2.0 + (15 - 6) x 0.1
    assert receive_floor_ms(FLOORS, 10, 15, 4) == pytest.approx(16.9)


def test_receives_are_split_by_queue() -> None:
    worker = Scrape(
        {
            (CALLS, "sqs:ReceiveMessage"): 30.0,
            (RECEIVES, ""): 20.0,  # the payment queue's: 5 empty, 15 bringing 40 messages
            (NON_EMPTY, ""): 15.0,
            (RECEIVED, ""): 40.0,
            (WEBHOOK_HANDLED, "no_endpoint"): 25.0,  # 10 webhook receives, 25 messages
            (WEBHOOK_HANDLED, "delivered"): 5.0,
        }
    )
    assert queue_receives(worker) == [(20.0, 40.0, 5.0), (10.0, 30.0, 0.0)]
    idle = Scrape({(CALLS, "sqs:ReceiveMessage"): 8.0, (RECEIVES, ""): 4.0, (NON_EMPTY, ""): 0.0})
    assert queue_receives(idle) == [(4.0, 0.0, 4.0), (4.0, 0.0, 4.0)]  # idle long polls only


def test_floor_keys_price_each_role_per_payment() -> None:
    api = Scrape(
        {
            (CALLS, "dynamodb:PutItem"): 10.0,
            (CALLS, "sns:PublishBatch"): 2.0,
            (ENTRIES, "sns:PublishBatch"): 8.0,
        }
    )
    worker = Scrape(
        {
            (CALLS, "sqs:ReceiveMessage"): 6.0,
            (RECEIVES, ""): 4.0,  # 1 empty, 3 bringing 10 messages
            (NON_EMPTY, ""): 3.0,
            (RECEIVED, ""): 10.0,
            (WEBHOOK_HANDLED, "no_endpoint"): 0.0,  # 2 idle webhook receives
            (CALLS, "sqs:DeleteMessageBatch"): 2.0,
            (ENTRIES, "sqs:DeleteMessageBatch"): 11.0,
        }
    )
    keys = floor_keys(FLOORS, (api, worker), 10, (3.0, 2.0))
    # API: 0.5 + (10 x 1.0 + 2 x 5.0) / 10 = 2.5
    # worker: receives 1 x 1.0 + 3 x 2.0 + 7 x 0.1 + 2 x 1.0 = 9.7, deletes 2 x 1.45 = 2.9
    assert keys == {
        "floor_api_ms": 2.5,
        "floor_worker_ms": 1.26,
        "api_vs_floor": 1.2,
        "worker_vs_floor": round(2.0 / 1.26, 3),
    }


def test_a_floor_is_the_lowest_sample_serial_or_in_flight() -> None:
    samples = {
        ("dynamodb:PutItem", 1): [1.2, 0.9, 1.0],
        ("dynamodb:PutItem", 8): [0.8, 0.7],
        ("sqs:SendMessage", 1): [1.5],
        ("sqs:SendMessage", 8): [1.6],
    }
    assert lowest(samples) == {"dynamodb:PutItem": 0.7, "sqs:SendMessage": 1.5}
    assert lowest(samples, serial=True) == {"dynamodb:PutItem": 0.9, "sqs:SendMessage": 1.5}

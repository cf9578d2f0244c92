"""``paysys events tail``: watch outcome events as a subscriber would.

A temporary SQS queue (``paysys-tail-<random>``) is subscribed to the outcomes topic with a
filter policy on the message attributes (``event_type``, ``merchant_id``), each event is
printed as one line, and on exit (SIGINT/SIGTERM, or ``stop``) the subscription and the queue
are removed, also when receiving failed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence

import structlog

from paysys.adapters.aws import translated
from paysys.adapters.sqs import SqsQueue
from paysys.runtime.resources import Clients, find_topic_arn

log = structlog.get_logger(__name__)
TAIL_PREFIX = "paysys-tail-"


def filter_policy(types: Sequence[str], merchant: str | None) -> dict[str, list[str]]:
    policy: dict[str, list[str]] = {}
    if types:
        policy["event_type"] = list(types)
    if merchant:
        policy["merchant_id"] = [merchant]
    return policy


def render(body: str) -> str:
    """One line per event: when, type, payment, merchant, amount, reason (if declined)."""
    try:
        e = json.loads(body)
        line = (
            f"{e['occurred_at']} {e['type']:<15} {e['payment_id']} merchant={e['merchant_id']} "
            f"{e['amount']} {e['currency']}"
        )
    except (ValueError, KeyError, TypeError):
        return f"(unreadable event) {body[:200]}"
    return f"{line} reason={e['decline_reason']}" if e.get("decline_reason") else line


async def tail(
    clients: Clients,
    stop: asyncio.Event,
    types: Sequence[str] = (),
    merchant: str | None = None,
    emit: Callable[[str], None] = print,
) -> int:
    """Print events until ``stop``; the number printed."""
    settings = clients.settings
    name = f"{TAIL_PREFIX}{uuid.uuid4().hex[:12]}"
    topic_arn = await find_topic_arn(clients.sns, settings.outcomes_topic_name)
    async with translated("SQS", "CreateQueue"):
        queue_url = (await clients.sqs.create_queue(QueueName=name))["QueueUrl"]
    subscription: str | None = None
    try:
        async with translated("SQS", "GetQueueAttributes"):
            attrs = await clients.sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["QueueArn"]
            )
        queue_arn = attrs["Attributes"]["QueueArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage", "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }],
        }  # fmt: skip
        async with translated("SQS", "SetQueueAttributes"):
            await clients.sqs.set_queue_attributes(
                QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)}
            )
        attributes = {"RawMessageDelivery": "true"}
        if wanted := filter_policy(types, merchant):
            attributes["FilterPolicy"] = json.dumps(wanted)
        async with translated("SNS", "Subscribe"):
            subscription = (
                await clients.sns.subscribe(
                    TopicArn=topic_arn,
                    Protocol="sqs",
                    Endpoint=queue_arn,
                    Attributes=attributes,
                    ReturnSubscriptionArn=True,
                )
            )["SubscriptionArn"]
        log.info("events.tailing", queue=name, filter=wanted)
        return await _print_until(SqsQueue(clients.sqs, queue_url), stop, emit)
    finally:
        await _remove(clients, subscription, queue_url)


async def _print_until(queue: SqsQueue, stop: asyncio.Event, emit: Callable[[str], None]) -> int:
    printed = 0
    while not stop.is_set():
        receive = asyncio.create_task(queue.receive(10, 1))
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({receive, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if receive not in done:
            receive.cancel()
            break
        messages = receive.result()
        for message in messages:
            emit(render(message.body))
        printed += len(messages)
        await queue.delete(messages)
    return printed


async def _remove(clients: Clients, subscription: str | None, queue_url: str) -> None:
    if subscription is not None:
        async with translated("SNS", "Unsubscribe"):
            await clients.sns.unsubscribe(SubscriptionArn=subscription)
    async with translated("SQS", "DeleteQueue"):
        await clients.sqs.delete_queue(QueueUrl=queue_url)
    log.info("events.tail_removed", queue_url=queue_url)

"""Provisioning against the real emulator: complete, wired and idempotent."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal

from aiodynamo.models import PayPerRequest

from paysys.adapters.sns import SnsPublisher
from paysys.adapters.sqs import SqsQueue
from paysys.core.domain import PaymentStatus
from paysys.core.outcomes import PaymentOutcome
from paysys.core.ports import QueueMessage
from paysys.ops.provision import Provisioned, provision
from paysys.runtime.resources import Clients
from paysys_tools.chaos.collect import subscribe_outcomes

AT = datetime(2026, 1, 1, tzinfo=UTC)
OUTCOME = PaymentOutcome("p", "m", Decimal("1.00"), "BRL", PaymentStatus.APPROVED, None, AT, AT)


async def test_provision_creates_everything(clients: Clients, provisioned: Provisioned) -> None:
    settings = clients.settings
    assert set(provisioned.created) == {
        "table",
        "idempotency_table",
        f"queue:{settings.dlq_name}",
        f"queue:{settings.queue_name}",
        "subscription",
        f"queue:{settings.webhook_dlq_name}",
        f"queue:{settings.webhook_queue_name}",
        "webhook_subscription",
    }
    table = await clients.dynamodb.describe_table(settings.table_name)
    assert [k.name for k in table.key_schema] == ["id"]
    assert isinstance(table.throughput, PayPerRequest)  # on-demand billing

    attrs = (
        await clients.sqs.get_queue_attributes(
            QueueUrl=provisioned.queue_url, AttributeNames=["All"]
        )
    )["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == provisioned.dlq_arn
    assert int(redrive["maxReceiveCount"]) == settings.max_receive_count
    assert attrs["VisibilityTimeout"] == str(settings.visibility_timeout_seconds)
    assert attrs["SqsManagedSseEnabled"] == "true"  # as the resource model and the stack say
    topic = await clients.sns.get_topic_attributes(TopicArn=provisioned.topic_arn)
    assert topic["Attributes"]["KmsMasterKeyId"] == "alias/aws/sns"
    [statement] = json.loads(attrs["Policy"])["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == provisioned.topic_arn

    sub = await clients.sns.get_subscription_attributes(
        SubscriptionArn=provisioned.subscription_arn
    )
    assert sub["Attributes"]["RawMessageDelivery"] == "true"
    assert sub["Attributes"]["Endpoint"] == provisioned.queue_arn


async def test_provision_twice_changes_nothing(clients: Clients, provisioned: Provisioned) -> None:
    again = await provision(clients)
    assert again.created == ()
    assert again == dataclasses.replace(provisioned, created=())
    subs = await clients.sns.list_subscriptions_by_topic(TopicArn=provisioned.topic_arn)
    assert len(subs["Subscriptions"]) == 1


async def test_the_webhook_queue_keeps_messages_through_the_retry_window(
    clients: Clients, provisioned: Provisioned
) -> None:
    """Subscribed raw to the outcomes topic, with a DLQ, a visibility longer than a delivery
    and a retention longer than the retry schedule (docs/reference/webhooks.md)."""
    settings = clients.settings
    url = (await clients.sqs.get_queue_url(QueueName=settings.webhook_queue_name))["QueueUrl"]
    attrs = (await clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))[
        "Attributes"
    ]
    assert int(attrs["MessageRetentionPeriod"]) == settings.webhook_retention_seconds
    assert int(attrs["MessageRetentionPeriod"]) > settings.webhook_retry_window_seconds + 43_200
    assert int(attrs["VisibilityTimeout"]) > settings.webhook_read_timeout_seconds
    assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"].endswith(
        settings.webhook_dlq_name
    )
    outcomes = provisioned.topic_arn.rpartition(":")[0] + ":" + settings.outcomes_topic_name
    subs = (await clients.sns.list_subscriptions_by_topic(TopicArn=outcomes))["Subscriptions"]
    [sub] = [s for s in subs if s["Endpoint"] == attrs["QueueArn"]]
    raw = await clients.sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
    assert raw["Attributes"]["RawMessageDelivery"] == "true"
    # Set on a subscription that exists too: `provision` after an upgrade adds it.
    await provision(clients)
    again = await clients.sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
    policy = {"no_webhook_endpoint": [{"exists": False}]}
    assert json.loads(again["Attributes"]["FilterPolicy"]) == policy


async def test_the_webhook_queue_takes_no_outcome_marked_without_endpoint(
    clients: Clients, provisioned: Provisioned
) -> None:
    """The webhook subscription's filter drops outcomes marked ``no_webhook_endpoint`` and
    keeps the rest, unmarked ones (a publisher older than the filter) included, while any
    other subscriber of the topic still gets them all."""
    settings = clients.settings
    outcomes_arn = provisioned.topic_arn.rpartition(":")[0] + ":" + settings.outcomes_topic_name
    other = await subscribe_outcomes(clients, outcomes_arn, f"{settings.queue_name}-other")
    url = (await clients.sqs.get_queue_url(QueueName=settings.webhook_queue_name))["QueueUrl"]
    webhook_queue = SqsQueue(clients.sqs, url)
    publisher = SnsPublisher(clients.sns, outcomes_arn)
    marks = {"p-none": False, "p-wanted": True, "p-unknown": None}
    for payment_id, mark in marks.items():
        outcome = dataclasses.replace(OUTCOME, payment_id=payment_id, webhook_endpoint=mark)
        await publisher.publish(outcome, payment_id)
    seen_by_other = await received(other, set(marks))
    assert seen_by_other["p-none"].attributes["no_webhook_endpoint"] == "true"
    assert "no_webhook_endpoint" not in seen_by_other["p-wanted"].attributes
    assert set(await received(webhook_queue, {"p-wanted", "p-unknown"})) == {
        "p-wanted",
        "p-unknown",
    }


async def received(queue: SqsQueue, ids: set[str]) -> dict[str, QueueMessage]:
    """Messages by payment id: until ``ids`` are all in, then what else is already there."""
    got: dict[str, QueueMessage] = {}
    async with asyncio.timeout(20):
        while not ids <= set(got):
            for m in await queue.receive(10, 1):
                got[json.loads(m.body)["payment_id"]] = m
    while batch := await queue.receive(10, 0):
        got |= {json.loads(m.body)["payment_id"]: m for m in batch}
    return got

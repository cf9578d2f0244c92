"""Provisioning against the real emulator: complete, wired and idempotent."""

from __future__ import annotations

import dataclasses
import json

from aiodynamo.models import PayPerRequest

from paysys.ops.provision import Provisioned, provision
from paysys.runtime.resources import Clients


async def test_provision_creates_everything(clients: Clients, provisioned: Provisioned) -> None:
    settings = clients.settings
    assert set(provisioned.created) == {
        "table",
        "idempotency_table",
        f"queue:{settings.dlq_name}",
        f"queue:{settings.queue_name}",
        "subscription",
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

"""Idempotent provisioning of the table, topic, queue, DLQ, queue policy and subscription.

The one source of truth for our AWS resources: the embedded mode, the tests, the LocalStack
compose file and the Kubernetes Job all run this. Running it twice changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import structlog
from aiodynamo.errors import ResourceInUse, UnknownOperation
from aiodynamo.models import (
    GlobalSecondaryIndex,
    KeySchema,
    KeySpec,
    KeyType,
    PayPerRequest,
    Projection,
    ProjectionType,
    RetryConfig,
)

from paysys.adapters.aws import translated
from paysys.adapters.dynamodb import DynamoPayments
from paysys.adapters.dynamodb_items import INDEXES, IndexSpec, dynamo_translated
from paysys.adapters.idempotency import TTL_ATTRIBUTE
from paysys.runtime.migrate import migrate_table
from paysys.runtime.resources import Clients, layout

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Provisioned:
    table: str
    idempotency_table: str
    topic_arn: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    subscription_arn: str
    created: tuple[str, ...] = field(default=())


async def provision(clients: Clients) -> Provisioned:
    settings = clients.settings
    created: list[str] = []
    if await _ensure_table(
        clients,
        settings.table_name,
        KeySchema(KeySpec("id", KeyType.string)),
        gsis=[_gsi(spec) for spec in INDEXES],
    ):
        created.append("table")
    else:  # made by an earlier paysys, maybe with an earlier layout
        payments = DynamoPayments(clients.dynamodb, settings.table_name, layout(settings))
        created += await migrate_table(payments)
    if await _ensure_table(
        clients, settings.idempotency_table_name, KeySchema(KeySpec("key", KeyType.string))
    ):
        created.append("idempotency_table")
    await _ensure_ttl(clients, settings.idempotency_table_name)
    await _ensure_ttl(clients, settings.table_name)  # the velocity counters expire
    async with translated("SNS", "CreateTopic"):
        topic_arn = (await clients.sns.create_topic(Name=settings.topic_name))["TopicArn"]
        await clients.sns.create_topic(Name=settings.outcomes_topic_name)
    dlq_url, dlq_arn = await _ensure_queue(clients, settings.dlq_name, created)
    queue_url, queue_arn = await _ensure_queue(clients, settings.queue_name, created)
    async with translated("SQS", "SetQueueAttributes"):
        await clients.sqs.set_queue_attributes(
            QueueUrl=queue_url,
            Attributes={
                "VisibilityTimeout": str(settings.visibility_timeout_seconds),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.max_receive_count}
                ),
                "Policy": json.dumps(_queue_policy(queue_arn, topic_arn)),
            },
        )
    subscription_arn = await _ensure_subscription(clients, topic_arn, queue_arn, created)
    result = Provisioned(
        table=settings.table_name,
        idempotency_table=settings.idempotency_table_name,
        topic_arn=topic_arn,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        subscription_arn=subscription_arn,
        created=tuple(created),
    )
    log.info("provisioned", created=list(created), topic_arn=topic_arn, queue_url=queue_url)
    return result


async def _ensure_table(
    clients: Clients,
    name: str,
    keys: KeySchema,
    gsis: list[GlobalSecondaryIndex] | None = None,
) -> bool:
    """Create an on-demand table unless it exists; True when this call created it."""
    async with dynamo_translated("CreateTable"):
        if await clients.dynamodb.table_exists(name):
            return False
        try:
            await clients.dynamodb.create_table(
                name,
                PayPerRequest(),
                keys,
                gsis=gsis,
                wait_for_active=RetryConfig.default_wait_config(),
            )
        except ResourceInUse:  # created concurrently by another provisioner
            return False
    return True


def _gsi(spec: IndexSpec) -> GlobalSecondaryIndex:
    return GlobalSecondaryIndex(
        spec.name,
        KeySchema(KeySpec(spec.hash_key, KeyType.string), KeySpec(spec.range_key, KeyType.string)),
        Projection(ProjectionType(spec.projection), list(spec.include) or None),
        throughput=None,
    )


async def _ensure_ttl(clients: Clients, table: str) -> None:
    async with dynamo_translated("UpdateTimeToLive"):
        try:
            ttl = await clients.dynamodb.describe_time_to_live(table)
            if ttl.attribute != TTL_ATTRIBUTE:
                await clients.dynamodb.enable_time_to_live(table, TTL_ATTRIBUTE)
        except UnknownOperation:  # dynalite: keys then live until deleted by hand
            log.warning("provision.ttl_unsupported", table=table)


async def _ensure_queue(clients: Clients, name: str, created: list[str]) -> tuple[str, str]:
    async with translated("SQS", "GetQueueUrl"):
        try:
            url = (await clients.sqs.get_queue_url(QueueName=name))["QueueUrl"]
        except clients.sqs.exceptions.QueueDoesNotExist:
            url = (await clients.sqs.create_queue(QueueName=name))["QueueUrl"]
            created.append(f"queue:{name}")
        attrs = await clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, attrs["Attributes"]["QueueArn"]


async def _ensure_subscription(
    clients: Clients, topic_arn: str, queue_arn: str, created: list[str]
) -> str:
    async with translated("SNS", "Subscribe"):
        paginator = clients.sns.get_paginator("list_subscriptions_by_topic")
        async for page in paginator.paginate(TopicArn=topic_arn):
            for sub in page.get("Subscriptions", []):
                if sub.get("Endpoint") == queue_arn and sub.get("Protocol") == "sqs":
                    arn = sub["SubscriptionArn"]
                    await clients.sns.set_subscription_attributes(
                        SubscriptionArn=arn,
                        AttributeName="RawMessageDelivery",
                        AttributeValue="true",
                    )
                    return arn
        response = await clients.sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
            ReturnSubscriptionArn=True,
        )
    created.append("subscription")
    return response["SubscriptionArn"]


def _queue_policy(queue_arn: str, topic_arn: str) -> dict[str, object]:
    """Let (only) our topic send to the queue; real AWS enforces this, moto does not."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowPaysysTopic",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }

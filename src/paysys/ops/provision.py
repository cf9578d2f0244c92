"""Idempotent provisioning of the tables, topics, queues, DLQs, queue policies, subscriptions.

What it creates is read from the resource model (``paysys.ops.infra.model``), which the
CloudFormation template is rendered from too. The embedded mode, the tests, the LocalStack
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
from paysys.adapters.dynamodb_items import IndexSpec, dynamo_translated
from paysys.ops.infra.model import Queue, Subscription, Table, describe, queue_attributes
from paysys.ops.migrate import migrate_table
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
    infra = describe(settings)
    created: list[str] = []
    if await _ensure_table(clients, infra.payments):
        created.append("table")
    else:  # made by an earlier paysys, maybe with an earlier layout
        payments = DynamoPayments(clients.dynamodb, settings.table_name, layout(settings))
        created += await migrate_table(payments)
    if await _ensure_table(clients, infra.idempotency):
        created.append("idempotency_table")
    for table in infra.tables:
        if table.ttl_attribute is not None:
            await _ensure_ttl(clients, table.name, table.ttl_attribute)
    async with translated("SNS", "CreateTopic"):
        topic = infra.topic
        response = await clients.sns.create_topic(Name=topic.name, Attributes=topic.attributes())
        topic_arn = response["TopicArn"]
        outcomes = infra.outcomes_topic
        response = await clients.sns.create_topic(
            Name=outcomes.name, Attributes=outcomes.attributes()
        )
    dlq_url, dlq_arn = await _ensure_queue(clients, infra.dlq, created)
    queue_url, queue_arn = await _ensure_queue(clients, infra.queue, created)
    async with translated("SQS", "SetQueueAttributes"):
        await clients.sqs.set_queue_attributes(
            QueueUrl=queue_url,
            Attributes=queue_attributes(infra.queue, dlq_arn, topic_arn, queue_arn),
        )
    subscription_arn = await _ensure_subscription(
        clients, topic_arn, queue_arn, infra.subscription, created
    )
    await _ensure_webhook_queue(clients, response["TopicArn"], created)
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


async def _ensure_webhook_queue(clients: Clients, outcomes_arn: str, created: list[str]) -> None:
    """The webhook delivery queue and its DLQ, subscribed to the outcomes topic."""
    infra = describe(clients.settings)
    _, dlq_arn = await _ensure_queue(clients, infra.webhook_dlq, created)
    url, arn = await _ensure_queue(clients, infra.webhook_queue, created)
    async with translated("SQS", "SetQueueAttributes"):
        await clients.sqs.set_queue_attributes(
            QueueUrl=url,
            Attributes=queue_attributes(infra.webhook_queue, dlq_arn, outcomes_arn, arn),
        )
    spec = infra.webhook_subscription
    label = "webhook_subscription"
    await _ensure_subscription(clients, outcomes_arn, arn, spec, created, label=label)


async def _ensure_table(clients: Clients, table: Table) -> bool:
    """Create an on-demand table unless it exists; True when this call created it."""
    async with dynamo_translated("CreateTable"):
        if await clients.dynamodb.table_exists(table.name):
            return False
        try:
            await clients.dynamodb.create_table(
                table.name,
                PayPerRequest(),
                KeySchema(KeySpec(table.hash_key, KeyType.string)),
                gsis=[_gsi(spec) for spec in table.indexes] or None,
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


async def _ensure_ttl(clients: Clients, table: str, attribute: str) -> None:
    async with dynamo_translated("UpdateTimeToLive"):
        try:
            ttl = await clients.dynamodb.describe_time_to_live(table)
            if ttl.attribute != attribute:
                await clients.dynamodb.enable_time_to_live(table, attribute)
        except UnknownOperation:  # dynalite: keys then live until deleted by hand
            log.warning("provision.ttl_unsupported", table=table)


async def _ensure_queue(clients: Clients, queue: Queue, created: list[str]) -> tuple[str, str]:
    async with translated("SQS", "GetQueueUrl"):
        try:
            url = (await clients.sqs.get_queue_url(QueueName=queue.name))["QueueUrl"]
        except clients.sqs.exceptions.QueueDoesNotExist:
            response = await clients.sqs.create_queue(
                QueueName=queue.name, Attributes=queue.create_attributes()
            )
            url = response["QueueUrl"]
            created.append(f"queue:{queue.name}")
        attrs = await clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, attrs["Attributes"]["QueueArn"]


async def _ensure_subscription(
    clients: Clients,
    topic_arn: str,
    queue_arn: str,
    spec: Subscription,
    created: list[str],
    *,
    label: str = "subscription",
) -> str:
    """Subscribe the queue to the topic with ``spec``'s attributes, or set them on the
    subscription that exists (a filter added by an upgrade reaches it there)."""
    attributes = {"RawMessageDelivery": "true" if spec.raw_message_delivery else "false"}
    if spec.filter_policy is not None:
        attributes["FilterPolicy"] = json.dumps(spec.filter_policy)
    async with translated("SNS", "Subscribe"):
        paginator = clients.sns.get_paginator("list_subscriptions_by_topic")
        async for page in paginator.paginate(TopicArn=topic_arn):
            for sub in page.get("Subscriptions", []):
                if sub.get("Endpoint") == queue_arn and sub.get("Protocol") == "sqs":
                    arn = sub["SubscriptionArn"]
                    for name, value in attributes.items():
                        await clients.sns.set_subscription_attributes(
                            SubscriptionArn=arn, AttributeName=name, AttributeValue=value
                        )
                    return arn
        response = await clients.sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )
    created.append(label)
    return response["SubscriptionArn"]

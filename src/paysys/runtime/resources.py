"""The composition root: every client opened and closed in one place.

``async with open_resources(settings) as r:`` is used by the API, the worker, ``provision``
and the benchmark alike. Nothing builds a client at import time.
"""

from __future__ import annotations

import asyncio
import platform
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiobotocore
import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from aiodynamo.client import Client
from aiodynamo.credentials import Credentials, Key, StaticCredentials
from aiodynamo.http.aiohttp import AIOHTTP
from aiodynamo.models import DecorelatedJitterRetry
from yarl import URL

from paysys import __version__
from paysys.adapters.aws import translated
from paysys.adapters.counter_rollup import CounterRollup
from paysys.adapters.dynamodb import DynamoPayments
from paysys.adapters.dynamodb_counts import CounterWriter
from paysys.adapters.dynamodb_items import Layout
from paysys.adapters.dynamodb_leases import DynamoLeases
from paysys.adapters.idempotency import DynamoIdempotency
from paysys.adapters.sns import SnsPublisher
from paysys.adapters.sqs import SqsQueue
from paysys.adapters.velocity import DynamoVelocity
from paysys.adapters.webhook_history import DynamoWebhookHistory
from paysys.adapters.webhook_redelivery import WebhookRedelivery
from paysys.adapters.webhook_store import DynamoWebhookEndpoints
from paysys.config import Settings
from paysys.core.ports import EventPublisher
from paysys.core.queries import StatusReader
from paysys.core.rules import load_rules
from paysys.core.service import PaymentService
from paysys.core.webhook_routing import WebhookRouting
from paysys.errors import BackendUnavailable
from paysys.observability.call_count import CallCounter
from paysys.observability.call_log import CallLog

if TYPE_CHECKING:
    from types_aiobotocore_sns.client import SNSClient
    from types_aiobotocore_sqs.client import SQSClient


# A fixed User-Agent (botocore appends ``botocore/<version>``): its default one is rebuilt
# from a dozen sanitised components twice per call, a tenth of the CPU of an SNS/SQS call.
USER_AGENT = (
    f"paysys/{__version__} aiobotocore/{aiobotocore.__version__} Python/{platform.python_version()}"
)


@dataclass(frozen=True, slots=True)
class Clients:
    """Raw, open clients (used by provisioning, the benchmark and tests)."""

    settings: Settings
    http: aiohttp.ClientSession
    dynamodb: Client
    sns: SNSClient
    sqs: SQSClient
    calls: CallCounter  # every AWS call made through these clients, by operation


@dataclass(frozen=True, slots=True)
class Resources:
    """The wired application: adapters over open clients."""

    clients: Clients
    payments: DynamoPayments
    events: SnsPublisher
    outcomes: EventPublisher  # the outcomes topic, routed past the webhook queue when unwanted
    queue: SqsQueue
    dlq: SqsQueue
    service: PaymentService
    status: StatusReader
    leases: DynamoLeases
    rollup: CounterRollup  # folds the counts journal (the worker runs it)
    webhooks: DynamoWebhookEndpoints | None = None  # merchants' webhook endpoints
    webhook_history: DynamoWebhookHistory | None = None  # their deliveries' attempts
    webhook_redelivery: WebhookRedelivery | None = None  # a delivery queued again


@asynccontextmanager
async def open_clients(settings: Settings) -> AsyncIterator[Clients]:
    async with AsyncExitStack() as stack:
        pool = settings.aws_pool_size
        http = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=pool, limit_per_host=pool),
                timeout=aiohttp.ClientTimeout(
                    total=settings.aws_timeout_seconds, connect=settings.aws_timeout_seconds
                ),
            )
        )
        calls = CallCounter()
        log = _call_log(stack, settings)
        transport = AIOHTTP(http)
        dynamodb = Client(
            calls.http(log.http(transport) if log else transport),
            _dynamo_credentials(settings),
            settings.aws_region,
            _dynamodb_endpoint(settings),
            numeric_type=Decimal,
            throttle_config=DecorelatedJitterRetry(time_limit_secs=settings.dynamodb_retry_seconds),
        )
        session = get_session()
        config = AioConfig(
            max_pool_connections=pool,
            user_agent=USER_AGENT,
            connect_timeout=settings.aws_timeout_seconds,
            # A long poll holds the connection for up to the wait time.
            read_timeout=settings.aws_timeout_seconds + settings.worker_wait_seconds,
            retries={"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
        )
        sns = await stack.enter_async_context(
            session.create_client(
                "sns", config=config, **_botocore_kwargs(settings, settings.sns_endpoint_url)
            )
        )
        sqs = await stack.enter_async_context(
            session.create_client("sqs", config=config, **_botocore_kwargs(settings))
        )
        for client in (sns, sqs):
            calls.watch(client)
            if log:
                log.watch(client)
        yield Clients(settings, http, dynamodb, sns, sqs, calls)


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    async with open_clients(settings) as clients:
        topic_arn = settings.topic_arn or await find_topic_arn(clients.sns, settings.topic_name)
        queue_url = settings.queue_url or await find_queue_url(clients.sqs, settings.queue_name)
        dlq_url = settings.dlq_url or await find_queue_url(clients.sqs, settings.dlq_name)
        counters = CounterWriter(
            clients.dynamodb,
            settings.table_name,
            settings.counter_shards,
            settings.counter_flush_seconds,
        )
        payments = DynamoPayments(clients.dynamodb, settings.table_name, layout(settings), counters)
        linger = settings.publish_linger_ms / 1000
        max_linger = settings.publish_max_linger_ms / 1000
        events = SnsPublisher(
            clients.sns,
            topic_arn,
            max_pending=settings.publish_max_pending,
            linger_seconds=linger,
            max_linger_seconds=max_linger,
        )
        # Same account and region as the events topic: no second lookup.
        outcomes_arn = f"{topic_arn.rpartition(':')[0]}:{settings.outcomes_topic_name}"
        outcomes = SnsPublisher(
            clients.sns,
            outcomes_arn,
            max_pending=settings.publish_max_pending,
            linger_seconds=linger,
            max_linger_seconds=max_linger,
        )
        idempotency = DynamoIdempotency(
            clients.dynamodb,
            settings.idempotency_table_name,
            ttl_seconds=settings.idempotency_ttl_seconds,
            lock_seconds=settings.idempotency_lock_seconds,
        )
        queue = SqsQueue(clients.sqs, queue_url)
        dlq = SqsQueue(clients.sqs, dlq_url)
        webhooks = DynamoWebhookEndpoints(
            clients.dynamodb, settings.table_name, settings.webhook_endpoint_cache_seconds
        )
        routed = WebhookRouting(outcomes, webhooks)
        service = PaymentService(
            payments,
            events,
            idempotency,
            rules=load_rules(settings.rules),
            velocity=DynamoVelocity(clients.dynamodb, settings.table_name),
            outcomes=routed,
        )
        try:
            yield Resources(
                clients=clients,
                payments=payments,
                events=events,
                outcomes=routed,
                queue=queue,
                dlq=dlq,
                service=service,
                status=StatusReader(payments, queue, dlq, settings.stats_cache_seconds),
                leases=DynamoLeases(clients.dynamodb, settings.table_name),
                rollup=CounterRollup(
                    clients.dynamodb, settings.table_name, settings.counter_shards
                ),
                webhooks=webhooks,
                webhook_history=DynamoWebhookHistory(
                    clients.dynamodb, settings.table_name, settings.webhook_history_ttl_seconds
                ),
                webhook_redelivery=WebhookRedelivery(clients.sqs, settings.webhook_queue_name),
            )
        finally:  # a stopping role sends the events and writes the counts it holds
            await asyncio.gather(service.settle(), events.close(), outcomes.close())
            await counters.close()


def layout(settings: Settings) -> Layout:
    return Layout(
        pending_shards=settings.pending_shards,
        list_shards=settings.list_shards,
        counter_shards=settings.counter_shards,
        reconcile_after=timedelta(seconds=settings.reconcile_after_seconds),
    )


async def find_topic_arn(sns: SNSClient, name: str) -> str:
    """Look a topic up by name without needing CreateTopic permission."""
    async with translated("SNS", "ListTopics"):
        paginator = sns.get_paginator("list_topics")
        async for page in paginator.paginate():
            for topic in page.get("Topics", []):
                arn = topic.get("TopicArn", "")
                if arn.rsplit(":", 1)[-1] == name:
                    return arn
    raise BackendUnavailable(f"SNS topic {name!r} not found: run `paysys provision`")


async def find_queue_url(sqs: SQSClient, name: str) -> str:
    async with translated("SQS", "GetQueueUrl"):
        response = await sqs.get_queue_url(QueueName=name)
    return response["QueueUrl"]


def _call_log(stack: AsyncExitStack, settings: Settings) -> CallLog | None:
    """The record of AWS operations, when PAYSYS_AWS_CALL_LOG asks for one."""
    if settings.aws_call_log is None:
        return None
    calls = CallLog(settings.aws_call_log)
    stack.callback(calls.close)
    return calls


def _dynamodb_endpoint(settings: Settings) -> URL | None:
    endpoint = settings.dynamodb_endpoint_url or settings.aws_endpoint_url
    return URL(endpoint) if endpoint else None


def _dynamo_credentials(settings: Settings) -> Credentials:
    static = settings.static_credentials
    if static is None:
        return Credentials.auto()
    return StaticCredentials(Key(id=static[0], secret=static[1]))


def _botocore_kwargs(settings: Settings, endpoint: str | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"region_name": settings.aws_region}
    if endpoint or settings.aws_endpoint_url:
        kwargs["endpoint_url"] = endpoint or settings.aws_endpoint_url
    static = settings.static_credentials
    if static is not None:
        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = static
    return kwargs

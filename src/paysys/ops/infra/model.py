"""One typed description of every AWS resource paysys uses, for the configured names.

``paysys provision`` creates what it describes in any emulator or account (key schemas,
indexes, TTL, queue attributes, the topic-only queue policy, the raw-delivery subscriptions
(the webhook queue's with its filter),
encryption at rest); the CloudFormation template (``cloudformation.py``) renders all of it,
plus what only a stack manages: point-in-time recovery, deletion protection and the IAM roles
with their IRSA trust. Logical ids equal ``runtime.iam.Target`` values, so a grant's target
names the resource it is on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paysys.adapters.dynamodb_items import INDEXES, IndexSpec
from paysys.adapters.idempotency import TTL_ATTRIBUTE
from paysys.config import Settings
from paysys.core.outcomes import NO_WEBHOOK_ENDPOINT
from paysys.ops.iam import ROLES, Role, Target

if TYPE_CHECKING:
    from types_aiobotocore_sqs.literals import QueueAttributeNameType

# SNS encrypts at rest with the AWS managed key: its key policy lets every principal of the
# account that may use the topic publish through SNS, so no role needs a kms: grant.
SNS_MANAGED_KEY = "alias/aws/sns"
# KEDA's operator assumes the worker's role to read the queue depth (deploy/aws).
KEDA_OPERATOR = "system:serviceaccount:keda:keda-operator"


@dataclass(frozen=True, slots=True)
class Table:
    """An on-demand table with a string hash key."""

    logical_id: str
    name: str
    hash_key: str
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None
    # Stack only: an emulator ignores them, and a test must be able to drop its table.
    point_in_time_recovery: bool = True
    deletion_protection: bool = True

    def key_attributes(self) -> list[str]:
        """Every key attribute of the table and its indexes, once, in order (all strings)."""
        names = [self.hash_key]
        for spec in self.indexes:
            names += [spec.hash_key, spec.range_key]
        return list(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class Topic:
    logical_id: str
    name: str
    kms_master_key_id: str = SNS_MANAGED_KEY

    def attributes(self) -> dict[str, str]:
        """CreateTopic's attributes: the same on every call, so creating again is a lookup."""
        return {"KmsMasterKeyId": self.kms_master_key_id}


@dataclass(frozen=True, slots=True)
class Queue:
    logical_id: str
    name: str
    visibility_timeout: int | None = None  # None: SQS's default (30 s)
    dead_letter: Queue | None = None
    max_receive_count: int = 0
    retention_seconds: int | None = None  # None: SQS's default (4 days)
    sse: bool = True  # SqsManagedSseEnabled: SQS-owned keys, nothing to grant

    def create_attributes(self) -> dict[QueueAttributeNameType, str]:
        return {"SqsManagedSseEnabled": "true" if self.sse else "false"}

    def redrive_policy(self, dlq_arn: Any) -> dict[str, Any] | None:
        if self.dead_letter is None:
            return None
        return {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": self.max_receive_count}


@dataclass(frozen=True, slots=True)
class Subscription:
    logical_id: str
    topic: Topic
    queue: Queue
    raw_message_delivery: bool = True
    filter_policy: Mapping[str, Any] | None = None  # on message attributes; None: every message

    def filter_properties(self) -> dict[str, Any]:
        """The filter as CloudFormation's subscription properties (none without one)."""
        if self.filter_policy is None:
            return {}
        return {"FilterPolicyScope": "MessageAttributes", "FilterPolicy": dict(self.filter_policy)}


@dataclass(frozen=True, slots=True)
class IamRole:
    """The IAM role of one paysys role (its policy: ``runtime.iam.GRANTS``), assumed by its
    Kubernetes ServiceAccount through the cluster's OIDC provider (IRSA)."""

    logical_id: str
    role: Role
    service_account: str
    also_trusted: tuple[str, ...] = ()  # other subjects (namespace included) that assume it


@dataclass(frozen=True, slots=True)
class Infra:
    payments: Table
    idempotency: Table
    topic: Topic
    outcomes_topic: Topic
    queue: Queue
    dlq: Queue
    subscription: Subscription
    roles: tuple[IamRole, ...]
    # Webhook delivery: its queue (and DLQ) subscribed to the outcomes topic.
    webhook_queue: Queue
    webhook_dlq: Queue
    webhook_subscription: Subscription

    @property
    def topics(self) -> tuple[Topic, ...]:
        return (self.topic, self.outcomes_topic)

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.payments, self.idempotency)


def describe(settings: Settings) -> Infra:
    """Every resource, named by ``settings``."""
    dlq = Queue(Target.DLQ.value, settings.dlq_name)
    queue = Queue(
        Target.QUEUE.value,
        settings.queue_name,
        visibility_timeout=settings.visibility_timeout_seconds,
        dead_letter=dlq,
        max_receive_count=settings.max_receive_count,
    )
    topic = Topic(Target.TOPIC.value, settings.topic_name)
    outcomes = Topic(Target.OUTCOMES_TOPIC.value, settings.outcomes_topic_name)
    webhook_dlq = Queue(Target.WEBHOOK_DLQ.value, settings.webhook_dlq_name)
    webhook_queue = Queue(
        Target.WEBHOOK_QUEUE.value,
        settings.webhook_queue_name,
        visibility_timeout=settings.webhook_visibility_seconds,
        dead_letter=webhook_dlq,
        # Every receive is one attempt or a deferral: only a message that keeps crashing its
        # handler gets this far (the schedule ends a delivery long before).
        max_receive_count=1000,
        retention_seconds=settings.webhook_retention_seconds,
    )
    return Infra(
        # TTL: the velocity counters (``#velocity#...``) expire; payments carry no TTL value.
        payments=Table(
            Target.TABLE.value,
            settings.table_name,
            "id",
            indexes=INDEXES,
            ttl_attribute=TTL_ATTRIBUTE,
        ),
        idempotency=Table(
            Target.IDEMPOTENCY_TABLE.value,
            settings.idempotency_table_name,
            "key",
            ttl_attribute=TTL_ATTRIBUTE,
        ),
        topic=topic,
        outcomes_topic=outcomes,
        queue=queue,
        dlq=dlq,
        subscription=Subscription("Subscription", topic, queue),
        roles=tuple(
            IamRole(
                f"{role.capitalize()}Role",
                role,
                f"paysys-{role}",
                (KEDA_OPERATOR,) if role == "worker" else (),
            )
            for role in ROLES
        ),
        webhook_queue=webhook_queue,
        webhook_dlq=webhook_dlq,
        webhook_subscription=Subscription(
            "WebhookSubscription",
            outcomes,
            webhook_queue,
            filter_policy={NO_WEBHOOK_ENDPOINT: [{"exists": False}]},
        ),
    )


def queue_policy(queue_arn: Any, topic_arn: Any) -> dict[str, Any]:
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


def queue_attributes(
    queue: Queue, dlq_arn: str, topic_arn: str, queue_arn: str
) -> dict[QueueAttributeNameType, str]:
    """SetQueueAttributes for ``queue`` as provisioned: visibility, redrive, the topic's policy."""
    attributes: dict[QueueAttributeNameType, str] = {
        "Policy": json.dumps(queue_policy(queue_arn, topic_arn))
    }
    if queue.visibility_timeout is not None:
        attributes["VisibilityTimeout"] = str(queue.visibility_timeout)
    if queue.retention_seconds is not None:
        attributes["MessageRetentionPeriod"] = str(queue.retention_seconds)
    redrive = queue.redrive_policy(dlq_arn)
    if redrive is not None:
        attributes["RedrivePolicy"] = json.dumps(redrive)
    return attributes

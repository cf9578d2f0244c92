"""Least-privilege IAM policies: ONE declaration of which AWS actions each role performs on
which of our resources, rendered for the configured names (``paysys iam-policy --role R``).

The declaration is checked against what the code really calls: every role process of the test
suite records its AWS operations (``PAYSYS_AWS_CALL_LOG``) and none may be outside the role's
policy (tests/system/test_iam_policy.py, and tests/conftest.py at the end of
every run). Batch calls are authorized by their single action (``sns:PublishBatch`` by
``sns:Publish``, ``sqs:DeleteMessageBatch`` by ``sqs:DeleteMessage``, ...).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal
from urllib.parse import urlsplit

from paysys.config import Settings
from paysys.observability.call_log import Call

Role = Literal["api", "worker", "provision"]
ROLES: tuple[Role, ...] = ("api", "worker", "provision")


class Target(enum.Enum):
    TABLE = "Table"
    TABLE_INDEXES = "TableIndexes"
    IDEMPOTENCY_TABLE = "IdempotencyTable"
    TOPIC = "Topic"
    OUTCOMES_TOPIC = "OutcomesTopic"
    TAIL_QUEUES = "TailQueues"  # `paysys events tail`'s temporary queues
    QUEUE = "Queue"
    DLQ = "Dlq"
    WEBHOOK_QUEUE = "WebhookQueue"
    WEBHOOK_DLQ = "WebhookDlq"
    ANY = "Any"  # actions IAM cannot scope to a resource


@dataclass(frozen=True, slots=True)
class Grant:
    actions: tuple[str, ...]
    targets: tuple[Target, ...]
    # A lookup by name, not needed when this setting (an ARN or URL) is configured.
    unless: Literal["topic_arn", "queue_url", "dlq_url"] | None = None


T = Target
# Every role that opens the wired resources (runtime.resources.open_resources) looks these up.
_LOOKUPS = (
    Grant(("sns:ListTopics",), (T.ANY,), unless="topic_arn"),
    Grant(("sqs:GetQueueUrl",), (T.QUEUE,), unless="queue_url"),
    Grant(("sqs:GetQueueUrl",), (T.DLQ,), unless="dlq_url"),
)

_ALL_QUEUES = (T.QUEUE, T.DLQ, T.WEBHOOK_QUEUE, T.WEBHOOK_DLQ)
_WEBHOOK_VERBS = "GetQueueUrl ReceiveMessage DeleteMessage ChangeMessageVisibility SendMessage"
_WEBHOOK_QUEUE_ACTIONS = tuple(f"sqs:{a}" for a in [*_WEBHOOK_VERBS.split(), "GetQueueAttributes"])

GRANTS: dict[Role, tuple[Grant, ...]] = {
    "api": (
        *_LOOKUPS,
        # create (conditional put, read back, its counts journal put and registry), GET
        # /payments/{id}, a page's items, /stats' counter items (reads); /readyz
        Grant(
            (
                "dynamodb:PutItem",
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
                "dynamodb:BatchGetItem",
                "dynamodb:DescribeTable",
            ),
            (T.TABLE,),
        ),
        # GET /payments: the merchant's listing index
        Grant(("dynamodb:Query",), (T.TABLE_INDEXES,)),
        # Idempotency-Key: claim, read, take over / complete / release
        Grant(
            ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"),
            (T.IDEMPOTENCY_TABLE,),
        ),
        # PublishBatch; /readyz
        Grant(("sns:Publish", "sns:GetTopicAttributes"), (T.TOPIC,)),
        Grant(("sns:Publish",), (T.OUTCOMES_TOPIC,)),  # PaymentCanceled
        # /stats queue depths; /readyz
        Grant(("sqs:GetQueueAttributes",), (T.QUEUE, T.DLQ)),
        # webhook endpoints: slot and index in one transaction (Put or Delete, Update)
        Grant(("dynamodb:DeleteItem",), (T.TABLE,)),
        # POST /webhook-deliveries/{id}/retry: the delivery queued again
        Grant(("sqs:GetQueueUrl", "sqs:SendMessage"), (T.WEBHOOK_QUEUE,)),
    ),
    "worker": (
        *_LOOKUPS,
        # receive, delete (batch), extend or hand back (batch); /readyz
        Grant(
            (
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
            ),
            (T.QUEUE,),
        ),
        Grant(("sqs:GetQueueAttributes",), (T.DLQ,)),  # the DLQ depth metric
        # approve (conditional update, read on a duplicate, counts journal put), the
        # reconciler's claims and shard leases (conditional put), the counts rollup (batch
        # reads of registries and journal, counter ADDs, closed registries deleted); /readyz
        Grant(
            (
                "dynamodb:UpdateItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:BatchGetItem",
                "dynamodb:DeleteItem",
                "dynamodb:DescribeTable",
            ),
            (T.TABLE,),
        ),
        # the reconciler: due payments in the sparse pending index, their events again;
        # /readyz shows SNS as optional
        Grant(("dynamodb:Query",), (T.TABLE_INDEXES,)),
        Grant(("sns:Publish", "sns:GetTopicAttributes"), (T.TOPIC,)),
        Grant(("sns:Publish",), (T.OUTCOMES_TOPIC,)),  # outcome events, the outbox
        # webhook delivery: look the queue up, receive, delete, schedule a retry
        # (visibility), fan an event out to several endpoints (send)
        Grant(_WEBHOOK_QUEUE_ACTIONS, (T.WEBHOOK_QUEUE,)),
    ),
    # `paysys provision`, and the operator's `paysys dlq list | redrive`.
    "provision": (
        Grant(("dynamodb:DescribeTable", "dynamodb:CreateTable"), (T.TABLE, T.IDEMPOTENCY_TABLE)),
        # migrating a table of an earlier layout: indexes, backfill (scan, update, count
        # journalled), old counter items folded (a transaction: delete, ADDs)
        Grant(
            (
                "dynamodb:UpdateTable",
                "dynamodb:Scan",
                "dynamodb:UpdateItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
            ),
            (T.TABLE,),
        ),
        Grant(
            ("dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive"),
            (T.TABLE, T.IDEMPOTENCY_TABLE),  # the velocity counters' and the keys' TTL
        ),
        Grant(("sns:CreateTopic", "sns:ListSubscriptionsByTopic", "sns:Subscribe"), (T.TOPIC,)),
        Grant(("sns:CreateTopic", "sns:ListSubscriptionsByTopic"), (T.OUTCOMES_TOPIC,)),
        # `paysys events tail`: a temporary queue subscribed with a filter, removed on exit
        Grant(("sns:Subscribe",), (T.OUTCOMES_TOPIC,)),
        Grant(("sns:Unsubscribe",), (T.ANY,)),
        Grant(
            (
                "sqs:CreateQueue",
                "sqs:GetQueueAttributes",
                "sqs:SetQueueAttributes",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:DeleteQueue",
            ),
            (T.TAIL_QUEUES,),
        ),
        Grant(("sns:SetSubscriptionAttributes",), (T.ANY,)),
        Grant(("sqs:GetQueueUrl", "sqs:CreateQueue", "sqs:GetQueueAttributes"), _ALL_QUEUES),
        # visibility, retention, redrive, the topic's policy
        Grant(("sqs:SetQueueAttributes",), (T.QUEUE, T.WEBHOOK_QUEUE)),
        *_LOOKUPS,
        Grant(("sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"), (T.DLQ,)),
        Grant(("sqs:SendMessage",), (T.QUEUE,)),  # redrive (batch)
        Grant(("dynamodb:GetItem",), (T.TABLE,)),  # dlq list: why each letter failed
    ),
}

# A batch operation is authorized by the action of its single form.
_BATCH_ACTIONS = {
    "sns:PublishBatch": "sns:Publish",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    # No IAM action of its own: each item of a transaction is authorized as its own action
    # (every paysys transaction has an Update; webhook endpoints' Put/Delete, granted too).
    "dynamodb:TransactWriteItems": "dynamodb:UpdateItem",
}


def iam_action(operation: str) -> str:
    """``service:Operation`` as called → the IAM action that authorizes it."""
    return _BATCH_ACTIONS.get(operation, operation)


def actions(role: Role) -> frozenset[str]:
    """Every action the role may be granted, whatever the settings."""
    return frozenset(a for grant in GRANTS[role] for a in grant.actions)


def policy(
    role: Role, settings: Settings, arns: Mapping[Target, Any] | None = None
) -> dict[str, Any]:
    """The role's IAM policy document for the configured region, account and names: one
    statement per resource, its actions sorted. ``arns``: each target's ARN as something else
    spells it (the CloudFormation template's references) instead of the settings' ARNs."""
    actions_on: dict[Target, set[str]] = defaultdict(set)
    for grant in GRANTS[role]:
        if grant.unless is None or getattr(settings, grant.unless) is None:
            for target in grant.targets:
                actions_on[target].update(grant.actions)
    arns = _resource_arns(settings) if arns is None else arns
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": target.value,
                "Effect": "Allow",
                "Action": sorted(actions_on[target]),
                "Resource": [arns[target]],
            }
            for target in Target
            if target in actions_on
        ],
    }


def arn(settings: Settings, service: str, resource: str, account: str | None = None) -> str:
    """The ARN of ``resource`` (``table/<name>``, a queue or topic name) in the configured
    region; account: the argument, else ``PAYSYS_AWS_ACCOUNT_ID``, else ``*``."""
    if resource == "*":
        return "*"
    region = settings.aws_region
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    if region.startswith("us-gov-"):
        partition = "aws-us-gov"
    account = account or settings.aws_account_id or "*"
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def _resource_arns(settings: Settings) -> dict[Target, str]:
    s = settings
    return {
        T.TABLE: arn(s, "dynamodb", f"table/{s.table_name}"),
        T.TABLE_INDEXES: arn(s, "dynamodb", f"table/{s.table_name}/index/*"),
        T.IDEMPOTENCY_TABLE: arn(s, "dynamodb", f"table/{s.idempotency_table_name}"),
        T.TOPIC: s.topic_arn or arn(s, "sns", s.topic_name),
        T.OUTCOMES_TOPIC: (
            f"{s.topic_arn.rpartition(':')[0]}:{s.outcomes_topic_name}"
            if s.topic_arn
            else arn(s, "sns", s.outcomes_topic_name)
        ),
        T.QUEUE: _queue_arn(s, s.queue_name, s.queue_url),
        T.DLQ: _queue_arn(s, s.dlq_name, s.dlq_url),
        T.WEBHOOK_QUEUE: arn(s, "sqs", s.webhook_queue_name),
        T.WEBHOOK_DLQ: arn(s, "sqs", s.webhook_dlq_name),
        T.TAIL_QUEUES: arn(s, "sqs", "paysys-tail-*"),
        T.ANY: "*",
    }


def _queue_arn(settings: Settings, name: str, url: str | None) -> str:
    """A configured queue URL (``https://host/<account>/<name>``) names its queue and account."""
    if url is None:
        return arn(settings, "sqs", name)
    account, _, name = urlsplit(url).path.strip("/").rpartition("/")
    return arn(settings, "sqs", name, account if account.isdigit() else None)


def allows(document: dict[str, Any], action: str, resource_arn: str) -> bool:
    """Whether an Allow statement of ``document`` names ``action`` on ``resource_arn``."""
    return any(
        statement["Effect"] == "Allow"
        and action in statement["Action"]
        and any(fnmatchcase(resource_arn, pattern) for pattern in statement["Resource"])
        for statement in document["Statement"]
    )


def uncovered(document: dict[str, Any], settings: Settings, calls: Iterable[Call]) -> list[str]:
    """The recorded calls that the policy ``document`` does not allow, resources placed in the
    configured region. A call log names resources without their account, so the policy's ARNs
    match them in any account."""
    any_account = [
        {**statement, "Resource": [_any_account(pattern) for pattern in statement["Resource"]]}
        for statement in document["Statement"]
    ]
    return sorted(
        str(call)
        for call in calls
        if not allows(
            {"Statement": any_account},
            iam_action(call.operation),
            arn(settings, *call.service_resource),
        )
    )


def _any_account(pattern: str) -> str:
    parts = pattern.split(":", 5)
    if len(parts) == 6:
        parts[4] = "*"
    return ":".join(parts)

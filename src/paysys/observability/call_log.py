"""A record of the AWS operations a process performs (``PAYSYS_AWS_CALL_LOG``), for operators
who write or check an IAM policy, and for the test that checks ``paysys iam-policy``.

Each distinct operation and resource is appended once, the first time it is called, one a line:
``dynamodb:Query table/paysys-payments/index/status-created_at``, ``sqs:DeleteMessageBatch
paysys-payment-created``, ``sns:ListTopics *``. Resources are named without region and account.
Every line is flushed at once, so the file survives a SIGKILL. botocore clients are watched
through their event hooks, aiodynamo through its HTTP transport (the ``X-Amz-Target`` header).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiodynamo.http.types import HttpImplementation, Request, Response

from paysys.errors import ConfigError

if TYPE_CHECKING:
    from aiobotocore.client import AioBaseClient
    from botocore.model import OperationModel


@dataclass(frozen=True, slots=True, order=True)
class Call:
    operation: str  # as called: dynamodb:PutItem, sns:PublishBatch, ...
    resource: str  # table/<name>[/index/<index>], a queue or topic name, or *

    def __str__(self) -> str:
        return f"{self.operation} {self.resource}"

    @property
    def service_resource(self) -> tuple[str, str]:
        return self.operation.partition(":")[0], self.resource

    @classmethod
    def parse(cls, line: str) -> Call:
        operation, _, resource = line.strip().partition(" ")
        return cls(operation, resource or "*")


def read_calls(path: Path) -> set[Call]:
    return {Call.parse(line) for line in path.read_text().splitlines() if line.strip()}


class CallLog:
    def __init__(self, path: str) -> None:
        try:
            self._file = Path(path).open("a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise ConfigError(f"PAYSYS_AWS_CALL_LOG={path!r}: {exc.strerror}") from exc
        self._seen: set[Call] = set()

    def record(self, call: Call) -> None:
        if call not in self._seen:
            self._seen.add(call)
            self._file.write(f"{call}\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()

    def watch(self, client: AioBaseClient) -> None:
        """Record every call of a botocore client: once per call (retries are not calls),
        with its parameters before they are serialized."""
        client.meta.events.register("before-parameter-build", self._on_botocore_call)

    def _on_botocore_call(self, params: Mapping[str, Any], model: OperationModel, **_: Any) -> None:
        operation = f"{model.service_model.signing_name}:{model.name}"
        self.record(Call(operation, _botocore_resource(params)))

    def http(self, inner: HttpImplementation) -> HttpImplementation:
        """aiodynamo's transport, recording the operation and table of every request."""

        async def send(request: Request) -> Response:
            self.record(_dynamodb_call(request))
            return await inner(request)

        return send


def _botocore_resource(params: Mapping[str, Any]) -> str:
    if url := params.get("QueueUrl"):
        return str(url).rstrip("/").rsplit("/", 1)[-1]
    if topic := params.get("TopicArn"):
        return str(topic).rsplit(":", 1)[-1]
    name = params.get("QueueName") or params.get("Name")  # CreateQueue, GetQueueUrl; CreateTopic
    return str(name) if name else "*"


def _dynamodb_call(request: Request) -> Call:
    target = (request.headers or {}).get("X-Amz-Target", "DynamoDB.Unknown")
    body: dict[str, Any] = json.loads(request.body or b"{}")
    tables = [body["TableName"]] if "TableName" in body else list(body.get("RequestItems", {}))
    # A transaction names its table(s) in each item: {"Update": {"TableName": ...}}, ...
    tables += {a["TableName"] for i in body.get("TransactItems", ()) for a in i.values()}
    resource = f"table/{tables[0]}" if len(set(tables)) == 1 else "*"  # one table, as used
    if "IndexName" in body:
        resource += f"/index/{body['IndexName']}"
    return Call(f"dynamodb:{target.rsplit('.', 1)[-1]}", resource)

"""Every AWS call a process makes, counted by operation, always on and in memory: what AWS
bills for, and what the roles' ``/metrics`` export (``paysys_aws_calls_total``).

``calls`` counts calls by operation (``dynamodb:PutItem``, ``sns:PublishBatch``, ...);
``entries`` counts, for the batch operations of SNS and SQS only (PublishBatch,
SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch), the entries they carried
(``Entries``; SNS names them ``PublishBatchRequestEntries``).

botocore clients are counted through the same event as the call log: ``before-parameter-build``
fires once per call as the application makes it, so botocore's own retries are not counted.
aiodynamo is counted at its HTTP transport, which sees each HTTP request: a request aiodynamo
retries (throttled, timed out, failed) is counted once per attempt. The operation is read from
the ``X-Amz-Target`` header; the body is never parsed. Requests without that header (the
credential providers' metadata lookups, which share the transport) are not DynamoDB calls
and are not counted.

Both hooks only bump a ``collections.Counter``: no lock is needed, every call and every
scrape runs on the event loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiodynamo.http.types import HttpImplementation, Request, Response

if TYPE_CHECKING:
    from aiobotocore.client import AioBaseClient
    from botocore.model import OperationModel

_TARGET = "X-Amz-Target"


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.entries: Counter[str] = Counter()

    def watch(self, client: AioBaseClient) -> None:
        """Count every call of a botocore client (retries are not calls)."""
        client.meta.events.register("before-parameter-build", self._on_botocore_call)

    def _on_botocore_call(self, params: Mapping[str, Any], model: OperationModel, **_: Any) -> None:
        operation = f"{model.service_model.signing_name}:{model.name}"
        self.calls[operation] += 1
        entries = params.get("Entries") or params.get("PublishBatchRequestEntries")
        if isinstance(entries, list):  # only the batch operations take either
            self.entries[operation] += len(entries)

    def http(self, inner: HttpImplementation) -> HttpImplementation:
        """aiodynamo's transport, counting every DynamoDB request (each retry included)."""

        async def send(request: Request) -> Response:
            target = request.headers.get(_TARGET) if request.headers else None
            if target:  # "DynamoDB_20120810.PutItem"
                self.calls["dynamodb:" + target.rpartition(".")[2]] += 1
            return await inner(request)

        return send

"""The process's AWS calls on its ``/metrics``, the API's and the worker's alike: read at
scrape time from the clients' ``CallCounter`` (``observability/call_count.py``), so a call costs
one dict increment and no metrics work.

``paysys_aws_calls_total{operation="dynamodb:PutItem"}``: calls by operation, as the
application makes them (a botocore retry is not a call; an aiodynamo retry is a request, and
counted). ``paysys_aws_call_entries_total{operation="sns:PublishBatch"}``: for the SNS and SQS
batch operations only, the entries those calls carried.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class CallCounts(Protocol):
    @property
    def calls(self) -> Mapping[str, int]: ...
    @property
    def entries(self) -> Mapping[str, int]: ...


class AwsCallCollector(Collector):
    def __init__(self, counts: CallCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "paysys_aws_calls",
            "AWS calls this process made, by operation (service:Operation). A botocore retry "
            "is not a new call; DynamoDB is counted per HTTP request, its retries included.",
            labels=("operation",),
        )
        for operation, count in sorted(self._counts.calls.items()):
            calls.add_metric((operation,), count)
        yield calls
        entries = CounterMetricFamily(
            "paysys_aws_call_entries",
            "Entries sent in SNS and SQS batch calls (PublishBatch, SendMessageBatch, "
            "DeleteMessageBatch, ChangeMessageVisibilityBatch), by operation.",
            labels=("operation",),
        )
        for operation, count in sorted(self._counts.entries.items()):
            entries.add_metric((operation,), count)
        yield entries

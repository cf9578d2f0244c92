"""The AWS call counter (observability/call_count.py) on real clients, and its export
(call_metrics.py): no emulator, botocore answered by its stubber or a loopback server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.endpoint import AioEndpoint
from aiobotocore.session import get_session
from aiobotocore.stub import AioStubber
from aiodynamo.client import Client
from aiodynamo.credentials import Key, StaticCredentials
from aiodynamo.http.types import Request, Response
from aiodynamo.models import DecorelatedJitterRetry
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry, generate_latest
from yarl import URL

from paysys.observability.call_count import CallCounter
from paysys.observability.call_log import Call, CallLog, read_calls
from paysys.observability.call_metrics import AwsCallCollector

QUEUE = "http://sqs.local/000000000000/paysys-payment-created"
TOPIC = "arn:aws:sns:us-east-1:000000000000:paysys-events"
KEYS = {"region_name": "us-east-1", "aws_access_key_id": "k", "aws_secret_access_key": "s"}


@asynccontextmanager
async def botocore_client(service: str, **kwargs: Any) -> AsyncIterator[Any]:
    async with get_session().create_client(service, **KEYS, **kwargs) as client:
        yield client


async def test_botocore_calls_are_counted_by_operation_with_batch_entries() -> None:
    counter = CallCounter()
    async with botocore_client("sqs") as sqs, botocore_client("sns") as sns:
        counter.watch(sqs)
        counter.watch(sns)
        with AioStubber(sqs) as sqs_stub, AioStubber(sns) as sns_stub:
            sqs_stub.add_response("receive_message", {"Messages": []})
            sqs_stub.add_response("receive_message", {"Messages": []})
            sqs_stub.add_response("delete_message_batch", {"Successful": [], "Failed": []})
            sns_stub.add_response("publish_batch", {"Successful": [], "Failed": []})
            await sqs.receive_message(QueueUrl=QUEUE, MaxNumberOfMessages=10)
            await sqs.receive_message(QueueUrl=QUEUE, MaxNumberOfMessages=10)
            entries = [{"Id": str(i), "ReceiptHandle": f"h{i}"} for i in range(3)]
            await sqs.delete_message_batch(QueueUrl=QUEUE, Entries=entries)
            batch = [{"Id": str(i), "Message": "{}"} for i in range(7)]
            await sns.publish_batch(TopicArn=TOPIC, PublishBatchRequestEntries=batch)

    assert counter.calls == {
        "sqs:ReceiveMessage": 2,
        "sqs:DeleteMessageBatch": 1,
        "sns:PublishBatch": 1,
    }
    # SNS names its entries PublishBatchRequestEntries: counted all the same.
    assert counter.entries == {"sqs:DeleteMessageBatch": 3, "sns:PublishBatch": 7}


async def test_a_botocore_retry_is_not_a_new_call(monkeypatch: Any) -> None:
    """A 500 then a 200: two HTTP requests reach the server, one call is counted."""
    seen: list[str] = []

    async def sqs_json(request: web.Request) -> web.Response:
        seen.append(request.headers["X-Amz-Target"])
        if len(seen) == 1:
            return web.json_response({"__type": "InternalError", "message": "boom"}, status=500)
        return web.json_response({"Successful": [{"Id": "0"}], "Failed": []})

    async def no_backoff(_: AioEndpoint, seconds: float) -> None:
        pass

    monkeypatch.setattr(AioEndpoint, "_sleep", no_backoff)  # the retry, without its backoff
    app = web.Application()
    app.router.add_post("/", sqs_json)
    counter = CallCounter()
    config = AioConfig(retries={"mode": "standard", "total_max_attempts": 3})
    async with TestServer(app, host="127.0.0.1") as server:
        endpoint = str(server.make_url("/"))
        async with botocore_client("sqs", endpoint_url=endpoint, config=config) as sqs:
            counter.watch(sqs)
            entries = [{"Id": "0", "ReceiptHandle": "h0", "VisibilityTimeout": 0}]
            await sqs.change_message_visibility_batch(QueueUrl=QUEUE, Entries=entries)

    assert seen == ["AmazonSQS.ChangeMessageVisibilityBatch"] * 2
    assert counter.calls == {"sqs:ChangeMessageVisibilityBatch": 1}
    assert counter.entries == {"sqs:ChangeMessageVisibilityBatch": 1}


async def test_dynamodb_requests_are_counted_at_the_transport_retries_included(
    tmp_path: Any,
) -> None:
    """aiodynamo retries a 500: its transport sees, and counts, both requests. The call log,
    wrapped inside, still records the operation once."""
    statuses = [500, 200]
    sent: list[Request] = []

    async def dynamodb(request: Request) -> Response:
        sent.append(request)
        return Response(statuses.pop(0), b"{}")

    counter = CallCounter()
    log = CallLog(str(tmp_path / "calls"))
    retry = DecorelatedJitterRetry(base_delay_secs=0.001, max_delay_secs=0.001, time_limit_secs=5)
    client = Client(
        counter.http(log.http(dynamodb)),
        StaticCredentials(Key(id="k", secret="s")),
        "us-east-1",
        URL("http://dynamodb.local"),
        throttle_config=retry,
    )
    await client.put_item("paysys-payments", {"pk": "p#1"})
    log.close()

    assert len(sent) == 2
    assert counter.calls == {"dynamodb:PutItem": 2}
    assert counter.entries == {}
    assert read_calls(tmp_path / "calls") == {Call("dynamodb:PutItem", "table/paysys-payments")}


async def test_requests_without_a_target_are_not_dynamodb_calls() -> None:
    """The credential providers' metadata lookups share aiodynamo's transport."""
    counter = CallCounter()

    async def metadata(_: Request) -> Response:
        return Response(200, b"{}")

    send = counter.http(metadata)
    await send(Request("GET", "http://169.254.170.2/v2/credentials", None, None))
    await send(Request("PUT", "http://169.254.169.254/latest/api/token", {"X": "1"}, None))
    assert counter.calls == {}


def test_the_counts_are_exported_as_two_counters_labelled_by_operation() -> None:
    counter = CallCounter()
    counter.calls.update({"dynamodb:PutItem": 2, "sns:PublishBatch": 1})
    counter.entries.update({"sns:PublishBatch": 10})
    registry = CollectorRegistry()
    registry.register(AwsCallCollector(counter))
    lines = generate_latest(registry).decode().splitlines()

    assert 'paysys_aws_calls_total{operation="dynamodb:PutItem"} 2.0' in lines
    assert 'paysys_aws_calls_total{operation="sns:PublishBatch"} 1.0' in lines
    assert 'paysys_aws_call_entries_total{operation="sns:PublishBatch"} 10.0' in lines
    assert "# TYPE paysys_aws_calls_total counter" in lines
    assert "# TYPE paysys_aws_call_entries_total counter" in lines

    counter.calls["dynamodb:PutItem"] += 1  # read at scrape time
    later = generate_latest(registry).decode().splitlines()
    assert 'paysys_aws_calls_total{operation="dynamodb:PutItem"} 3.0' in later

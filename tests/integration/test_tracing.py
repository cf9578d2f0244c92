"""OpenTelemetry: one trace from the POST to the approval, across SNS and SQS."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from opentelemetry.trace import SpanKind, StatusCode

from paysys.config import Settings
from paysys.runtime.resources import Resources
from paysys.runtime.roles import build_worker

from ..traces import TRACE_ID, TRACEPARENT, by_name, recorded_spans

BODY = {"amount": "9.99", "currency": "USD"}
CALLER_SPAN_ID = int(TRACEPARENT.split("-")[2], 16)


async def test_one_trace_covers_the_post_the_publish_the_receive_and_the_approval(
    api: TestClient[Any, Any], settings: Settings, resources: Resources, logs
) -> None:
    with recorded_spans() as exporter:
        created = await api.post(
            "/payments", json=BODY, headers={"traceparent": TRACEPARENT, "X-Request-ID": "t-1"}
        )
        assert created.status == 202
        payment_id = (await created.json())["id"]
        await resources.events.flush()  # on the queue before a burst run looks
        worker, _ = build_worker(settings, resources)
        await worker.run(burst=True)
    assert worker.stats.approved == 1

    spans = by_name(
        tuple(s for s in exporter.get_finished_spans() if s.context.trace_id == TRACE_ID)
    )

    def parent(span: Any) -> int:
        return span.parent.span_id if span.parent else 0

    [server] = spans["POST /payments"]
    [put] = spans["DynamoDB.PutItem"]
    [producer] = spans["publish PaymentCreated"]
    # PaymentCreated's batch; the outcome event (PaymentApproved) has a batch of its own.
    [publish] = [s for s in spans["SNS.PublishBatch"] if parent(s) == producer.context.span_id]
    [receive] = spans["SQS.ReceiveMessage"]
    [process] = spans["process PaymentCreated"]

    # Each transition is an UpdateItem; counts are journalled outside any request.
    updates = spans.get("DynamoDB.UpdateItem", [])
    assert [parent(u) for u in updates].count(server.context.span_id) == 0
    # The worker's: the transition alone (its message is the outbox: nothing to clear), then
    # the outcome's publish.
    [approve] = [u for u in updates if parent(u) == process.context.span_id]
    outcome = [s for s in spans["SNS.PublishBatch"] if s is not publish]
    assert outcome
    assert min(s.start_time for s in outcome) >= approve.end_time

    assert parent(server) == CALLER_SPAN_ID  # the caller's span, from its traceparent
    assert server.kind is SpanKind.SERVER
    assert server.attributes == {
        "http.request.method": "POST",
        "http.route": "/payments",
        "http.response.status_code": 202,
    }
    assert parent(put) == parent(producer) == server.context.span_id
    assert (put.kind, producer.kind) == (SpanKind.CLIENT, SpanKind.PRODUCER)
    assert parent(publish) == producer.context.span_id  # the batch continues its first entry
    assert dict(publish.attributes or {}) == {
        "rpc.system": "aws-api",
        "rpc.service": "SNS",
        "rpc.method": "PublishBatch",
    }
    # The worker continues the context the event carried: the producer's.
    assert parent(receive) == parent(process) == producer.context.span_id
    assert (receive.kind, process.kind) == (SpanKind.CLIENT, SpanKind.CONSUMER)
    assert approve.kind is SpanKind.CLIENT
    assert all(s.status.status_code is not StatusCode.ERROR for v in spans.values() for s in v)
    # The API queues the event and answers; the batch goes after, in its producer's trace.
    assert publish.start_time >= producer.start_time
    assert receive.start_time >= producer.start_time

    # Logs and traces join: the worker's line carries the producer's traceparent.
    [line] = [e for e in logs.events("message.processed") if e["payment_id"] == payment_id]
    assert line["traceparent"] == f"00-{TRACE_ID:032x}-{producer.context.span_id:016x}-01"
    [request] = [e for e in logs.events("http.request") if e.get("payment_id") == payment_id]
    assert request["traceparent"] == f"00-{TRACE_ID:032x}-{server.context.span_id:016x}-01"


async def test_a_request_without_a_trace_starts_one(api: TestClient[Any, Any]) -> None:
    with recorded_spans() as exporter:
        assert (await api.post("/payments", json=BODY)).status == 202
        assert (await api.get("/payments/nope")).status == 404
    spans = by_name(exporter.get_finished_spans())
    [post] = spans["POST /payments"]
    assert post.parent is None
    [publish] = spans["publish PaymentCreated"]
    assert publish.context.trace_id == post.context.trace_id
    [get] = spans["GET /payments/{payment_id}"]
    assert get.attributes is not None
    assert get.attributes["http.response.status_code"] == 404
    assert get.context.trace_id != post.context.trace_id


async def test_a_failed_aws_call_marks_its_span(down_api: TestClient[Any, Any]) -> None:
    with recorded_spans() as exporter:
        assert (await down_api.post("/payments", json=BODY)).status == 503
    spans = by_name(exporter.get_finished_spans())
    assert spans["DynamoDB.PutItem"][0].status.status_code is StatusCode.ERROR
    [server] = spans["POST /payments"]
    assert server.status.status_code is StatusCode.ERROR

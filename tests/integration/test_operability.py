"""Metrics, API keys, correlation across API and worker, recent payments and stats."""

from __future__ import annotations

import re
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from paysys.api.auth import hash_key
from paysys.cli import main
from paysys.config import Settings
from paysys.runtime.resources import Resources
from paysys.runtime.roles import build_worker, worker_health_app

from ..conftest import KeyedApi, settle_counts

BODY = {"amount": "9.99", "currency": "USD"}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
CALLS, ENTRIES = "paysys_aws_calls_total", "paysys_aws_call_entries_total"


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_api_metrics_count_requests_and_payments(api: TestClient[Any, Any]) -> None:
    for _ in range(3):
        assert (await api.post("/payments", json=BODY)).status == 202
    assert (await api.post("/payments", json={})).status == 422
    response = await api.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    found = samples(await response.text())
    post = (("method", "POST"), ("route", "/payments"))
    assert found[("paysys_http_requests_total", (*post, ("status", "202")))] == 3
    assert found[("paysys_http_requests_total", (*post, ("status", "422")))] == 1
    assert found[("paysys_payments_created_total", ())] == 3
    assert found[("paysys_http_request_duration_seconds_count", (("route", "/payments"),))] == 4


def by_operation(found: Samples, name: str) -> dict[str, float]:
    """``paysys_aws_calls_total`` or ``paysys_aws_call_entries_total``, by operation."""
    return {dict(labels)["operation"]: v for (n, labels), v in found.items() if n == name}


def aws_calls_since(before: Samples, after: Samples, name: str) -> dict[str, float]:
    old, new = by_operation(before, name), by_operation(after, name)
    return {op: n - old.get(op, 0) for op, n in new.items() if n != old.get(op, 0)}


async def test_api_metrics_count_aws_calls_by_operation(
    api: TestClient[Any, Any], resources: Resources
) -> None:
    before = samples(await (await api.get("/metrics")).text())
    assert by_operation(before, CALLS)["sqs:GetQueueUrl"] == 2  # the lookups at start
    assert (await api.post("/payments", json=BODY)).status == 202
    await resources.events.flush()  # the event waits for a batch: send it now
    after = samples(await (await api.get("/metrics")).text())

    assert by_operation(after, CALLS)["dynamodb:PutItem"] >= 1
    calls = aws_calls_since(before, after, CALLS)
    assert calls["dynamodb:PutItem"] >= 1
    assert calls["sns:PublishBatch"] == 1  # the payment's event
    assert aws_calls_since(before, after, ENTRIES) == {"sns:PublishBatch": 1}
    assert all(op.split(":")[0] in {"dynamodb", "sns", "sqs"} for op in calls)


async def test_worker_metrics_and_correlation_follow_the_payment(
    api: TestClient[Any, Any], settings: Settings, resources: Resources, logs
) -> None:
    created = await api.post(
        "/payments",
        json=BODY,
        headers={"X-Request-ID": "trace-me-42", "traceparent": TRACEPARENT},
    )
    payment_id = (await created.json())["id"]
    await resources.events.flush()  # on the queue before a burst run looks
    worker, metrics = build_worker(settings, resources)
    await worker.run(burst=True)

    [line] = [e for e in logs.events("message.processed") if e["payment_id"] == payment_id]
    assert line["correlation_id"] == "trace-me-42"
    assert line["traceparent"] == TRACEPARENT
    [request_line] = [e for e in logs.events("http.request") if e.get("payment_id") == payment_id]
    assert request_line["correlation_id"] == "trace-me-42"

    async with TestClient(
        TestServer(worker_health_app(settings, worker, resources, metrics))
    ) as client:
        found = samples(await (await client.get("/metrics")).text())
        assert found[("paysys_worker_messages_approved_total", ())] == 1
        assert found[("paysys_worker_messages_received_total", ())] == 1
        assert found[("paysys_worker_batch_size_count", ())] == 1
        assert found[("paysys_worker_loops", ())] == 0
        # The API shares these resources (and so the counts) here; receiving and deleting
        # are the worker's alone.
        calls, entries = by_operation(found, CALLS), by_operation(found, ENTRIES)
        assert calls["sqs:ReceiveMessage"] >= 2  # the message, then each loop's empty receive
        assert (calls["sqs:DeleteMessageBatch"], entries["sqs:DeleteMessageBatch"]) == (1, 1)
        assert (await client.get("/readyz")).status == 503  # no loop is running any more


async def test_recent_payments_and_stats(api: TestClient[Any, Any], resources: Resources) -> None:
    ids = [(await (await api.post("/payments", json=BODY)).json())["id"] for _ in range(3)]
    recent = await (await api.get("/payments?limit=2")).json()
    assert [p["id"] for p in recent["payments"]] == ids[::-1][:2]  # newest first
    assert (await api.get("/payments?limit=0")).status == 400
    assert (await api.get("/payments?limit=abc")).status == 400
    await settle_counts(resources)
    stats = await (await api.get("/stats")).json()
    assert stats == {
        "merchant_id": "default",
        "payments": {"Pending": 3, "Approved": 0, "Declined": 0, "Canceled": 0},
        "platform": {"Pending": 3, "Approved": 0, "Declined": 0, "Canceled": 0},
        "queue": {"visible": 3, "in_flight": 0},
        "dlq": {"visible": 0},
    }


async def test_api_keys_guard_every_payment_route(keyed_api: KeyedApi, logs) -> None:
    client, alice = keyed_api.client, keyed_api.key
    async with aiohttp.ClientSession() as bare:  # the keyed client would send alice's key
        cancel = f"/payments/{uuid.uuid4()}/cancel"
        routes = (("POST", "/payments"), ("GET", "/payments"), ("GET", "/stats"), ("POST", cancel))
        for method, path in routes:
            async with bare.request(method, client.make_url(path), json=BODY) as denied:
                assert denied.status == 401
                assert denied.headers["WWW-Authenticate"] == "Bearer"
                assert (await denied.json())["error"]["code"] == "unauthorized"
        for path in ("/healthz", "/readyz", "/metrics"):
            async with bare.get(client.make_url(path)) as open_route:
                assert open_route.status == 200
    wrong = await client.post("/payments", json=BODY, headers=keyed_api.bearer("nope"))
    assert wrong.status == 401
    ok = await client.post("/payments", json=BODY, headers=keyed_api.bearer(alice))
    assert ok.status == 202
    assert alice not in "\n".join(logs.lines)  # keys are never logged


async def test_idempotency_keys_are_scoped_per_merchant(keyed_api: KeyedApi) -> None:
    alice, bob = keyed_api.keys
    ids = set()
    for key in (alice, bob, alice):
        response = await keyed_api.client.post(
            "/payments",
            json=BODY,
            headers={**keyed_api.bearer(key), "Idempotency-Key": "same-key"},
        )
        assert response.status == 202
        ids.add((await response.json())["id"])
    assert len(ids) == 2  # alice's retry replays; bob's request is his own


async def test_a_merchant_sees_only_its_own_payments(
    keyed_api: KeyedApi, resources: Resources
) -> None:
    alice, bob = (keyed_api.bearer(k) for k in keyed_api.keys)
    client = keyed_api.client
    made = (await (await client.post("/payments", json=BODY, headers=alice)).json())["id"]
    assert (await client.get(f"/payments/{made}", headers=alice)).status == 200
    foreign = await client.get(f"/payments/{made}", headers=bob)
    assert foreign.status == 404  # never 403: the id is not confirmed to exist
    assert (await foreign.json())["error"]["code"] == "payment_not_found"
    foreign_cancel = await client.post(f"/payments/{made}/cancel", headers=bob)
    assert foreign_cancel.status == 404
    assert (await foreign_cancel.json())["error"]["code"] == "payment_not_found"
    assert (await (await client.get(f"/payments/{made}", headers=alice)).json())["status"] in {
        "Pending",
        "Approved",
    }
    listed = await (await client.get("/payments", headers=bob)).json()
    assert made not in {p["id"] for p in listed["payments"]}
    await settle_counts(resources)
    theirs = await (await client.get("/stats", headers=bob)).json()
    mine = await (await client.get("/stats", headers=alice)).json()
    assert (theirs["merchant_id"], mine["merchant_id"]) == ("bob", "alice")
    assert mine["payments"]["Pending"] + mine["payments"]["Approved"] >= 1
    assert set(theirs["payments"].values()) == {0}
    # A cursor is bound to its merchant: alice's is refused for bob.
    page = await (await client.get("/payments?limit=1", headers=alice)).json()
    if page["next_cursor"]:
        stolen = await client.get(f"/payments?cursor={page['next_cursor']}", headers=bob)
        assert stolen.status == 400


def test_keygen_prints_a_key_and_its_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen"], {}) == 0
    out = capsys.readouterr().out
    lines = dict(re.findall(r"^(key|hash):\s+(\S+)$", out, re.M))
    assert lines["key"].startswith("psk_")
    assert hash_key(lines["key"]) == lines["hash"]

"""A 503 never hides a stored payment; hostile input, outages and overload degrade, never
break (issue 11, items 1-4). Against the real emulator, with fault-injecting proxies."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from paysys.api.readiness import Check, Readiness
from paysys.config import Settings
from paysys.core.domain import DEFAULT_MERCHANT, NewPayment, PaymentStatus
from paysys.errors import BackendUnavailable
from paysys.runtime.resources import Resources, open_resources
from paysys.runtime.serving import Limits
from paysys.runtime.serving import serving as serve_with_limits
from paysys.worker.options import WorkerOptions
from paysys.worker.worker import Worker

from ..backends import Backend
from ..conftest import make_app, serving, settle_counts
from ..http_faults import Fault, HttpFaults, dynamodb_operation

BODY = {"amount": "12.50", "currency": "BRL", "description": "hardening"}
JSON = {"Content-Type": "application/json"}
NEW = NewPayment(Decimal("12.50"), "BRL", "hardening")


async def stored_ids(resources: Resources, table: str) -> list[str]:
    """Payment ids in the table (counter and lease items aside)."""
    return [i["id"] async for i in resources.clients.dynamodb.scan(table) if "kind" not in i]


@pytest.fixture
def wired(settings: Settings, resources: Resources) -> Settings:
    """Settings that name the provisioned resources, so no lookup goes through a proxy."""
    return settings.replace(
        topic_arn=resources.events.topic_arn,
        queue_url=resources.queue.queue_url,
        dlq_url=resources.dlq.queue_url,
    )


@contextlib.asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    """The API over resources opened with ``settings`` (e.g. through a fault proxy)."""
    async with open_resources(settings) as opened, serving(make_app(settings, opened)) as client:
        yield client


# --- 1. the create path answers whenever the payment is stored ----------------------------


def drop_first(operation: str, *marks: str) -> Any:
    """Drops the reply of the first ``operation`` request whose body holds every mark."""
    armed = [True]

    def rule(request: bytes) -> Fault:
        ours = dynamodb_operation(request) == operation
        if armed[0] and ours and all(mark.encode() in request for mark in marks):
            armed[0] = False
            return Fault.DROP_REPLY
        return Fault.PASS

    return rule


def drop_first_put(table: str) -> Any:
    return drop_first("PutItem", table)


async def test_a_put_whose_reply_is_lost_is_answered_202_once(
    wired: Settings, resources: Resources, backend: Backend
) -> None:
    async with HttpFaults(backend.dynamodb, drop_first_put(wired.table_name)) as proxy:
        async with client_for(wired.replace(dynamodb_endpoint_url=proxy.url)) as api:
            response = await api.post("/payments", json=BODY)
            body = await response.json()
        assert proxy.seen[Fault.DROP_REPLY] == 1  # the fault happened: the put committed
    assert response.status == 202, body
    assert body["status"] == "Pending"
    assert await stored_ids(resources, wired.table_name) == [body["id"]]


async def test_a_lost_reply_with_an_idempotency_key_replays_the_same_payment(
    wired: Settings, resources: Resources, backend: Backend
) -> None:
    headers = {"Idempotency-Key": "lost-reply-1"}
    async with HttpFaults(backend.dynamodb, drop_first_put(wired.table_name)) as proxy:
        async with client_for(wired.replace(dynamodb_endpoint_url=proxy.url)) as api:
            first = await api.post("/payments", json=BODY, headers=headers)
            again = await api.post("/payments", json=BODY, headers=headers)
            first_id, again_id = (await first.json())["id"], (await again.json())["id"]
        assert proxy.seen[Fault.DROP_REPLY] == 1
    assert (first.status, again.status) == (202, 202)
    assert first_id == again_id
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await stored_ids(resources, wired.table_name)) == 1


async def test_a_failed_idempotency_completion_does_not_hide_the_payment(
    wired: Settings, resources: Resources, backend: Backend, logs
) -> None:
    table = wired.idempotency_table_name.encode()

    def refuse_completion(request: bytes) -> Fault:
        completing = dynamodb_operation(request) == "UpdateItem" and table in request
        return Fault.REFUSE if completing else Fault.PASS

    async with HttpFaults(backend.dynamodb, refuse_completion) as proxy:
        async with client_for(wired.replace(dynamodb_endpoint_url=proxy.url)) as api:
            response = await api.post("/payments", json=BODY, headers={"Idempotency-Key": "k1"})
            created = await response.json()
        assert proxy.seen[Fault.REFUSE] >= 1
    assert response.status == 202
    assert await stored_ids(resources, wired.table_name) == [created["id"]]
    assert logs.events("idempotency.complete_failed")


async def test_nothing_stored_is_still_a_503(wired: Settings, resources: Resources) -> None:
    async with client_for(wired.replace(dynamodb_endpoint_url="http://127.0.0.1:9")) as api:
        response = await api.post("/payments", json=BODY)
        error = (await response.json())["error"]
        keyed = await api.post("/payments", json=BODY, headers={"Idempotency-Key": "k-down"})
        keyed_error = (await keyed.json())["error"]
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    # Without a key the 503 names the id it tried, so the client can look before resending.
    assert error["code"] == "store_unconfirmed"
    assert error["payment_id"] in error["message"]
    assert (keyed.status, keyed_error["code"]) == (503, "backend_unavailable")
    assert await stored_ids(resources, wired.table_name) == []


async def test_a_put_that_met_its_own_write_is_202_even_when_no_read_can_confirm_it(
    wired: Settings, resources: Resources, backend: Backend
) -> None:
    """The put commits, its reply is lost, the client's retry finds the id taken and every
    GetItem fails: the id is this request's fresh one, so it is its own write: 202."""
    drop_put = drop_first_put(wired.table_name)

    def rule(request: bytes) -> Fault:
        return Fault.REFUSE if dynamodb_operation(request) == "GetItem" else drop_put(request)

    async with HttpFaults(backend.dynamodb, rule) as proxy:
        async with client_for(wired.replace(dynamodb_endpoint_url=proxy.url)) as api:
            response = await api.post("/payments", json=BODY)
            body = await response.json()
        assert proxy.seen[Fault.DROP_REPLY] == 1
    assert response.status == 202, body
    assert await stored_ids(resources, wired.table_name) == [body["id"]]


async def test_a_create_never_answered_names_the_payment_it_stored(
    wired: Settings, resources: Resources, backend: Backend
) -> None:
    table = wired.table_name.encode()

    def drop_every_put(request: bytes) -> Fault:
        putting = dynamodb_operation(request) == "PutItem" and table in request
        return Fault.DROP_REPLY if putting else Fault.PASS

    async with (
        HttpFaults(backend.dynamodb, drop_every_put) as proxy,
        client_for(wired.replace(dynamodb_endpoint_url=proxy.url)) as api,
    ):
        response = await api.post("/payments", json=BODY)
        error = (await response.json())["error"]
    assert response.status == 503
    assert error["code"] == "store_unconfirmed"
    assert await stored_ids(resources, wired.table_name) == [error["payment_id"]]


def drop_first_update_to(table: str, status: str) -> Any:
    """Drops the reply of the first UpdateItem of ``table`` that writes ``status``."""
    return drop_first("UpdateItem", table, f'"{status}"')


async def test_a_decision_whose_reply_is_lost_is_counted_and_announced_at_once(
    wired: Settings, resources: Resources, backend: Backend
) -> None:
    """The transition commits, its reply is lost and the retry finds the payment final: by
    its own token, so the decision is finished (counted, its outcome published and the
    outbox cleared) instead of being taken for a duplicate left to the reconciler."""
    accepted = await resources.service.create(NEW, "lost-decision")
    await resources.events.flush()
    rule = drop_first_update_to(wired.table_name, "Approved")
    async with (
        HttpFaults(backend.dynamodb, rule) as proxy,
        open_resources(wired.replace(dynamodb_endpoint_url=proxy.url)) as faulty,
    ):
        options = WorkerOptions.from_settings(wired)
        stats = await Worker(faulty.queue, faulty.service, options).run(burst=True)
        await settle_counts(faulty)
        counts = (await faulty.payments.counts(DEFAULT_MERCHANT)).by_status
    assert proxy.seen[Fault.DROP_REPLY] == 1
    assert (stats.approved, stats.duplicates, stats.deleted) == (1, 0, 1)
    item = await resources.clients.dynamodb.get_item(wired.table_name, {"id": accepted.payment_id})
    assert item["status"] == "Approved"
    assert "outbox_shard" not in item, "the outcome was published, not left to the reconciler"
    assert (counts[PaymentStatus.PENDING], counts[PaymentStatus.APPROVED]) == (0, 1)


async def test_a_cancel_whose_reply_is_lost_is_a_202_not_a_409(
    wired: Settings, resources: Resources, backend: Backend
) -> None:
    accepted = await resources.service.create(NEW, "lost-cancel")
    rule = drop_first_update_to(wired.table_name, "Canceled")
    async with HttpFaults(backend.dynamodb, rule) as proxy:
        async with client_for(wired.replace(dynamodb_endpoint_url=proxy.url)) as api:
            response = await api.post(f"/payments/{accepted.payment_id}/cancel")
            body = await response.json()
        assert proxy.seen[Fault.DROP_REPLY] == 1
    await settle_counts(resources)  # the API's counts were journalled as it stopped
    counts = (await resources.payments.counts(DEFAULT_MERCHANT)).by_status
    assert (response.status, body["status"]) == (202, "Canceled"), body
    assert (counts[PaymentStatus.PENDING], counts[PaymentStatus.CANCELED]) == (0, 1)


async def test_a_claim_whose_reply_is_lost_is_still_the_requests_own(
    wired: Settings, resources: Resources, backend: Backend
) -> None:
    """The idempotency claim commits and its reply is lost; the client's retry of the put
    finds the record: its owner's, so the request goes on (202), not "in progress" (409)."""
    headers = {"Idempotency-Key": "lost-claim"}
    async with HttpFaults(backend.dynamodb, drop_first_put(wired.idempotency_table_name)) as proxy:
        async with client_for(wired.replace(dynamodb_endpoint_url=proxy.url)) as api:
            first = await api.post("/payments", json=BODY, headers=headers)
            first_body = await first.json()
            again = await api.post("/payments", json=BODY, headers=headers)
            again_body = await again.json()
        assert proxy.seen[Fault.DROP_REPLY] == 1
    assert first.status == 202, first_body
    assert (again.status, again_body["id"]) == (202, first_body["id"])
    assert await stored_ids(resources, wired.table_name) == [first_body["id"]]


@pytest.mark.parametrize("flush_seconds", [3600.0, 0.0])
async def test_a_counter_write_whose_reply_is_lost_is_applied_once(
    wired: Settings, resources: Resources, backend: Backend, flush_seconds: float
) -> None:
    """The journal put commits and its reply is lost; it is sent again unchanged (the same
    item, the same id), and the rollup applies that one item once: one payment counts once.
    Then the rollup's own counter ADD loses its reply: the round is recognised applied."""
    faulty_settings = wired.replace(counter_flush_seconds=flush_seconds)
    async with HttpFaults(backend.dynamodb, drop_first("PutItem", "#j#")) as proxy:
        async with open_resources(faulty_settings.replace(dynamodb_endpoint_url=proxy.url)) as r:
            await r.service.create(NEW, "lost-count")
            await r.payments.counters.flush()  # type: ignore[union-attr]
        assert proxy.seen[Fault.DROP_REPLY] == 1
    async with HttpFaults(backend.dynamodb, drop_first("UpdateItem", "#count#")) as proxy:
        async with open_resources(wired.replace(dynamodb_endpoint_url=proxy.url)) as r:
            with contextlib.suppress(BackendUnavailable):  # the pass stops at the lost reply
                await settle_counts(r)
        assert proxy.seen[Fault.DROP_REPLY] == 1
    await settle_counts(resources)
    counts = (await resources.payments.counts(DEFAULT_MERCHANT)).by_status
    assert counts[PaymentStatus.PENDING] == 1


# --- 2. hostile JSON --------------------------------------------------------------------


async def test_deep_nesting_is_a_400_not_a_500(api: TestClient[Any, Any], logs) -> None:
    response = await api.post("/payments", data="[" * 5000 + "]" * 5000, headers=JSON)
    assert response.status == 400
    assert "nested deeper" in (await response.json())["error"]["message"]
    assert not logs.events("http.unhandled_error")


async def test_duplicate_keys_are_refused_by_name(api: TestClient[Any, Any]) -> None:
    raw = '{"amount":"1.00","amount":"2.00","currency":"BRL"}'
    response = await api.post("/payments", data=raw, headers=JSON)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "malformed_json"
    assert "'amount'" in error["message"]


@pytest.mark.parametrize("text", ["nul\x00here", "bell\x07", "line\nbreak", "c1\x85"])
async def test_control_characters_in_text_are_a_422(api: TestClient[Any, Any], text: str) -> None:
    response = await api.post("/payments", json={**BODY, "description": text})
    assert response.status == 422
    fields = (await response.json())["error"]["fields"]
    assert fields == [{"field": "description", "message": "must not contain control characters"}]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=200),
        _json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {"amount": st.one_of(st.text(max_size=12), st.integers()), "currency": st.text()},
            optional={"description": st.text(max_size=40)},
        ).map(lambda v: json.dumps(v).encode()),
    ),
    path=st.sampled_from(["/payments", "/payments/", "/stats", "/payments/x"])
    | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20).map(
        lambda s: "/" + s.replace("?", "").replace("#", "").lstrip("/")
    ),
    query=st.dictionaries(st.sampled_from(["limit", "cursor", "x"]), _header_text, max_size=2),
    headers=st.dictionaries(
        st.sampled_from(["Idempotency-Key", "X-Request-ID", "traceparent", "Content-Type"]),
        _header_text,
        max_size=3,
    ),
    method=st.sampled_from(["GET", "POST"]),
)
async def test_fuzzed_requests_never_get_a_5xx(  # noqa: PLR0917 - hypothesis passes each draw
    api: TestClient[Any, Any], logs, body, path, query, headers, method
) -> None:
    headers = {"Content-Type": "application/json", **headers}
    response = await api.request(method, path, data=body, params=query, headers=headers)
    await response.read()
    assert response.status < 500, (method, path, query, headers, body, await response.text())
    assert not logs.events("http.unhandled_error")


# --- 3. readiness: store or not, cached, no detail leaked ---------------------------------


async def test_sns_and_sqs_trouble_is_degraded_not_unready(wired: Settings) -> None:
    sns_down = wired.replace(
        aws_endpoint_url="http://127.0.0.1:9", dynamodb_endpoint_url=wired.dynamodb_endpoint_url
    )
    async with client_for(sns_down) as api:
        ready = await api.get("/readyz")
        body = await ready.json()
        created = await api.post("/payments", json=BODY)
        metrics = await (await api.get("/metrics")).text()
    assert ready.status == 200
    assert body == {
        "status": "degraded",
        "checks": {"dynamodb": "ok", "sns": "unavailable", "sqs": "unavailable"},
    }
    assert created.status == 202  # stored; the reconciler publishes it later
    assert 'paysys_dependency_up{dependency="sns",required="false"} 0.0' in metrics
    assert 'paysys_dependency_up{dependency="dynamodb",required="true"} 1.0' in metrics


async def test_no_store_means_unready_and_no_error_text(wired: Settings) -> None:
    async with client_for(wired.replace(dynamodb_endpoint_url="http://127.0.0.1:9")) as api:
        response = await api.get("/readyz")
        text = await response.text()
    assert response.status == 503
    assert json.loads(text)["checks"]["dynamodb"] == "unavailable"
    assert "127.0.0.1" not in text
    assert "Error" not in text


async def test_readiness_is_cached_and_single_flight() -> None:
    calls = 0
    release = asyncio.Event()

    async def probe() -> None:
        nonlocal calls
        calls += 1
        await release.wait()

    now = [0.0]
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    readiness = Readiness(
        [Check("db", probe)], CollectorRegistry(), cache_seconds=2.0, clock=lambda: now[0]
    )
    waiting = [asyncio.ensure_future(readiness.report()) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    reports = await asyncio.gather(*waiting)
    assert calls == 1
    assert all(r == {"status": "ready", "checks": {"db": "ok"}} for r in reports)
    now[0] = 1.9
    await readiness.report()
    assert calls == 1  # still fresh
    now[0] = 2.1
    await readiness.report()
    assert calls == 2


# --- 4. bounded memory and time ----------------------------------------------------------


async def test_a_full_publish_backlog_stores_and_counts(
    wired: Settings, resources: Resources, backend: Backend
) -> None:
    """SNS holds every call unanswered: payments are still stored, the backlog stays bounded,
    and what did not fit is counted (and left to the reconciler)."""
    async with HttpFaults(backend.aws, lambda _: Fault.HOLD) as blackhole:
        stalled = wired.replace(
            aws_endpoint_url=blackhole.url,
            publish_max_pending=5,
            # Long enough for DynamoDB on a loaded machine; SNS never answers within it.
            aws_timeout_seconds=4.0,
            aws_max_attempts=1,
        )
        async with client_for(stalled) as api:
            answers = await asyncio.gather(*(api.post("/payments", json=BODY) for _ in range(60)))
            metrics = await (await api.get("/metrics")).text()
    assert [a.status for a in answers] == [202] * 60
    assert len(await stored_ids(resources, wired.table_name)) == 60
    [shed] = [x for x in metrics.splitlines() if x.startswith("paysys_events_shed_total")]
    assert float(shed.split()[-1]) > 0


async def test_connections_past_the_cap_get_a_503() -> None:
    from aiohttp import web  # noqa: PLC0415

    app = web.Application()
    limits = Limits(shutdown_seconds=1.0, max_connections=2)
    async with serve_with_limits(app, "127.0.0.1", 0, limits) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            answer = await reader.read()
        for _, w in [*held, (reader, writer)]:
            w.close()
    assert answer.startswith(b"HTTP/1.1 503")
    assert b"too_many_connections" in answer


async def test_slow_headers_and_idle_connections_are_closed() -> None:
    from aiohttp import web  # noqa: PLC0415

    limits = Limits(shutdown_seconds=1.0, idle_timeout_seconds=0.5)
    async with serve_with_limits(web.Application(), "127.0.0.1", 0, limits) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes its head
        async with asyncio.timeout(5):  # a hang guard: the server closes at ~0.5 s
            assert await reader.read() == b""
        writer.close()


async def test_a_handler_past_its_deadline_is_a_503(wired: Settings, backend: Backend) -> None:
    async with HttpFaults(backend.aws, lambda _: Fault.HOLD) as blackhole:
        slow = wired.replace(
            aws_endpoint_url=blackhole.url,
            http_request_timeout_seconds=0.5,
            aws_timeout_seconds=5.0,
        )
        async with client_for(slow) as api:
            response = await api.get("/stats")
            body = await response.json()
    assert response.status == 503
    assert body["error"]["code"] == "request_timeout"

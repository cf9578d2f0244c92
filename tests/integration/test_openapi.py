"""src/paysys/api/openapi.json is the contract: real responses of the running app must match it.

Every documented route is called for its success and its main errors, and each response is
checked against the document: status documented, content type, required headers and their
values, body schema (formats included). A schemathesis run then fuzzes the live app over TCP:
no 5xx, every response conforming.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from jsonschema.exceptions import ValidationError as SchemaError
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from paysys import errors
from paysys.config import Settings
from paysys.core.currencies import ISO_4217, MINOR_UNITS
from paysys.core.deliveries import DeliveryAttempt, delivery_id
from paysys.core.domain import (
    PaymentCreated,
    fingerprint,
    new_payment_id,
    parse_new_payment,
    utcnow,
)
from paysys.core.limits import (
    DESCRIPTION_MAX_BYTES,
    IDEMPOTENCY_KEY_MAX_BYTES,
    MERCHANT_ID_MAX_BYTES,
)
from paysys.core.rules import DeclineReason
from paysys.runtime.resources import Resources

from ..backends import Backend
from ..conftest import KeyedApi, fresh_settings, make_app, serving, settle_counts

SPEC: dict[str, Any] = json.loads(
    (importlib.resources.files("paysys.api") / "openapi.json").read_text(encoding="utf-8")
)
_SPEC_URI = "urn:paysys:openapi"
_REGISTRY: Registry[Any] = Registry().with_resource(
    _SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012)
)
BODY = {"amount": "12.50", "currency": "BRL", "description": "coffee"}
SECURED = {
    ("/payments", "post"),
    ("/payments", "get"),
    ("/payments/{payment_id}", "get"),
    ("/payments/{payment_id}/cancel", "post"),
    ("/stats", "get"),
    ("/stats/series", "get"),
    ("/webhook-endpoints", "post"),
    ("/webhook-endpoints", "get"),
    ("/webhook-endpoints/{endpoint_id}", "delete"),
    ("/webhook-endpoints/{endpoint_id}/rotate-secret", "post"),
    ("/payments/{payment_id}/webhook-deliveries", "get"),
    ("/webhook-deliveries/{delivery_id}/retry", "post"),
}


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = _REGISTRY.resolver(_SPEC_URI).lookup(node["$ref"]).contents
    return node


def _validate(instance: Any, pointer: str) -> None:
    """Validate against the schema at ``pointer`` (a JSON pointer into the document)."""
    validator = OAS31Validator(
        {"$ref": f"{_SPEC_URI}#/{pointer}"},
        registry=_REGISTRY,
        format_checker=OAS31Validator.FORMAT_CHECKER,
    )
    validator.validate(instance)


async def conform(response: Any, path: str, method: str = "get") -> Any:
    """Check one real response against the document; return its decoded body."""
    operation = SPEC["paths"][path][method]
    status = str(response.status)
    body_text = await response.text()
    assert status in operation["responses"], (
        f"{method.upper()} {path} answered {status}, which the document does not list: "
        f"{body_text[:500]}"
    )
    documented = _resolve(operation["responses"][status])
    for name, raw_header in documented.get("headers", {}).items():
        header = _resolve(raw_header)
        value = response.headers.get(name)
        if value is None:
            assert not header.get("required"), f"{method} {path} {status}: no {name} header"
            continue
        try:
            OAS31Validator(header["schema"], format_checker=OAS31Validator.FORMAT_CHECKER).validate(
                value
            )
        except SchemaError as exc:
            pytest.fail(f"{method} {path} {status}: header {name}={value!r}: {exc.message}")
    if "content" not in documented:  # 204
        assert body_text == "", f"{method} {path} {status}: a body where none is documented"
        return None
    media = response.content_type
    assert media in documented["content"], (
        f"{method} {path} {status}: content type {media}, documented {list(documented['content'])}"
    )
    if media != "application/json":
        return body_text
    body = json.loads(body_text)
    # Point at the schema where it is written (through a $ref'd response if there is one).
    response_ref = operation["responses"][status].get("$ref")
    base = (
        response_ref.removeprefix("#/")
        if response_ref
        else _pointer("paths", path, method, "responses", status)
    )
    try:
        _validate(body, f"{base}/content/{_pointer(media)}/schema")
    except SchemaError as exc:
        pytest.fail(
            f"{method.upper()} {path} {status}: body does not match the document at "
            f"{'/'.join(str(p) for p in exc.absolute_path) or '(root)'}: {exc.message}\n"
            f"body: {body_text[:1000]}"
        )
    return body


def _valid_new_payment(body: Any) -> bool:
    try:
        _validate(body, "components/schemas/NewPayment")
    except SchemaError:
        return False
    return True


@pytest.fixture
def settings(backend: Backend) -> Settings:
    """Patient AWS timeouts: on a loaded machine a slow emulator must not turn into the 503s
    the fuzz test counts as server errors (the outage test below sets its own)."""
    return fresh_settings(
        backend,
        aws_timeout_seconds=10.0,
        aws_max_attempts=3,
        dynamodb_retry_seconds=8.0,
        webhook_key="openapi-tests",
    )


@pytest.fixture
def keyed(keyed_api: KeyedApi) -> TestClient[Any, Any]:
    """The client of the app with API keys on; it sends a valid key by default."""
    return keyed_api.client


# --- the document itself -------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1() -> None:
    validate_spec(SPEC)
    assert SPEC["openapi"].startswith("3.1.")


def test_the_currency_enum_is_the_one_the_code_accepts() -> None:
    assert set(SPEC["components"]["schemas"]["Currency"]["enum"]) == ISO_4217


def _descriptions(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [
            text
            for key, value in node.items()
            for text in ([value] if key == "description" and isinstance(value, str) else [])
            + _descriptions(value)
        ]
    if isinstance(node, list):
        return [text for value in node for text in _descriptions(value)]
    return []


def test_the_decline_reasons_are_the_ones_the_rules_give() -> None:
    """Named once, as the enum a payment's decline_reason refers to; no prose lists them."""
    schemas = SPEC["components"]["schemas"]
    assert schemas["DeclineReason"]["enum"] == [reason.value for reason in DeclineReason]
    field = schemas["Payment"]["properties"]["decline_reason"]
    assert {"$ref": "#/components/schemas/DeclineReason"} in field["anyOf"]
    prose = " ".join(_descriptions(SPEC))
    assert not [reason.value for reason in DeclineReason if reason.value in prose]


def test_security_covers_exactly_the_payment_and_stats_routes() -> None:
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            secured = operation.get("security", SPEC.get("security", [])) != []
            assert secured == ((path, method) in SECURED), (path, method)


@pytest.mark.parametrize("unit", [0, 3])
def test_the_minor_unit_enums_are_the_code_s_table(unit: int) -> None:
    documented = SPEC["components"]["schemas"][f"CurrencyMinorUnit{unit}"]["enum"]
    assert set(documented) == {code for code, u in MINOR_UNITS.items() if u == unit}


@pytest.mark.parametrize("currency", ["JPY", "BRL", "KWD"])
def test_the_amount_patterns_and_the_app_agree(currency: str) -> None:
    """The hand-written amount patterns against the app's own check, over a grid of decimal
    texts: whole part, then none or a fraction (trailing zeros, one digit too many, ...)."""
    wholes = ["", "0", "00", "7", "999999", "1000000", "1000001"]
    fractions = ["", "0", "00", "000", "0000", "5", "05", "005", "0005", "50", "500", "5000"]
    fractions += ["010", "001", "0010", "12", "123", "1230", "1234"]
    max_amount = Settings.from_env({}).max_amount
    disagree = []
    for text in [*wholes, *(f"{w}.{f}" for w in wholes for f in fractions)]:
        body = {"amount": text, "currency": currency}
        try:
            parse_new_payment(body, max_amount=max_amount)
        except errors.ValidationError:
            accepted = False
        else:
            accepted = True
        if _valid_new_payment(body) is not accepted:
            disagree.append((text, accepted))
    assert disagree == []


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"amount": "12.50", "currency": "BRL"}, True),
        ({"amount": "0.01", "currency": "USD", "description": "x" * DESCRIPTION_MAX_BYTES}, True),
        ({"amount": "1000000.00", "currency": "EUR"}, True),
        ({"amount": 5, "currency": "EUR"}, True),
        ({"amount": "12.500", "currency": "BRL"}, True),
        ({"amount": "1000", "currency": "JPY"}, True),
        ({"amount": "1000.00", "currency": "JPY"}, True),
        ({"amount": 1000, "currency": "JPY"}, True),
        ({"amount": "1000000", "currency": "JPY"}, True),
        ({"amount": "1.005", "currency": "KWD"}, True),
        ({"amount": ".001", "currency": "KWD"}, True),
        ({"amount": "1000000.000", "currency": "KWD"}, True),
        ({"amount": 12.5, "currency": "JPY"}, False),
        ({"amount": "0.50", "currency": "JPY"}, False),
        ({"amount": "1.0005", "currency": "KWD"}, False),
        ({"amount": "1000000.001", "currency": "KWD"}, False),
        ({"amount": ".5", "currency": "BRL"}, True),
        ({"amount": "0", "currency": "BRL"}, False),
        ({"amount": "0.00", "currency": "BRL"}, False),
        ({"amount": "-1", "currency": "BRL"}, False),
        ({"amount": "1.001", "currency": "BRL"}, False),
        ({"amount": "1000000.01", "currency": "BRL"}, False),
        ({"amount": 0, "currency": "BRL"}, False),
        ({"amount": 1.001, "currency": "BRL"}, False),
        ({"amount": True, "currency": "BRL"}, False),
        ({"amount": None, "currency": "BRL"}, False),
        ({"amount": "1", "currency": "brl"}, False),
        ({"amount": "1", "currency": "XYZ"}, False),
        (
            {"amount": "1", "currency": "BRL", "description": "x" * (DESCRIPTION_MAX_BYTES + 1)},
            False,
        ),
        ({"amount": "1", "currency": "BRL", "description": None}, False),
        ({"amount": "1", "currency": "BRL", "extra": 1}, False),
        ({"currency": "BRL"}, False),
        ({"amount": "1"}, False),
        ([], False),
    ],
)
async def test_the_request_schema_and_the_app_agree(
    keyed: TestClient[Any, Any], body: Any, valid: bool
) -> None:
    assert _valid_new_payment(body) is valid
    response = await keyed.post("/payments", json=body)
    await conform(response, "/payments", "post")
    assert response.status == (202 if valid else 422)


async def test_a_description_over_its_bytes_is_a_documented_422(
    keyed: TestClient[Any, Any],
) -> None:
    """JSON Schema counts characters, the API bytes (what DynamoDB bills): a description of
    few multi-byte characters passes the schema's ``maxLength`` and is refused by its byte
    limit, a 422 naming the field (excused in the fuzzing by schemathesis_hooks)."""
    schemas, parameters = SPEC["components"]["schemas"], SPEC["components"]["parameters"]
    assert schemas["NewPayment"]["properties"]["description"]["maxLength"] == (
        DESCRIPTION_MAX_BYTES
    )
    assert parameters["Idempotency-Key"]["schema"]["maxLength"] == IDEMPOTENCY_KEY_MAX_BYTES
    assert f"{{0,{MERCHANT_ID_MAX_BYTES - 1}}}" in schemas["MerchantId"]["pattern"]
    description = "\N{GRINNING FACE}" * DESCRIPTION_MAX_BYTES
    body = {"amount": "1", "currency": "BRL", "description": description}
    assert _valid_new_payment(body)
    response = await keyed.post("/payments", json=body)
    await conform(response, "/payments", "post")
    assert response.status == 422
    [field] = (await response.json())["error"]["fields"]
    assert field == {
        "field": "description",
        "message": f"must be at most {DESCRIPTION_MAX_BYTES} bytes in UTF-8 "
        f"(got {4 * DESCRIPTION_MAX_BYTES:,})",
    }


# --- POST /payments ------------------------------------------------------------------------


async def test_create_and_read_conform(keyed: TestClient[Any, Any]) -> None:
    created = await keyed.post("/payments", json=BODY, headers={"X-Request-ID": "req-oa-1"})
    assert created.status == 202
    payment = await conform(created, "/payments", "post")
    assert created.headers["X-Request-ID"] == "req-oa-1"
    assert "Idempotent-Replayed" not in created.headers

    read = await keyed.get(created.headers["Location"])
    assert read.status == 200
    assert await conform(read, "/payments/{payment_id}") == payment


async def test_replay_and_key_reuse_conform(keyed: TestClient[Any, Any]) -> None:
    key = {"Idempotency-Key": f"oa-{uuid.uuid4()}"}
    first = await keyed.post("/payments", json=BODY, headers=key)
    replay = await keyed.post("/payments", json=BODY, headers=key)
    assert (first.status, replay.status) == (202, 202)
    assert await conform(replay, "/payments", "post") == await conform(first, "/payments", "post")
    assert replay.headers["Idempotent-Replayed"] == "true"

    reused = await keyed.post("/payments", json={**BODY, "amount": "13.00"}, headers=key)
    assert reused.status == 422
    assert (await conform(reused, "/payments", "post"))["error"]["code"] == (
        "idempotency_key_reused"
    )


async def test_key_in_progress_conforms(api: TestClient[Any, Any], resources: Resources) -> None:
    new = parse_new_payment(BODY, max_amount=resources.clients.settings.max_amount)
    await resources.service.idempotency.claim(
        "default:oa-held", fingerprint(new), new_payment_id(), utcnow()
    )
    response = await api.post("/payments", json=BODY, headers={"Idempotency-Key": "oa-held"})
    assert response.status == 409
    await conform(response, "/payments", "post")


@pytest.mark.parametrize(
    ("data", "headers", "status"),
    [
        ('{"amount": "1", ', {"Content-Type": "application/json"}, 400),
        ('{"amount": NaN, "currency": "BRL"}', {"Content-Type": "application/json"}, 400),
        (json.dumps(BODY), {"Content-Type": "application/json", "Idempotency-Key": "k" * 256}, 400),
        (json.dumps(BODY), {"Content-Type": "text/plain"}, 415),
        (json.dumps(BODY), {}, 415),
        ("x" * 20_000, {"Content-Type": "application/json"}, 413),
        ('{"amount": "-3", "currency": "bitcoin"}', {"Content-Type": "application/json"}, 422),
    ],
)
async def test_client_mistakes_conform(
    keyed: TestClient[Any, Any], data: str, headers: dict[str, str], status: int
) -> None:
    response = await keyed.post("/payments", data=data, headers=headers)
    assert response.status == status
    await conform(response, "/payments", "post")


async def test_text_that_is_not_unicode_is_a_client_error(keyed: TestClient[Any, Any]) -> None:
    # JSON can spell a lone UTF-16 surrogate (\ud800); it is no Unicode text, cannot be
    # stored, and is the client's mistake: a documented 4xx, never a 5xx.
    body = '{"amount": "1", "currency": "BRL", "description": "\\ud800"}'
    response = await keyed.post(
        "/payments", data=body, headers={"Content-Type": "application/json"}
    )
    await conform(response, "/payments", "post")
    assert response.status in (400, 422)


# --- the other routes ----------------------------------------------------------------------


async def test_list_conforms_newest_first(keyed: TestClient[Any, Any]) -> None:
    ids = []
    for amount in ("1.00", "2.00", "3.00"):
        created = await keyed.post("/payments", json={"amount": amount, "currency": "USD"})
        ids.append((await created.json())["id"])
    listed = await keyed.get("/payments")
    assert listed.status == 200
    payments = (await conform(listed, "/payments"))["payments"]
    assert [p["id"] for p in payments] == ids[::-1]

    one = await keyed.get("/payments", params={"limit": "1"})
    assert [p["id"] for p in (await conform(one, "/payments"))["payments"]] == ids[-1:]
    hundred = await keyed.get("/payments", params={"limit": "100"})
    assert len((await conform(hundred, "/payments"))["payments"]) == 3


@pytest.mark.parametrize("limit", ["0", "101", "abc", "", "-1", "1.5", "²"])
async def test_a_bad_limit_is_a_400(keyed: TestClient[Any, Any], limit: str) -> None:
    response = await keyed.get("/payments", params={"limit": limit})
    assert response.status == 400
    await conform(response, "/payments")


@pytest.mark.parametrize("payment_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_unknown_payment_conforms(keyed: TestClient[Any, Any], payment_id: str) -> None:
    response = await keyed.get(f"/payments/{payment_id}")
    assert response.status == 404
    await conform(response, "/payments/{payment_id}")


async def test_stats_conform(keyed: TestClient[Any, Any], resources: Resources) -> None:
    before = await conform(await keyed.get("/stats"), "/stats")
    await keyed.post("/payments", json=BODY)
    await settle_counts(resources)  # what the worker's rollup does every few seconds
    # /stats is cached for PAYSYS_STATS_CACHE_SECONDS (2 s): the count shows within it.
    async with asyncio.timeout(10):
        while True:
            after = await keyed.get("/stats")
            assert after.status == 200
            stats = await conform(after, "/stats")
            if stats["payments"]["Pending"] == before["payments"]["Pending"] + 1:
                break
            await asyncio.sleep(0.2)
    assert "queue" not in stats  # a merchant's view: the platform's queues are not its own


async def test_open_routes_conform_without_a_key(keyed: TestClient[Any, Any]) -> None:
    bare = {"Authorization": ""}
    assert (await conform(await keyed.get("/healthz", headers=bare), "/healthz")) == {
        "status": "ok"
    }
    ready = await keyed.get("/readyz", headers=bare)
    assert ready.status == 200
    await conform(ready, "/readyz")
    metrics = await keyed.get("/metrics", headers=bare)
    assert metrics.status == 200
    assert "paysys_http_requests_total" in await conform(metrics, "/metrics")
    served = await keyed.get("/openapi.json", headers=bare)
    assert served.status == 200
    assert await conform(served, "/openapi.json") == SPEC
    for path in ("/docs", "/"):
        page = await keyed.get(path, headers=bare)
        assert page.status == 200, path
        assert "<html" in (await conform(page, path)).lower()


@pytest.mark.parametrize("authorization", [None, "", "Bearer wrong", "Basic abc", "Bearer"])
@pytest.mark.parametrize(
    ("method", "path", "url"),
    [
        ("post", "/payments", "/payments"),
        ("get", "/payments", "/payments"),
        ("get", "/payments/{payment_id}", f"/payments/{uuid.uuid4()}"),
        ("post", "/payments/{payment_id}/cancel", f"/payments/{uuid.uuid4()}/cancel"),
        ("get", "/stats", "/stats"),
    ],
)
async def test_secured_routes_need_a_key(
    keyed: TestClient[Any, Any], method: str, path: str, url: str, authorization: str | None
) -> None:
    # The test client sends the valid key by default: replace it, or use a bare session.
    body = BODY if method == "post" else None
    if authorization is None:
        async with (
            aiohttp.ClientSession() as bare,
            bare.request(method, keyed.make_url(url), json=body) as response,
        ):
            assert "Authorization" not in response.request_info.headers
            assert response.status == 401
            await conform(response, path, method)
    else:
        response = await keyed.request(
            method, url, json=body, headers={"Authorization": authorization}
        )
        assert response.status == 401
        await conform(response, path, method)


async def test_unknown_routes_and_methods_have_the_error_shape(
    keyed: TestClient[Any, Any],
) -> None:
    for response, status in [
        (await keyed.get("/nothing-here"), 404),
        (await keyed.delete("/payments"), 405),
        (await keyed.put("/stats"), 405),
    ]:
        assert response.status == status
        assert response.headers.get("X-Request-ID")
        _validate(await response.json(), "components/schemas/Error")


async def test_outage_answers_conform(down_api: TestClient[Any, Any]) -> None:
    calls = [
        ("post", "/payments", "/payments"),
        ("get", "/payments", "/payments"),
        ("get", "/payments/{payment_id}", f"/payments/{uuid.uuid4()}"),
        ("post", "/payments/{payment_id}/cancel", f"/payments/{uuid.uuid4()}/cancel"),
        ("get", "/stats", "/stats"),
        ("get", "/readyz", "/readyz"),
    ]
    for method, path, url in calls:
        response = await down_api.request(method, url, json=BODY if method == "post" else None)
        assert response.status == 503, (method, url)
        await conform(response, path, method)


@pytest.fixture
async def slow(settings: Settings, resources: Resources) -> AsyncIterator[TestClient[Any, Any]]:
    """The app with a short body deadline (0.3 s)."""
    async with serving(make_app(settings, resources, http_body_timeout_seconds=0.3)) as client:
        yield client


async def trickle() -> AsyncIterator[bytes]:
    """A body whose client stalls mid-way, past the server's body deadline."""
    yield b'{"amount": "1.00",'
    await asyncio.sleep(1.5)
    yield b' "currency": "BRL"}'


async def test_every_documented_response_can_be_provoked(
    api: TestClient[Any, Any],
    keyed: TestClient[Any, Any],
    down_api: TestClient[Any, Any],
    slow: TestClient[Any, Any],
    resources: Resources,
) -> None:
    """Each (path, method, status) the document lists is provoked here, and conforms."""
    new = parse_new_payment(BODY, max_amount=resources.clients.settings.max_amount)
    await resources.service.idempotency.claim(
        "default:held", fingerprint(new), new_payment_id(), utcnow()
    )
    payment = (await (await keyed.post("/payments", json=BODY)).json())["id"]
    approved = (await (await keyed.post("/payments", json=BODY)).json())["id"]
    await resources.service.decide(PaymentCreated.of(await resources.payments.get(approved)))
    as_json = {"Content-Type": "application/json"}
    as_text = {"Content-Type": "text/plain"}
    wrong_key = {"headers": {"Authorization": "Bearer wrong"}}
    held = {"headers": {"Idempotency-Key": "held"}}
    one, unknown = "/payments/{payment_id}", f"/payments/{uuid.uuid4()}"
    cancel, to_cancel = "/payments/{payment_id}/cancel", f"/payments/{payment}/cancel"
    calls: list[tuple[TestClient[Any, Any], str, str, str, dict[str, Any]]] = [
        (keyed, "post", "/payments", "/payments", {"json": BODY}),
        (slow, "post", "/payments", "/payments", {"data": trickle(), "headers": as_json}),
        (keyed, "post", "/payments", "/payments", {"data": "{", "headers": as_json}),
        (keyed, "post", "/payments", "/payments", {"json": BODY, **wrong_key}),
        (api, "post", "/payments", "/payments", {"json": BODY, **held}),
        (keyed, "post", "/payments", "/payments", {"data": "x" * 20_000, "headers": as_json}),
        (keyed, "post", "/payments", "/payments", {"data": "{}", "headers": as_text}),
        (keyed, "post", "/payments", "/payments", {"json": {"amount": "-3"}}),
        (down_api, "post", "/payments", "/payments", {"json": BODY}),
        (keyed, "get", "/payments", "/payments", {}),
        (keyed, "get", "/payments", "/payments?limit=0", {}),
        (keyed, "get", "/payments", "/payments", wrong_key),
        (down_api, "get", "/payments", "/payments", {}),
        (keyed, "get", one, f"/payments/{payment}", {}),
        (keyed, "get", one, f"/payments/{payment}", wrong_key),
        (keyed, "get", one, unknown, {}),
        (down_api, "get", one, unknown, {}),
        (keyed, "post", cancel, to_cancel, {}),
        (keyed, "post", cancel, to_cancel, {}),  # canceled already: 202 again
        (keyed, "post", cancel, f"/payments/{approved}/cancel", {}),  # approved: 409
        (keyed, "post", cancel, to_cancel, wrong_key),
        (keyed, "post", cancel, f"{unknown}/cancel", {}),
        (down_api, "post", cancel, f"{unknown}/cancel", {}),
        (keyed, "get", "/stats", "/stats", {}),
        (keyed, "get", "/stats", "/stats", wrong_key),
        (down_api, "get", "/stats", "/stats", {}),
        (keyed, "get", "/stats/series", "/stats/series", {}),
        (keyed, "get", "/stats/series", "/stats/series", wrong_key),
        (down_api, "get", "/stats/series", "/stats/series", {}),
        (down_api, "get", "/readyz", "/readyz", {}),
        *await delivery_calls(keyed, down_api, resources, approved, payment),
        *await webhook_calls(keyed, api, down_api),
        *[(keyed, "get", page, page, {}) for page in SPEC["paths"] if "{" not in page],
    ]  # fmt: skip
    seen = set()
    for client, method, path, url, options in calls:
        response = await client.request(method, url, **options)
        await conform(response, path, method)
        seen.add((path, method, str(response.status)))
    documented = {
        (path, method, status)
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
        for status in operation["responses"]
    }
    assert documented - seen == set()


async def webhook_calls(
    keyed: TestClient[Any, Any], api: TestClient[Any, Any], down_api: TestClient[Any, Any]
) -> list[tuple[TestClient[Any, Any], str, str, str, dict[str, Any]]]:
    """Every documented answer of the webhook endpoint routes (the sixth registration of a
    merchant is the 409; the open app's merchant registers its own)."""
    hooks, one = "/webhook-endpoints", "/webhook-endpoints/{endpoint_id}"
    new = {"json": {"url": "https://shop.example/paysys", "event_types": ["PaymentApproved"]}}
    wrong_key = {"headers": {"Authorization": "Bearer wrong"}}
    as_json, as_text = {"Content-Type": "application/json"}, {"Content-Type": "text/plain"}
    created = await (await api.post(hooks, **new)).json()
    return [
        (api, "delete", one, f"{hooks}/{created['id']}", {}),
        *[(keyed, "post", hooks, hooks, new) for _ in range(6)],
        (keyed, "post", hooks, hooks, {"data": "{", "headers": as_json}),
        (keyed, "post", hooks, hooks, {**new, **wrong_key}),
        (keyed, "post", hooks, hooks, {"data": "x" * 20_000, "headers": as_json}),
        (keyed, "post", hooks, hooks, {"data": "{}", "headers": as_text}),
        (api, "post", hooks, hooks, {"json": {"url": "http://10.0.0.1/"}}),
        (down_api, "post", hooks, hooks, new),
        (keyed, "get", hooks, hooks, {}),
        (keyed, "get", hooks, hooks, wrong_key),
        (down_api, "get", hooks, hooks, {}),
        (keyed, "delete", one, "/webhook-endpoints/we_000000000000000000000000", {}),
        (keyed, "delete", one, "/webhook-endpoints/we_1", wrong_key),
        (down_api, "delete", one, "/webhook-endpoints/we_000000000000000000000000", {}),
    ]


async def delivery_calls(
    keyed: TestClient[Any, Any],
    down_api: TestClient[Any, Any],
    resources: Resources,
    approved: str,
    pending: str,
) -> list[tuple[TestClient[Any, Any], str, str, str, dict[str, Any]]]:
    """Every documented answer of the delivery history, retry and rotation routes (one
    attempt of the approved payment is recorded as the worker records it)."""
    created = await (
        await keyed.post("/webhook-endpoints", json={"url": "https://a.example/"})
    ).json()
    assert resources.webhooks is not None
    assert resources.webhook_history is not None
    [endpoint] = [
        e for e in await resources.webhooks.list("alice") if e.endpoint_id == created["id"]
    ]
    now = datetime.now(UTC)
    failed = DeliveryAttempt(9, now, 500, 3.0, "failed")
    await resources.webhook_history.record(approved, endpoint, "PaymentApproved", failed)
    scheduled = DeliveryAttempt(1, now, 500, 3.0, "retry", now + timedelta(minutes=1))
    await resources.webhook_history.record(pending, endpoint, "PaymentApproved", scheduled)
    listed = "/payments/{payment_id}/webhook-deliveries"
    retry, rotate = (
        "/webhook-deliveries/{delivery_id}/retry",
        "/webhook-endpoints/{endpoint_id}/rotate-secret",
    )
    delivery, nobody = delivery_id(approved, endpoint.slot), delivery_id(str(uuid.uuid4()), 0)
    busy = delivery_id(pending, endpoint.slot)
    unknown_endpoint = "/webhook-endpoints/we_000000000000000000000000/rotate-secret"
    wrong_key = {"headers": {"Authorization": "Bearer wrong"}}
    as_json, as_text = {"Content-Type": "application/json"}, {"Content-Type": "text/plain"}
    mine = f"/webhook-endpoints/{created['id']}/rotate-secret"
    return [
        (keyed, "get", listed, f"/payments/{approved}/webhook-deliveries", {}),
        (keyed, "get", listed, f"/payments/{approved}/webhook-deliveries", wrong_key),
        (keyed, "get", listed, f"/payments/{uuid.uuid4()}/webhook-deliveries", {}),
        (down_api, "get", listed, f"/payments/{uuid.uuid4()}/webhook-deliveries", {}),
        (keyed, "post", retry, f"/webhook-deliveries/{delivery}/retry", {}),
        (keyed, "post", retry, f"/webhook-deliveries/{delivery}/retry", wrong_key),
        (keyed, "post", retry, f"/webhook-deliveries/{busy}/retry", {}),
        (keyed, "post", retry, f"/webhook-deliveries/{nobody}/retry", {}),
        (down_api, "post", retry, f"/webhook-deliveries/{delivery}/retry", {}),
        (keyed, "post", rotate, mine, {}),
        (keyed, "post", rotate, mine, {"json": {"previous_secret_expires_in": 60}}),
        (keyed, "post", rotate, mine, {"data": "{", "headers": as_json}),
        (keyed, "post", rotate, mine, wrong_key),
        (keyed, "post", rotate, unknown_endpoint, {}),
        (keyed, "post", rotate, mine, {"data": "{}", "headers": as_text}),
        (keyed, "post", rotate, mine, {"json": {"previous_secret_expires_in": -1}}),
        (down_api, "post", rotate, mine, {}),
    ]  # fmt: skip


async def test_a_webhook_endpoint_is_deleted_once(keyed: TestClient[Any, Any]) -> None:
    created = await conform(
        await keyed.post("/webhook-endpoints", json={"url": "https://shop.example/a"}),
        "/webhook-endpoints",
        "post",
    )
    path, url = "/webhook-endpoints/{endpoint_id}", f"/webhook-endpoints/{created['id']}"
    assert (await keyed.delete(url)).status == 204
    assert (await conform(await keyed.delete(url), path, "delete"))["error"]["code"] == (
        "webhook_endpoint_not_found"
    )
    listed = await conform(await keyed.get("/webhook-endpoints"), "/webhook-endpoints")
    assert listed == {"webhook_endpoints": []}


# --- fuzzing -------------------------------------------------------------------------------

# Every built-in check but object_level_authorization (needs two principals) and response
# time. The seed is fixed so that CI runs are reproducible; tests/schemathesis_hooks.py excuses
# the one documented rejection of schema-valid data (an Idempotency-Key reused with another
# body is a 422).
FUZZ_CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "missing_required_header",
        "allow_header_conformance",
        "use_after_free",
        "ensure_resource_availability",
        "ignored_auth",
        "unsupported_method",
    ]
)


async def test_schemathesis_finds_no_5xx_and_no_drift(keyed_api: KeyedApi, tmp_path: Path) -> None:
    """A bounded schemathesis run against the live app on a loopback port."""
    api_key = keyed_api.key
    server = keyed_api.client.server
    base = f"http://{server.host}:{server.port}"
    env = {
        **os.environ,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / ".hypothesis"),
        "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{base}/openapi.json",
        "--url", base,
        "--checks", FUZZ_CHECKS,
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", "40",
        "--seed", "6",
        "--workers", "1",
        "--request-timeout", "10",
        "--generation-database", "none",
        "--suppress-health-check", "too_slow,filter_too_much",
        "--header", f"Authorization: Bearer {api_key}",
        "--no-color",
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(100):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        pytest.fail(f"schemathesis did not finish in time:\n{output.decode(errors='replace')}")
    text = output.decode(errors="replace").replace(api_key, "<api key>")
    print(text)  # noqa: T201 - the summary, for `pytest -rP` and for failures
    assert process.returncode == 0, f"schemathesis found problems:\n{text}"

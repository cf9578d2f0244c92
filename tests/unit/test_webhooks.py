"""Webhook rules without I/O: signatures round-trip and refuse a changed body, another secret
or an old timestamp; URLs and addresses; the retry schedule fits SQS and the queue's
retention; the per-endpoint guard and its breaker; the endpoint item's size."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from paysys.adapters.dynamodb_size import ITEM_LIMIT_BYTES, item_size, write_units
from paysys.adapters.webhook_index import index_item, slots_of
from paysys.adapters.webhook_store import ROTATED_BY, endpoint_item, endpoint_of
from paysys.cli import main
from paysys.config import Settings
from paysys.core.limits import MERCHANT_ID_MAX_BYTES, WEBHOOK_ENDPOINTS_MAX, WEBHOOK_URL_MAX_BYTES
from paysys.core.service import new_token
from paysys.core.webhook_signing import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    sign,
    verify,
)
from paysys.core.webhooks import (
    EVENT_TYPES,
    ROTATION_OVERLAPS,
    WebhookEndpoint,
    address_problem,
    derive_secret,
    new_endpoint_id,
    new_salt,
    parse_new_endpoint,
    retry_delay,
    url_problem,
)
from paysys.errors import ConfigError, ValidationError
from paysys.ops.webhooks.command import receiver
from paysys.worker.webhook_guard import EndpointGuard

BODY = b'{"type":"PaymentApproved","payment_id":"p"}'


def test_a_signature_round_trips() -> None:
    header = sign("whsec_a", BODY, timestamp=1_000)
    assert verify("whsec_a", header, BODY, now=1_010) == 1_000


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [("whsec_a", BODY + b" ", 1_000), ("whsec_b", BODY, 1_000), ("whsec_a", BODY, 1_301)],
    ids=["changed body", "other secret", "old timestamp"],
)
def test_a_signature_refuses(secret: str, body: bytes, now: int) -> None:
    with pytest.raises(SignatureError):
        verify(secret, sign("whsec_a", BODY, timestamp=1_000), body, now=now)


def test_during_a_rotation_either_secret_verifies() -> None:
    header = sign(["whsec_old", "whsec_new"], BODY, timestamp=5)
    assert verify("whsec_old", header, BODY, now=5) == verify("whsec_new", header, BODY, now=5)


@pytest.mark.parametrize("header", ["", "t=1", "v1=ab", "t=x,v1=ab"])
def test_a_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(SignatureError):
        verify("whsec_a", header, BODY, now=1)


def test_the_secret_is_derived_the_same_everywhere_and_differs_per_endpoint() -> None:
    salt = new_salt()
    assert derive_secret("k", "we_1", salt) == derive_secret("k", "we_1", salt)
    assert derive_secret("k", "we_1", salt) != derive_secret("k", "we_2", salt)
    assert derive_secret("k", "we_1", salt) != derive_secret("other", "we_1", salt)
    assert len(derive_secret("k", "we_1", salt)) == len("whsec_") + 43


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example/hook",  # http outside local mode
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://localhost/hook",
        "https://user:pw@shop.example/hook",
        "ftp://shop.example/hook",
        "https://shop.example/" + "a" * WEBHOOK_URL_MAX_BYTES,
        "https://shöp.example/hook",
        "https://" + "a" * 64 + ".example/hook",
        "https://shop..example/hook",
    ],
)
def test_strict_mode_refuses(url: str) -> None:
    assert url_problem(url, "strict") is not None


def test_local_mode_allows_http_and_loopback() -> None:
    assert url_problem("http://127.0.0.1:9000/hook", "local") is None
    assert url_problem("https://shop.example/hook", "strict") is None


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(address, "strict") is None


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                "fd00:ec2::254", "::1", "fe80::1", "0.0.0.0", "100.64.0.1"],  # noqa: S104
)  # fmt: skip
def test_internal_addresses_are_refused(address: str) -> None:
    assert address_problem(address, "strict") is not None
    assert address_problem(address, "local") is None


def test_a_registration_reports_every_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_new_endpoint({"url": "http://x", "event_types": ["Nope"], "extra": 1}, "strict")
    assert {e.field for e in caught.value.errors} == {"url", "event_types", "extra"}
    new = parse_new_endpoint({"url": "https://shop.example/h"}, "strict")
    assert new.event_types == EVENT_TYPES


def test_retry_delays_grow_then_stay_at_the_cap() -> None:
    rng = random.Random(1)  # noqa: S311 - a seeded draw, not a secret
    delays = [retry_delay(n, 60, 43_200, rng) for n in range(1, 20)]
    assert 45 <= delays[0] <= 60
    assert all(d <= 43_200 for d in delays)
    assert delays[8] > delays[4] > delays[0]
    assert all(d >= 43_200 * 0.75 for d in delays[12:])


def test_the_default_schedule_ends_within_the_queue_s_retention() -> None:
    s = Settings()
    assert s.webhook_retention_seconds >= s.webhook_retry_window_seconds + 43_200
    assert s.webhook_retention_seconds <= 14 * 86_400
    total, attempts = 0, 0
    while total <= s.webhook_retry_window_seconds:
        attempts += 1
        total += retry_delay(attempts, s.webhook_retry_base_seconds, s.webhook_retry_max_seconds)
    assert 12 <= attempts <= 20  # about 3 days of attempts


def test_a_retry_delay_beyond_sqs_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Settings().replace(webhook_retry_max_seconds=50_000)


def test_the_guard_limits_concurrency_and_breaks_after_failures() -> None:
    now = [0.0]
    guard = EndpointGuard(concurrency=1, failures=2, open_seconds=30, clock=lambda: now[0])
    assert guard.enter("a") is None
    assert guard.enter("a") is not None  # at its limit
    assert guard.enter("b") is None  # another endpoint is not
    guard.leave("a", ok=False)
    assert guard.enter("a") is None
    guard.leave("a", ok=False)  # second failure in a row: open
    assert guard.enter("a") == 30
    now[0] = 31.0
    assert guard.enter("a") is None  # half open: one trial
    assert guard.enter("a") is not None
    guard.leave("a", ok=True)
    assert not guard.is_open("a")


def test_the_largest_endpoint_item_fits_one_write_unit() -> None:
    endpoint = WebhookEndpoint(
        endpoint_id=new_endpoint_id(),
        merchant_id="m" * MERCHANT_ID_MAX_BYTES,
        url="https://" + "a" * (WEBHOOK_URL_MAX_BYTES - len("https://")),
        event_types=EVENT_TYPES,
        salt=new_salt(),
        created_at=datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        slot=WEBHOOK_ENDPOINTS_MAX - 1,
        previous=((new_salt(), 253_402_300_799),) * ROTATION_OVERLAPS,  # rotated: the largest
    )
    item = endpoint_item(endpoint, WEBHOOK_ENDPOINTS_MAX - 1, new_token())
    item[ROTATED_BY] = new_token()
    assert item_size(item) <= ITEM_LIMIT_BYTES - 64
    assert endpoint_of(item) == endpoint


def test_the_largest_index_item_fits_one_write_unit() -> None:
    item = index_item("m" * MERCHANT_ID_MAX_BYTES, range(WEBHOOK_ENDPOINTS_MAX))
    assert item_size(item) <= 128  # a small fraction of ITEM_LIMIT_BYTES
    assert write_units(item_size(item)) == 1
    assert slots_of(item) == set(range(WEBHOOK_ENDPOINTS_MAX))
    assert slots_of(index_item("m", [])) == set()


def test_the_verify_command_says_valid_or_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(BODY)
    header = sign("whsec_a", BODY)
    command = ["webhooks", "verify", "--secret", "whsec_a", "--header", header, "--body"]
    assert main([*command, str(body)], {}) == 0
    assert capsys.readouterr().out.startswith("valid")
    body.write_bytes(BODY + b"\n")
    assert main([*command, str(body)], {}) == 1
    assert "no v1 signature matches" in capsys.readouterr().out


async def test_the_listener_answers_200_and_prints_the_verdict() -> None:
    lines: list[str] = []
    async with TestClient(TestServer(receiver("whsec_a", lines))) as client:
        headers = {SIGNATURE_HEADER: sign("whsec_a", BODY), EVENT_ID_HEADER: "p.PaymentApproved"}
        response = await client.post("/hook", data=BODY, headers=headers)
        assert response.status == 200
        await client.post("/hook", data=BODY, headers={SIGNATURE_HEADER: "t=1,v1=00"})
    assert "event=p.PaymentApproved signature=valid" in lines[0]
    assert "signature=invalid" in lines[1]

"""`paysys iam-policy --role R` covers every AWS operation the role really performs.

The system test runs provision, the API, the worker (with its reconciler) and the dlq
commands as real processes, each recording its AWS calls (PAYSYS_AWS_CALL_LOG), drives every
route, then checks each recorded call, resource included, against the policy the CLI prints.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from paysys.api.auth import new_key
from paysys.cli import main
from paysys.config import Settings
from paysys.core.domain import NewPayment, Payment, PaymentCreated, utcnow
from paysys.errors import ConfigError
from paysys.local.emulator import free_port
from paysys.local.procs import wait_ready
from paysys.observability.call_log import Call, read_calls
from paysys.ops.iam import actions, allows, arn, iam_action, policy, uncovered
from paysys.runtime.resources import open_resources

from ..backends import Backend
from ..conftest import fresh_settings, wait_for_status
from ..processes import role_env, run_paysys, start_role

# --- the declaration ------------------------------------------------------------------------


def test_queries_are_granted_on_the_index_only() -> None:
    settings = Settings()
    table = arn(settings, "dynamodb", "table/paysys-payments")
    for role in ("api", "worker"):
        document = policy(role, settings)
        assert allows(document, "dynamodb:Query", f"{table}/index/merchant-created"), role
        assert not allows(document, "dynamodb:Query", table), role


def test_the_internet_facing_api_cannot_create_or_consume() -> None:
    for action in ("dynamodb:CreateTable", "sns:Subscribe", "sqs:ReceiveMessage", "sqs:Delete"):
        assert action not in actions("api")
    assert not {a for a in actions("worker") if a.startswith("sqs:Create")}
    assert "dynamodb:CreateTable" not in actions("worker")


def test_configured_arns_and_urls_replace_lookups_and_name_the_account() -> None:
    settings = Settings(
        aws_region="eu-west-1",
        topic_arn="arn:aws:sns:eu-west-1:111122223333:events",
        queue_url="https://sqs.eu-west-1.amazonaws.com/111122223333/created",
        dlq_url="https://sqs.eu-west-1.amazonaws.com/111122223333/created-dlq",
        aws_account_id="444455556666",
    )
    document = policy("api", settings)
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert document["Version"] == "2012-10-17"
    assert "Any" not in statements  # no sns:ListTopics
    assert "sqs:GetQueueUrl" not in statements["Queue"]["Action"] + statements["Dlq"]["Action"]
    assert statements["Topic"]["Resource"] == [settings.topic_arn]
    assert statements["Queue"]["Resource"] == ["arn:aws:sqs:eu-west-1:111122223333:created"]
    assert statements["Table"]["Resource"] == [
        "arn:aws:dynamodb:eu-west-1:444455556666:table/paysys-payments"
    ]
    assert policy("api", Settings())["Statement"][-1] == {
        "Sid": "Any",
        "Effect": "Allow",
        "Action": ["sns:ListTopics"],
        "Resource": ["*"],
    }


def test_batch_calls_need_their_single_action() -> None:
    assert iam_action("sns:PublishBatch") == "sns:Publish"
    assert iam_action("sqs:DeleteMessageBatch") == "sqs:DeleteMessage"
    assert iam_action("sqs:ChangeMessageVisibilityBatch") == "sqs:ChangeMessageVisibility"
    assert iam_action("dynamodb:Query") == "dynamodb:Query"


def test_the_cli_prints_the_policy_and_wants_a_role(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"PAYSYS_TABLE_NAME": "t1", "PAYSYS_AWS_ACCOUNT_ID": "123456789012"}
    assert main(["iam-policy", "--role", "worker"], env) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == policy("worker", Settings.from_env(env))
    assert main(["iam-policy"], {}) == 2
    assert "--role {api,worker,provision}" in capsys.readouterr().err  # its own flag
    assert main(["--role", "provision"], {}) == 2  # a policy role, not one to serve
    with pytest.raises(ConfigError, match="AWS_ACCOUNT_ID must be 12 digits"):
        Settings.from_env({"PAYSYS_AWS_ACCOUNT_ID": "12345"})


# --- the system test ------------------------------------------------------------------------


async def _drive_the_api(base: str, key: str) -> list[str]:
    """Every route, with and without an Idempotency-Key (and its replay)."""
    auth = {"Authorization": f"Bearer {key}"}
    body = {"amount": "3.50", "currency": "BRL"}
    async with aiohttp.ClientSession(headers=auth) as http:
        ids = []
        for headers in ({}, {"Idempotency-Key": "iam-1"}, {"Idempotency-Key": "iam-1"}):
            async with http.post(f"{base}/payments", json=body, headers=headers) as response:
                assert response.status == 202, await response.text()
                ids.append((await response.json())["id"])
        assert ids[1] == ids[2]
        for path in (f"/payments/{ids[0]}", "/payments?limit=5", "/stats", "/readyz", "/metrics"):
            async with http.get(f"{base}{path}") as response:
                assert response.status == 200, path
        for payment_id in ids[:2]:
            await wait_for_status(http, f"{base}/payments/{payment_id}", "Approved")
    return ids


async def test_every_recorded_call_is_in_its_roles_policy(backend: Backend, tmp_path: Path) -> None:
    settings = fresh_settings(backend, reconcile_after_seconds=0, reconcile_interval_seconds=0.5)
    logs = {name: tmp_path / f"{name}.calls" for name in ("provision", "api", "worker", "dlq")}
    env = role_env(settings)

    def logged(name: str, **extra: object) -> dict[str, str]:
        return role_env(settings, aws_call_log=logs[name], **extra)

    for _ in range(2):  # the second run takes the "everything exists" paths
        assert (await run_paysys(logged("provision"), "provision"))[0] == 0
    async with open_resources(settings) as resources:
        # Stored Pending with no event: only the reconciler can get it approved. Due at once
        # (the window is 0) and young: a claim that fails under load backs off by the
        # payment's age, so an old one would wait minutes for its next try.
        stale = Payment.create(
            NewPayment(Decimal("1.00"), "USD", ""),
            utcnow() - timedelta(seconds=1),
            correlation_id="iam-stale",
        )
        assert await resources.payments.add(stale)
        ghost = PaymentCreated.of(
            Payment.create(NewPayment(Decimal(1), "BRL", ""), utcnow(), correlation_id="")
        )
        for body in ("not an event", ghost.to_message()):  # `dlq list` looks the ghost up
            await resources.clients.sqs.send_message(
                QueueUrl=resources.dlq.queue_url, MessageBody=body
            )

    key, digest = new_key()
    api_port, worker_port = free_port(), free_port()
    api = await start_role(
        "api", logged("api", api_port=api_port, auth="required", api_keys=digest)
    )
    velocity = '{"velocity": {"payments_per_minute": 1000}}'  # its takes are transactions
    worker = await start_role("worker", logged("worker", worker_port=worker_port, rules=velocity))
    base = f"http://127.0.0.1:{api_port}"
    try:
        await wait_ready(f"{base}/healthz")
        await wait_ready(f"http://127.0.0.1:{worker_port}/readyz")
        await _drive_the_api(base, key)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
            url = f"{base}/payments/{stale.id}"
            await wait_for_status(http, url, "Approved")
    finally:
        codes = [(await role.stop())[0] for role in (api, worker)]
    assert codes == [0, 0]
    for command in (("dlq", "list"), ("dlq", "redrive")):
        assert (await run_paysys(logged("dlq"), *command))[0] == 0

    calls = {name: read_calls(path) for name, path in logs.items()}
    # The recorder saw what each role is for (and names resources as the policy does).
    listing = f"table/{settings.table_name}/index/merchant-created"
    assert Call("dynamodb:Query", listing) in calls["api"]
    pending = f"table/{settings.table_name}/index/pending-due"
    assert Call("dynamodb:Query", pending) in calls["worker"]
    assert Call("dynamodb:BatchGetItem", f"table/{settings.table_name}") in calls["api"]
    assert Call("sns:PublishBatch", settings.topic_name) in calls["api"]
    take = Call("dynamodb:TransactWriteItems", f"table/{settings.table_name}")
    assert take in calls["worker"]
    assert Call("dynamodb:PutItem", f"table/{settings.idempotency_table_name}") in calls["api"]
    assert Call("sqs:DeleteMessageBatch", settings.queue_name) in calls["worker"]
    assert Call("sns:PublishBatch", settings.topic_name) in calls["worker"]  # the reconciler
    # webhook delivery runs without a key too (it drains events nobody subscribed to)
    assert Call("sqs:ReceiveMessage", settings.webhook_queue_name) in calls["worker"]
    assert Call("dynamodb:CreateTable", f"table/{settings.table_name}") in calls["provision"]
    assert Call("sns:SetSubscriptionAttributes", "*") in calls["provision"]
    assert Call("sqs:SendMessageBatch", settings.queue_name) in calls["dlq"]
    assert Call("dynamodb:GetItem", f"table/{settings.table_name}") in calls["dlq"]

    for name, role in (("api", "api"), ("worker", "worker"), ("provision", "provision")):
        printed = await _printed_policy(env, role)
        recorded = calls[name] | (calls["dlq"] if role == "provision" else set())
        assert uncovered(printed, settings, recorded) == [], f"{role}: not in its policy"


async def _printed_policy(env: dict[str, str], role: str) -> dict[str, Any]:
    code, out = await run_paysys(env, "iam-policy", "--role", role)
    assert code == 0
    document: dict[str, Any] = json.loads(out)
    return document


def test_a_policy_missing_an_action_is_caught() -> None:
    settings = Settings()
    document = policy("worker", settings)
    calls = {Call("sqs:DeleteMessageBatch", "paysys-payment-created"), Call("sns:ListTopics", "*")}
    assert uncovered(document, settings, calls) == []
    assert uncovered(document, settings, {Call("sqs:DeleteMessageBatch", "other-queue")}) == [
        "sqs:DeleteMessageBatch other-queue"
    ]
    assert uncovered(policy("api", settings), settings, calls) == [
        "sqs:DeleteMessageBatch paysys-payment-created"
    ]

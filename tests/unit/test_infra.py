"""The resource model and the CloudFormation template rendered from it: the committed
deploy/aws/paysys.yaml is what the code generates, and says what the model and the IAM
grants say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from paysys.adapters.dynamodb_items import INDEXES
from paysys.adapters.idempotency import TTL_ATTRIBUTE
from paysys.cli import main
from paysys.config import Settings
from paysys.ops.iam import ROLES, policy
from paysys.ops.infra import yaml_text
from paysys.ops.infra.cloudformation import render, template
from paysys.ops.infra.model import KEDA_OPERATOR, describe

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "deploy" / "aws" / "paysys.yaml"
STACK_OUTPUTS = ROOT / "deploy" / "aws" / "stack-outputs.env"


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return template(Settings())


def test_the_committed_template_is_what_the_code_generates() -> None:
    assert COMMITTED.read_text() == render(Settings()), (
        "regenerate: paysys infra cloudformation > deploy/aws/paysys.yaml"
    )


def test_the_cli_prints_the_template(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infra", "cloudformation"], {}) == 0
    assert capsys.readouterr().out == render(Settings())
    assert main(["infra"], {}) == 2


def test_the_yaml_reads_back_as_the_template(stack: dict[str, Any]) -> None:
    assert yaml.safe_load(render(Settings())) == stack


@pytest.mark.parametrize(
    "value",
    [
        "yes",
        "No",
        "null",
        "2010-09-09",
        "*",
        "a: b",
        "x #y",
        "",
        "trailing ",
        "key:",
        "${Table.Arn}/index/*",
        "two\nlines",
        "gap\n\nbetween",
        "ends\n",
        " lead\nx",
        "word " * 40,
        "one " + "x" * 120,
        12,
        True,
        None,
        [],
        {},
        [{"a": [1, {"b": "c"}]}, ["nested"]],
    ],
)
def test_yaml_text_round_trips(value: Any) -> None:
    for document in ({"k": value}, [value], {"deep": {"er": [{"k": value, "j": 1}]}}):
        text = yaml_text.dump(document)
        assert yaml.safe_load(text) == document, text
        if isinstance(value, str) and "x" * 100 not in value and not value.endswith(" "):
            assert max(len(line) for line in text.splitlines()) <= yaml_text.WIDTH, text
        assert all(line == line.rstrip() for line in text.splitlines()), text


def test_tables_keys_indexes_ttl_and_protection(stack: dict[str, Any]) -> None:
    resources = stack["Resources"]
    table = resources["Table"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["GlobalSecondaryIndexes"] == [spec.definition() for spec in INDEXES]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    idempotency = resources["IdempotencyTable"]["Properties"]
    assert idempotency["TimeToLiveSpecification"] == {
        "AttributeName": TTL_ATTRIBUTE,
        "Enabled": True,
    }
    for props in (table, idempotency):
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["DeletionProtectionEnabled"] == {"Ref": "TableDeletionProtection"}
    assert stack["Parameters"]["TableDeletionProtection"]["Default"] == "true"


def test_queues_subscription_and_policy(stack: dict[str, Any]) -> None:
    settings = Settings()
    resources = stack["Resources"]
    queue = resources["Queue"]["Properties"]
    assert queue["VisibilityTimeout"] == settings.visibility_timeout_seconds
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]},
        "maxReceiveCount": settings.max_receive_count,
    }
    assert queue["SqsManagedSseEnabled"] is True
    assert resources["Dlq"]["Properties"]["SqsManagedSseEnabled"] is True
    [statement] = resources["QueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "Topic"}}}
    assert resources["Subscription"]["Properties"]["RawMessageDelivery"] is True
    assert "FilterPolicy" not in resources["Subscription"]["Properties"]  # every event
    webhook = resources["WebhookSubscription"]["Properties"]
    assert webhook["FilterPolicyScope"] == "MessageAttributes"
    assert webhook["FilterPolicy"] == {"no_webhook_endpoint": [{"exists": False}]}


def test_each_role_has_its_grants_and_its_service_account(stack: dict[str, Any]) -> None:
    settings = Settings()
    for role in ROLES:
        props = stack["Resources"][f"{role.capitalize()}Role"]["Properties"]
        [inline] = props["Policies"]
        rendered = inline["PolicyDocument"]
        expected = policy(role, settings)
        assert [s["Sid"] for s in rendered["Statement"]] == [
            s["Sid"] for s in expected["Statement"]
        ]
        assert [s["Action"] for s in rendered["Statement"]] == [
            s["Action"] for s in expected["Statement"]
        ]
        trust = props["AssumeRolePolicyDocument"]["Fn::Sub"]
        assert f"system:serviceaccount:${{Namespace}}:paysys-{role}" in trust
        assert ("keda:keda-operator" in trust) == (role == "worker")
        assert "arn:${AWS::Partition}:iam::${AWS::AccountId}:oidc-provider/${OidcIssuer}" in trust
    assert KEDA_OPERATOR in describe(settings).roles[1].also_trusted


def test_outputs_cover_what_the_eks_overlay_reads(stack: dict[str, Any]) -> None:
    wanted = {
        line.split("=", 1)[0]
        for line in STACK_OUTPUTS.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert wanted == {"ApiRoleArn", "WorkerRoleArn", "ProvisionRoleArn", "QueueUrl"}
    assert wanted | {"TopicArn", "OutcomesTopicArn", "TableName"} == set(stack["Outputs"])

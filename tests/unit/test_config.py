"""Settings from the environment, the `paysys` CLI, and the configuration page kept true."""

from __future__ import annotations

import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from paysys.cli import main
from paysys.config import Settings
from paysys.config_docs import describe, markdown_table
from paysys.errors import ConfigError

CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "reference" / "configuration.md"


def test_defaults_serve_the_embedded_mode() -> None:
    settings = Settings.from_env({})
    assert settings.aws_endpoint_url is None  # unset = real AWS, standard credential chain
    assert settings.static_credentials is None
    assert settings.api_host == "127.0.0.1"
    assert settings.max_receive_count == 5


def test_values_are_typed() -> None:
    settings = Settings.from_env(
        {
            "PAYSYS_WORKER_LOOPS": "16",
            "PAYSYS_AWS_TIMEOUT_SECONDS": "2.5",
            "PAYSYS_MAX_AMOUNT": "50.00",
            "PAYSYS_LOG_LEVEL": "debug",
            "PAYSYS_AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
            "UNRELATED": "x",
        }
    )
    assert settings.worker_loops == 16
    assert settings.aws_timeout_seconds == 2.5
    assert settings.max_amount == Decimal("50.00")
    assert settings.log_level == "DEBUG"
    assert settings.static_credentials == ("test", "test")
    # The pool covers N long polls plus every in-flight update and the batch calls.
    assert settings.aws_pool_size > settings.worker_loops + settings.worker_max_in_flight


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"PAYSYS_WORKER_LOOPS": "many"}, "PAYSYS_WORKER_LOOPS"),
        ({"PAYSYS_WORKER_BATCH_SIZE": "11"}, "WORKER_BATCH_SIZE must be 1-10"),
        ({"PAYSYS_WORKER_WAIT_SECONDS": "21"}, "WORKER_WAIT_SECONDS"),
        ({"PAYSYS_WORKER_RECEIVE_LINGER_MS": "-1"}, "LINGER_MS must be 0-1000"),
        ({"PAYSYS_WORKER_DELETE_LINGER_MS": "5000"}, "LINGER_MS must be 0-1000"),
        ({"PAYSYS_WORKER_DELETE_MAX_LINGER_MS": "1001"}, "LINGER_MS must be 0-1000"),
        ({"PAYSYS_PUBLISH_MAX_LINGER_MS": "-1"}, "PUBLISH_MAX_LINGER_MS must be 0-1000"),
        ({"PAYSYS_LOG_FORMAT": "xml"}, "expected one of auto, json, console"),
        ({"PAYSYS_MAX_AMOUNT": "NaN"}, "finite"),
        ({"PAYSYS_AWS_ACCESS_KEY_ID": "AKIA"}, "go together"),
        ({"PAYSYS_RECONCILE_BATCH_SIZE": "0"}, "RECONCILE_BATCH_SIZE must be >= 1"),
        ({"PAYSYS_IDEMPOTENCY_LOCK_SECONDS": "90000"}, "IDEMPOTENCY_LOCK_SECONDS must be"),
    ],
)
def test_bad_values_fail_loudly(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        Settings.from_env(env)


def test_secret_never_in_repr_or_config_output(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"PAYSYS_AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "PAYSYS_AWS_SECRET_ACCESS_KEY": "s3cr3t!"}
    assert "s3cr3t!" not in repr(Settings.from_env(env))
    assert main(["config"], env) == 0
    out = capsys.readouterr().out
    assert "s3cr3t!" not in out
    assert "PAYSYS_AWS_SECRET_ACCESS_KEY=********    # env" in out
    assert "PAYSYS_WORKER_LOOPS=4    # default" in out


def test_cli_refuses_bad_settings_and_missing_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--role", "api"], {"PAYSYS_API_PORT": "eighty"}) == 2
    assert "PAYSYS_API_PORT='eighty'" in capsys.readouterr().err
    assert main([], {}) == 2
    assert "choose: a role" in capsys.readouterr().err


def test_python_dash_m_is_the_same_entrypoint() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "paysys", "--help"], capture_output=True, text=True, check=True
    )
    assert "--role {api,worker}" in result.stdout
    for command in ("serve", "provision", "local", "config", "keygen", "iam-policy", "capacity"):
        assert f"    {command} " in result.stdout
    for command in ("dlq", "events", "infra", "bench"):
        assert f"    {command} " in result.stdout


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (["serve"], ["--role {api,worker}"]),
        (["iam-policy"], ["--role {api,worker,provision}"]),
        (["capacity"], ["--rate RATE", "--merchants MERCHANTS", "--key-share", "--json"]),
        (["config"], ["--markdown"]),
        (["keygen"], ["--merchant MERCHANT"]),
        (["events", "tail"], ["--type", "--merchant MERCHANT"]),
        (["bench"], ["--rate RATE", "--payments PAYMENTS", "--backend"]),
    ],
)
def test_each_command_owns_its_flags(
    command: list[str], flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"], {}) == 0
    out = capsys.readouterr().out
    for flag in flags:
        assert flag in out
    assert main([*command, "--no-such-flag"], {}) == 2
    others = {"--rate", "--markdown", "--merchant", "--type"} - {f.split()[0] for f in flags}
    usage = set(re.findall(r"\[(--[a-z-]+)", out))
    assert not others & usage, "a flag of another command"


def test_the_configuration_page_lists_every_setting_with_its_default() -> None:
    row = re.compile(r"^\| `(PAYSYS_[A-Z0-9_]+)` \| `([^`]*)` \|", re.M)
    rows = {m.group(1): m.group(2) for m in row.finditer(CONFIGURATION.read_text())}
    expected = {doc.env: doc.default for doc in describe()}
    assert rows == expected


def test_the_configuration_page_holds_the_table_the_code_prints() -> None:
    """The whole table, meanings included: `make docs` rewrites it from the settings."""
    table = markdown_table()
    assert table in CONFIGURATION.read_text(), "docs/reference/configuration.md: run `make docs`"

"""Fixtures: one real AWS emulator per session (moto server over HTTP, or LocalStack in Docker
with PAYSYS_TEST_BACKEND=localstack), fresh uniquely named resources for every test."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from paysys.adapters.call_log import read_calls
from paysys.api.app import create_app
from paysys.config import Settings
from paysys.logging import configure_logging
from paysys.runtime.iam import actions, iam_action
from paysys.runtime.provision import Provisioned, provision
from paysys.runtime.resources import Clients, Resources, open_clients, open_resources
from paysys.runtime.roles import readiness_checks

from .backends import start_backend
from .processes import CALL_LOG_DIR


class LogSink:
    """Collects the JSON log lines paysys writes during the tests."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.extend(line for line in text.splitlines() if line.strip())
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def events(self, name: str) -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in self.lines]
        return [entry for entry in parsed if entry.get("event") == name]


_SINK = LogSink()
configure_logging("json", "INFO", stream=_SINK)  # type: ignore[arg-type]
_OWN_CALL_LOG_DIR = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    if CALL_LOG_DIR not in os.environ:  # kept when a check fails, else removed at the end
        os.environ[CALL_LOG_DIR] = tempfile.mkdtemp(prefix="paysys-calls-")
        config.stash[_OWN_CALL_LOG_DIR] = os.environ[CALL_LOG_DIR]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Every AWS operation a role process performed during the run (tests/processes.py gives
    each a call log per role) is an action of that role's `paysys iam-policy`."""
    missing = [
        f"{path.stem}: {call}"
        for path in sorted(Path(os.environ[CALL_LOG_DIR]).glob("*.calls"))
        for call in sorted(read_calls(path))
        if iam_action(call.operation) not in actions(path.stem)
    ]
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_sep("=", "AWS operations missing from `paysys iam-policy`", red=True)
        for line in missing:
            reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif own := session.config.stash.get(_OWN_CALL_LOG_DIR, ""):
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture
def logs() -> LogSink:
    _SINK.lines.clear()
    return _SINK


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    with start_backend(os.environ.get("PAYSYS_TEST_BACKEND", "moto")) as url:
        yield url


def fresh_settings(endpoint: str, **overrides: Any) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    base = Settings(
        aws_endpoint_url=endpoint,
        table_name=f"payments-{suffix}",
        topic_name=f"events-{suffix}",
        queue_name=f"created-{suffix}",
        dlq_name=f"created-dlq-{suffix}",
        worker_wait_seconds=1,
        worker_port=0,
        api_port=0,
        aws_timeout_seconds=2.0,
        aws_max_attempts=2,
        dynamodb_retry_seconds=1.0,
        shutdown_timeout_seconds=5.0,
    )
    return base.replace(**overrides)


@pytest.fixture
def settings(endpoint: str) -> Settings:
    return fresh_settings(endpoint)


@pytest.fixture
async def clients(settings: Settings) -> AsyncIterator[Clients]:
    async with open_clients(settings) as opened:
        yield opened


@pytest.fixture
async def provisioned(clients: Clients) -> Provisioned:
    return await provision(clients)


@pytest.fixture
async def resources(settings: Settings, provisioned: Provisioned) -> AsyncIterator[Resources]:
    async with open_resources(settings) as opened:
        yield opened


@pytest.fixture
async def api(settings: Settings, resources: Resources) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings, resources.service, readiness_checks(resources), resources.status)
    async with TestClient(TestServer(app)) as client:
        yield client


async def wait_for_status(
    http: aiohttp.ClientSession | TestClient[Any, Any],
    url: str,
    status: str,
    guard_seconds: float = 20.0,
) -> dict[str, Any]:
    """Poll GET url until the payment has ``status`` (a hang guard, not a speed check)."""
    async with asyncio.timeout(guard_seconds):
        while True:
            async with http.get(url) as response:
                body: dict[str, Any] = await response.json()
            if body.get("status") == status:
                return body
            await asyncio.sleep(0.1)

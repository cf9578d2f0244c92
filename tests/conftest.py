"""Fixtures: one real AWS backend per session (moto's server over HTTP by default; with
PAYSYS_TEST_BACKEND=localstack, LocalStack's SNS and SQS beside moto's DynamoDB: see
tests/backends.py), fresh uniquely named resources for every test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from paysys.api.auth import new_key
from paysys.config import Settings
from paysys.observability.call_log import read_calls
from paysys.observability.logging import configure_logging
from paysys.ops.iam import actions, iam_action
from paysys.ops.provision import Provisioned, provision
from paysys.runtime.resources import Clients, Resources, open_clients, open_resources
from paysys.runtime.roles import api_app
from paysys.worker.counts import CountsRollup
from paysys_tools.names import per_run

from .backends import Backend, start_backend
from .processes import CALL_LOG_DIR

TESTS = Path(__file__).parent


# The tier that runs on every backend (``make test-localstack``): the contract on the real
# adapters, provisioning, the flow, the worker, the DLQ, idempotency, faults and the trace
# across the queue.
PORTABLE = tuple(
    TESTS / path
    for path in (
        "contract",
        "integration/test_worker.py",
        "integration/test_idempotency.py",
        "integration/test_tracing.py",
        "integration/test_operability.py",
        "integration/test_provision.py",
        "integration/test_webhooks.py",
        "integration/test_webhook_history.py",
        "system/test_webhooks.py",
        "system/test_flow.py",
        "system/test_dlq.py",
        "system/test_faults.py",
        "system/test_traced_roles.py",
    )
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the fast tier (``make test-fast``): everything under tests/unit, and the contract
    tests on the fakes. None of them needs the emulator or starts a process. Mark the
    portable tier: the PORTABLE tests that use a backend."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_fakes = callspec is not None and callspec.params.get("ports") == "fake"
        if item.path.is_relative_to(TESTS / "unit") or (
            item.path.is_relative_to(TESTS / "contract") and on_fakes
        ):
            item.add_marker(pytest.mark.fast)
        elif any(item.path.is_relative_to(path) for path in PORTABLE):
            item.add_marker(pytest.mark.backend_portable)


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
async def backend() -> AsyncIterator[Backend]:
    async with start_backend(os.environ.get("PAYSYS_TEST_BACKEND", "moto")) as started:
        yield started


def fresh_settings(backend: Backend, **overrides: Any) -> Settings:
    base = Settings(
        aws_endpoint_url=backend.aws,
        dynamodb_endpoint_url=backend.dynamodb,
        worker_wait_seconds=1,
        worker_port=0,
        api_port=0,
        aws_timeout_seconds=2.0,
        aws_max_attempts=2,
        dynamodb_retry_seconds=1.0,
        shutdown_timeout_seconds=5.0,
    )
    return per_run(base, f"t{uuid.uuid4().hex[:10]}").replace(**overrides)


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return fresh_settings(backend)


@contextlib.asynccontextmanager
async def fresh_resources(backend: Backend, **overrides: Any) -> AsyncIterator[Resources]:
    """Provisioned, uniquely named resources for a test that needs other settings than the
    fixtures' (``resources.clients.settings`` holds them)."""
    settings = fresh_settings(backend, **overrides)
    async with open_clients(settings) as clients:
        await provision(clients)
        async with open_resources(settings) as resources:
            yield resources


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


def make_app(settings: Settings, resources: Resources, **overrides: Any) -> web.Application:
    """The API application over ``resources``; ``overrides`` change settings (``api_keys=``)."""
    return api_app(settings.replace(**overrides), resources)


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, headers: dict[str, str] | None = None
) -> AsyncIterator[TestClient[Any, Any]]:
    """``app`` on a loopback port, and a client for it (sending ``headers`` by default)."""
    async with TestClient(TestServer(app, host="127.0.0.1"), headers=headers) as client:
        yield client


@pytest.fixture
async def api(settings: Settings, resources: Resources) -> AsyncIterator[TestClient[Any, Any]]:
    async with serving(make_app(settings, resources)) as client:
        yield client


@dataclass(frozen=True)
class KeyedApi:
    """The app with API keys switched on. The server is given only the keys' hashes; the
    client sends ``key`` (the first) unless a request says otherwise."""

    client: TestClient[Any, Any]
    keys: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.keys[0]

    @staticmethod
    def bearer(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def keyed_api(settings: Settings, resources: Resources) -> AsyncIterator[KeyedApi]:
    pairs = [new_key("alice"), new_key("bob")]  # two merchants
    app = make_app(settings, resources, api_keys=",".join(digest for _, digest in pairs))
    keys = tuple(key for key, _ in pairs)
    async with serving(app, KeyedApi.bearer(keys[0])) as client:
        yield KeyedApi(client, keys)


@pytest.fixture
async def down_resources(settings: Settings, resources: Resources) -> AsyncIterator[Resources]:
    """The same tables, topic and queues, but every AWS call goes to a closed port (briefly:
    short timeouts, few attempts)."""
    closed = settings.replace(
        aws_endpoint_url="http://127.0.0.1:9",
        dynamodb_endpoint_url="http://127.0.0.1:9",
        aws_timeout_seconds=2.0,
        aws_max_attempts=2,
        dynamodb_retry_seconds=1.0,
        topic_arn=resources.events.topic_arn,
        queue_url=resources.queue.queue_url,
        dlq_url=resources.dlq.queue_url,
    )
    async with open_resources(closed) as down:
        yield down


@pytest.fixture
async def down_api(down_resources: Resources) -> AsyncIterator[TestClient[Any, Any]]:
    """The app over ``down_resources``: a backend outage."""
    async with serving(make_app(down_resources.clients.settings, down_resources)) as client:
        yield client


async def wait_for_status(
    http: aiohttp.ClientSession | TestClient[Any, Any],
    url: str,
    status: str,
    guard_seconds: float = 60.0,
) -> dict[str, Any]:
    """Poll GET url until the payment has ``status`` (a hang guard, not a speed check)."""
    async with asyncio.timeout(guard_seconds):
        while True:
            async with http.get(url) as response:
                body: dict[str, Any] = await response.json()
            if body.get("status") == status:
                return body
            await asyncio.sleep(0.1)


async def until(condition: Callable[[], bool], guard_seconds: float = 10.0) -> None:
    """Wait until ``condition()`` holds, looking every few milliseconds (a hang guard)."""
    async with asyncio.timeout(guard_seconds):
        while not condition():  # noqa: ASYNC110 - state changed by other tasks, no event to wait on
            await asyncio.sleep(0.005)


async def settle_counts(resources: Resources) -> None:
    """Journal this process's buffered counts and roll every shard up once, as the worker's
    rollup does every PAYSYS_COUNTER_ROLLUP_SECONDS: /stats then shows every count made."""
    await resources.payments.counters.flush()  # type: ignore[union-attr]
    for shard in range(resources.rollup.shards):
        await resources.rollup.shard_pass(shard)


@contextlib.asynccontextmanager
async def rolling_up(resources: Resources, interval_seconds: float = 0.2) -> AsyncIterator[None]:
    """The worker's counts rollup, every ``interval_seconds``, for a test without a worker
    process: /stats catches up with the counts as it would in a deployment."""
    stop = asyncio.Event()
    loop = CountsRollup(resources.rollup, resources.leases, interval_seconds, owner="tests")
    task = asyncio.create_task(loop.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task

"""The emulators the suite can run against, chosen by PAYSYS_TEST_BACKEND:

- ``moto`` (default): moto's server in a thread serves DynamoDB, SNS and SQS (its DynamoDB
  requests one at a time: ``paysys.local.moto_atomic``);
- ``localstack``: LocalStack's own SNS and SQS from PyPI (no Docker), DynamoDB on moto
  (``paysys_tools.localstack``); ``make test-localstack`` runs the portable tier on it;
- ``localstack-docker``: the LocalStack image for all three, where a Docker engine answers
  (else moto, with a warning).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from paysys.local.moto_atomic import MotoThread
from paysys_tools.localstack import localstack_with_moto

BACKENDS = ("moto", "localstack", "localstack-docker")
# A LocalStack release that serves DynamoDB/SNS/SQS without an auth token.
LOCALSTACK_IMAGE = "localstack/localstack:4.14.0"  # same pin as deploy/localstack


@dataclass(frozen=True)
class Backend:
    """Where the tests' AWS calls go: SNS and SQS at ``aws``, DynamoDB at ``dynamodb``."""

    name: str
    aws: str
    dynamodb: str


def docker_available() -> tuple[bool, str]:
    """True when a Docker engine answers a ping; otherwise why not (fast, ~2 s at most)."""
    try:
        import docker  # noqa: PLC0415 - optional, only for the LocalStack image

        docker.from_env(timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine here"
        return False, f"{type(exc).__name__}: {exc}"
    return True, "docker engine answered"


@contextlib.asynccontextmanager
async def start_backend(name: str) -> AsyncIterator[Backend]:
    if name not in BACKENDS:
        raise ValueError(f"PAYSYS_TEST_BACKEND must be one of {BACKENDS}, not {name!r}")
    if name == "localstack":
        async with localstack_with_moto() as (aws, dynamodb):
            yield Backend(name, aws, dynamodb)
        return
    if name == "localstack-docker":
        ok, why = docker_available()
        if ok:
            with _localstack_image() as url:
                yield Backend(name, url, url)
            return
        warnings.warn(f"PAYSYS_TEST_BACKEND={name} but {why}; using moto", stacklevel=2)
    with _moto() as url:
        yield Backend("moto", url, url)


@contextlib.contextmanager
def _moto() -> Iterator[str]:
    server = MotoThread()  # DynamoDB's conditional writes atomic, as on AWS
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def _localstack_image() -> Iterator[str]:  # pragma: no cover - needs a Docker engine
    from testcontainers.community.localstack import LocalStackContainer  # noqa: PLC0415

    container = LocalStackContainer(image=LOCALSTACK_IMAGE).with_services("dynamodb", "sns", "sqs")
    with container:
        yield container.get_url()

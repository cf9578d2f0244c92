"""The emulators the suite can run against, chosen by PAYSYS_TEST_BACKEND."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

# A LocalStack release that serves DynamoDB/SNS/SQS without an auth token.
LOCALSTACK_IMAGE = "localstack/localstack:4.14.0"  # same pin as deploy/localstack


def docker_available() -> tuple[bool, str]:
    """True when a Docker engine answers a ping; otherwise why not (fast, ~2 s at most)."""
    try:
        import docker  # noqa: PLC0415 - optional, only for the LocalStack backend

        docker.from_env(timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine here"
        return False, f"{type(exc).__name__}: {exc}"
    return True, "docker engine answered"


@contextlib.contextmanager
def start_backend(name: str) -> Iterator[str]:
    if name == "localstack":
        ok, why = docker_available()
        if ok:
            with _localstack() as url:
                yield url
            return
        warnings.warn(f"PAYSYS_TEST_BACKEND=localstack but {why}; using moto", stacklevel=2)
    elif name != "moto":
        raise ValueError(f"PAYSYS_TEST_BACKEND must be moto or localstack, not {name!r}")
    with _moto() as url:
        yield url


@contextlib.contextmanager
def _moto() -> Iterator[str]:
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def _localstack() -> Iterator[str]:  # pragma: no cover - needs a Docker engine
    from testcontainers.community.localstack import LocalStackContainer  # noqa: PLC0415

    container = LocalStackContainer(image=LOCALSTACK_IMAGE).with_services("dynamodb", "sns", "sqs")
    with container:
        yield container.get_url()

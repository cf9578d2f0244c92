"""LocalStack's own SNS and SQS, from PyPI, on this host: no Docker (a second, independent
implementation beside moto's, for ``PAYSYS_TEST_BACKEND=localstack`` and
``paysys bench --backend localstack``). DynamoDB stays on moto: LocalStack's needs a Java
download.

LocalStack needs Python 3.13 (PEP 695 syntax): it gets a venv of its own, made once in
``$XDG_CACHE_HOME/paysys/localstack-venv`` (default ``~/.cache/paysys``) with the pins below,
a marker file recording them. The interpreter is ``PAYSYS_LOCALSTACK_PYTHON``, else the first
working ``python3.13`` (PATH, pyenv, /usr/bin). ``python -m paysys_tools.localstack``
installs it ahead of time.

It runs in host mode on a free loopback port, its files in a temporary directory. Host mode
is forced (``OVERRIDE_IN_DOCKER=0``): taking this sandbox for a container, LocalStack would
ping Docker bridge addresses; its DNS server and certificate download are off too.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
import structlog

from paysys.errors import BackendUnavailable
from paysys.local.emulator import local_server, moto_server
from paysys.local.procs import LOOPBACK, free_port, run_to_end

log = structlog.get_logger(__name__)

# localstack-core's own dependencies are unpinned; these four make 2026.3.0 import and start.
PINS = (
    "localstack-core[runtime]==2026.3.0",
    "cbor2==5.6.5",
    "pyopenssl==24.2.1",
    "cryptography==43.0.3",
    "service_identity==24.1.0",
)
SERVICES = ("sns", "sqs")
_INTERPRETER_CHECK = "import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 13))"
_PASSED_ON = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


def venv_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "paysys" / "localstack-venv"


async def find_python(environ: Mapping[str, str]) -> str:
    """A Python 3.13 that can make a venv."""
    for candidate in await asyncio.to_thread(_interpreters, environ):
        with contextlib.suppress(BackendUnavailable, OSError):
            await run_to_end([candidate, "-c", _INTERPRETER_CHECK])
            return candidate
    raise BackendUnavailable(
        "LocalStack needs Python 3.13 (python3.13 on PATH, pyenv, or PAYSYS_LOCALSTACK_PYTHON)"
    )


def _interpreters(environ: Mapping[str, str]) -> list[str]:
    pyenv = Path(environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [
        environ.get("PAYSYS_LOCALSTACK_PYTHON"),
        shutil.which("python3.13"),  # may be a pyenv shim that refuses: tried, not trusted
        *map(str, sorted(pyenv.glob("versions/3.13*/bin/python3.13"), reverse=True)),
        "/usr/bin/python3.13",
        "/usr/local/bin/python3.13",
    ]
    return [c for c in candidates if c]


async def ensure_installed(environ: Mapping[str, str]) -> Path:
    """The venv's python, installing LocalStack first unless the marker shows these pins.
    One process installs at a time (a lock file); the others wait and reuse its venv."""
    directory = venv_dir(environ)
    python, marker = directory / "bin" / "python", directory / ".paysys-pins"
    wanted = "\n".join(PINS) + "\n"
    if _read(marker) == wanted:
        return python
    await asyncio.to_thread(directory.parent.mkdir, parents=True, exist_ok=True)
    with (directory.parent / "localstack-venv.lock").open("w") as lock:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        if _read(marker) == wanted:
            return python
        log.info("localstack.installing", directory=str(directory), pins=list(PINS))
        await asyncio.to_thread(shutil.rmtree, directory, ignore_errors=True)
        await run_to_end([await find_python(environ), "-m", "venv", str(directory)])
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        await run_to_end([*pip, *PINS], timeout_seconds=600)
        await asyncio.to_thread(marker.write_text, wanted)
    return python


@contextlib.asynccontextmanager
async def localstack_server(
    environ: Mapping[str, str] | None = None, *, ready_seconds: float = 60.0
) -> AsyncIterator[str]:
    """Start LocalStack's SNS and SQS on 127.0.0.1 and yield the endpoint; stop it on exit."""
    environ = os.environ if environ is None else environ
    python = await ensure_installed(environ)
    port = free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    root = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="paysys-localstack-"))
    env = {name: environ[name] for name in _PASSED_ON if name in environ}
    env.update(
        GATEWAY_LISTEN=f"{LOOPBACK}:{port}",
        LOCALSTACK_HOST=f"{LOOPBACK}:{port}",
        SERVICES=",".join(SERVICES),
        FILESYSTEM_ROOT=str(root),
        OVERRIDE_IN_DOCKER="0",
        DISABLE_EVENTS="1",
        DNS_ADDRESS="0",
        SKIP_SSL_CERT_DOWNLOAD="1",
    )
    argv = [str(python), "-m", "localstack.runtime.main"]
    try:
        async with local_server(
            "localstack",
            argv,
            f"{endpoint}/_localstack/health",
            ready_seconds,
            env=env,
            log_path=root / "localstack.log",
            accept=_serves_sns_and_sqs,
        ):
            await _warm_up(endpoint, ready_seconds)
            yield endpoint
    finally:
        await asyncio.to_thread(shutil.rmtree, root, ignore_errors=True)


@contextlib.asynccontextmanager
async def localstack_with_moto(
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[tuple[str, str]]:
    """LocalStack for SNS and SQS, moto for DynamoDB: yields both endpoints."""
    async with localstack_server(environ) as aws, moto_server() as dynamodb:
        yield aws, dynamodb


async def _warm_up(endpoint: str, seconds: float) -> None:
    """LocalStack loads a service on its first request ("available" is not yet "running"),
    which takes seconds on a busy machine: one cheap call each, with time to spare, so that
    no test's first call (with the tests' short client timeout) pays for it."""
    calls = ("Action=ListTopics&Version=2010-03-31", "Action=ListQueues&Version=2012-11-05")
    timeout = aiohttp.ClientTimeout(total=seconds)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for body in calls:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            async with http.post(f"{endpoint}/", data=body, headers=headers) as response:
                await response.read()  # any answer: the service is loaded


def _serves_sns_and_sqs(body: bytes) -> bool:
    try:
        services = json.loads(body).get("services", {})
    except (ValueError, AttributeError):
        return False
    return all(services.get(name) in ("available", "running") for name in SERVICES)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


if __name__ == "__main__":  # python -m paysys_tools.localstack: install ahead of time
    installed = asyncio.run(ensure_installed(os.environ))
    sys.stdout.write(f"LocalStack {PINS[0]} in {installed.parent.parent}\n")

"""Running `python -m paysys --role ...` as real processes, as a container would."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from paysys.config import Settings, env_name
from paysys.local.procs import Child, start, stop

CALL_LOG_DIR = "PAYSYS_TEST_CALL_LOG_DIR"

# Settings a role process inherits from the test's settings object.
_FORWARDED = (
    "aws_endpoint_url",
    "dynamodb_endpoint_url",
    "table_name",
    "idempotency_table_name",
    "topic_name",
    "outcomes_topic_name",
    "rules",
    "queue_name",
    "dlq_name",
    "webhook_queue_name",
    "webhook_dlq_name",
    "worker_wait_seconds",
    "shutdown_timeout_seconds",
    "visibility_timeout_seconds",
    "aws_timeout_seconds",
    "aws_max_attempts",
    "dynamodb_retry_seconds",
    "reconcile_after_seconds",
    "reconcile_interval_seconds",
)


def role_env(settings: Settings, **extra: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSYS_")}
    for name in _FORWARDED:
        value = getattr(settings, name)
        if value is not None:
            env[env_name(name)] = str(value)
    env[env_name("log_format")] = "json"
    env[env_name("auth")] = "open"  # the default outside `paysys local` is required
    env.update({env_name(k): str(v) for k, v in extra.items()})
    return env


@dataclass
class RoleProcess:
    """A running role; its log goes to a file so a chatty process never blocks on a pipe."""

    child: Child

    @property
    def running(self) -> bool:
        return self.child.running

    def log(self) -> str:
        return self.child.log_text()

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> tuple[int, str]:
        """Signal the process, wait for it (30 s, then SIGKILL), return its exit code and log."""
        code = await stop(self.child, sig, grace_seconds=30)
        return code, self.log()


def call_log_env(role: str) -> dict[str, str]:
    """Where a role process records its AWS operations: a file per role in the run's
    PAYSYS_TEST_CALL_LOG_DIR (tests/conftest.py checks them against `paysys iam-policy`)."""
    directory = os.environ.get(CALL_LOG_DIR)
    return {env_name("aws_call_log"): os.path.join(directory, f"{role}.calls")} if directory else {}


async def start_role(role: str, env: dict[str, str]) -> RoleProcess:
    env = {**call_log_env(role), **env}
    fd, log = tempfile.mkstemp(prefix=f"paysys-{role}-", suffix=".log")
    os.close(fd)
    argv = [sys.executable, "-m", "paysys", "--role", role]
    return RoleProcess(await start(role, argv, env=env, log_path=Path(log)))


async def stop_role(role: RoleProcess, sig: signal.Signals = signal.SIGTERM) -> tuple[int, str]:
    return await role.stop(sig)


async def run_paysys(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run `python -m paysys ARGS...` to its end (60 s hang guard): its exit code and stdout.
    Its log (stderr) goes to the test's captured output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paysys", *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, stdout.decode()

"""Running `python -m paysys --role ...` as real processes, as a container would."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from paysys.config import Settings, env_name
from paysys.devtools.procs import Child, start, stop

# Settings a role process inherits from the test's settings object.
_FORWARDED = (
    "aws_endpoint_url",
    "dynamodb_endpoint_url",
    "table_name",
    "idempotency_table_name",
    "topic_name",
    "queue_name",
    "dlq_name",
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


async def start_role(role: str, env: dict[str, str]) -> RoleProcess:
    fd, log = tempfile.mkstemp(prefix=f"paysys-{role}-", suffix=".log")
    os.close(fd)
    argv = [sys.executable, "-m", "paysys", "--role", role]
    return RoleProcess(await start(role, argv, env=env, log_path=Path(log)))


async def stop_role(role: RoleProcess, sig: signal.Signals = signal.SIGTERM) -> tuple[int, str]:
    return await role.stop(sig)

"""What a benchmark run shares between its phases: options, endpoints, clients, resources
and the worker processes running."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from paysys.config import Settings
from paysys.ops.provision import Provisioned
from paysys.runtime.resources import Clients
from paysys_tools.bench.options import BenchOptions, Names
from paysys_tools.bench.procs import Endpoints, Role, start_role
from paysys_tools.names import names_env


@dataclass(slots=True)
class Bench:
    """What a run shares between its phases."""

    options: BenchOptions
    names: Names
    environ: Mapping[str, str]
    measured: Endpoints  # what paysys and the raw ceilings use (through the proxy, if any)
    log_dir: Path
    harness: Clients  # direct clients for seeding, feeding and reading back
    raw_harness: Clients
    paysys: Provisioned
    raw: Provisioned
    workers: list[Role] = field(default_factory=list)
    worker_logs: list[Path] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    worker_loops: int = 0  # loops of each running worker process

    def measured_settings(self, kind: str, loops: int | None = None) -> Settings:
        return self.names.settings(kind, self.measured, loops)

    @property
    def max_in_flight(self) -> int:
        """What all worker processes together may hold, as the raw ceilings may."""
        return self.options.workers * self.names.base.worker_max_in_flight

    def role_env(self, loops: int) -> dict[str, str]:
        s = self.measured_settings("paysys")
        env = dict(self.environ)
        env.update(
            PAYSYS_AWS_ENDPOINT_URL=self.measured.aws,
            PAYSYS_DYNAMODB_ENDPOINT_URL=self.measured.dynamodb,
            **names_env(s),
            PAYSYS_TOPIC_ARN=self.paysys.topic_arn,
            PAYSYS_QUEUE_URL=self.paysys.queue_url,
            PAYSYS_API_HOST="127.0.0.1",
            PAYSYS_WORKER_HOST="127.0.0.1",
            PAYSYS_WORKER_LOOPS=str(loops),
            PAYSYS_LOG_FORMAT="json",
            PAYSYS_AUTH="open",  # the benchmark sends no API key
        )
        return env

    async def start_workers(self, loops: int) -> None:
        """Start ``options.workers`` worker processes of ``loops`` receive loops each."""
        env = self.role_env(loops)
        self.worker_loops = loops
        start = len(self.worker_logs)
        self.workers = list(
            await asyncio.gather(
                *(
                    start_role("worker", f"worker-{start + i}", env, self.log_dir)
                    for i in range(self.options.workers)
                )
            )
        )
        self.worker_logs.extend(w.log_path for w in self.workers)

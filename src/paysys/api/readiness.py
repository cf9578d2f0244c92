"""Readiness as a cached, single-flight evaluation of required and optional checks
(see ``paysys.api.health`` for what each answer means to a probe)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Gauge

log = structlog.get_logger(__name__)

HealthCheck = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    probe: HealthCheck
    required: bool = True


class Readiness:
    def __init__(
        self,
        checks: Sequence[Check],
        registry: CollectorRegistry,
        cache_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._checks = tuple(checks)
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._report: dict[str, Any] | None = None
        self._taken_at = 0.0
        self._running: asyncio.Future[dict[str, Any]] | None = None
        self._up = Gauge(
            "paysys_dependency_up",
            "1 when the dependency answered its last readiness check, else 0.",
            ("dependency", "required"),
            registry=registry,
        )

    async def report(self) -> dict[str, Any]:
        fresh = self._clock() - self._taken_at < self._cache_seconds
        if self._report is not None and fresh:
            return self._report
        if self._running is None:  # single flight: concurrent probes share one evaluation
            self._running = asyncio.ensure_future(self._evaluate())
            self._running.add_done_callback(self._finished)
        return await asyncio.shield(self._running)

    def _finished(self, _: asyncio.Future[dict[str, Any]]) -> None:
        self._running = None

    async def _evaluate(self) -> dict[str, Any]:
        results = await asyncio.gather(*(c.probe() for c in self._checks), return_exceptions=True)
        checks: dict[str, str] = {}
        status = "ready"
        for check, result in zip(self._checks, results, strict=True):
            ok = not isinstance(result, BaseException)
            self._up.labels(check.name, str(check.required).lower()).set(1 if ok else 0)
            checks[check.name] = "ok" if ok else "unavailable"
            if not ok:
                log.warning("readiness.check_failed", check=check.name, error=repr(result))
                if check.required:
                    status = "unavailable"
                elif status == "ready":
                    status = "degraded"
        self._report = {"status": status, "checks": checks}
        self._taken_at = self._clock()
        return self._report

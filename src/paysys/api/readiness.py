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

from paysys.core.cache import SingleFlight

log = structlog.get_logger(__name__)

HealthCheck = Callable[[], Awaitable[None]]


class NotReady(Exception):
    """A probe's failure whose message is a fixed phrase of ours (no error detail, nothing
    secret): ``/readyz`` shows it under ``reasons``."""


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
        self._cached: SingleFlight[dict[str, Any]] = SingleFlight(cache_seconds, clock)
        self._up = Gauge(
            "paysys_dependency_up",
            "1 when the dependency answered its last readiness check, else 0.",
            ("dependency", "required"),
            registry=registry,
        )

    async def report(self) -> dict[str, Any]:
        """Concurrent probes share one evaluation, reused for ``cache_seconds``."""
        return await self._cached.get("", self._evaluate)

    async def _evaluate(self) -> dict[str, Any]:
        results = await asyncio.gather(*(c.probe() for c in self._checks), return_exceptions=True)
        checks: dict[str, str] = {}
        reasons: dict[str, str] = {}
        status = "ready"
        for check, result in zip(self._checks, results, strict=True):
            ok = not isinstance(result, BaseException)
            self._up.labels(check.name, str(check.required).lower()).set(1 if ok else 0)
            checks[check.name] = "ok" if ok else "unavailable"
            if isinstance(result, NotReady):
                reasons[check.name] = str(result)
            if not ok:
                log.warning("readiness.check_failed", check=check.name, error=repr(result))
                if check.required:
                    status = "unavailable"
                elif status == "ready":
                    status = "degraded"
        if reasons:
            return {"status": status, "checks": checks, "reasons": reasons}
        return {"status": status, "checks": checks}

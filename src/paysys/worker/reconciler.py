"""The reconciler closes the API's dual write (DynamoDB, then SNS).

A payment is stored ``Pending`` before its event is published. If the publish fails, or the
event is lost, the payment would stay ``Pending`` for ever; the reconciler, running inside
every worker, republishes the event of any payment still ``Pending`` after
``reconcile_after_seconds``, looking every ``reconcile_interval_seconds``. Approval is
idempotent, so extra events only cost duplicate deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from paysys.core.service import PaymentService
from paysys.errors import BackendUnavailable

log = structlog.get_logger(__name__)


async def run_reconciler(
    service: PaymentService,
    stop: asyncio.Event,
    *,
    after_seconds: float,
    interval_seconds: float,
    batch_size: int,
) -> None:
    log.info("reconciler.started", after_s=after_seconds, interval_s=interval_seconds)
    while not stop.is_set():
        try:
            count = await service.republish_stale(timedelta(seconds=after_seconds), batch_size)
        except BackendUnavailable as exc:
            log.warning("reconciler.failed", error=str(exc))
        else:
            if count:
                log.info("reconciler.republished", count=count)
            if count >= batch_size:
                continue  # more are waiting: go again at once
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)

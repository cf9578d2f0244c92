"""`paysys dlq list|redrive` against the real emulator, through the real CLI."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from paysys.core.domain import PaymentCreated, utcnow
from paysys.worker.options import WorkerOptions
from paysys.worker.worker import Worker

from ..backends import Backend
from ..conftest import fresh_resources
from ..processes import role_env
from ..processes import run_paysys as run_cli


async def test_poison_messages_are_listed_with_a_reason_and_redriven(backend: Backend) -> None:
    async with fresh_resources(
        backend, visibility_timeout_seconds=1, max_receive_count=1
    ) as resources:
        settings, queue, dlq = resources.clients.settings, resources.queue, resources.dlq
        await resources.clients.sqs.send_message(QueueUrl=queue.queue_url, MessageBody="garbage")
        ghost = PaymentCreated(
            "00000000-0000-4000-8000-00000000dead",
            Decimal("1.00"),
            "BRL",
            utcnow(),
        )
        await resources.events.publish(ghost, "ghost")
        async with asyncio.timeout(20):  # a hang guard: poison reaches the DLQ by itself
            while (await dlq.depth())[0] < 2:
                worker = Worker(queue, resources.service, WorkerOptions.from_settings(settings))
                await worker.run(burst=True)
                await asyncio.sleep(1.1)

        env = role_env(settings)
        code, out = await run_cli(env, "dlq", "list")
        assert code == 0
        letters = [json.loads(line) for line in out.splitlines()]
        reasons = {letter["payment_id"]: letter["reason"] for letter in letters}
        assert reasons[ghost.payment_id] == "unknown payment"
        assert reasons[None].startswith("malformed")
        assert all(letter["receive_count"] >= 1 and letter["message_id"] for letter in letters)
        # Listing is a peek: both are still there and visible.
        assert await dlq.depth() == (2, 0)

        code, _ = await run_cli(env, "dlq", "redrive")
        assert code == 0
        assert await dlq.depth() == (0, 0)
        assert await queue.depth() == (2, 0)

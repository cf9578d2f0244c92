"""A ``MessageQueue`` that hands every call to another: the base of the wrappers that change
one or two of them (``worker.acks.AckedQueue``, ``worker.webhook_backlog.BacklogQueue``)."""

from __future__ import annotations

from collections.abc import Sequence

from paysys.core.ports import MessageQueue, QueueMessage


class ForwardingQueue:
    def __init__(self, queue: MessageQueue) -> None:
        self._queue = queue

    async def receive(
        self, max_messages: int, wait_seconds: int, visibility_seconds: int | None = None
    ) -> list[QueueMessage]:
        return await self._queue.receive(max_messages, wait_seconds, visibility_seconds)

    async def send(self, messages: Sequence[QueueMessage]) -> list[QueueMessage]:
        return await self._queue.send(messages)

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        await self._queue.delete(messages)

    async def change_visibility(self, messages: Sequence[QueueMessage], seconds: int) -> None:
        await self._queue.change_visibility(messages, seconds)

    async def depth(self) -> tuple[int, int]:
        return await self._queue.depth()

    async def ping(self) -> None:
        await self._queue.ping()

"""MessageQueue in memory: visibility on the fake clock, redelivery, the DLQ move."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from paysys.core.ports import QueueMessage

from .clock import FakeClock

log = structlog.get_logger(__name__)


@dataclass
class _Stored:
    message_id: str
    body: str
    attributes: dict[str, str]
    sent_at_ms: int
    receive_count: int = 0
    visible_at: float = 0.0
    handles: set[str] = field(default_factory=set)


class FakeQueue:
    """MessageQueue: visibility timeouts on the clock, redelivery, and the DLQ move.

    Like SQS, a message received ``max_receive_count`` times moves to ``dlq`` on the next
    receive that finds it visible; deleting through any receipt handle the message ever had
    works, and deleting one already deleted is silent (what moto does)."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        visibility_timeout: int = 30,
        max_receive_count: int | None = None,
        dlq: FakeQueue | None = None,
    ) -> None:
        self._clock = clock
        self._visibility_timeout = visibility_timeout
        self._max_receive_count = max_receive_count
        self._dlq = dlq
        self._messages: dict[str, _Stored] = {}
        self._gone: set[str] = set()  # receipt handles of deleted messages
        self._changed = asyncio.Event()
        self._handles = (f"handle-{n}" for n in itertools.count(1))
        self.deletes: list[list[str]] = []  # message ids of each delete call, in order
        self.receives: list[int] = []  # messages each receive call returned, in order
        clock.on_advance(self._wake)

    async def receive(
        self, max_messages: int, wait_seconds: int, visibility_seconds: int | None = None
    ) -> list[QueueMessage]:
        visibility = self._visibility_timeout if visibility_seconds is None else visibility_seconds
        await asyncio.sleep(0)  # a call to SQS always yields to the loop, even with nothing to wait
        try:
            async with asyncio.timeout(wait_seconds):
                while not (taken := self._take(max_messages, visibility)) and wait_seconds:
                    await self._changed.wait()
        except TimeoutError:
            taken = []
        self.receives.append(len(taken))
        return taken

    async def send(self, messages: Sequence[QueueMessage]) -> list[QueueMessage]:
        for message in messages:
            self.deliver(message.body, message.attributes)
        return list(messages)

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        self.deletes.append([m.message_id for m in messages])
        for message in messages:
            stored = self._holding(message)
            if stored is not None:
                del self._messages[stored.message_id]
                self._gone |= stored.handles
            elif message.receipt_handle not in self._gone:
                log.warning("sqs.delete_failed", message_id=message.message_id, reason="invalid")

    async def change_visibility(self, messages: Sequence[QueueMessage], seconds: int) -> None:
        for message in messages:
            stored = self._holding(message)
            if stored is None:
                log.warning("sqs.visibility_failed", message_id=message.message_id)
            else:
                stored.visible_at = self._clock.time() + seconds
        self._wake()

    async def depth(self) -> tuple[int, int]:
        now = self._clock.time()
        visible = sum(1 for m in self._messages.values() if m.visible_at <= now)
        return visible, len(self._messages) - visible

    async def ping(self) -> None:
        pass

    def deliver(self, body: str, attributes: dict[str, str]) -> str:
        """Enqueue one message (what SendMessage or an SNS delivery does); its id."""
        message_id = str(uuid.uuid4())
        sent_at_ms = int(self._clock.time() * 1000)
        self._arrive(_Stored(message_id, body, dict(attributes), sent_at_ms))
        return message_id

    def _arrive(self, stored: _Stored) -> None:
        stored.visible_at = self._clock.time()
        self._messages[stored.message_id] = stored
        self._wake()

    def _take(self, max_messages: int, visibility: int) -> list[QueueMessage]:
        now = self._clock.time()
        taken: list[QueueMessage] = []
        for stored in list(self._messages.values()):
            if len(taken) == max_messages:
                break
            if stored.visible_at > now:
                continue
            if self._dead(stored):
                continue
            stored.receive_count += 1
            stored.visible_at = now + visibility
            handle = next(self._handles)
            stored.handles.add(handle)
            taken.append(_received(stored, handle))
        return taken

    def _dead(self, stored: _Stored) -> bool:
        """Move a message that has used up its receives to the DLQ."""
        limit = self._max_receive_count
        if self._dlq is None or limit is None or stored.receive_count < limit:
            return False
        del self._messages[stored.message_id]
        self._dlq._arrive(stored)  # one fake handing a message to its sibling
        return True

    def _holding(self, message: QueueMessage) -> _Stored | None:
        return next(
            (m for m in self._messages.values() if message.receipt_handle in m.handles), None
        )

    def _wake(self) -> None:
        """Tell every waiting receive to look again (each waits on the event it saw)."""
        self._changed.set()
        self._changed = asyncio.Event()


def _received(stored: _Stored, handle: str) -> QueueMessage:
    return QueueMessage(
        message_id=stored.message_id,
        receipt_handle=handle,
        body=stored.body,
        receive_count=stored.receive_count,
        correlation_id=stored.attributes.get("correlation_id"),
        traceparent=stored.attributes.get("traceparent"),
        sent_at_ms=stored.sent_at_ms,
        attributes=dict(stored.attributes),
    )

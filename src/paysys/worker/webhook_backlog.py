"""The webhook deliveries this pod has put off, for the oldest undelivered age.

SQS's own ``ApproximateAgeOfOldestMessage`` is a CloudWatch metric only, so the age is
derived here, from what this pod did to its messages, seen through the queue port
(``BacklogQueue`` wraps the delivery queue; the deliverer does not know):

- a message hidden for later (``change_visibility`` with a delay: an attempt failed and is
  scheduled again, or its endpoint is at its limit or its breaker open) is undelivered since
  it was sent (SQS's ``SentTimestamp``), until its next attempt is due;
- a deleted message (delivered, failed past the retry window, no endpoint, fanned out) is
  done;
- an entry ``GRACE_SECONDS`` past its next attempt's due time is dropped: the message was
  taken by another pod (which tracks it if that attempt fails too) or this one has not got to
  it yet (it comes back when received again).

So the age is per pod: the max across pods (Prometheus ``max``) is the fleet's. A fanned-out
copy (one per endpoint) is a new message: its age counts from the copy. At most
``CAPACITY`` messages are tracked; past that, new ones are not (the age can then read low).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from paysys.core.ports import MessageQueue, QueueMessage
from paysys.worker.forwarding import ForwardingQueue

GRACE_SECONDS = 300.0
CAPACITY = 100_000


class Backlog:
    def __init__(
        self,
        clock: Callable[[], float],  # wall clock: ages from SQS's SentTimestamp
        grace_seconds: float = GRACE_SECONDS,
        capacity: int = CAPACITY,
    ) -> None:
        self._clock = clock
        self._grace = grace_seconds
        self._capacity = capacity
        self._waiting: dict[str, tuple[float, float]] = {}  # message id: (sent at, due at)

    def put_off(self, messages: Sequence[QueueMessage], seconds: int) -> None:
        now = self._clock()
        for m in messages:
            if not m.message_id or not m.sent_at_ms:
                continue
            if m.message_id in self._waiting or len(self._waiting) < self._capacity:
                self._waiting[m.message_id] = (m.sent_at_ms / 1000, now + seconds)

    def done(self, messages: Sequence[QueueMessage]) -> None:
        for m in messages:
            self._waiting.pop(m.message_id, None)

    def oldest_age(self) -> float:
        """Seconds since the oldest tracked message was sent (0: none); drops the stale."""
        now = self._clock()
        stale = [k for k, (_, due) in self._waiting.items() if now > due + self._grace]
        for key in stale:
            del self._waiting[key]
        oldest = min((sent for sent, _ in self._waiting.values()), default=now)
        return max(0.0, now - oldest)

    def __len__(self) -> int:
        return len(self._waiting)


class BacklogQueue(ForwardingQueue):
    """A ``MessageQueue`` that tells ``backlog`` what happens to the messages it holds."""

    def __init__(self, queue: MessageQueue, backlog: Backlog) -> None:
        super().__init__(queue)
        self._backlog = backlog

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        self._backlog.done(messages)
        await self._queue.delete(messages)

    async def change_visibility(self, messages: Sequence[QueueMessage], seconds: int) -> None:
        await self._queue.change_visibility(messages, seconds)
        if seconds > 0:
            self._backlog.put_off(messages, seconds)

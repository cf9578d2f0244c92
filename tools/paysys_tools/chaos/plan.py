"""The seeded fault plan: which request of which AWS operation gets which fault.

Every choice comes from the seed. Each operation (``dynamodb:PutItem``, ``sqs:ReceiveMessage``
...) has its own stream, ``random.Random(f"{seed}:{operation}")``, so the n-th call of an
operation gets the same fault on a replay however the calls of other operations interleave
with it. Within a stream a call is faulted with probability ``rate``, and the kinds are dealt
from a shuffled deck (every kind once per round of ``len(kinds)`` faults), so even a rare
operation meets every kind early. What a replay does not repeat: which process's call of an
operation is the n-th (the API and the workers share the proxy, and their timing is not
seeded), and so which payment a fault hits.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence

from paysys_tools.chaos.faults import Fault, operation
from paysys_tools.chaos.history import Injected

# What a faulted request names, so a violation can list the faults that touched it: payment
# ids, the campaign's Idempotency-Keys, velocity counter items.
_NAMES = re.compile(
    rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    rb"|ck-[0-9]+-[0-9]+|#velocity#[a-z0-9_-]+#[0-9T:-]+#[0-9]+"
)

# The faults the campaign injects: fail before commit (500, throttling), commit then lose the
# reply (timeout) or the connection (reset), and a delay below the client's timeout.
KINDS: tuple[Fault, ...] = (
    Fault.ERROR,
    Fault.THROTTLE,
    Fault.DROP_REPLY,
    Fault.RESET,
    Fault.DELAY,
)


class _Stream:
    def __init__(self, seed: int, name: str, kinds: Sequence[Fault]) -> None:
        self.random = random.Random(f"{seed}:{name}")  # noqa: S311 - a fault plan, not a secret
        self.kinds = tuple(kinds)
        self.deck: list[Fault] = []

    def draw(self, rate: float) -> Fault:
        if self.random.random() >= rate:
            return Fault.PASS
        if not self.deck:
            self.deck = list(self.kinds)
            self.random.shuffle(self.deck)
        return self.deck.pop()


class FaultPlan:
    """The proxy's rule: a seeded fault per request while ``active``; counts what it did."""

    def __init__(self, seed: int, rate: float, kinds: Sequence[Fault] = KINDS) -> None:
        self.seed = seed
        self.rate = rate
        self.kinds = tuple(kinds)
        self.active = True
        self.calls: Counter[str] = Counter()  # every request seen, by operation
        self.injected: Counter[tuple[str, Fault]] = Counter()  # (operation, fault)
        self.log: list[Injected] = []
        self._streams: dict[str, _Stream] = {}

    def __call__(self, request: bytes) -> Fault:
        name = operation(request)
        self.calls[name] += 1
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = _Stream(self.seed, name, self.kinds)
        fault = stream.draw(self.rate)  # drawn even when inactive: the stream stays aligned
        if not self.active or fault is Fault.PASS:
            return Fault.PASS
        self.injected[name, fault] += 1
        names = frozenset(m.decode() for m in _NAMES.findall(request))
        self.log.append(Injected(name, fault.value, names))
        return fault

    def by_kind(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for (_, fault), n in self.injected.items():
            counts[fault.value] += n
        return counts

    def by_operation(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for (name, _), n in self.injected.items():
            counts[name] += n
        return counts

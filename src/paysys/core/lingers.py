"""How long a partial batch waits for company: the recent gap between arrivals decides whether
it waits at all, and how long (``ArrivalGap``). Pure arithmetic on loop times; the publisher
(``adapters.sns``) and the worker's delete buffer (``worker.acks``) feed it."""

from __future__ import annotations

from dataclasses import dataclass

# The moving average of the gap between arrivals: the newest gap's weight, and the longest gap
# it counts, in lingers (one idle minute must not make the next burst wait to be believed).
GAP_WEIGHT = 0.2
GAP_CAP_LINGERS = 4.0
# A partial batch lingers while at least half an arrival is expected within the linger.
COMPANY_GAP_LINGERS = 2.0


@dataclass(slots=True)
class ArrivalGap:
    """The recent time between arrivals (a moving average, loop seconds). A partial batch
    lingers only while arrivals come at most two lingers apart (half an arrival or more
    expected within the linger): at thinner traffic the linger would hold each one back and
    seldom gather another. It starts at 0 (busy), so a burst from a fresh process is
    batched."""

    average: float = 0.0
    _last: float | None = None

    def observe(self, now: float, cap: float) -> None:
        if self._last is not None:
            self.average += GAP_WEIGHT * (min(now - self._last, cap) - self.average)
        self._last = now

    def expects_company(self, linger: float) -> bool:
        return self.average <= COMPANY_GAP_LINGERS * linger

    def widened(self, linger: float, widest: float, fill: int) -> float:
        """How long a partial batch waits: the time ``fill`` arrivals are expected to take
        (``fill - 1`` gaps after the first), within [``linger``, ``widest``]. Once company
        is expected, a batch waits up to ``widest`` (the latency it may cost) to fill, and no
        longer than filling is expected to take (a full batch goes at once anyway). At thin
        traffic (no company expected within ``linger``), and with ``widest`` <= ``linger``:
        ``linger``, as without widening."""
        if widest <= linger or not self.expects_company(linger):
            return linger
        return min(max((fill - 1) * self.average, linger), widest)

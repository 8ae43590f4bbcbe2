"""The one back-off policy of every retry loop: exponential, capped, with jitter.

A small generator rather than `stamina` or `tenacity`: those wrap one call in retries, while
our loops keep the delays across calls (a subscription rewinds a batch and is called again;
the wake-up loop reconnects, then goes back to its work) and decide themselves what is worth
retrying (`consumer.is_transient`, `outage.report`).
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 0.1
    factor: float = 2.0
    longest: float = 5.0

    def delays(self) -> Iterator[float]:
        """Endless delays: each drawn from [d/2, d], d growing from `first` to `longest`.

        Jittered, so that instances hit by the same outage do not all retry at once.
        """
        delay = self.first
        while True:
            yield delay * random.uniform(0.5, 1.0)
            delay = min(delay * self.factor, self.longest)

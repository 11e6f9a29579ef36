"""Client-side backoff for calls that must eventually get through (complete, fail)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential delays, capped, each drawn from [d/2, d] when ``jitter``: spreads the retries
    of many workers so a restarting server is not hit by all of them at the same instant, while
    never retrying sooner than half the nominal delay."""

    initial: float = 0.05
    multiplier: float = 2.0
    maximum: float = 5.0
    jitter: bool = True

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield random.uniform(delay / 2, delay) if self.jitter else delay
            delay = min(self.maximum, delay * self.multiplier)

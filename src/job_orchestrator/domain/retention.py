"""Retention periods of terminal jobs: ``90s``, ``15m``, ``12h``, ``7d`` or ``forever``."""

from __future__ import annotations

import re

from job_orchestrator.domain.states import JobState
from job_orchestrator.domain.value import value_object

FOREVER = "forever"
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PERIOD = re.compile(r"^([0-9]{1,9})([smhd])$")


def parse_retention(text: str) -> float | None:
    """Seconds to keep a terminal job, or None to keep it forever; ValueError if malformed."""
    value = text.strip().lower()
    if value == FOREVER:
        return None
    match = _PERIOD.match(value)
    if match is None:
        raise ValueError(
            f"{text!r} is not a retention period: use a whole number with s, m, h or d "
            "(90s, 15m, 12h, 7d), or forever"
        )
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r}: a retention period must be longer than zero (or forever)")
    return float(seconds)


@value_object
class RetentionPolicy:
    """How long each terminal state is kept after ``finished_at`` (None: forever)."""

    succeeded_seconds: float | None = 7 * 86400.0
    cancelled_seconds: float | None = 7 * 86400.0
    dlq_seconds: float | None = 30 * 86400.0

    def periods(self) -> list[tuple[JobState, float]]:
        """The terminal states that are deleted at all, with their periods."""
        by_state = (
            (JobState.SUCCEEDED, self.succeeded_seconds),
            (JobState.CANCELLED, self.cancelled_seconds),
            (JobState.DLQ, self.dlq_seconds),
        )
        return [(state, seconds) for state, seconds in by_state if seconds is not None]

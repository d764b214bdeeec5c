"""The probe stopwatch: the one place in probes/ that reads the clocks. A probe's wall-clock
start is part of its result; its latency is measured on the monotonic clock."""
from __future__ import annotations

import time
from datetime import UTC, datetime

from .base import Outcome, ProbeResult
from .reasons import shorten


class Stopwatch:
    """Captures the wall-clock start and measures monotonic latency for one probe run."""

    __slots__ = ("started_at", "_t0", "status")

    def __init__(self) -> None:
        self.started_at = datetime.now(UTC)
        self._t0 = time.monotonic()
        self.status: int | None = None

    def elapsed(self) -> float:
        return max(0.0, time.monotonic() - self._t0)

    def result(self, outcome: Outcome, reason: str, *, latency: float | None = None) -> ProbeResult:
        return ProbeResult(
            outcome=outcome,
            latency_seconds=self.elapsed() if latency is None else latency,
            status=self.status,
            reason=shorten(reason),
            started_at=self.started_at,
        )

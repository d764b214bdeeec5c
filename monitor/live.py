"""What the running daemon knows now: open minutes, counters, canary health. No I/O here;
the daemon feeds results in and takes closed minutes out."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Mapping

from monitor.detector import Thresholds
from monitor.ingest import MinuteAccumulator
from probes import OUTCOME_FAMILY, ProbeResult, ProbeSpec

CANARY_FRESH_SECONDS = 10.0


@dataclass
class DomainNow:
    """The last closed minute of a domain."""

    minute: int
    state: str
    requests: int
    errors: int


@dataclass
class CanaryHealth:
    """The monitor's own vantage point: when every canary fails, failures are ours, not theirs."""

    specs: tuple[ProbeSpec, ...] = ()
    last: dict[str, tuple[float, bool]] = field(default_factory=dict)  # url -> (monotonic time, ok)

    def record(self, spec: ProbeSpec, result: ProbeResult, now: float) -> None:
        self.last[spec.url] = (now, result.family in ("ok", "client_error"))

    def degraded(self, now: float) -> bool:
        if not self.specs:
            return False
        for spec in self.specs:
            seen = self.last.get(spec.url)
            if seen is None or now - seen[0] > CANARY_FRESH_SECONDS or seen[1]:
                return False
        return True


class LiveState:
    def __init__(self, thresholds: Mapping[str, Thresholds], canaries: tuple[ProbeSpec, ...] = ()):
        self.thresholds = dict(thresholds)
        self.open = MinuteAccumulator()
        self.canaries = CanaryHealth(canaries)
        self.requests_total: dict[tuple[str, str], int] = {}
        self.now: dict[str, DomainNow] = {}
        self.observed_since_minute: int | None = None
        self.closed_through_minute: int | None = None
        self.samples_dropped_total = 0          # probe ticks skipped (target still busy) or late results
        self.samples_reclassified_total = 0     # failures marked monitor_error because canaries failed too
        self.db_write_errors_total = 0
        self.minute_close_lag_seconds = 0.0
        self.degraded = False
        self.lateness = deque(maxlen=100_000)   # seconds between scheduled and actual probe start

    def set_observed_since(self, minute: int) -> None:
        self.observed_since_minute = minute

    def record(self, domain: str, outcome: str, wall_seconds: float, mono_now: float) -> str:
        """Account one probe sample; returns the outcome as stored (maybe monitor_error)."""
        if OUTCOME_FAMILY[outcome] == "server_error" and self.canaries.degraded(mono_now):
            outcome = "monitor_error"
            self.samples_reclassified_total += 1
        key = (domain, outcome)
        self.requests_total[key] = self.requests_total.get(key, 0) + 1
        minute = int(wall_seconds // 60)
        if self.observed_since_minute is None or minute < self.observed_since_minute:
            return outcome  # the minute the daemon started in is not fully observed
        if self.closed_through_minute is not None and minute <= self.closed_through_minute:
            self.samples_dropped_total += 1  # finished after its minute was closed
            return outcome
        self.open.add_outcome(domain, minute, outcome)
        return outcome

    def add_pushed(self, domain: str, minute: int, outcome: str | None = None, requests: int = 0,
                   errors: int = 0) -> None:
        if outcome is not None:
            self.open.add_outcome(domain, minute, outcome)
        else:
            self.open.add_aggregate(domain, minute, requests, errors)

    def minute_is_open(self, minute: int, now_minute: int) -> bool:
        """Observed, not yet closed, and not in the future."""
        return (self.observed_since_minute is not None and self.observed_since_minute <= minute <= now_minute
                and (self.closed_through_minute is None or minute > self.closed_through_minute))

    def take_closed(self, through_minute: int) -> list[tuple[str, int, list[int]]]:
        """Remove and return the open cells of minutes <= through_minute."""
        taken = [(d, m, cell) for (d, m), cell in self.open.cells.items() if m <= through_minute]
        for d, m, _ in taken:
            del self.open.cells[(d, m)]
        self.closed_through_minute = max(through_minute, self.closed_through_minute or through_minute)
        for d, m, cell in sorted(taken, key=lambda t: t[1]):
            th = self.thresholds.get(d, Thresholds())
            self.now[d] = DomainNow(m, th.state(cell[0], cell[1]), cell[0], cell[1])
        return taken

    def lateness_p99(self) -> float:
        if not self.lateness:
            return 0.0
        ordered = sorted(self.lateness)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def wall_now() -> float:
    return time.time()

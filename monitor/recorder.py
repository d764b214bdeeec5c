"""Minute recording: samples in, closed minutes out to storage, exactly once.

The recorder owns what the running daemon knows now: the open minutes of every domain, the last
closed minute of each, the canaries' health and the counters /metrics shows. Samples are taken
only for minutes the daemon observes whole (from the minute after it started); a minute is
closed once, when its slowest probe can have finished, and written through the one storage
writer. A failed write puts the minutes back, so the next close retries them instead of losing
them; storage keeps a (domain, minute) marker so a retried or repeated write adds nothing."""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.canaries import CanaryHealth
from monitor.clock import Clock, current_minute
from monitor.samples import Cell, MinuteAccumulator
from monitor.storage import Storage
from monitor.writer import StorageWriter
from probes import OUTCOME_FAMILY, ProbeResult, ProbeSpec
from reports.minutes import Thresholds

log = logging.getLogger("slamon.minutes")


@dataclass
class DomainNow:
    """The last closed minute of a domain."""

    minute: int
    state: str
    requests: int
    errors: int


@dataclass
class RecorderCounters:
    """What /metrics reports about recording itself."""

    requests_total: dict[tuple[str, str], int] = field(default_factory=dict)  # (domain, outcome)
    samples_dropped_total: int = 0       # probe ticks skipped (target still busy) or late results
    samples_reclassified_total: int = 0  # failures marked monitor_error because canaries failed too
    db_write_errors_total: int = 0
    minute_close_lag_seconds: float = 0.0
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))  # probe start delays

    def lateness_p99(self) -> float:
        if not self.lateness:
            return 0.0
        ordered = sorted(self.lateness)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


ClosedMinute = tuple[str, int, Cell]  # (domain, minute, counts)


class MinuteRecorder:
    def __init__(self, clock: Clock, writer: StorageWriter, thresholds: Mapping[str, Thresholds],
                 canaries: tuple[ProbeSpec, ...] = ()) -> None:
        self.clock = clock
        self.writer = writer
        self.thresholds = dict(thresholds)
        self.open = MinuteAccumulator()
        self.canaries = CanaryHealth(canaries)
        self.counters = RecorderCounters()
        self.now: dict[str, DomainNow] = {}
        self.observed_since_minute: int | None = None
        self.closed_through_minute: int | None = None
        self.degraded = False

    def reconfigure(self, thresholds: Mapping[str, Thresholds], canaries: tuple[ProbeSpec, ...]) -> None:
        self.thresholds = dict(thresholds)
        self.canaries.specs = canaries

    def start_observing(self) -> None:
        """The minute the daemon starts in is not observed whole: recording starts with the next."""
        self.observed_since_minute = current_minute(self.clock) + 1

    # --- samples in ----------------------------------------------------------------------------

    def record_canary(self, spec: ProbeSpec, result: ProbeResult) -> None:
        now = self.clock.monotonic()
        self.canaries.record(spec, result, now)
        degraded = self.canaries.degraded(now)
        if degraded != self.degraded:
            self.degraded = degraded
            if degraded:
                log.warning("monitor degraded: every canary fails; failing samples become monitor_error",
                            extra={"canaries": len(self.canaries.specs)})
            else:
                log.info("monitor recovered: a canary answers again")

    def record(self, domain: str, outcome: str, wall_seconds: float) -> str:
        """Account one probe sample started at `wall_seconds`; returns the outcome as stored
        (monitor_error when every canary fails)."""
        if OUTCOME_FAMILY[outcome] == "server_error" and self.canaries.degraded(self.clock.monotonic()):
            outcome = "monitor_error"
            self.counters.samples_reclassified_total += 1
        key = (domain, outcome)
        self.counters.requests_total[key] = self.counters.requests_total.get(key, 0) + 1
        minute = int(wall_seconds // 60)
        if self.observed_since_minute is None or minute < self.observed_since_minute:
            return outcome  # the minute the daemon started in is not fully observed
        if self.closed_through_minute is not None and minute <= self.closed_through_minute:
            self.counters.samples_dropped_total += 1  # finished after its minute was closed
            return outcome
        self.open.add_outcome(domain, minute, outcome)
        return outcome

    def add_pushed(self, domain: str, minute: int, outcome: str | None = None, requests: int = 0,
                   errors: int = 0) -> None:
        """A sample pushed by a collector for an open minute (see minute_is_open)."""
        if outcome is not None:
            self.open.add_outcome(domain, minute, outcome)
        else:
            self.open.add_aggregate(domain, minute, requests, errors)

    def minute_is_open(self, minute: int) -> bool:
        """Observed, not yet closed, and not in the future."""
        return (self.observed_since_minute is not None
                and self.observed_since_minute <= minute <= current_minute(self.clock)
                and (self.closed_through_minute is None or minute > self.closed_through_minute))

    # --- minutes out ---------------------------------------------------------------------------

    def take_closed(self, through_minute: int) -> list[ClosedMinute]:
        """Remove and return the open cells of minutes <= through_minute; later samples of those
        minutes are dropped (and counted)."""
        taken = [(d, m, cell) for (d, m), cell in self.open.cells.items() if m <= through_minute]
        for d, m, _ in taken:
            del self.open.cells[(d, m)]
        self.closed_through_minute = max(through_minute, self.closed_through_minute or through_minute)
        for d, m, cell in sorted(taken, key=lambda t: t[1]):
            state = self.thresholds.get(d, Thresholds()).state(cell[0], cell[1])
            before = self.now.get(d)
            if before is not None and before.state != state:
                log.log(logging.WARNING if state == "down" else logging.INFO, "domain %s is %s (was %s)", d, state,
                        before.state, extra={"domain": d, "state": state, "was": before.state,
                                             "minute": m, "requests": cell[0], "errors": cell[1]})
            self.now[d] = DomainNow(m, state, cell[0], cell[1])
        return taken

    def _put_back(self, taken: list[ClosedMinute]) -> None:
        for domain, minute, cell in taken:
            self.open.cells[(domain, minute)] = cell
        self.closed_through_minute = min(m for _, m, _ in taken) - 1

    async def close(self, through_minute: int) -> int:
        """Write every open minute <= through_minute, once. Returns how many were written."""
        return await self.write(self.take_closed(through_minute), through_minute)

    async def write(self, taken: list[ClosedMinute], through_minute: int) -> int:
        """Write minutes taken by take_closed; on failure they go back to be retried."""
        if not taken:
            return 0
        try:
            written, skipped = await self.writer.run(lambda storage: _write_closed(storage, taken))
        except Exception:
            self.counters.db_write_errors_total += 1
            self._put_back(taken)
            log.exception("writing closed minutes failed; they will be retried", extra={"minutes": len(taken)})
            return 0
        self.counters.minute_close_lag_seconds = max(0.0, self.clock.wall() - (through_minute + 1) * 60)
        if skipped:
            log.warning("minutes already stored were not written again", extra={"skipped": skipped})
        return written


def _write_closed(storage: Storage, taken: list[ClosedMinute]) -> tuple[int, int]:
    ids = storage.domain_ids({d for d, _, _ in taken})
    return storage.close_probe_minutes([(ids[d], m, *cell) for d, m, cell in taken])

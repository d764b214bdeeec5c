"""Minute recording: samples in, closed minutes out to storage, exactly once.

The recorder owns what the running daemon knows now: the open minutes of every domain, the last
closed minute of each, the canaries' health and the counters /metrics shows. Samples are taken
only for minutes the daemon observes (from the minute after it started, or the minute it started
in when a shutdown in that same minute left it partial); a minute is closed once, when its
slowest probe and canary can have finished, and written through the one storage writer.

What a write can meet, and what happens then:
- the database cannot be written (disk full, locked, I/O error): the minutes are held in memory,
  up to `max_held_minutes`, and written by a later close; /metrics and /readyz say so meanwhile;
- one row cannot be stored (a count out of range): that row is quarantined with its reason, and
  every other row is written;
- a row already stored (a retry, a restart): storage's (domain, minute) marker adds nothing.
A minute cut by shutdown is written as partial; a daemon restarted within that minute completes
it, once."""
from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg

from monitor.canaries import CanaryHealth
from monitor.clock import Clock, current_minute
from monitor.samples import ERROR_OUTCOMES, Cell, MinuteAccumulator, outcome_index
from monitor.sql import UNAVAILABLE
from monitor.storage import Storage, StorageError
from monitor.writer import StorageWriter
from probes import OUTCOME_FAMILY, ProbeResult, ProbeSpec
from reports.minutes import Thresholds

log = logging.getLogger("slamon.minutes")
DEFAULT_MAX_HELD_MINUTES = 200_000


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
    minutes_quarantined_total: int = 0   # rows that could not be stored, kept aside with their reason
    minutes_held_dropped_total: int = 0  # held minutes given up when more than max_held were waiting
    minute_close_lag_seconds: float = 0.0
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))  # probe start delays

    def lateness_p99(self) -> float:
        if not self.lateness:
            return 0.0
        ordered = sorted(self.lateness)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass(frozen=True)
class ClosedMinute:
    """A domain's minute taken out of the open ones, on its way to storage."""

    domain: str
    minute: int
    cell: Cell
    partial: bool = False   # observed only in part (cut by shutdown, or begun before the start)


@dataclass
class WriteOutcome:
    written: int = 0
    skipped: int = 0
    quarantined: list[tuple[ClosedMinute, str]] = field(default_factory=list)
    held: list[ClosedMinute] = field(default_factory=list)
    failure: str | None = None
    in_quarantine: int = 0


def transient(exc: BaseException) -> bool:
    """A failure of the database rather than of the row (full, locked, I/O, closed): worth
    retrying the same row later."""
    return isinstance(exc, (*UNAVAILABLE, sqlite3.InterfaceError, sqlite3.ProgrammingError, psycopg.InterfaceError,
                            StorageError, OSError))


class MinuteRecorder:
    def __init__(self, clock: Clock, writer: StorageWriter, thresholds: Mapping[str, Thresholds],
                 canaries: tuple[ProbeSpec, ...] = (), *, max_held_minutes: int = DEFAULT_MAX_HELD_MINUTES) -> None:
        self.clock = clock
        self.writer = writer
        self.thresholds = dict(thresholds)
        self.open = MinuteAccumulator()      # probe samples, written at close
        self.pushed = MinuteAccumulator()    # collectors' samples, already stored: for the state only
        self.canaries = CanaryHealth(canaries)
        self.counters = RecorderCounters()
        self.now: dict[str, DomainNow] = {}
        self.observed_since_minute: int | None = None
        self.closed_through_minute: int | None = None
        self.completing: set[tuple[str, int]] = set()  # partial rows this run may complete
        self.held: list[ClosedMinute] = []
        self.max_held_minutes = max_held_minutes
        self.write_failure: str | None = None   # why the last write failed; None once writes succeed
        self.in_quarantine = 0
        self.degraded = False

    def reconfigure(self, thresholds: Mapping[str, Thresholds], canaries: tuple[ProbeSpec, ...]) -> None:
        self.thresholds = dict(thresholds)
        self.canaries.specs = canaries

    def start_observing(self, partial_domains: frozenset[str] = frozenset()) -> None:
        """The minute the daemon starts in is not observed whole: recording starts with the next,
        unless a shutdown earlier in this same minute wrote it as partial for `partial_domains`:
        then this run observes the rest of it and completes those rows."""
        minute = current_minute(self.clock)
        if partial_domains:
            self.observed_since_minute = minute
            self.completing = {(d, minute) for d in partial_domains}
        else:
            self.observed_since_minute = minute + 1

    # --- samples in ----------------------------------------------------------------------------

    def record_canary(self, spec: ProbeSpec, result: ProbeResult, wall_seconds: float | None = None) -> None:
        now = self.clock.monotonic()
        self.canaries.record(spec, result, now, int(wall_seconds // 60) if wall_seconds is not None else None)
        degraded = self.canaries.degraded(now)
        if degraded != self.degraded:
            self.degraded = degraded
            if degraded:
                log.warning("monitor degraded: every canary fails; failing samples become monitor_error",
                            extra={"canaries": len(self.canaries.specs)})
            else:
                log.info("monitor recovered: a canary answers again")

    def record(self, domain: str, outcome: str, wall_seconds: float) -> str:
        """Account one probe sample started at `wall_seconds`; returns the outcome as recorded
        (monitor_error when every canary fails now; a minute whose canaries failed is judged
        again when it closes)."""
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
        """A collector's sample for an open minute (see minute_is_open), already stored: it counts
        towards the minute's state shown live."""
        if outcome is not None:
            self.pushed.add_outcome(domain, minute, outcome)
        else:
            self.pushed.add_aggregate(domain, minute, requests, errors)

    def minute_is_open(self, minute: int) -> bool:
        """Observed, not yet closed, and not in the future."""
        return (self.observed_since_minute is not None
                and self.observed_since_minute <= minute <= current_minute(self.clock)
                and (self.closed_through_minute is None or minute > self.closed_through_minute))

    # --- minutes out ---------------------------------------------------------------------------

    def _apply_canary_verdict(self, minute: int, cell: Cell) -> None:
        """Target failures of a minute whose canaries failed are the monitor's, whatever order the
        timeouts ended in."""
        moved = 0
        for outcome in ERROR_OUTCOMES:
            i = outcome_index(outcome)
            moved += cell[i]
            cell[i] = 0
        if moved:
            cell[0] -= moved
            cell[1] -= moved
            cell[outcome_index("monitor_error")] += moved
            self.counters.samples_reclassified_total += moved

    def take_closed(self, through_minute: int, *, partial_from: int | None = None) -> list[ClosedMinute]:
        """Remove and return the open cells of minutes <= through_minute; later samples of those
        minutes are dropped (and counted). Minutes >= `partial_from` are cut short (shutdown)."""
        keys = [key for key in self.open.cells if key[1] <= through_minute]
        taken = []
        for d, m in keys:
            cell = self.open.cells.pop((d, m))
            if self.canaries.failed_in(m):
                self._apply_canary_verdict(m, cell)
            begun_before = m == self.observed_since_minute and self.completing and (d, m) not in self.completing
            partial = bool(begun_before) or (partial_from is not None and m >= partial_from)
            taken.append(ClosedMinute(d, m, cell, partial))
        self.closed_through_minute = max(through_minute, self.closed_through_minute or through_minute)
        self.canaries.forget_through(through_minute)
        for closed in sorted(taken, key=lambda c: c.minute):
            self._update_now(closed)
        for key in [key for key in self.pushed.cells if key[1] <= through_minute]:
            del self.pushed.cells[key]
        return taken

    def _update_now(self, closed: ClosedMinute) -> None:
        d, m, cell = closed.domain, closed.minute, closed.cell
        pushed = self.pushed.cells.get((d, m))
        requests, errors = cell[0] + (pushed[0] if pushed else 0), cell[1] + (pushed[1] if pushed else 0)
        state = self.thresholds.get(d, Thresholds()).state(requests, errors)
        before = self.now.get(d)
        if before is not None and before.state != state:
            log.log(logging.WARNING if state == "down" else logging.INFO, "domain %s is %s (was %s)", d, state,
                    before.state, extra={"domain": d, "state": state, "was": before.state,
                                         "minute": m, "requests": requests, "errors": errors})
        self.now[d] = DomainNow(m, state, requests, errors)

    async def close(self, through_minute: int, *, partial_from: int | None = None) -> int:
        """Write every open minute <= through_minute, once, and any minutes held from a failed
        write; minutes from `partial_from` on are written as partial (a shutdown cut them, or
        the answers of their last probes). Returns how many rows were written."""
        return await self.write(self.take_closed(through_minute, partial_from=partial_from), through_minute)

    async def write(self, taken: list[ClosedMinute], through_minute: int) -> int:
        """Write minutes taken by take_closed, with those held from earlier failed writes."""
        batch = self.held + taken
        self.held = []
        if not batch:
            return 0
        try:
            outcome = await self.writer.run(lambda storage: write_minutes(storage, batch))
        except Exception as exc:  # the writer itself failed (its thread, a closed connection)
            outcome = WriteOutcome(held=batch, failure=f"{type(exc).__name__}: {exc}")
        self._account(outcome, through_minute)
        return outcome.written

    def _account(self, outcome: WriteOutcome, through_minute: int) -> None:
        for closed, reason in outcome.quarantined:
            self.counters.minutes_quarantined_total += 1
            log.error("minute quarantined: it cannot be stored; inspect and replay it with `slamon quarantine`",
                      extra={"domain": closed.domain, "minute": closed.minute, "why": reason})
        if outcome.in_quarantine >= 0 and outcome.failure is None:
            self.in_quarantine = outcome.in_quarantine
        if outcome.held:
            self.counters.db_write_errors_total += 1
            self.held = outcome.held
            if len(self.held) > self.max_held_minutes:
                excess = len(self.held) - self.max_held_minutes
                self.held = sorted(self.held, key=lambda c: c.minute)[excess:]
                self.counters.minutes_held_dropped_total += excess
                log.error("too many minutes held in memory: the oldest were given up",
                          extra={"dropped": excess, "max_held_minutes": self.max_held_minutes})
            if self.write_failure is None:
                log.error("storage cannot be written: minutes are held in memory and written when it can",
                          extra={"why": outcome.failure, "held": len(self.held)})
            self.write_failure = outcome.failure or "write failed"
        elif self.write_failure is not None:
            log.warning("storage written again: held minutes stored", extra={"written": outcome.written})
            self.write_failure = None
        if outcome.written or outcome.skipped:
            self.counters.minute_close_lag_seconds = max(0.0, self.clock.wall() - (through_minute + 1) * 60)
        if outcome.skipped:
            log.warning("minutes already stored were not written again", extra={"skipped": outcome.skipped})


def write_minutes(storage: Storage, batch: list[ClosedMinute]) -> WriteOutcome:
    """Store closed minutes: all in one transaction when possible; when that fails for a reason
    other than the database itself, row by row, quarantining the rows that cannot be stored."""
    outcome = WriteOutcome()
    try:
        outcome.written, outcome.skipped = _store(storage, batch)
    except Exception as exc:
        if transient(exc):
            return WriteOutcome(held=batch, failure=f"{type(exc).__name__}: {exc}")
        for closed in batch:
            try:
                written, skipped = _store(storage, [closed])
                outcome.written += written
                outcome.skipped += skipped
            except Exception as row_exc:
                if transient(row_exc):
                    outcome.held.append(closed)
                    outcome.failure = f"{type(row_exc).__name__}: {row_exc}"
                    continue
                reason = f"{type(row_exc).__name__}: {row_exc}"[:500]
                try:
                    storage.quarantine_minute(closed.domain, closed.minute, closed.cell, closed.partial, reason)
                    outcome.quarantined.append((closed, reason))
                except Exception as q_exc:
                    outcome.held.append(closed)
                    outcome.failure = f"{type(q_exc).__name__}: {q_exc}"
    if outcome.failure is None:
        try:
            outcome.in_quarantine = storage.quarantine_count()
        except Exception:
            outcome.in_quarantine = -1
    return outcome


def _store(storage: Storage, batch: list[ClosedMinute]) -> tuple[int, int]:
    ids = storage.domain_ids({c.domain for c in batch})
    written = skipped = 0
    with storage.db.atomic():
        for partial in (False, True):
            rows = [(ids[c.domain], c.minute, *c.cell) for c in batch if c.partial == partial]
            if rows:
                w, s = storage.close_probe_minutes(rows, partial=partial)
                written += w
                skipped += s
    return written, skipped

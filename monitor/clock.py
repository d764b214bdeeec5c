"""The daemon's one source of time. Everything in monitor/ that needs "now" or has to wait gets a
Clock passed in: the wall clock for minutes, months and timestamps, the monotonic clock for
cadences and freshness, and `sleep` for waiting. Tests pass a clock they move by hand, so the
daemon's minutes, month ends and restarts run in-process in milliseconds.

This module and probes/stopwatch.py are the only places that read the system clocks (a test
checks it)."""
from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol

UTC = UTC


class Clock(Protocol):
    def wall(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for intervals and deadlines."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock's monotonic time."""
        ...


def now_utc(clock: Clock) -> datetime:
    """The clock's wall time as an aware UTC datetime."""
    return datetime.fromtimestamp(clock.wall(), UTC)


def current_minute(clock: Clock) -> int:
    """The UTC minute index (epoch seconds // 60) the clock is in."""
    return int(clock.wall() // 60)


class SystemClock:
    """The machine's clocks."""

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class OffsetClock(SystemClock):
    """The machine's clocks with the wall clock shifted: a daemon that lives a few seconds before
    a month end without waiting for one (bench/daemon.py)."""

    def __init__(self, offset_seconds: float) -> None:
        self.offset_seconds = offset_seconds

    def wall(self) -> float:
        return time.time() + self.offset_seconds

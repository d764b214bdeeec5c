"""The daemon's periodic jobs (closing minutes, month-end reports, retention) on the daemon's clock.

Each job is an `async def` with a UTC cadence: it runs at the instants t with
(t - offset) % period == 0, one run at a time (a job never overlaps itself), and a run that
falls behind is coalesced (after a long run the job waits for its next future slot instead of
catching up on the missed ones). A wake-up later than `misfire_grace_seconds` past its slot
(the machine was suspended, the loop was blocked) skips that slot and says so.

Why not APScheduler: it reads the system clock itself, so a daemon using it can only be tested
by waiting out real minutes; these few lines run on the injected Clock."""
from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from monitor.clock import Clock

log = logging.getLogger("slamon.jobs")


@dataclass(frozen=True)
class Cadence:
    """Every `period` seconds, `offset` seconds into each period (UTC, from the epoch): every
    minute at second 3 is Cadence(60, 3); daily at 03:17 UTC is Cadence(86400, 3 * 3600 + 17 * 60)."""

    period: float
    offset: float = 0.0

    def __post_init__(self) -> None:
        if self.period <= 0 or not 0 <= self.offset < self.period:
            raise ValueError("a cadence needs period > 0 and 0 <= offset < period")

    def next_after(self, wall: float) -> float:
        """The first slot strictly after `wall`."""
        slots = math.floor((wall - self.offset) / self.period) + 1
        return slots * self.period + self.offset


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], Awaitable[object]]
    cadence: Callable[[], Cadence]       # read before every wait: a reload may change it
    misfire_grace_seconds: float
    first_run_after_seconds: float | None = None  # also run once this soon after start


class JobRunner:
    """Runs each job in its own task on `clock`; `stop()` cancels and awaits them all."""

    def __init__(self, clock: Clock, jobs: list[Job]) -> None:
        self.clock = clock
        self.jobs = jobs
        self.tasks: list[asyncio.Task[None]] = []
        self.runs: dict[str, int] = {job.name: 0 for job in jobs}

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._loop(job), name=f"job:{job.name}") for job in self.jobs]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []

    async def _run_once(self, job: Job) -> None:
        try:
            await job.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job failed", extra={"job": job.name})
        finally:
            self.runs[job.name] += 1

    async def _loop(self, job: Job) -> None:
        if job.first_run_after_seconds is not None:
            await self.clock.sleep(job.first_run_after_seconds)
            await self._run_once(job)
        last_due = -math.inf
        while True:
            # the loop may wake a hair before `due`: never pick the same slot twice
            due = job.cadence().next_after(max(self.clock.wall(), last_due))
            await self.clock.sleep(due - self.clock.wall())
            last_due = due
            late = self.clock.wall() - due
            if late > job.misfire_grace_seconds:
                log.warning("job run skipped: woke up too late", extra={"job": job.name, "late_seconds": late})
                continue
            await self._run_once(job)

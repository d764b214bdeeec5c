"""The probe cadence: every target at its own interval, spread evenly, without drift and
without pile-up, under one concurrency bound.

APScheduler drives the daemon's minute-scale jobs; probes run at thousands a second, where a
job store and one asyncio task per tick cost more than a heap of deadlines (measured in
bench/probes.py). Ticks are computed from the start time (tick k at phase + k * every), so
lateness never accumulates. Work never queues: a slot is taken before a probe task exists, a
tick already older than its interval is skipped and counted, and so is a tick of a target whose
previous probes are all still running. Under overload the daemon sheds samples (visible in
slamon_samples_dropped_total) instead of running ever later."""
from __future__ import annotations

import asyncio
import heapq
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from monitor.clock import Clock
from probes import ProbeRegistry, ProbeResult, ProbeSpec


@dataclass(frozen=True)
class Target:
    key: str            # the domain name, or "canary:<url>"
    spec: ProbeSpec

    @property
    def max_in_flight(self) -> int:
        # a target that times out on every probe still gets all its samples measured
        return math.ceil(self.spec.timeout_seconds / self.spec.every_seconds) + 1


OnResult = Callable[[Target, ProbeResult, float], None]  # (target, result, wall-clock start)


class ProbeScheduler:
    def __init__(self, targets: list[Target], registry: ProbeRegistry, session: aiohttp.ClientSession,
                 on_result: OnResult, *, clock: Clock, max_concurrency: int = 1000,
                 on_skip: Callable[[Target], None] = lambda t: None,
                 on_lateness: Callable[[float], None] = lambda s: None):
        self.clock = clock
        self.targets = targets
        self.registry = registry
        self.session = session
        self.on_result = on_result
        self.on_skip = on_skip
        self.on_lateness = on_lateness
        self.semaphore = asyncio.Semaphore(max_concurrency)
        self.in_flight: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.started = 0

    @staticmethod
    def phase(target: Target) -> float:
        """A stable offset within the interval, so targets are spread over it, not bunched."""
        return (zlib.crc32(f"{target.key}|{target.spec.url}".encode()) % 10_000) / 10_000 * target.spec.every_seconds

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        clock = self.clock
        start = clock.monotonic()
        heap = [(start + self.phase(t), i) for i, t in enumerate(self.targets)]
        heapq.heapify(heap)
        try:
            while heap:
                due, index = heap[0]
                delay = due - clock.monotonic()
                if delay > 0:
                    await clock.sleep(delay)
                    continue
                target = self.targets[index]
                heapq.heapreplace(heap, (due + target.spec.every_seconds, index))
                if (clock.monotonic() - due > target.spec.every_seconds
                        or self.in_flight.get(target.key, 0) >= target.max_in_flight):
                    self.on_skip(target)
                    continue
                await self.semaphore.acquire()  # one waiter (this loop), never thousands of tasks
                self.in_flight[target.key] = self.in_flight.get(target.key, 0) + 1
                task = loop.create_task(self._probe(target, due))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        finally:
            await self.cancel()

    async def _probe(self, target: Target, due: float) -> None:
        """Runs with a semaphore slot already taken by run(), and gives it back."""
        try:
            self.on_lateness(max(0.0, self.clock.monotonic() - due))
            wall = self.clock.wall()
            self.started += 1
            result = await self.registry.run(target.spec, self.session)
        finally:
            self.semaphore.release()
            self.in_flight[target.key] -= 1
        self.on_result(target, result, wall)

    async def idle(self) -> None:
        """Until every probe started so far has its result."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def cancel(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

"""Where the probes run: in the daemon's own process up to 2,000 probes a second, sharded over
one worker process per core above that (one process saturates near 5,000 requests/s here).
Either way every result reaches the minute recorder; canary results go to its canary health."""
from __future__ import annotations

import asyncio
import os

import aiohttp
from prometheus_client import Histogram

from monitor.clock import Clock
from monitor.config import Config
from monitor.recorder import MinuteRecorder
from monitor.scheduler import ProbeScheduler, Target
from monitor.workers import Batch, ProbeWorkers
from probes import ProbeRegistry, ProbeResult, default_registry

IN_PROCESS_LIMIT_PER_SECOND = 2000
CANARY_PREFIX = "canary:"


def probe_targets(config: Config) -> list[Target]:
    """Every domain probe, and every canary (keyed `canary:URL`)."""
    targets = [Target(name, spec) for name, domain in config.domains.items() for spec in domain.probes]
    targets += [Target(f"{CANARY_PREFIX}{spec.url}", spec) for spec in config.monitor.canaries]
    return targets


def probe_processes(config: Config, domain_targets: list[Target]) -> int:
    """`probe_processes = "auto"`: the daemon's own process up to IN_PROCESS_LIMIT_PER_SECOND
    probes a second, one worker per core above it."""
    setting = config.monitor.probe_processes
    if isinstance(setting, int):
        return setting
    offered = sum(1 / t.spec.every_seconds for t in domain_targets)
    return 1 if offered <= IN_PROCESS_LIMIT_PER_SECOND else max(1, os.cpu_count() or 1)


class ProbeRunner:
    def __init__(self, clock: Clock, recorder: MinuteRecorder, duration: Histogram,
                 registry: ProbeRegistry | None = None) -> None:
        self.clock = clock
        self.recorder = recorder
        self.duration = duration
        self.registry = registry or default_registry()
        self.scheduler: ProbeScheduler | None = None
        self.workers: ProbeWorkers | None = None
        self._task: asyncio.Task[None] | None = None

    def _on_result(self, target: Target, result: ProbeResult, wall: float) -> None:
        if target.key.startswith(CANARY_PREFIX):
            self.recorder.record_canary(target.spec, result, wall)
            return
        self._record(target.key, result.outcome, result.latency_seconds, wall)

    def _record(self, domain: str, outcome: str, latency: float, wall: float) -> None:
        self.recorder.record(domain, outcome, wall)
        self.duration.labels(domain).observe(latency)

    def _on_batch(self, batch: Batch) -> None:
        for domain, outcome, latency, wall in batch.samples:
            self._record(domain, outcome, latency, wall)
        self.recorder.counters.lateness.extend(batch.lateness)
        self.recorder.counters.samples_dropped_total += batch.skipped

    def _on_skip(self, target: Target) -> None:
        self.recorder.counters.samples_dropped_total += 1

    def start(self, config: Config, session: aiohttp.ClientSession) -> None:
        targets = probe_targets(config)
        domain_targets = [t for t in targets if not t.key.startswith(CANARY_PREFIX)]
        processes = probe_processes(config, domain_targets)
        in_process = targets if processes <= 1 else [t for t in targets if t.key.startswith(CANARY_PREFIX)]
        if processes > 1:
            self.workers = ProbeWorkers(domain_targets, processes, config.monitor.max_concurrency, self._on_batch)
            self.workers.start()
        if in_process:
            self.scheduler = ProbeScheduler(in_process, self.registry, session, self._on_result, clock=self.clock,
                                            max_concurrency=config.monitor.max_concurrency, on_skip=self._on_skip,
                                            on_lateness=self.recorder.counters.lateness.append)
            self._task = asyncio.get_running_loop().create_task(self.scheduler.run(), name="probes")

    async def idle(self) -> None:
        """Until every in-process probe started so far has its result."""
        if self.scheduler is not None:
            await self.scheduler.idle()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            self.scheduler = None
        if self.workers:
            await self.workers.stop()
            self.workers = None

"""Probe worker processes: one Python process tops out near 5,000 requests/s on these machines
(bench/probes.py), so at larger scale the targets are sharded over one process per core. Each
worker runs the same ProbeScheduler on its own event loop and ClientSession and sends compact
result batches to the daemon, which keeps the only database writer, the live minutes and the
canaries. Workers ignore SIGTERM/SIGINT: the daemon stops them (or they see its pipe close) so
the last batch is not lost."""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Callable

from monitor.scheduler import ProbeScheduler, Target

log = logging.getLogger("slamon.workers")
BATCH_SECONDS = 0.2

# (target key, outcome, latency seconds, wall-clock start)
Sample = tuple[str, str, float, float]


@dataclass
class Batch:
    samples: list[Sample]
    lateness: list[float]
    skipped: int


def _worker_main(conn: Connection, targets: list[Target], max_concurrency: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from monitor.daemon import _loop_factory, _settle_garbage  # the daemon's loop and GC settings
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_worker(conn, targets, max_concurrency, _settle_garbage))
    conn.close()


async def _worker(conn: Connection, targets: list[Target], max_concurrency: int,
                  settle: Callable[[], None]) -> None:
    import aiohttp
    from probes import default_registry

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    batch = Batch([], [], 0)

    def on_result(target: Target, result, wall: float, mono: float) -> None:
        batch.samples.append((target.key, result.outcome, result.latency_seconds, wall))

    def on_skip(target: Target) -> None:
        batch.skipped += 1

    def readable() -> None:
        try:
            conn.recv()  # "stop"
        except (EOFError, OSError):
            pass  # the daemon is gone
        stop.set()

    loop.add_reader(conn.fileno(), readable)
    connector = aiohttp.TCPConnector(limit=max_concurrency, ttl_dns_cache=60)
    async with aiohttp.ClientSession(connector=connector, raise_for_status=False) as session:
        scheduler = ProbeScheduler(targets, default_registry(), session, on_result,
                                   max_concurrency=max_concurrency, on_skip=on_skip,
                                   on_lateness=batch.lateness.append)
        task = loop.create_task(scheduler.run())
        settle()
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), BATCH_SECONDS)
                except asyncio.TimeoutError:
                    pass
                if batch.samples or batch.skipped or batch.lateness:
                    conn.send(Batch(batch.samples, batch.lateness, batch.skipped))
                    batch.samples, batch.lateness, batch.skipped = [], [], 0
        except (BrokenPipeError, OSError):
            pass
        finally:
            loop.remove_reader(conn.fileno())
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    try:
        conn.send(Batch(batch.samples, batch.lateness, batch.skipped))
    except (BrokenPipeError, OSError):
        pass


class ProbeWorkers:
    """Starts `processes` workers over the targets and feeds their batches to `on_batch`."""

    def __init__(self, targets: list[Target], processes: int, max_concurrency: int,
                 on_batch: Callable[[Batch], None]):
        self.shards = [targets[i::processes] for i in range(processes)]
        self.max_concurrency = max(1, max_concurrency // processes)
        self.on_batch = on_batch
        self.context = multiprocessing.get_context("spawn")  # no inherited loop, threads or sockets
        self.workers: list[tuple[multiprocessing.Process, Connection]] = []
        self.done: list[asyncio.Future] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for shard in self.shards:
            if not shard:
                continue
            parent, child = self.context.Pipe()
            process = self.context.Process(target=_worker_main, args=(child, shard, self.max_concurrency),
                                           name="slamon-probes", daemon=True)
            process.start()
            child.close()
            finished = loop.create_future()
            loop.add_reader(parent.fileno(), self._readable, parent, finished)
            self.workers.append((process, parent))
            self.done.append(finished)
        log.info("probe workers started", extra={"processes": len(self.workers),
                                                 "targets": sum(len(s) for s in self.shards)})

    def _readable(self, conn: Connection, finished: asyncio.Future) -> None:
        try:
            self.on_batch(conn.recv())
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(conn.fileno())
            if not finished.done():
                finished.set_result(None)

    async def stop(self, timeout: float = 10.0) -> None:
        for _, conn in self.workers:
            try:
                conn.send("stop")
            except (BrokenPipeError, OSError):
                pass
        if self.done:
            await asyncio.wait(self.done, timeout=timeout)  # their last batches arrive first
        deadline = time.monotonic() + 2.0
        for process, conn in self.workers:
            await asyncio.to_thread(process.join, max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 1.0)
            if not conn.closed:
                try:
                    asyncio.get_running_loop().remove_reader(conn.fileno())
                except (ValueError, OSError):
                    pass
                conn.close()
        self.workers.clear()
        self.done.clear()

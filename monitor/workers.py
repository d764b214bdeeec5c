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
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import aiohttp

from monitor.clock import Clock, SystemClock
from monitor.runtime import loop_factory, settle_garbage
from monitor.scheduler import ProbeScheduler, Target
from probes import ProbeResult, default_registry

log = logging.getLogger("slamon.workers")
BATCH_SECONDS = 0.2

# (target key, outcome, latency seconds, wall-clock start)
Sample = tuple[str, str, float, float]


@dataclass
class Batch:
    samples: list[Sample]
    lateness: list[float]
    skipped: int


def _worker_main(control: Connection, results: Connection, targets: list[Target], max_concurrency: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:  # the daemon's loop and GC settings
        runner.run(_worker(control, results, targets, max_concurrency, SystemClock()))
    results.close()


def _wait_for_stop(control: Connection) -> None:
    try:
        control.recv()  # "stop"
    except (EOFError, OSError):
        pass  # the daemon is gone


async def _worker(control: Connection, results: Connection, targets: list[Target], max_concurrency: int,
                  clock: Clock) -> None:
    loop = asyncio.get_running_loop()
    batch = Batch([], [], 0)

    def on_result(target: Target, result: ProbeResult, wall: float) -> None:
        batch.samples.append((target.key, result.outcome, result.latency_seconds, wall))

    def on_skip(target: Target) -> None:
        batch.skipped += 1

    def flush() -> None:
        # a blocking write on a one-way pipe: if the daemon falls behind, the worker waits
        # (back-pressure) rather than dropping results
        if batch.samples or batch.skipped or batch.lateness:
            results.send(Batch(batch.samples, batch.lateness, batch.skipped))
            batch.samples, batch.lateness, batch.skipped = [], [], 0

    # the control pipe is read by a thread with blocking reads: an event-loop reader would make
    # the descriptor non-blocking, and multiprocessing connections expect blocking ones
    stopped = loop.run_in_executor(None, _wait_for_stop, control)
    connector = aiohttp.TCPConnector(limit=max_concurrency, ttl_dns_cache=60)
    async with aiohttp.ClientSession(connector=connector, raise_for_status=False) as session:
        scheduler = ProbeScheduler(targets, default_registry(), session, on_result, clock=clock,
                                   max_concurrency=max_concurrency, on_skip=on_skip,
                                   on_lateness=lambda seconds: batch.lateness.append(seconds))
        task = loop.create_task(scheduler.run())
        settle_garbage()
        try:
            while not stopped.done():
                await asyncio.wait([stopped], timeout=BATCH_SECONDS)
                flush()
        except (BrokenPipeError, EOFError):
            return  # the daemon is gone; nobody to send to
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    try:
        flush()
    except (BrokenPipeError, EOFError):
        pass


class ProbeWorkers:
    """Starts `processes` workers over the targets and feeds their batches to `on_batch`."""

    def __init__(self, targets: list[Target], processes: int, max_concurrency: int,
                 on_batch: Callable[[Batch], None]):
        self.shards = [targets[i::processes] for i in range(processes)]
        self.max_concurrency = max(1, max_concurrency // processes)
        self.on_batch = on_batch
        self.context = multiprocessing.get_context("spawn")  # no inherited loop, threads or sockets
        self.workers: list[tuple[BaseProcess, Connection]] = []
        self.pumps: list[asyncio.Future[None]] = []
        self.stopping = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for shard in self.shards:
            if not shard:
                continue
            control_read, control_write = self.context.Pipe(duplex=False)
            results_read, results_write = self.context.Pipe(duplex=False)
            process = self.context.Process(target=_worker_main,
                                           args=(control_read, results_write, shard, self.max_concurrency),
                                           name="slamon-probes", daemon=True)
            process.start()
            control_read.close()
            results_write.close()
            self.workers.append((process, control_write))
            self.pumps.append(loop.run_in_executor(None, self._pump, loop, results_read))
        log.info("probe workers started", extra={"processes": len(self.workers),
                                                 "targets": sum(len(s) for s in self.shards)})

    def _pump(self, loop: asyncio.AbstractEventLoop, results: Connection) -> None:
        """A thread per worker: blocking reads, each batch handed to the event loop."""
        try:
            while True:
                loop.call_soon_threadsafe(self.on_batch, results.recv())
        except (EOFError, OSError):
            if not self.stopping:  # its domains get no samples: their minutes become unknown
                loop.call_soon_threadsafe(log.error, "a probe worker exited; its targets are not probed")
        finally:
            results.close()

    async def stop(self, timeout: float = 10.0) -> None:
        self.stopping = True
        for _, control in self.workers:
            try:
                control.send("stop")
            except (BrokenPipeError, OSError):
                pass
        if self.pumps:
            await asyncio.wait(self.pumps, timeout=timeout)  # their last batches arrive first
        await asyncio.sleep(0)  # let the batches the pumps scheduled run
        # two seconds for all of them together, then the ones still alive are killed
        await asyncio.gather(*(asyncio.to_thread(process.join, 2.0) for process, _ in self.workers))
        for process, control in self.workers:
            if process.is_alive():
                log.warning("probe worker did not stop; killing it", extra={"pid": process.pid})
                process.kill()
                await asyncio.to_thread(process.join, 1.0)
            control.close()
        self.workers.clear()
        self.pumps.clear()

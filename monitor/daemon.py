"""`slamon run`: the daemon as the owner of a lifecycle. It builds the parts — probe runner, minute
recorder, storage writer, month-to-date accounting, report publisher, jobs, HTTP listener — starts
them in order, stops them in reverse (every task it starts it also cancels and awaits), and
swaps the config on SIGHUP (a bad one is logged and the running one kept). SIGTERM/SIGINT flush
the open minutes. All time comes from one injected Clock."""
from __future__ import annotations

import asyncio
import logging
import math
import signal
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor.accounting_worker import AccountingRunner, config_ref, month_end, uses_process
from monitor.api import ApiServices, QuietAppRunner, build_app
from monitor.clock import Clock, SystemClock, current_minute, now_utc
from monitor.config import Config, load_config
from monitor.demo import build_demo_app
from monitor.errors import ConfigError
from monitor.jobs import Cadence, Job, JobRunner
from monitor.metrics import SlamonCollector, probe_duration_histogram
from monitor.month_to_date import MonthToDate
from monitor.probing import ProbeRunner
from monitor.publisher import ReportPublisher
from monitor.recorder import MinuteRecorder
from monitor.runtime import loop_factory, settle_garbage, setup_logging
from monitor.status import daemon_status
from monitor.storage import Storage
from monitor.writer import StorageWriter
from reports.accounting import minute_to_index

log = logging.getLogger("slamon")
DEFAULT_TIMEOUT_SECONDS = 5.0


def host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host or "0.0.0.0", int(port)


def thresholds_of(config: Config) -> dict[str, Any]:
    return {name: d.thresholds for name, d in config.domains.items()}


class Daemon:
    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.config = config
        self.started_at = now_utc(self.clock)
        self.storage = Storage(config.monitor.storage_target, clock=self.clock, threaded=True)
        self.writer = StorageWriter(self.storage)
        self.registry = CollectorRegistry()
        self.recorder = MinuteRecorder(self.clock, self.writer, thresholds_of(config), config.monitor.canaries,
                                       max_held_minutes=config.monitor.max_held_minutes)
        self.accounting = AccountingRunner()
        self.month_to_date = MonthToDate(self.clock, self.accounting)
        self.publisher = ReportPublisher()
        self.probes = ProbeRunner(self.clock, self.recorder, probe_duration_histogram(self.registry))
        self.registry.register(SlamonCollector(self.recorder, self.month_to_date))
        self.app = build_app(ApiServices(
            clock=self.clock, config=lambda: self.config, registry=self.registry, recorder=self.recorder,
            month_to_date=self.month_to_date, writer=self.writer, status=self.status,
            inputs_changed=self.refresh_month_to_date, not_ready=self.not_ready))
        self.jobs = JobRunner(self.clock, [
            Job("close-minutes", self.close_minutes_job, self.close_cadence, misfire_grace_seconds=30),
            Job("monthly-reports", self.reports_job, lambda: Cadence(300, 30), misfire_grace_seconds=300,
                first_run_after_seconds=5),
            Job("retention", self.retention_job, lambda: Cadence(86400, 3 * 3600 + 17 * 60),
                misfire_grace_seconds=3600),
        ])
        self.stopping = asyncio.Event()
        self.addresses: list[tuple[str, int]] = []   # where the HTTP listener is bound
        self._session: aiohttp.ClientSession | None = None
        self._runners: list[web.AppRunner] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._signals = False

    # --- minutes ---------------------------------------------------------------------------------

    def max_timeout(self) -> float:
        """The longest a probe or canary started in a minute can take to answer."""
        timeouts = [s.timeout_seconds for d in self.config.domains.values() for s in d.probes]
        timeouts += [s.timeout_seconds for s in self.config.monitor.canaries]
        return max(timeouts, default=DEFAULT_TIMEOUT_SECONDS)

    def close_cadence(self) -> Cadence:
        """A minute is closed once its slowest probe can have finished."""
        return Cadence(60, min(59, math.ceil(self.max_timeout()) + 2))

    async def close_minutes_job(self) -> None:
        through = math.floor((self.clock.wall() - self.max_timeout() - 1) / 60) - 1
        written = await self.recorder.close(through)
        log.debug("minutes closed", extra={"through_minute": through, "written": written})
        await self.refresh_month_to_date()

    async def refresh_month_to_date(self) -> None:
        await self.month_to_date.refresh(self.config)

    # --- reports and retention ---------------------------------------------------------------------

    async def reports_job(self) -> list[Path]:
        if self.recorder.held:  # a month is not frozen while some of its minutes wait in memory
            log.warning("monthly reports wait: minutes are held until storage can be written",
                        extra={"held": len(self.recorder.held)})
            return []
        config, now, timeout = self.config, now_utc(self.clock), self.max_timeout()
        # computed and rendered off the writer (its own connection, maybe its own process); the
        # writer only records what was written
        work = await self.accounting.run(uses_process(config), month_end, config_ref(config), now, timeout)
        return await self.writer.run(lambda storage: self.publisher.record(storage, work))

    async def retention_job(self) -> None:
        days = self.config.monitor.record_retention_days
        keep_from = minute_to_index(now_utc(self.clock) - timedelta(days=days))
        dropped = await self.writer.run(lambda storage: storage.drop_minutes_before(keep_from))
        log.info("retention", extra={"minute_rows_dropped": dropped, "record_retention_days": days})

    def not_ready(self) -> list[str]:
        """Why the daemon should not be sent traffic or trusted now (empty: ready)."""
        reasons = []
        if not self.addresses or self.recorder.observed_since_minute is None:
            reasons.append("starting")
        if self.stopping.is_set():
            reasons.append("stopping")
        if self.recorder.write_failure is not None:
            reasons.append(f"minutes cannot be written ({len(self.recorder.held)} held in memory)")
        if self.recorder.degraded:
            reasons.append("every canary fails: the monitor is cut off")
        return reasons

    def status(self) -> dict[str, Any]:
        return daemon_status(self.started_at, self.config, self.recorder, self.month_to_date)

    # --- lifecycle -------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> bool:
        """Read the config file again; a bad one is logged and the running one kept."""
        try:
            new = load_config(self.config.path)
        except ConfigError as exc:
            log.error("config reload rejected; the running config stays",
                      extra={"problems": [str(p) for p in exc.problems]})
            return False
        if (new.monitor.storage_target != self.config.monitor.storage_target
                or new.monitor.listen != self.config.monitor.listen):
            log.warning("database and listen changes need a restart; other changes applied")
        await self.probes.stop()
        self.config = new
        self.recorder.reconfigure(thresholds_of(new), new.monitor.canaries)
        if self._session is not None:
            self.probes.start(new, self._session)
        log.info("config reloaded", extra={"domains": len(new.domains), "contracts": len(new.contracts)})
        await self.refresh_month_to_date()
        return True

    async def _serve(self, app: web.Application, listen: str) -> web.AppRunner:
        runner = QuietAppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        host, port = host_port(listen)
        await web.TCPSite(runner, host, port).start()
        return runner

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload(), "reload"))
        self._signals = True

    async def start(self, *, handle_signals: bool = False) -> None:
        """Listen, probe and schedule the jobs. `handle_signals`: SIGTERM/SIGINT stop the daemon,
        SIGHUP reloads it (installed before the listener: a supervisor may signal as soon as it
        answers)."""
        connector = aiohttp.TCPConnector(limit=self.config.monitor.max_concurrency, ttl_dns_cache=60)
        self._session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
        if handle_signals:
            self._install_signals()
        demo = self.config.monitor.demo
        if demo:
            await self._serve(build_demo_app(demo, self.clock), demo.listen)
            log.info("demo target serving", extra={"listen": demo.listen})
        runner = await self._serve(self.app, self.config.monitor.listen)
        self.addresses = [(str(a[0]), int(a[1])) for a in runner.addresses]
        minute = current_minute(self.clock)
        self.recorder.start_observing(await self.writer.run(lambda storage: storage.partial_domains(minute)))
        self.recorder.in_quarantine = await self.writer.run(lambda storage: storage.quarantine_count())
        self.probes.start(self.config, self._session)
        self.jobs.start()
        host, port = self.addresses[0] if self.addresses else host_port(self.config.monitor.listen)
        base = f"http://{host}:{port}"
        log.info("slamon running", extra={
            "status_page": f"{base}/", "metrics": f"{base}/metrics", "listen": self.config.monitor.listen,
            "domains": len(self.config.domains), "contracts": len(self.config.contracts),
            "database": self.storage.where})
        await self.refresh_month_to_date()

    async def stop(self) -> int:
        """Stop everything started, flush the open minutes; returns how many were flushed."""
        if self._signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            self._signals = False
        await self.jobs.stop()
        await self.accounting.stop()
        await self.probes.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # the probes cancelled just now began up to max_timeout ago: their minutes are cut short too
        cut_from = math.floor((self.clock.wall() - self.max_timeout()) / 60)
        flushed = await self.recorder.close(current_minute(self.clock), partial_from=cut_from)
        if self.recorder.held:
            log.error("stopping with minutes that could not be written: they are lost",
                      extra={"minutes": len(self.recorder.held), "why": self.recorder.write_failure})
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        self.addresses = []
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.writer.close()
        log.info("stopped", extra={"minutes_flushed": flushed})
        return flushed

    async def run(self) -> None:
        """The process's main coroutine: start, wait for SIGTERM/SIGINT, stop."""
        try:
            await self.start(handle_signals=True)
            settle_garbage()
            await self.stopping.wait()
            log.info("stopping: flushing open minutes")
        finally:
            await self.stop()


def run_daemon(config_path: str, log_format: str = "auto", log_level: str = "INFO") -> int:
    setup_logging(log_level, log_format)
    config = load_config(config_path)
    daemon = Daemon(config)
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(daemon.run())
    except OSError as exc:
        log.error("cannot start", extra={"why": str(exc)})
        return 1
    return 0

"""`slamon run`: probes -> live minutes -> storage, /metrics, the admin API, scheduled reports.

Every task it starts it also cancels and awaits on shutdown; SIGTERM/SIGINT flush the open
minutes; SIGHUP reloads the config (a bad one is logged and the running one kept)."""
from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
import math
import os
import signal
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from prometheus_client import CollectorRegistry

from monitor.api import build_app
from monitor.config import Config, load_config
from monitor.demo import build_demo_app
from monitor.errors import ConfigError, InputError
from monitor.live import LiveState
from monitor.metrics import SlamonCollector, probe_duration_histogram
from monitor.revisions import describe_changes, snapshot, unchanged, with_revision_block
from monitor.scheduler import ProbeScheduler, Target
from monitor.storage import Storage
from monitor.workers import Batch, ProbeWorkers
from probes import ProbeResult, default_registry
from reports.accounting import ContractResult, build_reports, minute_to_index
from reports.compensation import add_months
from reports.render import contract_markdown, report_csv, report_json

log = logging.getLogger("slamon")
UTC = timezone.utc
REVISION_MONTHS = 3  # frozen reports older than this are no longer recomputed


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    _standard = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        data.update({k: v for k, v in vars(record).items() if k not in self._standard})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host or "0.0.0.0", int(port)


class Daemon:
    def __init__(self, config: Config):
        self.config = config
        self.storage = Storage(config.monitor.database, threaded=True)
        self.registry = CollectorRegistry()
        self.live = self._new_live(config)
        self.duration = probe_duration_histogram(self.registry)
        self.month_to_date: list[ContractResult] = []
        self.month_to_date_at: str | None = None
        self.registry.register(SlamonCollector(lambda: self.live, lambda: self.month_to_date, self._elapsed_minutes))
        self.probe_registry = default_registry()
        self.started_at = datetime.now(UTC)
        self.stopping = asyncio.Event()
        self._probe_task: asyncio.Task | None = None
        self._workers: ProbeWorkers | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._tasks: set[asyncio.Task] = set()
        self._mtd_lock = asyncio.Lock()
        self._db_lock = asyncio.Lock()
        self._reports_without_data: set[tuple[str, str]] = set()  # said once, not every 5 minutes

    @staticmethod
    def _new_live(config: Config) -> LiveState:
        return LiveState({n: d.thresholds for n, d in config.domains.items()}, config.monitor.canaries)

    # --- probes -----------------------------------------------------------------------------

    def _targets(self) -> list[Target]:
        targets = [Target(name, spec) for name, domain in self.config.domains.items() for spec in domain.probes]
        targets += [Target(f"canary:{spec.url}", spec) for spec in self.config.monitor.canaries]
        return targets

    def _on_result(self, target: Target, result: ProbeResult, wall: float, mono: float) -> None:
        if target.key.startswith("canary:"):
            self.live.canaries.record(target.spec, result, mono)
            degraded = self.live.canaries.degraded(mono)
            if degraded != self.live.degraded:
                self.live.degraded = degraded
                if degraded:
                    log.warning("monitor degraded: every canary fails; failing samples become monitor_error",
                                extra={"canaries": len(self.config.monitor.canaries)})
                else:
                    log.info("monitor recovered: a canary answers again")
            return
        self._record_sample(target.key, result.outcome, result.latency_seconds, wall, mono)

    def _record_sample(self, domain: str, outcome: str, latency: float, wall: float, mono: float) -> None:
        self.live.record(domain, outcome, wall, mono)
        self.duration.labels(domain).observe(latency)

    def _on_batch(self, batch: Batch) -> None:
        mono = asyncio.get_running_loop().time()  # canary freshness is judged on our own clock
        for domain, outcome, latency, wall in batch.samples:
            self._record_sample(domain, outcome, latency, wall, mono)
        self.live.lateness.extend(batch.lateness)
        self.live.samples_dropped_total += batch.skipped

    def _on_skip(self, target: Target) -> None:
        self.live.samples_dropped_total += 1

    def probe_processes(self, targets: list[Target]) -> int:
        """`probe_processes = "auto"`: in the daemon's own process up to 2,000 probes/s, one
        worker per core above that (one process saturates near 5,000/s here)."""
        setting = self.config.monitor.probe_processes
        if setting != "auto":
            return setting
        offered = sum(1 / t.spec.every_seconds for t in targets)
        return 1 if offered <= 2000 else max(1, os.cpu_count() or 1)

    def _start_probes(self, session: aiohttp.ClientSession) -> None:
        targets = self._targets()
        domain_targets = [t for t in targets if not t.key.startswith("canary:")]
        processes = self.probe_processes(domain_targets)
        in_process = targets if processes <= 1 else [t for t in targets if t.key.startswith("canary:")]
        if processes > 1:
            self._workers = ProbeWorkers(domain_targets, processes, self.config.monitor.max_concurrency,
                                         self._on_batch)
            self._workers.start()
        if in_process:
            scheduler = ProbeScheduler(in_process, self.probe_registry, session, self._on_result,
                                       max_concurrency=self.config.monitor.max_concurrency, on_skip=self._on_skip,
                                       on_lateness=self.live.lateness.append)
            self._probe_task = asyncio.get_running_loop().create_task(scheduler.run(), name="probes")

    async def _stop_probes(self) -> None:
        if self._probe_task:
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
            self._probe_task = None
        if self._workers:
            await self._workers.stop()
            self._workers = None

    # --- minutes ----------------------------------------------------------------------------

    def _max_timeout(self) -> float:
        timeouts = [s.timeout_seconds for d in self.config.domains.values() for s in d.probes]
        return max(timeouts, default=5.0)

    async def db(self, work, *args, **kwargs):
        """Database work runs in a worker thread, one piece at a time: the event loop keeps
        probing while a minute of 10,000 domains is written (hundreds of ms)."""
        async with self._db_lock:
            return await asyncio.to_thread(work, *args, **kwargs)

    async def close_minutes(self, through_minute: int) -> int:
        """Write every open minute <= through_minute, once. A failed write puts the minutes
        back, so the next close retries them instead of losing them."""
        taken = self.live.take_closed(through_minute)  # live state belongs to the event loop
        if not taken:
            return 0
        try:
            written, skipped = await self.db(self._write_closed, taken)
        except Exception:
            self.live.db_write_errors_total += 1
            for domain, minute, cell in taken:
                self.live.open.cells[(domain, minute)] = cell
            self.live.closed_through_minute = min(m for _, m, _ in taken) - 1
            log.exception("writing closed minutes failed; they will be retried", extra={"minutes": len(taken)})
            return 0
        self.live.minute_close_lag_seconds = max(0.0, time.time() - (through_minute + 1) * 60)
        if skipped:
            log.warning("minutes already stored were not written again", extra={"skipped": skipped})
        return written

    def _write_closed(self, taken) -> tuple[int, int]:
        ids = self.storage.domain_ids({d for d, _, _ in taken})
        return self.storage.close_probe_minutes([(ids[d], m, *cell) for d, m, cell in taken])

    def _close_trigger(self) -> CronTrigger:
        """A minute is closed once its slowest probe can have finished."""
        return CronTrigger(second=min(59, math.ceil(self._max_timeout()) + 2), timezone=UTC)

    async def close_minutes_job(self) -> None:
        through = math.floor((time.time() - self._max_timeout() - 1) / 60) - 1
        written = await self.close_minutes(through)
        log.debug("minutes closed", extra={"through_minute": through, "written": written})
        await self.refresh_month_to_date()

    # --- month to date ------------------------------------------------------------------------

    def _elapsed_minutes(self, result: ContractResult) -> int:
        now_minute = int(time.time() // 60)
        return min(now_minute, result.period.end_minute) - result.period.start_minute

    def _compute_month_to_date(self, config: Config) -> list[ContractResult]:
        results = []
        with Storage(config.monitor.database) as storage:  # its own connection: runs in a worker thread
            labels: dict[str, list[str]] = {}
            for contract in config.contracts.values():
                tz = contract.timezone or config.regimes[contract.regime].timezone
                labels.setdefault(datetime.now(ZoneInfo(tz)).strftime("%Y-%m"), []).append(contract.id)
            for label, ids in labels.items():
                try:
                    results += build_reports(config, storage, label, ids)
                except InputError:
                    continue  # nothing stored yet this month
        return results

    async def refresh_month_to_date(self) -> None:
        async with self._mtd_lock:
            try:
                self.month_to_date = await asyncio.to_thread(self._compute_month_to_date, self.config)
                self.month_to_date_at = datetime.now(UTC).isoformat()
            except Exception:
                log.exception("month-to-date accounting failed")

    # --- monthly reports ----------------------------------------------------------------------

    def _last_month(self, contract, now: datetime) -> tuple[datetime, str] | None:
        """(start of this month in the contract's zone, label of last month), or None while last
        month's final minute may still be open."""
        tz = ZoneInfo(contract.timezone or self.config.regimes[contract.regime].timezone)
        this_month = now.astimezone(tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if now < this_month + timedelta(seconds=60 + self._max_timeout() + 60):
            return None  # the last minute of the month may still be open
        return this_month, add_months(this_month.date(), -1).strftime("%Y-%m")

    def _once(self, key: tuple, message: str, **extra) -> None:
        """Log something that would otherwise repeat every 5 minutes once per daemon."""
        if key not in self._reports_without_data:
            self._reports_without_data.add(key)
            log.info(message, extra=extra)

    def _render_report(self, fmt: str, label: str, results: list[ContractResult], revision: int,
                       diff: list[str]) -> str | None:
        """A report's text; None when the HTML renderer is not available."""
        if fmt == "json":
            data = report_json(label, results)
            if revision > 1:
                data["revision"] = revision
                data["diff"] = list(diff)
            return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        if fmt == "md":
            text = contract_markdown(results[0])
            return with_revision_block(text, revision, diff) if revision > 1 else text
        if fmt == "csv":
            return report_csv(label, results)
        try:
            from reports.html import render_contract_html
        except ImportError:
            self._once(("no-html",), "HTML reports not written: reports.html is not available")
            return None
        try:
            return render_contract_html(results[0], revision=revision, diff=tuple(diff))
        except Exception:  # the other formats are still written and frozen
            log.exception("HTML report not rendered", extra={"contract": results[0].contract.id, "period": label,
                                                             "revision": revision})
            return None

    def _formats(self) -> list[str]:
        """The configured formats this installation can render."""
        formats = list(self.config.monitor.report_formats)
        if "html" in formats:
            try:
                import reports.html  # noqa: F401
            except ImportError:
                self._once(("no-html",), "HTML reports not written: reports.html is not available")
                formats.remove("html")
        return formats

    @staticmethod
    def _write_file(path: Path, text: str) -> str:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return hashlib.sha256(text.encode()).hexdigest()

    def write_due_reports(self, now: datetime | None = None) -> list[Path]:
        """Write each contract's last month once it has ended in the contract's zone (and its last
        minute has closed): revision 1, frozen. The database remembers what was written: a restart
        neither writes a report twice nor skips one. A later change of its inputs is
        `revise_reports`'s business, never a rewrite."""
        now = now or datetime.now(UTC)
        written = []
        for contract in self.config.contracts.values():
            due = self._last_month(contract, now)
            if due is None:
                continue
            label = due[1]
            formats = [f for f in self._formats() if not self.storage.report_written(contract.id, label, f)]
            latest = self.storage.latest_report_revision(contract.id, label)
            if not formats and latest is not None:
                continue
            try:
                results = build_reports(self.config, self.storage, label, [contract.id])
            except InputError as exc:
                self._once((contract.id, label), "monthly report not written", contract=contract.id, period=label,
                           why=str(exc))
                continue
            snap = snapshot(results[0])
            if latest is not None and not unchanged(latest, snap):
                # a format added to revision 1 later must show revision 1's figures: the changed
                # figures go to the next revision, with all formats
                self._once((contract.id, label, "frozen"), "report formats not added to a frozen revision "
                           "whose inputs changed since", contract=contract.id, period=label, formats=formats)
                continue
            folder = self.config.monitor.reports_dir / label
            folder.mkdir(parents=True, exist_ok=True)
            files = []
            for fmt in formats:
                text = self._render_report(fmt, label, results, 1, [])
                if text is None:
                    continue
                path = folder / f"{contract.id}.{fmt}"
                files.append((fmt, path, self._write_file(path, text)))
            with self.storage.db.atomic():  # the files and revision 1 are recorded together
                for fmt, path, sha in files:
                    self.storage.record_report(contract.id, label, fmt, str(path), sha)
                if latest is None:
                    self.storage.add_report_revision(
                        contract.id, label, 1, evidence_digest=snap.digest,
                        credit_amount=str(results[0].credit_amount), currency=contract.currency, diff=[],
                        evidence=snap.evidence_text, report=snap.report_text, files={})
            for fmt, path, _ in files:
                written.append(path)
                log.info("monthly report written", extra={"contract": contract.id, "period": label,
                                                          "path": str(path)})
        return written

    def revise_reports(self, now: datetime | None = None) -> list[Path]:
        """Recompute the frozen reports of the last REVISION_MONTHS months; where the inputs or
        figures changed (a window or notice added or ended, late data), write revision N+1 as
        CONTRACT.rN.EXT beside the earlier ones, with the list of changes. Nothing is rewritten."""
        now = now or datetime.now(UTC)
        due_labels: dict[str, list[str]] = {}  # one computation per month for all its contracts
        for contract in self.config.contracts.values():
            due = self._last_month(contract, now)
            this_month = due[0] if due else now.astimezone(
                ZoneInfo(contract.timezone or self.config.regimes[contract.regime].timezone)).replace(day=1)
            since = add_months(this_month.date(), -REVISION_MONTHS).strftime("%Y-%m")
            for label in self.storage.report_periods(contract.id, since):
                due_labels.setdefault(label, []).append(contract.id)
        written = []
        for label, ids in sorted(due_labels.items()):
            try:
                results = build_reports(self.config, self.storage, label, ids)
            except InputError as exc:
                self._once((label, "revise"), "frozen reports not recomputed", period=label, contracts=ids,
                           why=str(exc))
                continue
            for result in results:
                written += self._revise(label, result)
        return written

    def _revise(self, label: str, result: ContractResult) -> list[Path]:
        contract = result.contract
        latest = self.storage.latest_report_revision(contract.id, label)
        snap = snapshot(result)
        if latest is None or unchanged(latest, snap):
            return []
        revision = latest["revision"] + 1
        diff = describe_changes(latest["evidence"], latest["report"], snap.evidence, snap.report)
        folder = self.config.monitor.reports_dir / label
        folder.mkdir(parents=True, exist_ok=True)
        files, paths = {}, []
        for fmt in self._formats():
            text = self._render_report(fmt, label, [result], revision, diff)
            if text is None:
                continue
            path = folder / f"{contract.id}.r{revision}.{fmt}"
            files[fmt] = {"path": str(path), "sha256": self._write_file(path, text)}
            paths.append(path)
        self.storage.add_report_revision(
            contract.id, label, revision, evidence_digest=snap.digest, credit_amount=str(result.credit_amount),
            currency=contract.currency, diff=diff, evidence=snap.evidence_text, report=snap.report_text, files=files)
        log.warning("monthly report revised", extra={"contract": contract.id, "period": label,
                                                     "revision": revision, "diff": diff})
        return paths

    def reports_job_sync(self, now: datetime | None = None) -> list[Path]:
        return self.write_due_reports(now) + self.revise_reports(now)

    async def reports_job(self) -> None:
        await self.db(self.write_due_reports)
        await self.db(self.revise_reports)  # the minutes being closed may go between the two

    async def retention_job(self) -> None:
        keep_from = minute_to_index(datetime.now(UTC) - timedelta(days=self.config.monitor.record_retention_days))
        dropped = await self.db(self.storage.drop_minutes_before, keep_from)
        log.info("retention", extra={"minute_rows_dropped": dropped,
                                     "record_retention_days": self.config.monitor.record_retention_days})

    # --- status ----------------------------------------------------------------------------

    def status(self) -> dict:
        def minute_iso(m):
            return datetime.fromtimestamp(m * 60, UTC).isoformat() if m is not None else None
        return {
            "started_at": self.started_at.isoformat(),
            "observed_since": minute_iso(self.live.observed_since_minute),
            "closed_through": minute_iso(self.live.closed_through_minute),
            "degraded": self.live.degraded,
            "samples_dropped": self.live.samples_dropped_total,
            "samples_monitor_error": self.live.samples_reclassified_total,
            "db_write_errors": self.live.db_write_errors_total,
            "domains": [
                {"domain": name, "probes": len(d.probes),
                 **({"minute": minute_iso(now.minute), "state": now.state, "requests": now.requests,
                     "errors": now.errors} if (now := self.live.now.get(name)) else {"state": None})}
                for name, d in self.config.domains.items()],
            "month_to_date_at": self.month_to_date_at,
        }

    # --- lifecycle ----------------------------------------------------------------------------

    async def reload(self, session: aiohttp.ClientSession) -> None:
        try:
            new = load_config(self.config.path)
        except ConfigError as exc:
            log.error("config reload rejected; the running config stays",
                      extra={"problems": [str(p) for p in exc.problems]})
            return
        if new.monitor.database != self.config.monitor.database or new.monitor.listen != self.config.monitor.listen:
            log.warning("database and listen changes need a restart; other changes applied")
        await self._stop_probes()
        self.config = new
        self.live.thresholds = {n: d.thresholds for n, d in new.domains.items()}
        self.live.canaries.specs = new.monitor.canaries
        self._start_probes(session)
        _settle_garbage()
        if self._scheduler is not None:
            self._scheduler.reschedule_job("close-minutes", trigger=self._close_trigger())
        log.info("config reloaded", extra={"domains": len(new.domains), "contracts": len(new.contracts)})
        await self.refresh_month_to_date()

    def _spawn(self, coro, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        runners: list[web.AppRunner] = []
        connector = aiohttp.TCPConnector(limit=self.config.monitor.max_concurrency, ttl_dns_cache=60)
        async with aiohttp.ClientSession(connector=connector, raise_for_status=False) as session:
            # handlers first: a supervisor may signal as soon as the listener answers
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stopping.set)
            loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload(session), "reload"))
            try:
                if self.config.monitor.demo:
                    runners.append(await self._serve(build_demo_app(self.config.monitor.demo),
                                                     self.config.monitor.demo.listen))
                    log.info("demo target serving", extra={"listen": self.config.monitor.demo.listen})
                runners.append(await self._serve(build_app(self), self.config.monitor.listen))
                self.live.set_observed_since(int(time.time() // 60) + 1)
                self._start_probes(session)
                _settle_garbage()

                scheduler = AsyncIOScheduler(timezone=UTC)
                common = {"coalesce": True, "max_instances": 1}
                scheduler.add_job(self.close_minutes_job, self._close_trigger(),
                                  id="close-minutes", misfire_grace_time=30, **common)
                scheduler.add_job(self.reports_job, CronTrigger(minute="*/5", second=30, timezone=UTC),
                                  id="monthly-reports", misfire_grace_time=300,
                                  next_run_time=datetime.now(UTC) + timedelta(seconds=5), **common)
                scheduler.add_job(self.retention_job, CronTrigger(hour=3, minute=17, timezone=UTC),
                                  id="retention", misfire_grace_time=3600, **common)
                scheduler.start()
                self._scheduler = scheduler
                log.info("slamon running", extra={"listen": self.config.monitor.listen,
                                                  "domains": len(self.config.domains),
                                                  "contracts": len(self.config.contracts),
                                                  "database": str(self.config.monitor.database)})
                await self.refresh_month_to_date()
                await self.stopping.wait()
                log.info("stopping: flushing open minutes")
                scheduler.shutdown(wait=False)
            finally:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
                await self._stop_probes()
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                flushed = await self.close_minutes(int(time.time() // 60))
                for runner in reversed(runners):
                    await runner.cleanup()
                self.storage.close()
                log.info("stopped", extra={"minutes_flushed": flushed})

    async def _serve(self, app: web.Application, listen: str) -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = _host_port(listen)
        await web.TCPSite(runner, host, port).start()
        return runner


def _settle_garbage() -> None:
    """The daemon holds ~100k long-lived objects (config, histogram children, the heap) and makes
    short-lived ones at thousands of probes a second: with the default thresholds, full
    collections took half the CPU (bench/probes.py). Freeze what setup built, collect rarely."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _loop_factory():
    try:
        import uvloop  # measured: the default loop's ceiling here is below 5,000 requests/s
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_daemon(config_path: str) -> int:
    setup_logging(os.environ.get("SLAMON_LOG_LEVEL", "INFO"))
    config = load_config(config_path)
    daemon = Daemon(config)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(daemon.run())
    except OSError as exc:
        log.error("cannot start", extra={"why": str(exc)})
        return 1
    return 0

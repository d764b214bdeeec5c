"""The daemon's parts on their own: the minute recorder, canaries, the jobs' cadence, the probe
cadence, the demo target, probe worker processes, minutes left before the next tier."""
from __future__ import annotations

import asyncio
import math
import sqlite3
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from monitor import demo
from monitor.clock import SystemClock
from monitor.config import DemoSettings, parse_config
from monitor.jobs import Cadence, Job, JobRunner
from monitor.metrics import minutes_to_next_tier, probe_duration_histogram
from monitor.probing import ProbeRunner
from monitor.recorder import MinuteRecorder
from monitor.scheduler import ProbeScheduler, Target
from monitor.storage import Storage
from monitor.writer import StorageWriter
from probes import ProbeResult, ProbeSpec, default_registry
from reports.minutes import Thresholds
from reports.regimes import builtin_regimes
from tests.support import UTC, FakeClock, domain_toml, minute_row, monitor_toml


def result(outcome: str) -> ProbeResult:
    return ProbeResult(outcome=outcome, latency_seconds=0.01, status=None, reason="test",  # type: ignore[arg-type]
                       started_at=datetime(2026, 11, 1, tzinfo=UTC))


@pytest.fixture
def writer(tmp_path: Path):
    w = StorageWriter(Storage(tmp_path / "slamon.db", threaded=True))
    yield w
    w.close()


def test_live_minutes_skip_the_start_minute_and_close_once(writer):
    clock = FakeClock(1000 * 60 + 30)
    recorder = MinuteRecorder(clock, writer, {"mail": Thresholds()})
    recorder.start_observing()
    assert recorder.observed_since_minute == 1001
    recorder.record("mail", "ok", 1000 * 60 + 30)       # the partial start minute
    for i in range(20):
        recorder.record("mail", "server_error" if i < 2 else "ok", 1001 * 60 + i)
    assert ("mail", 1000) not in recorder.open.cells and recorder.open.cells[("mail", 1001)][:2] == [20, 2]
    closed = recorder.take_closed(1001)
    assert [(c.domain, c.minute, c.cell[:2], c.partial) for c in closed] == [("mail", 1001, [20, 2], False)]
    assert recorder.now["mail"].state == "down"                      # 2/20 > 5%
    recorder.record("mail", "ok", 1001 * 60 + 59)          # arrives after its minute closed
    assert recorder.counters.samples_dropped_total == 1 and not recorder.open.cells
    assert recorder.take_closed(1001) == []


async def test_canaries_failing_together_turn_failures_into_monitor_errors(writer):
    clock = FakeClock(60)
    canary = ProbeSpec("tcp://127.0.0.1:9", timeout_seconds=1.0)
    recorder = MinuteRecorder(clock, writer, {"mail": Thresholds()}, (canary,))
    recorder.observed_since_minute = 0
    recorder.record_canary(canary, result("connect_error"))
    await clock.advance(1)
    assert recorder.record("mail", "timeout", 60.0) == "monitor_error"
    assert recorder.record("mail", "client_error", 60.0) == "client_error"
    await clock.advance(100)  # stale canary evidence does not count, and a canary that answers clears it
    assert recorder.record("mail", "timeout", 60.0) == "timeout"
    recorder.record_canary(canary, result("ok"))
    await clock.advance(1)
    assert recorder.record("mail", "timeout", 60.0) == "timeout"
    cell = recorder.open.cells[("mail", 1)]
    assert cell[0] == 3 and cell[1] == 2  # the monitor_error sample is not in the denominator
    assert recorder.counters.samples_reclassified_total == 1


async def test_a_failed_minute_write_is_retried_not_lost(writer):
    clock = FakeClock(1000 * 60 + 30)
    recorder = MinuteRecorder(clock, writer, {"mail": Thresholds()})
    recorder.observed_since_minute = 1000
    for i in range(20):
        recorder.record("mail", "ok", 1000 * 60 + i)
    real = writer.storage.close_probe_minutes
    calls = []

    def failing_once(rows, *, partial=False):
        calls.append(len(rows))
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return real(rows, partial=partial)

    writer.storage.close_probe_minutes = failing_once  # type: ignore[method-assign]
    assert await recorder.close(1000) == 0
    assert recorder.counters.db_write_errors_total == 1 and [c.minute for c in recorder.held] == [1000]
    assert recorder.write_failure == "OperationalError: disk I/O error"
    assert await recorder.close(1000) == 1
    assert recorder.held == [] and recorder.write_failure is None
    assert writer.storage.minute_rows("mail", 1000, 1001)[0]["requests"] == 20


def test_restart_never_writes_a_minute_twice(storage):
    ids = storage.domain_ids(["mail"])
    row = minute_row(ids["mail"], 29_000_000, 30)
    assert storage.close_probe_minutes([row]) == (1, 0)
    assert storage.close_probe_minutes([row]) == (0, 1)
    assert storage.minute_rows("mail", 29_000_000, 29_000_001)[0]["requests"] == 30


@pytest.mark.parametrize("regime,total,downtime,expected", [
    ("lineworks", 43200, 0, 43.0),      # 43 more keeps >= 99.9% (43,157/43,200 = 99.9004%)
    ("lineworks", 43200, 43, 0.0),      # one more minute crosses into 3 days
    ("lineworks", 43200, 44, 388.0),    # 3 days until 432 minutes (exactly 99.0% still 3 days)
    ("lineworks-kr", 43200, 44, 387.0),  # exactly 99.0% is already 7 days there
    ("lineworks", 43200, 2161, math.inf),  # below 95%: no worse tier
])
def test_minutes_to_next_tier(regime, total, downtime, expected):
    assert minutes_to_next_tier(builtin_regimes()[regime], total, downtime) == expected


# --- jobs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cadence,wall,expected", [
    (Cadence(60, 3), 120.0, 123.0),
    (Cadence(60, 3), 123.0, 183.0),           # strictly after: a slot is never picked twice
    (Cadence(60, 3), 122.999, 123.0),
    (Cadence(300, 30), 1000.0, 1230.0),
    (Cadence(86400, 3 * 3600 + 17 * 60), 86400 * 3 + 3 * 3600 + 17 * 60 + 1, 86400 * 4 + 3 * 3600 + 17 * 60),
])
def test_cadence_next_slot(cadence, wall, expected):
    assert cadence.next_after(wall) == expected


def test_a_cadence_validates_itself():
    for period, offset in ((0, 0), (60, 60), (60, -1)):
        with pytest.raises(ValueError):
            Cadence(period, offset)


async def test_jobs_run_on_their_slots_one_at_a_time_and_coalesce_when_late():
    clock = FakeClock(0)
    started: list[float] = []

    async def slow() -> None:
        started.append(clock.wall())
        await clock.sleep(150)  # longer than two periods

    async def failing() -> None:
        raise RuntimeError("a failing run is logged, the job goes on")

    runner = JobRunner(clock, [Job("slow", slow, lambda: Cadence(60, 3), misfire_grace_seconds=30),
                               Job("failing", failing, lambda: Cadence(60, 0), misfire_grace_seconds=30)])
    runner.start()
    await clock.advance(400)
    await runner.stop()
    # 3, then (busy until 153) the next free slot 183, then (busy until 333) 363: never two at once,
    # the slots missed while busy are not caught up
    assert started == [3.0, 183.0, 363.0]
    assert runner.runs["failing"] == 6 and not runner.tasks


async def test_a_job_that_wakes_too_late_skips_its_slot():
    class Sleepy(FakeClock):
        """Wakes 100 s after the deadline it was given, once."""
        late = True

        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            if self.late:
                self.late = False
                self._move_to(self.monotonic() + 100)

    clock = Sleepy(0)
    ran: list[float] = []

    async def job() -> None:
        ran.append(clock.wall())

    runner = JobRunner(clock, [Job("j", job, lambda: Cadence(60, 0), misfire_grace_seconds=30)])
    runner.start()
    await clock.advance(200)
    await runner.stop()
    assert ran == [180.0]  # the slot at 60 was missed by 100 s (more than the grace): skipped


# --- probes --------------------------------------------------------------------------------------

async def test_scheduler_keeps_cadence_and_does_not_pile_up_on_a_slow_target():
    hits = {"fast": 0, "slow": 0}

    async def fast(request):
        hits["fast"] += 1
        return web.Response(text="ok")

    async def slow(request):
        hits["slow"] += 1
        await asyncio.sleep(5)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/fast", fast)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    results: dict[str, list[str]] = {"fast": [], "slow": []}
    skipped: list[str] = []
    targets = [Target("fast", ProbeSpec(f"http://127.0.0.1:{port}/fast", every_seconds=0.1, timeout_seconds=0.5)),
               Target("slow", ProbeSpec(f"http://127.0.0.1:{port}/slow", every_seconds=0.1, timeout_seconds=0.3))]
    try:
        async with aiohttp.ClientSession() as session:
            scheduler = ProbeScheduler(targets, default_registry(), session,
                                       lambda t, r, wall: results[t.key].append(r.outcome), clock=SystemClock(),
                                       on_skip=lambda t: skipped.append(t.key))
            task = asyncio.create_task(scheduler.run())
            await asyncio.sleep(2.05)  # the real clock: this is about the real event loop's timing
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert not scheduler.tasks  # every probe task was cancelled and awaited
    finally:
        await runner.cleanup()
    # 2 s at 10/s: about 20 ticks each, spread from a stable phase, no burst and no drift
    assert 18 <= len(results["fast"]) <= 21 and set(results["fast"]) == {"ok"}
    # the slow target times out on every probe; at most ceil(0.3/0.1)+1 = 4 run at once
    assert set(results["slow"]) == {"timeout"}
    assert hits["slow"] <= 21 and len(results["slow"]) >= 14
    assert all(key == "slow" for key in skipped)


async def test_demo_target_fails_its_share_on_every_path_only_in_failing_minutes():
    clock = FakeClock(300 * 60 + 10.0)                        # minute 300: failing
    settings = DemoSettings(fail_every_minutes=5, fail_for_minutes=1, error_ratio=Fraction(1, 2))
    async with TestClient(TestServer(demo.build_demo_app(settings, clock))) as client:
        statuses: dict[str, list[int]] = {"/mail": [], "/drive": []}
        for _ in range(10):
            for path in statuses:  # interleaved, as two probes are
                statuses[path].append((await client.get(path)).status)
        assert all(s.count(503) == 5 and s.count(200) == 5 for s in statuses.values())
        await clock.advance(60)                                # minute 301: healthy
        assert {(await client.get("/mail")).status for _ in range(6)} == {200}


async def test_probe_worker_processes_feed_the_recorder_and_stop_cleanly(tmp_path: Path, writer):
    hits = []

    async def ok(request):
        hits.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{name}", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    domains = "".join(domain_toml(f"d{i}", url=f"http://127.0.0.1:{port}/d{i}", every="500ms") for i in range(4))
    config = parse_config(monitor_toml(extra="probe_processes = 2") + domains, tmp_path / "config.toml")
    clock = SystemClock()  # worker processes run on the system clock
    recorder = MinuteRecorder(clock, writer, {})
    recorder.observed_since_minute = 0
    probes = ProbeRunner(clock, recorder, probe_duration_histogram(CollectorRegistry()))
    requests = recorder.counters.requests_total
    try:
        async with aiohttp.ClientSession() as session:
            probes.start(config, session)
            assert probes.workers is not None and len(probes.workers.workers) == 2
            processes = [p for p, _ in probes.workers.workers]
            for _ in range(100):
                if all(requests.get((f"d{i}", "ok"), 0) >= 4 for i in range(4)):
                    break
                await asyncio.sleep(0.2)
            await probes.stop()
    finally:
        await runner.cleanup()
    assert all(requests.get((f"d{i}", "ok"), 0) >= 4 for i in range(4)), requests
    assert not any(p.is_alive() for p in processes)
    # every sample a worker sent reached the open minutes, the last batch included (a probe
    # cancelled at stop may have reached the server without a result)
    counted = sum(cell[0] for cell in recorder.open.cells.values())
    assert counted == sum(requests.values())
    assert len(hits) - 8 <= counted <= len(hits)

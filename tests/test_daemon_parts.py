"""The daemon's parts without its process: live minutes, canaries, the cadence, month-end
reports written once, minutes left before the next tier."""
from __future__ import annotations

import asyncio
import json
import math
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.detector import Thresholds
from monitor.live import LiveState
from monitor.metrics import minutes_to_next_tier
from monitor.scheduler import ProbeScheduler, Target
from probes import ProbeResult, ProbeSpec, default_registry
from reports.regimes import builtin_regimes

UTC = timezone.utc


def result(outcome: str) -> ProbeResult:
    return ProbeResult(outcome=outcome, latency_seconds=0.01, status=None, reason="test",
                       started_at=datetime.now(UTC))


def test_live_minutes_skip_the_start_minute_and_close_once():
    live = LiveState({"mail": Thresholds()})
    live.set_observed_since(1001)
    live.record("mail", "ok", 1000 * 60 + 30, 0.0)       # the partial start minute
    for i in range(20):
        live.record("mail", "server_error" if i < 2 else "ok", 1001 * 60 + i, 0.0)
    assert (("mail", 1000) not in live.open.cells) and live.open.cells[("mail", 1001)][:2] == [20, 2]
    closed = live.take_closed(1001)
    assert [(d, m, cell[:2]) for d, m, cell in closed] == [("mail", 1001, [20, 2])]
    assert live.now["mail"].state == "down"                       # 2/20 > 5%
    live.record("mail", "ok", 1001 * 60 + 59, 0.0)         # arrives after its minute closed
    assert live.samples_dropped_total == 1 and not live.open.cells
    assert live.take_closed(1001) == []


def test_canaries_failing_together_turn_failures_into_monitor_errors():
    canary = ProbeSpec("tcp://127.0.0.1:9", timeout_seconds=1.0)
    live = LiveState({"mail": Thresholds()}, (canary,))
    live.set_observed_since(0)
    live.canaries.record(canary, result("connect_error"), now=100.0)
    assert live.record("mail", "timeout", 60.0, mono_now=101.0) == "monitor_error"
    assert live.record("mail", "client_error", 60.0, mono_now=101.0) == "client_error"
    # stale canary evidence does not count, and a canary that answers clears it
    assert live.record("mail", "timeout", 60.0, mono_now=200.0) == "timeout"
    live.canaries.record(canary, result("ok"), now=201.0)
    assert live.record("mail", "timeout", 60.0, mono_now=202.0) == "timeout"
    cell = live.open.cells[("mail", 1)]
    assert cell[0] == 3 and cell[1] == 2  # the monitor_error sample is not in the denominator
    assert live.samples_reclassified_total == 1


@pytest.mark.parametrize("regime,total,downtime,expected", [
    ("lineworks", 43200, 0, 43.0),      # 43 more keeps >= 99.9% (43,157/43,200 = 99.9004%)
    ("lineworks", 43200, 43, 0.0),      # one more minute crosses into 3 days
    ("lineworks", 43200, 44, 388.0),    # 3 days until 432 minutes (exactly 99.0% still 3 days)
    ("lineworks-kr", 43200, 44, 387.0),  # exactly 99.0% is already 7 days there
    ("lineworks", 43200, 2161, math.inf),  # below 95%: no worse tier
])
def test_minutes_to_next_tier(regime, total, downtime, expected):
    assert minutes_to_next_tier(builtin_regimes()[regime], total, downtime) == expected


CONFIG = """
[monitor]
database = "slamon.db"
listen = "127.0.0.1:0"
reports_dir = "reports"

[[domain]]
name = "mail"

[[contract]]
id = "acme"
customer = "ACME"
regime = "lineworks"
domains = ["mail"]
unit_price = "540"
licenses = 100
"""


def test_month_end_report_written_once_across_restarts(tmp_path: Path):
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(CONFIG)
    config = parse_config(CONFIG, cfg_path)
    daemon = Daemon(config)
    start = datetime(2026, 10, 31, 15, 0, tzinfo=UTC)  # 2026-11-01 00:00 JST
    ids = daemon.storage.domain_ids(["mail"])
    rows = []
    for i in range(43200):
        minute = int(start.timestamp() // 60) + i
        errors = 20 if 1000 <= i < 1044 else 0
        rows.append((ids["mail"], minute, 20, errors, 20 - errors, 0, errors, 0, 0, 0, 0, 0))
    daemon.storage.close_probe_minutes(rows)

    before_end = datetime(2026, 11, 30, 14, 59, tzinfo=UTC)
    assert daemon.write_due_reports(now=before_end + timedelta(hours=-1)) == []   # still November in Tokyo
    after_end = datetime(2026, 11, 30, 15, 5, tzinfo=UTC)
    written = daemon.write_due_reports(now=after_end)
    assert sorted(p.name for p in written if p.suffix != ".html") == ["acme.csv", "acme.json", "acme.md"]
    report = json.loads((tmp_path / "reports" / "2026-11" / "acme.json").read_text())
    assert report["contracts"][0]["credit_amount"] == "5400"
    first_bytes = {p.name: p.read_bytes() for p in written}
    daemon.storage.close()

    restarted = Daemon(parse_config(CONFIG, cfg_path))
    assert restarted.write_due_reports(now=after_end + timedelta(minutes=5)) == []
    assert {p.name: p.read_bytes() for p in written} == first_bytes
    restarted.storage.close()


def test_restart_never_writes_a_minute_twice(tmp_path: Path):
    config = parse_config(CONFIG, tmp_path / "config.toml")
    daemon = Daemon(config)
    ids = daemon.storage.domain_ids(["mail"])
    row = (ids["mail"], 29_000_000, 30, 0, 30, 0, 0, 0, 0, 0, 0, 0)
    assert daemon.storage.close_probe_minutes([row]) == (1, 0)
    assert daemon.storage.close_probe_minutes([row]) == (0, 1)
    assert daemon.storage.minute_rows("mail", 29_000_000, 29_000_001)[0]["requests"] == 30
    daemon.storage.close()


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
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    results: dict[str, list[str]] = {"fast": [], "slow": []}
    skipped: list[str] = []
    targets = [Target("fast", ProbeSpec(f"http://127.0.0.1:{port}/fast", every_seconds=0.1, timeout_seconds=0.5)),
               Target("slow", ProbeSpec(f"http://127.0.0.1:{port}/slow", every_seconds=0.1, timeout_seconds=0.3))]
    try:
        async with aiohttp.ClientSession() as session:
            scheduler = ProbeScheduler(targets, default_registry(), session,
                                       lambda t, r, wall, mono: results[t.key].append(r.outcome),
                                       on_skip=lambda t: skipped.append(t.key))
            task = asyncio.create_task(scheduler.run())
            await asyncio.sleep(2.05)
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


async def test_demo_target_fails_its_share_on_every_path_only_in_failing_minutes(monkeypatch):
    from fractions import Fraction
    from aiohttp.test_utils import TestClient, TestServer
    from monitor import demo
    from monitor.config import DemoSettings

    settings = DemoSettings(fail_every_minutes=5, fail_for_minutes=1, error_ratio=Fraction(1, 2))
    app = demo.build_demo_app(settings)
    async with TestClient(TestServer(app)) as client:
        monkeypatch.setattr(demo.time, "time", lambda: 300 * 60 + 10.0)   # minute 300: failing
        statuses = {"/mail": [], "/drive": []}
        for _ in range(10):
            for path in statuses:  # interleaved, as two probes are
                statuses[path].append((await client.get(path)).status)
        assert all(s.count(503) == 5 and s.count(200) == 5 for s in statuses.values())
        monkeypatch.setattr(demo.time, "time", lambda: 301 * 60 + 10.0)   # minute 301: healthy
        assert {(await client.get("/mail")).status for _ in range(6)} == {200}


async def test_probe_worker_processes_feed_the_daemon_and_stop_cleanly(tmp_path: Path):
    hits = []

    async def ok(request):
        hits.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{name}", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    domains = "".join(f'\n[[domain]]\nname = "d{i}"\n  [[domain.probe]]\n  url = "http://127.0.0.1:{port}/d{i}"\n'
                      f'  every = "500ms"\n  timeout = "1s"\n' for i in range(4))
    text = f'[monitor]\ndatabase = "slamon.db"\nprobe_processes = 2\n{domains}'
    daemon = Daemon(parse_config(text, tmp_path / "config.toml"))
    daemon.live.set_observed_since(0)
    try:
        async with aiohttp.ClientSession() as session:
            daemon._start_probes(session)
            assert daemon._workers is not None and len(daemon._workers.workers) == 2
            processes = [p for p, _ in daemon._workers.workers]
            deadline = asyncio.get_running_loop().time() + 20
            while asyncio.get_running_loop().time() < deadline:
                if all(daemon.live.requests_total.get((f"d{i}", "ok"), 0) >= 4 for i in range(4)):
                    break
                await asyncio.sleep(0.2)
            await daemon._stop_probes()
    finally:
        await runner.cleanup()
        daemon.storage.close()
    assert all(daemon.live.requests_total.get((f"d{i}", "ok"), 0) >= 4 for i in range(4)), daemon.live.requests_total
    assert not any(p.is_alive() for p in processes)
    # every sample a worker sent reached the open minutes, the last batch included (a probe
    # cancelled at stop may have reached the server without a result)
    counted = sum(cell[0] for cell in daemon.live.open.cells.values())
    assert counted == sum(daemon.live.requests_total.values())
    assert len(hits) - 8 <= counted <= len(hits)


async def test_a_failed_minute_write_is_retried_not_lost(tmp_path: Path):
    import sqlite3
    daemon = Daemon(parse_config(CONFIG, tmp_path / "config.toml"))
    daemon.live.set_observed_since(1000)
    for i in range(20):
        daemon.live.record("mail", "ok", 1000 * 60 + i, 0.0)
    real = daemon.storage.close_probe_minutes
    calls = []

    def failing_once(rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return real(rows)

    daemon.storage.close_probe_minutes = failing_once
    assert await daemon.close_minutes(1000) == 0
    assert daemon.live.db_write_errors_total == 1 and ("mail", 1000) in daemon.live.open.cells
    assert await daemon.close_minutes(1000) == 1
    assert daemon.storage.minute_rows("mail", 1000, 1001)[0]["requests"] == 20
    daemon.storage.close()

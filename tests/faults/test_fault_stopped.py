"""Fault: the daemon stopped for N minutes. A real daemon process on the scaled clock is stopped
with SIGTERM and a new process starts on the same database with its clock N minutes further on
(an offset: the machine was off that long, and the test does not wait it out). The minutes
nobody observed have no row in minute_counts, so the monthly report counts them as unknown:
never up, never down."""
from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from monitor.storage import Storage
from tests.faults.fastd import ScaledClock
from tests.faults.harness import FastDaemon, Figures, integrity, minute_rows, scaled_clock, sleep_until
from tests.support import (
    Target,
    domain_toml,
    free_port,
    lineworks_contract_toml,
    minute_index,
    monitor_toml,
    run_cli,
    store_minutes,
    write_config,
)

SPEED = 30.0
STOPPED_MINUTES = 5
START = datetime(2026, 11, 10, 9, 0, 40, tzinfo=UTC)
MONTH_MINUTES = 30 * 1440


async def observed_since(port: int) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/api/v1/status") as resp:
            status = await resp.json()
    return minute_index(datetime.fromisoformat(status["observed_since"]))


def report_scope(cfg: Path) -> dict[str, Any]:
    result = run_cli("report", "--config", cfg, "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    scope: dict[str, Any] = result.json()["contracts"][0]["scopes"][0]
    return scope


async def test_minutes_while_stopped_are_absent_and_reported_unknown(tmp_path: Path, fault_figures: Figures) -> None:
    target = await Target().start()
    port = free_port()
    probe = domain_toml("web", url=target.url(), every="2s", timeout="500ms")
    cfg = write_config(tmp_path, monitor_toml(listen=f"127.0.0.1:{port}") + probe)
    contract = lineworks_contract_toml("acme", ["web"], timezone="UTC")
    report_cfg = write_config(tmp_path, monitor_toml() + probe + contract, name="report.toml")
    db = tmp_path / "slamon.db"
    clock = scaled_clock(START, SPEED)
    daemons: list[FastDaemon] = []
    try:
        first = FastDaemon(cfg, clock)
        daemons.append(first)
        await first.wait_for("slamon running")
        o = await observed_since(port)
        await sleep_until(clock, (o + 1) * 60 + 20)         # minute o closed, o + 1 under way ...
        assert await asyncio.to_thread(first.terminate) == 0, first.tail()   # ... when it stops: o + 1
        clock = ScaledClock(SPEED, clock.start_wall, clock.start_mono,      # flushed as partial
                            offset=STOPPED_MINUTES * 60)
        second = FastDaemon(cfg, clock)
        daemons.append(second)
        await second.wait_for("slamon running")
        b = await observed_since(port) - 1                   # the minute it started in: not observed whole
        await sleep_until(clock, (b + 3) * 60 + 10)         # b + 1 and b + 2 observed and closed
        assert await asyncio.to_thread(second.terminate) == 0, second.tail()
    finally:
        for daemon in daemons:
            daemon.cleanup()
        await target.stop()

    problems = [line for d in daemons for line in d.problems()]
    assert not problems, "\n".join(problems[:20])
    assert integrity(db) == "ok"

    rows = minute_rows(db, "web")
    partial = sorted(m for m, r in rows.items() if r["marker"] == 1)
    a = partial[0]
    assert a == o + 1 and partial == [a, b + 3], (o, b, partial)   # the two SIGTERMs' minutes
    absent = [m for m in range(o, b + 4) if m not in rows]
    assert absent == list(range(a + 1, b + 1)), (o, a, b, sorted(rows))
    assert len(absent) >= STOPPED_MINUTES
    assert sorted(rows) == [o, a, b + 1, b + 2, b + 3]
    assert all(rows[m]["requests"] == rows[m]["samples"] >= 20 and rows[m]["errors"] == 0
               for m in (o, b + 1, b + 2)), rows

    scope = report_scope(report_cfg)
    up = [m for m, r in rows.items() if r["requests"] >= 20 and r["errors"] == 0]
    assert scope["downtime_minutes"] == 0
    assert scope["up_minutes"] == len(up) == 3
    assert scope["unknown_minutes"] == MONTH_MINUTES - len(up)

    # the same month with the absent minutes observed up: exactly they leave the unknown ones
    filled = tmp_path / "filled"
    filled.mkdir()
    shutil.copy(db, filled / "slamon.db")
    with Storage(filled / "slamon.db") as storage:
        store_minutes(storage, "web", [(m, 30, 0) for m in absent])
    filled_cfg = write_config(filled, report_cfg.read_text(), name="report.toml")
    with_gap_observed = report_scope(filled_cfg)
    assert scope["unknown_minutes"] - with_gap_observed["unknown_minutes"] == len(absent)
    assert with_gap_observed["up_minutes"] - scope["up_minutes"] == len(absent)

    fault_figures("stopped", (
        f"SIGTERM at second 20 of minute a, restart with the clock {STOPPED_MINUTES} minutes on, in minute "
        f"a+{b - a}: N = {len(absent)} minutes absent (a+1..a+{b - a}, the restart's own minute included), "
        f"minute a and the last kept as partial; report 2026-11: {scope['downtime_minutes']} down, "
        f"{scope['up_minutes']} up, {scope['unknown_minutes']} unknown, of which the {len(absent)} absent "
        f"(unknown {with_gap_observed['unknown_minutes']} with them observed)"))

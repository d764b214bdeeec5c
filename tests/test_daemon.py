"""The daemon's lifecycle in-process, on a clock moved by hand: real probes against a real HTTP
server on 127.0.0.1, real SQLite, the real HTTP listener; minutes, month ends and restarts pass
in milliseconds. (Signals and kill -9 of the real process: test_daemon_process.py.)

Timing model: the minute the daemon starts in is not recorded (observed_since is the next one);
minute m is closed by the close-minutes job at second ceil(max probe timeout) + 2 of minute m + 1,
so at second 3 with the 1 s timeouts used here; stopping flushes the open minute."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.daemon import Daemon
from monitor.storage import Storage
from tests.support import (
    AFTER_NOVEMBER_TOKYO,
    UTC,
    FakeClock,
    Target,
    domain_toml,
    free_port,
    iso_minute,
    lineworks_contract_toml,
    minute_index,
    monitor_toml,
    november_with_44_down,
    run_cli,
    store_minutes,
    stored_minutes,
    write_config,
)


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name` whose labels include `labels`, or None."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def rows(db: Path, domain: str | None = None) -> list[dict]:
    """Every stored minute (optionally of one domain), through the storage API."""
    return stored_minutes(db, domain)


def row_at(db: Path, domain: str, minute: int) -> dict | None:
    return next((r for r in rows(db, domain) if r["minute"] == minute), None)


def probed_minutes(db: Path) -> list[tuple[str, int]]:
    """(domain, minute) of every minute a daemon closed."""
    return [(r["domain"], r["minute"]) for r in rows(db) if r["probed"]]


def one_domain_config(tmp_path: Path, url: str, *, every: str = "1s", contract: bool = True, extra: str = "") -> Path:
    text = monitor_toml(extra=extra) + domain_toml("mail", url=url, every=every, timeout="1s")
    if contract:
        text += lineworks_contract_toml("acme-lw", ["mail"], timezone="UTC")
    return write_config(tmp_path, text)


async def abandon(daemon: Daemon) -> None:
    """What kill -9 leaves: the tasks gone, the listener closed, the open minutes never written."""
    await daemon.jobs.stop()
    await daemon.probes.stop()
    for runner in daemon._runners:
        await runner.cleanup()
    daemon.addresses = []
    if daemon._session is not None:
        await daemon._session.close()
    daemon.writer.close()


# --- a down minute, end to end ----------------------------------------------------------------

async def test_a_down_minute_end_to_end(tmp_path, clock, target: Target, start_daemon, caplog):
    caplog.set_level(logging.INFO)
    cfg = one_domain_config(tmp_path, target.url())
    db = tmp_path / "slamon.db"
    target.failing = True                             # failing from the start ...
    d = await start_daemon(cfg)
    m0 = minute_index(clock.now()) + 1
    status = await (await d.get("/api/v1/status")).json()
    assert status["observed_since"] == datetime.fromtimestamp(m0 * 60, UTC).isoformat(), \
        "the start minute is not recorded: observed_since is the next one"

    await d.run_until(m0 * 60 + 60)                  # ... through the whole first observed minute,
    target.failing = False                            # then recovers
    await d.run_for(3)                                # the close job at second 3 of the next minute
    text = await (await d.get("/metrics")).text()
    assert metric(text, "slamon_domain_state", domain="mail", state="down") == 1.0
    assert metric(text, "slamon_scope_downtime_seconds", contract="acme-lw", scope="acme-lw",
                  **{"class": "counted"}) == 60.0
    assert metric(text, "slamon_domain_error_ratio", domain="mail") == 1.0
    assert metric(text, "slamon_domain_last_closed_minute_timestamp_seconds", domain="mail") == m0 * 60
    assert metric(text, "slamon_probe_requests_total", domain="mail", outcome="server_error") >= 60
    assert 0 <= metric(text, "slamon_minute_close_lag_seconds") < 10

    # the database row: every 1 s is exactly 60 samples in the minute, all server errors
    row = row_at(db, "mail", m0)
    assert row is not None, rows(db)
    assert row["requests"] == row["errors"] == row["server_error"] == 60, row
    assert probed_minutes(db) == [("mail", m0)]

    # the API
    listed = await (await d.get(f"/api/v1/minutes?domain=mail&start={iso_minute(m0)}&end={iso_minute(m0 + 1)}")).json()
    assert [(r["minute"], r["state"], r["requests"], r["errors"]) for r in listed] == [(m0, "down", 60, 60)]
    status = await (await d.get("/api/v1/status")).json()
    assert status["closed_through"] == datetime.fromtimestamp(m0 * 60, UTC).isoformat()
    assert [(x["domain"], x["state"]) for x in status["domains"]] == [("mail", "down")]
    accounting = await (await d.get("/api/v1/contracts/acme-lw/accounting")).json()
    assert accounting["scopes"][0]["downtime_minutes"] == 1, accounting

    # the next minute is healthy: its close logs the change back up
    await d.run_until((m0 + 2) * 60 + 3)
    changes = [r for r in caplog.records if r.name == "slamon.minutes" and getattr(r, "domain", None) == "mail"]
    assert [(r.state, r.was) for r in changes] == [("up", "down")], [r.getMessage() for r in changes]
    assert changes[0].getMessage() == "domain mail is up (was down)"

    # stopping 8 s into minute m0 + 2 flushes it: 8 samples (ticks at the target's phase)
    await d.run_until((m0 + 2) * 60 + 8)
    assert await d.daemon.stop() == 1
    flushed = row_at(db, "mail", m0 + 2)
    assert flushed is not None and 7 <= flushed["requests"] <= 9 and flushed["errors"] == 0, flushed
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- a restart after the process died ----------------------------------------------------------

async def test_a_restart_after_the_process_died_writes_no_minute_twice(tmp_path, clock, target, start_daemon):
    cfg = one_domain_config(tmp_path, target.url(), every="2s")
    db = tmp_path / "slamon.db"
    first = await start_daemon(cfg)
    m0 = minute_index(clock.now()) + 1
    await first.run_until((m0 + 1) * 60 + 20)         # m0 closed; m0 + 1 is 20 s old when ...
    assert row_at(db, "mail", m0) is not None
    await abandon(first.daemon)                        # ... the process dies: its samples go with it
    await clock.advance((m0 + 2) * 60 + 45 - clock.wall())   # down for more than a minute

    second = await start_daemon(cfg)
    r0 = minute_index(clock.now()) + 1
    assert r0 == m0 + 3
    await second.run_until((r0 + 1) * 60 + 3)
    await second.daemon.stop()

    stored = rows(db, "mail")
    minutes = [r["minute"] for r in stored]
    assert len(minutes) == len(set(minutes))
    assert [m for _, m in probed_minutes(db)] == minutes
    assert {r["minute"]: r["requests"] for r in stored if r["minute"] in (m0, r0)} == {m0: 30, r0: 30}
    assert all(r["requests"] <= 30 and r["errors"] == 0 for r in stored), stored
    # the minutes without a running (observing) daemon have no row: they are unknown, not up
    assert not [m for m in minutes if m0 < m < r0], minutes

    period = clock.now().strftime("%Y-%m")
    scope = run_cli("report", "--config", cfg, "--period", period).json()["contracts"][0]["scopes"][0]
    assert scope["downtime_minutes"] == 0
    assert scope["up_minutes"] == 2                   # m0 and r0: the only full minutes
    assert scope["unknown_minutes"] == 43200 - 2


# --- reload -------------------------------------------------------------------------------------

async def test_reload_keeps_the_running_config_on_a_bad_file_and_applies_a_good_one(
        tmp_path, clock, target, start_daemon, caplog):
    caplog.set_level(logging.INFO)
    cfg = one_domain_config(tmp_path, target.url())
    d = await start_daemon(cfg)
    await d.run_for(3)
    good = cfg.read_text()

    def probed(domain: str) -> int:
        return sum(v for (name, _), v in d.daemon.recorder.counters.requests_total.items() if name == domain)

    for bad, needle in ((good + "\n[[domain]\nname = \n", "(syntax)"),
                        (good.replace("[monitor]", "[monitor]\nbogus_key = 1"), "bogus_key")):
        cfg.write_text(bad)
        assert await d.daemon.reload() is False
        rejected = [r for r in caplog.records if r.getMessage().startswith("config reload rejected")]
        assert rejected and rejected[-1].levelno == logging.ERROR
        assert any(needle in p for p in rejected[-1].problems), rejected[-1].problems
        before = probed("mail")
        await d.run_for(3)
        assert probed("mail") > before, "probes keep running on the old config"

    cfg.write_text(good + domain_toml("drive", url=target.url("/drive"), every="1s", timeout="1s"))
    assert await d.daemon.reload() is True
    reloaded = [r for r in caplog.records if r.getMessage() == "config reloaded"]
    assert reloaded[-1].domains == 2
    status = await (await d.get("/api/v1/status")).json()
    assert [x["domain"] for x in status["domains"]] == ["mail", "drive"]
    await d.run_for(3)
    assert probed("drive") >= 2


# --- canaries -------------------------------------------------------------------------------------

async def test_when_every_canary_fails_target_failures_are_monitor_errors(tmp_path, clock, start_daemon, caplog):
    caplog.set_level(logging.INFO)
    closed = free_port()                                 # nothing listens: connect_error
    cfg = one_domain_config(tmp_path, f"tcp://127.0.0.1:{closed}", contract=False,
                            extra=f'canaries = ["tcp://127.0.0.1:{free_port()}"]')
    d = await start_daemon(cfg)
    m0 = minute_index(clock.now()) + 1
    await d.run_until(m0 * 60 + 6)
    text = await (await d.get("/metrics")).text()
    assert metric(text, "slamon_monitor_degraded") == 1.0
    assert metric(text, "slamon_samples_monitor_error_total") > 0
    assert metric(text, "slamon_probe_requests_total", domain="mail", outcome="monitor_error") > 0
    degraded = [r for r in caplog.records if "degraded" in r.getMessage()]
    assert degraded[0].levelno == logging.WARNING and degraded[0].canaries == 1
    assert (await (await d.get("/api/v1/status")).json())["degraded"] is True

    await d.daemon.stop()
    row = row_at(tmp_path / "slamon.db", "mail", m0)
    assert row is not None and row["monitor_error"] >= 5, row
    assert row["requests"] == row["errors"] == row["connect_error"] == 0, row


# --- month end ---------------------------------------------------------------------------------------

MONTH_END_CONFIG = monitor_toml() + domain_toml("mail") + lineworks_contract_toml("acme", ["mail"])


@pytest.mark.parametrize("accounting_process", [False, True], ids=["in-thread", "accounting-process"])
async def test_month_end_reports_are_written_once_across_restarts(tmp_path, start_daemon, accounting_process):
    """Whether the accounting runs in a thread of the daemon or in a process of its own."""
    clock = FakeClock(datetime(2026, 11, 30, 14, 58, tzinfo=UTC))    # 23:58 JST on the last day
    cfg = write_config(tmp_path, MONTH_END_CONFIG.replace(
        "[monitor]\n", f"[monitor]\naccounting_process = {str(accounting_process).lower()}\n"))
    with Storage(tmp_path / "slamon.db") as storage:
        november_with_44_down(storage)

    first = await start_daemon(cfg, on=clock)
    folder = tmp_path / "reports" / "2026-11"
    await clock.advance(60)                  # still November in Tokyo: nothing is due
    assert not folder.exists()
    await clock.advance_to(AFTER_NOVEMBER_TOKYO + timedelta(seconds=30))   # the 5-minute job after the end
    assert sorted(p.name for p in folder.iterdir()) == ["acme.csv", "acme.html", "acme.json", "acme.md"]
    report = (folder / "acme.json").read_text()
    assert '"credit_amount": "5400"' in report
    written = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert first.daemon.month_to_date.computed_at is not None      # month to date ran there too
    await first.daemon.stop()

    await start_daemon(cfg, on=clock)
    await clock.advance(600)                 # two more runs of the job after a restart
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == written


# --- retention ----------------------------------------------------------------------------------

async def test_retention_drops_minute_aggregates_older_than_the_record_retention(tmp_path, start_daemon):
    clock = FakeClock(datetime(2026, 11, 10, 3, 0, tzinfo=UTC))
    cfg = write_config(tmp_path, monitor_toml(extra="record_retention_days = 30") + domain_toml("mail"))
    old, recent = minute_index(datetime(2026, 10, 1, tzinfo=UTC)), minute_index(datetime(2026, 11, 1, tzinfo=UTC))
    with Storage(tmp_path / "slamon.db") as storage:
        store_minutes(storage, "mail", [(old, 20, 0), (recent, 20, 0)])
    d = await start_daemon(cfg, on=clock)
    await clock.advance_to(datetime(2026, 11, 10, 3, 16, tzinfo=UTC))
    assert [r["minute"] for r in rows(tmp_path / "slamon.db")] == [old, recent]
    await clock.advance_to(datetime(2026, 11, 10, 3, 18, tzinfo=UTC))   # the daily job at 03:17 UTC
    assert [r["minute"] for r in rows(tmp_path / "slamon.db")] == [recent]
    assert d.daemon.jobs.runs["retention"] == 1

"""Faults of the database under a running daemon, in-process on a clock moved by hand (FakeClock)
with real probes of a real HTTP server and a real SQLite file:

- disk full (PRAGMA max_page_count pinned to the file's size): closed minutes are held in memory
  and said so (metrics, /readyz, one error line), then written once the file may grow again;
- a poison row (a count SQLite cannot hold, as a corrupt collector would hand in): that row is
  quarantined with its reason, the other rows of the same close are written, and
  `slamon quarantine list` shows it."""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.samples import outcome_index
from tests.faults.harness import Figures, StartDaemon, integrity, metric, metric_value, minute_rows
from tests.support import (
    UTC,
    FakeClock,
    Target,
    domain_toml,
    iso_minute,
    minute_index,
    monitor_toml,
    run_cli,
    write_config,
)

UNLIMITED_PAGES = 1_073_741_823


def extra(record: logging.LogRecord, key: str) -> Any:
    """A field the log call passed in `extra`."""
    return vars(record).get(key)


async def test_disk_full_holds_minutes_in_memory_then_writes_every_one(
        tmp_path: Path, clock: FakeClock, target: Target, start_daemon: StartDaemon, caplog: pytest.LogCaptureFixture,
        fault_figures: Figures) -> None:
    caplog.set_level(logging.INFO)
    domains = [f"d{i:02}" for i in range(40)]       # 40 rows a minute: the file must grow within a few
    cfg = write_config(tmp_path, monitor_toml() + "".join(
        domain_toml(name, url=target.url(f"/{name}"), every="10s", timeout="1s", min_samples=5) for name in domains))
    db = tmp_path / "slamon.db"
    # minutes are stored in one block per domain and UTC day, rewritten in place at each close:
    # the file grows when a day begins. Start a few minutes before midnight.
    clock = FakeClock(datetime(2026, 11, 10, 23, 54, 30, tzinfo=UTC))
    d = await start_daemon(cfg, on=clock)
    daemon = d.daemon
    o = minute_index(clock.now()) + 1
    await d.run_until((o + 1) * 60 + 5)                 # minute o written
    assert minute_rows(db, "d00").keys() == {o}

    # pack the file, then pin it at its size: the disk is full
    daemon.storage.db.execute("VACUUM")
    pages = daemon.storage.db.execute("PRAGMA page_count").fetchone()[0]
    assert daemon.storage.db.execute(f"PRAGMA max_page_count = {pages}").fetchone()[0] == pages
    first_held = None
    for m in range(o + 1, o + 11):                      # until a close needs a page more
        await d.run_until((m + 1) * 60 + 5)
        if daemon.recorder.held:
            first_held = m
            break
    assert first_held is not None, "ten closes of 40 blocks each fitted into the pinned file"
    assert first_held * 60 % 86400 == 0, "the first minute that needed a page more is not a day's first"
    await d.run_until((first_held + 3) * 60 + 5)       # two closes more while full: held, retried

    held = len(daemon.recorder.held)
    assert held == 3 * len(domains), held
    text = await (await d.get("/metrics")).text()
    held_metric, held_value = metric_value(text, "slamon_minute_rows_held")
    assert held_value == held
    assert metric(text, "slamon_storage_write_failing") == 1.0
    assert (metric(text, "slamon_db_write_errors_total") or 0) >= 3
    ready = await d.get("/readyz")
    body = await ready.json()
    assert ready.status == 503 and len(body["reasons"]) == 1, body
    assert "cannot be written" in body["reasons"][0] and f"{held} held" in body["reasons"][0], body
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].getMessage().startswith("storage cannot be written"), errors
    assert "full" in str(extra(errors[0], "why")), vars(errors[0])
    assert minute_rows(db, "d00").keys() == set(range(o, first_held)), "the held minutes are not stored yet"

    daemon.storage.db.execute(f"PRAGMA max_page_count = {UNLIMITED_PAGES}")
    last = first_held + 3
    await d.run_until((last + 1) * 60 + 5)              # the next close writes the held minutes too
    assert daemon.recorder.held == [] and daemon.recorder.write_failure is None
    text = await (await d.get("/metrics")).text()
    assert metric_value(text, "slamon_minute_rows_held")[1] == 0.0
    assert metric(text, "slamon_storage_write_failing") == 0.0
    ready = await d.get("/readyz")
    assert ready.status == 200, await ready.text()
    assert len([r for r in caplog.records if r.getMessage().startswith("storage written again")]) == 1
    await daemon.stop()

    lost = {}
    for name in domains:
        rows = minute_rows(db, name)
        missing = set(range(o, last + 1)) - rows.keys()
        wrong = {m: r["requests"] for m, r in rows.items() if r["requests"] != 6 and r["marker"] == 0}
        if missing or wrong:
            lost[name] = (sorted(missing), wrong)
    assert not lost, lost
    assert integrity(db) == "ok"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == errors, "one error line, no other"

    fault_figures("disk-full", (
        f"max_page_count pinned at {pages} pages after minute o; writes failed from the close of minute "
        f"o+{first_held - o}: {held} minutes held ({len(domains)} domains x 3 closes), {held_metric} "
        f"{held_value:.0f}, slamon_storage_write_failing 1, /readyz 503, 1 error line; "
        f"limit raised: held written, 0 lost ({len(domains)} x {last - o + 1} minutes o..o+{last - o} present, "
        f"6 samples each), metric 0, /readyz 200"))


async def test_a_poison_row_is_quarantined_and_the_rest_of_its_close_written(
        tmp_path: Path, clock: FakeClock, target: Target, start_daemon: StartDaemon, caplog: pytest.LogCaptureFixture,
        fault_figures: Figures) -> None:
    caplog.set_level(logging.INFO)
    cfg = write_config(tmp_path, monitor_toml() + "".join(
        domain_toml(name, url=target.url(f"/{name}"), every="2s", timeout="1s")
        for name in ("alpha", "bravo", "charlie")))
    db = tmp_path / "slamon.db"
    d = await start_daemon(cfg)
    daemon = d.daemon
    o = minute_index(clock.now()) + 1
    await d.run_until(o * 60 + 30)
    cell = daemon.recorder.open.cells[("bravo", o)]   # a corrupt collector's count: beyond SQLite's integers
    cell[0] += 10**20
    cell[outcome_index("ok")] += 10**20
    await d.run_until((o + 2) * 60 + 5)                 # o closed (poisoned), o + 1 closed after it

    stored = {name: minute_rows(db, name) for name in ("alpha", "bravo", "charlie")}
    assert stored["alpha"].keys() == stored["charlie"].keys() == {o, o + 1}, stored
    assert stored["bravo"].keys() == {o + 1}, "the poisoned row is not stored, the next minute is"
    assert all(r["requests"] == 30 for rows in stored.values() for r in rows.values())
    assert daemon.recorder.held == [] and daemon.recorder.write_failure is None

    text = await (await d.get("/metrics")).text()
    quarantined_metric, quarantined_value = metric_value(text, "slamon_minute_rows_quarantined_total")
    in_quarantine_metric, in_quarantine_value = metric_value(text, "slamon_minute_rows_in_quarantine")
    assert quarantined_value == in_quarantine_value == 1.0
    assert metric(text, "slamon_storage_write_failing") == 0.0
    quarantined = [r for r in caplog.records if r.getMessage().startswith("minute quarantined")]
    assert len(quarantined) == 1 and quarantined[0].levelno == logging.ERROR
    why = str(extra(quarantined[0], "why"))
    assert (extra(quarantined[0], "domain"), extra(quarantined[0], "minute")) == ("bravo", o)
    assert "OverflowError" in why, why
    await daemon.stop()

    listed = run_cli("quarantine", "list", "--config", cfg)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    start = iso_minute(o).replace("Z", "+00:00")
    assert len(lines) == 1 and lines[0].startswith(f"1\tbravo\t{start}\trequests={10**20 + 30}\terrors=0\t"), lines
    assert lines[0].endswith("\twaiting") and "OverflowError" in lines[0], lines
    as_json = run_cli("quarantine", "list", "--config", cfg, "--json").json()
    assert [(q["domain"], q["minute"], q["counts"]["ok"]) for q in as_json] == [("bravo", o, 10**20 + 30)]
    assert integrity(db) == "ok"

    fault_figures("poison-row", (
        f"bravo's minute o with requests {10**20 + 30} (> 2^63): 1 row quarantined "
        f"({why[:60]}...), alpha and charlie of the same close written (30 samples each), "
        f"bravo's next minute written, {quarantined_metric} 1, {in_quarantine_metric} 1, "
        f"0 held; `slamon quarantine list`: {lines[0].split(chr(9))[1]} {lines[0].split(chr(9))[2]} waiting"))

"""Honest minute edges: a minute cut by shutdown is stored as partial with its samples, a restart
within that minute completes it exactly once, and a minute whose canaries failed charges none
of its target failures, whichever timeout expired first (servers that accept and never answer)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from tests.support import (
    UTC,
    FakeClock,
    domain_toml,
    iso_minute,
    lineworks_contract_toml,
    minute_index,
    monitor_toml,
    stored_minutes,
    write_config,
)
from tests.test_daemon import abandon, metric, row_at


def partial_flag(db, domain: str, minute: int) -> int | None:
    """1 when the daemon closed the minute in part, 0 when whole, None when it did not close it."""
    row = next((r for r in stored_minutes(db, domain) if r["minute"] == minute), None)
    return None if row is None or not row["probed"] else int(row["partial"])


def open_count(d, domain: str, minute: int) -> int:
    cell = d.daemon.recorder.open.cells.get((domain, minute))
    return cell[0] if cell else 0


async def test_shutdown_writes_the_cut_minute_as_partial_and_a_restart_in_it_completes_it_once(
        tmp_path, start_daemon, target):
    clock = FakeClock(datetime(2026, 11, 10, 12, 0, 30, tzinfo=UTC))
    cfg = write_config(tmp_path, monitor_toml() + domain_toml("mail", url=target.url(), every="2s"))
    db = tmp_path / "slamon.db"
    m1 = minute_index(clock.now()) + 1            # 12:01, the first minute observed whole
    m2 = m1 + 1                                   # 12:02, cut by the shutdown

    first = await start_daemon(cfg, on=clock)
    await first.run_until(m2 * 60 + 20)
    before_stop = open_count(first, "mail", m2)
    assert before_stop >= 9                       # 12:02:00 to 12:02:20, every 2 s
    await first.daemon.stop()
    assert row_at(db, "mail", m1)["requests"] == 30 and partial_flag(db, "mail", m1) == 0
    assert row_at(db, "mail", m2)["requests"] == before_stop and partial_flag(db, "mail", m2) == 1

    await clock.advance(10)                       # 12:02:30: the same minute
    second = await start_daemon(cfg, on=clock)
    assert second.daemon.recorder.observed_since_minute == m2     # it goes on observing 12:02
    await second.run_until((m2 + 1) * 60 + 2)    # 12:02 is closed at 12:03:03
    rest = open_count(second, "mail", m2)
    assert rest >= 14                             # 12:02:30 to 12:02:58
    await second.run_until((m2 + 1) * 60 + 10)   # 12:02 is closed
    row = row_at(db, "mail", m2)
    assert row["requests"] == before_stop + rest and partial_flag(db, "mail", m2) == 0
    minutes = await (await second.get(f"/api/v1/minutes?domain=mail&start={iso_minute(m2)}&end={iso_minute(m2 + 1)}")
                     ).json()
    assert [(m["requests"], m["partial"]) for m in minutes] == [(before_stop + rest, False)]

    # stopped again in 12:03 and started only in 12:04: 12:03 stays partial, 12:04 is not observed
    m3 = m2 + 1
    cut = open_count(second, "mail", m3)
    await second.daemon.stop()
    assert row_at(db, "mail", m3)["requests"] == cut and partial_flag(db, "mail", m3) == 1
    await clock.advance_to(float((m3 + 1) * 60 + 5))
    third = await start_daemon(cfg, on=clock)
    assert third.daemon.recorder.observed_since_minute == m3 + 2
    await third.run_until((m3 + 3) * 60 + 10)
    await third.daemon.stop()
    assert row_at(db, "mail", m3)["requests"] == cut and partial_flag(db, "mail", m3) == 1
    assert row_at(db, "mail", m3 + 1) is None                        # unknown: nobody observed it
    assert row_at(db, "mail", m2)["requests"] == before_stop + rest   # never added to again


async def test_a_restart_after_kill_in_the_same_minute_does_not_claim_the_minute(tmp_path, start_daemon, target):
    """Without a partial row (kill -9 writes nothing), the minute a daemon starts in is not observed."""
    clock = FakeClock(datetime(2026, 11, 10, 12, 0, 30, tzinfo=UTC))
    cfg = write_config(tmp_path, monitor_toml() + domain_toml("mail", url=target.url(), every="2s"))
    first = await start_daemon(cfg, on=clock)
    await first.run_for(40)                                          # 12:01:10
    await abandon(first.daemon)
    await clock.advance(5)
    second = await start_daemon(cfg, on=clock)
    m = minute_index(clock.now())
    assert second.daemon.recorder.observed_since_minute == m + 1
    await second.run_until((m + 2) * 60 + 10)
    await second.daemon.stop()
    assert row_at(tmp_path / "slamon.db", "mail", m) is None


# --- canaries judged at minute close --------------------------------------------------------------

class Silent:
    """A TCP server on 127.0.0.1 that accepts connections and never answers (nor closes them)."""

    def __init__(self) -> None:
        self.connections = 0
        self._held: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._held.append(writer)

    async def __aenter__(self) -> Silent:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._held:
            writer.close()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def silent_pair() -> AsyncIterator[tuple[Silent, Silent]]:
    async with Silent() as target, Silent() as canary:
        yield target, canary


@pytest.mark.parametrize("target_timeout, first_to_fail", [("500ms", "target"), ("3s", "canary")])
async def test_target_failures_in_a_minute_whose_canaries_failed_are_monitor_errors(
        tmp_path, start_daemon, silent_pair, target_timeout, first_to_fail):
    """Canary checks time out after 2 s. With the target's timeout at 500 ms its failures are in
    before any canary has failed; at 3 s after. Either way the minute charges nothing."""
    silent_target, silent_canary = silent_pair
    clock = FakeClock(datetime(2026, 11, 10, 12, 0, 50, tzinfo=UTC))
    cfg = write_config(tmp_path, monitor_toml(extra=f'canaries = ["http://127.0.0.1:{silent_canary.port}/"]')
                       + domain_toml("mail", url=f"http://127.0.0.1:{silent_target.port}/health", every="30s",
                                     timeout=target_timeout, min_samples=1)
                       + lineworks_contract_toml("acme", ["mail"], timezone="UTC"))
    d = await start_daemon(cfg, on=clock)
    m = minute_index(clock.now()) + 1
    # Steps of 15 s (a probe still waiting for its answer makes its next tick skip); each step
    # waits for the probes it started, in real time, so one ends where minute m does: its last
    # probe has answered before the close, as it would have in the real 4 s between them.
    await d.run_until((m + 1) * 60, step=15)
    await d.run_until((m + 1) * 60 + 15, step=15)   # minute m is closed
    row = row_at(tmp_path / "slamon.db", "mail", m)
    assert row is not None
    assert row["monitor_error"] == 2, row                  # every 30 s
    assert row["requests"] == row["errors"] == row["timeout"] == 0, row
    assert silent_target.connections >= 2 and silent_canary.connections >= 2
    text = await (await d.get("/metrics")).text()
    assert metric(text, "slamon_samples_monitor_error_total") >= 2
    assert metric(text, "slamon_domain_state", domain="mail", state="down") == 0.0

"""Fault: the monitor's own egress is cut. The daemon runs inside a network namespace whose only
way out is a veth pair; the target it probes and its canary both listen on the far side. The veth
is taken down for four daemon minutes: every probe of the target fails and so does every canary,
so the failures are the monitor's (monitor_error) and no minute is charged as down.

Needs root and `ip netns` (iproute2, installed by scripts/system-deps.sh); it fails, never skips,
when the namespace cannot be made."""
from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from tests.faults.harness import FastDaemon, Figures, integrity, minute_rows, scaled_clock, sleep_until
from tests.support import domain_toml, lineworks_contract_toml, monitor_toml, run_cli, write_config

SPEED = 20.0                      # a daemon minute is 3 real seconds
CUT_MINUTES = 4
START = datetime(2026, 11, 10, 15, 0, 45, tzinfo=UTC)
HOST_IP, NS_IP = "198.18.213.1", "198.18.213.2"   # RFC 2544 benchmarking range: never routed here


class HostServer:
    """An HTTP server on the host's end of the veth, counting the requests it answered."""

    def __init__(self) -> None:
        self.hits = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(text="ok")

    async def start(self) -> HostServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST_IP, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise AssertionError(f"`ip {' '.join(args)}` failed ({result.returncode}): {result.stderr.strip()}")


class Namespace:
    """A network namespace whose only link is a veth to the host: HOST_IP <-> NS_IP."""

    def __init__(self) -> None:
        tag = os.getpid() % 10_000_000
        self.name, self.host_if, self.ns_if = f"slamonfault{tag}", f"sfh{tag}", f"sfn{tag}"

    def create(self) -> None:
        try:
            ip("netns", "add", self.name)
        except (AssertionError, OSError) as exc:
            raise AssertionError(f"cannot create a network namespace (the egress fault needs root and "
                                 f"iproute2's `ip netns`; run scripts/system-deps.sh as root): {exc}") from None
        ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if, "netns", self.name)
        ip("addr", "add", f"{HOST_IP}/30", "dev", self.host_if)
        ip("link", "set", self.host_if, "up")
        ip("-n", self.name, "addr", "add", f"{NS_IP}/30", "dev", self.ns_if)
        ip("-n", self.name, "link", "set", self.ns_if, "up")
        ip("-n", self.name, "link", "set", "lo", "up")

    def egress(self, up: bool) -> None:
        ip("-n", self.name, "link", "set", self.ns_if, "up" if up else "down")

    def delete(self) -> None:
        """Remove the namespace (its veth end with it, and so the pair); quiet when there is none."""
        for args in (("netns", "del", self.name), ("link", "del", self.host_if)):
            try:
                subprocess.run(["ip", *args], capture_output=True, timeout=30)
            except OSError:
                pass  # no `ip` at all: create() says so


async def first_minute_stored(db: Path, daemon: FastDaemon, timeout: float = 30.0) -> int:
    for _ in range(int(timeout / 0.05)):
        with contextlib.suppress(sqlite3.OperationalError):   # not created or migrated yet
            rows = minute_rows(db, "web")
            if rows:
                return min(rows)
        assert daemon.proc.poll() is None, daemon.tail()
        await asyncio.sleep(0.05)
    raise AssertionError(f"no minute stored within {timeout} s:\n{daemon.tail()}")


async def test_an_egress_cut_charges_no_minute(tmp_path: Path, fault_figures: Figures) -> None:
    ns = Namespace()
    ns.delete()   # a leftover of a killed run with the same pid
    daemon: FastDaemon | None = None
    target = canary = None
    try:
        ns.create()
        target, canary = await HostServer().start(), await HostServer().start()
        probe = domain_toml("web", url=f"http://{HOST_IP}:{target.port}/health", every="2s", timeout="500ms")
        cfg = write_config(tmp_path, monitor_toml(listen="127.0.0.1:9464",
                                                  extra=f'canaries = ["http://{HOST_IP}:{canary.port}/"]') + probe)
        report_cfg = write_config(tmp_path, monitor_toml() + probe + lineworks_contract_toml(
            "acme", ["web"], timezone="UTC"), name="report.toml")
        db = tmp_path / "slamon.db"
        clock = scaled_clock(START, SPEED)
        daemon = FastDaemon(cfg, clock, prefix=("ip", "netns", "exec", ns.name))
        await daemon.wait_for("slamon running")
        o = await first_minute_stored(db, daemon)             # minute o up, closed at o + 1:04
        c = o + 2
        await sleep_until(clock, c * 60 + 2)                 # o + 1 up too; cut 2 s into minute c
        ns.egress(False)
        cut_at = clock.wall() - c * 60
        # (the minutes' verdicts below rely on the cut landing in the first half of minute c, where
        # most of its canary checks fail; a machine that stalls the test for a second breaks that)
        assert cut_at < 30, f"the test's own timing: the cut came {cut_at:.0f} s into minute c (stalled)"
        hits_before = target.hits
        r = c + CUT_MINUTES - 1
        await sleep_until(clock, r * 60 + 40)                # restored 40 s into minute r
        ns.egress(True)
        restored_at = clock.wall() - r * 60
        assert restored_at < 60, f"the test's own timing: the restore came {restored_at:.0f} s into minute r"
        await sleep_until(clock, (r + 2) * 60 + 10)          # r + 1 observed and closed
        assert await asyncio.to_thread(daemon.terminate) == 0, daemon.tail()
    finally:
        if daemon is not None:
            daemon.cleanup()
        ns.delete()
        for server in (target, canary):
            if server is not None:
                await server.stop()

    assert not daemon.problems(), "\n".join(daemon.problems())
    assert integrity(db) == "ok"
    logs = [rec.get("msg", "") for rec in daemon.logs()]
    assert sum(m.startswith("monitor degraded") for m in logs) == 1, logs
    assert sum(m.startswith("monitor recovered") for m in logs) == 1, logs
    assert hits_before > 0 and target.hits > hits_before, "the target was reached before and after the cut"

    rows = minute_rows(db, "web")
    assert sorted(rows)[:2] == [o, o + 1] and set(range(o, r + 2)) <= set(rows), (o, c, r, sorted(rows))
    cut = range(c, r + 1)
    for m in (o, o + 1, r + 1):
        assert rows[m]["requests"] >= 20 and rows[m]["errors"] == 0, rows[m]
    for m in cut:
        row = rows[m]
        assert row["errors"] == 0 and row["monitor_error"] > 0 and row["requests"] < 20, (m - c, row)
    assert all(rows[m]["requests"] == 0 for m in cut[1:-1]), [rows[m] for m in cut]
    monitor_errors = sum(rows[m]["monitor_error"] for m in cut)

    result = run_cli("report", "--config", report_cfg, "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    scope = result.json()["contracts"][0]["scopes"][0]
    assert scope["downtime_minutes"] == 0, scope
    charged = sum(1 for row in rows.values() if row["requests"] >= 20 and row["errors"] * 20 > row["requests"])
    assert charged == 0

    fault_figures("egress-cut", (
        f"netns {ns.name}, veth down from second {cut_at:.0f} of minute c to second {restored_at:.0f} of minute "
        f"c+{CUT_MINUTES - 1}: {len(cut)} minutes cut, {monitor_errors} target probes failed with every canary "
        f"-> monitor_error, 0 target errors stored, {charged} minutes charged (report downtime "
        f"{scope['downtime_minutes']}, {scope['up_minutes']} up, cut minutes unknown), degraded/recovered "
        f"logged once each, integrity ok"))

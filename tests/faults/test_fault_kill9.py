"""Fault: kill -9 at random moments. A real daemon process (tests/faults/fastd.py, a daemon minute
every 2 real seconds) probes a local target while a client pushes per-minute samples and adds
windows through the admin API; the daemon is killed with SIGKILL at seeded random moments and
restarted on the same database each time. Afterwards the database is intact, no minute holds
more probe samples than the cadence allows, every acknowledged push and window is stored, and
the audit chain verifies."""
from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from tests.faults.fastd import ScaledClock
from tests.faults.harness import (
    ADMIN_TOKEN,
    FastDaemon,
    Figures,
    cadence_allows,
    integrity,
    minute_rows,
    read_db,
    scaled_clock,
    sleep_until,
)
from tests.support import (
    Target,
    domain_toml,
    free_port,
    iso_minute,
    monitor_toml,
    run_cli,
    stored_minutes,
    write_config,
)

SEED = 20261110
SPEED = 30.0                     # a daemon minute is 2 real seconds
RESTARTS = 12
# real seconds from spawn to SIGKILL: one life in four ends during start-up (imports, migrations,
# the listener: about 1 s), the others after 0 to 2 closed minutes
STARTUP_LIFE, RUNNING_LIFE = (0.1, 1.0), (1.5, 6.0)
EVERY_SECONDS = 2.0
START = datetime(2026, 11, 10, 12, 0, 50, tzinfo=UTC)


async def client(base: str, clock: ScaledClock, stats: Counter[str], by_minute: dict[str, Counter[int]],
                 stop: asyncio.Event) -> None:
    """Pushes one sample (requests 1) for the daemon's current minute at a time, and every 25th
    request adds a window instead; counts what was acknowledged (202/201), refused because the
    minute is not open (400: the minute a daemon starts in is not observed), never sent
    (connection refused: no daemon) and in doubt (sent, then the connection was cut); the pushes
    also per minute."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True), timeout=timeout) as session:
        n = 0
        while not stop.is_set():
            n += 1
            minute = int(clock.wall() // 60)
            body: dict[str, Any]
            if n % 25 == 0:
                kind, url = "window", f"{base}/api/v1/windows"
                body = {"kind": "maintenance", "domains": ["web"], "start": iso_minute(minute + 100),
                        "end": iso_minute(minute + 110), "reason": f"fault suite window {n}"}
            else:
                kind, url = "push", f"{base}/api/v1/samples"
                body = {"samples": [{"domain": "pushed", "minute": iso_minute(minute), "requests": 1, "errors": 0}]}
            try:
                async with session.post(url, json=body, headers=headers) as resp:
                    text = await resp.text()
                    answer = "not open" if resp.status == 400 and "is not open" in text else str(resp.status)
            except aiohttp.ClientConnectorError:
                answer = "not sent"
                await asyncio.sleep(0.05)
            except (aiohttp.ClientError, TimeoutError):
                answer = "in doubt"
            stats[f"{kind} {answer}"] += 1
            if kind == "push":
                by_minute[answer][minute] += 1
            await asyncio.sleep(0.005)


def stored(db: Path) -> tuple[Counter[int], int, int]:
    """(pushed samples stored per minute, windows stored, audit rows)."""
    conn = read_db(db)
    try:
        pushed = Counter({r["minute"]: r["requests"] for r in stored_minutes(db, "pushed")})
        windows = conn.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
        audit = conn.execute("SELECT COUNT(*) FROM audit_log WHERE entity = 'window'").fetchone()[0]
        return pushed, windows, audit
    finally:
        conn.close()


async def test_kill_9_at_random_moments_loses_and_doubles_nothing(tmp_path: Path, fault_figures: Figures) -> None:
    rng = random.Random(SEED)
    target = await Target().start()
    port = free_port()
    cfg = write_config(tmp_path, monitor_toml(listen=f"127.0.0.1:{port}")
                       + domain_toml("web", url=target.url(), every=f"{EVERY_SECONDS:g}s", timeout="500ms")
                       + domain_toml("pushed"))
    db = tmp_path / "slamon.db"
    clock = scaled_clock(START, SPEED)
    stats: Counter[str] = Counter()
    by_minute: dict[str, Counter[int]] = defaultdict(Counter)
    stop = asyncio.Event()
    pusher = asyncio.create_task(client(f"http://127.0.0.1:{port}", clock, stats, by_minute, stop))
    daemons: list[FastDaemon] = []
    reached_running = 0
    try:
        for _ in range(RESTARTS):
            daemon = FastDaemon(cfg, clock)
            daemons.append(daemon)
            await asyncio.sleep(rng.uniform(*(STARTUP_LIFE if rng.random() < 0.25 else RUNNING_LIFE)))
            reached_running += daemon.running()
            code = await asyncio.to_thread(daemon.kill9)
            assert code == -signal.SIGKILL, f"fastd exited by itself ({code}):\n{daemon.tail()}"

        final = FastDaemon(cfg, clock)
        daemons.append(final)
        await final.wait_for("slamon running")
        started = int(clock.wall() // 60)
        await sleep_until(clock, (started + 3) * 60 + 10)    # two whole minutes observed and closed
        stop.set()
        await pusher
        assert await asyncio.to_thread(final.terminate) == 0, final.tail()
    finally:
        stop.set()
        if not pusher.done():
            pusher.cancel()
        await asyncio.gather(pusher, return_exceptions=True)
        for daemon in daemons:
            daemon.cleanup()
        await target.stop()

    problems = [line for d in daemons for line in d.problems()]
    assert not problems, "\n".join(problems[:20])

    check = integrity(db)
    assert check == "ok", check

    web = minute_rows(db, "web")
    allowed = cadence_allows(EVERY_SECONDS)
    doubled = {m: r["samples"] for m, r in web.items() if r["samples"] > allowed}
    assert not doubled, f"minutes with more probe samples than the cadence allows ({allowed}): {doubled}"
    unmarked = [m for m, r in web.items() if r["marker"] == -1]
    assert not unmarked, f"probe minutes stored without their (domain, minute) marker: {unmarked}"
    assert web, "no probe minute was ever stored"
    final_minutes = [m for m in web if m >= started + 1]
    assert final_minutes[:2] == [started + 1, started + 2], sorted(web)

    pushed_by_minute, windows, audit = stored(db)
    pushed = sum(pushed_by_minute.values())
    acked, in_doubt = stats["push 202"], stats["push in doubt"]
    # a push is in doubt when its connection was cut after it was sent: the daemon may have stored
    # it and been killed before answering, so stored = acknowledged + (some of those in doubt)
    lost = {m: n - pushed_by_minute[m] for m, n in by_minute["202"].items() if pushed_by_minute[m] < n}
    assert not lost, f"acknowledged pushes missing, per minute: {lost} ({dict(stats)})"
    extra = {m: n - by_minute["202"][m] for m, n in pushed_by_minute.items()
             if n > by_minute["202"][m] + by_minute["in doubt"][m]}
    assert not extra, f"more stored than acknowledged + in doubt, per minute: {extra}"
    stored_in_doubt = pushed - acked
    assert acked > 100 and stats["push not sent"] > 0, dict(stats)   # pushed while up, and while down
    windows_acked, windows_in_doubt = stats["window 201"], stats["window in doubt"]
    assert windows_acked <= windows <= windows_acked + windows_in_doubt, (windows, dict(stats))
    assert audit == windows, (audit, windows)
    expected = {"push 202", "push not open", "push not sent", "push in doubt",
                "window 201", "window not sent", "window in doubt"}
    assert set(stats) <= expected, f"answers other than acknowledged or 'minute not open': {dict(stats)}"

    verify = run_cli("audit", "verify", "--config", cfg)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    spans = (max(web) - min(web) + 1) if web else 0
    fault_figures("kill-9", (
        f"{RESTARTS} restarts by SIGKILL (seed {SEED}; {RESTARTS - reached_running} of them during start-up), "
        f"{len(web)} probe minutes stored over {spans} daemon minutes, 0 doubled "
        f"(max {max(r['samples'] for r in web.values())}/{allowed} samples a minute), integrity {check}, "
        f"{acked} pushed samples acknowledged / {pushed} stored (0 lost, {in_doubt} in doubt of which "
        f"{stored_in_doubt} stored, "
        f"{stats['push not open']} refused as not open, {stats['push not sent']} not sent), "
        f"{windows_acked} windows acknowledged / {windows} stored ({windows_in_doubt} in doubt), "
        f"audit verify exit {verify.returncode}"))



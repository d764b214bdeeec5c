"""`slamon backup DEST`: a consistent copy of the database taken while the daemon writes to it,
which restores to the same report."""
from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import sys
from datetime import datetime

from tests.support import (
    REPO,
    UTC,
    FakeClock,
    domain_toml,
    lineworks_contract_toml,
    monitor_toml,
    month_lines,
    run_cli,
    write_config,
    write_jsonl,
)


def report(cfg) -> dict:
    result = run_cli("report", "--config", cfg, "--period", "2026-10")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_backup_while_the_daemon_writes_restores_to_the_same_report(tmp_path, start_daemon, target):
    text = (monitor_toml() + domain_toml("mail", url=target.url(), every="1s")
            + lineworks_contract_toml("acme", ["mail"]))
    cfg = write_config(tmp_path / "live", text)
    outage = [(datetime(2026, 10, 5, 1, 0, tzinfo=UTC), 50)]     # 99.888%: 3 days of 31 at 540 JPY x 100
    history = write_jsonl(tmp_path / "october.jsonl", month_lines("mail", "Asia/Tokyo", 2026, 10, down=outage))
    assert run_cli("ingest", "--config", cfg, history).returncode == 0
    assert run_cli("windows", "add", "--config", cfg, "--kind", "maintenance", "--domain", "mail",
                   "--start", "2026-10-20T00:00:00Z", "--end", "2026-10-20T01:00:00Z",
                   "--announced-at", "2026-10-10T00:00:00Z", "--reason", "upgrade").returncode == 0

    clock = FakeClock(datetime(2026, 11, 10, 12, 0, 30, tzinfo=UTC))
    d = await start_daemon(cfg, on=clock)
    dest = tmp_path / "copy" / "slamon-backup.db"
    dest.parent.mkdir()
    backup = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "backup", "--config", str(cfg), str(dest), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    while backup.returncode is None:            # the daemon closes minutes meanwhile
        await d.run_for(20, step=2)
        try:
            await asyncio.wait_for(asyncio.shield(backup.wait()), 0.05)
        except TimeoutError:
            pass
    out, err = await backup.communicate()
    assert backup.returncode == 0, err.decode()
    assert out.decode().startswith(f"{dest}: backup of") and not dest.with_name(dest.name + ".partial").exists()
    await d.run_for(120)
    await d.daemon.stop()

    conn = sqlite3.connect(dest)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(dest, restored / "slamon.db")
    restored_cfg = write_config(restored, text)
    assert report(restored_cfg) == report(cfg)
    assert report(cfg)["contracts"][0]["credit_amount"] == "5225"
    verified = run_cli("audit", "verify", "--config", restored_cfg)
    assert verified.returncode == 0 and "audit_log: ok (1 rows" in verified.stdout, verified.stdout

    again = run_cli("backup", "--config", cfg, dest)
    assert again.returncode == 2 and "exists" in again.stderr
    assert run_cli("backup", "--config", cfg, "--force", dest).returncode == 0
    assert run_cli("backup", "--config", cfg, tmp_path).returncode == 2

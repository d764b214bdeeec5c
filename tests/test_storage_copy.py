"""`slamon storage copy`: SQLite to PostgreSQL and back, every table, verified by the reports."""
from __future__ import annotations

import json
from datetime import datetime

from tests.support import UTC, domain_toml, lineworks_contract_toml, month_lines, run_cli, write_config, write_jsonl

CONFIG = ('[monitor]\ndatabase = "slamon.db"\nreports_dir = "reports"\n' + domain_toml("mail")
          + lineworks_contract_toml("acme", ["mail"]))


def ok(*args):
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_copy_to_postgresql_and_back_keeps_every_row_and_every_figure(tmp_path, postgres_url):
    cfg = write_config(tmp_path, CONFIG)
    # last month (the copy recomputes it on both sides): 50 minutes down on the 5th
    now = datetime.now(UTC)
    year, month = (now.year - 1, 12) if now.month == 1 else (now.year, now.month - 1)
    outage = [(datetime(year, month, 5, 1, 0, tzinfo=UTC), 50)]
    ok("ingest", "--config", cfg, write_jsonl(tmp_path / "m.jsonl", month_lines("mail", "Asia/Tokyo", year, month,
                                                                                   down=outage)))
    ok("windows", "add", "--config", cfg, "--kind", "maintenance", "--domain", "mail", "--start",
       f"{year}-{month:02}-20T00:00:00Z", "--end", f"{year}-{month:02}-20T01:00:00Z", "--reason", "upgrade")
    ok("claims", "add", "acme", "--config", cfg, "--period", f"{year}-{month:02}", "--filed-at", now.isoformat())
    before = json.loads(ok("report", "--config", cfg, "--period", f"{year}-{month:02}"))

    out = ok("storage", "copy", "--config", cfg, "--from", f"sqlite:///{tmp_path}/slamon.db", "--to", postgres_url)
    assert "verified" in out and "1 contracts are identical" in out
    pg_cfg = write_config(tmp_path / "pg", CONFIG + f'\n[storage]\nurl = "{postgres_url}"\n')
    assert json.loads(ok("report", "--config", pg_cfg, "--period", f"{year}-{month:02}")) == before
    windows = json.loads(ok("windows", "list", "--json", "--config", pg_cfg))
    assert [w["id"] for w in windows] == ["db-1"]
    assert "audit_log: ok (2 rows" in ok("audit", "verify", "--config", pg_cfg)
    ok("notices", "add", "--config", pg_cfg, "--contract", "acme", "--at", now.isoformat())   # ids go on
    assert "audit_log: ok (3 rows" in ok("audit", "verify", "--config", pg_cfg)
    on_postgresql = json.loads(ok("report", "--config", pg_cfg, "--period", f"{year}-{month:02}"))

    again = run_cli("storage", "copy", "--config", cfg, "--from", f"sqlite:///{tmp_path}/slamon.db", "--to",
                    postgres_url)
    assert again.returncode == 2 and "not empty" in again.stderr

    back = tmp_path / "back"
    ok("storage", "copy", "--config", pg_cfg, "--from", postgres_url, "--to", f"sqlite:///{back}/slamon.db")
    back_cfg = write_config(back, CONFIG + '\n[storage]\nurl = "sqlite:///slamon.db"\n')
    assert json.loads(ok("report", "--config", back_cfg, "--period", f"{year}-{month:02}")) == on_postgresql
    assert "audit_log: ok (3 rows" in ok("audit", "verify", "--config", back_cfg)


def test_copy_needs_urls_and_an_existing_source(tmp_path):
    cfg = write_config(tmp_path, CONFIG)
    for args, needle in ((["--from", "slamon.db", "--to", "sqlite:///x.db"], "must be a URL"),
                         (["--from", f"sqlite:///{tmp_path}/none.db", "--to", f"sqlite:///{tmp_path}/x.db"],
                          "no such database")):
        result = run_cli("storage", "copy", "--config", cfg, *args)
        assert result.returncode == 2 and needle in result.stderr, result.stderr

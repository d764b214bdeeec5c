"""The audit log and the report ledger as hash chains: rows written before the chain existed are
chained by the migration, new rows chain on, `slamon audit verify` checks both; quarantined
minutes are listed and replayed once."""
from __future__ import annotations

import json
import sqlite3

import sqlite_utils

from monitor.storage import GENESIS, MIGRATIONS, Storage, chain_hash
from tests.support import domain_toml, lineworks_contract_toml, minute_row, monitor_toml, write_config

CONFIG = monitor_toml() + domain_toml("mail") + lineworks_contract_toml("acme", ["mail"])


def schema_4_database(path) -> None:
    """A database as slamon 0.2 before the chains left it: migrations 1-4, rows written the old way."""
    db = sqlite_utils.Database(sqlite3.connect(path))
    db.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for migration in MIGRATIONS[:4]:
        migration.apply(db)
        db.execute("INSERT INTO _migrations VALUES (?, ?, '2026-11-01T00:00:00+00:00')",
                   [migration.version, migration.name])
    for i in range(3):
        db.execute("INSERT INTO audit_log (at, actor, action, entity, entity_id, before, after, reason) "
                   "VALUES (?, 'cli:ops', 'add', 'window', ?, NULL, ?, 'maintenance')",
                   [f"2026-11-0{i + 1}T00:00:00+00:00", str(i + 1), json.dumps({"id": i + 1})])
    db.execute("INSERT INTO report_revisions (contract, period, revision, evidence_digest, credit_amount, currency, "
               "written_at, evidence, report) VALUES ('acme', '2026-10', 1, 'sha256:ab', '0', 'JPY', "
               "'2026-11-01T00:05:00+00:00', '{}', '{}')")
    db.conn.commit()
    db.close()


def test_the_migration_chains_existing_rows_and_new_rows_chain_on(tmp_path, slamon):
    db = tmp_path / "slamon.db"
    schema_4_database(db)
    with Storage(db) as storage:
        assert storage.schema_version() == MIGRATIONS[-1].version
        ledgers = {r["ledger"]: r for r in storage.verify_ledgers()}
        assert ledgers["audit_log"]["rows"] == 3 and ledgers["audit_log"]["broken"] is None
        assert ledgers["report_revisions"]["rows"] == 1 and ledgers["report_revisions"]["broken"] is None
        first = storage.db.execute("SELECT prev_hash, row_hash FROM audit_log WHERE id = 1").fetchone()
        assert first[0] == GENESIS
        assert first[1] == chain_hash(GENESIS, [1, "2026-11-01T00:00:00+00:00", "cli:ops", "add", "window", "1",
                                                None, json.dumps({"id": 1}), "maintenance"])
    cfg = write_config(tmp_path, CONFIG)
    added = slamon("notices", "add", "--config", cfg, "--contract", "acme", "--at", "2026-11-20T01:00:00Z")
    assert added.returncode == 0, added.stderr
    verified = slamon("audit", "verify", "--config", cfg)
    assert verified.returncode == 0, verified.stdout
    assert "audit_log: ok (4 rows" in verified.stdout and "report_revisions: ok (1 rows" in verified.stdout


def test_a_row_changed_behind_the_triggers_back_is_named(tmp_path, slamon):
    db = tmp_path / "slamon.db"
    schema_4_database(db)
    Storage(db).close()
    conn = sqlite3.connect(db)
    conn.executescript("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'someone else' WHERE id = 2;")
    conn.close()
    verified = slamon("audit", "verify", "--config", write_config(tmp_path, CONFIG))
    assert verified.returncode == 1
    assert "audit_log: broken at id 2: its content does not match its hash" in verified.stdout


def test_a_quarantined_minute_is_listed_and_replayed_once(tmp_path, slamon):
    cfg = write_config(tmp_path, CONFIG)
    with Storage(tmp_path / "slamon.db") as storage:
        good = minute_row(0, 29_000_000, 30, 2)[2:]
        storage.quarantine_minute("mail", 29_000_000, good, False, "InterfaceError: the writer broke")
        storage.quarantine_minute("mail", 29_000_001, (10**20, *good[1:]), False, "OverflowError: too large")
    listed = slamon("quarantine", "list", "--config", cfg, "--json").json()
    assert [(r["id"], r["minute"], r["counts"]["requests"]) for r in listed] == [(1, 29_000_000, 30),
                                                                                 (2, 29_000_001, 10**20)]
    replayed = slamon("quarantine", "replay", "--config", cfg, "1")
    assert replayed.returncode == 0 and "stored" in replayed.stdout
    with Storage(tmp_path / "slamon.db") as storage:
        assert [(r["requests"], r["errors"]) for r in storage.minute_rows("mail", 29_000_000, 29_000_001)] == [(30, 2)]
    again = slamon("quarantine", "replay", "--config", cfg, "1")
    assert again.returncode == 2 and "no quarantined minute with id 1" in again.stderr
    poison = slamon("quarantine", "replay", "--config", cfg, "2")
    assert poison.returncode == 2 and "still cannot be stored: OverflowError" in poison.stderr
    waiting = slamon("quarantine", "list", "--config", cfg)
    assert waiting.stdout.count("\n") == 1 and "\t10" not in waiting.stdout.split("requests=")[0]
    assert "requests=100000000000000000000" in waiting.stdout and "waiting" in waiting.stdout
    everything = slamon("quarantine", "list", "--config", cfg, "--all").stdout
    assert "replayed " in everything

"""Fault: someone with write access to the SQLite file tries to rewrite history. Every way SQLite
offers to change or remove a row of the two hash-chained ledgers (audit_log, report_revisions) —
REPLACE, INSERT OR REPLACE, an upsert, UPDATE, DELETE, an insert off the chain — is refused by
the triggers with our message; and once an attacker drops the triggers first, `slamon audit
verify` exits 1 naming the first row that no longer fits its chain."""
from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from monitor.storage import LEDGERS, Storage, chain_hash
from tests.faults.harness import Figures, integrity
from tests.support import domain_toml, lineworks_contract_toml, monitor_toml, run_cli, write_config

CONFIG = monitor_toml() + domain_toml("mail") + lineworks_contract_toml("acme", ["mail"], timezone="Asia/Tokyo")
AUDIT_COLUMNS = ("id", "at", "actor", "action", "entity", "entity_id", "before", "after", "reason",
                 "prev_hash", "row_hash")
REVISION_COLUMNS = LEDGERS["report_revisions"][1] + ("prev_hash", "row_hash")


def attacker(db: Path) -> sqlite3.Connection:
    """A plain connection, as the sqlite3 shell would open: autocommit, no slamon code."""
    return sqlite3.connect(db, isolation_level=None, timeout=10)


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = attacker(db)
    try:
        return {"audit_log": conn.execute("SELECT * FROM audit_log ORDER BY id").fetchall(),
                "report_revisions": conn.execute("SELECT rowid, * FROM report_revisions ORDER BY rowid").fetchall()}
    finally:
        conn.close()


def insert(verb: str, table: str, columns: tuple[str, ...], tail: str = "") -> str:
    return (f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
            + (f" {tail}" if tail else ""))


def head(conn: sqlite3.Connection, table: str) -> str:
    key = LEDGERS[table][0]
    row = conn.execute(f"SELECT row_hash FROM {table} ORDER BY {key} DESC LIMIT 1").fetchone()
    return str(row[0])


def forged_audit_row(conn: sqlite3.Connection, prev: str) -> list[Any]:
    """Audit row 2 saying something else, with a correct hash over its new content chained to `prev`."""
    row = list(conn.execute(f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log WHERE id = 2").fetchone())
    row[8], row[9] = "nothing happened here", prev
    row[10] = chain_hash(prev, row[:9])
    return row


def audit_attacks(conn: sqlite3.Connection) -> list[tuple[str, str, list[Any]]]:
    """(what, SQL, parameters) against audit row 2, each as valid as it can be made: the rows put
    in carry a correct hash over their content, chained to the ledger's head, so that only the
    refusal of a replacement stands in their way (except the last, which is off the chain)."""
    forged = forged_audit_row(conn, head(conn, "audit_log"))
    last = conn.execute("SELECT MAX(id) FROM audit_log").fetchone()[0]
    off_chain = [last + 1, *forged[1:9], "f" * 64, None]
    off_chain[10] = chain_hash("f" * 64, off_chain[:9])
    return [
        ("REPLACE INTO over id 2", insert("REPLACE", "audit_log", AUDIT_COLUMNS), forged),
        ("INSERT OR REPLACE over id 2", insert("INSERT OR REPLACE", "audit_log", AUDIT_COLUMNS), forged),
        ("upsert ON CONFLICT(id) DO UPDATE",
         insert("INSERT", "audit_log", AUDIT_COLUMNS, "ON CONFLICT(id) DO UPDATE SET reason = excluded.reason"),
         forged),
        ("INSERT without an id", insert("INSERT", "audit_log", AUDIT_COLUMNS[1:]), forged[1:]),
        ("UPDATE", "UPDATE audit_log SET reason = ? WHERE id = 2", ["nothing happened here"]),
        ("UPDATE OR REPLACE of the id", "UPDATE OR REPLACE audit_log SET id = 1 WHERE id = 2", []),
        ("DELETE", "DELETE FROM audit_log WHERE id = 2", []),
        ("INSERT off the chain", insert("INSERT", "audit_log", AUDIT_COLUMNS), off_chain),
    ]


def revision_attacks(conn: sqlite3.Connection) -> list[tuple[str, str, list[Any]]]:
    """The same against revision 1 of acme 2026-11: nothing owed after all."""
    forged = list(conn.execute(f"SELECT {', '.join(REVISION_COLUMNS)} FROM report_revisions "
                               f"WHERE revision = 1").fetchone())
    forged[4], forged[11] = "0", head(conn, "report_revisions")
    forged[12] = chain_hash(forged[11], forged[:11])
    off_chain = list(forged)
    off_chain[2], off_chain[11] = 3, "f" * 64
    off_chain[12] = chain_hash(off_chain[11], off_chain[:11])
    key = "contract = 'acme' AND period = '2026-11' AND revision = 1"
    return [
        ("REPLACE INTO over revision 1", insert("REPLACE", "report_revisions", REVISION_COLUMNS), forged),
        ("INSERT OR REPLACE over revision 1", insert("INSERT OR REPLACE", "report_revisions", REVISION_COLUMNS),
         forged),
        ("upsert ON CONFLICT DO UPDATE", insert("INSERT", "report_revisions", REVISION_COLUMNS,
                                                "ON CONFLICT(contract, period, revision) DO UPDATE SET "
                                                "credit_amount = excluded.credit_amount"), forged),
        ("UPDATE", f"UPDATE report_revisions SET credit_amount = '0' WHERE {key}", []),
        ("UPDATE OR REPLACE of the revision", f"UPDATE OR REPLACE report_revisions SET revision = 2 WHERE {key}", []),
        ("DELETE", f"DELETE FROM report_revisions WHERE {key}", []),
        ("INSERT off the chain", insert("INSERT", "report_revisions", REVISION_COLUMNS), off_chain),
    ]


def copy_of(db: Path, directory: Path) -> Path:
    """The database (and a config naming it) in `directory`, through SQLite's backup API."""
    directory.mkdir()
    src, dst = sqlite3.connect(db), sqlite3.connect(directory / "slamon.db")
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return write_config(directory, CONFIG)


def test_ledger_rows_cannot_be_replaced_changed_or_removed(tmp_path: Path, fault_figures: Figures) -> None:
    cfg = write_config(tmp_path, CONFIG)
    db = tmp_path / "slamon.db"
    for day in (10, 11):
        added = run_cli("windows", "add", "--config", cfg, "--kind", "maintenance", "--domain", "mail",
                        "--start", f"2026-11-{day}T01:00:00+09:00", "--end", f"2026-11-{day}T02:00:00+09:00",
                        "--reason", f"planned upgrade {day}", "--actor", "ops:alice")
        assert added.returncode == 0, added.stderr
    ended = run_cli("windows", "end", "--config", cfg, "db-2", "--at", "2026-11-11T01:30:00+09:00",
                    "--reason", "finished early", "--actor", "ops:alice")
    assert ended.returncode == 0, ended.stderr
    with Storage(db) as storage:
        for revision, amount in ((1, "5400"), (2, "2700")):
            storage.add_report_revision("acme", "2026-11", revision, evidence_digest=f"sha256:{revision:064x}",
                                        credit_amount=amount, currency="JPY",
                                        diff=[] if revision == 1 else ["credit_amount: 5400 -> 2700"],
                                        evidence="{}", report="{}", files={})
    before = snapshot(db)
    assert len(before["audit_log"]) == 3 and len(before["report_revisions"]) == 2
    verify = run_cli("audit", "verify", "--config", cfg)
    assert verify.returncode == 0, verify.stdout

    refused: dict[str, list[str]] = {"audit_log": [], "report_revisions": []}
    conn = attacker(db)
    try:
        conn.execute("PRAGMA recursive_triggers = ON")    # what REPLACE's delete would need to be seen: on
        for table, attacks in (("audit_log", audit_attacks(conn)), ("report_revisions", revision_attacks(conn))):
            for what, sql, params in attacks:
                with pytest.raises(sqlite3.IntegrityError) as caught:
                    conn.execute(sql, params)
                message = str(caught.value)
                assert message.startswith((f"{table} is append-only", f"{table} is chained")), (what, message)
                refused[table].append(message.split(": ", 1)[1])
    finally:
        conn.close()
    assert snapshot(db) == before, "a refused statement changed nothing"
    verify = run_cli("audit", "verify", "--config", cfg)
    assert verify.returncode == 0 and "audit_log: ok (3 rows" in verify.stdout, verify.stdout
    assert "report_revisions: ok (2 rows" in verify.stdout, verify.stdout

    # the attacker drops the triggers first: the change is made, and found
    tampering = [
        ("audit UPDATE", "DROP TRIGGER audit_log_no_update; "
                         "UPDATE audit_log SET reason = 'nothing happened here' WHERE id = 2;",
         "audit_log: broken at id 2: its content does not match its hash (it was changed)"),
        ("audit DELETE", "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = 1;",
         "audit_log: broken at id 2: its prev_hash is not the hash of the row before it "
         "(a row was removed or inserted)"),
        ("audit REPLACE, rehashed", "DROP TRIGGER audit_log_no_replace; DROP TRIGGER audit_log_chained;",
         "audit_log: broken at id 3: its prev_hash is not the hash of the row before it "
         "(a row was removed or inserted)"),
        ("revision UPDATE", "DROP TRIGGER report_revisions_no_update; UPDATE report_revisions "
                            "SET credit_amount = '0' WHERE revision = 1;",
         "report_revisions: broken at acme 2026-11 revision 1: its content does not match its hash (it was changed)"),
    ]
    found = []
    for i, (what, script, expected) in enumerate(tampering):
        copy_cfg = copy_of(db, tmp_path / f"tampered-{i}")
        conn = attacker(copy_cfg.parent / "slamon.db")
        try:
            conn.executescript(script)
            if what.startswith("audit REPLACE"):
                # row 2 replaced by one with a correct hash over its new content, chained to row 1
                row1 = conn.execute("SELECT row_hash FROM audit_log WHERE id = 1").fetchone()[0]
                conn.execute(insert("REPLACE", "audit_log", AUDIT_COLUMNS), forged_audit_row(conn, row1))
        finally:
            conn.close()
        assert snapshot(copy_cfg.parent / "slamon.db") != before, what
        result = run_cli("audit", "verify", "--config", copy_cfg)
        assert result.returncode == 1, (what, result.stdout)
        assert expected in result.stdout.splitlines(), (what, result.stdout)
        found.append(f"{what} -> {expected.split(':')[0]} {expected.split(': ')[1]}")
    assert integrity(db) == "ok"

    reasons = Counter(refused["audit_log"] + refused["report_revisions"])
    assert set(reasons) == {"a row is never replaced", "rows are never changed", "rows are never removed",
                            "prev_hash must be the last row's hash"}, reasons
    fault_figures("replace", (
        f"{len(refused['audit_log'])} attempts on audit_log and {len(refused['report_revisions'])} on "
        f"report_revisions (REPLACE, INSERT OR REPLACE, upsert, UPDATE, UPDATE OR REPLACE, DELETE, ...) all refused "
        f"by SQLite with IntegrityError ({', '.join(f'{n}x {r!r}' for r, n in reasons.most_common())}), rows "
        f"unchanged, verify exit 0; with the triggers dropped first, verify exit 1 for each of {len(found)} "
        f"tamperings ({'; '.join(found)})"))

"""SQLite storage through sqlite-utils: per-minute aggregates, windows, notices, an append-only
audit log. The schema is created and upgraded by the registered MIGRATIONS, in order, once each.

Minutes are stored once per (domain, minute) as counts; contributions are additive and made
idempotent by their source: a file's digest for `slamon ingest`, a (domain, minute) marker for
minutes the daemon closes."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.clock import Clock, SystemClock, now_utc
from monitor.errors import InputError, SlamonError
from probes import OUTCOMES
from reports.contracts import Claim, Notice, Window

COUNT_COLUMNS = ("requests", "errors") + OUTCOMES
Row = dict[str, Any]


class StorageError(SlamonError):
    """The database cannot be used (missing, locked, newer schema)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[sqlite_utils.Database], None]


def _m001_initial(db: sqlite_utils.Database) -> None:
    counts = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in COUNT_COLUMNS)
    db.executescript(f"""
    CREATE TABLE domains (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE minute_counts (
        domain_id INTEGER NOT NULL REFERENCES domains(id),
        minute INTEGER NOT NULL,            -- UTC epoch seconds // 60
        {counts},
        PRIMARY KEY (domain_id, minute)
    ) WITHOUT ROWID;
    CREATE TABLE ingested_sources (
        digest TEXT PRIMARY KEY, name TEXT NOT NULL, lines INTEGER NOT NULL, loaded INTEGER NOT NULL,
        rejected INTEGER NOT NULL, domain_minutes INTEGER NOT NULL, ingested_at TEXT NOT NULL
    );
    CREATE TABLE windows (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, domains TEXT NOT NULL, contracts TEXT NOT NULL,
        start TEXT NOT NULL, "end" TEXT, announced_at TEXT, reason TEXT NOT NULL,
        created_at TEXT NOT NULL, created_by TEXT NOT NULL
    );
    CREATE TABLE notices (
        id INTEGER PRIMARY KEY, contract TEXT NOT NULL, domain TEXT, at TEXT NOT NULL, kind TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, created_by TEXT NOT NULL
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        entity TEXT NOT NULL, entity_id TEXT NOT NULL, before TEXT, after TEXT, reason TEXT NOT NULL
    );
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    """)


def _m002_daemon(db: sqlite_utils.Database) -> None:
    db.executescript("""
    -- a minute the daemon has closed for a domain: its counts were added once and never again
    CREATE TABLE probe_minutes (
        domain_id INTEGER NOT NULL REFERENCES domains(id), minute INTEGER NOT NULL,
        PRIMARY KEY (domain_id, minute)
    ) WITHOUT ROWID;
    CREATE TABLE written_reports (
        contract TEXT NOT NULL, period TEXT NOT NULL, format TEXT NOT NULL, path TEXT NOT NULL,
        sha256 TEXT NOT NULL, written_at TEXT NOT NULL, PRIMARY KEY (contract, period, format)
    );
    """)


def _m003_report_revisions(db: sqlite_utils.Database) -> None:
    db.executescript("""
    -- a monthly report once written is frozen: a later change of its inputs is a new revision.
    -- evidence and report keep the canonical JSON a revision was computed from and showed, so the
    -- next revision can say what changed; files maps a format to {path, sha256} (revision 1's
    -- files are in written_reports, where the daemon recorded them before revisions existed)
    CREATE TABLE report_revisions (
        contract TEXT NOT NULL, period TEXT NOT NULL, revision INTEGER NOT NULL,
        evidence_digest TEXT NOT NULL, credit_amount TEXT NOT NULL, currency TEXT NOT NULL,
        written_at TEXT NOT NULL, diff TEXT NOT NULL DEFAULT '[]',
        evidence TEXT NOT NULL, report TEXT NOT NULL, files TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (contract, period, revision)
    );
    CREATE TRIGGER report_revisions_no_update BEFORE UPDATE ON report_revisions
        BEGIN SELECT RAISE(ABORT, 'report revisions are frozen'); END;
    CREATE TRIGGER report_revisions_no_delete BEFORE DELETE ON report_revisions
        BEGIN SELECT RAISE(ABORT, 'report revisions are frozen'); END;
    """)


def _m004_claims(db: sqlite_utils.Database) -> None:
    db.executescript("""
    -- a customer's claim for the compensation of one contract's month: a record of what was
    -- filed when, so it is never changed or removed (a mistake is corrected by a later claim)
    CREATE TABLE claims (
        id INTEGER PRIMARY KEY, contract TEXT NOT NULL, period TEXT NOT NULL, filed_at TEXT NOT NULL,
        reference TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, created_by TEXT NOT NULL
    );
    CREATE INDEX claims_contract_period ON claims (contract, period);
    CREATE TRIGGER claims_no_update BEFORE UPDATE ON claims
        BEGIN SELECT RAISE(ABORT, 'claims are records: they are not changed'); END;
    CREATE TRIGGER claims_no_delete BEFORE DELETE ON claims
        BEGIN SELECT RAISE(ABORT, 'claims are records: they are not removed'); END;
    """)


# The two ledgers whose rows are chained: each row carries the hash of the row before it and its
# own, over these columns in this order, so a row changed, removed or slipped in is found by
# `slamon audit verify` even if someone drops the triggers that refuse it.
LEDGERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "audit_log": ("id", ("id", "at", "actor", "action", "entity", "entity_id", "before", "after", "reason")),
    "report_revisions": ("rowid", ("contract", "period", "revision", "evidence_digest", "credit_amount", "currency",
                                   "written_at", "diff", "evidence", "report", "files")),
}
GENESIS = "0" * 64


def chain_hash(prev_hash: str, values: Sequence[object]) -> str:
    """The hash of a ledger row: its predecessor's hash and its own values as canonical JSON."""
    body = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _ledger_triggers(table: str, key: str) -> str:
    """Refuse UPDATE, DELETE and any INSERT that would replace a row (REPLACE deletes without the
    DELETE trigger firing unless recursive_triggers is on; a BEFORE INSERT trigger always fires)
    or break the chain."""
    if table == "audit_log":
        clash = "NEW.id IS NULL OR NEW.id <= (SELECT COALESCE(MAX(id), 0) FROM audit_log)"
    else:
        clash = ("EXISTS (SELECT 1 FROM report_revisions WHERE contract = NEW.contract AND period = NEW.period "
                 "AND revision = NEW.revision)")
    last = f"(SELECT row_hash FROM {table} ORDER BY {key} DESC LIMIT 1)"
    return f"""
    DROP TRIGGER IF EXISTS {table}_no_update;
    DROP TRIGGER IF EXISTS {table}_no_delete;
    CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows are never changed'); END;
    CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows are never removed'); END;
    CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} WHEN {clash}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: a row is never replaced'); END;
    CREATE TRIGGER {table}_chained BEFORE INSERT ON {table}
        WHEN NEW.prev_hash IS NOT COALESCE({last}, '{GENESIS}') OR NEW.row_hash IS NULL
        BEGIN SELECT RAISE(ABORT, '{table} is chained: prev_hash must be the last row''s hash'); END;
    """


def _m005_ledgers_partial_quarantine(db: sqlite_utils.Database) -> None:
    for table, (key, columns) in LEDGERS.items():
        db.executescript(f"""
        DROP TRIGGER IF EXISTS {table}_no_update;
        DROP TRIGGER IF EXISTS {table}_no_delete;
        ALTER TABLE {table} ADD COLUMN prev_hash TEXT;
        ALTER TABLE {table} ADD COLUMN row_hash TEXT;
        """)
        prev = GENESIS
        for row in db.execute(f"SELECT {key}, {', '.join(columns)} FROM {table} ORDER BY {key}").fetchall():
            digest = chain_hash(prev, row[1:])
            db.execute(f"UPDATE {table} SET prev_hash = ?, row_hash = ? WHERE {key} = ?", [prev, digest, row[0]])
            prev = digest
        db.executescript(_ledger_triggers(table, key))
    db.executescript("""
    -- the end a window was announced with, when it was given apart from the end itself
    ALTER TABLE windows ADD COLUMN announced_end TEXT;
    -- a minute written by a daemon that observed only part of it (cut by shutdown); a daemon
    -- restarted within the same minute adds the rest and clears the flag, once
    ALTER TABLE probe_minutes ADD COLUMN partial INTEGER NOT NULL DEFAULT 0;
    -- a closed minute that could not be stored, with why: inspected and replayed by
    -- `slamon quarantine`, never silently dropped
    CREATE TABLE quarantined_minutes (
        id INTEGER PRIMARY KEY, domain TEXT NOT NULL, minute INTEGER NOT NULL, counts TEXT NOT NULL,
        partial INTEGER NOT NULL, reason TEXT NOT NULL, quarantined_at TEXT NOT NULL,
        replayed_at TEXT
    );
    ALTER TABLE claims ADD COLUMN corrects TEXT NOT NULL DEFAULT '';
    CREATE TRIGGER claims_no_replace BEFORE INSERT ON claims
        WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM claims WHERE id = NEW.id)
        BEGIN SELECT RAISE(ABORT, 'claims are records: they are not replaced'); END;
    """)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema: minute counts, sources, windows, notices, audit log", _m001_initial),
    Migration(2, "daemon: closed probe minutes, written monthly reports", _m002_daemon),
    Migration(3, "frozen monthly reports: revisions with their evidence and diff", _m003_report_revisions),
    Migration(4, "claims for compensation", _m004_claims),
    Migration(5, "hash-chained audit log and report ledger, partial minutes, quarantine",
              _m005_ledgers_partial_quarantine),
)


def _contract_period_filter(contract: str | None, period: str | None) -> tuple[str, list[str]]:
    """A WHERE clause selecting one contract, one period, both or everything."""
    clauses, args = ["1 = 1"], []
    for column, value in (("contract", contract), ("period", period)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    return " AND ".join(clauses), args


def _inserted_id(cursor: sqlite3.Cursor) -> int:
    row_id = cursor.lastrowid
    assert row_id is not None  # an INSERT into a table with an INTEGER PRIMARY KEY
    return row_id


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class Storage:
    """One connection; the process that holds it is the database's writer."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None, must_exist: bool = False,
                 threaded: bool = False):
        """`threaded`: the connection may be used from worker threads, one at a time (the
        daemon serialises its database work behind one lock). `clock` stamps the rows written."""
        self.path = Path(path)
        self.clock: Clock = clock or SystemClock()
        if must_exist and not self.path.exists():
            raise InputError(f"no database at {self.path}: ingest samples or run the daemon first")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite_utils.Database(sqlite3.connect(str(self.path), check_same_thread=not threaded))
            self.db.execute("PRAGMA busy_timeout = 10000")
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open database {self.path}: {exc}") from None
        self._domain_ids: dict[str, int] = {}

    def _now(self) -> str:
        return now_utc(self.clock).isoformat()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # --- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, name TEXT, "
                        "applied_at TEXT)")
        applied = {row[0] for row in self.db.execute("SELECT version FROM _migrations").fetchall()}
        newest = max(m.version for m in MIGRATIONS)
        if applied and max(applied) > newest:
            raise StorageError(f"{self.path} has schema version {max(applied)}, newer than this slamon "
                               f"({newest}): upgrade slamon")
        for migration in MIGRATIONS:
            if migration.version in applied:
                continue
            with self.db.atomic():
                migration.apply(self.db)
                self.db.execute("INSERT INTO _migrations VALUES (?, ?, ?)",
                                [migration.version, migration.name, self._now()])

    def backup_to(self, dest: Path) -> int:
        """Copy the database into `dest` with SQLite's online backup (a consistent snapshot even
        while another process writes); returns the pages copied."""
        partial = dest.with_name(dest.name + ".partial")
        partial.unlink(missing_ok=True)
        try:
            target = sqlite3.connect(str(partial))
            try:
                self.db.conn.backup(target, pages=1024)
                pages: int = target.execute("PRAGMA page_count").fetchone()[0]
            finally:
                target.close()
            partial.replace(dest)
        except (OSError, sqlite3.DatabaseError) as exc:
            partial.unlink(missing_ok=True)
            raise StorageError(f"backup to {dest} failed: {exc}") from None
        return pages

    def schema_version(self) -> int:
        version: int = self.db.execute("SELECT MAX(version) FROM _migrations").fetchone()[0]
        return version

    # --- minute counts --------------------------------------------------------------------

    def domain_ids(self, names: Iterable[str]) -> dict[str, int]:
        """Ids for domain names, creating rows for new names."""
        result = {}
        for name in names:
            if name not in self._domain_ids:
                self.db.execute("INSERT OR IGNORE INTO domains (name) VALUES (?)", [name])
                self._domain_ids[name] = self.db.execute("SELECT id FROM domains WHERE name = ?",
                                                         [name]).fetchone()[0]
            result[name] = self._domain_ids[name]
        return result

    def known_domain_ids(self) -> dict[str, int]:
        return {name: id_ for id_, name in self.db.execute("SELECT id, name FROM domains").fetchall()}

    def add_minute_counts(self, rows: Iterable[Sequence[int]]) -> None:
        """Add (domain_id, minute, requests, errors, *per-outcome counts) to what is stored."""
        columns = ", ".join(COUNT_COLUMNS)
        marks = ", ".join("?" for _ in range(len(COUNT_COLUMNS) + 2))
        updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in COUNT_COLUMNS)
        self.db.conn.executemany(
            f"INSERT INTO minute_counts (domain_id, minute, {columns}) VALUES ({marks}) "
            f"ON CONFLICT (domain_id, minute) DO UPDATE SET {updates}", rows)

    def close_probe_minutes(self, rows: Iterable[Sequence[int]], *, partial: bool = False) -> tuple[int, int]:
        """Store minutes the daemon observed, each (domain, minute) at most once ever: a restart
        that sees a minute again, or a retried write, adds nothing. A minute stored as partial
        (cut by shutdown) takes the counts of the rest of it once more, from a daemon restarted
        within it, and is complete after that unless this write is `partial` too. Returns
        (written, skipped)."""
        written = skipped = 0
        flag = 1 if partial else 0
        with self.db.atomic():
            for row in rows:
                cursor = self.db.conn.execute("INSERT OR IGNORE INTO probe_minutes (domain_id, minute, partial) "
                                              "VALUES (?, ?, ?)", [row[0], row[1], flag])
                if cursor.rowcount != 1:
                    cursor = self.db.conn.execute("UPDATE probe_minutes SET partial = ? WHERE domain_id = ? "
                                                  "AND minute = ? AND partial = 1", [flag, row[0], row[1]])
                if cursor.rowcount == 1:
                    self.add_minute_counts([row])
                    written += 1
                else:
                    skipped += 1
        return written, skipped

    def partial_domains(self, minute: int) -> frozenset[str]:
        """Domains whose `minute` is stored as partial (a shutdown cut it)."""
        return frozenset(name for (name,) in self.db.execute(
            "SELECT d.name FROM probe_minutes p JOIN domains d ON d.id = p.domain_id "
            "WHERE p.minute = ? AND p.partial = 1", [minute]))

    # --- quarantine ----------------------------------------------------------------------

    def quarantine_minute(self, domain: str, minute: int, counts: Sequence[int], partial: bool, reason: str) -> int:
        cursor = self.db.execute(
            "INSERT INTO quarantined_minutes (domain, minute, counts, partial, reason, quarantined_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [domain, minute, json.dumps(dict(zip(COUNT_COLUMNS, (str(c) for c in counts), strict=True))),
             int(partial), reason, self._now()])
        return _inserted_id(cursor)

    def quarantine_count(self) -> int:
        count: int = self.db.execute("SELECT COUNT(*) FROM quarantined_minutes WHERE replayed_at IS NULL"
                                     ).fetchone()[0]
        return count

    def quarantined(self, *, include_replayed: bool = False) -> list[Row]:
        where = "" if include_replayed else "WHERE replayed_at IS NULL"
        keys = ("id", "domain", "minute", "counts", "partial", "reason", "quarantined_at", "replayed_at")
        rows = []
        for row in self.db.execute(f"SELECT {', '.join(keys)} FROM quarantined_minutes {where} ORDER BY id"):
            record = dict(zip(keys, row, strict=True))
            record["counts"] = {k: int(v) for k, v in json.loads(record["counts"]).items()}
            record["partial"] = bool(record["partial"])
            rows.append(record)
        return rows

    def replay_quarantined(self, quarantine_id: int) -> tuple[int, int]:
        """Store a quarantined minute as the daemon would have; it leaves the quarantine once
        stored (or found stored already). Raises what storing it raises."""
        with self.db.atomic():
            row = self.db.execute("SELECT domain, minute, counts, partial FROM quarantined_minutes "
                                  "WHERE id = ? AND replayed_at IS NULL", [quarantine_id]).fetchone()
            if row is None:
                raise InputError(f"no quarantined minute with id {quarantine_id} waiting to be replayed")
            domain, minute, counts, partial = row
            values = json.loads(counts)
            ids = self.domain_ids([domain])
            result = self.close_probe_minutes([(ids[domain], minute, *(int(values[c]) for c in COUNT_COLUMNS))],
                                              partial=bool(partial))
            self.db.execute("UPDATE quarantined_minutes SET replayed_at = ? WHERE id = ?", [self._now(), quarantine_id])
        return result

    def report_written(self, contract: str, period: str, fmt: str) -> Row | None:
        row = self.db.execute("SELECT path, sha256, written_at FROM written_reports WHERE contract = ? AND period = ? "
                              "AND format = ?", [contract, period, fmt]).fetchone()
        return {"path": row[0], "sha256": row[1], "written_at": row[2]} if row else None

    def record_report(self, contract: str, period: str, fmt: str, path: str, sha256: str) -> None:
        self.db.execute("INSERT INTO written_reports VALUES (?, ?, ?, ?, ?, ?)",
                        [contract, period, fmt, path, sha256, self._now()])

    _REVISION_KEYS = ("contract", "period", "revision", "evidence_digest", "credit_amount", "currency",
                      "written_at", "diff", "evidence", "report", "files")

    def _revision_rows(self, where: str, args: Sequence[object], skip: Sequence[str] = ()) -> list[Row]:
        columns = ", ".join(f"NULL AS {k}" if k in skip else k for k in self._REVISION_KEYS)
        cursor = self.db.execute(f"SELECT {columns} FROM report_revisions WHERE {where} "
                                 f"ORDER BY period, contract, revision", list(args))
        rows = []
        for row in cursor:
            record = dict(zip(self._REVISION_KEYS, row, strict=True))
            for key in ("diff", "evidence", "report", "files"):
                record[key] = json.loads(record[key]) if record[key] is not None else None
            rows.append(record)
        return rows

    def report_revisions(self, contract: str | None = None, period: str | None = None, *,
                         skip: Sequence[str] = ()) -> list[Row]:
        """Revisions of monthly reports (all, one contract's, one period's or one report's), oldest first
        within a report. Each has its diff, evidence, report (contract JSON) and files decoded; the
        columns named in `skip` (say "evidence", the largest) are None."""
        where, args = _contract_period_filter(contract, period)
        return self._revision_rows(where, args, skip)

    def latest_report_revision(self, contract: str, period: str) -> Row | None:
        rows = self._revision_rows("contract = ? AND period = ? AND revision = (SELECT MAX(revision) FROM "
                                   "report_revisions WHERE contract = ? AND period = ?)",
                                   [contract, period, contract, period])
        return rows[0] if rows else None

    def report_periods(self, contract: str, since: str) -> list[str]:
        """Periods (YYYY-MM, >= since) for which the contract has a frozen report."""
        return [row[0] for row in self.db.execute(
            "SELECT DISTINCT period FROM report_revisions WHERE contract = ? AND period >= ? ORDER BY period",
            [contract, since])]

    def add_report_revision(self, contract: str, period: str, revision: int, *, evidence_digest: str,
                            credit_amount: str, currency: str, diff: Sequence[str], evidence: str, report: str,
                            files: dict[str, Any]) -> None:
        """`evidence` and `report` are canonical JSON text. A revision is written once, never
        changed, chained to the revision written before it."""
        values = [contract, period, revision, evidence_digest, credit_amount, currency, self._now(),
                  json.dumps(list(diff), ensure_ascii=False), evidence, report,
                  json.dumps(files, sort_keys=True, ensure_ascii=False)]
        with self.db.atomic():
            prev = self._last_hash("report_revisions")
            self.db.execute(f"INSERT INTO report_revisions ({', '.join(self._REVISION_KEYS)}, prev_hash, row_hash) "
                            f"VALUES ({', '.join('?' for _ in self._REVISION_KEYS)}, ?, ?)",
                            [*values, prev, chain_hash(prev, values)])

    def written_report_files(self, contract: str | None = None, period: str | None = None) -> list[Row]:
        """Revision 1's files as the daemon recorded them."""
        where, args = _contract_period_filter(contract, period)
        cursor = self.db.execute("SELECT contract, period, format, path, sha256, written_at FROM written_reports "
                                 f"WHERE {where} ORDER BY period, contract, format", args)
        keys = ("contract", "period", "format", "path", "sha256", "written_at")
        return [dict(zip(keys, row, strict=True)) for row in cursor]

    def drop_minutes_before(self, minute: int) -> int:
        """Retention: minute aggregates older than the record retention period."""
        with self.db.atomic():
            self.db.execute("DELETE FROM probe_minutes WHERE minute < ?", [minute])
            return self.db.execute("DELETE FROM minute_counts WHERE minute < ?", [minute]).rowcount

    def source_ingested(self, digest: str) -> Row | None:
        row = self.db.execute("SELECT name, ingested_at FROM ingested_sources WHERE digest = ?", [digest]).fetchone()
        return {"name": row[0], "ingested_at": row[1]} if row else None

    def record_source(self, digest: str, name: str, lines: int, loaded: int, rejected: int,
                      domain_minutes: int) -> None:
        self.db.execute("INSERT INTO ingested_sources VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [digest, name, lines, loaded, rejected, domain_minutes, self._now()])

    def has_minutes(self, start: int, end: int) -> bool:
        return self.db.execute("SELECT 1 FROM minute_counts WHERE minute >= ? AND minute < ? LIMIT 1",
                               [start, end]).fetchone() is not None

    def unhealthy_minutes(self, start: int, end: int, min_samples: int, num: int, den: int,
                          domains: Sequence[str] | None = None) -> Iterator[tuple[str, int, int, int]]:
        """(domain, minute, requests, errors) of stored minutes that are not up under
        (min_samples, num/den): too few samples or an error rate strictly above num/den; of
        every domain, or of the named ones."""
        sql = ("SELECT d.name, m.minute, m.requests, m.errors FROM minute_counts m JOIN domains d "
               "ON d.id = m.domain_id WHERE m.minute >= ? AND m.minute < ? "
               "AND (m.requests < ? OR m.errors * ? > ? * m.requests)")
        args: list[object] = [start, end, min_samples, den, num]
        if domains is not None:
            sql += " AND d.name IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(list(domains)))
        return self.db.execute(sql, args)

    def first_minute(self, domain: str) -> int | None:
        """The earliest stored minute of a domain."""
        row = self.db.execute("SELECT MIN(m.minute) FROM minute_counts m JOIN domains d ON d.id = m.domain_id "
                              "WHERE d.name = ?", [domain]).fetchone()
        first: int | None = row[0] if row else None
        return first

    def hourly_counts(self, start: int, end: int) -> dict[str, dict[int, int]]:
        """Stored minutes per domain and hour (minute // 60) in [start, end): gaps are found by
        reading minute by minute only the hours that come up short."""
        result: dict[str, dict[int, int]] = {}
        for name, hour, count in self.db.execute(
                "SELECT d.name, m.minute / 60 AS hour, COUNT(*) FROM minute_counts m JOIN domains d "
                "ON d.id = m.domain_id WHERE m.minute >= ? AND m.minute < ? GROUP BY m.domain_id, hour",
                [start, end]):
            result.setdefault(name, {})[hour] = count
        return result

    def missing_minutes(self, domain: str, start: int, end: int) -> list[int]:
        """The minutes of [start, end) with no row for the domain, in order."""
        present = self.db.execute(
            "SELECT m.minute FROM minute_counts m JOIN domains d ON d.id = m.domain_id "
            "WHERE d.name = ? AND m.minute >= ? AND m.minute < ? ORDER BY m.minute", [domain, start, end])
        missing: list[int] = []
        expected = start
        for (minute,) in present:
            if minute != expected:
                missing.extend(range(expected, minute))
            expected = minute + 1
        missing.extend(range(expected, end))
        return missing

    def counts_at(self, domain: str, minutes: Sequence[int]) -> dict[int, tuple[int, int]]:
        if not minutes:
            return {}
        rows = self.db.execute(
            "SELECT m.minute, m.requests, m.errors FROM minute_counts m JOIN domains d ON d.id = m.domain_id "
            "WHERE d.name = ? AND m.minute IN (SELECT value FROM json_each(?))",
            [domain, json.dumps(list(minutes))])
        return {minute: (req, err) for minute, req, err in rows}

    def minute_rows(self, domain: str, start: int, end: int) -> list[Row]:
        cols = ", ".join(f"m.{c}" for c in COUNT_COLUMNS)
        cursor = self.db.execute(
            f"SELECT m.minute, {cols}, COALESCE(p.partial, 0) FROM minute_counts m JOIN domains d "
            f"ON d.id = m.domain_id LEFT JOIN probe_minutes p ON p.domain_id = m.domain_id AND p.minute = m.minute "
            f"WHERE d.name = ? AND m.minute >= ? AND m.minute < ? ORDER BY m.minute", [domain, start, end])
        names = ("minute",) + COUNT_COLUMNS + ("partial",)
        rows = [dict(zip(names, row, strict=True)) for row in cursor]
        for row in rows:
            row["partial"] = bool(row["partial"])
        return rows

    # --- windows, notices, audit ------------------------------------------------------------

    def _last_hash(self, table: str) -> str:
        key = LEDGERS[table][0]
        row = self.db.execute(f"SELECT row_hash FROM {table} ORDER BY {key} DESC LIMIT 1").fetchone()
        return row[0] if row else GENESIS

    def _audit(self, actor: str, action: str, entity: str, entity_id: str, before: Row | None,
               after: Row | None, reason: str) -> None:
        """Append to the audit log, chained to the last row (call inside the change's transaction)."""
        next_id = self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM audit_log").fetchone()[0]
        values = [next_id, self._now(), actor, action, entity, entity_id,
                  json.dumps(before, sort_keys=True) if before is not None else None,
                  json.dumps(after, sort_keys=True) if after is not None else None, reason]
        prev = self._last_hash("audit_log")
        self.db.execute(
            "INSERT INTO audit_log (id, at, actor, action, entity, entity_id, before, after, reason, prev_hash, "
            "row_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [*values, prev, chain_hash(prev, values)])

    def verify_ledgers(self) -> list[Row]:
        """Walk both chains: for each ledger, its row count and the first row that breaks the
        chain (None when it holds)."""
        results = []
        for table, (key, columns) in LEDGERS.items():
            prev, count, broken = GENESIS, 0, None
            for row in self.db.execute(f"SELECT {key}, prev_hash, row_hash, {', '.join(columns)} FROM {table} "
                                       f"ORDER BY {key}"):
                count += 1
                ident, stored_prev, stored_hash, values = row[0], row[1], row[2], row[3:]
                label = f"id {ident}" if key == "id" else f"{values[0]} {values[1]} revision {values[2]}"
                if stored_prev != prev:
                    broken = {"row": label, "why": "its prev_hash is not the hash of the row before it "
                                                   "(a row was removed or inserted)"}
                    break
                if chain_hash(prev, values) != stored_hash:
                    broken = {"row": label, "why": "its content does not match its hash (it was changed)"}
                    break
                prev = stored_hash
            results.append({"ledger": table, "rows": count, "broken": broken, "head": prev})
        return results

    def _window_row(self, window_id: int) -> Row | None:
        row = self.db.execute("SELECT id, kind, domains, contracts, start, \"end\", announced_at, reason, "
                              "created_at, created_by, announced_end FROM windows WHERE id = ?",
                              [window_id]).fetchone()
        if row is None:
            return None
        keys = ("id", "kind", "domains", "contracts", "start", "end", "announced_at", "reason", "created_at",
                "created_by", "announced_end")
        record = dict(zip(keys, row, strict=True))
        record["domains"] = json.loads(record["domains"])
        record["contracts"] = json.loads(record["contracts"])
        return record

    def add_window(self, window: Window, *, actor: str, reason: str | None = None) -> int:
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO windows (kind, domains, contracts, start, \"end\", announced_at, reason, created_at, "
                "created_by, announced_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [window.kind, json.dumps(list(window.domains)), json.dumps(list(window.contracts)),
                 _iso(window.start), _iso(window.end), _iso(window.announced_at), window.reason,
                 self._now(), actor, _iso(window.announced_end)])
            window_id = _inserted_id(cursor)
            self._audit(actor, "add", "window", str(window_id), None, self._window_row(window_id),
                        reason or window.reason)
        return window_id

    def end_window(self, window_id: int, end: datetime, *, actor: str, reason: str) -> Row:
        with self.db.atomic():
            before = self._window_row(window_id)
            if before is None:
                raise InputError(f"no window with id {window_id}")
            start = datetime.fromisoformat(before["start"])
            if end <= start:
                raise InputError(f"the end {end.isoformat()} is not after the window's start {before['start']}")
            self.db.execute("UPDATE windows SET \"end\" = ? WHERE id = ?", [end.isoformat(), window_id])
            after = self._window_row(window_id)
            assert after is not None  # updated in this transaction
            self._audit(actor, "end", "window", str(window_id), before, after, reason)
        return after

    def _ends_announced(self) -> dict[str, list[tuple[datetime, datetime | None]]]:
        """Each database window's end as it stood over time: (when it was set, the end then), from
        the audit log (the window's creation and every `windows end`)."""
        history: dict[str, list[tuple[datetime, datetime | None]]] = {}
        for entity_id, at, after in self.db.execute(
                "SELECT entity_id, at, after FROM audit_log WHERE entity = 'window' AND action IN ('add', 'end') "
                "ORDER BY id"):
            end = json.loads(after).get("end") if after else None
            history.setdefault(entity_id, []).append((datetime.fromisoformat(at),
                                                      datetime.fromisoformat(end) if end else None))
        return history

    def windows(self) -> list[Window]:
        """The database's windows. Maintenance recorded without `announced_at` was announced when
        it was recorded. The end announced is the one in force when the window began (or, for one
        recorded after it began, the end it was recorded with): an end moved later after that is
        an overrun."""
        rows = self.db.execute("SELECT id FROM windows ORDER BY id").fetchall()
        ends = self._ends_announced()
        result = []
        for (window_id,) in rows:
            r = self._window_row(window_id)
            assert r is not None  # listed in this transaction
            start = datetime.fromisoformat(r["start"])
            end = datetime.fromisoformat(r["end"]) if r["end"] else None
            history = ends.get(str(window_id), [])
            before_start = [value for at, value in history if at < start] or [value for _, value in history[:1]]
            announced_end = (datetime.fromisoformat(r["announced_end"]) if r["announced_end"] else
                             before_start[-1] if before_start else None)
            if announced_end is not None and end is not None and end <= announced_end:
                announced_end = None  # ended on time or earlier: nothing overran
            result.append(Window(
                kind=r["kind"], start=start, end=end, reason=r["reason"],
                domains=tuple(r["domains"]), contracts=tuple(r["contracts"]),
                # maintenance recorded without an announcement was announced when it was recorded
                announced_at=(datetime.fromisoformat(r["announced_at"]) if r["announced_at"] else
                              datetime.fromisoformat(r["created_at"]) if r["kind"] == "maintenance" else None),
                id=f"db-{window_id}", source="database", announced_end=announced_end))
        return result

    def add_notice(self, notice: Notice, *, actor: str, reason: str | None = None) -> int:
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO notices (contract, domain, at, kind, note, created_at, created_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [notice.contract, notice.domain, notice.at.isoformat(), notice.kind, notice.note,
                 self._now(), actor])
            notice_id = _inserted_id(cursor)
            after = {"id": notice_id, "contract": notice.contract, "domain": notice.domain,
                     "at": notice.at.isoformat(), "kind": notice.kind, "note": notice.note}
            self._audit(actor, "add", "notice", str(notice_id), None, after,
                        reason or notice.note or f"{notice.kind} notice")
        return notice_id

    def add_claim(self, claim: Claim, *, actor: str) -> int:
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO claims (contract, period, filed_at, reference, created_at, created_by, corrects) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [claim.contract, claim.period, claim.filed_at.isoformat(), claim.reference, self._now(), actor,
                 claim.corrects])
            claim_id = _inserted_id(cursor)
            after = {"id": claim_id, "contract": claim.contract, "period": claim.period,
                     "filed_at": claim.filed_at.isoformat(), "reference": claim.reference,
                     **({"corrects": claim.corrects} if claim.corrects else {})}
            self._audit(actor, "add", "claim", str(claim_id), None, after,
                        f"claim for {claim.contract} {claim.period}" + (f" ({claim.reference})" if claim.reference
                                                                         else ""))
        return claim_id

    def claims(self, contract: str | None = None, period: str | None = None) -> list[Claim]:
        where, args = _contract_period_filter(contract, period)
        rows = self.db.execute(f"SELECT id, contract, period, filed_at, reference, corrects FROM claims "
                               f"WHERE {where} ORDER BY id", args).fetchall()
        return [Claim(contract=c, period=p, filed_at=datetime.fromisoformat(f), reference=r, id=f"db-{i}",
                      source="database", corrects=k) for i, c, p, f, r, k in rows]

    def notices(self) -> list[Notice]:
        rows = self.db.execute("SELECT id, contract, domain, at, kind, note FROM notices ORDER BY id").fetchall()
        return [Notice(contract=c, at=datetime.fromisoformat(at), kind=k, domain=d, note=note, id=f"db-{i}",
                       source="database") for i, c, d, at, k, note in rows]

    def audit_rows(self) -> list[Row]:
        cursor = self.db.execute("SELECT id, at, actor, action, entity, entity_id, before, after, reason, row_hash "
                                 "FROM audit_log ORDER BY id")
        keys = ("id", "at", "actor", "action", "entity", "entity_id", "before", "after", "reason", "row_hash")
        rows = []
        for row in cursor:
            record = dict(zip(keys, row, strict=True))
            for key in ("before", "after"):
                record[key] = json.loads(record[key]) if record[key] else None
            rows.append(record)
        return rows

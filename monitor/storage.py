"""SQLite storage through sqlite-utils: per-minute aggregates, windows, notices, an append-only
audit log. The schema is created and upgraded by the registered MIGRATIONS, in order, once each.

Minutes are stored once per (domain, minute) as counts; contributions are additive and made
idempotent by their source: a file's digest for `slamon ingest`, a (domain, minute) marker for
minutes the daemon closes."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import psycopg
import sqlite_utils

from monitor.clock import Clock, SystemClock, now_utc
from monitor.errors import InputError, SlamonError
from monitor.minute_store import BLOCK_MINUTES, COUNT_COLUMNS, BlockSummary, DayBlock, day_of
from monitor.sql import Database, PostgresDatabase, SqliteDatabase, redact, sqlite_path
from reports.contracts import Claim, Notice, Window

Row = dict[str, Any]


class StorageError(SlamonError):
    """The database cannot be used (missing, locked, newer schema)."""


@dataclass(frozen=True)
class Migration:
    """One step of the schema. `apply` changes a SQLite database; `postgresql` a PostgreSQL one,
    or None where PostgreSQL's first step already holds it (PostgreSQL support began at
    version 6, whose step creates the whole schema of that version)."""

    version: int
    name: str
    apply: Callable[[sqlite_utils.Database], None]
    postgresql: Callable[[PostgresDatabase], None] | None = None


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


def _m006_minute_blocks(db: sqlite_utils.Database) -> None:
    """Minutes move from one row each to one block per domain and UTC day (monitor/minute_store.py),
    with the daemon's markers (probed, partial) inside the blocks."""
    db.executescript("""
    CREATE TABLE minute_blocks (
        domain_id INTEGER NOT NULL REFERENCES domains(id),
        vantage TEXT NOT NULL DEFAULT '',          -- where the minutes were seen from ('' = this machine)
        day INTEGER NOT NULL,                      -- UTC epoch minutes // 1440
        present INTEGER NOT NULL,                  -- minutes stored
        first_minute INTEGER,                      -- the first of them
        min_requests INTEGER NOT NULL,             -- the fewest requests of a stored minute
        max_err_num INTEGER NOT NULL,              -- the worst error ratio of a stored minute, as
        max_err_den INTEGER NOT NULL,              --   errors / requests (0 / 1 when none)
        data BLOB NOT NULL,                        -- the day's columns, compressed
        PRIMARY KEY (domain_id, vantage, day)
    );
    CREATE INDEX minute_blocks_day ON minute_blocks (day);
    """)
    blocks: dict[tuple[int, int], DayBlock] = {}
    columns = ", ".join(f"m.{c}" for c in COUNT_COLUMNS)

    def flush() -> None:
        rows = []
        for (domain_id, day), block in blocks.items():
            summary = block.summary()
            rows.append([domain_id, day, summary.present, summary.first_minute, summary.min_requests,
                         summary.max_err_num, summary.max_err_den, block.encode()])
        db.conn.executemany("INSERT INTO minute_blocks (domain_id, vantage, day, present, first_minute, min_requests, "
                            "max_err_num, max_err_den, data) VALUES (?, '', ?, ?, ?, ?, ?, ?, ?)", rows)
        blocks.clear()

    cursor = db.execute(f"SELECT m.domain_id, m.minute, {columns}, p.partial FROM minute_counts m LEFT JOIN "
                        f"probe_minutes p ON p.domain_id = m.domain_id AND p.minute = m.minute "
                        f"ORDER BY m.domain_id, m.minute")
    current: tuple[int, int] | None = None
    for row in cursor:
        key = (row[0], day_of(row[1]))
        if key != current and len(blocks) >= 1000:
            flush()
        current = key
        block = blocks.get(key) or blocks.setdefault(key, DayBlock(key[1]))
        i = block.offset(row[1])
        block.add(i, row[2:-1])
        if row[-1] is not None:
            block.mark_probed(i, bool(row[-1]))
    # markers of minutes without counts (a probe minute whose row retention dropped) are moot
    flush()
    db.executescript("DROP TABLE probe_minutes; DROP TABLE minute_counts;")


def _pg_append_only(table: str, what: str) -> str:
    return f"""
    CREATE FUNCTION {table}_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{what}'; END $$;
    CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION {table}_refuse();
    """


def _pg_ledger(table: str, key: str, clash: str) -> str:
    """UPDATE, DELETE and TRUNCATE refused, and an INSERT refused unless it chains to the last
    row (an INSERT ... ON CONFLICT DO UPDATE is an UPDATE: refused)."""
    return _pg_append_only(table, f"{table} is append-only: rows are never changed or removed") + f"""
    CREATE FUNCTION {table}_chained() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE last_hash TEXT;
        BEGIN
            IF {clash} THEN RAISE EXCEPTION '{table} is append-only: a row is never replaced'; END IF;
            SELECT row_hash INTO last_hash FROM {table} ORDER BY {key} DESC LIMIT 1;
            IF NEW.row_hash IS NULL OR NEW.prev_hash IS DISTINCT FROM COALESCE(last_hash, '{GENESIS}') THEN
                RAISE EXCEPTION '{table} is chained: prev_hash must be the last row''s hash';
            END IF;
            RETURN NEW;
        END $$;
    CREATE TRIGGER {table}_chained BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_chained();
    """


def _pg_schema(db: PostgresDatabase) -> None:
    """The schema of version 6 in PostgreSQL, in one step."""
    db.executescript("""
    CREATE TABLE domains (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE minute_blocks (
        domain_id BIGINT NOT NULL REFERENCES domains(id), vantage TEXT NOT NULL DEFAULT '', day INTEGER NOT NULL,
        present INTEGER NOT NULL, first_minute BIGINT, min_requests BIGINT NOT NULL,
        max_err_num BIGINT NOT NULL, max_err_den BIGINT NOT NULL, data BYTEA NOT NULL,
        PRIMARY KEY (domain_id, vantage, day)
    );
    CREATE INDEX minute_blocks_day ON minute_blocks (day);
    CREATE TABLE ingested_sources (
        digest TEXT PRIMARY KEY, name TEXT NOT NULL, lines BIGINT NOT NULL, loaded BIGINT NOT NULL,
        rejected BIGINT NOT NULL, domain_minutes BIGINT NOT NULL, ingested_at TEXT NOT NULL
    );
    CREATE TABLE windows (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, kind TEXT NOT NULL, domains TEXT NOT NULL,
        contracts TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT, announced_at TEXT, reason TEXT NOT NULL,
        created_at TEXT NOT NULL, created_by TEXT NOT NULL, announced_end TEXT
    );
    CREATE TABLE notices (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, contract TEXT NOT NULL, domain TEXT,
        at TEXT NOT NULL, kind TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE TABLE audit_log (
        id BIGINT PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        entity TEXT NOT NULL, entity_id TEXT NOT NULL, before TEXT, after TEXT, reason TEXT NOT NULL,
        prev_hash TEXT, row_hash TEXT
    );
    CREATE TABLE written_reports (
        contract TEXT NOT NULL, period TEXT NOT NULL, format TEXT NOT NULL, path TEXT NOT NULL,
        sha256 TEXT NOT NULL, written_at TEXT NOT NULL, PRIMARY KEY (contract, period, format)
    );
    CREATE TABLE report_revisions (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        contract TEXT NOT NULL, period TEXT NOT NULL, revision INTEGER NOT NULL,
        evidence_digest TEXT NOT NULL, credit_amount TEXT NOT NULL, currency TEXT NOT NULL,
        written_at TEXT NOT NULL, diff TEXT NOT NULL DEFAULT '[]',
        evidence TEXT NOT NULL, report TEXT NOT NULL, files TEXT NOT NULL DEFAULT '{}',
        prev_hash TEXT, row_hash TEXT, PRIMARY KEY (contract, period, revision)
    );
    CREATE TABLE claims (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, contract TEXT NOT NULL, period TEXT NOT NULL,
        filed_at TEXT NOT NULL, reference TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL,
        created_by TEXT NOT NULL, corrects TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX claims_contract_period ON claims (contract, period);
    CREATE TABLE quarantined_minutes (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, domain TEXT NOT NULL, minute BIGINT NOT NULL,
        counts TEXT NOT NULL, partial INTEGER NOT NULL, reason TEXT NOT NULL, quarantined_at TEXT NOT NULL,
        replayed_at TEXT
    );
    """)
    db.executescript(_pg_append_only("claims", "claims are records: they are not changed or removed"))
    db.executescript(_pg_ledger("audit_log", "id", "EXISTS (SELECT 1 FROM audit_log WHERE id >= NEW.id)"))
    db.executescript(_pg_ledger("report_revisions", "seq",
                                "EXISTS (SELECT 1 FROM report_revisions WHERE contract = NEW.contract AND "
                                "period = NEW.period AND revision = NEW.revision)"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema: minute counts, sources, windows, notices, audit log", _m001_initial),
    Migration(2, "daemon: closed probe minutes, written monthly reports", _m002_daemon),
    Migration(3, "frozen monthly reports: revisions with their evidence and diff", _m003_report_revisions),
    Migration(4, "claims for compensation", _m004_claims),
    Migration(5, "hash-chained audit log and report ledger, partial minutes, quarantine",
              _m005_ledgers_partial_quarantine),
    Migration(6, "compact minute store: one block per domain and UTC day", _m006_minute_blocks, _pg_schema),
)


def _contract_period_filter(contract: str | None, period: str | None) -> tuple[str, list[str]]:
    """A WHERE clause selecting one contract, one period, both or everything."""
    clauses, args = ["1 = 1"], []
    for column, value in (("contract", contract), ("period", period)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    return " AND ".join(clauses), args


def _inserted_id(cursor: Any) -> int:
    """The id an `INSERT ... RETURNING id` made. The cursor is read to its end: SQLite finishes
    (and, outside a transaction, commits) the statement only then."""
    rows = cursor.fetchall()
    return int(rows[0][0])


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class Storage:
    """One connection; the process that holds it is the database's writer."""

    def __init__(self, target: str | Path, *, clock: Clock | None = None, must_exist: bool = False,
                 threaded: bool = False):
        """`target`: a SQLite file (a path or sqlite:///PATH) or a PostgreSQL URL. `threaded`:
        the connection may be used from worker threads, one at a time (the daemon serialises its
        database work behind one lock). `clock` stamps the rows written."""
        self.clock: Clock = clock or SystemClock()
        file = sqlite_path(target)
        self.path: Path | None = file
        self.where = str(file) if file is not None else redact(str(target))
        if file is not None and must_exist and not file.exists():
            raise InputError(f"no database at {file}: ingest samples or run the daemon first")
        self.db: Database
        try:
            if file is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
                sqlite = SqliteDatabase(file, threaded=threaded)
                sqlite.execute("PRAGMA busy_timeout = 10000")
                sqlite.enable_wal()
                sqlite.execute("PRAGMA synchronous = NORMAL")
                sqlite.execute("PRAGMA foreign_keys = ON")
                self.db = sqlite
            else:
                self.db = PostgresDatabase(str(target))
        except (sqlite3.DatabaseError, psycopg.Error, OSError) as exc:
            raise StorageError(f"cannot open database {self.where}: {str(exc).strip()}") from None
        try:
            self._migrate()
        except (sqlite3.DatabaseError, psycopg.Error) as exc:
            self.db.close()
            raise StorageError(f"cannot open database {self.where}: {str(exc).strip()}") from None
        self._domain_ids: dict[str, int] = {}

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row of a query that always returns one."""
        row = self.db.execute(sql, params).fetchone()
        assert row is not None  # an aggregate, or a row this transaction just wrote
        return row[0]

    @property
    def postgresql(self) -> bool:
        return self.db.dialect == "postgresql"

    def _ledger_key(self, table: str) -> str:
        """What orders a ledger's rows: audit_log's id; report_revisions' insertion order."""
        key = LEDGERS[table][0]
        return "seq" if key == "rowid" and self.postgresql else key

    def _lock(self, table: str) -> None:
        """Serialise appends to a chained table across PostgreSQL connections (other daemons);
        SQLite's one writer does that already."""
        if self.postgresql:
            self.db.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")

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
        with self.db.atomic():
            self._lock("_migrations")   # two daemons starting on one PostgreSQL: one migrates
            applied = {row[0] for row in self.db.execute("SELECT version FROM _migrations").fetchall()}
            newest = max(m.version for m in MIGRATIONS)
            if applied and max(applied) > newest:
                raise StorageError(f"{self.where} has schema version {max(applied)}, newer than this slamon "
                                   f"({newest}): upgrade slamon")
            for migration in MIGRATIONS:
                if migration.version in applied:
                    continue
                with self.db.atomic():
                    if isinstance(self.db, PostgresDatabase):
                        if migration.postgresql is not None:
                            migration.postgresql(self.db)
                    else:
                        migration.apply(self.db)
                    self.db.execute("INSERT INTO _migrations VALUES (?, ?, ?)",
                                    [migration.version, migration.name, self._now()])

    def backup_to(self, dest: Path) -> int:
        """Copy the database into `dest` with SQLite's online backup (a consistent snapshot even
        while another process writes); returns the pages copied."""
        if not isinstance(self.db, SqliteDatabase):
            raise StorageError("slamon backup copies SQLite databases; back PostgreSQL up with pg_dump, or "
                               "copy it to a SQLite file with `slamon storage copy`")
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
        version: int = self._scalar("SELECT MAX(version) FROM _migrations")
        return version

    # --- minute counts --------------------------------------------------------------------

    def domain_ids(self, names: Iterable[str]) -> dict[str, int]:
        """Ids for domain names, creating rows for new names."""
        result = {}
        for name in names:
            if name not in self._domain_ids:
                self.db.execute("INSERT INTO domains (name) VALUES (?) ON CONFLICT (name) DO NOTHING", [name])
                self._domain_ids[name] = int(self._scalar("SELECT id FROM domains WHERE name = ?", [name]))
            result[name] = self._domain_ids[name]
        return result

    def known_domain_ids(self) -> dict[str, int]:
        return {name: id_ for id_, name in self.db.execute("SELECT id, name FROM domains").fetchall()}

    # Minutes live in day blocks (monitor/minute_store.py): every read and write below goes
    # through them. A write loads the blocks it touches, changes them and saves them in the
    # caller's transaction.

    def _blocks(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], DayBlock]:
        """The stored blocks of (domain_id, day) keys; absent ones are empty blocks."""
        wanted: dict[int, set[int]] = {}
        for domain_id, day in keys:
            wanted.setdefault(domain_id, set()).add(day)
        found: dict[tuple[int, int], DayBlock] = {}
        lock = ""
        if self.postgresql:
            # other daemons may write the same blocks: each is read, changed and saved under a
            # row lock (an empty block is put in place first, so there is a row to lock)
            empty = DayBlock(0).encode()
            self.db.executemany("INSERT INTO minute_blocks (domain_id, vantage, day, present, first_minute, "
                                "min_requests, max_err_num, max_err_den, data) VALUES (?, '', ?, 0, NULL, 0, 0, 1, ?) "
                                "ON CONFLICT (domain_id, vantage, day) DO NOTHING",
                                [(d, day, empty) for d, days in wanted.items() for day in sorted(days)])
            lock = " ORDER BY day FOR UPDATE"
        for domain_id, days in wanted.items():
            lo, hi = min(days), max(days)
            for day, data in self.db.execute(
                    "SELECT day, data FROM minute_blocks WHERE domain_id = ? AND vantage = '' AND day >= ? "
                    "AND day <= ?" + lock, [domain_id, lo, hi]):
                if day in days:
                    found[(domain_id, day)] = DayBlock.decode(day, data)
            for day in days:
                found.setdefault((domain_id, day), DayBlock(day))
        return found

    def _save_blocks(self, blocks: Mapping[tuple[int, int], DayBlock]) -> None:
        rows = []
        for (domain_id, day), block in blocks.items():
            summary = block.summary()
            rows.append([domain_id, day, summary.present, summary.first_minute, summary.min_requests,
                         summary.max_err_num, summary.max_err_den, block.encode()])
        self.db.executemany(
            "INSERT INTO minute_blocks (domain_id, vantage, day, present, first_minute, min_requests, max_err_num, "
            "max_err_den, data) VALUES (?, '', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (domain_id, vantage, day) DO UPDATE "
            "SET present = excluded.present, first_minute = excluded.first_minute, "
            "min_requests = excluded.min_requests, max_err_num = excluded.max_err_num, "
            "max_err_den = excluded.max_err_den, data = excluded.data", rows)

    def add_minute_counts(self, rows: Iterable[Sequence[int]]) -> None:
        """Add (domain_id, minute, requests, errors, *per-outcome counts) to what is stored."""
        rows = list(rows)
        if not rows:
            return
        with self.db.atomic():
            blocks = self._blocks({(row[0], day_of(row[1])) for row in rows})
            for row in rows:
                block = blocks[(row[0], day_of(row[1]))]
                block.add(block.offset(row[1]), row[2:])
            self._save_blocks(blocks)

    def add_day_columns(self, domain_id: int, day: int, present: Sequence[int], columns: Sequence[Sequence[int]]
                        ) -> None:
        """Add a whole day's counts at once (bulk ingest): `present` lists the offsets stored,
        `columns` one sequence of 1,440 counts per count column."""
        blocks = self._blocks([(domain_id, day)])
        blocks[(domain_id, day)].add_columns(present, columns)
        self._save_blocks(blocks)

    def close_probe_minutes(self, rows: Iterable[Sequence[int]], *, partial: bool = False) -> tuple[int, int]:
        """Store minutes the daemon observed, each (domain, minute) at most once ever: a restart
        that sees a minute again, or a retried write, adds nothing. A minute stored as partial
        (cut by shutdown) takes the counts of the rest of it once more, from a daemon restarted
        within it, and is complete after that unless this write is `partial` too. Returns
        (written, skipped)."""
        rows = list(rows)
        written = skipped = 0
        with self.db.atomic():
            blocks = self._blocks({(row[0], day_of(row[1])) for row in rows})
            for row in rows:
                block = blocks[(row[0], day_of(row[1]))]
                i = block.offset(row[1])
                if block.is_probed(i) and not block.is_partial(i):
                    skipped += 1
                    continue
                block.add(i, row[2:])
                block.mark_probed(i, partial)
                written += 1
            self._save_blocks(blocks)
        return written, skipped

    def partial_domains(self, minute: int) -> frozenset[str]:
        """Domains whose `minute` is stored as partial (a shutdown cut it)."""
        return frozenset(name for name, block, _, _ in self._domain_blocks(minute, minute + 1, where="b.present > 0")
                         if block.is_partial(block.offset(minute)))

    def _stored_block(self, domain_id: int, day: int) -> DayBlock | None:
        row = self.db.execute("SELECT data FROM minute_blocks WHERE domain_id = ? AND vantage = '' AND day = ?",
                              [domain_id, day]).fetchone()
        return DayBlock.decode(day, row[0]) if row else None

    # --- quarantine ----------------------------------------------------------------------

    def quarantine_minute(self, domain: str, minute: int, counts: Sequence[int], partial: bool, reason: str) -> int:
        cursor = self.db.execute(
            "INSERT INTO quarantined_minutes (domain, minute, counts, partial, reason, quarantined_at) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            [domain, minute, json.dumps(dict(zip(COUNT_COLUMNS, (str(c) for c in counts), strict=True))),
             int(partial), reason, self._now()])
        return _inserted_id(cursor)

    def quarantine_count(self) -> int:
        count: int = self._scalar("SELECT COUNT(*) FROM quarantined_minutes WHERE replayed_at IS NULL")
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
            self._lock("report_revisions")
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
        """Retention: minutes older than the record retention period. Returns how many went."""
        first_kept_day = day_of(minute)
        with self.db.atomic():
            dropped = int(self._scalar("SELECT COALESCE(SUM(present), 0) FROM minute_blocks WHERE day < ?",
                                       [first_kept_day]))
            self.db.execute("DELETE FROM minute_blocks WHERE day < ?", [first_kept_day])
            cut = minute - first_kept_day * BLOCK_MINUTES
            if cut:
                blocks = {}
                for domain_id, data in self.db.execute("SELECT domain_id, data FROM minute_blocks WHERE day = ?",
                                                       [first_kept_day]).fetchall():
                    block = DayBlock.decode(first_kept_day, data)
                    before = sum(1 for i in block.present_offsets() if i < cut)
                    if before:
                        block.clear_before(cut)
                        blocks[(domain_id, first_kept_day)] = block
                        dropped += before
                self._save_blocks(blocks)
        return dropped

    def source_ingested(self, digest: str) -> Row | None:
        row = self.db.execute("SELECT name, ingested_at FROM ingested_sources WHERE digest = ?", [digest]).fetchone()
        return {"name": row[0], "ingested_at": row[1]} if row else None

    def record_source(self, digest: str, name: str, lines: int, loaded: int, rejected: int,
                      domain_minutes: int) -> None:
        self.db.execute("INSERT INTO ingested_sources VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [digest, name, lines, loaded, rejected, domain_minutes, self._now()])

    def _domain_blocks(self, start: int, end: int, domains: Sequence[str] | None = None,
                       where: str = "", args: Sequence[object] = ()) -> Iterator[tuple[str, DayBlock, int, int]]:
        """(domain, block, lo, hi) of the stored blocks overlapping [start, end) (every domain's,
        or the named ones'), with the block's offsets [lo, hi) inside the range; `where` narrows
        the blocks opened by their summary columns."""
        sql = ("SELECT d.name, b.day, b.data FROM minute_blocks b JOIN domains d ON d.id = b.domain_id "
               "WHERE b.vantage = '' AND b.day >= ? AND b.day <= ?")
        params: list[object] = [day_of(start), day_of(end - 1)]
        if domains is not None:
            sql += f" AND d.name IN ({', '.join('?' for _ in domains)})" if domains else " AND 1 = 0"
            params += list(domains)
        if where:
            sql += f" AND {where}"
            params += list(args)
        for name, day, data in self.db.execute(sql, params):
            first = day * BLOCK_MINUTES
            yield name, DayBlock.decode(day, data), max(0, start - first), min(BLOCK_MINUTES, end - first)

    def day_blocks(self, domains: Sequence[str], start: int, end: int
                   ) -> Iterator[tuple[str, int, BlockSummary, bytes]]:
        """(domain, day, summary, blob) of the named domains' stored blocks overlapping
        [start, end), in no particular order, for a reader that opens (DayBlock.decode) only the
        ones it needs: a report reads the month of many domains at once."""
        if end <= start:
            return
        names = list(dict.fromkeys(domains))
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            for name, day, present, first, min_requests, num, den, data in self.db.execute(
                    "SELECT d.name, b.day, b.present, b.first_minute, b.min_requests, b.max_err_num, "
                    "b.max_err_den, b.data FROM minute_blocks b JOIN domains d ON d.id = b.domain_id "
                    "WHERE b.vantage = '' AND b.day >= ? AND b.day <= ? "
                    f"AND d.name IN ({', '.join('?' for _ in chunk)})",
                    [day_of(start), day_of(end - 1), *chunk]):
                yield name, day, BlockSummary(present, first, min_requests, num, den), bytes(data)

    def has_minutes(self, start: int, end: int) -> bool:
        if end <= start:
            return False
        for _, block, lo, hi in self._domain_blocks(start, end, where="b.present > 0"):
            if any(lo <= i < hi for i in block.present_offsets()):
                return True
        return False

    def unhealthy_minutes(self, start: int, end: int, min_samples: int, num: int, den: int,
                          domains: Sequence[str] | None = None) -> Iterator[tuple[str, int, int, int]]:
        """(domain, minute, requests, errors) of stored minutes that are not up under
        (min_samples, num/den): too few samples or an error rate strictly above num/den; of
        every domain, or of the named ones. Days whose summary says every minute was up are
        not opened."""
        if end <= start:
            return
        threshold = Fraction(num, den)
        skip = "NOT (b.present = ? AND b.min_requests >= ? AND b.max_err_num * ? <= ? * b.max_err_den)"
        for name, block, lo, hi in self._domain_blocks(start, end, domains, skip,
                                                       [BLOCK_MINUTES, min_samples, den, num]):
            first = block.day * BLOCK_MINUTES
            for i, requests, errors in block.unhealthy(lo, hi, min_samples, threshold):
                yield name, first + i, requests, errors

    def first_minute(self, domain: str) -> int | None:
        """The earliest stored minute of a domain."""
        row = self.db.execute("SELECT MIN(b.first_minute) FROM minute_blocks b JOIN domains d ON d.id = b.domain_id "
                              "WHERE d.name = ? AND b.present > 0", [domain]).fetchone()
        first: int | None = row[0] if row else None
        return first

    def missing_minutes(self, domain: str, start: int, end: int) -> list[int]:
        """The minutes of [start, end) with nothing stored for the domain, in order. Full days
        are not opened."""
        if end <= start:
            return []
        covered: dict[int, list[int]] = {}   # day -> missing offsets, for the days with a block
        for _, block, lo, hi in self._domain_blocks(start, end, [domain], "b.present < ?", [BLOCK_MINUTES]):
            covered[block.day] = block.missing_offsets(lo, hi)
        full = {day for (day,) in self.db.execute(
            "SELECT b.day FROM minute_blocks b JOIN domains d ON d.id = b.domain_id WHERE d.name = ? AND "
            "b.vantage = '' AND b.day >= ? AND b.day <= ? AND b.present = ?",
            [domain, day_of(start), day_of(end - 1), BLOCK_MINUTES])}
        missing: list[int] = []
        for day in range(day_of(start), day_of(end - 1) + 1):
            first = day * BLOCK_MINUTES
            if day in full:
                continue
            if day in covered:
                missing.extend(first + i for i in covered[day])
            else:
                missing.extend(range(max(start, first), min(end, first + BLOCK_MINUTES)))
        return missing

    def counts_at(self, domain: str, minutes: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(requests, errors) of the stored minutes among `minutes`."""
        if not minutes:
            return {}
        ids = self.known_domain_ids()
        if domain not in ids:
            return {}
        by_day: dict[int, list[int]] = {}
        for m in minutes:
            by_day.setdefault(day_of(m), []).append(m)
        result = {}
        for day, wanted in by_day.items():
            block = self._stored_block(ids[domain], day)
            if block is None:
                continue
            for m in wanted:
                i = block.offset(m)
                if block.has(i):
                    result[m] = block.requests_errors(i)
        return result

    def minute_rows(self, domain: str, start: int, end: int) -> list[Row]:
        """Every stored minute of a domain in [start, end) with all its counts, and whether a
        daemon closed it (`probed`) and only in part (`partial`)."""
        rows: list[Row] = []
        if end <= start:
            return rows
        for _, block, lo, hi in sorted(self._domain_blocks(start, end, [domain]), key=lambda t: t[1].day):
            first = block.day * BLOCK_MINUTES
            for i in block.present_offsets():
                if lo <= i < hi:
                    rows.append({"minute": first + i, **dict(zip(COUNT_COLUMNS, block.counts(i), strict=True)),
                                 "partial": block.is_partial(i), "probed": block.is_probed(i)})
        return rows

    # --- windows, notices, audit ------------------------------------------------------------

    def _last_hash(self, table: str) -> str:
        key = self._ledger_key(table)
        row = self.db.execute(f"SELECT row_hash FROM {table} ORDER BY {key} DESC LIMIT 1").fetchone()
        return row[0] if row else GENESIS

    def _audit(self, actor: str, action: str, entity: str, entity_id: str, before: Row | None,
               after: Row | None, reason: str) -> None:
        """Append to the audit log, chained to the last row (call inside the change's transaction)."""
        self._lock("audit_log")
        next_id = self._scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM audit_log")
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
        for table, (_, columns) in LEDGERS.items():
            key = self._ledger_key(table)
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
                "created_by, announced_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
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

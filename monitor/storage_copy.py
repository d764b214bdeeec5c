"""`slamon storage copy --from URL --to URL`: an installation moved between backends (SQLite to
PostgreSQL and back), table by table, into an empty target, then verified: the same rows, the
same ledger heads, and the same reports for the last month recomputed on both sides."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.accounting import build_reports
from monitor.config import Config
from monitor.errors import InputError
from monitor.storage import Storage
from reports.formats import report_json

# Tables in the order their rows may refer to each other, with their columns. Ledgers are copied
# in chain order with their hashes (the target's triggers check the chain row by row); ids are
# kept, so a window is db-3 on both sides.
TABLES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("domains", ("id", "name"), "id"),
    ("minute_blocks", ("domain_id", "vantage", "day", "present", "first_minute", "min_requests", "max_err_num",
                       "max_err_den", "data"), "domain_id, vantage, day"),
    ("ingested_sources", ("digest", "name", "lines", "loaded", "rejected", "domain_minutes", "ingested_at"),
     "digest"),
    ("windows", ("id", "kind", "domains", "contracts", "start", '"end"', "announced_at", "reason", "created_at",
                 "created_by", "announced_end"), "id"),
    ("notices", ("id", "contract", "domain", "at", "kind", "note", "created_at", "created_by"), "id"),
    ("claims", ("id", "contract", "period", "filed_at", "reference", "created_at", "created_by", "corrects"), "id"),
    ("audit_log", ("id", "at", "actor", "action", "entity", "entity_id", "before", "after", "reason", "prev_hash",
                   "row_hash"), "id"),
    ("written_reports", ("contract", "period", "format", "path", "sha256", "written_at"), "contract, period, format"),
    ("report_revisions", ("contract", "period", "revision", "evidence_digest", "credit_amount", "currency",
                          "written_at", "diff", "evidence", "report", "files", "prev_hash", "row_hash"), ""),
    ("quarantined_minutes", ("id", "domain", "minute", "counts", "partial", "reason", "quarantined_at",
                             "replayed_at"), "id"),
)
IDENTITIES = ("domains", "windows", "notices", "claims", "quarantined_minutes")


@dataclass(frozen=True)
class CopyResult:
    rows: dict[str, int]
    period: str
    contracts_compared: int


def _order(storage: Storage, table: str, order: str) -> str:
    return order or (storage._ledger_key(table) if table == "report_revisions" else "1")


def copy_storage(source: Storage, target: Storage, config: Config, now: datetime,
                 say: Callable[[str], None] = lambda _: None) -> CopyResult:
    """Copy every table of `source` into the empty `target`, then verify the copy."""
    for table, _, _ in TABLES:
        if target.db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
            raise InputError(f"the target {target.where} is not empty ({table} has rows): copy into a new database")
    counts: dict[str, int] = {}
    with target.db.atomic():
        for table, columns, order in TABLES:
            cursor = source.db.execute(f"SELECT {', '.join(columns)} FROM {table} "
                                       f"ORDER BY {_order(source, table, order)}")
            marks = ", ".join("?" for _ in columns)
            rows = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cursor.fetchall()]
            target.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            counts[table] = len(rows)
            say(f"{table}: {len(rows)} rows")
        if target.postgresql:
            for table in IDENTITIES:  # explicit ids were inserted: the next one follows them
                target.db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
    return CopyResult(counts, *verify_copy(source, target, config, now, counts))


def verify_copy(source: Storage, target: Storage, config: Config, now: datetime,
                counts: dict[str, int]) -> tuple[str, int]:
    """The same row counts and ledger heads on both sides, and the same reports of the month
    before `now` (in UTC) for every contract; raises InputError naming the first difference."""
    for table, _, _ in TABLES:
        found = int(target._scalar(f"SELECT COUNT(*) FROM {table}"))
        if found != counts[table]:
            raise InputError(f"copy check failed: {table} has {found} rows in the target, {counts[table]} copied")
    heads = [(r["ledger"], r["head"], r["broken"]) for r in target.verify_ledgers()]
    if heads != [(r["ledger"], r["head"], r["broken"]) for r in source.verify_ledgers()]:
        raise InputError(f"copy check failed: the ledgers differ: {heads}")
    first = now.replace(day=1)
    period = (first.replace(year=first.year - 1, month=12) if first.month == 1
              else first.replace(month=first.month - 1)).strftime("%Y-%m")
    if not config.contracts:
        return period, 0
    reports = []
    for side in (source, target):
        try:
            reports.append(_canonical(report_json(period, build_reports(config, side, period, as_of=now))))
        except InputError as exc:   # nothing stored for that month: it must be so on both sides
            reports.append(f"no report: {exc}".replace(side.where, "<database>"))
    if reports[0] != reports[1]:
        raise InputError(f"copy check failed: the reports of {period} differ between {source.where} and "
                         f"{target.where}")
    return period, len(config.contracts)


def _canonical(report: Any) -> str:
    return json.dumps(report, sort_keys=True, ensure_ascii=False)

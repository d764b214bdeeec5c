#!/usr/bin/env python3
"""Accounting benchmark for slamon: `slamon ingest` and `slamon report` on one month of data.

What it does (stdlib only, plus psycopg for a PostgreSQL --storage-url):

1. generates one month (or, with --days D, its first D days) of per-minute aggregate samples (JSON Lines, the documented
   `{"minute": ..., "domain": ..., "requests": N, "errors": M}` form, minute-major) for N domains,
   covering the month as seen from Asia/Tokyo / Asia/Seoul (both UTC+9), with a seeded RNG:
   diurnal/weekly load, low background error rates, outages, near-threshold degradations,
   monitoring gaps (minutes with no line) and errors during maintenance windows;
2. writes a config.toml with those domains, M contracts over the four built-in regimes, a handful
   of maintenance windows and a few customer notices (for `awareness = "notice"` contracts);
3. times `slamon ingest` on a fresh database, `slamon report` for all contracts, and a second
   (idempotent) `slamon ingest` of the same file, each as a subprocess (wall clock and CPU), and
   measures the database (bytes per domain-month); with --storage-url, all of that twice, side
   by side: once on the default SQLite file and once on the URL's database, named in a second
   config (config-storage.toml, the same plus `[storage] url = "URL"`);
4. times two bare baselines in the same run, so figures can be read as ratios on a noisy,
   shared machine: (a) reading the file and json.loads-ing every line in one Python process;
   (b) sqlite3 executemany of the same number of (int, int, int, int) rows into a fresh
   WITHOUT ROWID table in a single transaction (plus a full scan of that table, the baseline
   for the report);
5. prints the figures with their ratios and the targets (ingest >= 100,000 lines/s, report
   < 10 s for 1,000 contracts, < 30 s for 1,000 contracts over 10,000 domains, database
   <= 256 KiB per domain-month), and writes them to bench/out/accounting.json.

With --days D the report still covers the whole month, of which only D days have data: its time
is that of such a month, not of a full one, and the database size is scaled from D days to the
month (both are said so in the output). That keeps a 10,000-domain run practical:
`--domains 10000 --days 1` generates 14.4 million lines (1.2 GB) instead of 446 million.

Usage:
    .venv/bin/python bench/accounting.py                 # full run: 200 domains, 1,000 contracts
    .venv/bin/python bench/accounting.py --quick         # smoke run: 20 domains, 100 contracts
    .venv/bin/python bench/accounting.py --generate-only --keep
    .venv/bin/python bench/accounting.py --skip-generate --keep   # reuse the kept samples file
    .venv/bin/python bench/accounting.py --domains 10000 --days 1  # the 10,000-domain report
    .venv/bin/python bench/accounting.py --storage-url postgresql://slamon@db.example/slamon
        # SQLite and PostgreSQL side by side; the bench creates (and drops) a scratch database
        # slamon_bench_PID beside the one named, so the role needs CREATEDB

Exit status: 0 when every step ran and the correctness checks held (report has every contract,
re-ingest left the database unchanged); 1 when a step failed (the step is named and the
command's stderr printed) or a check failed; 2 for bad arguments. Missed performance targets are
reported as MISS but only change the exit status with --fail-on-miss.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = REPO / "bench" / "out"

TARGET_INGEST_LINES_PER_S = 100_000
TARGET_REPORT_SECONDS = 10.0              # 1,000 contracts
TARGET_REPORT_SECONDS_10K = 30.0          # 1,000 contracts over 10,000 domains
TARGET_DB_BYTES_PER_DOMAIN_MONTH = 256 * 1024

LOCAL_OFFSET = timezone(timedelta(hours=9))   # Asia/Tokyo and Asia/Seoul: UTC+9, no DST
REGIMES = ["lineworks", "lineworks-kr", "ncloud-workplace", "kddi"]

SAMPLES_NAME = "samples.jsonl"
META_NAME = "samples.meta.json"
CONFIG_NAME = "config.toml"
STORAGE_CONFIG_NAME = "config-storage.toml"
DB_NAME = "bench.db"
REPORT_DIR_NAME = "report"


class UsageError(Exception):
    """Bad arguments or a work directory that does not fit them: exit 2, no results written."""


class StepFailed(Exception):
    def __init__(self, step: str, message: str):
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


# --------------------------------------------------------------------------------------------
# The month and the event schedule (deterministic from the seed; shared by generator and config)
# --------------------------------------------------------------------------------------------

def month_bounds(month: str) -> tuple[datetime, datetime, int]:
    """UTC start, UTC end and number of minutes of the month seen from UTC+9."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        if not 1 <= mon <= 12:
            raise ValueError
    except ValueError:
        raise UsageError(f"--month must be YYYY-MM, got {month!r}") from None
    start = datetime(year, mon, 1, tzinfo=LOCAL_OFFSET)
    ny, nm = (year + 1, 1) if mon == 12 else (year, mon + 1)
    end = datetime(ny, nm, 1, tzinfo=LOCAL_OFFSET)
    minutes = int((end - start).total_seconds()) // 60
    return start.astimezone(UTC), end.astimezone(UTC), minutes


def domain_name(i: int) -> str:
    return f"d{i:04d}"


def log_uniform_int(rng: random.Random, lo: int, hi: int) -> int:
    return max(lo, min(hi, int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1))))))


class Schedule:
    """Per-domain load parameters and sparse per-minute events.

    events[m] is None or a dict {domain index: effect}, effect one of
      ("gap",)                     no line for that minute
      ("rate", lo, hi)             error rate drawn uniformly in [lo, hi], forced strictly above 5%
      ("near",)                    a near-threshold minute (exactly 5%, just above, or 3-7%)
    """

    def __init__(self, seed: int, ndomains: int, start_utc: datetime, nminutes: int, fraction: float = 1.0):
        """`fraction`: the part of the month that the nminutes are (--days); events per domain are
        drawn at a month's density, each kept with this probability (1: all, the RNG untouched)."""
        rng = random.Random(f"slamon-bench-schedule-{seed}")

        def kept() -> bool:
            return fraction >= 1 or rng.random() < fraction

        self.ndomains = ndomains
        self.nminutes = nminutes
        self.start_utc = start_utc
        self.scale = [rng.uniform(0.2, 1.0) for _ in range(ndomains)]
        self.background = [rng.uniform(0.0002, 0.01) for _ in range(ndomains)]
        self.events: list[dict | None] = [None] * nminutes
        self.outages: list[list[tuple[int, int]]] = [[] for _ in range(ndomains)]
        self.windows: list[dict] = []

        def mark(d: int, first: int, length: int, effect: tuple) -> None:
            for m in range(max(0, first), min(nminutes, first + length)):
                ev = self.events[m]
                if ev is None:
                    ev = self.events[m] = {}
                ev[d] = effect

        # Brief partial degradations near the 5% threshold (lowest priority: later marks win).
        for d in range(ndomains):
            for _ in range(rng.randint(2, 5)):
                if kept():
                    mark(d, rng.randrange(nminutes), rng.randint(1, 8), ("near",))
        # Outages: runs of 1-300 minutes with error rates 6-100%, mostly short.
        for d in range(ndomains):
            for _ in range(rng.randint(1, 4)):
                if not kept():
                    continue
                length = log_uniform_int(rng, 1, 300)
                first = rng.randrange(nminutes - length)
                lo = rng.choice([0.06, 0.08, 0.15, 0.3, 0.6, 0.9, 1.0])
                hi = min(1.0, lo + rng.choice([0.0, 0.05, 0.2]))
                mark(d, first, length, ("rate", lo, hi))
                self.outages[d].append((first, length))
        # Maintenance windows: a handful, at 02:00 local on a few days, with errors during them.
        reasons = ["storage firmware upgrade", "database failover drill", "kernel security patch",
                   "load balancer replacement", "network switch maintenance", "TLS certificate rotation"]
        ndays = nminutes // 1440
        nwindows = 6 if fraction >= 1 else round(6 * fraction)
        days = rng.sample(range(1, ndays - 1), k=max(0, min(nwindows, ndays - 2)))   # none in 2 days or less
        for k, day in enumerate(sorted(days)):
            doms = sorted(rng.sample(range(ndomains), k=min(ndomains, rng.randint(2, 12))))
            first = day * 1440 + 2 * 60          # minute index: local 02:00 of that day
            length = rng.choice([30, 60, 90, 120])
            # One short-notice window (3 days), the others announced 7-14 days ahead.
            notice_days = 3 if k == 1 else rng.randint(7, 14)
            self.windows.append({"domains": doms, "first": first, "length": length,
                                 "notice_days": notice_days, "reason": reasons[k % len(reasons)]})
            for d in doms:
                # Errors during the window (not all of it down: the service goes and comes back).
                mark(d, first + 5, length - 10, ("rate", 0.5, 1.0))
        # Monitoring gaps: minutes with no line at all (highest priority).
        for d in range(ndomains):
            for _ in range(rng.randint(1, 3)):
                if kept():
                    mark(d, rng.randrange(nminutes), log_uniform_int(rng, 1, 60), ("gap",))
        self.gap_minutes = sum(1 for ev in self.events if ev for e in ev.values() if e[0] == "gap")
        self.lines = ndomains * nminutes - self.gap_minutes

    def local(self, minute_index: int) -> datetime:
        return (self.start_utc + timedelta(minutes=minute_index)).astimezone(LOCAL_OFFSET)


# --------------------------------------------------------------------------------------------
# 1. Samples
# --------------------------------------------------------------------------------------------

def diurnal_table(start_utc: datetime) -> list[float]:
    """Requests per minute (before the per-domain scale) for each minute of a local week,
    indexed from the month's first minute: business-hours peak, quieter nights and weekends."""
    first_local = start_utc.astimezone(LOCAL_OFFSET)
    table = []
    for m in range(7 * 1440):
        t = first_local + timedelta(minutes=m)
        h = t.hour + t.minute / 60.0
        shape = 0.04 + 0.96 * math.exp(-((h - 13.5) / 4.2) ** 2) + 0.15 * math.exp(-((h - 21) / 2) ** 2)
        if t.weekday() >= 5:
            shape *= 0.35
        table.append(1980.0 * min(shape, 1.0))
    return table


def generate_samples(path: Path, sched: Schedule, seed: int, progress: bool = True) -> int:
    rng = random.Random(f"slamon-bench-samples-{seed}")
    rnd = rng.random
    D, M = sched.ndomains, sched.nminutes
    week = diurnal_table(sched.start_utc)
    scale, bg, events = sched.scale, sched.background, sched.events
    # Per-domain tail: `d0007", "requests": ` — the line is prefix + tail + counts.
    tails = [f'{domain_name(d)}", "requests": ' for d in range(D)]
    start_ts = int(sched.start_utc.timestamp())
    gmtime, strftime = time.gmtime, time.strftime
    written = 0
    chunk: list[str] = []
    chunk_lines = 0
    flush_every = 100_000
    next_report = time.perf_counter() + 5
    with open(path, "w", encoding="ascii", buffering=1 << 20) as f:
        for m in range(M):
            pre = '{"minute": "' + strftime("%Y-%m-%dT%H:%MZ", gmtime(start_ts + 60 * m)) + '", "domain": "'
            base = week[m % 10080]
            ev = events[m]
            for d in range(D):
                req = 20 + int(base * scale[d] * (0.8 + 0.4 * rnd()))
                if ev is None or d not in ev:
                    err = int(req * bg[d] + rnd())
                else:
                    e = ev[d]
                    kind = e[0]
                    if kind == "gap":
                        continue
                    if kind == "rate":
                        rate = e[1] + (e[2] - e[1]) * rnd()
                        err = max(int(req * rate + 0.5), req // 20 + 1)    # strictly > 5%
                        if err > req:
                            err = req
                    else:  # near the threshold
                        r = rnd()
                        if r < 0.3:                      # exactly 5%: up
                            req = max(20, req - req % 20)
                            err = req // 20
                        elif r < 0.6:                    # one error too many: down
                            err = req // 20 + 1
                        else:                            # 3-7%
                            err = int(req * (0.03 + 0.04 * rnd()))
                chunk.append(f'{pre}{tails[d]}{req}, "errors": {err}}}\n')
            chunk_lines += D
            if chunk_lines >= flush_every:
                f.write("".join(chunk))
                written += len(chunk)
                chunk.clear()
                chunk_lines = 0
                if progress and time.perf_counter() >= next_report:
                    next_report = time.perf_counter() + 5
                    print(f"  ... {written:,} lines ({100 * (m + 1) / M:.0f}% of minutes)",
                          file=sys.stderr, flush=True)
        f.write("".join(chunk))
        written += len(chunk)
    return written


# --------------------------------------------------------------------------------------------
# 2. Config
# --------------------------------------------------------------------------------------------

def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def toml_dt(dt: datetime) -> str:
    return dt.astimezone(LOCAL_OFFSET).isoformat(timespec="seconds")


def write_config(path: Path, sched: Schedule, ncontracts: int, seed: int) -> dict:
    rng = random.Random(f"slamon-bench-config-{seed}")
    D = sched.ndomains
    out = [
        "# Generated by bench/accounting.py: benchmark data, not a real configuration.",
        "[monitor]",
        f'database = "{DB_NAME}"',
        "",
    ]
    for d in range(D):
        out += ["[[domain]]", f'name = "{domain_name(d)}"', ""]

    stats = {r: 0 for r in REGIMES}
    notices = []
    for c in range(1, ncontracts + 1):
        regime = REGIMES[(c - 1) % len(REGIMES)]
        stats[regime] += 1
        doms = sorted(rng.sample(range(D), k=min(D, rng.choice([1, 1, 2, 2, 3]))))
        plan = rng.choices(["paid", "trial", "free"], weights=[95, 3, 2])[0]
        cid = f"c{c:04d}"
        out += [
            "[[contract]]",
            f'id = "{cid}"',
            f'customer = "Customer {c}"',
            f'regime = "{regime}"',
            "domains = [" + ", ".join(f'"{domain_name(d)}"' for d in doms) + "]",
            f'plan = "{plan}"',
        ]
        if regime == "ncloud-workplace":
            out.append('currency = "KRW"')
            notice_based = rng.random() < 0.25
            if notice_based:
                out.append('awareness = "notice"')
            for d in doms:
                fee = rng.randrange(100_000, 5_000_000, 10)
                out += ["  [[contract.service]]", f'  domain = "{domain_name(d)}"',
                        f'  monthly_fee = "{fee}"']
                if notice_based:
                    for first, length in sched.outages[d]:
                        if length >= 5 and rng.random() < 0.7:
                            at = sched.local(first) + timedelta(
                                minutes=rng.randint(0, length // 2), seconds=rng.randint(0, 59))
                            notices.append((cid, domain_name(d), at))
        else:
            if regime == "lineworks":
                currency, price = "JPY", rng.choice(["450", "540", "800", "960"])
            elif regime == "kddi":
                currency, price = "JPY", rng.choice(["594", "495", "1056", "880"])   # tax included
            else:  # lineworks-kr
                currency, price = "KRW", rng.choice(["3000", "6000", "9000"])
            out += [f'currency = "{currency}"', f'unit_price = "{price}"',
                    f"licenses = {log_uniform_int(rng, 5, 5000)}"]
        out.append("")

    for w in sched.windows:
        start = sched.local(w["first"])
        end = sched.local(w["first"] + w["length"])
        announced = (start - timedelta(days=w["notice_days"])).replace(hour=10, minute=0)
        out += [
            "[[window]]",
            'kind = "maintenance"',
            "domains = [" + ", ".join(f'"{domain_name(d)}"' for d in w["domains"]) + "]",
            f"start = {toml_dt(start)}",
            f"end = {toml_dt(end)}",
            f"announced_at = {toml_dt(announced)}",
            f"reason = {toml_str(w['reason'])}",
            "",
        ]
    for cid, dom, at in notices:
        out += ["[[notice]]", f'contract = "{cid}"', f'domain = "{dom}"', f"at = {toml_dt(at)}",
                'kind = "customer"', ""]
    path.write_text("\n".join(out), encoding="utf-8")
    return {"contracts_by_regime": stats, "windows": len(sched.windows), "notices": len(notices)}


# --------------------------------------------------------------------------------------------
# Running and timing subprocesses
# --------------------------------------------------------------------------------------------

def run_timed(argv: list[str], cwd: Path, stdout_path: Path | None = None) -> dict:
    """Run argv, return rc, wall/CPU seconds, max RSS and its output (stdout kept in a file if
    stdout_path is given, else captured; both in temp files, so no pipe can fill up)."""
    with tempfile.TemporaryFile() as err_f, \
            (open(stdout_path, "w+b") if stdout_path else tempfile.TemporaryFile()) as out_f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err_f.seek(0)
        stderr = err_f.read().decode("utf-8", "replace")
        out_f.seek(0)
        stdout = "" if stdout_path else out_f.read().decode("utf-8", "replace")
    return {
        "argv": argv, "rc": proc.returncode, "wall_s": wall,
        "cpu_user_s": ru.ru_utime, "cpu_sys_s": ru.ru_stime, "cpu_s": ru.ru_utime + ru.ru_stime,
        "max_rss_mb": ru.ru_maxrss / 1024.0,   # Linux: KiB
        "stdout": stdout, "stderr": stderr,
    }


def require_ok(step: str, res: dict) -> None:
    if res["rc"] != 0:
        print(f"\nFAILED step '{step}': exit status {res['rc']}\n  command: "
              + " ".join(map(str, res["argv"])), file=sys.stderr)
        tail = res["stderr"].strip() or "(no stderr)"
        print("  stderr:\n" + indent(tail[-8000:]), file=sys.stderr)
        if res.get("stdout", "").strip():
            print("  stdout (last lines):\n" + indent(last_lines(res["stdout"], 20)), file=sys.stderr)
        raise StepFailed(step, f"exit status {res['rc']}")


def indent(text: str, n: int = 4) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())


def last_lines(text: str, n: int) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def db_files(db: Path) -> list[Path]:
    return [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()]


def db_size(db: Path) -> dict:
    wal = db.with_name(db.name + "-wal")
    main = db.stat().st_size if db.exists() else 0
    walsize = wal.stat().st_size if wal.exists() else 0
    return {"db_bytes": main, "wal_bytes": walsize, "bytes": main + walsize}


def table_counts(db: Path) -> dict[str, int]:
    """Row counts of every table, read without writing (so no checkpoint changes the files)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error:
        con = sqlite3.connect(db)
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


# --------------------------------------------------------------------------------------------
# Where slamon stores: the default SQLite file, or the database of --storage-url
# --------------------------------------------------------------------------------------------

class Backend:
    """One database the CLI steps run against, with its own config file."""

    label = "sqlite"
    url: str | None = None   # what the config's [storage] url names (None: the default SQLite file)
    strict_size = True    # re-ingest must leave the size unchanged to the byte (a file: yes)

    def __init__(self, config: Path):
        self.config = config

    def where(self) -> str:
        raise NotImplementedError

    def fresh(self) -> None:
        """Make the database empty (it is created by the first ingest)."""
        raise NotImplementedError

    def exists(self) -> bool:
        raise NotImplementedError

    def size(self) -> dict:
        raise NotImplementedError

    def rows(self) -> dict[str, int]:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Remove the database (unless --keep)."""


class SqliteBackend(Backend):
    def __init__(self, config: Path, db: Path, label: str = "sqlite", url: str | None = None):
        super().__init__(config)
        self.db = db
        self.label = label
        self.url = url

    def where(self) -> str:
        return str(self.db)

    def files(self) -> list[Path]:
        return [self.db, *(self.db.with_name(self.db.name + s) for s in ("-wal", "-shm", "-journal"))]

    def fresh(self) -> None:
        for p in self.files():
            p.unlink(missing_ok=True)

    def exists(self) -> bool:
        return self.db.exists()

    def size(self) -> dict:
        return db_size(self.db) | {"minute_bytes": sqlite_minute_bytes(self.db)}

    def rows(self) -> dict[str, int]:
        return table_counts(self.db)

    def cleanup(self) -> None:
        self.fresh()


class PostgresBackend(Backend):
    """A scratch database created beside the one the URL names (so a run never touches existing
    data), dropped afterwards; its size is that of its tables with their indexes and TOAST."""

    label = "postgresql"
    # PostgreSQL files grow in pages and get visibility/free-space maps from autovacuum at any
    # time: only the row counts must stay unchanged on re-ingest
    strict_size = False

    def __init__(self, config: Path, url: str):
        super().__init__(config)
        try:
            import psycopg
        except ImportError:
            raise UsageError("--storage-url: a PostgreSQL URL needs psycopg (pip install 'psycopg[binary]')") from None
        self.psycopg = psycopg
        self.admin_url = url
        self.name = f"slamon_bench_{os.getpid()}"
        parts = urlsplit(url)
        self.url = urlunsplit(parts._replace(path="/" + self.name))

    def where(self) -> str:
        return redact(self.url)

    def _admin(self, sql: str) -> None:
        try:
            with self.psycopg.connect(self.admin_url, autocommit=True) as con:
                con.execute(sql)
        except self.psycopg.Error as e:
            raise UsageError(f"--storage-url {redact(self.admin_url)}: {sql}: {e}".strip()) from None

    def fresh(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}"')
        self._admin(f'CREATE DATABASE "{self.name}"')

    def _query(self, sql: str) -> list[tuple]:
        with self.psycopg.connect(self.url) as con:
            return con.execute(sql).fetchall()

    def _tables(self) -> dict[str, str]:
        """Name (schema.name outside public) -> quoted name, of every table."""
        return {(t if s == "public" else f"{s}.{t}"): f'"{s}"."{t}"' for s, t in self._query(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")}

    def exists(self) -> bool:
        return bool(self._tables())

    def size(self) -> dict:
        (total,), = self._query(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN "
            "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'")
        (minutes,), = self._query(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relname LIKE 'minute%' AND n.nspname NOT IN "
            "('pg_catalog', 'information_schema')")
        return {"bytes": int(total), "minute_bytes": int(minutes)}

    def rows(self) -> dict[str, int]:
        return {name: self._query(f"SELECT count(*) FROM {quoted}")[0][0] for name, quoted in self._tables().items()}

    def cleanup(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}"')


def sqlite_minute_bytes(db: Path) -> int | None:
    """Bytes of the minute tables (minute_blocks and its indexes), the part of the database that
    grows with the days of samples; None without SQLite's dbstat."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            (n,), = con.execute("SELECT COALESCE(SUM(s.pgsize), 0) FROM dbstat s JOIN sqlite_master m "
                                "ON m.name = s.name WHERE m.tbl_name LIKE 'minute%'").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return int(n)


def redact(url: str) -> str:
    return re.sub(r"(://[^/:@]*):[^@/]*@", r"\1:***@", url)


def storage_backend(url: str, config: Path) -> Backend:
    scheme = urlsplit(url).scheme
    if scheme in ("postgres", "postgresql"):
        return PostgresBackend(config, url)
    if url.startswith("sqlite:///"):
        # as slamon reads it: sqlite:///relative (to the config's directory), sqlite:////absolute
        return SqliteBackend(config, config.parent / url[len("sqlite:///"):], label="sqlite-url", url=url)
    raise UsageError(f"--storage-url must be postgresql://... or sqlite:///PATH, got {redact(url)!r}")


def write_storage_config(config: Path, dest: Path, url: str) -> None:
    """The generated config with a [storage] table naming the URL's database (before [monitor],
    where no top-level key can follow it)."""
    text = config.read_text(encoding="utf-8")
    table = f"[storage]\nurl = {toml_str(url)}\n\n"
    at = text.index("[monitor]")
    dest.write_text(text[:at] + table + text[at:], encoding="utf-8")


# --------------------------------------------------------------------------------------------
# 4. Baselines (each in its own interpreter, like the CLI)
# --------------------------------------------------------------------------------------------

BASELINE_JSON = r"""
import json, sys
loads = json.loads
n = 0
with open(sys.argv[1], "r", encoding="utf-8", buffering=1 << 20) as f:
    for line in f:
        loads(line)
        n += 1
print(n)
"""

BASELINE_SQLITE_INSERT = r"""
import itertools, sqlite3, sys
path, n, ndomains, minute0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
con = sqlite3.connect(path, isolation_level=None)
con.execute("CREATE TABLE s (domain INTEGER NOT NULL, minute INTEGER NOT NULL, requests INTEGER NOT NULL,"
            " errors INTEGER NOT NULL, PRIMARY KEY (domain, minute)) WITHOUT ROWID")
# Minute-major, like the sample file; values of realistic magnitude (epoch minute, 20-2000, small).
rows = ((d, minute0 + m, 20 + (m * 7 + d * 13) % 1980, (m + d) % 7)
        for m in itertools.count() for d in range(ndomains))
con.execute("BEGIN")
con.executemany("INSERT INTO s VALUES (?, ?, ?, ?)", itertools.islice(rows, n))
con.execute("COMMIT")
con.close()
print(n)
"""

BASELINE_SQLITE_SCAN = r"""
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
n = req = err = 0
for d, m, r, e in con.execute("SELECT domain, minute, requests, errors FROM s"):
    n += 1; req += r; err += e
print(n, req, err)
"""


def run_baselines(samples: Path, lines: int, ndomains: int, start_utc: datetime, workdir: Path) -> dict:
    py = sys.executable
    out = {}
    print("baseline (a): read + json.loads every line ...", flush=True)
    res = run_timed([py, "-c", BASELINE_JSON, str(samples)], cwd=workdir)
    require_ok("baseline json.loads", res)
    n = int(res["stdout"].strip())
    out["json_loads"] = strip_output(res) | {"lines": n, "lines_per_s": n / res["wall_s"],
                                              "lines_per_cpu_s": n / max(res["cpu_s"], 1e-9)}

    fd, tmp = tempfile.mkstemp(prefix="baseline-", suffix=".db", dir=workdir)
    os.close(fd)
    os.unlink(tmp)
    tmp_db = Path(tmp)
    try:
        print("baseline (b): sqlite3 executemany into a WITHOUT ROWID table, one transaction ...",
              flush=True)
        minute0 = int(start_utc.timestamp()) // 60
        res = run_timed([py, "-c", BASELINE_SQLITE_INSERT, str(tmp_db), str(lines), str(ndomains),
                         str(minute0)], cwd=workdir)
        require_ok("baseline sqlite insert", res)
        size = db_size(tmp_db)
        out["sqlite_insert"] = strip_output(res) | {
            "rows": lines, "rows_per_s": lines / res["wall_s"],
            "rows_per_cpu_s": lines / max(res["cpu_s"], 1e-9),
            "db_bytes": size["bytes"], "db_bytes_per_domain": size["bytes"] / ndomains}
        print("baseline (c): full scan of that table in Python ...", flush=True)
        res = run_timed([py, "-c", BASELINE_SQLITE_SCAN, str(tmp_db)], cwd=workdir)
        require_ok("baseline sqlite scan", res)
        out["sqlite_scan"] = strip_output(res) | {"rows": int(res["stdout"].split()[0])}
    finally:
        for p in db_files(tmp_db) + [tmp_db.with_name(tmp_db.name + "-journal")]:
            if p.exists():
                p.unlink()
    return out


def strip_output(res: dict) -> dict:
    return {k: v for k, v in res.items() if k not in ("stdout", "stderr", "argv")}


# --------------------------------------------------------------------------------------------
# 3. The CLI steps
# --------------------------------------------------------------------------------------------

def slamon_argv(python: str, *args: str) -> list[str]:
    return [python, "-m", "monitor", *args]


def count_report_contracts(obj, ids: set) -> int:
    """Add the contract ids found in a parsed report (the documented object, a list of them,
    or one contract object) to ids; return how many contract objects were seen."""
    seen = 0
    if isinstance(obj, dict) and isinstance(obj.get("contracts"), list):
        for c in obj["contracts"]:
            if isinstance(c, dict):
                ids.add(c.get("id"))
                seen += 1
    elif isinstance(obj, dict) and "id" in obj and "regime" in obj:
        ids.add(obj.get("id"))
        seen += 1
    elif isinstance(obj, list):
        for o in obj:
            seen += count_report_contracts(o, ids)
    return seen


def summarize_report(objs: list, expected_minutes: int) -> dict:
    contracts = []
    for obj in objs:
        if isinstance(obj, dict) and isinstance(obj.get("contracts"), list):
            contracts += [c for c in obj["contracts"] if isinstance(c, dict)]
        elif isinstance(obj, dict) and "id" in obj:
            contracts.append(obj)
        elif isinstance(obj, list):
            contracts += [c for c in obj if isinstance(c, dict)]
    by_regime: dict[str, dict] = {}
    wrong_minutes = 0
    for c in contracts:
        r = by_regime.setdefault(str(c.get("regime")), {"contracts": 0, "with_credit": 0})
        r["contracts"] += 1
        try:
            if c.get("credit_amount") not in (None, "0") and float(c["credit_amount"]) > 0:
                r["with_credit"] += 1
        except (TypeError, ValueError):
            pass
        if c.get("total_minutes") != expected_minutes:
            wrong_minutes += 1
    return {"by_regime": by_regime, "total_minutes_not_expected": wrong_minutes,
            "expected_total_minutes": expected_minutes}


def run_report(python: str, config: Path, period: str, workdir: Path, mode: str,
               ncontracts: int, expected_minutes: int, tag: str = "") -> dict:
    """`tag` ("" for the default backend, "-LABEL" for another) names the report's outputs."""
    report_dir = workdir / (REPORT_DIR_NAME + tag)
    result: dict = {}
    if mode in ("auto", "out"):
        shutil.rmtree(report_dir, ignore_errors=True)
        report_dir.mkdir(parents=True)
        print(f"report: slamon report --period {period} --format json --out {report_dir} ...", flush=True)
        res = run_timed(slamon_argv(python, "report", "--period", period, "--format", "json",
                                    "--out", str(report_dir), "--config", str(config)), cwd=REPO)
        require_ok("report (--out DIR)" + tag, res)
        ids: set = set()
        seen = 0
        objs = []
        files = sorted(p for p in report_dir.rglob("*.json") if p.is_file())
        for p in files:
            try:
                obj = json.loads(p.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            objs.append(obj)
            seen += count_report_contracts(obj, ids)
        ids.discard(None)
        result = strip_output(res) | {"mode": "out", "json_files": len(files),
                                      "contracts": len(ids), "contract_objects": seen,
                                      "output_bytes": sum(p.stat().st_size for p in report_dir.rglob("*")
                                                          if p.is_file())}
        if len(ids) == ncontracts or mode == "out":
            result["summary"] = summarize_report(objs, expected_minutes)
            return result
        print(f"  --out {report_dir} holds {len(files)} JSON file(s) with {len(ids)} contract(s), "
              f"expected {ncontracts}: falling back to the report on standard output", flush=True)
        result = {"out_attempt": result}
    print(f"report: slamon report --period {period} --format json > stdout ...", flush=True)
    stdout_path = workdir / f"report-stdout{tag}.json"
    res = run_timed(slamon_argv(python, "report", "--period", period, "--format", "json",
                                "--config", str(config)), cwd=REPO, stdout_path=stdout_path)
    require_ok("report (standard output)" + tag, res)
    ids = set()
    objs = []
    try:
        obj = json.loads(stdout_path.read_text(encoding="utf-8"))
        objs.append(obj)
        seen = count_report_contracts(obj, ids)
    except (ValueError, UnicodeDecodeError) as e:
        raise StepFailed("report (standard output)" + tag, f"standard output is not one JSON document: {e}") from e
    finally:
        size = stdout_path.stat().st_size
    ids.discard(None)
    result |= strip_output(res) | {"mode": "stdout", "contracts": len(ids), "contract_objects": seen,
                                   "output_bytes": size, "summary": summarize_report(objs, expected_minutes)}
    return result


def run_ingest(step: str, python: str, samples: Path, config: Path, lines: int) -> dict:
    print(f"{step}: slamon ingest {samples.name} --config {config.name} ...", flush=True)
    res = run_timed(slamon_argv(python, "ingest", str(samples), "--config", str(config)), cwd=REPO)
    require_ok(step, res)
    out = strip_output(res) | {"lines": lines, "lines_per_s": lines / res["wall_s"],
                               "lines_per_cpu_s": lines / max(res["cpu_s"], 1e-9),
                               "output_tail": last_lines(res["stdout"] + "\n" + res["stderr"], 5)}
    if out["output_tail"]:
        print(indent(out["output_tail"]), flush=True)
    return out


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Benchmark `slamon ingest` and `slamon report` on one generated month of "
                    "per-minute aggregate samples, against bare json/sqlite baselines.",
        epilog="Targets: ingest >= 100,000 lines/s; report < 10 s for 1,000 contracts (< 30 s over 10,000 "
               "domains); database <= 256 KiB per domain-month. "
               "Results go to WORKDIR/accounting.json (default bench/out/accounting.json).")
    ap.add_argument("--domains", type=int, default=None, help="number of domains (default 200; --quick 20)")
    ap.add_argument("--contracts", type=int, default=None, help="number of contracts (default 1000; --quick 100)")
    ap.add_argument("--month", default="2026-12", help="period YYYY-MM, as a UTC+9 month (default 2026-12)")
    ap.add_argument("--days", type=int, default=None,
                    help="samples for the month's first DAYS days only (default: all of it); the report still "
                         "covers the month and the database size is scaled to it - for 10,000 domains, where a "
                         "whole month is 446 million lines")
    ap.add_argument("--storage-url", default=None, metavar="URL",
                    help="also run the CLI steps with the database at URL (postgresql://..., or sqlite:///PATH "
                         "with PATH relative to the work directory, sqlite:////PATH absolute), "
                         "named in config-storage.toml as [storage] url, beside the default SQLite file")
    ap.add_argument("--seed", type=int, default=1, help="RNG seed (default 1)")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="work directory (default bench/out)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files and database afterwards")
    ap.add_argument("--skip-generate", action="store_true",
                    help="reuse WORKDIR/samples.jsonl from an earlier --keep run (same --domains/--month/--seed)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 20 domains, 100 contracts")
    ap.add_argument("--generate-only", action="store_true",
                    help="only generate the samples and config (implies --keep)")
    ap.add_argument("--no-cli", action="store_true", help="generate and run the baselines, skip slamon itself")
    ap.add_argument("--no-baselines", action="store_true", help="skip the baselines (no ratios)")
    ap.add_argument("--report-mode", choices=["auto", "out", "stdout"], default="auto",
                    help="auto: --out DIR, falling back to standard output if DIR does not hold "
                         "every contract (default); out / stdout: only that one")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter that runs `-m monitor` (default: this one)")
    ap.add_argument("--fail-on-miss", action="store_true", help="exit 1 when a performance target is missed")
    args = ap.parse_args(argv)
    if args.domains is None:
        args.domains = 20 if args.quick else 200
    if args.contracts is None:
        args.contracts = 100 if args.quick else 1000
    if args.domains < 3 or args.contracts < 1:
        ap.error("--domains must be >= 3 and --contracts >= 1")
    if args.days is not None and args.days < 1:
        ap.error("--days must be >= 1")
    return args


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r: float | None, what: str) -> str:
    return "" if r is None else f"= {r:.3f} x {what}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        start_utc, end_utc, nminutes = month_bounds(args.month)
    except UsageError as e:
        print(f"bench/accounting.py: error: {e}", file=sys.stderr)
        return 2
    month_days = nminutes // 1440
    if args.days is not None and args.days > month_days:
        print(f"bench/accounting.py: error: --days {args.days}: {args.month} has {month_days} days", file=sys.stderr)
        return 2
    span = nminutes if args.days is None else args.days * 1440   # minutes with samples
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    samples = workdir / SAMPLES_NAME
    meta_path = workdir / META_NAME
    config = workdir / CONFIG_NAME
    results_path = workdir / "accounting.json"

    results: dict = {
        "benchmark": "slamon accounting",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": {"domains": args.domains, "contracts": args.contracts, "month": args.month,
                   "seed": args.seed, "minutes": nminutes, "days_with_samples": span // 1440,
                   "storage_url": redact(args.storage_url) if args.storage_url else None,
                   "first_minute": start_utc.strftime("%Y-%m-%dT%H:%MZ"),
                   "end": end_utc.strftime("%Y-%m-%dT%H:%MZ")},
        "machine": {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
                    "platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_start": os.getloadavg()},
        "targets": {"ingest_lines_per_s": TARGET_INGEST_LINES_PER_S,
                    "report_seconds": report_target(args),
                    "db_bytes_per_domain_month": TARGET_DB_BYTES_PER_DOMAIN_MONTH},
        # "steps", "checks" and "figures" are the default SQLite backend's; "backends" has each
        # backend's own (the same object for SQLite)
        "steps": {}, "checks": {}, "backends": {}, "failed_step": None,
    }
    created: list[Path] = []
    backends: list[Backend] = []
    status = 0
    try:
        shorter = "" if span == nminutes else f"; samples for the first {span // 1440} of its {month_days} days"
        print(f"slamon accounting benchmark: {args.domains} domains, {args.contracts} contracts, "
              f"{args.month} ({nminutes:,} minutes, {start_utc:%Y-%m-%dT%H:%MZ} .. {end_utc:%Y-%m-%dT%H:%MZ}"
              f"{shorter}), workdir {workdir}", flush=True)
        t0 = time.perf_counter()
        sched = Schedule(args.seed, args.domains, start_utc, span, span / nminutes)
        sched_s = time.perf_counter() - t0
        meta_now = {"domains": args.domains, "month": args.month, "seed": args.seed, "days": args.days,
                    "lines": sched.lines, "format": 1}

        # 1. samples
        if args.skip_generate:
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                raise UsageError(f"--skip-generate: no readable {meta_path} "
                                 "(run once with --keep or --generate-only first)") from None
            if not samples.exists():
                raise UsageError(f"--skip-generate: {samples} does not exist")
            if {k: meta.get(k) for k in meta_now} != meta_now:
                raise UsageError(f"--skip-generate: {samples} was made with {meta}, "
                                 f"this run asks for {meta_now}")
            lines = meta["lines"]
            print(f"generate: reusing {samples} ({lines:,} lines)", flush=True)
            results["steps"]["generate"] = {"skipped": True, "lines": lines,
                                            "bytes": samples.stat().st_size}
        else:
            print(f"generate: {sched.lines:,} lines into {samples} ...", flush=True)
            created += [samples, meta_path]
            t0 = time.perf_counter()
            c0 = time.process_time()
            lines = generate_samples(samples, sched, args.seed)
            wall = time.perf_counter() - t0 + sched_s
            cpu = time.process_time() - c0
            if lines != sched.lines:
                raise StepFailed("generate", f"wrote {lines} lines, expected {sched.lines}")
            size = samples.stat().st_size
            meta_path.write_text(json.dumps(meta_now | {"bytes": size}) + "\n")
            results["steps"]["generate"] = {"lines": lines, "bytes": size, "wall_s": wall,
                                            "cpu_s": cpu, "lines_per_s": lines / wall}
            print(f"  {lines:,} lines, {size / 1e6:,.0f} MB in {wall:.1f} s "
                  f"({lines / wall:,.0f} lines/s; {sched.gap_minutes:,} gap minutes)", flush=True)

        # 2. config (and, with --storage-url, the same with a [storage] table)
        created.append(config)
        cfg = write_config(config, sched, args.contracts, args.seed)
        results["steps"]["config"] = cfg | {"path": str(config)}
        print(f"config: {config} ({args.domains} domains, {args.contracts} contracts "
              f"{cfg['contracts_by_regime']}, {cfg['windows']} maintenance windows, "
              f"{cfg['notices']} notices)", flush=True)
        backends.append(SqliteBackend(config, workdir / DB_NAME))
        if args.storage_url:
            storage_config = workdir / STORAGE_CONFIG_NAME
            created.append(storage_config)
            backend = storage_backend(args.storage_url, storage_config)
            backends.append(backend)
            assert backend.url is not None
            write_storage_config(config, storage_config, backend.url)   # the scratch database, for PostgreSQL
            print(f"config: {storage_config} (the same, with [storage] url = {backend.where()!r})", flush=True)
        if args.generate_only:
            print("generate-only: done", flush=True)
            return 0

        # 3. the CLI, on each backend
        if not args.no_cli:
            for backend in backends:
                default = backend is backends[0]
                tag = "" if default else f"-{backend.label}"
                created += [workdir / (REPORT_DIR_NAME + tag), workdir / f"report-stdout{tag}.json"]
                if default:
                    results["backends"][backend.label] = run = {"where": backend.where(), "status": "ran",
                                                                "steps": results["steps"],
                                                                "checks": results["checks"]}
                else:
                    results["backends"][backend.label] = run = {"where": backend.where(), "status": "ran",
                                                                "steps": {}, "checks": {}}
                status = run_cli_steps(backend, run, args, samples, lines, nminutes, workdir, tag) or status

        # 4. baselines
        if not args.no_baselines:
            results["baselines"] = run_baselines(samples, lines, args.domains, start_utc, workdir)

        for run in results["backends"].values():
            if run["status"] == "ran":
                run["figures"] = compute_figures(run, results.get("baselines", {}), args, nminutes, span)
        default_run = results["backends"].get(backends[0].label)
        results["figures"] = default_run.get("figures", {}) if default_run else {}
        print_summary(results, args, lines, nminutes, span)
        if args.fail_on_miss and any(f.get("verdict") == "MISS" for run in results["backends"].values()
                                     for f in run.get("figures", {}).values()):
            status = status or 1
        return status
    except UsageError as e:
        results["usage_error"] = str(e)
        print(f"bench/accounting.py: error: {e}", file=sys.stderr)
        status = 2
        return 2
    except StepFailed as e:
        results["failed_step"] = e.step
        results["error"] = e.message
        print(f"\nbench/accounting.py: step '{e.step}' failed: {e.message}", file=sys.stderr)
        return 1
    finally:
        results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["machine"]["loadavg_end"] = os.getloadavg()
        results["exit_status"] = status if results["failed_step"] is None else 1
        if not args.generate_only and "usage_error" not in results:
            results_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
            print(f"results: {results_path}")
        if not (args.keep or args.generate_only):
            for backend in backends:
                try:
                    backend.cleanup()
                except UsageError as e:
                    print(f"bench/accounting.py: warning: {e}", file=sys.stderr)
            for p in created:
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                elif p.exists():
                    p.unlink()


def report_target(args) -> float:
    return TARGET_REPORT_SECONDS_10K if args.domains >= 10_000 else TARGET_REPORT_SECONDS


def run_cli_steps(backend: Backend, run: dict, args, samples: Path, lines: int, nminutes: int, workdir: Path,
                  tag: str) -> int:
    """Ingest, report and ingest again on one backend, into run["steps"] / run["checks"];
    returns 1 when a check failed. A backend that this slamon cannot use yet (it refuses or
    ignores the config's [storage] table) is recorded as such and skipped, not failed."""
    steps, checks = run["steps"], run["checks"]
    if tag:
        res = run_timed(slamon_argv(args.python, "check-config", "--config", str(backend.config)), cwd=REPO)
        if res["rc"] != 0:
            message = last_lines(res["stderr"], 1)
            run.update(status="unsupported", message=message)
            print(f"{backend.label}: skipped, this slamon refuses {backend.config.name}: {message}", flush=True)
            return 0
    backend.fresh()
    ing = run_ingest("ingest (fresh database)" + tag, args.python, samples, backend.config, lines)
    if not backend.exists():
        if tag:
            message = f"exit 0 but nothing stored at {backend.where()} (is [storage] read yet?)"
            run.update(status="not used", message=message)
            print(f"{backend.label}: skipped, {message}", flush=True)
            return 0
        raise StepFailed("ingest (fresh database)", f"exit 0 but no database at {backend.where()}")
    ing["db_size"] = backend.size()
    ing["db_bytes_per_domain"] = ing["db_size"]["bytes"] / args.domains
    ing["table_rows"] = backend.rows()
    steps["ingest"] = ing

    status = 0
    rep = run_report(args.python, backend.config, args.month, workdir, args.report_mode, args.contracts, nminutes,
                     tag)
    steps["report"] = rep
    ok = rep["contracts"] == args.contracts
    checks["report_has_every_contract"] = {
        "ok": ok, "expected": args.contracts, "found": rep["contracts"], "mode": rep["mode"]}
    if not ok:
        print(f"CHECK FAILED{tag}: report ({rep['mode']}) holds {rep['contracts']} distinct contracts, "
              f"expected {args.contracts}", file=sys.stderr)
        status = 1
    wrong = rep.get("summary", {}).get("total_minutes_not_expected")
    if wrong:
        print(f"warning{tag}: {wrong} contract(s) with total_minutes != {nminutes}", file=sys.stderr)

    before = {"size": backend.size(), "rows": backend.rows()}
    ing2 = run_ingest("ingest again (idempotent)" + tag, args.python, samples, backend.config, lines)
    after = {"size": backend.size(), "rows": backend.rows()}
    steps["ingest_again"] = ing2 | {"before": before, "after": after}
    changed = {t: (before["rows"].get(t), after["rows"].get(t))
               for t in sorted(set(before["rows"]) | set(after["rows"]))
               if before["rows"].get(t) != after["rows"].get(t)}
    size_delta = after["size"]["bytes"] - before["size"]["bytes"]
    checks["reingest_rows_unchanged"] = {"ok": not changed, "changed_tables": changed}
    checks["reingest_size_unchanged"] = {"ok": size_delta == 0 or not backend.strict_size,
                                         "delta_bytes": size_delta, "strict": backend.strict_size,
                                         "before": before["size"], "after": after["size"]}
    if changed:
        print(f"CHECK FAILED{tag}: re-ingest changed row counts {changed}", file=sys.stderr)
        status = 1
    if size_delta and backend.strict_size:
        print(f"CHECK FAILED{tag}: re-ingest changed the database size by {size_delta:+,} bytes "
              f"({before['size']} -> {after['size']})", file=sys.stderr)
        status = 1
    return status


def compute_figures(run: dict, base: dict, args, nminutes: int, span: int) -> dict:
    steps, checks = run["steps"], run["checks"]
    jl = base.get("json_loads", {})
    si = base.get("sqlite_insert", {})
    sc = base.get("sqlite_scan", {})
    fig: dict = {}
    if "ingest" in steps:
        ing = steps["ingest"]
        fig["ingest_lines_per_s"] = {
            "value": ing["lines_per_s"], "wall_s": ing["wall_s"], "cpu_s": ing["cpu_s"],
            "ratio_to_json_loads": ratio(ing["lines_per_s"], jl.get("lines_per_s")),
            "ratio_to_sqlite_insert": ratio(ing["lines_per_s"], si.get("rows_per_s")),
            "target": f">= {TARGET_INGEST_LINES_PER_S}",
            "verdict": "PASS" if ing["lines_per_s"] >= TARGET_INGEST_LINES_PER_S else "MISS"}
    if "report" in steps:
        rep = steps["report"]
        target = report_target(args)
        # The report targets are stated for 1,000 contracts and a month of data: judged at that size
        # or more, and only when every day has samples - the minutes of a day without any are
        # unknown, and the report works through those one by one (200 domains: 5.9 s with a month
        # of samples, 298 s with its first day only), so a --days run measures that, not a month.
        judged = args.contracts >= 1000 and span == nminutes
        fig["report_seconds"] = {
            "value": rep["wall_s"], "cpu_s": rep["cpu_s"], "contracts": rep["contracts"],
            "mode": rep["mode"], "days_with_samples": span // 1440,
            "ratio_to_sqlite_scan": ratio(rep["wall_s"], sc.get("wall_s")),
            "ratio_to_json_loads": ratio(rep["wall_s"], jl.get("wall_s")),
            "target": f"< {target:g} s for 1000 contracts" + (" over 10000 domains" if args.domains >= 10_000 else ""),
            "verdict": ("PASS" if rep["wall_s"] < target else "MISS") if judged
            else "n/a (fewer than 1000 contracts)" if args.contracts < 1000
            else f"n/a (only {span // 1440} of {nminutes // 1440} days have samples)"}
    if "ingest_again" in steps:
        ing2 = steps["ingest_again"]
        fig["reingest_lines_per_s"] = {
            "value": ing2["lines_per_s"], "wall_s": ing2["wall_s"], "cpu_s": ing2["cpu_s"],
            "ratio_to_json_loads": ratio(ing2["lines_per_s"], jl.get("lines_per_s")),
            "idempotent": checks["reingest_rows_unchanged"]["ok"] and checks["reingest_size_unchanged"]["ok"]}
    if "ingest" in steps:
        # Measured after the first ingest. With --days, the minute tables (what grows with the days
        # of samples) are scaled from those days to the month, the rest counted as it is; without
        # their size (no dbstat), the whole database is scaled, an overestimate.
        size = steps["ingest"]["db_size"]
        grows = size["bytes"] if size.get("minute_bytes") is None else size["minute_bytes"]
        v = (size["bytes"] + grows * (nminutes / span - 1)) / args.domains
        fig["db_bytes_per_domain_month"] = {
            "value": v, "measured_days": span // 1440, "scaled": span != nminutes,
            "minute_bytes": size.get("minute_bytes"),
            "ratio_to_sqlite_table": ratio(steps["ingest"]["db_bytes_per_domain"], si.get("db_bytes_per_domain")),
            "target": f"<= {TARGET_DB_BYTES_PER_DOMAIN_MONTH}",
            "verdict": "PASS" if v <= TARGET_DB_BYTES_PER_DOMAIN_MONTH else "MISS"}
    return fig


def print_summary(results: dict, args, lines: int, nminutes: int, span: int) -> None:
    base = results.get("baselines", {})
    p = results["params"]
    print()
    shorter = "" if span == nminutes else f" (samples for the first {span // 1440} of {nminutes // 1440} days)"
    print(f"== slamon accounting: {p['domains']} domains, {p['contracts']} contracts, {p['month']}{shorter}, "
          f"{lines:,} lines ==")
    if base:
        jl, si, sc = base["json_loads"], base["sqlite_insert"], base["sqlite_scan"]
        print(f"baseline json.loads            {fmt_rate(jl['lines_per_s']):>12} lines/s  "
              f"(wall {jl['wall_s']:.2f} s, cpu {jl['cpu_s']:.2f} s)")
        print(f"baseline sqlite executemany    {fmt_rate(si['rows_per_s']):>12} rows/s   "
              f"(wall {si['wall_s']:.2f} s, cpu {si['cpu_s']:.2f} s; "
              f"{si['db_bytes_per_domain']:,.0f} bytes/domain)")
        print(f"baseline sqlite full scan      {sc['wall_s']:>12.2f} s        (cpu {sc['cpu_s']:.2f} s)")
    several = len(results["backends"]) > 1
    for label, run in results["backends"].items():
        if several:
            print(f"-- storage: {label} ({run['where']}) --")
        if run["status"] != "ran":
            print(f"   {run['status']}: {run.get('message', '')}")
            continue
        print_backend(run, run.get("figures", {}), span, nminutes)


def print_backend(run: dict, fig: dict, span: int, nminutes: int) -> None:
    if "ingest_lines_per_s" in fig:
        f = fig["ingest_lines_per_s"]
        extra = ""
        if f["ratio_to_sqlite_insert"] is not None:
            extra = f", {f['ratio_to_sqlite_insert']:.3f} x executemany"
        print(f"ingest (fresh db)              {fmt_rate(f['value']):>12} lines/s  "
              f"{fmt_ratio(f['ratio_to_json_loads'], 'json.loads')}{extra}  "
              f"(wall {f['wall_s']:.2f} s, cpu {f['cpu_s']:.2f} s)  "
              f"target >= {TARGET_INGEST_LINES_PER_S:,}: {f['verdict']}")
    if "report_seconds" in fig:
        f = fig["report_seconds"]
        label = f"report ({f['contracts']} contracts, {f['mode']})"
        data = "" if span == nminutes else (f"  [a month with {span // 1440} days of samples: the time goes to the "
                                            f"other days' unknown minutes]")
        print(f"{label:30} {f['value']:>12.2f} s        "
              f"{fmt_ratio(f['ratio_to_sqlite_scan'], 'full scan')}  (cpu {f['cpu_s']:.2f} s)  "
              f"target {f['target']}: {f['verdict']}{data}")
        summ = run["steps"]["report"].get("summary", {}).get("by_regime")
        if summ:
            print("    contracts with a credit: " + ", ".join(
                f"{r} {v['with_credit']}/{v['contracts']}" for r, v in sorted(summ.items())))
    if "reingest_lines_per_s" in fig:
        f = fig["reingest_lines_per_s"]
        print(f"ingest again (idempotent)      {fmt_rate(f['value']):>12} lines/s  "
              f"{fmt_ratio(f['ratio_to_json_loads'], 'json.loads')}  (wall {f['wall_s']:.2f} s)  "
              f"database unchanged: {'yes' if f['idempotent'] else 'NO'}")
    if "db_bytes_per_domain_month" in fig:
        f = fig["db_bytes_per_domain_month"]
        scaled = f"  [scaled from {f['measured_days']} days]" if f["scaled"] else ""
        print(f"db bytes per domain-month      {f['value']:>12,.0f}          "
              f"{fmt_ratio(f['ratio_to_sqlite_table'], 'bare table')}  "
              f"target <= {TARGET_DB_BYTES_PER_DOMAIN_MONTH:,} (256 KiB): {f['verdict']}{scaled}")


if __name__ == "__main__":
    sys.exit(main())

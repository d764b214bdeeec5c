"""The two databases slamon stores into, behind one small interface: SQLite (embedded, the
default, through sqlite-utils) and PostgreSQL (the scale-out store, through psycopg 3).

Storage writes its SQL once, with `?` placeholders and the syntax both databases share (ON
CONFLICT upserts, RETURNING); where they differ (schema, triggers, locks) it asks `dialect`.

    db = connect("postgresql://slamon@db.example/slamon")   # or "sqlite:///var/slamon.db", or a path
    with db.atomic():
        db.execute("INSERT INTO domains (name) VALUES (?) ON CONFLICT (name) DO NOTHING", ["mail"])
"""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
import sqlite_utils

# The database cannot be used right now (locked, full, gone): nothing was changed; retry later.
UNAVAILABLE: tuple[type[BaseException], ...] = (sqlite3.OperationalError, psycopg.OperationalError)
# A statement was refused (a trigger, a constraint): the change itself is wrong.
REFUSED: tuple[type[BaseException], ...] = (sqlite3.IntegrityError, sqlite3.DatabaseError, psycopg.DatabaseError)


class SqliteDatabase(sqlite_utils.Database):
    """sqlite-utils' Database with what PostgresDatabase also offers."""

    dialect = "sqlite"
    where: str

    def __init__(self, path: Path, *, threaded: bool = False) -> None:
        # autocommit: a statement outside atomic() is committed on its own, as on PostgreSQL
        super().__init__(sqlite3.connect(str(path), check_same_thread=not threaded, isolation_level=None))
        self.where = str(path)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDatabase:
    """A psycopg 3 connection in autocommit mode: each statement commits on its own unless it
    runs inside `atomic()`, which is a transaction (a savepoint when nested)."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.where = redact(url)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.conn.execute(_pg_sql(sql), list(params) if params else None)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(_pg_sql(sql), [list(r) for r in rows])

    def executescript(self, script: str) -> None:
        self.conn.execute(script)

    @contextmanager
    def atomic(self) -> Iterator[PostgresDatabase]:
        with self.conn.transaction():
            yield self

    def close(self) -> None:
        self.conn.close()


def redact(url: str) -> str:
    """A URL fit for a message or a log line: without its password."""
    return re.sub(r"(://[^/:@]*):[^@/]*@", r"\1:***@", url)


def is_url(target: str | Path) -> bool:
    return isinstance(target, str) and bool(re.match(r"^(sqlite|postgres(ql)?)://", target))


def sqlite_path(target: str | Path) -> Path | None:
    """The file of a SQLite target (a path, or sqlite:///path); None for PostgreSQL."""
    if isinstance(target, Path) or not is_url(target):
        return Path(target)
    if target.startswith("sqlite:///"):
        return Path(target[len("sqlite:///"):])   # sqlite:///rel/ative, sqlite:////abs/olute
    if target.startswith("sqlite://"):
        raise ValueError(f"a SQLite URL is sqlite:///PATH, got {target!r}")
    return None


Database = SqliteDatabase | PostgresDatabase


def connect(target: str | Path, *, threaded: bool = False) -> Database:
    """The database a path or URL names (the caller has checked a SQLite file may be created)."""
    path = sqlite_path(target)
    if path is not None:
        return SqliteDatabase(path, threaded=threaded)
    return PostgresDatabase(str(target))

"""The throwaway PostgreSQL cluster itself (tests/postgres.py and its fixtures in conftest.py), checked
with psycopg directly: it answers, runs as the right user, listens only where it should, hands each
test a database of its own, has plpgsql, and says clearly why when it cannot start."""
from __future__ import annotations

import os
import pwd
import sqlite3
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.postgres import SETTINGS, PostgresCluster, PostgresError


def test_cluster_answers_version(postgres_cluster: PostgresCluster) -> None:
    with psycopg.connect(postgres_cluster.url()) as conn:
        version = conn.execute("SELECT version()").fetchone()
        settings: dict[str, str] = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
            (["fsync", "synchronous_commit", "full_page_writes", "listen_addresses", "unix_socket_directories",
              "port", "server_encoding"],),
        ).fetchall())
    assert version is not None and version[0].startswith("PostgreSQL "), version
    assert settings == {
        "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
        "listen_addresses": "127.0.0.1", "unix_socket_directories": str(postgres_cluster.socket_dir),
        "port": str(postgres_cluster.port), "server_encoding": "UTF8",
    }
    # the same server over TCP on loopback
    with psycopg.connect(postgres_cluster.tcp_url()) as conn:
        assert conn.execute("SELECT inet_server_addr()::text").fetchone() == ("127.0.0.1/32",)


def test_cluster_runs_as_postgres_when_root(postgres_cluster: PostgresCluster) -> None:
    """initdb and postgres refuse root: as root the server belongs to Debian's `postgres` user."""
    pid = int((postgres_cluster.datadir / "postmaster.pid").read_text().splitlines()[0])
    uid_line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
    server_uid = int(uid_line.split()[1])
    expected = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert server_uid == expected
    assert postgres_cluster.base.stat().st_uid == expected
    assert postgres_cluster.datadir.stat().st_uid == expected


def test_postgres_url_is_a_fresh_database_of_its_own(postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    other_url = postgres_cluster.create_database("isolation_other")
    try:
        with psycopg.connect(postgres_url) as conn:
            (mine,) = conn.execute("SELECT current_database()").fetchone() or ("",)
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
            conn.execute("CREATE TABLE minutes (minute bigint PRIMARY KEY, up int NOT NULL)")
            conn.execute("INSERT INTO minutes VALUES (1, 60)")
        # the connection's `with` committed: a new connection sees the row
        with psycopg.connect(postgres_url) as conn:
            assert conn.execute("SELECT minute, up FROM minutes").fetchall() == [(1, 60)]
        with psycopg.connect(other_url) as conn:
            (theirs,) = conn.execute("SELECT current_database()").fetchone() or ("",)
            assert conn.execute("SELECT to_regclass('public.minutes')").fetchone() == (None,)
            conn.execute("CREATE TABLE minutes (minute bigint PRIMARY KEY, up int NOT NULL)")
            assert conn.execute("SELECT count(*) FROM minutes").fetchone() == (0,)
        assert mine != theirs
        assert mine.startswith("t") and "postgres_url_is_a_fresh" in mine
    finally:
        postgres_cluster.drop_database("isolation_other")


def test_drop_database_ends_open_connections(postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.create_database("dropped_while_open")
    left_open = psycopg.connect(url)  # as a test that forgets to close would leave it
    try:
        postgres_cluster.drop_database("dropped_while_open")
        with postgres_cluster.connect() as conn:
            assert conn.execute(
                "SELECT count(*) FROM pg_database WHERE datname = 'dropped_while_open'"
            ).fetchone() == (0,)
        with pytest.raises(psycopg.OperationalError):
            left_open.execute("SELECT 1")
    finally:
        left_open.close()


def test_storage_url_gives_each_backend(storage_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    backend = request.node.callspec.id
    marked = request.node.get_closest_marker("postgres") is not None
    if backend == "sqlite":
        assert storage_url == f"sqlite:///{tmp_path}/slamon.db"
        assert not marked
        path = storage_url.removeprefix("sqlite:///")
        assert Path(path) == tmp_path / "slamon.db" and Path(path).is_absolute()
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT sqlite_version()").fetchone()
        db.close()
    elif backend == "postgresql":
        assert storage_url.startswith("postgresql://postgres@/")
        assert marked
        with psycopg.connect(storage_url) as conn:
            (name,) = conn.execute("SELECT current_database()").fetchone() or ("",)
        assert "storage_url_gives_each_backend_postgresql" in name
    else:
        pytest.fail(f"storage_url has an unexpected case {backend!r}")


def test_plpgsql_trigger_refuses_update(postgres_url: str) -> None:
    """What append-only tables will rely on: a BEFORE UPDATE trigger in plpgsql that refuses."""
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE ledger (id bigserial PRIMARY KEY, amount_cents bigint NOT NULL)")
        conn.execute("""
            CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'ledger is append-only: % refused', TG_OP;
            END;
            $$""")
        conn.execute(
            "CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )
        conn.execute("INSERT INTO ledger (amount_cents) VALUES (1250)")
        conn.commit()
        with pytest.raises(psycopg.errors.RaiseException) as refused:
            conn.execute("UPDATE ledger SET amount_cents = 0")
        assert refused.value.sqlstate == "P0001"
        assert "ledger is append-only: UPDATE refused" in str(refused.value)
        conn.rollback()  # the failed statement aborted the transaction
        assert conn.execute("SELECT amount_cents FROM ledger").fetchall() == [(1250,)]
        conn.execute("INSERT INTO ledger (amount_cents) VALUES (-300)")  # appending still works
        assert conn.execute("SELECT sum(amount_cents) FROM ledger").fetchone() == (950,)


def test_database_names_are_quoted_identifiers(postgres_cluster: PostgresCluster) -> None:
    """Any test name (brackets, dashes, capitals) becomes a valid database name."""
    url = postgres_cluster.create_database("Test-Odd[name with spaces]")
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("test_odd_name_with_spaces",)
    finally:
        postgres_cluster.drop_database("Test-Odd[name with spaces]")
    with postgres_cluster.connect() as conn, pytest.raises(psycopg.errors.InvalidCatalogName):
        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier("test_odd_name_with_spaces")))


def test_missing_binaries_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(PostgresError, match=rf"cannot run {tmp_path}/initdb"):
        PostgresCluster.start(bindir=tmp_path)


@pytest.mark.postgres  # needs the server binaries, though not the run's cluster
def test_a_server_that_will_not_start_shows_its_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real initdb and a real start that the server refuses: the error names pg_ctl and quotes the log."""
    monkeypatch.setitem(SETTINGS, "shared_buffers", "'not a size'")
    with pytest.raises(PostgresError) as failed:
        PostgresCluster.start()
    message = str(failed.value)
    assert "`pg_ctl start` failed" in message
    assert "/bin/pg_ctl start" in message
    assert 'invalid value for parameter "shared_buffers"' in message
    base = message.split(" in ", 1)[1].split("\n", 1)[0]
    assert base.startswith("/") and not Path(base).exists()  # nothing left behind

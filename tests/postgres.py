"""A throwaway PostgreSQL cluster for the test suite: Debian's server binaries, a temporary directory,
no mocks.

    with PostgresCluster.start() as cluster:
        url = cluster.create_database("slamon_t1")   # postgresql://postgres@/slamon_t1?host=/tmp/...&port=N
        ...

`initdb` (trust auth, UTF8, `--no-sync`) makes a cluster in a fresh temporary directory; `pg_ctl start -w`
runs it listening on a Unix socket in that directory and on 127.0.0.1 at a free port (nothing else),
with durability turned off for speed (fsync, synchronous_commit, full_page_writes); `stop()` is
`pg_ctl stop -m fast` and removes the directory.

initdb and postgres refuse to run as root, and CI runs as root: as root both run as the `postgres`
system user that Debian's `postgresql` package creates (`scripts/system-deps.sh` installs it), and
the directory belongs to that user. As anyone else they run as the current user. Either way the
database superuser is called `postgres` and every local connection is trusted, so URLs look the same.

Nothing here skips: when the cluster cannot be made or started, `PostgresError` says which binary
failed and shows its output or the server log's tail.
"""
from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

__all__ = ["PostgresCluster", "PostgresError", "find_bindir", "database_name"]

SYSTEM_USER = "postgres"  # Debian's package creates it; used only when the tests run as root
SUPERUSER = "postgres"  # the database role initdb creates, whoever runs it
# durability is worthless for a cluster that lives for one test run
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "logging_collector": "off",
}
LOG_TAIL = 40
START_ATTEMPTS = 3  # a free port can be taken between choosing it and the server binding it
# sun_path holds 108 bytes; ".s.PGSQL.65535" and some slack must fit after the directory
MAX_SOCKET_DIR = 80


class PostgresError(RuntimeError):
    """The cluster could not be made, started, stopped or used."""


def find_bindir() -> Path:
    """The newest `/usr/lib/postgresql/<version>/bin` holding initdb, pg_ctl and postgres."""
    candidates = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        bindir = Path(initdb).parent
        version = bindir.parent.name
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            key = tuple(int(part) for part in re.findall(r"\d+", version))
            candidates.append((key, bindir))
    if not candidates:
        raise PostgresError(
            "no PostgreSQL server binaries: /usr/lib/postgresql/*/bin/{initdb,pg_ctl,postgres} not found; "
            "run `bash scripts/system-deps.sh` (Debian package `postgresql`)"
        )
    return max(candidates)[1]


def database_name(hint: str) -> str:
    """A valid, lower-case database name (at most 63 bytes) made from any text, e.g. a test's name."""
    cleaned = re.sub(r"[^a-z0-9_]+", "_", hint.lower()).strip("_") or "db"
    if not cleaned[0].isalpha():
        cleaned = "db_" + cleaned
    return cleaned[:63]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _reachable_by_others(path: Path) -> bool:
    """Every directory from / down to `path` can be traversed by a user who owns none of them."""
    for part in [path, *path.parents]:
        try:
            if not os.stat(part).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = LOG_TAIL) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no server log at {path}: {e})"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


class PostgresCluster:
    """A running throwaway cluster. Make one with `PostgresCluster.start()`; stop it with `stop()` or
    by leaving its `with` block."""

    def __init__(self, bindir: Path, base: Path, port: int, run_as: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.base = base  # the temporary directory: data/, the socket, server.log
        self.port = port
        self._run_as = run_as  # None: the current user
        self._stopped = False
        self._names: set[str] = set()
        self.startup_seconds = 0.0  # initdb + start, measured

    # --- paths and addresses --------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base

    @property
    def logfile(self) -> Path:
        return self.base / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        """libpq URL over the Unix socket: postgresql://postgres@/DB?host=/tmp/slamon-pg-x&port=N"""
        return f"postgresql://{SUPERUSER}@/{quote(dbname)}?host={quote(str(self.socket_dir))}&port={self.port}"

    def tcp_url(self, dbname: str = "postgres") -> str:
        """The same database over TCP: postgresql://postgres@127.0.0.1:N/DB"""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{quote(dbname)}"

    # --- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def start(cls, bindir: Path | None = None) -> PostgresCluster:
        """initdb into a fresh temporary directory and start the server; raise PostgresError if not."""
        began = time.monotonic()
        bindir = bindir or find_bindir()
        run_as = None
        if os.geteuid() == 0:
            try:
                run_as = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise PostgresError(
                    f"running as root, and initdb/postgres refuse root; the `{SYSTEM_USER}` system user "
                    "that Debian's `postgresql` package creates does not exist: run `bash scripts/system-deps.sh`"
                ) from None
        parent = Path(tempfile.gettempdir())
        too_long = len(str(parent)) + len("/slamon-pg-xxxxxxxx") > MAX_SOCKET_DIR
        if too_long or (run_as is not None and not _reachable_by_others(parent)):
            parent = Path("/tmp")  # short, and world-traversable (1777)
        base = Path(tempfile.mkdtemp(prefix="slamon-pg-", dir=parent))
        cluster = cls(bindir, base, 0, run_as)
        try:
            if run_as is not None:
                os.chown(base, run_as.pw_uid, run_as.pw_gid)
            cluster._initdb()
            for attempt in range(1, START_ATTEMPTS + 1):
                cluster.port = _free_port()
                if cluster._pg_ctl_start(last=attempt == START_ATTEMPTS):
                    break
            cluster._check_connection()
        except BaseException:
            with contextlib.suppress(Exception):  # the first failure is the one to tell
                cluster.stop()
            raise
        cluster.startup_seconds = time.monotonic() - began
        atexit.register(cluster.stop)  # a run that never reaches the fixture's teardown still stops it
        return cluster

    def stop(self) -> None:
        """`pg_ctl stop -m fast`, then remove the directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if (self.datadir / "postmaster.pid").exists():
                result = self._run(["pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "30"])
                if result.returncode != 0:
                    raise PostgresError(self._failure("pg_ctl stop", result))
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- databases ------------------------------------------------------------------------------

    def connect(self, dbname: str = "postgres", autocommit: bool = True) -> psycopg.Connection[Any]:
        """A psycopg connection (autocommit unless told otherwise) to one of this cluster's databases."""
        return psycopg.connect(self.url(dbname), autocommit=autocommit)

    def create_database(self, name: str) -> str:
        """CREATE DATABASE `name` (made valid by `database_name`; must not exist yet) -> its URL."""
        name = database_name(name)
        if name in self._names:
            raise PostgresError(f"database {name!r} was already created in this cluster")
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        self._names.add(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE ... WITH (FORCE): connections a test left open are ended, not waited for."""
        name = database_name(name)
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # --- the binaries ---------------------------------------------------------------------------

    def _run(self, argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run one of the server binaries as the cluster's owner, from the cluster's directory (the
        owner may not be able to enter the current one)."""
        argv = [str(self.bindir / argv[0]), *argv[1:]]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # no stray PGDATA/PGPORT
        env["LC_ALL"] = "C"  # English messages, whatever the machine's locale
        as_user: dict[str, Any] = {}
        if self._run_as is not None:
            env["HOME"] = self._run_as.pw_dir
            env["USER"] = env["LOGNAME"] = self._run_as.pw_name
            as_user = {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}
        try:
            return subprocess.run(
                argv, cwd=self.base, env=env, capture_output=True, text=True, timeout=timeout, **as_user
            )
        except (OSError, subprocess.SubprocessError) as e:
            raise PostgresError(f"PostgreSQL: cannot run {argv[0]} ({self._who()}): {e}") from e

    def _who(self) -> str:
        return f"as system user {self._run_as.pw_name!r}" if self._run_as else f"as uid {os.geteuid()}"

    def _failure(self, what: str, result: subprocess.CompletedProcess[str], log: bool = True) -> str:
        parts = [
            f"PostgreSQL: `{what}` failed (exit {result.returncode}), {self.bindir}, {self._who()}, in {self.base}",
            f"command: {' '.join(result.args)}",
        ]
        if result.stdout.strip():
            parts.append("stdout:\n" + result.stdout.strip())
        if result.stderr.strip():
            parts.append("stderr:\n" + result.stderr.strip())
        if log:
            parts.append(f"server log ({self.logfile}), last {LOG_TAIL} lines:\n" + _tail(self.logfile))
        return "\n".join(parts)

    def _initdb(self) -> None:
        result = self._run([
            "initdb", "-D", str(self.datadir), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
            "--locale=C", "--no-sync", "--no-instructions",
        ])
        if result.returncode != 0:
            raise PostgresError(self._failure("initdb", result, log=False))
        # appended to the file initdb wrote (its owner stays the cluster's owner); the last setting wins
        lines = [f"{key} = {value}" for key, value in SETTINGS.items()]
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write("\n# tests/postgres.py\n" + "\n".join(lines) + "\n")

    def _pg_ctl_start(self, last: bool) -> bool:
        """Start on self.port; False when the port was taken meanwhile (and this is not the last try)."""
        options = f"-p {self.port} -k {shlex.quote(str(self.socket_dir))}"  # pg_ctl hands it to /bin/sh
        result = self._run(
            ["pg_ctl", "start", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "30", "-s",
             "-o", options],
            timeout=45,
        )
        if result.returncode == 0:
            return True
        log = _tail(self.logfile)
        if not last and ("could not bind" in log or "Address already in use" in log):
            with contextlib.suppress(OSError):
                self.logfile.unlink()
            return False
        raise PostgresError(self._failure("pg_ctl start", result))

    def _check_connection(self) -> None:
        try:
            with self.connect() as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as e:
            raise PostgresError(
                f"PostgreSQL started but {self.url()} does not answer: {e}\n"
                f"server log ({self.logfile}), last {LOG_TAIL} lines:\n{_tail(self.logfile)}"
            ) from e


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """`with running_cluster() as cluster:` a started cluster, stopped and removed on the way out."""
    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
